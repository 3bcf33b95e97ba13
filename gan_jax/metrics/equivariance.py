"""Equivariance of a generator to translation and rotation: EQ-T (integer and fractional) and EQ-R,
as StyleGAN3's metrics/equivariance.py defines them (NVlabs/stylegan3, commit c233a91; the paper's
Section 3 and Appendix E). For each batch of w:

- EQ-T: a random shift t (each axis uniform in +-translate_max of the image, rounded to whole
  pixels for the integer form) applied two ways: synthesized with the input transform translated
  by t, and the untransformed image shifted by t (whole pixels, or the fractional shift through a
  Lanczos-3 windowed sinc).
- EQ-R: a random angle (uniform in +-rotate_max half turns) applied two ways: synthesized with the
  input transform rotated, then band-limited as the rotation would (the "pseudo-rotation", an
  oriented low-pass filter, no resampling); and the untransformed image rotated through a 4x
  upsampling by an oriented windowed-sinc filter and bilinear resampling. The filter convolves two
  oriented 2-D sincs (the input's band and the output's) and two oriented Lanczos-3 windows.

The squared differences over the pixels both sides define (masks) are summed over all samples, and
the PSNR of their mean (images in [-1, 1], peak 2) is the score, in dB.

Host-side NumPy for the shifts (they are cheap and the shift decides the shapes); the rotation is
jitted JAX, the angle a traced argument (its 4x upsampling by a 47 x 47 filter, too slow for NumPy
at 256 px, runs as the 16 polyphase parts: 1.2 s for 4 x 256 px on 2 contended CPU cores, 17 s as
a conv of the zero-inserted image); the generator runs jitted, its transform a traced argument.
"""

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
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


def rotation_matrix(angle, xp=jnp):
  """The reference's 3x3 rotation by `angle` radians: [[cos, sin, 0], [-sin, cos, 0], [0, 0, 1]]
  (float32; xp: jnp, or np for a host-side user transform)."""
  angle = xp.asarray(angle, xp.float32)
  c, s = xp.cos(angle), xp.sin(angle)
  zero, one = xp.zeros_like(c), xp.ones_like(c)
  return xp.stack([xp.stack([c, s, zero]), xp.stack([-s, c, zero]), xp.stack([zero, zero, one])])


def _lanczos_window(x, a: int):
  x = jnp.abs(x) / a
  return jnp.where(x < 1, jnp.sinc(x), 0.0)


def _circular_convolution(a, b):
  return jnp.real(jnp.fft.ifftn(jnp.fft.fftn(a) * jnp.fft.fftn(b)))


def affine_bandlimit_filter(mat, a=3, amax=16, aflt=64, up=4, cutoff_in=1.0, cutoff_out=1.0):
  """The reference's oriented low-pass filter for the affine `mat` (3x3): [2 amax up - 1]^2 taps
  of (sinc_in * sinc_out) x (lanczos_in * lanczos_out), each pair convolved (circularly, over
  +-aflt input pixels at `up` taps per pixel), where _in is axis-aligned and _out is in the
  coordinates `mat` maps to; then cropped to +-amax pixels and each of the up x up polyphase
  components normalised to sum 1 / up^2 (so an up-fold upsampling by it has unit DC gain)."""
  if not a <= amax < aflt:
    raise ValueError(f"need a <= amax < aflt, got {a}, {amax}, {aflt}")
  mat = jnp.asarray(mat, jnp.float32)
  n = aflt * up
  taps = jnp.roll((jnp.arange(2 * n - 1, dtype=jnp.float32) + 1) / up - aflt, 1 - n)  # FFT order
  yi, xi = jnp.meshgrid(taps, taps, indexing="ij")
  xo = xi * mat[0, 0] + yi * mat[0, 1]
  yo = xi * mat[1, 0] + yi * mat[1, 1]
  f = _circular_convolution(
    jnp.sinc(xi * cutoff_in) * jnp.sinc(yi * cutoff_in),
    jnp.sinc(xo * cutoff_out) * jnp.sinc(yo * cutoff_out),
  )
  window = _circular_convolution(
    _lanczos_window(xi, a) * _lanczos_window(yi, a), _lanczos_window(xo, a) * _lanczos_window(yo, a)
  )
  c = (aflt - amax) * up
  f = jnp.roll(f * window, (n - 1, n - 1), (0, 1))[c:-c, c:-c]  # centred, +-amax pixels
  f = jnp.pad(f, ((0, 1), (0, 1))).reshape(amax * 2, up, amax * 2, up)
  f = f / jnp.sum(f, axis=(0, 2), keepdims=True) / up**2
  return f.reshape(amax * 2 * up, amax * 2 * up)[:-1, :-1]


def _planes(x):
  n, h, w, c = x.shape
  return jnp.moveaxis(x, 3, 1).reshape(n * c, h, w, 1)


def _convolve_2d(x, f, pad: int):
  """NHWC x truly convolved with the 2-D filter f per channel, zero-padded by `pad` at each side;
  float32 at full precision."""
  n, _, _, c = x.shape
  y = jax.lax.conv_general_dilated(
    _planes(x),
    f[::-1, ::-1, None, None].astype(jnp.float32),
    (1, 1),
    [(pad, pad), (pad, pad)],
    dimension_numbers=("NHWC", "HWIO", "NHWC"),
    precision=jax.lax.Precision.HIGHEST,
  )
  return jnp.moveaxis(y.reshape(n, c, *y.shape[1:3]), 1, 3)


def _phase_taps(length: int, up: int, pad0: int):
  """For upfirdn along one axis (up-fold zero insertion, padding pad0 before, true convolution
  with `length` taps): output up * i + r = sum_s x[i - lead + s] fflip[table[r, s]] (fflip the
  reversed filter; table -1: no tap). Returns (table [up, S], lead)."""
  phase = [(pad0 - r) % up for r in range(up)]  # the first tap that meets a sample
  delay = [(r + c - pad0) // up for r, c in enumerate(phase)]
  counts = [-(-(length - c) // up) for c in phase]
  lead = -min(delay)
  offset = [d + lead for d in delay]
  width = max(o + n for o, n in zip(offset, counts, strict=True))
  table = -np.ones((up, width), np.int64)
  for r in range(up):
    table[r, offset[r] : offset[r] + counts[r]] = up * np.arange(counts[r]) + phase[r]
  return table, lead


def _upsample_2d(x, f, up: int, pad0: int, pad1: int):
  """upfirdn2d's upsampling of NHWC x (zero insertion by `up`, padding (pad0, pad1) on both axes,
  true convolution with the 2-D filter f) as its up x up polyphase components: one conv with
  up^2 output channels of about 1/up of f's taps per axis, interleaved (up^2 times fewer
  multiplies than convolving the zero-inserted image)."""
  n, h, w, c = x.shape
  length = f.shape[0]
  table, lead = _phase_taps(length, up, pad0)
  width = table.shape[1]
  rows = table[:, None, :, None]  # [r1, 1, s1, 1] -> taps along y
  cols = table[None, :, None, :]  # [1, r2, 1, s2] -> taps along x
  valid = (rows >= 0) & (cols >= 0)
  flipped = f[::-1, ::-1].astype(jnp.float32)
  kernel = jnp.where(valid, flipped[np.maximum(rows, 0), np.maximum(cols, 0)], 0.0)
  kernel = kernel.reshape(up * up, width, width).transpose(1, 2, 0)[:, :, None, :]
  out_h, out_w = up * h + pad0 + pad1 - length + 1, up * w + pad0 + pad1 - length + 1
  rows_out, cols_out = -(-out_h // up), -(-out_w // up)
  y = jax.lax.conv_general_dilated(
    _planes(x),
    kernel,
    (1, 1),
    [(lead, rows_out + width - 1 - h - lead), (lead, cols_out + width - 1 - w - lead)],
    dimension_numbers=("NHWC", "HWIO", "NHWC"),
    precision=jax.lax.Precision.HIGHEST,
  )  # [n c, rows_out, cols_out, r1 up + r2]
  y = y.reshape(n * c, rows_out, cols_out, up, up).transpose(0, 1, 3, 2, 4)
  y = y.reshape(n, c, rows_out * up, cols_out * up)[:, :, :out_h, :out_w]
  return jnp.moveaxis(y, 1, 3)


def _grid_sample(planes, gx, gy, nearest: bool):
  """torch's grid_sample (align_corners=False, zero padding) of [B, H, W] planes at the
  normalised coordinates gx, gy [h, w] (shared by all planes): bilinear or nearest (ties to
  even)."""
  _, h, w = planes.shape
  ix, iy = ((gx + 1) * w - 1) / 2, ((gy + 1) * h - 1) / 2

  def tap(x, y):
    inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
    value = planes[:, jnp.clip(y, 0, h - 1), jnp.clip(x, 0, w - 1)]
    return jnp.where(inside, value, 0.0)

  if nearest:
    return tap(jnp.round(ix).astype(jnp.int32), jnp.round(iy).astype(jnp.int32))
  x0, y0 = jnp.floor(ix), jnp.floor(iy)
  fx, fy = ix - x0, iy - y0
  x0, y0 = x0.astype(jnp.int32), y0.astype(jnp.int32)
  return (
    tap(x0, y0) * ((1 - fx) * (1 - fy))
    + tap(x0 + 1, y0) * (fx * (1 - fy))
    + tap(x0, y0 + 1) * ((1 - fx) * fy)
    + tap(x0 + 1, y0 + 1) * (fx * fy)
  )


@functools.partial(jax.jit, static_argnames=("up", "a", "amax", "aflt"))
def affine_transform(x, mat, up: int = 4, a: int = 3, amax: int = 16, aflt: int = 64):
  """NHWC x through the affine `mat` (3x3, image coordinates in [-1, 1]): upsampled up-fold by
  `affine_bandlimit_filter(mat)`, then resampled bilinearly on the output grid mapped back through
  mat's inverse; and the mask of the output pixels whose source lies where the upsampling saw the
  image in full (the upsampled image less 2 p + 1 pixels at each side, p the filter's half-width;
  nearest sampling)."""
  n, h, w, c = x.shape
  mat = jnp.asarray(mat, jnp.float32)
  f = affine_bandlimit_filter(mat, a, amax, aflt, up)
  p = f.shape[0] // 2
  fw = f.shape[0]
  # upfirdn2d's upsample2d: padding p widened by the filter's reach, gain up^2.
  y = _upsample_2d(x, f * up**2, up, p + (fw + up - 1) // 2, p + (fw - up) // 2)
  theta = jnp.linalg.inv(mat)
  theta = theta.at[:2, 2].multiply(2)
  theta = theta.at[0, 2].add(1 / up / w).at[1, 2].add(1 / up / h)
  theta = theta.at[0].multiply(w / (w + p / up * 2)).at[1].multiply(h / (h + p / up * 2))
  bx = (2 * jnp.arange(w, dtype=jnp.float32) + 1) / w - 1  # affine_grid's pixel centres
  by = (2 * jnp.arange(h, dtype=jnp.float32) + 1) / h - 1
  bx, by = bx[None, :], by[:, None]
  gx = theta[0, 0] * bx + theta[0, 1] * by + theta[0, 2]
  gy = theta[1, 0] * bx + theta[1, 1] * by + theta[1, 2]
  planes = jnp.moveaxis(y, 3, 1).reshape(n * c, *y.shape[1:3])
  z = _grid_sample(planes, gx, gy, nearest=False)
  edge = p * 2 + 1
  full = jnp.zeros(y.shape[1:3]).at[edge:-edge, edge:-edge].set(1.0)
  m = _grid_sample(full[None], gx, gy, nearest=True)[0]
  z = jnp.moveaxis(z.reshape(n, c, h, w), 1, 3)
  return z, jnp.broadcast_to(m[None, :, :, None], x.shape)


def rotate_fractional(x, angle, a: int = 3):
  """NHWC x rotated by `angle` radians through `affine_transform` (Lanczos-a windows, +-2a
  pixels of filter), and its mask: the reference's R_alpha (Appendix E.3)."""
  return affine_transform(x, rotation_matrix(angle), a=a, amax=a * 2)


@functools.partial(jax.jit, static_argnames="a")
def pseudo_rotate(x, angle, a: int = 3):
  """NHWC x filtered as if rotated by `angle` but not moved (the band-limit filter of a rotation
  by -angle at up=1, zero-padded to keep the size), and the mask of the pixels the filter saw in
  full: the reference's R*_alpha (Appendix E.3)."""
  f = affine_bandlimit_filter(rotation_matrix(-angle), a=a, amax=a * 2, up=1)
  p = f.shape[0] // 2
  y = _convolve_2d(x, f, p)
  m = jnp.zeros(x.shape[1:3]).at[p:-p, p:-p].set(1.0)
  return y, jnp.broadcast_to(m[None, :, :, None], x.shape)


@jax.jit
def _rotation_errors(orig, img, angle):
  """Per image: the squared difference of orig rotated by angle and img pseudo-rotated by it,
  summed over the pixels both masks keep, and their count."""
  ref, ref_mask = rotate_fractional(orig, angle)
  pseudo, pseudo_mask = pseudo_rotate(img, angle)
  mask = ref_mask * pseudo_mask
  return jnp.sum(jnp.square(ref - pseudo) * mask, (1, 2, 3)), jnp.sum(mask, (1, 2, 3))


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


def eq_r(
  synthesize: Callable[[np.ndarray, np.ndarray], np.ndarray],
  ws_batches,
  seed: int = 0,
  rotate_max: float = 1.0,
) -> float:
  """EQ-R in dB: rotation by an angle uniform in +-rotate_max x pi per batch (see eq_t for
  `synthesize`; a rotation of the image by alpha is the transform rotation_matrix(-alpha))."""
  rng = np.random.RandomState(seed)
  sums = np.zeros(2)
  for ws in ws_batches:
    orig = np.asarray(synthesize(ws, np.eye(3, dtype=np.float32)), np.float32)
    angle = np.float32((rng.uniform() * 2 - 1) * rotate_max * np.pi)
    img = np.asarray(synthesize(ws, rotation_matrix(-angle, np)), np.float32)
    errors, counts = _rotation_errors(orig, img, angle)
    sums += [np.sum(np.asarray(errors, np.float64)), np.sum(np.asarray(counts, np.float64))]
  return psnr(*sums)
