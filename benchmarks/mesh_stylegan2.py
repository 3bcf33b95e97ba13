"""StyleGAN2 on 8 fake CPU devices with FSDP against 1 device: one JSON line.

  XLA_FLAGS=--xla_force_host_platform_device_count=8 python benchmarks/mesh_stylegan2.py

Two iterations of `configs/stylegan2.py:tiny` (batch 8, ADA's pipe at a fixed p 0.5, so every
phase runs with augmentation), once on one device with the state replicated and once on all
devices with every state leaf of at least 32 elements split (`fsdp_min_size`). Prints how many
state leaves each run split and the largest difference of any G, G EMA or D param. Too slow to
compile for the test suite (about 2 minutes on 2 cores); tests/test_parallel.py checks the same
on DCGAN.
"""

import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from gan_jax import config as config_lib  # noqa: E402
from gan_jax import parallel, run  # noqa: E402
from gan_jax.data import pipeline  # noqa: E402


def main():
  overrides = ["batch_size=8", "aug.mode=fixed", "aug.p=0.5"]
  base = config_lib.load_config("configs/stylegan2.py:tiny", overrides)
  fsdp = config_lib.load_config("configs/stylegan2.py:tiny", [*overrides, "fsdp_min_size=32"])
  data = iter(pipeline.make_dataset(base, "unconditional", base.batch_size))
  batches = [next(data) for _ in range(2)]
  finals, split = [], []
  for devices, config in ((jax.devices()[:1], base), (jax.devices(), fsdp)):
    setup = run.RunSetup(config, devices)
    steps, state = setup.jit_steps(), setup.init_state(config.seed)
    for i, batch in enumerate(batches):
      state, _ = setup.run_iteration(
        steps, state, parallel.to_global(batch, setup.batch_sharding), i
      )
    leaves = [x for x in jax.tree.leaves(state) if hasattr(x, "sharding")]
    split.append(sum(not x.sharding.is_fully_replicated for x in leaves))
    finals.append(jax.device_get((state.g.params, state.g_ema.params, state.d.params)))
  pairs = zip(jax.tree.leaves(finals[0]), jax.tree.leaves(finals[1]), strict=True)
  diff = max(float(np.max(np.abs(a - b))) for a, b in pairs)
  print(json.dumps({"devices": jax.device_count(), "split_leaves": split, "max_abs_diff": diff}))


if __name__ == "__main__":
  main()
