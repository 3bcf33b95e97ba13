"""The embedded `shapes` dataset: one filled shape on black, with known ground truth.

Each 64x64 image holds a single shape (`SHAPE_NAMES`) in one palette colour (`PALETTE`), of random
size, position and rotation, fully inside the image. Images are drawn at 4x and box-filtered, so
every pixel is exactly `round(coverage * colour)`: black background, the pure colour inside, and
blends of the two only along the antialiased edge. Generation is offline and deterministic.

Configs: `full` (the default; 16384 train / 2048 test) and `small` (512 / 128, for tests and CI).
Example `i` of a split depends only on the split's seed and `i`, so `small` is drawn from the same
distribution as `full`.
"""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image, ImageDraw

from gan_jax.data import images
from gan_jax.data.builder import OfflineBuilder, OfflineInfo

SHAPE_NAMES = ("circle", "square", "triangle", "cross", "star")
# Saturated, well separated hues, so a metric can name an image's colour by its nearest entry.
PALETTE = (
  ("red", (255, 0, 0)),
  ("green", (0, 200, 0)),
  ("blue", (30, 80, 255)),
  ("yellow", (255, 220, 0)),
  ("cyan", (0, 220, 220)),
  ("magenta", (230, 0, 230)),
)
COLOUR_NAMES = tuple(name for name, _ in PALETTE)
COLOURS = np.array([rgb for _, rgb in PALETTE], dtype=np.uint8)

IMAGE_SIZE = 64
SUPERSAMPLING = 4
# Diameter of the shape's circumscribed circle, as a fraction of the image side.
SIZE_RANGE = (0.3, 0.7)
TRAIN_SEED = 20240
TEST_SEED = 20241
# Rotating by these angles maps each shape onto itself, so larger angles add nothing.
_SYMMETRY_DEGREES = {"circle": 0.0, "square": 90.0, "triangle": 120.0, "cross": 90.0, "star": 72.0}
_MARGIN = 1.0  # pixels kept clear around the shape so its antialiased edge stays inside


def _unit_polygon(shape: str) -> np.ndarray:
  """Vertices [N, 2] of a shape centred at the origin with circumradius 1."""
  if shape == "square":
    angles = np.deg2rad(45.0 + 90.0 * np.arange(4))
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)
  if shape == "triangle":
    angles = np.deg2rad(-90.0 + 120.0 * np.arange(3))
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)
  if shape == "star":
    angles = np.deg2rad(-90.0 + 36.0 * np.arange(10))
    radii = np.where(np.arange(10) % 2 == 0, 1.0, 0.45)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
  if shape == "cross":
    a, w = 1.0, 0.3  # arm half-length and half-width
    corners = [(w, -a), (w, -w), (a, -w), (a, w), (w, w), (w, a)]
    corners += [(-x, -y) for x, y in corners]
    vertices = np.array(corners, dtype=np.float64)
    return vertices / np.linalg.norm(vertices, axis=1).max()
  raise ValueError(f"no polygon for shape {shape!r}")


def sample_params(rng: np.random.Generator) -> dict:
  """Draws one image's shape, colour, size, rotation and centre.

  Args:
    rng: the random generator of this example.

  Returns:
    A dict with `shape` and `colour` (indices into SHAPE_NAMES and PALETTE), `radius`, `angle`
    (degrees) and `centre` (x, y), in pixels of a IMAGE_SIZE image.
  """
  shape = int(rng.integers(len(SHAPE_NAMES)))
  colour = int(rng.integers(len(PALETTE)))
  radius = 0.5 * IMAGE_SIZE * rng.uniform(*SIZE_RANGE)
  angle = rng.uniform(0.0, _SYMMETRY_DEGREES[SHAPE_NAMES[shape]])
  low, high = _extent(SHAPE_NAMES[shape], radius, angle)
  centre = rng.uniform(_MARGIN - low, IMAGE_SIZE - _MARGIN - high)
  return dict(shape=shape, colour=colour, radius=radius, angle=angle, centre=centre)


def _vertices(shape: str, radius: float, angle: float) -> np.ndarray:
  """Vertices of a polygonal shape, rotated by `angle` degrees, around the origin."""
  theta = np.deg2rad(angle)
  rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
  return radius * _unit_polygon(shape) @ rotation.T


def _extent(shape: str, radius: float, angle: float) -> tuple[np.ndarray, np.ndarray]:
  """Lowest and highest (x, y) the shape reaches relative to its centre."""
  if shape == "circle":
    return np.array([-radius, -radius]), np.array([radius, radius])
  vertices = _vertices(shape, radius, angle)
  return vertices.min(axis=0), vertices.max(axis=0)


def render(params: dict) -> np.ndarray:
  """Draws the image described by `sample_params`.

  Args:
    params: the output of `sample_params`.

  Returns:
    A uint8 [IMAGE_SIZE, IMAGE_SIZE, 3] image.
  """
  big = IMAGE_SIZE * SUPERSAMPLING
  mask = Image.new("L", (big, big), 0)
  draw = ImageDraw.Draw(mask)
  shape = SHAPE_NAMES[params["shape"]]
  centre = np.asarray(params["centre"]) * SUPERSAMPLING
  radius = params["radius"] * SUPERSAMPLING
  if shape == "circle":
    draw.ellipse([*(centre - radius), *(centre + radius)], fill=255)
  else:
    points = _vertices(shape, radius, params["angle"]) + centre
    draw.polygon([tuple(p) for p in points], fill=255)
  # A box filter over each 4x4 block gives the pixel's coverage by the shape.
  coverage = np.asarray(mask.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BOX), np.float64)
  colour = COLOURS[params["colour"]].astype(np.float64)
  return np.round(coverage[..., None] / 255.0 * colour).astype(np.uint8)


def make_example(seed: int, index: int) -> tuple[np.ndarray, dict]:
  """Generates example `index` of the split drawn from `seed`.

  Args:
    seed: the split's seed (TRAIN_SEED or TEST_SEED).
    index: the example's position in the split.

  Returns:
    The image and its parameters (see `sample_params`).
  """
  params = sample_params(np.random.default_rng([seed, index]))
  return render(params), params


@dataclasses.dataclass(eq=False, kw_only=True)
class ShapesConfig(tfds.core.BuilderConfig):
  """Split sizes of a `shapes` variant."""

  num_train: int = 0
  num_test: int = 0
  # Its images alone, or with their shape class (config.data.label_key='shape') as a label.
  layouts: tuple[str, ...] = ("unconditional", "labelled")


class Shapes(OfflineBuilder, skip_registration=True):
  """One filled shape per image, on black; see the module docstring."""

  # Stored under this name in the data dir, apart from any TFDS catalogue dataset.
  name = "gan_jax_shapes"
  BUILDER_CONFIGS = [
    ShapesConfig(
      name="full", description="16384 train / 2048 test", num_train=16384, num_test=2048
    ),
    ShapesConfig(name="small", description="512 train / 128 test", num_train=512, num_test=128),
  ]

  def _info(self) -> tfds.core.DatasetInfo:
    return OfflineInfo(
      builder=self,
      description=__doc__.split("\n")[0],
      features=tfds.features.FeaturesDict(
        {
          "image": tfds.features.Image(shape=(IMAGE_SIZE, IMAGE_SIZE, 3)),
          "shape": tfds.features.ClassLabel(names=SHAPE_NAMES),
          "colour": tfds.features.ClassLabel(names=COLOUR_NAMES),
        }
      ),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # everything is generated
    config = self.builder_config
    return {
      "train": self._generate_examples(TRAIN_SEED, config.num_train),
      "test": self._generate_examples(TEST_SEED, config.num_test),
    }

  def _generate_examples(self, seed: int, count: int):
    for index in range(count):
      image, params = make_example(seed, index)
      yield (
        index,
        {
          "image": images.encode_png(image),
          "shape": params["shape"],
          "colour": params["colour"],
        },
      )
