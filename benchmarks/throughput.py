"""Train-step throughput, compile time and input-pipeline throughput of one config: one JSON line.

  python benchmarks/throughput.py --config=configs/dcgan.py:tiny [--steps=20] [--config.k=v ...]

Fields: family, preset, platform, device_kind, devices, global_batch, image_size, compile_sec,
step_ms (the jitted step alone, on a batch already on the devices), fed_step_ms and
train_images_per_sec (steps fed by the real input pipeline, as in training),
pipeline_images_per_sec (the input pipeline alone) and pipeline_vs_step (how many times faster
the pipeline produces images than the step consumes them).
"""

import json
import pathlib
import sys

from absl import app, flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import step_timing  # noqa: E402 - benchmarks/step_timing.py

from gan_jax import backend, logs  # noqa: E402
from gan_jax import config as config_lib  # noqa: E402

flags.DEFINE_string("config", None, "Config file with optional preset.", required=True)
flags.DEFINE_integer("steps", 20, "Timed steps (after 2 warm-up steps).")
flags.DEFINE_integer("pipeline_batches", 50, "Batches read to time the input pipeline alone.")
FLAGS = flags.FLAGS


def main(argv, overrides):
  del argv
  config = config_lib.load_config(FLAGS.config, overrides)
  logs.setup()
  backend.setup()
  result = step_timing.measure(config, FLAGS.steps, FLAGS.pipeline_batches)
  preset = FLAGS.config.partition(":")[2] or "default"
  print(
    json.dumps({"family": result.pop("family"), "preset": preset, "overrides": overrides, **result})
  )


if __name__ == "__main__":
  argv, overrides = config_lib.split_overrides(sys.argv)
  app.run(lambda a: main(a, overrides), argv=argv)
