"""Translation equivariance of a generator: EQ-T (integer and fractional), as StyleGAN3's
metrics/equivariance.py defines it (NVlabs/stylegan3, commit c233a91; the paper's Section 3 and
Appendix E): for each batch of w, a random shift t (each axis uniform in +-translate_max of the
image, rounded to whole pixels for the integer form) applied two ways: synthesized with the input
transform translated by t, and the untransformed image shifted by t (whole pixels, or the
fractional shift through a Lanczos-3 windowed sinc); the squared differences over the pixels both
define are summed over all samples, and the PSNR of their mean (images in [-1, 1], peak 2) is the
score, in dB. EQ-R (rotation through a band-limited resampling) is not here yet.

Host-side NumPy for the shifts (they are cheap and the shift decides the shapes); the generator
runs jitted, its transform a traced argument.
"""

from collections.abc import Callable

import numpy as np

from gan_jax.nets import filtered_lrelu


def translate_integer(x: np.ndarray, tx: float, ty: float) -> tuple[np.ndarray, np.ndarray]:
  """NHWC x shifted by (tx, ty) image widths, rounded to whole pixels, zeros where nothing moved
  in; and the mask of the pixels that are defined."""
  _, h, w, _ = x.shape
  ix, iy = int(np.round(np.float32(tx * w))), int(np.round(np.float32(ty * h)))
  z, m = np.zeros_like(x), np.zeros_like(x)
  if abs(ix) < w and abs(iy) < h:
    dst = np.s_[:, max(iy, 0) : h + min(iy, 0), max(ix, 0) : w + min(ix, 0)]
    z[dst] = x[:, max(-iy, 0) : h + min(-iy, 0), max(-ix, 0) : w + min(-ix, 0)]
    m[dst] = 1
  return z, m


def _lanczos_taps(frac: float, a: int) -> np.ndarray:
  taps = np.arange(a * 2) - (a - 1) - frac
  f = np.sinc(taps) * np.sinc(taps / a)
  return f / f.sum()


def translate_fractional(x: np.ndarray, tx: float, ty: float, a: int = 3):
  """NHWC x shifted by (tx, ty) image widths through a separable Lanczos-a kernel, and the mask of
  the pixels the kernel saw in full."""
  _, h, w, _ = x.shape
  tx, ty = np.float32(tx * w), np.float32(ty * h)
  ix, iy = int(np.floor(tx)), int(np.floor(ty))
  fx, fy = float(tx - ix), float(ty - iy)
  b = a - 1
  z = np.zeros_like(x)
  zx0, zy0 = max(ix - b, 0), max(iy - b, 0)
  zx1, zy1 = min(ix + a, 0) + w, min(iy + a, 0) + h
  if zx0 < zx1 and zy0 < zy1:
    n = 2 * a  # filter2d's padding (n // 2 + b, (n - 1) // 2 + a) along the filtered axis
    mx = filtered_lrelu.resample_matrix(w, _lanczos_taps(fx, a), 1, 1, n // 2 + b, (n - 1) // 2 + a)
    my = filtered_lrelu.resample_matrix(h, _lanczos_taps(fy, a), 1, 1, n // 2 + b, (n - 1) // 2 + a)
    y = np.einsum("nhwc,vw->nhvc", x.astype(np.float64), mx)
    y = np.einsum("nhwc,uh->nuwc", y, my)
    y = y[
      :, max(b - iy, 0) : h + b + a + min(-iy - a, 0), max(b - ix, 0) : w + b + a + min(-ix - a, 0)
    ]
    z[:, zy0:zy1, zx0:zx1] = y
  m = np.zeros_like(x)
  mx0, my0 = max(ix + a, 0), max(iy + a, 0)
  mx1, my1 = min(ix - b, 0) + w, min(iy - b, 0) + h
  if mx0 < mx1 and my0 < my1:
    m[:, my0:my1, mx0:mx1] = 1
  return z, m


def psnr(squared_error_sum: float, count: float) -> float:
  """PSNR in dB of images in [-1, 1] (peak-to-peak 2) with that mean squared error (inf: none)."""
  if squared_error_sum == 0:
    return float("inf")
  return float(20 * np.log10(2) - 10 * np.log10(squared_error_sum / count))


def eq_t(
  synthesize: Callable[[np.ndarray, np.ndarray], np.ndarray],
  ws_batches,
  seed: int = 0,
  translate_max: float = 0.125,
  fractional: bool = False,
) -> float:
  """EQ-T (or EQ-T frac) in dB.

  synthesize(ws, transform) -> images [N, H, W, C] in [-1, 1]: the generator with the input's
  user transform `transform` (3x3, the inverse of the image's: a translation by t is
  [[1, 0, -tx], [0, 1, -ty], [0, 0, 1]]). ws_batches: an iterable of ws batches.
  """
  rng = np.random.RandomState(seed)
  sums = np.zeros(2)
  for ws in ws_batches:
    orig = np.asarray(synthesize(ws, np.eye(3, dtype=np.float32)), np.float64)
    t = (rng.uniform(size=2) * 2 - 1) * translate_max
    if not fractional:
      t = np.round(t * orig.shape[2]) / orig.shape[2]
    transform = np.eye(3, dtype=np.float32)
    transform[:2, 2] = -t
    img = np.asarray(synthesize(ws, transform), np.float64)
    shift = translate_fractional if fractional else translate_integer
    ref, mask = shift(orig, t[0], t[1])
    sums += [np.sum(np.square(ref - img) * mask), np.sum(mask)]
  return psnr(*sums)
