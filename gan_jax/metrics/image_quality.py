"""PSNR and SSIM against ground truth, in JAX, batched.

SSIM is Wang et al. 2004's: an 11x11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03, the mean
over every position where the window fits inside the image, averaged over colour channels; the same
numbers as scikit-image's `structural_similarity(..., gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=255, channel_axis=-1)` (tests/test_image_quality.py).
"""

import jax
import jax.numpy as jnp
import numpy as np

SIGMA = 1.5
RADIUS = 5  # int(3.5 * sigma + 0.5): the window scikit-image and SciPy truncate at


def psnr(a, b, data_range: float = 255.0) -> jax.Array:
  """Per-image PSNR in dB of [N, H, W, C] image batches (infinite for identical images)."""
  a, b = jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)
  mse = jnp.mean(jnp.square(a - b), axis=(1, 2, 3))
  return 10.0 * jnp.log10(data_range**2 / mse)


def _gaussian_window() -> np.ndarray:
  x = np.arange(-RADIUS, RADIUS + 1, dtype=np.float64)
  w = np.exp(-0.5 * (x / SIGMA) ** 2)
  return (w / w.sum()).astype(np.float32)


def _blur(x: jax.Array) -> jax.Array:
  """Separable Gaussian over H and W of [N, H, W, C], 'valid' positions only."""
  w = jnp.asarray(_gaussian_window())
  c = x.shape[-1]
  dims = ("NHWC", "HWIO", "NHWC")
  rows = jnp.tile(w.reshape(-1, 1, 1, 1), (1, 1, 1, c))
  cols = jnp.tile(w.reshape(1, -1, 1, 1), (1, 1, 1, c))
  x = jax.lax.conv_general_dilated(
    x, rows, (1, 1), "VALID", dimension_numbers=dims, feature_group_count=c, precision="highest"
  )
  return jax.lax.conv_general_dilated(
    x, cols, (1, 1), "VALID", dimension_numbers=dims, feature_group_count=c, precision="highest"
  )


def ssim(a, b, data_range: float = 255.0) -> jax.Array:
  """Per-image SSIM of [N, H, W, C] batches (H, W >= 11), averaged over positions and channels."""
  a, b = jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)
  c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
  mu_a, mu_b = _blur(a), _blur(b)
  var_a = _blur(a * a) - mu_a * mu_a
  var_b = _blur(b * b) - mu_b * mu_b
  cov = _blur(a * b) - mu_a * mu_b
  s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
  return jnp.mean(s, axis=(1, 2, 3))
