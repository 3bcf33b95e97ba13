"""StyleGAN2-ADA's augment pipe: the p-gated, differentiable image augmentations of adaptive
discriminator augmentation (Karras et al. 2020, "Training Generative Adversarial Networks with
Limited Data"), in pure JAX.

`augment` computes the function of AugmentPipe in training/augment.py of
NVlabs/stylegan2-ada-pytorch (commit d72cc7d041b42ec8e806021a205ed9349f87c6a4), written anew from
its maths: per sample, each enabled op applies with probability multiplier * p; the geometric ops
compose into one inverse 3x3 matrix that resamples the image once (reflect padding, 2x upsampling
with a Symlet-6 low-pass, bilinear sampling, 2x downsampling); the colour ops compose into one 4x4
matrix on RGB; then image-space filtering, noise and cutout (the reference's 'bgcfnc' ops). The
reference's debug mode (every random draw replaced by a fixed percentile) is `debug_percentile`;
tests/test_augment.py compares outputs and image gradients with the official code in that mode.

`augment` = `apply_transforms(images, sample_transforms(...))`, skipped where p == 0: the two
halves are public for callers that apply one batch's draws to other images too.

Where XLA needs static shapes: the reference pads by a margin computed from the batch's
transforms; here the image is reflect-padded by the largest margin (its size - 1, the reference's
cap) and the pixels beyond the computed margin are zeroed, before and after upsampling, which is
the same function.
"""

import math
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.nets import stylegan_ops as ops

# Low-pass decomposition filters of the Symlet wavelets (PyWavelets' dec_lo). sym6 is the
# reference's geometric anti-aliasing filter: orthogonal to its even shifts, so upsampling with it
# and downsampling with its flip cancel on an untransformed image. sym2 builds the imgfilter bands.
SYM6 = (
  0.015404109327027373,
  0.0034907120842174702,
  -0.11799011114819057,
  -0.048311742585633,
  0.4910559419267466,
  0.787641141030194,
  0.3379294217276218,
  -0.07263752278646252,
  -0.021060292512300564,
  0.04472490177066578,
  0.0017677118642428036,
  -0.007800708325034148,
)
SYM2 = (-0.12940952255092145, 0.22414386804185735, 0.836516303737469, 0.48296291314469025)

# The probability multipliers of the ops, in the order the reference applies them.
GEOMETRIC = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac")
COLOR = ("brightness", "contrast", "lumaflip", "hue", "saturation")
MULTIPLIERS = (*GEOMETRIC, *COLOR, "imgfilter", "noise", "cutout")

# The ops' strengths: the reference AugmentPipe's defaults (train.py never changes them).
STRENGTHS = {
  "xint_max": 0.125,  # integer translation range, a fraction of the image size
  "scale_std": 0.2,  # log2 std of isotropic scaling
  "rotate_max": 1.0,  # rotation range, 1 = [-pi, pi]
  "aniso_std": 0.2,  # log2 std of anisotropic scaling
  "xfrac_std": 0.125,  # std of fractional translation, a fraction of the image size
  "brightness_std": 0.2,  # std of the added brightness
  "contrast_std": 0.5,  # log2 std of contrast
  "hue_max": 1.0,  # hue rotation range, 1 = [-pi, pi]
  "saturation_std": 1.0,  # log2 std of saturation
  "imgfilter_bands": (1.0, 1.0, 1.0, 1.0),  # multipliers of the four frequency bands
  "imgfilter_std": 1.0,  # log2 std of a band's amplification
  "noise_std": 0.1,  # std of the per-sample noise level
  "cutout_size": 0.5,  # cutout square side, a fraction of the image size
}

_BLIT = {"xflip": 1.0, "rotate90": 1.0, "xint": 1.0}
_GEOM = {"scale": 1.0, "rotate": 1.0, "aniso": 1.0, "xfrac": 1.0}
_COLOR = {name: 1.0 for name in COLOR}
# The reference's --augpipe choices (train.py, augpipe_specs); bgc is its default.
PIPES = {
  "blit": _BLIT,
  "geom": _GEOM,
  "color": _COLOR,
  "filter": {"imgfilter": 1.0},
  "noise": {"noise": 1.0},
  "cutout": {"cutout": 1.0},
  "bg": {**_BLIT, **_GEOM},
  "bgc": {**_BLIT, **_GEOM, **_COLOR},
  "bgcf": {**_BLIT, **_GEOM, **_COLOR, "imgfilter": 1.0},
  "bgcfn": {**_BLIT, **_GEOM, **_COLOR, "imgfilter": 1.0, "noise": 1.0},
  "bgcfnc": {**_BLIT, **_GEOM, **_COLOR, "imgfilter": 1.0, "noise": 1.0, "cutout": 1.0},
}
BGC = PIPES["bgc"]

_HIGHEST = jax.lax.Precision.HIGHEST  # TPUs would multiply float32 matrices in bfloat16


def _mm(a, b):
  return jnp.matmul(a, b, precision=_HIGHEST)


# ------------------------------------------------------------------------------------------------
# Per-sample parameters.


class _Draws:
  """Each op's per-sample parameter: drawn, and kept with probability `prob` (else the identity
  value), or, in debug mode, the reference's value at the debug percentile for every sample.

  The numbers come from one block of uniforms and one of normals per sample, handed out in turn:
  a generator per draw would make the program several times slower to compile."""

  _BLOCK = 32  # numbers per sample in each block: more than the ops of every pipe take

  def __init__(self, rng, batch: int, debug_percentile):
    self.rng, self.batch = rng, batch
    self.debug = None if debug_percentile is None else jnp.asarray(debug_percentile, jnp.float32)
    self.blocks, self.used = {}, {}

  def _take(self, kind, shape):
    if kind not in self.blocks:
      key = jax.random.fold_in(self.rng, len(self.blocks))
      draw = jax.random.uniform if kind == "uniform" else jax.random.normal
      self.blocks[kind], self.used[kind] = draw(key, (self.batch, self._BLOCK)), 0
    start, size = self.used[kind], math.prod(shape)
    if start + size > self._BLOCK:
      raise AssertionError(f"_Draws._BLOCK is too small for the {kind} draws of this pipe")
    self.used[kind] = start + size
    return self.blocks[kind][:, start : start + size].reshape(self.batch, *shape)

  def _uniform(self, shape=()):
    return self._take("uniform", shape)

  def _normal(self, shape=()):
    return self._take("normal", shape)

  def _gate(self, value, prob, identity):
    keep = self._uniform() < prob
    return jnp.where(keep.reshape((-1,) + (1,) * (value.ndim - 1)), value, identity)

  def _full(self, value, shape):
    return jnp.broadcast_to(value, (self.batch, *shape)).astype(jnp.float32)

  def choice(self, n: int, prob):
    """An integer in [0, n) (as a float), 0 if not kept."""
    if self.debug is not None:
      return self._full(jnp.floor(self.debug * n), ())
    return self._gate(jnp.floor(self._uniform() * n), prob, 0.0)

  def symmetric(self, bound: float, prob, shape=()):
    """Uniform in [-bound, bound], 0 if not kept."""
    if self.debug is not None:
      return self._full((self.debug * 2 - 1) * bound, shape)
    return self._gate((self._uniform(shape) * 2 - 1) * bound, prob, 0.0)

  def normal(self, std: float, prob, shape=()):
    """N(0, std^2), 0 if not kept."""
    if self.debug is not None:
      return self._full(jax.scipy.special.erfinv(self.debug * 2 - 1) * std, shape)
    return self._gate(self._normal(shape) * std, prob, 0.0)

  def log_normal(self, std: float, prob):
    """2 ** N(0, std^2), 1 if not kept."""
    if self.debug is not None:
      return self._full(jnp.exp2(jax.scipy.special.erfinv(self.debug * 2 - 1) * std), ())
    return self._gate(jnp.exp2(self._normal() * std), prob, 1.0)

  def half_normal(self, std: float, prob):
    """|N(0, std^2)|, 0 if not kept."""
    if self.debug is not None:
      return self._full(jax.scipy.special.erfinv(self.debug) * std, ())
    return self._gate(jnp.abs(self._normal()) * std, prob, 0.0)

  def constant(self, value: float, prob):
    """`value`, 0 if not kept."""
    if self.debug is not None:
      return self._full(value, ())
    return self._gate(self._full(value, ()), prob, 0.0)

  def position(self, shape=()):
    """Uniform in [0, 1), never gated."""
    return self._uniform(shape) if self.debug is None else self._full(self.debug, shape)

  def field(self, shape):
    """N(0, 1) numbers of any shape (random in debug mode too)."""
    return jax.random.normal(jax.random.fold_in(self.rng, 2), shape)  # blocks: 0 and 1


def _matrices(*rows):
  """A [N, rows, cols] batch of matrices from rows of [N] arrays and numbers."""
  n = max(jnp.shape(e)[0] for row in rows for e in row if jnp.ndim(e))
  full = lambda e: jnp.broadcast_to(jnp.asarray(e, jnp.float32), (n,))
  return jnp.stack([jnp.stack([full(e) for e in row], axis=-1) for row in rows], axis=-2)


def _translate2d(tx, ty):
  return _matrices([1, 0, tx], [0, 1, ty], [0, 0, 1])


def _scale2d(sx, sy):
  return _matrices([sx, 0, 0], [0, sy, 0], [0, 0, 1])


def _rotate2d(theta):
  c, s = jnp.cos(theta), jnp.sin(theta)
  return _matrices([c, -s, 0], [s, c, 0], [0, 0, 1])


# ------------------------------------------------------------------------------------------------
# Geometric ops.


def _geometric_inverse(draws: _Draws, mult, strength, p, height: int, width: int):
  """[N, 3, 3]: output pixel -> input pixel, in pixel units centred on the image. Each op
  right-multiplies its inverse, so the ops apply to the image in the order listed."""
  g = jnp.broadcast_to(jnp.eye(3, dtype=jnp.float32), (draws.batch, 3, 3))
  if mult["xflip"]:
    i = draws.choice(2, mult["xflip"] * p)
    g = _mm(g, _scale2d(1 - 2 * i, 1))  # its own inverse
  if mult["rotate90"]:
    i = draws.choice(4, mult["rotate90"] * p)
    g = _mm(g, _rotate2d(math.pi / 2 * i))  # the inverse of rotating by -i quarter turns
  if mult["xint"]:
    t = draws.symmetric(strength["xint_max"], mult["xint"] * p, (2,))
    g = _mm(g, _translate2d(-jnp.round(t[:, 0] * width), -jnp.round(t[:, 1] * height)))
  if mult["scale"]:
    s = draws.log_normal(strength["scale_std"], mult["scale"] * p)
    g = _mm(g, _scale2d(1 / s, 1 / s))
  # Rotation is drawn twice (before and after the anisotropic scaling), each with probability
  # p_rot, so that a sample is rotated at all with probability rotate * p.
  p_rot = 1 - jnp.sqrt(jnp.clip(1 - mult["rotate"] * p, 0, 1))
  rotate_max = math.pi * strength["rotate_max"]
  if mult["rotate"]:
    g = _mm(g, _rotate2d(draws.symmetric(rotate_max, p_rot)))
  if mult["aniso"]:
    s = draws.log_normal(strength["aniso_std"], mult["aniso"] * p)
    g = _mm(g, _scale2d(1 / s, s))
  if mult["rotate"]:
    theta = draws.symmetric(rotate_max, p_rot)
    if draws.debug is not None:  # the reference's debug mode rotates once
      theta = jnp.zeros_like(theta)
    g = _mm(g, _rotate2d(theta))
  if mult["xfrac"]:
    t = draws.normal(strength["xfrac_std"], mult["xfrac"] * p, (2,))
    g = _mm(g, _translate2d(-t[:, 0] * width, -t[:, 1] * height))
  return g


def _bilinear(images, ix, iy, x_window, y_window):
  """Bilinear samples of NHWC images at pixel coordinates ix, iy [N, Ho, Wo] (pixel centres at
  integers), the pixels outside [x0, x1) x [y0, y1) of the windows taken as zeros: grid_sample's
  bilinear mode with zeros padding and align_corners=False. Gathers, so differentiable to any
  order with respect to the images."""
  n, h, w, c = images.shape
  x0, y0 = jnp.floor(ix), jnp.floor(iy)
  fx, fy = ix - x0, iy - y0
  x0, y0 = x0.astype(jnp.int32), y0.astype(jnp.int32)
  flat = images.reshape(n, h * w, c)
  out = jnp.zeros((n, ix.shape[1] * ix.shape[2], c), images.dtype)
  for dy, wy in ((0, 1 - fy), (1, fy)):
    for dx, wx in ((0, 1 - fx), (1, fx)):
      x, y = x0 + dx, y0 + dy
      inside = (x >= x_window[0]) & (x < x_window[1]) & (y >= y_window[0]) & (y < y_window[1])
      index = (jnp.clip(y, 0, h - 1) * w + jnp.clip(x, 0, w - 1)).reshape(n, -1)
      values = jax.vmap(lambda im, i: im[i])(flat, index)
      out = out + values * jnp.where(inside, wx * wy, 0).reshape(n, -1, 1)
  return out.reshape(n, *ix.shape[1:], c)


def _geometric(images, g_inv):
  """Resamples each NHWC image through its g_inv [N, 3, 3] (output -> input pixel, centred)."""
  n, h, w, _ = images.shape
  f = ops.setup_filter(SYM6)
  pad = f.shape[0] // 4  # the output's border while resampling, in pixels

  # The margin (x0, y0, x1, y1) the reference reflect-pads by: how far the batch's transformed
  # corners reach beyond the image, plus twice the border, clipped to [0, size - 1].
  cx, cy = (w - 1) / 2, (h - 1) / 2
  corners = jnp.array([[-cx, cx, cx, -cx], [-cy, -cy, cy, cy], [1, 1, 1, 1]], jnp.float32)
  reach = _mm(g_inv, corners)  # [N, 3, 4]
  xs, ys = reach[:, 0].ravel(), reach[:, 1].ravel()
  margin = jnp.stack([jnp.max(-xs), jnp.max(-ys), jnp.max(xs), jnp.max(ys)])
  margin = margin + jnp.array([2 * pad - cx, 2 * pad - cy] * 2, jnp.float32)
  margin = jnp.clip(margin, 0, jnp.array([w - 1, h - 1] * 2, jnp.float32))
  mx0, my0, mx1, my1 = jnp.ceil(margin).astype(jnp.int32)

  # Reflect-pad by the largest margin, zero what lies beyond the reference's.
  canvas = jnp.pad(images, ((0, 0), (h - 1, h - 1), (w - 1, w - 1), (0, 0)), mode="reflect")
  rows, cols = jnp.arange(3 * h - 2), jnp.arange(3 * w - 2)
  keep_rows = (rows >= h - 1 - my0) & (rows < 2 * h - 1 + my1)
  keep_cols = (cols >= w - 1 - mx0) & (cols < 2 * w - 1 + mx1)
  canvas = jnp.where((keep_rows[:, None] & keep_cols[None, :])[None, :, :, None], canvas, 0)
  canvas = ops.upsample2d(canvas, f, up=2)

  # Output pixel (i, j) of the 2x grid of the image plus its border sits at q (original pixels,
  # centred); g_inv takes it to r, which is pixel 2 r + (canvas size - 1) of the 2x canvas.
  oh, ow = 2 * (h + 2 * pad), 2 * (w + 2 * pad)
  qy, qx = jnp.meshgrid(
    (jnp.arange(oh, dtype=jnp.float32) + 1 - oh / 2) / 2,
    (jnp.arange(ow, dtype=jnp.float32) + 1 - ow / 2) / 2,
    indexing="ij",
  )
  q = jnp.stack([qx.ravel(), qy.ravel(), jnp.ones(oh * ow, jnp.float32)])  # [3, Ho * Wo]
  r = _mm(g_inv[:, :2], q).reshape(n, 2, oh, ow)
  ix, iy = 2 * r[:, 0] + (3 * w - 3), 2 * r[:, 1] + (3 * h - 3)
  x_window = (2 * (w - 1 - mx0), 2 * (2 * w - 1 + mx1))
  y_window = (2 * (h - 1 - my0), 2 * (2 * h - 1 + my1))
  images = _bilinear(canvas, ix, iy, x_window, y_window)
  return ops.downsample2d(images, f, down=2, padding=-2 * pad, flip_filter=True)


# ------------------------------------------------------------------------------------------------
# Colour ops.

# The luma axis of RGB (homogeneous): hue rotates about it, luma flip mirrors along it, saturation
# scales away from it.
_LUMA = np.array([1, 1, 1, 0], np.float32) / np.float32(math.sqrt(3))


def _color_matrix(draws: _Draws, mult, strength, p, channels: int):
  """[N, 4, 4]: homogeneous RGB in -> RGB out. Each op left-multiplies, in the order listed."""
  eye = jnp.eye(4, dtype=jnp.float32)
  vv = jnp.asarray(np.outer(_LUMA, _LUMA))
  m = jnp.broadcast_to(eye, (draws.batch, 4, 4))
  if mult["brightness"]:
    b = draws.normal(strength["brightness_std"], mult["brightness"] * p)
    m = _mm(_matrices([1, 0, 0, b], [0, 1, 0, b], [0, 0, 1, b], [0, 0, 0, 1]), m)
  if mult["contrast"]:
    c = draws.log_normal(strength["contrast_std"], mult["contrast"] * p)
    m = _mm(_matrices([c, 0, 0, 0], [0, c, 0, 0], [0, 0, c, 0], [0, 0, 0, 1]), m)
  if mult["lumaflip"]:
    i = draws.choice(2, mult["lumaflip"] * p)
    m = _mm(eye - 2 * vv * i[:, None, None], m)  # Householder reflection
  if mult["hue"] and channels > 1:
    theta = draws.symmetric(math.pi * strength["hue_max"], mult["hue"] * p)
    cos, sin = jnp.cos(theta)[:, None, None], jnp.sin(theta)[:, None, None]
    vx, vy, vz = (float(v) for v in _LUMA[:3])
    cross = np.array([[0, -vz, vy, 0], [vz, 0, -vx, 0], [-vy, vx, 0, 0], [0, 0, 0, 0]], np.float32)
    rot3 = np.diag(np.float32([1, 1, 1, 0]))
    # Rodrigues: cos I + sin [v]x + (1 - cos) v v^T on RGB, 1 on the homogeneous coordinate.
    rotation = cos * rot3 + sin * cross + (1 - cos) * vv + np.diag(np.float32([0, 0, 0, 1]))
    m = _mm(rotation, m)
  if mult["saturation"] and channels > 1:
    s = draws.log_normal(strength["saturation_std"], mult["saturation"] * p)
    m = _mm(vv + (eye - vv) * s[:, None, None], m)
  return m


def _apply_color(images, m):
  """RGB: m's affine 3x4 part on each pixel. One channel: the mean of m's RGB rows, as the
  reference treats greyscale (gain = that row's RGB sum, offset = its last entry)."""
  if images.shape[-1] == 3:
    rgb = jnp.einsum("nij,nhwj->nhwi", m[:, :3, :3], images, precision=_HIGHEST)
    return rgb + m[:, None, None, :3, 3]
  grey = jnp.mean(m[:, :3], axis=1)  # [N, 4]
  gain, offset = jnp.sum(grey[:, :3], axis=1), grey[:, 3]
  return images * gain[:, None, None, None] + offset[:, None, None, None]


# ------------------------------------------------------------------------------------------------
# Image-space filtering and corruptions.


def _band_filters() -> np.ndarray:
  """[4, 43] float32: the imgfilter bands (lowest first), symmetric FIR filters that sum to the
  identity. Band b > 0 is the sym2 high-pass (autocorrelated) at scale 2^(b - 1), band 0 what
  the low-pass cascade keeps."""
  lo = np.asarray(SYM2)
  hi = lo * (-1.0) ** np.arange(lo.size)  # H(-z), the matching high-pass
  lo2, hi2 = np.convolve(lo, lo[::-1]) / 2, np.convolve(hi, hi[::-1]) / 2
  bank = np.eye(4, 1)
  for band in range(1, 4):
    up = np.zeros((4, 2 * bank.shape[1] - 1))
    up[:, ::2] = bank  # every band an octave coarser
    bank = np.stack([np.convolve(row, lo2) for row in up])
    start = (bank.shape[1] - hi2.size) // 2
    bank[band, start : start + hi2.size] += hi2
  return bank.astype(np.float32)


def _filter_taps(draws: _Draws, mult, strength, p):
  """[N, taps]: each sample's filter, the bands amplified by their own log-normal gains,
  normalised to keep the power of a 1/f spectrum."""
  bank = _band_filters()
  bands = tuple(strength["imgfilter_bands"])
  if len(bands) != bank.shape[0]:
    raise ValueError(f"imgfilter_bands needs {bank.shape[0]} multipliers, got {bands}")
  power = np.array([10, 1, 1, 1], np.float32) / 13  # the bands' expected share of the power
  gains = jnp.ones((draws.batch, bank.shape[0]), jnp.float32)
  for band, band_mult in enumerate(bands):
    t = draws.log_normal(strength["imgfilter_std"], mult["imgfilter"] * p * band_mult)
    if draws.debug is not None and not band_mult:
      t = jnp.ones_like(t)
    t = jnp.ones_like(gains).at[:, band].set(t)
    gains = gains * t / jnp.sqrt(jnp.sum(power * t * t, axis=-1, keepdims=True))
  return _mm(gains, jnp.asarray(bank))


def _filter(images, taps):
  """Each sample's separable filter on its channels, along x then y (reflect-padded): two grouped
  convs with the batch folded into the channels."""
  n, h, w, c = images.shape
  pad = taps.shape[1] // 2
  x = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
  x = x.transpose(1, 2, 0, 3).reshape(1, h + 2 * pad, w + 2 * pad, n * c)
  taps = jnp.repeat(taps, c, axis=0).T  # [taps, N * C], sample-major as the channels
  for kernel in (taps[None, :, None, :], taps[:, None, None, :]):
    x = jax.lax.conv_general_dilated(
      x,
      kernel,
      window_strides=(1, 1),
      padding="VALID",
      dimension_numbers=("NHWC", "HWIO", "NHWC"),
      feature_group_count=n * c,
      precision=_HIGHEST,
    )
  return x.reshape(h, w, n, c).transpose(2, 0, 1, 3)


def _noise(draws: _Draws, mult, strength, p, shape):
  """[N, H, W, C] Gaussian noise, its std per sample |N(0, noise_std^2)|; random in debug mode
  too, as the reference's."""
  sigma = draws.half_normal(strength["noise_std"], mult["noise"] * p)
  return draws.field(shape) * sigma[:, None, None, None]


def _cutout(draws: _Draws, mult, strength, p, height: int, width: int):
  """[N, H, W, 1]: 0 in a square of side cutout_size (a fraction of each side) at a uniform
  centre, 1 elsewhere."""
  size = draws.constant(strength["cutout_size"], mult["cutout"] * p)[:, None] / 2
  center = draws.position((2,))
  x = (jnp.arange(width, dtype=jnp.float32) + 0.5) / width
  y = (jnp.arange(height, dtype=jnp.float32) + 0.5) / height
  keep_x = jnp.abs(x[None, :] - center[:, :1]) >= size  # [N, W]
  keep_y = jnp.abs(y[None, :] - center[:, 1:]) >= size  # [N, H]
  return (keep_y[:, :, None] | keep_x[:, None, :])[..., None].astype(jnp.float32)


# ------------------------------------------------------------------------------------------------
# The pipe.


def _config(pipe, kwargs) -> tuple[dict[str, float], dict]:
  """The multipliers and strengths of a call, checked."""
  unknown = sorted(set(kwargs) - set(MULTIPLIERS) - set(STRENGTHS))
  if unknown:
    raise ValueError(
      f"unknown augment arguments {unknown}; multipliers: {', '.join(MULTIPLIERS)}; "
      f"strengths: {', '.join(STRENGTHS)}"
    )
  given = {k: v for k, v in kwargs.items() if k in MULTIPLIERS}
  if pipe is None:
    pipe = {} if given else BGC
  elif isinstance(pipe, str):
    if pipe not in PIPES:
      raise ValueError(f"Unrecognized augment pipe: {pipe!r}; choices: {', '.join(PIPES)}")
    pipe = PIPES[pipe]
  unknown = sorted(set(pipe) - set(MULTIPLIERS))
  if unknown:
    raise ValueError(f"unknown augment ops {unknown}; choices: {', '.join(MULTIPLIERS)}")
  mult = {k: float(given.get(k, pipe.get(k, 0.0))) for k in MULTIPLIERS}
  negative = [k for k, v in mult.items() if v < 0]
  if negative:
    raise ValueError(f"augment multipliers must be >= 0: {negative}")
  return mult, {**STRENGTHS, **{k: v for k, v in kwargs.items() if k in STRENGTHS}}


def _check_shape(shape, mult):
  if len(shape) != 4:
    raise ValueError(f"images must be [N, H, W, C], got shape {tuple(shape)}")
  _, h, w, c = shape
  if c not in (1, 3) and any(mult[k] for k in COLOR):
    raise ValueError(f"the colour ops need RGB or 1-channel images, got {c} channels")
  pad = _band_filters().shape[1] // 2
  if mult["imgfilter"] and min(h, w) <= pad:
    raise ValueError(f"imgfilter reflect-pads by {pad}: images must exceed that, got {h}x{w}")


def sample_transforms(
  rng,
  p,
  shape,
  *,
  pipe: str | Mapping[str, float] | None = None,
  debug_percentile=None,
  **kwargs,
) -> dict[str, jax.Array]:
  """Draws what `augment` does to each image of a batch of `shape` ([N, H, W, C]); arguments as
  `augment`'s. Returns the enabled stages' transforms, applied by `apply_transforms`:
  geometric [N, 3, 3] (output pixel -> input pixel, pixel units centred on the image), color
  [N, 4, 4] (homogeneous RGB in -> out), imgfilter [N, taps] (separable filters), noise
  [N, H, W, C] (added), cutout [N, H, W, 1] (multiplied)."""
  mult, strength = _config(pipe, kwargs)
  _check_shape(shape, mult)
  n, h, w, c = shape
  p = jnp.asarray(p, jnp.float32)
  draws = _Draws(rng, n, debug_percentile)
  transforms = {}
  if any(mult[k] for k in GEOMETRIC):
    transforms["geometric"] = _geometric_inverse(draws, mult, strength, p, h, w)
  if any(mult[k] for k in COLOR):
    transforms["color"] = _color_matrix(draws, mult, strength, p, c)
  if mult["imgfilter"]:
    transforms["imgfilter"] = _filter_taps(draws, mult, strength, p)
  if mult["noise"]:
    transforms["noise"] = _noise(draws, mult, strength, p, shape)
  if mult["cutout"]:
    transforms["cutout"] = _cutout(draws, mult, strength, p, h, w)
  return transforms


def apply_transforms(images, transforms: Mapping[str, jax.Array]):
  """`images` (NHWC float32) through `sample_transforms`' output, stage by stage in the
  reference's order. Linear in the images, so differentiable to any order."""
  x = images
  if "geometric" in transforms:
    x = _geometric(x, transforms["geometric"])
  if "color" in transforms:
    x = _apply_color(x, transforms["color"])
  if "imgfilter" in transforms:
    x = _filter(x, transforms["imgfilter"])
  if "noise" in transforms:
    x = x + transforms["noise"]
  if "cutout" in transforms:
    x = x * transforms["cutout"]
  return x


def augment(
  images,
  p,
  rng,
  *,
  pipe: str | Mapping[str, float] | None = None,
  debug_percentile=None,
  **kwargs,
):
  """StyleGAN2-ADA's augment pipe: each enabled op applies to each sample with probability
  multiplier * p, its parameters drawn per sample. Differentiable (to any order) with respect to
  the images, as D's loss on fakes and R1 on reals need.

  Args:
    images: [N, H, W, C] floats in [-1, 1]. With colour ops, C is 3 (RGB) or 1 (grey: hue and
      saturation are skipped, the rest acts through the mean of the RGB rows, as the reference).
    p: the augment probability, a scalar; traced (ADA moves it) without retracing.
    rng: a PRNG key the per-sample draws come from.
    pipe: the ops' multipliers (names of MULTIPLIERS; missing ones are 0), or a name of PIPES.
      Multipliers passed as keywords override it; with neither, BGC.
    debug_percentile: None, or a float in [0, 1] (may be traced): every enabled op applies to
      every sample with its parameter at this percentile, p ignored; the reference's debug mode
      (its noise stays random).
    **kwargs: multipliers (MULTIPLIERS) and strengths (STRENGTHS, whose defaults the reference's).

  Returns:
    The augmented images, with the shape and dtype of `images`; `images` itself where p == 0
    (and no debug_percentile).
  """
  mult, _ = _config(pipe, kwargs)
  _check_shape(jnp.shape(images), mult)
  if not any(mult.values()):
    return images

  def run(x):
    kw = dict(pipe=pipe, debug_percentile=debug_percentile, **kwargs)
    return apply_transforms(x, sample_transforms(rng, p, x.shape, **kw))

  x = images.astype(jnp.float32)
  if debug_percentile is not None:
    return run(x).astype(images.dtype)
  # p == 0 skips the work and keeps the images bit for bit (the reference still resamples them
  # through an identity transform, which rounds).
  p = jnp.asarray(p, jnp.float32)
  return jax.lax.cond(p > 0, run, lambda x: x, x).astype(images.dtype)
