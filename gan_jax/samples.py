"""Sample grids and PNG files."""

import pathlib

import numpy as np
from PIL import Image


def to_uint8(images) -> np.ndarray:
  """float images in [-1, 1] -> uint8 [0, 255]."""
  images = np.asarray(images, dtype=np.float32)
  return np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def grid_columns(n: int) -> int:
  """The largest divisor of n not above ceil(sqrt(n)): 64 -> 8, 16 -> 4, 10 -> 2."""
  limit = max(1, int(-(-(n**0.5) // 1)))
  return max(d for d in range(1, limit + 1) if n % d == 0)


def as_grid(images):
  """[N, H, W, C] -> [rows, cols, H, W, C] with grid_columns(N) columns (any array type)."""
  cols = grid_columns(images.shape[0])
  return images.reshape(images.shape[0] // cols, cols, *images.shape[1:])


def tile(grid, pad: int = 2) -> np.ndarray:
  """[rows, cols, H, W, C] in [-1, 1] -> one uint8 image with `pad` black pixels between cells."""
  grid = to_uint8(grid)
  rows, cols, h, w, c = grid.shape
  out = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, c), np.uint8)
  for r in range(rows):
    for col in range(cols):
      y, x = pad + r * (h + pad), pad + col * (w + pad)
      out[y : y + h, x : x + w] = grid[r, col]
  return out


def save_png(path: str | pathlib.Path, image: np.ndarray) -> None:
  """Writes uint8 [H, W, 3] (or [H, W, 1]) to `path`, creating its folder."""
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  if image.ndim == 3 and image.shape[-1] == 1:
    image = image[..., 0]
  Image.fromarray(image).save(path)
