"""StyleGAN3's filtered leaky ReLU and the low-pass filters it runs with, in XLA (NHWC).

`filtered_lrelu` computes the function of the pure-PyTorch reference path (`_filtered_lrelu_ref`)
of torch_utils/ops/filtered_lrelu.py in NVlabs/stylegan3 (commit c233a91): bias, upsampling through
an FIR filter (gain up^2), leaky ReLU with gain and clamp, FIR filtering and downsampling, on the
`upfirdn2d` and `bias_act` of `stylegan_ops` (their forms: shifted slices, which XLA fuses).

`design_lowpass_filter` gives the filters of the reference's SynthesisLayer.design_lowpass_filter:
a Kaiser-windowed sinc with the semantics of `scipy.signal.firwin(numtaps, cutoff, width=width,
fs=fs)` (Kaiser's empirical attenuation and beta formulas, unit DC gain), or the radially symmetric
2-D form (a jinc times the outer product of the same Kaiser window, unit sum). Written from those
published formulas in NumPy (float64, like SciPy), so gan_jax needs no SciPy at run time.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.nets import stylegan_ops as ops

_DIMS = ("NHWC", "HWIO", "NHWC")


def kaiser_atten(numtaps: int, width: float) -> float:
  """Kaiser's estimate of the stopband attenuation (dB) of a `numtaps`-tap filter whose transition
  band is `width` wide, as a fraction of the Nyquist rate."""
  return 2.285 * (numtaps - 1) * math.pi * width + 7.95


def kaiser_beta(atten: float) -> float:
  """Kaiser's window parameter for a stopband attenuation of `atten` dB."""
  if atten > 50:
    return 0.1102 * (atten - 8.7)
  if atten > 21:
    return 0.5842 * (atten - 21) ** 0.4 + 0.07886 * (atten - 21)
  return 0.0


def bessel_j1(x) -> np.ndarray:
  """The Bessel function of the first kind of order 1, from its integral form
  J1(x) = (1 / pi) int_0^pi cos(t - x sin t) dt; the integrand is smooth and periodic, so the
  midpoint rule converges geometrically (1e-15 for |x| < 100 with 512 points)."""
  x = np.asarray(x, np.float64)
  t = (np.arange(512) + 0.5) * (math.pi / 512)
  return np.mean(np.cos(t - x[..., None] * np.sin(t)), axis=-1)


def design_lowpass_filter(
  numtaps: int, cutoff: float, width: float, fs: float, radial: bool = False
) -> np.ndarray | None:
  """A low-pass FIR filter as float32 (None for one tap: the identity).

  Separable (1-D, [numtaps]): a sinc at `cutoff` (Hz at sampling rate `fs`) under a Kaiser window
  for a transition band `width` wide, scaled to unit DC gain (firwin's). Radial (2-D, [numtaps,
  numtaps]): J1(2 pi cutoff r) / (pi r) over the taps' radii r (in units of 1 / fs), times the
  outer product of that Kaiser window, scaled to unit sum.
  """
  if numtaps < 1:
    raise ValueError(f"numtaps must be >= 1, got {numtaps}")
  if numtaps == 1:
    return None
  nyquist = fs / 2
  window = np.kaiser(numtaps, kaiser_beta(kaiser_atten(numtaps, width / nyquist)))
  if not radial:
    m = np.arange(numtaps) - (numtaps - 1) / 2
    h = (cutoff / nyquist) * np.sinc((cutoff / nyquist) * m) * window
    return (h / h.sum()).astype(np.float32)
  x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
  r = np.hypot(*np.meshgrid(x, x))
  f = bessel_j1(2 * cutoff * (np.pi * r)) / (np.pi * r)
  f *= np.outer(window, window)
  return (f / np.sum(f)).astype(np.float32)


def _depthwise(x, kernel: np.ndarray, stride_y: int, stride_x: int):
  """Valid correlation of every channel of NHWC x with the 2-D `kernel` [kh, kw], keeping every
  stride-th output from the first: one grouped conv."""
  c = x.shape[-1]
  k = jnp.asarray(np.ascontiguousarray(kernel), x.dtype)
  k = jnp.broadcast_to(k[:, :, None, None], (*kernel.shape, 1, c))
  return jax.lax.conv_general_dilated(
    x, k, (stride_y, stride_x), "VALID", dimension_numbers=_DIMS, feature_group_count=c
  )


def upfirdn2d(x, f, up: int = 1, down: int = 1, padding=(0, 0, 0, 0), gain: float = 1.0):
  """`stylegan_ops.upfirdn2d` (true convolution with f, the reference's default) as grouped
  convs: the zero insertion, a pad (negative: crop), then one conv per axis for a separable
  [taps] filter (stride `down`), one 2-D conv for a [fh, fw] one. Each FIR is then one XLA op,
  where the shifted-slice form is dozens: compiling a 256 px net's 28 FIRs and their gradients
  that way took minutes."""
  px0, px1, py0, py1 = padding
  x = ops._insert_zeros(x, up, up)
  x = jax.lax.pad(x, jnp.zeros((), x.dtype), [(0, 0, 0), (py0, py1, 0), (px0, px1, 0), (0, 0, 0)])
  if f is None:
    x = x * x.dtype.type(gain) if gain != 1 else x
    return x[:, ::down, ::down] if down > 1 else x
  f = np.asarray(f, np.float64)
  if f.ndim == 1:
    f = f[::-1] * np.sqrt(gain)  # true convolution: the conv correlates
    x = _depthwise(x, f[None, :], 1, down)
    return _depthwise(x, f[:, None], down, 1)
  return _depthwise(x, f[::-1, ::-1] * gain, down, down)


def _filter_size(f) -> tuple[int, int]:
  return (1, 1) if f is None else (f.shape[-1], f.shape[0])


def filtered_lrelu(
  x,
  fu=None,
  fd=None,
  b=None,
  up: int = 1,
  down: int = 1,
  padding: ops.PaddingArg = 0,
  gain: float = math.sqrt(2),
  slope: float = 0.2,
  clamp: float | None = None,
  flip_filter: bool = False,
):
  """Per channel of NHWC x: + b, upsample by `up` (zeros inserted), pad by `padding` ((x0, x1, y0,
  y1) on the upsampled grid; negative crops), FIR-filter with fu (gain up^2), leaky ReLU with
  `slope`, times `gain`, clamped to +-clamp, FIR-filter with fd and keep every down-th pixel.

  fu / fd: concrete filters, [taps] (separable) or [fh, fw], or None. Output size along x:
  (W * up + x0 + x1 - (fu_w - 1) - (fd_w - 1) + down - 1) // down, likewise along y.
  Reference: torch_utils/ops/filtered_lrelu.py, filtered_lrelu (its `_filtered_lrelu_ref` path).
  """
  if not (isinstance(up, int) and isinstance(down, int) and up >= 1 and down >= 1):
    raise ValueError(f"up and down must be ints >= 1, got {up!r}, {down!r}")
  if gain <= 0 or slope < 0 or (clamp is not None and clamp < 0):
    raise ValueError(f"need gain > 0, slope >= 0, clamp >= 0; got {gain}, {slope}, {clamp}")
  px0, px1, py0, py1 = ops._padding(padding)
  (fuw, fuh), (fdw, fdh) = _filter_size(fu), _filter_size(fd)
  n, h, w, c = x.shape
  out_w = (w * up + px0 + px1 - (fuw - 1) - (fdw - 1) + down - 1) // down
  out_h = (h * up + py0 + py1 - (fuh - 1) - (fdh - 1) + down - 1) // down
  if out_w < 1 or out_h < 1:
    raise ValueError(f"filtered_lrelu of {x.shape} with padding {padding} leaves no output")
  x = ops.bias_act(x, b)
  if flip_filter:
    fu = None if fu is None else np.flip(fu)
    fd = None if fd is None else np.flip(fd)
  x = upfirdn2d(x, fu, up=up, padding=(px0, px1, py0, py1), gain=up**2)
  x = ops.bias_act(x, act="lrelu", alpha=slope, gain=gain, clamp=clamp)
  x = upfirdn2d(x, fd, down=down)
  assert x.shape == (n, out_h, out_w, c), (x.shape, (n, out_h, out_w, c))
  return x
