"""Input-pipeline throughput alone (no model, no compile) for several reader settings, side by
side in one process: one JSON line per setting.

  python benchmarks/pipeline_speed.py --config=configs/pix2pix.py --config.batch_size=16 \
      --settings=2x0,0x0,0x2,0x4

Each setting is READ_THREADSxWORKERS (config.data.read_threads x config.data.workers; 0 threads =
one per core). Fields: read_threads, workers, cores, start_sec (the first batch, worker start-up
included), images_per_sec (over --batches batches, after --warmup batches that drain what was
read ahead while starting).
"""

import json
import pathlib
import sys
import time

from absl import app, flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from gan_jax import config as config_lib  # noqa: E402
from gan_jax import logs  # noqa: E402
from gan_jax.data import pipeline  # noqa: E402

flags.DEFINE_string("config", None, "Config file with optional preset.", required=True)
flags.DEFINE_list("settings", ["2x0", "0x0"], "READ_THREADSxWORKERS settings to compare.")
flags.DEFINE_integer("batches", 100, "Timed batches per setting.")
flags.DEFINE_integer("warmup", 20, "Batches read before timing.")
flags.DEFINE_integer("rounds", 1, "Times through all settings (interleaved, to spread noise).")
FLAGS = flags.FLAGS


def _parse(setting: str) -> tuple[int, int]:
  try:
    threads, workers = (int(x) for x in setting.lower().split("x"))
  except ValueError:
    raise app.UsageError(f"--settings: {setting!r} is not READ_THREADSxWORKERS, e.g. 0x2") from None
  if threads < 0 or workers < 0:
    raise app.UsageError(f"--settings: {setting!r} has a negative count")
  return threads, workers


def measure(config, layout: str, batches: int, warmup: int) -> dict:
  start = time.perf_counter()
  it = iter(pipeline.make_dataset(config, layout, config.batch_size))
  try:
    next(it)
    start_sec = time.perf_counter() - start
    for _ in range(warmup):
      next(it)
    start = time.perf_counter()
    for _ in range(batches):
      next(it)
    sec = time.perf_counter() - start
  finally:
    it.close()
  return {
    "start_sec": round(start_sec, 2),
    "images_per_sec": round(batches * config.batch_size / sec, 1),
  }


def main(argv, overrides):
  del argv
  settings = [_parse(s) for s in FLAGS.settings]
  config = config_lib.load_config(FLAGS.config, overrides)
  logs.setup()
  from gan_jax.families import get_family  # noqa: PLC0415

  layout = get_family(config.family).data_layout(config)
  cores = pipeline.usable_cores()
  for _ in range(FLAGS.rounds):
    for threads, workers in settings:
      config.data.read_threads, config.data.workers = threads, workers
      result = measure(config, layout, FLAGS.batches, FLAGS.warmup)
      print(
        json.dumps(
          {
            "config": FLAGS.config,
            "overrides": overrides,
            "read_threads": threads,
            "workers": workers,
            "cores": cores,
            "batch_size": config.batch_size,
            "image_size": config.image_size,
            **result,
          }
        ),
        flush=True,
      )


if __name__ == "__main__":
  argv, overrides = config_lib.split_overrides(sys.argv)
  app.run(lambda a: main(a, overrides), argv=argv)
