"""Reading user images as 8-bit RGB and encoding them for TFDS.

Every image that enters a dataset built by gan_jax passes through here once, at build time, so
that training never meets a grayscale, transparent, 16-bit or truncated file.
"""

import io
import os
import pathlib

import numpy as np
from PIL import Image

from gan_jax.errors import DataError

# Files with other extensions (.txt, .json, .DS_Store, ...) are ignored when folders are searched.
IMAGE_EXTENSIONS = frozenset(
  {".bmp", ".gif", ".jpeg", ".jpg", ".pbm", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp"}
)
SKIP_HINT = "fix or remove it, or set --config.data.skip_bad_images=true to skip unreadable images"

_HIGH_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
_WHITE = (255, 255, 255, 255)


def is_image_file(path: str | os.PathLike) -> bool:
  """Whether a file name looks like an image gan_jax reads.

  Hidden files are excluded: macOS writes `._name.jpg` resource forks next to real images.

  Args:
    path: a file path.

  Returns:
    True for a visible file with an image extension.
  """
  path = pathlib.PurePath(path)
  return not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS


def open_image(path: str | os.PathLike) -> tuple[Image.Image, bytes]:
  """Opens and fully decodes an image, so truncated or corrupt files fail here.

  Args:
    path: the image file.

  Returns:
    The decoded PIL image and the file's bytes.

  Raises:
    DataError: the file cannot be read or decoded.
  """
  path = pathlib.Path(path)
  try:
    data = path.read_bytes()
    image = Image.open(io.BytesIO(data))
    image.load()
  # PIL reports broken files with many exception types (OSError, SyntaxError, EOFError,
  # struct.error, DecompressionBombError, ...); any of them means this file is unusable.
  except Exception as e:
    reason = " ".join(str(e).split()) or type(e).__name__
    raise DataError(f"cannot read image {path} ({reason}); {SKIP_HINT}") from e
  return image, data


def to_rgb(image: Image.Image) -> Image.Image:
  """Converts a decoded image of any mode to 8-bit RGB.

  Transparent images are composited over white; 16-bit and 32-bit images are scaled by their bit
  depth rather than clipped (PIL's own `convert` clips them to 255).

  Args:
    image: a loaded PIL image.

  Returns:
    An RGB image of the same size.
  """
  if image.mode == "RGB" and "transparency" not in image.info:
    return image
  if image.mode in _HIGH_DEPTH_MODES:
    return Image.fromarray(_high_depth_to_uint8(np.asarray(image), image.mode), "L").convert("RGB")
  if "A" in image.mode or "a" in image.mode or "transparency" in image.info:
    rgba = image.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, _WHITE), rgba).convert("RGB")
  return image.convert("RGB")


def _high_depth_to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
  """Scales a single-channel 16/32-bit integer or float image to 0..255."""
  values = values.astype(np.float64)
  if mode.startswith("I;16"):
    full_scale = 2.0**16 - 1
  elif mode == "I":
    # PIL stores 16-bit PNG/TIFF data in 32-bit 'I' images too; only larger values mean 32 bits.
    full_scale = 2.0**16 - 1 if values.max(initial=0) < 2**16 else 2.0**31 - 1
  else:  # 'F': floats in [0, 1] are the usual convention; anything else is scaled by its range.
    low, high = values.min(initial=0.0), values.max(initial=0.0)
    if low >= 0.0 and high <= 1.0:
      full_scale = 1.0
    else:
      values, full_scale = values - min(low, 0.0), max(high - min(low, 0.0), 1e-12)
  return np.clip(np.round(values * (255.0 / full_scale)), 0, 255).astype(np.uint8)


def read_rgb(path: str | os.PathLike) -> np.ndarray:
  """Reads an image file as a uint8 [H, W, 3] array.

  Args:
    path: the image file.

  Returns:
    The image as 8-bit RGB.

  Raises:
    DataError: the file cannot be read.
  """
  image, _ = open_image(path)
  return np.asarray(to_rgb(image))


def encode_png(image: Image.Image | np.ndarray) -> bytes:
  """Encodes an image (PIL or uint8 array) as PNG bytes.

  Args:
    image: an RGB image.

  Returns:
    The PNG file's bytes.
  """
  if isinstance(image, np.ndarray):
    image = Image.fromarray(image)
  buffer = io.BytesIO()
  image.save(buffer, format="PNG")
  return buffer.getvalue()


def encode_for_tfds(path: str | os.PathLike) -> bytes:
  """Returns bytes for a TFDS `Image` feature that decode to the file's 8-bit RGB pixels.

  Args:
    path: the image file.

  Returns:
    Encoded image bytes (see `encode_opened`).

  Raises:
    DataError: the file cannot be read.
  """
  return encode_opened(*open_image(path))


def encode_opened(image: Image.Image, data: bytes) -> bytes:
  """Encodes an image returned by `open_image` for a TFDS `Image` feature.

  An 8-bit RGB JPEG or PNG is stored as it is (no re-encoding loss, no growth); anything else is
  converted with `to_rgb` and stored as PNG.

  Args:
    image: the decoded image.
    data: the bytes of its file.

  Returns:
    Encoded image bytes.
  """
  if _is_plain_rgb(image, data):
    return data
  return encode_png(to_rgb(image))


def _is_plain_rgb(image: Image.Image, data: bytes) -> bool:
  """Whether the file's own bytes already decode to 3-channel 8-bit RGB in any decoder."""
  if image.mode != "RGB" or "transparency" in image.info:
    return False
  if image.format == "JPEG":
    return True
  # PIL opens 16-bit RGB PNGs as 'RGB' too; the IHDR chunk holds bit depth (byte 24) and colour
  # type (byte 25, 2 = truecolour), and other decoders (OpenCV) would return 16 bits.
  return image.format == "PNG" and len(data) > 25 and data[24] == 8 and data[25] == 2
