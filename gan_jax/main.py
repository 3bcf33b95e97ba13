"""Command-line entry point: train; sample, translate with or evaluate a trained run.

  python -m gan_jax.main --config=configs/dcgan.py[:preset] --workdir=DIR \
      [--mode=train|sample|translate|eval] [--config.<key>=<value> ...]
  ... --mode=translate --input=PATH --output=PATH [--direction=AtoB|BtoA]

Running the same command again in the same workdir resumes from the newest checkpoint.
Multi-process: `--multihost` on Cloud TPU pods, Slurm or Open MPI (JAX finds its peers), or
`--coordinator_address` with `--num_processes` and `--process_id` elsewhere (see launch/).
"""

import sys

from absl import app, flags, logging

from gan_jax import backend, logs
from gan_jax import config as config_lib
from gan_jax.errors import NonFiniteLossError, UserError

MODES = ("train", "sample", "translate", "eval")

flags.DEFINE_string("config", None, "Config file, optionally with a preset: configs/dcgan.py:tiny.")
flags.DEFINE_string("workdir", None, "Folder for checkpoints, samples, logs and config.json.")
flags.DEFINE_enum("mode", "train", MODES, "What to do with the config and workdir.")
flags.DEFINE_string("input", "", "--mode=translate: an image or a folder of images.")
flags.DEFINE_string("output", "", "--mode=translate: the output image or folder (never the input).")
flags.DEFINE_string("direction", "", "--mode=translate: AtoB or BtoA (default: the trained one).")
flags.DEFINE_bool(
  "multihost",
  False,
  "Join a multi-process run whose peers JAX detects (Cloud TPU pod, Slurm, Open MPI).",
)
flags.DEFINE_string(
  "coordinator_address",
  "",
  "host:port of process 0, for a multi-process run without a cluster JAX detects.",
)
flags.DEFINE_integer("num_processes", 0, "Processes in the run, with --coordinator_address.")
flags.DEFINE_integer("process_id", -1, "This process's index, with --coordinator_address.")
flags.mark_flags_as_required(["config", "workdir"])
FLAGS = flags.FLAGS


def main(argv, overrides=()):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  try:
    config = config_lib.load_config(FLAGS.config, overrides)
    logs.setup()
    backend.setup()
    from gan_jax import parallel  # noqa: PLC0415 - imports JAX

    parallel.initialize_distributed(
      FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id, FLAGS.multihost
    )
    # Each mode is its own module; only the one asked for is imported.
    if FLAGS.mode == "train":
      from gan_jax import train  # noqa: PLC0415

      train.train_and_evaluate(config, FLAGS.workdir)
    elif FLAGS.mode == "sample":
      from gan_jax import sample  # noqa: PLC0415

      sample.sample(config, FLAGS.workdir)
    elif FLAGS.mode == "translate":
      from gan_jax import translate  # noqa: PLC0415

      translate.translate_path(config, FLAGS.workdir, FLAGS.input, FLAGS.output, FLAGS.direction)
    else:
      from gan_jax import evaluate  # noqa: PLC0415

      evaluate.evaluate(config, FLAGS.workdir)
  except UserError as e:
    _fail(e, exit_code=2)
  except NonFiniteLossError as e:
    _fail(e, exit_code=1)


def _fail(error: Exception, exit_code: int):
  """One line on stderr, no traceback: the message names the bad thing."""
  logging.error("%s", error)
  print(f"error: {error}", file=sys.stderr)
  sys.exit(exit_code)


def run():
  argv, overrides = config_lib.split_overrides(sys.argv)
  app.run(lambda a: main(a, overrides), argv=argv)


if __name__ == "__main__":
  run()
