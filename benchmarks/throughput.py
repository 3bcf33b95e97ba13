"""Train-step throughput, compile time and input-pipeline throughput of one config: one JSON line.

  python benchmarks/throughput.py --config=configs/dcgan.py:tiny [--steps=20] [--config.k=v ...]

Fields: family, preset, platform, device_kind, devices, global_batch, image_size, compile_sec,
step_ms (the jitted step alone, on a batch already on the devices), train_images_per_sec (steps fed
by the real input pipeline, as in training), pipeline_images_per_sec (the input pipeline alone), and
pipeline_vs_step (how many times faster the pipeline produces images than the step consumes them).
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
flags.DEFINE_integer("steps", 20, "Timed steps (after 2 warm-up steps).")
flags.DEFINE_integer("pipeline_batches", 50, "Batches read to time the input pipeline alone.")
FLAGS = flags.FLAGS


def _time_steps(step, state, batch_fn, n):
  start = time.perf_counter()
  for _ in range(n):
    state, metrics = step(state, batch_fn())
  metrics["d_loss"].block_until_ready()
  return state, time.perf_counter() - start


def main(argv, overrides):
  del argv
  config = config_lib.load_config(FLAGS.config, overrides)
  logs.setup()
  backend.setup()
  import jax  # noqa: PLC0415 - after the backend is set up

  from gan_jax import parallel, train  # noqa: PLC0415
  from gan_jax.data import pipeline  # noqa: PLC0415

  setup = train.RunSetup(config)
  data = iter(pipeline.make_dataset(config, setup.family.DATA_LAYOUT, setup.local_batch_size))
  next(data)  # the dataset is built (if needed) and open before anything is timed

  start = time.perf_counter()
  for _ in range(FLAGS.pipeline_batches):
    next(data)
  pipeline_sec = time.perf_counter() - start

  start = time.perf_counter()
  jitted = train.make_train_step(config, setup.family, setup.state_sharding, setup.batch_sharding)
  step = jitted.lower(setup.abstract_state, setup.batch_spec).compile()
  compile_sec = time.perf_counter() - start

  state = setup.init_state(config.seed)
  fixed = parallel.to_global(next(data), setup.batch_sharding)
  state, _ = _time_steps(step, state, lambda: fixed, 2)  # warm-up
  state, fixed_sec = _time_steps(step, state, lambda: fixed, FLAGS.steps)
  fed = lambda: parallel.to_global(next(data), setup.batch_sharding)
  state, fed_sec = _time_steps(step, state, fed, FLAGS.steps)

  step_sec = fixed_sec / FLAGS.steps
  pipeline_rate = FLAGS.pipeline_batches * config.batch_size / pipeline_sec
  print(
    json.dumps(
      {
        "family": config.family,
        "preset": FLAGS.config.partition(":")[2] or "default",
        "overrides": overrides,
        "platform": jax.default_backend(),
        "device_kind": jax.devices()[0].device_kind,
        "devices": jax.device_count(),
        "global_batch": config.batch_size,
        "image_size": config.image_size,
        "compile_sec": round(compile_sec, 2),
        "step_ms": round(step_sec * 1000, 2),
        "train_images_per_sec": round(FLAGS.steps * config.batch_size / fed_sec, 1),
        "pipeline_images_per_sec": round(pipeline_rate, 1),
        "pipeline_vs_step": round(pipeline_rate * step_sec / config.batch_size, 2),
      }
    )
  )


if __name__ == "__main__":
  argv, overrides = config_lib.split_overrides(sys.argv)
  app.run(lambda a: main(a, overrides), argv=argv)
