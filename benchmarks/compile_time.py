"""Compile time of each named train step of a config, compiled ahead of time and not run: one JSON
line. The persistent compilation cache is off, so every step compiles from scratch.

  python benchmarks/compile_time.py --config=configs/stylegan3.py [--steps=g_main,d_main]
      [--config.k=v ...]

Fields: family, preset, overrides, platform, devices, global_batch, image_size, steps
({name: {lower_sec, compile_sec, cpu_sec, hlo_kchars}}: wall seconds tracing and lowering to
StableHLO and of XLA's compile of that, this process's CPU seconds for both (every thread's: on a
shared machine the wall time grows with other jobs, this much less), and the lowered module's text
size in thousands of characters, large constants included), compile_sec (the sum over the steps of
lower_sec + compile_sec: what a first run waits before its first iteration, as
RunSetup.compile_steps spends it) and cpu_sec (the sum of theirs). Nothing is run, so a config
too big for this machine's memory still compiles.
"""

import json
import pathlib
import sys
import time

from absl import app, flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from gan_jax import backend, logs  # noqa: E402
from gan_jax import config as config_lib  # noqa: E402

flags.DEFINE_string("config", None, "Config file with optional preset.", required=True)
flags.DEFINE_list("steps", [], "Named steps to compile (default: all of the family's).")
FLAGS = flags.FLAGS


def main(argv, overrides):
  del argv
  config = config_lib.load_config(FLAGS.config, overrides)
  logs.setup()
  backend.setup()
  import jax  # noqa: PLC0415 - after the backend is set up
  import numpy as np  # noqa: PLC0415

  from gan_jax import run  # noqa: PLC0415

  jax.config.update("jax_enable_compilation_cache", False)
  setup = run.RunSetup(config)
  jitted = setup.jit_steps()
  unknown = sorted(set(FLAGS.steps) - set(jitted))
  if unknown:
    raise SystemExit(f"--steps: {unknown} are not named steps of {config.family}: {sorted(jitted)}")
  counter = jax.ShapeDtypeStruct((), np.int32, sharding=setup.replicated)
  steps = {}
  for name, fn in jitted.items():
    if FLAGS.steps and name not in FLAGS.steps:
      continue
    start, cpu_start = time.perf_counter(), time.process_time()
    lowered = fn.lower(setup.abstract_state, setup.batch_spec, setup.frozen, counter)
    lowered_at = time.perf_counter()
    lowered.compile()
    done, cpu_done = time.perf_counter(), time.process_time()
    steps[name] = {
      "lower_sec": round(lowered_at - start, 2),
      "compile_sec": round(done - lowered_at, 2),
      "cpu_sec": round(cpu_done - cpu_start, 2),
      "hlo_kchars": round(len(lowered.as_text()) / 1000),
    }
    print(name, steps[name], file=sys.stderr, flush=True)
  total = sum(s["lower_sec"] + s["compile_sec"] for s in steps.values())
  cpu_total = sum(s["cpu_sec"] for s in steps.values())
  preset = FLAGS.config.partition(":")[2] or "default"
  print(
    json.dumps(
      {
        "family": config.family,
        "preset": preset,
        "overrides": overrides,
        "platform": jax.default_backend(),
        "devices": jax.device_count(),
        "global_batch": config.batch_size,
        "image_size": config.image_size,
        "steps": steps,
        "compile_sec": round(total, 2),
        "cpu_sec": round(cpu_total, 2),
      }
    )
  )


if __name__ == "__main__":
  argv, overrides = config_lib.split_overrides(sys.argv)
  app.run(lambda a: main(a, overrides), argv=argv)
