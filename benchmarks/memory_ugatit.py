"""U-GAT-IT's train step at 256 px, batch 1: peak memory per device from XLA's memory analysis of
the compiled step (compiled, never run), on one device and on 8 fake CPU devices.

  python benchmarks/memory_ugatit.py [--presets=default,light] [--cases=1,1:remat,8:mp,8:mp:remat]

One JSON line per preset and case. Cases: `1` one device; `8:mp` 8 devices as a 1 x 8
(data x model) mesh with config.model_parallel=8, which splits the gamma/beta MLP's first weight
and its Adam moments over the model axis; `:remat` adds config.model.remat (each generator
application recomputed in the backward pass). XLA_FLAGS gets
--xla_force_host_platform_device_count=8 before jax is imported.

Fields, from `compiled.memory_analysis()` (bytes, per device: the SPMD program is one device's):
argument, output, temp, alias (outputs written into donated arguments: the state);
peak_bytes = argument + output + temp - alias (what the step holds at once, as an upper bound:
every temporary at its peak beside every argument and output); state_bytes, the state's bytes per
device from its shardings, as a check that the analysis counts what the step holds (argument =
state + batch + the step counter); xla_peak_bytes, XLA's own peak_memory_in_bytes, which on CPU
leaves the temporaries out (it equals argument + output - alias), so it is not used.
"""

import os
import sys

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
  flags = os.environ.get("XLA_FLAGS", "")
  os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count=8".strip()

import argparse  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import time  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from gan_jax import config as config_lib  # noqa: E402
from gan_jax import run  # noqa: E402

CASES = {
  "1": (1, []),
  "1:remat": (1, ["model.remat=True"]),
  "8:mp": (8, ["model_parallel=8"]),
  "8:mp:remat": (8, ["model_parallel=8", "model.remat=True"]),
}
GB = 1e9


def _shard_bytes(x) -> int:
  return int(np.prod(x.sharding.shard_shape(x.shape))) * x.dtype.itemsize


def measure(preset: str, case: str) -> dict:
  devices, overrides = CASES[case]
  spec = "configs/ugatit.py" + ("" if preset == "default" else f":{preset}")
  config = config_lib.load_config(spec, overrides)
  start = time.perf_counter()
  setup = run.RunSetup(config, jax.devices()[:devices])
  memory = setup.compile_steps()["main"].memory_analysis()
  compile_sec = time.perf_counter() - start
  fields = ("argument", "output", "temp", "alias")
  sizes = {k: getattr(memory, f"{k}_size_in_bytes") for k in fields}
  peak = sizes["argument"] + sizes["output"] + sizes["temp"] - sizes["alias"]
  state = sum(_shard_bytes(x) for x in jax.tree.leaves(setup.abstract_state))
  batch = sum(_shard_bytes(x) for x in jax.tree.leaves(setup.batch_spec))
  return {
    "preset": preset,
    "case": case,
    "mesh": dict(setup.mesh.shape),
    "overrides": overrides,
    "image_size": config.image_size,
    "batch_size": config.batch_size,
    **{f"{k}_bytes": v for k, v in sizes.items()},
    "peak_bytes": peak,
    "peak_gb": round(peak / GB, 3),
    "state_bytes": state,
    "argument_minus_state_and_batch": sizes["argument"] - state - batch,
    "xla_peak_bytes": memory.peak_memory_in_bytes,
    "compile_sec": round(compile_sec, 1),
    "platform": jax.default_backend(),
  }


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--presets", default="default,light")
  parser.add_argument("--cases", default=",".join(CASES))
  args = parser.parse_args()
  for preset in args.presets.split(","):
    for case in args.cases.split(","):
      print(json.dumps(measure(preset, case)), flush=True)


if __name__ == "__main__":
  main()
