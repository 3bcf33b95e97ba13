"""Golden fixtures: the numbers an official implementation computed, read once per test process."""

import functools
import pathlib

import numpy as np


@functools.cache
def arrays(path: pathlib.Path) -> dict[str, np.ndarray]:
  """Every array of the .npz at `path`, by name."""
  with np.load(path) as data:
    return {k: data[k] for k in data.files}
