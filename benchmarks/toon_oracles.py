"""What the toon task's PSNR rewards: scores of near-miss cartoons on the test split. One JSON line.

  python benchmarks/toon_oracles.py [--size=256] [--count=50]

Each oracle is the exact cartoon with one thing wrong, scored like `--mode=eval` scores a model
(mean over images of PSNR on uint8 images, against `cartoonize(photo)`): the photo itself (the
identity baseline), the flat colours without lines, the lines blurred by a Gaussian of sigma 1 and
2 pixels (a model that knows where lines are but not to the pixel), the lines moved by one pixel,
and the cartoon with its mean colour replaced by an average one: that of the train split's cartoons
or of the test split's. The last two are what a generator that cannot see its input's mean colour
scores at best if it guesses that average: CycleGAN's ResNet generator is one, since instance norm
right after its first conv takes away any constant added to the input. The gaps say which parts
of the cartoon a model must get right for a given gain over the identity baseline.
"""

import json
import pathlib
import sys

import numpy as np
from absl import app, flags
from scipy import ndimage

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from gan_jax.data import toon  # noqa: E402
from gan_jax.metrics import image_quality  # noqa: E402

flags.DEFINE_integer("size", 256, "Crop side in pixels (the dataset's 256, or _small's 64).")
flags.DEFINE_integer("count", 50, "Test crops to score (the dataset's test split has 50).")
flags.DEFINE_integer("train_count", 100, "Train crops whose cartoons give the train mean colour.")
FLAGS = flags.FLAGS


def oracles(photo: np.ndarray) -> dict[str, np.ndarray]:
  flat, lines = toon.cartoon_layers(photo)
  blur = lambda sigma: np.clip(ndimage.gaussian_filter(lines, sigma), 0, 1)
  return {
    "identity": photo,
    "no_lines": toon.compose(flat, np.zeros_like(lines)),
    "lines_blurred_sigma1": toon.compose(flat, blur(1.0)),
    "lines_blurred_sigma2": toon.compose(flat, blur(2.0)),
    "lines_shifted_1px": toon.compose(flat, np.roll(lines, 1, axis=1)),
  }


def mean_colour(cartoons: list[np.ndarray]) -> np.ndarray:
  return np.mean([c.mean((0, 1)) for c in cartoons], axis=0)


def with_mean_colour(cartoon: np.ndarray, colour: np.ndarray) -> np.ndarray:
  """`cartoon` shifted so that its mean colour is `colour`."""
  shifted = cartoon.astype(np.float64) - cartoon.mean((0, 1)) + colour
  return np.clip(np.round(shifted), 0, 255).astype(np.uint8)


def main(argv):
  del argv
  photos = [photo for _, _, _, photo in toon.crops("test", 0, FLAGS.count, FLAGS.size)]
  truths = [toon.cartoonize(photo) for photo in photos]
  averages = {
    "train_mean_colour": mean_colour(
      [toon.cartoonize(p) for _, _, _, p in toon.crops("train", 0, FLAGS.train_count, FLAGS.size)]
    ),
    "test_mean_colour": mean_colour(truths),
  }
  scores: dict[str, list[float]] = {}
  for photo, truth in zip(photos, truths, strict=True):
    near_misses = oracles(photo)
    near_misses |= {name: with_mean_colour(truth, c) for name, c in averages.items()}
    for name, image in near_misses.items():
      scores.setdefault(name, []).append(float(image_quality.psnr(image[None], truth[None])[0]))
  means = {name: round(float(np.mean(v)), 2) for name, v in scores.items()}
  gains = {name: round(v - means["identity"], 2) for name, v in means.items() if name != "identity"}
  print(json.dumps({"size": FLAGS.size, "count": FLAGS.count, "psnr": means, "gain_db": gains}))


if __name__ == "__main__":
  app.run(main)
