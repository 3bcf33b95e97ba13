"""EQ-T, EQ-T frac and EQ-R of a trained StyleGAN3 run beside the same generator with its input
transform ignored: the floor that an image which cannot follow the shift or turn scores. One JSON
line.

  python benchmarks/equivariance_baseline.py --workdir=RUN [--step=N] \
      [--config.eval.num_samples=256]

Both rows use --mode=eval's metric (gan_jax/evaluators.py `equivariance`: the run's own config,
eval.num_samples latents from the run's seed) on the checkpoint of --step (default: the newest).
"Ignored" synthesizes every transformed image with the identity transform, so the gap between the
rows is what the alias-free generator's equivariance adds.
"""

import json
import pathlib
import sys

from absl import app, flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from gan_jax import backend, logs  # noqa: E402
from gan_jax import config as config_lib  # noqa: E402

flags.DEFINE_string("workdir", None, "A trained StyleGAN3 run.", required=True)
flags.DEFINE_integer("step", None, "The checkpoint to score (default: the newest).")
FLAGS = flags.FLAGS


def main(argv, overrides):
  del argv
  config, _ = config_lib.load_run_config(FLAGS.workdir, "", overrides)
  logs.setup()
  backend.setup()
  from gan_jax import evaluators, run  # noqa: PLC0415 - after the backend is set up
  from gan_jax.families import stylegan3  # noqa: PLC0415

  setup, state, step = run.restore_newest(config, pathlib.Path(FLAGS.workdir), FLAGS.step)
  if setup.family.equivariance is None:
    raise SystemExit(f"error: config.family={config.family!r} has no input transform to score")
  ignored = stylegan3.transform_ignored(setup.family)
  print(
    json.dumps(
      {
        "workdir": FLAGS.workdir,
        "step": step,
        "model": config.model.config,
        "image_size": config.image_size,
        "num_samples": config.eval.num_samples,
        "generator": evaluators.equivariance(config, setup.family, state),
        "transform_ignored": evaluators.equivariance(config, ignored, state),
      }
    )
  )


if __name__ == "__main__":
  argv, overrides = config_lib.split_overrides(sys.argv)
  app.run(lambda a: main(a, overrides), argv=argv)
