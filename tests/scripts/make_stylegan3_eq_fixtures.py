"""Golden fixtures for tests/test_stylegan3_equivariance.py: what the official StyleGAN3
equivariance metric's image operators compute (NVlabs/stylegan3, commit c233a91,
metrics/equivariance.py, on the CPU): the integer and fractional translations of EQ-T, and EQ-R's
fractional rotation (with its oriented band-limit filter) and pseudo-rotation, with their masks.
Numbers only (inputs and outputs, gan_jax's NHWC layout); no official code is copied.

Regenerate tests/fixtures/stylegan3_equivariance.npz from the repository root (CPU PyTorch,
seconds):

  STYLEGAN3_SRC=path/to/stylegan3 python tests/scripts/make_stylegan3_eq_fixtures.py

With STYLEGAN3_SRC set, the tests compare against the tree live instead.
"""

import importlib
import os
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from tests.scripts import make_stylegan3_fixtures as nets_fixtures  # noqa: E402
from tests.scripts import make_stylegan_fixtures as ops_fixtures  # noqa: E402

FIXTURE = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "stylegan3_equivariance.npz"
# (name, image shape NHWC, the operator's arguments): shifts in image widths, angles in radians.
SHIFT_CASES = [
  ("shift_a", (1, 16, 16, 3), (0.1, -0.05)),
  ("shift_b", (1, 16, 16, 3), (-0.125, 0.07)),
  ("shift_c", (1, 20, 24, 2), (0.033, 0.12)),
]
ROTATION_CASES = [
  ("rotate_a", (2, 16, 16, 3), 0.3),
  ("rotate_b", (1, 16, 16, 3), -2.1),
  ("rotate_c", (1, 20, 24, 2), 3.0),
  ("rotate_d", (1, 32, 32, 1), 0.0),
]
CASES = {name: (shape, arg) for name, shape, arg in SHIFT_CASES + ROTATION_CASES}


def case_input(name) -> np.ndarray:
  shape, _ = CASES[name]
  return np.random.RandomState(ops_fixtures._seed(name)).randn(*shape).astype(np.float32)


def load_official(src: str):
  """The tree (make_stylegan3_fixtures.load_official) with its metrics.equivariance module as
  `.metric`."""
  official = nets_fixtures.load_official(src)
  src = str(pathlib.Path(src).resolve())
  with nets_fixtures.official_modules(official.modules):
    sys.path.insert(0, src)
    try:
      official.metric = importlib.import_module("metrics.equivariance")
    finally:
      sys.path.remove(src)
  return official


def reference(official, name) -> dict[str, np.ndarray]:
  """The official outputs of the case `name`: for a shift, int/frac images and masks; for a
  rotation, the filter (up 4), the rotated image and mask, the pseudo-rotated image and mask."""
  import torch  # noqa: PLC0415

  metric = official.metric
  _, arg = CASES[name]
  x = case_input(name)
  xt = torch.from_numpy(x).permute(0, 3, 1, 2)
  nhwc = lambda t: t.permute(0, 2, 3, 1).numpy().copy()  # noqa: E731
  with nets_fixtures.official_modules(official.modules):
    out = {"x": x}
    if name.startswith("shift"):
      tx, ty = (torch.tensor(v) for v in arg)
      for key, op in (
        ("int", metric.apply_integer_translation),
        ("frac", metric.apply_fractional_translation),
      ):
        z, m = op(xt, tx, ty)
        out[f"{key}/z"], out[f"{key}/m"] = nhwc(z), nhwc(m)
      return out
    angle = torch.tensor(arg)
    mat = metric.rotation_matrix(angle)
    out["filter"] = metric.construct_affine_bandlimit_filter(mat, a=3, amax=6).numpy()
    for key, op in (
      ("rotate", metric.apply_fractional_rotation),
      ("pseudo", metric.apply_fractional_pseudo_rotation),
    ):
      z, m = op(xt, angle)
      out[f"{key}/z"], out[f"{key}/m"] = nhwc(z), nhwc(m)
    return out


def main():
  src = os.environ.get("STYLEGAN3_SRC")
  if not src:
    sys.exit("set STYLEGAN3_SRC to a checkout of NVlabs/stylegan3")
  official = load_official(src)
  arrays = ops_fixtures.provenance(src, nets_fixtures.COMMIT)
  nets_fixtures.write_fixture(FIXTURE, arrays, CASES, lambda name: reference(official, name))


if __name__ == "__main__":
  main()
