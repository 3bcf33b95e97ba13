"""Sliced Wasserstein distance: small within a distribution, growing as a set moves away."""

import numpy as np
import pytest

from gan_jax.data import shapes
from gan_jax.metrics import swd


@pytest.fixture(scope="module")
def reals():
  images = [shapes.make_example(shapes.TEST_SEED, i)[0] for i in range(128)]
  return np.stack(images)


def test_pyramid_reconstructs_the_image():
  images = np.random.RandomState(0).rand(2, 32, 32, 3).astype(np.float32)
  levels = swd.laplacian_pyramid(images)
  assert [lv.shape[1] for lv in levels] == [32, 16]
  np.testing.assert_allclose(levels[0] + swd._upsample(levels[1]), images, atol=1e-6)


def test_descriptors_are_the_image_patches():
  level = np.arange(1 * 9 * 9 * 2, dtype=np.float32).reshape(1, 9, 9, 2)
  rng = np.random.default_rng(0)
  d = swd.sample_descriptors(level, rng, per_image=3)
  assert d.shape == (3, 7 * 7 * 2)
  rng = np.random.default_rng(0)
  y, x = rng.integers(0, 3, size=(1, 3))[0, 0], rng.integers(0, 3, size=(1, 3))[0, 0]
  np.testing.assert_array_equal(d[0], level[0, y : y + 7, x : x + 7].reshape(-1))


def _swd(a, b):
  return swd.swd(a, b, directions=128, repeats=1)["swd_mean"]


def test_same_distribution_scores_far_below_noise(reals):
  others = np.stack([shapes.make_example(shapes.TRAIN_SEED, i)[0] for i in range(128)])
  noise = np.random.RandomState(0).randint(0, 256, reals.shape, np.uint8)
  to_noise = _swd(reals, noise)
  # Patch positions are drawn afresh per set, so even a set against itself is not exactly 0.
  assert _swd(reals, reals) < 0.1 * to_noise
  assert _swd(reals, others) < 0.1 * to_noise


def test_swd_decreases_as_images_blend_toward_the_reals(reals):
  noise = np.random.RandomState(1).randint(0, 256, reals.shape).astype(np.float32)
  scores = [_swd(reals, (1 - t) * noise + t * reals) for t in (0.0, 0.5, 0.8, 0.95)]
  assert all(a > b for a, b in zip(scores, scores[1:], strict=False)), scores


def test_shape_mismatch_is_an_error(reals):
  with pytest.raises(ValueError, match="differ in shape"):
    swd.swd(reals, reals[:10])
