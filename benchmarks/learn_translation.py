"""Does a translation family learn the embedded toon task? Trains a preset on CPU, then scores the
test split against the ground truth (PSNR/SSIM beside the identity baseline). One JSON line.

  python benchmarks/learn_translation.py --config=configs/pix2pix.py:cpu [--workdir=DIR]

Training resumes if the workdir already holds checkpoints; `train_minutes_this_run` counts only
this invocation's training. The sample grids are in WORKDIR/samples, the result page in
WORKDIR/results/index.html.
"""

import json
import pathlib
import sys
import time

from absl import app, flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from gan_jax import backend, logs  # noqa: E402
from gan_jax import config as config_lib  # noqa: E402

flags.DEFINE_string("config", "configs/pix2pix.py:cpu", "Config file with preset.")
flags.DEFINE_string("workdir", "runs/learn_pix2pix", "Where to train (resumes if present).")
FLAGS = flags.FLAGS


def main(argv, overrides):
  del argv
  config = config_lib.load_config(FLAGS.config, overrides)
  logs.setup()
  backend.setup()
  from gan_jax import evaluate, train  # noqa: PLC0415 - after the backend is set up

  start = time.perf_counter()
  last = train.train_and_evaluate(config, FLAGS.workdir)
  minutes = (time.perf_counter() - start) / 60
  result = evaluate.evaluate(config, FLAGS.workdir)
  print(
    json.dumps(
      {
        "config": FLAGS.config,
        "overrides": overrides,
        "image_size": config.image_size,
        "batch_size": config.batch_size,
        "steps": config.total_steps,
        "train_minutes_this_run": round(minutes, 2),
        "train_steps_per_sec": round(last.get("steps_per_sec", float("nan")), 3),
        "eval": {k: v for k, v in result.items() if k != "skipped"},
      }
    )
  )


if __name__ == "__main__":
  argv, overrides = config_lib.split_overrides(sys.argv)
  app.run(lambda a: main(a, overrides), argv=argv)
