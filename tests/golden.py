"""Golden fixtures: the numbers an official implementation computed, read once per test process."""

import functools
import json
import os
import pathlib
import types

import numpy as np

# Names a file to which every comparison with an official result appends one JSON line (the
# test, what was compared, the max abs difference): benchmarks/fidelity.py reads it.
REPORT_ENV = "GAN_JAX_FIDELITY_REPORT"


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


def assert_close(
  got, want, what: str, scale: float = 2e-5, rtol: float = 1e-4, of=None, floor: float = 1e-12
) -> None:
  """`got` equals the official `want` within float32 rounding: within `rtol` of each value, or
  within `scale` x the largest |value| of `of` (default: of `want`; sums run in another order)
  plus `floor`."""
  got, want = np.asarray(got), np.asarray(want)
  assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
  largest = float(np.abs(want if of is None else of).max(initial=0.0))
  if report := os.environ.get(REPORT_ENV):
    test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
    diff = float(np.abs(got.astype(np.float64) - want).max(initial=0.0))
    line = {"test": test, "what": what, "max_abs_diff": diff, "max_abs": largest}
    with open(report, "a") as f:
      f.write(json.dumps(line) + "\n")
  np.testing.assert_allclose(got, want, rtol=rtol, atol=scale * largest + floor, err_msg=what)
