"""StyleGAN2 ops in XLA: FIR resampling, fused bias + activation, resampling convs, modulated convs.

Pure jax.numpy / jax.lax, jit-able and differentiable. Each function computes the function of the
pure-PyTorch reference path of the op of the same name in NVlabs/stylegan2-ada-pytorch (commit
d72cc7d041b42ec8e806021a205ed9349f87c6a4), written anew from its documented semantics; the
formulations differ where that suits XLA better (see each docstring). tests/test_stylegan_ops.py
compares outputs and gradients with that code (live, or through golden fixtures).

Layouts (gan_jax's, not the reference's):
- activations NHWC: [batch, height, width, channels]; per-channel biases on the last axis;
- conv weights HWIO: [kh, kw, in_channels // groups, out_channels] (from a PyTorch OIHW weight:
  `w.permute(2, 3, 1, 0)`); styles [batch, in_channels];
- FIR filters [fh, fw] (2-D, indexed (y, x)) or [taps] (separable), as `setup_filter` returns them.

Arguments keep the reference's conventions so that ported nets read the same: `up` / `down` are an
int or (x, y); `padding` is an int, (x, y) or (x0, x1, y0, y1), on the upsampled grid.
"""

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.nets import layers

_DIMS = ("NHWC", "HWIO", "NHWC")

Scaling = int | Sequence[int]
PaddingArg = int | Sequence[int]


def _scaling(s: Scaling) -> tuple[int, int]:
  """int or (x, y) -> (sx, sy), each >= 1."""
  sx, sy = (s, s) if isinstance(s, int) else tuple(s)
  if not (isinstance(sx, int) and isinstance(sy, int) and sx >= 1 and sy >= 1):
    raise ValueError(f"scaling factors must be ints >= 1, got {s!r}")
  return sx, sy


def _padding(p: PaddingArg) -> tuple[int, int, int, int]:
  """int, (x, y) or (x0, x1, y0, y1) -> (x0, x1, y0, y1)."""
  if isinstance(p, int):
    return p, p, p, p
  p = tuple(int(v) for v in p)
  if len(p) == 2:
    return p[0], p[0], p[1], p[1]
  if len(p) != 4:
    raise ValueError(f"padding must be an int, (x, y) or (x0, x1, y0, y1), got {p!r}")
  return p


def _filter_size(f) -> tuple[int, int]:
  """(fw, fh) of a 2-D [fh, fw] or separable [taps] filter; (1, 1) for None."""
  if f is None:
    return 1, 1
  if f.ndim not in (1, 2):
    raise ValueError(f"FIR filter must be 1-D or 2-D, got shape {f.shape}")
  return f.shape[-1], f.shape[0]


# ------------------------------------------------------------------------------------------------
# Equalized learning rate.


def weight_gain(in_channels: int, kernel_size: int = 1, lr_multiplier: float = 1.0) -> float:
  """The runtime weight scale of equalized learning rate: lr_multiplier / sqrt(fan_in), with
  fan_in = in_channels * kernel_size**2. Weights are stored as N(0, 1) / lr_multiplier and
  multiplied by this at every call; biases by `lr_multiplier` (see `fully_connected`).

  Reference: training/networks.py, FullyConnectedLayer (weight_gain = lr_multiplier /
  sqrt(in_features), bias_gain = lr_multiplier), Conv2dLayer and ToRGBLayer (1 / sqrt(in_channels *
  kernel_size**2)); the latter's gain scales the styles instead of the weight.
  """
  return lr_multiplier / math.sqrt(in_channels * kernel_size * kernel_size)


def fully_connected(x, weight, bias=None, activation: str = "linear", lr_multiplier: float = 1.0):
  """Equalized-learning-rate dense layer: x [N, in] @ (weight [in, out] * weight_gain) + bias *
  lr_multiplier, then `bias_act` with the activation's default gain. The weight is stored [in,
  out] (the PyTorch module's is [out, in]). Reference: training/networks.py, FullyConnectedLayer.
  """
  w = weight.astype(x.dtype) * weight_gain(weight.shape[0], 1, lr_multiplier)
  b = None if bias is None else bias.astype(x.dtype) * lr_multiplier
  return bias_act(x @ w, b, act=activation)


# ------------------------------------------------------------------------------------------------
# FIR filtering and resampling.


def setup_filter(
  f=None,
  normalize: bool = True,
  flip_filter: bool = False,
  gain: float = 1.0,
  separable: bool | None = None,
) -> np.ndarray:
  """A float32 FIR filter for `upfirdn2d` and friends, as a NumPy array (a compile-time constant).

  f: None (identity), a scalar (impulse), [taps] or [fh, fw]. A 1-D filter stays separable if
  `separable`, else becomes its outer product; by default it stays 1-D only from 8 taps up (so
  the StyleGAN2 [1, 3, 3, 1] becomes a 4x4 2-D filter). Then: divided by its sum if `normalize`,
  flipped on every axis if `flip_filter`, multiplied by gain ** (ndim / 2) (so the 2-D filter a
  separable one stands for is multiplied by `gain`).

  Reference: torch_utils/ops/upfirdn2d.py, setup_filter.
  """
  f = np.asarray(1.0 if f is None else f, dtype=np.float32)
  if f.ndim == 0:
    f = f[None]
  if f.ndim not in (1, 2) or f.size == 0:
    raise ValueError(f"FIR filter must be a scalar, 1-D or 2-D and non-empty, got {f.shape}")
  if separable is None:
    separable = f.ndim == 1 and f.size >= 8
  if f.ndim == 1 and not separable:
    f = np.outer(f, f)
  if f.ndim != (1 if separable else 2):
    raise ValueError("a 2-D filter cannot be made separable")
  if normalize:
    f = f / f.sum()
  if flip_filter:
    f = f[::-1] if f.ndim == 1 else f[::-1, ::-1]
  return np.ascontiguousarray(f * np.float32(gain ** (f.ndim / 2)), dtype=np.float32)


def _separable(kernel: np.ndarray):
  """(column, row) with kernel == outer(column, row), or None: the resampling filters are rank 1."""
  i, j = np.unravel_index(np.argmax(np.abs(kernel)), kernel.shape)
  if kernel[i, j] == 0:
    return None
  column, row = kernel[:, j] / kernel[i, j], kernel[i, :]
  return (column, row) if np.allclose(np.outer(column, row), kernel, rtol=1e-6, atol=0) else None


def _taps(x, taps, axis: int, down: int, size: int):
  """sum_k taps[k] * x shifted by k along `axis`, keeping every down-th of `size` outputs."""
  total = None
  for k, tap in enumerate(taps):
    if tap == 0:
      continue
    part = jax.lax.slice_in_dim(x, k, k + (size - 1) * down + 1, down, axis) * x.dtype.type(tap)
    total = part if total is None else total + part
  if total is None:
    shape = list(x.shape)
    shape[axis] = size
    return jnp.zeros(shape, x.dtype)
  return total


def _fir(x, kernel: np.ndarray, up, down, pad_y, pad_x):
  """Correlation of every channel of NHWC x with `kernel` [kh, kw], on the grid made by inserting
  up - 1 zeros after every pixel, padded (negative: cropped) by pad_y, pad_x, keeping every
  down-th output from the first. Shifted slices times the taps (a row, then a column, for
  separable kernels), which XLA fuses into elementwise loops: on CPU a depthwise conv with lhs
  dilation took 20-60x longer (a 2x upsampling of 16 x 16 x 64 x 16: 78 ms, now 1.3 ms)."""
  x = _insert_zeros(x, *up)
  x = jax.lax.pad(x, jnp.zeros((), x.dtype), [(0, 0, 0), (*pad_y, 0), (*pad_x, 0), (0, 0, 0)])
  kh, kw = kernel.shape
  oh, ow = (x.shape[1] - kh) // down[0] + 1, (x.shape[2] - kw) // down[1] + 1
  if oh < 1 or ow < 1:
    raise ValueError(f"the FIR filter {kernel.shape} is larger than its padded input {x.shape}")
  pair = _separable(kernel)
  if pair is not None:
    return _taps(_taps(x, pair[0], 1, down[0], oh), pair[1], 2, down[1], ow)
  total = jnp.zeros((x.shape[0], oh, ow, x.shape[3]), x.dtype)
  for a in range(kh):
    total = total + _taps(
      jax.lax.slice_in_dim(x, a, a + (oh - 1) * down[0] + 1, down[0], 1), kernel[a], 2, down[1], ow
    )
  return total


def _insert_zeros(x, up_y: int, up_x: int):
  """up - 1 zeros after every pixel along y and x (as a reshape, whose gradient is a slice)."""
  if up_y == up_x == 1:
    return x
  n, h, w, c = x.shape
  x = jnp.pad(
    x[:, :, None, :, None], ((0, 0), (0, 0), (0, up_y - 1), (0, 0), (0, up_x - 1), (0, 0))
  )
  return x.reshape(n, h * up_y, w * up_x, c)


def upfirdn2d(
  x,
  f,
  up: Scaling = 1,
  down: Scaling = 1,
  padding: PaddingArg = 0,
  flip_filter: bool = False,
  gain: float = 1.0,
):
  """Upsample (insert up - 1 zeros after each pixel), pad (negative: crop), FIR-filter (true
  convolution, or correlation if `flip_filter`, output shrunk to where the filter lies inside),
  downsample (keep every down-th pixel from the first), each channel of NHWC x separately.

  Output size along y: (H * up_y + y0 + y1 - fh) // down_y + 1, likewise along x. `f` is [fh, fw],
  [taps] (separable: filtered along x, then y) or None (identity), concrete; the filter is scaled
  by gain ** (f.ndim / 2). Formulation: `_fir` (shifted slices; strided-away outputs are never
  computed).

  Reference: torch_utils/ops/upfirdn2d.py, upfirdn2d (its `_upfirdn2d_ref` path).
  """
  upx, upy = _scaling(up)
  downx, downy = _scaling(down)
  px0, px1, py0, py1 = _padding(padding)
  if isinstance(f, jax.core.Tracer):
    raise ValueError("the FIR filter must be concrete (numpy or a list), not traced")
  f = np.ones((1, 1), np.float32) if f is None else np.asarray(f, np.float32)
  if f.ndim not in (1, 2):
    raise ValueError(f"FIR filter must be 1-D or 2-D, got shape {f.shape}")
  f = f * np.float32(gain ** (f.ndim / 2))
  f = f if flip_filter else f[::-1, ::-1] if f.ndim == 2 else f[::-1]  # the loop correlates
  f = f if f.ndim == 2 else np.outer(f, f)  # a 1-D filter acts along x, then y
  return _fir(x, f, (upy, upx), (downy, downx), (py0, py1), (px0, px1))


def filter2d(x, f, padding: PaddingArg = 0, flip_filter: bool = False, gain: float = 1.0):
  """FIR-filter NHWC x, padded so that the output has the input's size; `padding` is added on top
  (x0, x1, y0, y1 as in `upfirdn2d`). Reference: torch_utils/ops/upfirdn2d.py, filter2d."""
  px0, px1, py0, py1 = _padding(padding)
  fw, fh = _filter_size(f)
  p = (px0 + fw // 2, px1 + (fw - 1) // 2, py0 + fh // 2, py1 + (fh - 1) // 2)
  return upfirdn2d(x, f, padding=p, flip_filter=flip_filter, gain=gain)


def upsample2d(
  x, f, up: Scaling = 2, padding: PaddingArg = 0, flip_filter: bool = False, gain: float = 1.0
):
  """Upsample NHWC x by `up` with FIR filter f, padded so that the output is exactly up times the
  input, times gain * up_x * up_y (which keeps a normalised filter's DC gain at 1). Reference:
  torch_utils/ops/upfirdn2d.py, upsample2d."""
  upx, upy = _scaling(up)
  px0, px1, py0, py1 = _padding(padding)
  fw, fh = _filter_size(f)
  p = (
    px0 + (fw + upx - 1) // 2,
    px1 + (fw - upx) // 2,
    py0 + (fh + upy - 1) // 2,
    py1 + (fh - upy) // 2,
  )
  return upfirdn2d(x, f, up=up, padding=p, flip_filter=flip_filter, gain=gain * upx * upy)


def downsample2d(
  x, f, down: Scaling = 2, padding: PaddingArg = 0, flip_filter: bool = False, gain: float = 1.0
):
  """Downsample NHWC x by `down` with FIR filter f, padded so that the output is exactly the input
  over `down`. Reference: torch_utils/ops/upfirdn2d.py, downsample2d."""
  downx, downy = _scaling(down)
  px0, px1, py0, py1 = _padding(padding)
  fw, fh = _filter_size(f)
  p = (
    px0 + (fw - downx + 1) // 2,
    px1 + (fw - downx) // 2,
    py0 + (fh - downy + 1) // 2,
    py1 + (fh - downy) // 2,
  )
  return upfirdn2d(x, f, down=down, padding=p, flip_filter=flip_filter, gain=gain)


# ------------------------------------------------------------------------------------------------
# Bias + activation + gain + clamp.


def _where_positive(x, negative):
  # Gradient 1 for x > 0, else that of `negative` (as PyTorch's relu and leaky_relu at 0).
  return jnp.where(x > 0, x, negative)


# name -> (function of (x, alpha), default alpha, default gain)
ACTIVATIONS: dict[str, tuple[Callable, float, float]] = {
  "linear": (lambda x, a: x, 0.0, 1.0),
  "relu": (lambda x, a: _where_positive(x, jnp.zeros_like(x)), 0.0, math.sqrt(2)),
  "lrelu": (lambda x, a: _where_positive(x, x * a), 0.2, math.sqrt(2)),
  "tanh": (lambda x, a: jnp.tanh(x), 0.0, 1.0),
  "sigmoid": (lambda x, a: jax.nn.sigmoid(x), 0.0, 1.0),
  "elu": (lambda x, a: jax.nn.elu(x), 0.0, 1.0),
  "selu": (lambda x, a: jax.nn.selu(x), 0.0, 1.0),
  "softplus": (lambda x, a: jax.nn.softplus(x), 0.0, 1.0),
  "swish": (lambda x, a: jax.nn.sigmoid(x) * x, 0.0, math.sqrt(2)),
}


def bias_act(
  x,
  b=None,
  dim: int = -1,
  act: str = "linear",
  alpha: float | None = None,
  gain: float | None = None,
  clamp: float | None = None,
):
  """x + b (b along axis `dim`, the channels of NHWC by default), then the activation `act`, times
  `gain`, clamped to [-clamp, clamp]. alpha / gain None: the activation's defaults (lrelu slope
  0.2; gain sqrt(2) for relu, lrelu and swish, else 1). The clamp passes the gradient where
  -clamp <= y <= clamp, the activations at 0 as PyTorch's. XLA fuses the chain into one
  elementwise kernel, which is what the reference's CUDA kernel is for.

  Reference: torch_utils/ops/bias_act.py, bias_act (its `_bias_act_ref` path, whose `dim` default
  is 1, the channels of NCHW).
  """
  if act not in ACTIVATIONS:
    raise ValueError(f"unknown activation {act!r}; choices: {', '.join(ACTIVATIONS)}")
  if clamp is not None and clamp < 0:
    raise ValueError(f"clamp must be >= 0, got {clamp}")
  fn, def_alpha, def_gain = ACTIVATIONS[act]
  alpha = float(def_alpha if alpha is None else alpha)
  gain = float(def_gain if gain is None else gain)
  if b is not None:
    dim = dim % x.ndim
    if b.ndim != 1 or b.shape[0] != x.shape[dim]:
      raise ValueError(f"bias of shape {b.shape} does not match axis {dim} of {x.shape}")
    x = x + b.astype(x.dtype).reshape([-1 if i == dim else 1 for i in range(x.ndim)])
  x = fn(x, alpha)
  if gain != 1:
    x = x * gain
  if clamp is not None:
    c = jnp.asarray(clamp, x.dtype)
    x = jnp.where(jnp.abs(x) <= c, x, jnp.sign(x) * c)
  return x


# ------------------------------------------------------------------------------------------------
# Convolutions.


def _conv(x, w, stride=1, padding=((0, 0), (0, 0)), groups=1):
  return jax.lax.conv_general_dilated(
    x,
    w,
    window_strides=(stride, stride),
    padding=padding,
    dimension_numbers=_DIMS,
    feature_group_count=groups,
  )


def conv2d_resample(
  x,
  w,
  f=None,
  up: int = 1,
  down: int = 1,
  padding: PaddingArg = 0,
  groups: int = 1,
  flip_weight: bool = True,
  flip_filter: bool = False,
):
  """2-D conv of NHWC x with HWIO w, with optional FIR up/downsampling, padded once at the start.

  Its function: upsample x by `up` with FIR f (as `upsample2d`, gain up**2), pad by `padding` (on
  the upsampled grid; the pads `upsample2d` / `downsample2d` would add are added to it), conv
  (correlation with w if `flip_weight`, true convolution if not) without further padding, then
  FIR-filter and keep every down-th pixel (as `downsample2d`). f is a prepared filter
  (`setup_filter`), None for identity. Formulations: up > 1 is the zero insertion, then one
  conv (a transposed conv; 1x1 kernels: the conv first, then the zero insertion) followed by the
  FIR; down > 1 is the FIR then a strided conv (1x1 kernels: the FIR downsamples first).

  Reference: torch_utils/ops/conv2d_resample.py, conv2d_resample.
  """
  if not (isinstance(up, int) and isinstance(down, int) and up >= 1 and down >= 1):
    raise ValueError(f"up and down must be ints >= 1, got {up!r}, {down!r}")
  kh, kw, _, _ = w.shape
  fw, fh = _filter_size(f)
  px0, px1, py0, py1 = _padding(padding)
  if up > 1:
    px0, px1 = px0 + (fw + up - 1) // 2, px1 + (fw - up) // 2
    py0, py1 = py0 + (fh + up - 1) // 2, py1 + (fh - up) // 2
  if down > 1:
    px0, px1 = px0 + (fw - down + 1) // 2, px1 + (fw - down) // 2
    py0, py1 = py0 + (fh - down + 1) // 2, py1 + (fh - down) // 2
  w = w.astype(x.dtype)
  if not flip_weight:
    w = w[::-1, ::-1]
  pads = (px0, px1, py0, py1)

  if up > 1:
    if kh == kw == 1:  # a 1x1 conv commutes with the zero insertion
      x = _conv(x, w, groups=groups)
      x = upfirdn2d(x, f, up=up, padding=pads, gain=up**2, flip_filter=flip_filter)
    else:
      # The conv on the zero-inserted, padded grid; the FIR (valid) after it: both are valid
      # correlations on the same padded grid, so they commute.
      if groups == 1:  # stride-1 convs per output phase: no multiplies by inserted zeros
        pad = ((py0, py1 + up - 1), (px0, px1 + up - 1))
        x = layers.conv_transpose_phase(x, w, up, pad)
      else:
        x = _conv(_insert_zeros(x, up, up), w, padding=((py0, py1), (px0, px1)), groups=groups)
      x = upfirdn2d(x, f, gain=up**2, flip_filter=flip_filter)
    if down > 1:
      x = upfirdn2d(x, f, down=down, flip_filter=flip_filter)
    return x
  if down > 1:
    if kh == kw == 1:  # a 1x1 conv commutes with the FIR and the subsampling
      x = upfirdn2d(x, f, down=down, padding=pads, flip_filter=flip_filter)
      return _conv(x, w, groups=groups)
    x = upfirdn2d(x, f, padding=pads, flip_filter=flip_filter)
    return _conv(x, w, stride=down, groups=groups)
  return _conv(x, w, padding=((py0, py1), (px0, px1)), groups=groups)


def modulated_conv2d(
  x,
  weight,
  styles,
  noise=None,
  up: int = 1,
  down: int = 1,
  padding: PaddingArg = 0,
  resample_filter=None,
  demodulate: bool = True,
  flip_weight: bool = True,
  fused_modconv: bool = True,
):
  """StyleGAN2's modulated conv: per sample n, conv2d_resample of x[n] with weight [kh, kw, I, O]
  scaled by styles[n] on its input axis and, if `demodulate`, each output channel rescaled to unit
  L2 norm over (kh, kw, I) (rsqrt of the sum of squares + 1e-8); plus `noise` (broadcast against
  the NHWC output, e.g. [N, H, W, 1]).

  fused_modconv: the per-sample weights as one grouped conv (batch folded into the channels,
  feature_group_count = batch). Otherwise: x scaled by the styles, one conv with the shared
  weight, the output scaled by the demodulation coefficients (the same function, rounded
  differently). With float16 / bfloat16 x and demodulation, the weight and styles are first
  scaled by their max norms (which demodulation cancels) to avoid overflow; the reference does
  this for float16.

  Reference: training/networks.py, modulated_conv2d.
  """
  batch = x.shape[0]
  kh, kw, in_channels, out_channels = weight.shape
  if x.shape[-1] != in_channels or styles.shape != (batch, in_channels):
    raise ValueError(f"x {x.shape}, weight {weight.shape} and styles {styles.shape} disagree")
  if demodulate and jnp.dtype(x.dtype).itemsize < 4:
    max_w = jnp.max(jnp.abs(weight), axis=(0, 1, 2), keepdims=True)
    weight = weight * (1 / math.sqrt(in_channels * kh * kw) / max_w)
    styles = styles / jnp.max(jnp.abs(styles), axis=1, keepdims=True)

  conv = lambda x, w, groups=1: conv2d_resample(
    x, w, resample_filter, up=up, down=down, padding=padding, groups=groups, flip_weight=flip_weight
  )
  w = dcoefs = None
  if demodulate or fused_modconv:
    w = weight[None] * styles[:, None, None, :, None]  # [N, kh, kw, I, O]
  if demodulate:
    dcoefs = jax.lax.rsqrt(jnp.sum(jnp.square(w), axis=(1, 2, 3)) + 1e-8)  # [N, O]

  if not fused_modconv:
    x = x * styles.astype(x.dtype)[:, None, None, :]
    x = conv(x, weight)
    if demodulate:
      x = x * dcoefs.astype(x.dtype)[:, None, None, :]
    return x if noise is None else x + noise.astype(x.dtype)

  if demodulate:
    w = w * dcoefs[:, None, None, None, :]
  # Batch into channels: x [1, H, W, N*I], w [kh, kw, I, N*O] (group n's outputs contiguous).
  _, h, width, _ = x.shape
  x = x.transpose(1, 2, 0, 3).reshape(1, h, width, batch * in_channels)
  w = w.transpose(1, 2, 3, 0, 4).reshape(kh, kw, in_channels, batch * out_channels)
  x = conv(x, w.astype(x.dtype), groups=batch)
  _, oh, ow, _ = x.shape
  x = x.reshape(oh, ow, batch, out_channels).transpose(2, 0, 1, 3)
  return x if noise is None else x + noise.astype(x.dtype)
