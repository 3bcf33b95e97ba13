"""Golden fixtures: the numbers an official implementation computed, read once per test process."""

import functools
import pathlib
import types

import numpy as np


@functools.cache
def arrays(path: pathlib.Path) -> dict[str, np.ndarray]:
  """Every array of the .npz at `path`, by name."""
  with np.load(path) as data:
    return {k: data[k] for k in data.files}


def section(named: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
  """The arrays whose names start with `prefix`, by the rest of their names."""
  return {k[len(prefix) :]: v for k, v in named.items() if k.startswith(prefix)}


@functools.cache
def official(fixtures: types.ModuleType, src: str):
  """The official tree at `src`, loaded by the fixture script `fixtures` once per process."""
  return fixtures.load_official(src)


def reference(fixtures: types.ModuleType, src: str | None, name: str) -> dict[str, np.ndarray]:
  """Case `name` of a fixture script: computed live by the official tree at `src` when one is
  named, else read from the script's FIXTURE (which the script wrote the same way)."""
  if src:
    return fixtures.reference(official(fixtures, src), name)
  return section(arrays(fixtures.FIXTURE), name + "/")
