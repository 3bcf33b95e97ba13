"""The embedded `toon` dataset: photo crops (domain A) and their cartoons (domain B).

Domain A holds random square crops of the RGB photos that ship inside scikit-image; domain B is
`cartoonize(crop)`, a deterministic function of the crop alone, so a translation model can be scored
against exact ground truth. Train and test crops come from disjoint photos.

Configs (the first is the default):
- `paired` / `paired_small`: splits `train`, `test`; features `image_a`, `image_b`, `id`.
- `unpaired` / `unpaired_small`: splits `trainA`, `trainB`, `testA`, `testB`; features `image`,
  `label` (A/B), `id`. trainB holds cartoons of other crops than trainA; testB[i] is the cartoon of
  testA[i] (same `id`, and both splits keep generation order).
Every example also has `photo` (the photo it was cut from), `box` ([top, left, side] of the crop
in that photo). The 256 px variants have 400 train / 50 test crops, the `_small` ones 64 px, 32 / 8.
"""

import dataclasses
from collections.abc import Iterator

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from gan_jax.data import images
from gan_jax.data.builder import OfflineBuilder, OfflineInfo

# skimage.data names; the motorcycle's two stereo views share one split so test never sees a view
# of a train scene. `cat` is the same photo as `chelsea` and is left out for that reason.
TRAIN_PHOTOS = (
  "astronaut",
  "rocket",
  "hubble_deep_field",
  "immunohistochemistry",
  "retina",
  "motorcycle_left",
  "motorcycle_right",
)
TEST_PHOTOS = ("chelsea", "coffee")
PHOTOS = TRAIN_PHOTOS + TEST_PHOTOS
CROP_FRACTION = (0.35, 1.0)  # crop side, as a fraction of the photo's short side
TRAIN_SEED = 7310
TEST_SEED = 7311
LABELS = ("A", "B")

# cartoonize() parameters, in [0, 1] intensity units.
_SMOOTHING_PASSES = 4
_SMOOTHING_RADIUS = 2
_SMOOTHING_SIGMA_SPACE = 2.0  # pixels
_SMOOTHING_SIGMA_COLOUR = 0.1
_LUMINANCE_LEVELS = 6
# Each band steps up to the next over this fraction of its width (a smoothstep): flat bands with
# soft edges, as toon shaders ramp. A hard step (0) makes the ground truth jump wherever the input's
# luminance crosses a threshold, and no model then comes near it: on the test photos, a model that
# got all else exactly right but left out the banding would score 25.6 dB against hard bands and
# 29.7 dB against these (the photo itself: 19.9 and 20.7 dB).
_BAND_SOFTNESS = 0.5
_SATURATION_GAIN = 1.2
_EDGE_RAMP = (0.05, 0.10)  # Sobel magnitude where lines start and become fully dark
_DARK_SIDE_SOFTNESS = 0.01  # luminance below the local mean over which a line fades in
_LINE_INTENSITY = 0.08
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def _shifted(x: np.ndarray, radius: int) -> Iterator[tuple[int, int, np.ndarray]]:
  """Yields (dy, dx, x shifted by dy, dx) over a square window; borders repeat the edge pixel."""
  height, width = x.shape[-2:]
  pad = [(0, 0)] * (x.ndim - 2) + [(radius, radius), (radius, radius)]
  padded = np.pad(x, pad, mode="edge")
  for dy in range(2 * radius + 1):
    for dx in range(2 * radius + 1):
      yield dy - radius, dx - radius, padded[..., dy : dy + height, dx : dx + width]


def _bilateral(x: np.ndarray) -> np.ndarray:
  """One pass of a bilateral filter over a [3, H, W] image: smooths within regions, not across."""
  numerator = np.zeros_like(x)
  denominator = np.zeros(x.shape[1:], np.float32)
  colour_scale = np.float32(-0.5 / _SMOOTHING_SIGMA_COLOUR**2)
  for dy, dx, neighbour in _shifted(x, _SMOOTHING_RADIUS):
    diff = neighbour - x
    distance = np.float32(0.5 * (dy * dy + dx * dx) / _SMOOTHING_SIGMA_SPACE**2)
    weight = np.exp(colour_scale * (diff * diff).sum(axis=0) - distance)
    numerator += weight * neighbour
    denominator += weight
  return numerator / denominator


def _window3(x: np.ndarray) -> np.ndarray:
  """The 3x3 neighbourhood of every pixel of a [H, W] array, stacked: [9, H, W]."""
  return np.stack([n for _, _, n in _shifted(x, 1)])


def _sobel_magnitude(y: np.ndarray) -> np.ndarray:
  """Gradient magnitude of a [H, W] array (Sobel, normalised so a unit step gives 1)."""
  p = np.pad(y, 1, mode="edge")
  gx = (p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[1:-1, :-2] + p[2:, :-2])
  gy = (p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[:-2, 1:-1] + p[:-2, 2:])
  return np.sqrt(gx * gx + gy * gy) / 4


def _soft_round(x: np.ndarray) -> np.ndarray:
  """round(x) with each step spread over _BAND_SOFTNESS of the unit around the half (smoothstep)."""
  floor = np.floor(x)
  ramp = np.clip((x - floor - 0.5) / _BAND_SOFTNESS + 0.5, 0, 1)
  return floor + ramp * ramp * (3 - 2 * ramp)


def cartoon_layers(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """The two layers `cartoonize` composes: flat colour and line coverage.

  Args:
    rgb: a uint8 [H, W, 3] image.

  Returns:
    (flat, lines): flat colour float32 [3, H, W] in [0, 1], and how much each pixel is inked,
    float32 [H, W] in [0, 1].
  """
  smooth = np.moveaxis(rgb.astype(np.float32) / 255, -1, 0)
  for _ in range(_SMOOTHING_PASSES):
    smooth = _bilateral(smooth)
  luminance = np.tensordot(_LUMA, smooth, axes=1)
  # Band the luminance but keep each pixel's hue: toon shading rather than a posterised palette.
  bands = (
    _soft_round(np.median(_window3(luminance), axis=0) * _LUMINANCE_LEVELS) / _LUMINANCE_LEVELS
  )
  flat = np.clip(smooth * (bands / np.maximum(luminance, 1e-3)), 0, 1)
  grey = np.tensordot(_LUMA, flat, axes=1)
  flat = np.clip(grey + _SATURATION_GAIN * (flat - grey), 0, 1)
  low, high = _EDGE_RAMP
  lines = np.clip((_sobel_magnitude(luminance) - low) / (high - low), 0, 1)
  lines = np.max(_window3(lines), axis=0)  # thickened by a pixel each way...
  # ...but inked on the darker side of each edge only, so small bright details (stars, highlights,
  # lettering) keep their colour instead of vanishing under their own outline.
  below_mean = np.mean(_window3(luminance), axis=0) - luminance
  lines *= np.clip(below_mean / _DARK_SIDE_SOFTNESS + 0.5, 0, 1)
  return flat, lines


def compose(flat: np.ndarray, lines: np.ndarray) -> np.ndarray:
  """Inks `lines` over `flat` (the layers of `cartoon_layers`): the cartoon, uint8 [H, W, 3]."""
  cartoon = flat * (1 - lines) + _LINE_INTENSITY * lines
  return np.round(np.moveaxis(cartoon, 0, -1) * 255).astype(np.uint8)


def cartoonize(rgb: np.ndarray) -> np.ndarray:
  """Turns a photo into a cartoon: flat colour regions with dark outlines.

  Edge-preserving (bilateral) smoothing, soft luminance banding that keeps each pixel's hue, and
  dark lines where the smoothed luminance has a strong Sobel gradient. Every step looks at a few
  pixels around each pixel only, and is continuous, so the mapping is local and smooth and a
  convolutional generator can learn it.

  Args:
    rgb: a uint8 [H, W, 3] image.

  Returns:
    The cartoon, uint8 [H, W, 3].
  """
  return compose(*cartoon_layers(rgb))


def load_photo(name: str) -> np.ndarray:
  """Loads one of PHOTOS from scikit-image's bundled data (no download).

  Args:
    name: an entry of PHOTOS.

  Returns:
    The photo, uint8 [H, W, 3].
  """
  from skimage import data  # build time only: importing gan_jax must not need scikit-image

  if name.startswith("motorcycle_"):
    left, right, _ = data.stereo_motorcycle()
    return left if name == "motorcycle_left" else right
  return getattr(data, name)()


def crop_box(photo_shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
  """Draws a random square crop that lies inside the photo.

  Args:
    photo_shape: the photo's shape (H, W, ...).
    rng: the random generator of this crop.

  Returns:
    int32 [top, left, side] in photo pixels.
  """
  height, width = photo_shape[:2]
  side = int(round(min(height, width) * rng.uniform(*CROP_FRACTION)))
  top = int(rng.integers(0, height - side + 1))
  left = int(rng.integers(0, width - side + 1))
  return np.array([top, left, side], np.int32)


def cut(photo: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
  """Cuts `box` out of `photo` and resizes it (Lanczos, antialiased) to size x size.

  Args:
    photo: uint8 [H, W, 3].
    box: [top, left, side], as from `crop_box`.
    size: the output side in pixels.

  Returns:
    uint8 [size, size, 3].
  """
  top, left, side = (int(v) for v in box)
  region = (left, top, left + side, top + side)
  return np.asarray(
    Image.fromarray(photo).resize((size, size), Image.Resampling.LANCZOS, box=region)
  )


def crops(stream: str, start: int, count: int, size: int):
  """Generates crops start..start+count-1 of the `train` or `test` stream.

  Crop `i` depends only on the stream and `i`: its photo is picked round robin (every photo is used
  equally often) and its box is drawn from a generator seeded with (stream seed, i).

  Args:
    stream: 'train' (TRAIN_PHOTOS) or 'test' (TEST_PHOTOS).
    start: the first crop id.
    count: how many crops.
    size: the side of the stored crop in pixels.

  Yields:
    (crop id, photo name, box [top, left, side], uint8 [size, size, 3] crop).
  """
  seed, names = {"train": (TRAIN_SEED, TRAIN_PHOTOS), "test": (TEST_SEED, TEST_PHOTOS)}[stream]
  photos = {name: load_photo(name) for name in names}
  for crop_id in range(start, start + count):
    name = names[crop_id % len(names)]
    box = crop_box(photos[name].shape, np.random.default_rng([seed, crop_id]))
    yield crop_id, name, box, cut(photos[name], box, size)


@dataclasses.dataclass(eq=False, kw_only=True)
class ToonConfig(tfds.core.BuilderConfig):
  """A `toon` variant: paired or unpaired, image size and crop counts."""

  paired: bool = True
  image_size: int = 256
  num_train: int = 0
  num_test: int = 0

  @property
  def layouts(self) -> tuple[str, ...]:
    return ("paired",) if self.paired else ("unpaired",)

  @property
  def aligned_splits(self) -> tuple[str, ...]:
    """Unpaired: testB[i] is the cartoon of testA[i]; trainB holds cartoons of other crops."""
    return () if self.paired else ("test",)


def _config(name: str, paired: bool, image_size: int, num_train: int, num_test: int):
  description = f"{'paired' if paired else 'unpaired'}, {image_size} px, {num_train}/{num_test}"
  return ToonConfig(
    name=name,
    description=description,
    paired=paired,
    image_size=image_size,
    num_train=num_train,
    num_test=num_test,
  )


class Toon(OfflineBuilder, skip_registration=True):
  """Photo crops and their cartoons; see the module docstring."""

  # Stored under this name in the data dir, apart from any TFDS catalogue dataset.
  name = "gan_jax_toon"
  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {
    "1.0.0": "First release.",
    "1.1.0": "Soft luminance bands: the cartoon is a continuous function of the photo.",
  }
  BUILDER_CONFIGS = [
    _config("paired", True, 256, 400, 50),
    _config("unpaired", False, 256, 400, 50),
    _config("paired_small", True, 64, 32, 8),
    _config("unpaired_small", False, 64, 32, 8),
  ]

  def _info(self) -> tfds.core.DatasetInfo:
    size = self.builder_config.image_size
    image = tfds.features.Image(shape=(size, size, 3))
    common = {
      "id": tfds.features.Scalar(np.int64),
      "photo": tfds.features.ClassLabel(names=PHOTOS),
      "box": tfds.features.Tensor(shape=(3,), dtype=np.int32),
    }
    if self.builder_config.paired:
      features = {"image_a": image, "image_b": image, **common}
    else:
      features = {"image": image, "label": tfds.features.ClassLabel(names=LABELS), **common}
    return OfflineInfo(
      builder=self,
      description=__doc__.split("\n")[0],
      features=tfds.features.FeaturesDict(features),
      # testA[i] and testB[i] must stay a pair, so examples are stored in generation order.
      disable_shuffling=True,
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # the photos ship with scikit-image
    c = self.builder_config
    if c.paired:
      return {
        "train": self._generate_examples("train", 0, c.num_train),
        "test": self._generate_examples("test", 0, c.num_test),
      }
    return {
      "trainA": self._generate_examples("train", 0, c.num_train, "A"),
      # The train stream continues past trainA, so trainB cartoons crops trainA never shows.
      "trainB": self._generate_examples("train", c.num_train, c.num_train, "B"),
      "testA": self._generate_examples("test", 0, c.num_test, "A"),
      "testB": self._generate_examples("test", 0, c.num_test, "B"),
    }

  def _generate_examples(self, stream: str, start: int, count: int, label: str | None = None):
    """Yields crops start..start+count-1 of a stream: as pairs, or as domain `label` alone."""
    png = images.encode_png
    size = self.builder_config.image_size
    for crop_id, name, box, crop in crops(stream, start, count, size):
      about = {"id": crop_id, "photo": name, "box": box}
      if label is None:
        yield crop_id, {"image_a": png(crop), "image_b": png(cartoonize(crop)), **about}
      else:
        image = crop if label == "A" else cartoonize(crop)
        yield crop_id, {"image": png(image), "label": label, **about}
