"""Backend set-up in one place, before JAX initialises its backends.

- CPU: XLA flags measured to help these nets on XLA CPU (see FACTS.md and benchmarks/); flags the
  user already set in XLA_FLAGS win. Not applied where an accelerator plugin is installed.
- Every platform: JAX's persistent compilation cache, so a resumed or repeated run skips compiling.
"""

import importlib.util
import os
import pathlib

from absl import logging

# flag -> value. YNNPACK's convolution fusions (jaxlib 0.10's default on CPU) are slow on GAN conv
# shapes; keeping YNNPACK for reductions only lets convolutions fall back to Eigen's. Rechecked on
# jaxlib 0.10.2 (benchmarks/vs_reference.py, s/step, 2 cores): pix2pix 256 px b1 1.15-1.29 with
# "reduce", 1.10-1.26 with "" (no YNNPACK), 1.77 with the default list plus reduce; CycleGAN 128 px
# 4.28-4.31, 4.78 and 6.92. pix2pix 256 px b4: 3.52-3.57 with "reduce", 3.64 with "".
CPU_XLA_FLAGS = {
  "--xla_cpu_experimental_ynn_fusion_type": "reduce",
}
_ACCELERATOR_PLUGINS = ("libtpu", "jax_cuda12_plugin", "jax_cuda13_plugin", "jax_rocm_plugin")
DEFAULT_CACHE_DIR = pathlib.Path("~/.cache/gan_jax/xla").expanduser()


def _has_accelerator_plugin() -> bool:
  return any(importlib.util.find_spec(name) is not None for name in _ACCELERATOR_PLUGINS)


def cpu_xla_flags(existing: str) -> str:
  """`existing` XLA_FLAGS plus our CPU flags that it does not set already."""
  flags = existing.split()
  names = {f.split("=", 1)[0] for f in flags}
  flags += [f"{name}={value}" for name, value in CPU_XLA_FLAGS.items() if name not in names]
  return " ".join(flags)


def setup(cache_dir: str | None = None) -> None:
  """Sets XLA flags and the compilation cache; call before the first JAX computation."""
  if os.environ.get("JAX_PLATFORMS", "cpu") == "cpu" and not _has_accelerator_plugin():
    os.environ["XLA_FLAGS"] = cpu_xla_flags(os.environ.get("XLA_FLAGS", ""))
  logging.debug("XLA_FLAGS=%s", os.environ.get("XLA_FLAGS", ""))

  import jax  # noqa: PLC0415 - after XLA_FLAGS is final

  if not jax.config.jax_compilation_cache_dir:  # JAX_COMPILATION_CACHE_DIR wins
    path = pathlib.Path(cache_dir) if cache_dir else DEFAULT_CACHE_DIR
    jax.config.update("jax_compilation_cache_dir", str(path))
  logging.debug("persistent compilation cache: %s", jax.config.jax_compilation_cache_dir)
