"""gan_jax.metrics.equivariance: the shifts EQ-T compares against, as NVlabs/stylegan3's
metrics/equivariance.py computes them (live where STYLEGAN3_SRC names its tree), their properties
without it, and EQ-T of a synthesis that is translation-equivariant by construction."""

import os

import numpy as np
import pytest

from gan_jax.metrics import equivariance as eq

SRC = os.environ.get("STYLEGAN3_SRC")
SHIFTS = [(0.1, -0.05), (-0.125, 0.07), (0.033, 0.12)]


def _image(seed=0):
  return np.random.RandomState(seed).randn(2, 20, 20, 3).astype(np.float32)


def test_integer_shift_moves_pixels_and_masks_the_rest():
  x = _image()
  z, m = eq.translate_integer(x, 0.1, -0.05)  # 2 pixels right, 1 up
  np.testing.assert_array_equal(z[:, :19, 2:], x[:, 1:, :18])
  assert m.sum() == 2 * 19 * 18 * 3 and not z[:, 19:].any() and not z[:, :, :2].any()


def test_fractional_shift_by_whole_pixels_is_the_integer_shift_inside_its_mask():
  x = _image(1)
  z, m = eq.translate_fractional(x, 0.1, -0.05)
  zi, _ = eq.translate_integer(x, 0.1, -0.05)
  np.testing.assert_allclose(z * m, zi * m, atol=1e-6)
  assert m.sum() > 0 and m.sum() < (zi != 0).sum()  # the kernel's reach is masked off


@pytest.mark.skipif(not SRC, reason="STYLEGAN3_SRC is not set")
def test_shifts_match_the_official_metric():
  import importlib  # noqa: PLC0415
  import sys  # noqa: PLC0415

  import torch  # noqa: PLC0415

  from tests.scripts import make_stylegan3_fixtures as fixtures  # noqa: PLC0415

  official = fixtures.load_official(SRC)
  with fixtures.official_modules(official.modules):
    sys.path.insert(0, SRC)
    try:
      ref = importlib.import_module("metrics.equivariance")
    finally:
      sys.path.remove(SRC)
    x = _image(2)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2)
    for tx, ty in SHIFTS:
      for mine, theirs in [
        (eq.translate_integer, ref.apply_integer_translation),
        (eq.translate_fractional, ref.apply_fractional_translation),
      ]:
        z, m = mine(x, tx, ty)
        zr, mr = theirs(xt, torch.tensor(tx), torch.tensor(ty))
        np.testing.assert_allclose(z, zr.permute(0, 2, 3, 1).numpy(), atol=1e-5)
        np.testing.assert_array_equal(m, mr.permute(0, 2, 3, 1).numpy())


def _plane_waves(ws, transform):
  """A toy synthesis: sums of sinusoids evaluated at pixel centres through the inverse transform
  (exactly equivariant to translation), with frequencies from ws."""
  size = 32
  grid = (np.arange(size) + 0.5) / size - 0.5
  x, y = np.meshgrid(grid, grid)
  pts = np.stack([x, y, np.ones_like(x)], -1) @ np.asarray(transform, np.float64).T
  freqs = ws[:, :, :2] * 3
  arg = np.einsum("hwk,nck->nhwc", pts[..., :2], freqs) + ws[:, None, None, :, 2]
  return np.sin(2 * np.pi * arg)[..., :3] * 0.9


def test_eq_t_of_an_equivariant_synthesis_is_high_and_of_a_fixed_one_low():
  rng = np.random.RandomState(0)
  batches = [rng.uniform(-1, 1, (2, 3, 3)) for _ in range(3)]
  assert eq.eq_t(_plane_waves, batches) > 60  # exact up to float rounding
  assert eq.eq_t(_plane_waves, batches, fractional=True) > 20  # Lanczos-3 of a band-limited wave
  frozen = lambda ws, t: _plane_waves(ws, np.eye(3))  # noqa: E731 (ignores the transform)
  assert eq.eq_t(frozen, batches) < 15
