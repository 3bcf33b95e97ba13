"""PSNR and SSIM agree with scikit-image on the same images."""

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from gan_jax.metrics import image_quality


@pytest.fixture(scope="module")
def pairs():
  rng = np.random.RandomState(0)
  a = rng.randint(0, 256, (3, 40, 33, 3)).astype(np.uint8)
  noise = rng.normal(0, [[[[5.0]]], [[[20.0]]], [[[60.0]]]], a.shape)
  b = np.clip(a + noise, 0, 255).astype(np.uint8)
  b[0, :10] = 0  # structure too, not only noise
  return a, b


def test_psnr_matches_scikit_image(pairs):
  a, b = pairs
  ours = np.asarray(image_quality.psnr(a, b))
  ref = [peak_signal_noise_ratio(x, y, data_range=255) for x, y in zip(a, b, strict=True)]
  np.testing.assert_allclose(ours, ref, rtol=1e-5)
  assert ours[1] > ours[2]  # more noise, lower PSNR


def test_ssim_matches_scikit_image(pairs):
  a, b = pairs
  ours = np.asarray(image_quality.ssim(a, b))
  ref = [
    structural_similarity(
      x,
      y,
      gaussian_weights=True,
      sigma=1.5,
      use_sample_covariance=False,
      data_range=255,
      channel_axis=-1,
    )
    for x, y in zip(a, b, strict=True)
  ]
  np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_identical_images():
  a = np.random.RandomState(1).randint(0, 256, (1, 16, 16, 3)).astype(np.uint8)
  assert np.isinf(np.asarray(image_quality.psnr(a, a))[0])
  np.testing.assert_allclose(np.asarray(image_quality.ssim(a, a)), [1.0], atol=1e-6)
