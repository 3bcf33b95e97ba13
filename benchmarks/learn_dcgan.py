"""Does DCGAN learn the embedded `shapes`? Trains a preset on CPU and scores every checkpoint.

  python benchmarks/learn_dcgan.py [--config=configs/dcgan.py:cpu] [--workdir=runs/learn_dcgan]

Scores, on `--num` samples against as many real test images (both at the training resolution):
- swd: sliced Wasserstein distance x 1e3 on Laplacian-pyramid patches (gan_jax/metrics/swd.py);
  `swd_real_vs_real` (train vs test images) is the floor a perfect generator would reach.
- palette: the fraction of foreground pixels whose colour is a shade of one of the 6 palette
  colours, as every pixel of a real image is (data/shapes.py); ground truth known by construction.
Prints one JSON line. Training resumes if the workdir already holds checkpoints.
"""

import functools
import json
import pathlib
import sys
import time

import numpy as np
from absl import app, flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from gan_jax import backend, logs  # noqa: E402
from gan_jax import config as config_lib  # noqa: E402

flags.DEFINE_string("config", "configs/dcgan.py:cpu", "Config file with preset.")
flags.DEFINE_string("workdir", "runs/learn_dcgan", "Where to train (resumes if present).")
flags.DEFINE_integer("num", 1024, "Samples and real images per score.")
FLAGS = flags.FLAGS


def palette_fraction(images: np.ndarray, colours: np.ndarray, tolerance: float = 24.0) -> float:
  """Share of foreground pixels (max channel > 64) within `tolerance` of the ray t * colour."""
  pixels = images.reshape(-1, 3).astype(np.float32)
  pixels = pixels[pixels.max(axis=1) > 64]
  c = colours.astype(np.float32)
  t = np.clip(pixels @ c.T / np.sum(c * c, axis=1), 0.0, 1.0)  # [P, 6]: best shade per colour
  residual = np.linalg.norm(pixels[:, None, :] - t[..., None] * c[None], axis=-1).min(axis=1)
  return float(np.mean(residual < tolerance))


def split_images(config_file: str, split: str, num: int | None = None) -> np.ndarray:
  """The first `num` (default: all) images of the config's data `split`, uint8 NHWC at its
  image_size, in file order."""
  from gan_jax.data import pipeline  # noqa: PLC0415

  config = config_lib.load_config(config_file, [f"data.eval_split={split}"])
  batches = pipeline.make_dataset(config, "unconditional", 256, train=False)
  return np.concatenate([b["image"] for b in batches])[:num]


def main(argv, overrides):
  del argv
  config = config_lib.load_config(FLAGS.config, ["ckpt.max_to_keep=1000", *overrides])
  logs.setup()
  backend.setup()
  import jax  # noqa: PLC0415 - after the backend is set up

  from gan_jax import checkpoint, run, samples, train  # noqa: PLC0415
  from gan_jax.data import shapes  # noqa: PLC0415
  from gan_jax.metrics import swd  # noqa: PLC0415

  workdir = pathlib.Path(FLAGS.workdir)
  start = time.perf_counter()
  train.train_and_evaluate(config, workdir)
  train_minutes = (time.perf_counter() - start) / 60

  reals = split_images(FLAGS.config, "test", FLAGS.num)
  setup = run.RunSetup(config)
  z = jax.random.normal(jax.random.key(1234), (FLAGS.num, config.model.z_dim))
  generate = jax.jit(functools.partial(setup.family.generate, config))

  def score(images):
    return {
      "swd": round(swd.swd(reals, images)["swd_mean"], 2),
      "palette": round(palette_fraction(images, shapes.COLOURS), 4),
    }

  ckpt = checkpoint.Checkpointer(workdir / "checkpoints")
  results = {0: score(samples.to_uint8(generate(setup.init_state(config.seed), z)))}
  for step in ckpt.all_steps():
    state = ckpt.restore(step, setup.abstract_state)
    results[step] = score(
      samples.to_uint8(
        np.concatenate([generate(state, z[i : i + 256]) for i in range(0, FLAGS.num, 256)])
      )
    )
  ckpt.close()
  print(
    json.dumps(
      {
        "config": FLAGS.config,
        "overrides": overrides,
        "image_size": config.image_size,
        "batch_size": config.batch_size,
        "steps": config.total_steps,
        "train_minutes_this_run": round(train_minutes, 2),
        "swd_real_vs_real": round(
          swd.swd(reals, split_images(FLAGS.config, "train", FLAGS.num))["swd_mean"], 2
        ),
        "palette_real": round(palette_fraction(reals, shapes.COLOURS), 4),
        "by_step": results,
      }
    )
  )


if __name__ == "__main__":
  argv, overrides = config_lib.split_overrides(sys.argv)
  app.run(lambda a: main(a, overrides), argv=argv)
