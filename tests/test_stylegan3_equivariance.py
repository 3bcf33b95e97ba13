"""gan_jax.metrics.equivariance: the shifts EQ-T and the rotations EQ-R compare against, as
NVlabs/stylegan3's metrics/equivariance.py computes them (live where STYLEGAN3_SRC names its tree,
else from tests/fixtures/stylegan3_equivariance.npz, which
tests/scripts/make_stylegan3_eq_fixtures.py regenerates), their properties, and EQ-T and EQ-R of
a synthesis that is equivariant by construction."""

import os

import numpy as np
import pytest

from gan_jax.metrics import equivariance as eq
from tests import golden
from tests.scripts import make_stylegan3_eq_fixtures as fixtures

SRC = os.environ.get("STYLEGAN3_SRC")


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


def _reference(name) -> dict[str, np.ndarray]:
  return golden.reference(fixtures, SRC, name)


@pytest.mark.parametrize("name", [c[0] for c in fixtures.SHIFT_CASES])
def test_shifts_match_the_official_metric(name):
  ref = _reference(name)
  x, (tx, ty) = ref["x"], fixtures.CASES[name][1]
  np.testing.assert_array_equal(x, fixtures.case_input(name))
  for key, shift in (("int", eq.translate_integer), ("frac", eq.translate_fractional)):
    z, m = shift(x, tx, ty)
    np.testing.assert_allclose(z, ref[f"{key}/z"], atol=1e-5, err_msg=key)
    np.testing.assert_array_equal(m, ref[f"{key}/m"], err_msg=key)


# Measured against the tree (float32 both sides): filter 3.4e-8 of taps up to 0.06; rotated
# images 1.2e-5 (inputs of unit variance); pseudo-rotations 2.6e-6; masks equal.
@pytest.mark.parametrize("name", [c[0] for c in fixtures.ROTATION_CASES])
def test_rotation_matches_the_official_metric(name):
  ref = _reference(name)
  x, angle = ref["x"], fixtures.CASES[name][1]
  np.testing.assert_array_equal(x, fixtures.case_input(name))
  f = eq.affine_bandlimit_filter(eq.rotation_matrix(angle), a=3, amax=6)
  np.testing.assert_allclose(f, ref["filter"], rtol=0, atol=1e-7)
  for key, op in (("rotate", eq.rotate_fractional), ("pseudo", eq.pseudo_rotate)):
    z, m = op(x, angle)
    np.testing.assert_allclose(z, ref[f"{key}/z"], rtol=0, atol=3e-5, err_msg=key)
    np.testing.assert_array_equal(m, ref[f"{key}/m"], err_msg=key)
    assert np.asarray(m).sum() > 0


def test_a_quarter_turn_is_rot90_and_no_turn_keeps_the_image():
  """Without the tree: rotating by +pi/2 moves pixels as np.rot90 does (counter-clockwise as the
  array is shown), up to the band-limit filter's ripple, which a turn by 0 shows too; the
  pseudo-rotation by 0 is the identity."""
  x = _image(3)[:1, :, :, :1] * 0.5
  still, m0 = (np.asarray(a) for a in eq.rotate_fractional(x, 0.0))
  turned, m = (np.asarray(a) for a in eq.rotate_fractional(x, np.pi / 2))
  np.testing.assert_array_equal(m, m0)
  assert 0 < np.abs((still - x) * m0).max() < 0.01
  quarter = np.rot90(x, 1, axes=(1, 2))
  assert np.abs((turned - quarter) * m).max() < 0.01
  assert np.abs((turned - np.rot90(x, -1, axes=(1, 2))) * m).max() > 0.5
  pseudo, pm = (np.asarray(a) for a in eq.pseudo_rotate(x, 0.0))
  np.testing.assert_allclose(pseudo * pm, x * pm, atol=1e-6)


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


def test_eq_r_of_an_equivariant_synthesis_is_high_and_of_a_fixed_one_low():
  rng = np.random.RandomState(1)
  batches = [rng.uniform(-1, 1, (2, 3, 3)) for _ in range(3)]
  exact = eq.eq_r(_plane_waves, batches)
  frozen = eq.eq_r(lambda ws, t: _plane_waves(ws, np.eye(3)), batches)
  print("EQ-R plane waves", exact, "transform ignored", frozen)
  assert exact > 30 and frozen < 15
