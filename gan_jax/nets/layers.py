"""Shared layers that choose their formulation per backend: same parameters, same function.

XLA CPU lowers transposed convolutions, and the input gradients of strided convolutions, to
convolutions with lhs dilation, which it runs an order of magnitude below its dense-conv speed
(FACTS.md: a DCGAN 64 px step took 18 s this way). On CPU we therefore compute
- a strided conv as space-to-depth + a stride-1 conv (kernel zero-padded to a stride multiple), and
- a transposed conv as stride-1 convs, one per output phase or one producing stride^2 x the
  channels + depth-to-space (the sub-pixel / phase decomposition),
whose forward and backward passes are all stride-1 convolutions; where there are few pixels and the
kernel dominates (the U-Net's inner levels), both as matmuls on the kernel in its own layout; a
stride-1 conv with a single output channel (PatchGAN's last) as a matmul and shifted sums, and one
with a few (ResNet G's 7x7 to RGB) as a conv on space-to-depth input to 4x the channels. TPU and
GPU compile the direct forms well, so they keep them. tests/test_layers.py checks that every form
agrees with the direct one, forward and gradients, for every kernel, stride and padding the nets
use.
"""

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

Padding = tuple[tuple[int, int], tuple[int, int]]
FORMULATIONS = ("auto", "direct", "phase")
_DIMS = ("NHWC", "HWIO", "NHWC")
# On CPU, strided convs with at most this many output pixels (over the batch), and transposed convs
# with at most this many input pixels, go through `conv_patches` / `conv_transpose_taps`. The
# U-Net's inner levels at 512-1024 channels, fwd + bwd, at batch 1: down 16 -> 8 px 24 -> 21 ms,
# 8 -> 4 px 16 -> 12, 4 -> 2 px 21 -> 17; up 1 -> 2 px 19 -> 3, 2 -> 4 px 55 -> 20, 4 -> 8 px
# 44 -> 20, 8 -> 16 px 74 -> 64; at batch 4 up 4 -> 8 px 76 -> 50. The next sizes lose (batch 1:
# down 32 -> 16 px 37 -> 45 ms, up 16 -> 32 px 73 -> 133).
FEW_PIXELS = 64


def resolve(formulation: str) -> str:
  """'auto' -> 'phase' on CPU, 'direct' elsewhere."""
  if formulation not in FORMULATIONS:
    raise ValueError(f"unknown formulation {formulation!r}; choices: {', '.join(FORMULATIONS)}")
  if formulation == "auto":
    return "phase" if jax.default_backend() == "cpu" else "direct"
  return formulation


def space_to_depth(x: jax.Array, s: int) -> jax.Array:
  """[B, H, W, C] -> [B, H/s, W/s, s*s*C], channel index (dy, dx, c)."""
  b, h, w, c = x.shape
  x = x.reshape(b, h // s, s, w // s, s, c).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(b, h // s, w // s, s * s * c)


def depth_to_space(x: jax.Array, s: int) -> jax.Array:
  """[B, H, W, s*s*C] with channel index (dy, dx, c) -> [B, H*s, W*s, C]."""
  b, h, w, c = x.shape
  x = x.reshape(b, h, w, s, s, c // (s * s)).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(b, h * s, w * s, c // (s * s))


def _conv_out(n: int, k: int, s: int, pad: tuple[int, int]) -> int:
  """Output length of a conv along one dim: input n, kernel k, stride s, padding (lo, hi)."""
  return (n + pad[0] + pad[1] - k) // s + 1


def _conv_transpose_out(n: int, k: int, s: int, pad: tuple[int, int]) -> int:
  """Output length of a transposed conv (`lax.conv_transpose` padding) along one dim."""
  return (n - 1) * s + pad[0] + pad[1] - k + 2


def _pad_spatial(x, pad_y, pad_x):
  """Zero-pads (negative: crops) the H and W axes of [B, H, W, C]."""
  return jax.lax.pad(x, jnp.zeros((), x.dtype), [(0, 0, 0), (*pad_y, 0), (*pad_x, 0), (0, 0, 0)])


def conv_direct(x, kernel, stride: int, padding: Padding):
  return jax.lax.conv_general_dilated(x, kernel, (stride, stride), padding, dimension_numbers=_DIMS)


def _patches(x, kh: int, kw: int, s: int, oh: int, ow: int):
  """[B, oh, ow, kh*kw*C]: the input window of every output position of a stride-s conv, channel
  index (ky, kx, c), the kernel's own order, so `kernel.reshape(kh*kw*C, O)` is free."""
  rows = [
    x[:, i : i + s * (oh - 1) + 1 : s, j : j + s * (ow - 1) + 1 : s]
    for i in range(kh)
    for j in range(kw)
  ]
  return jnp.concatenate(rows, -1)


def _conv_valid(x, kernel):
  """Stride-1, unpadded conv. Small inputs (after padding at most 6x6; up to 100 pixels over the
  whole batch) go through explicit patches and one matmul, whose backward is also matmuls: XLA
  CPU's conv backward runs such tiny, wide inputs (2x2, 1024 channels) tens of times below its
  matmul speed. (Measured on the U-Net's inner levels, which FEW_PIXELS now routes to
  conv_patches / conv_transpose_taps: at batch 1 its 9x9 inputs gained too, fwd + bwd of the
  16 -> 8 px down conv 34 -> 21 ms, 8 -> 16 px up conv 90 -> 72 ms; at batch 4 they lost,
  70 -> 84 ms.) So do 2x2 kernels on few channels (the first stride-2 conv of an RGB
  net after space-to-depth): U-Net's first conv at 256 px, batch 4, kernel gradient 27 -> 14 ms;
  PatchGAN's first, both gradients, 9.1 -> 5.6 ms at batch 1."""
  b, h, w, c = x.shape
  kh, kw, _, o = kernel.shape
  small = h * w <= 36 or b * h * w <= 100
  if not small and not (kh * kw <= 4 and c <= 32):
    return conv_direct(x, kernel, 1, ((0, 0), (0, 0)))
  oh, ow = h - kh + 1, w - kw + 1
  patches = _patches(x, kh, kw, 1, oh, ow)
  return (patches.reshape(-1, kh * kw * c) @ kernel.reshape(kh * kw * c, o)).reshape(b, oh, ow, o)


@jax.custom_vjp
def _few_rows_matmul(x, w):
  """x [N, K] @ w [K, O] for few rows N and a large kernel w. XLA CPU runs the autodiff input
  gradient, dy @ w.T, through a slow path: 13 ms for N = 4, K = 8192, O = 512, where a fused
  multiply + reduce over O takes 1.3 ms (N = 64: 8.6 vs 5.1 ms; N = 256: 21 vs 9 ms). At N = 1
  the plain product is the fast one (0.3 vs 9 ms). The U-Net's down convs from 16, 8 and 4 px at
  batch 1, fwd + bwd: 20 -> 17.5, 10.7 -> 6.9 and 15.5 -> 4.1 ms."""
  return x @ w


def _few_rows_matmul_fwd(x, w):
  return x @ w, (x, w)


def _few_rows_matmul_bwd(res, dy):
  x, w = res
  dx = dy @ w.T if x.shape[0] == 1 else jnp.sum(dy[:, None, :] * w[None], axis=-1)
  return dx, x.T @ dy


_few_rows_matmul.defvjp(_few_rows_matmul_fwd, _few_rows_matmul_bwd)


def conv_patches(x, kernel, stride: int, padding: Padding):
  """`conv_direct` as explicit patches (in the kernel's layout) and one matmul. For few output
  pixels, where the kernel outweighs the activations: space-to-depth would rearrange the kernel
  (4 MB to 16 MB in the U-Net's inner levels) forwards and its gradient backwards, a copy that
  costs more than the matmul."""
  kh, kw, c, o = kernel.shape
  x = _pad_spatial(x, *padding)
  b, h, w, _ = x.shape
  oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
  patches = _patches(x, kh, kw, stride, oh, ow).reshape(-1, kh * kw * c)
  return _few_rows_matmul(patches, kernel.reshape(kh * kw * c, o)).reshape(b, oh, ow, o)


def conv_phase(x, kernel, stride: int, padding: Padding):
  """`conv_direct` as space-to-depth + stride-1 conv."""
  s = stride
  k = kernel.shape[0]
  kp = -(-k // s) * s  # kernel side rounded up to a multiple of the stride, extra taps zero
  _, h, w, _ = x.shape
  out = [_conv_out(n, k, s, pad) for n, pad in zip((h, w), padding, strict=True)]
  # Pad (or crop) each side's end so exactly (out - 1) * s + kp padded pixels remain.
  pads = [
    (lo, (o - 1) * s + kp - n - lo) for n, (lo, _), o in zip((h, w), padding, out, strict=True)
  ]
  x = _pad_spatial(x, *pads)
  kernel = jnp.pad(kernel, ((0, kp - k), (0, kp - k), (0, 0), (0, 0)))
  return _conv_valid(space_to_depth(x, s), _s2d_kernel(kernel, s))


def _s2d_kernel(kernel, s: int):
  """[m*s, n*s, C, O] -> [m, n, (dy, dx, C), O], matching space_to_depth's channel order."""
  kh, kw, c, o = kernel.shape
  kernel = kernel.reshape(kh // s, s, kw // s, s, c, o).transpose(0, 2, 1, 3, 4, 5)
  return kernel.reshape(kh // s, kw // s, s * s * c, o)


def conv_packed(x, kernel, padding: Padding, s: int = 2):
  """Stride-1 `conv_direct` as ONE conv on space_to_depth(x, s) to s*s x the output channels, one
  group per output phase (its kernel shifted into a shared window), then depth-to-space. For few
  output channels: XLA CPU runs ResNet G's last conv (7x7, 64 -> 3) far below its matmul speed,
  and 4x the outputs for 1.3x the FLOPs (an 8x8 window) is faster. Fwd + bwd: 128 px 40 -> 18 ms,
  256 px 127 -> 93 ms."""
  kh, kw, _, _ = kernel.shape
  x = _pad_spatial(x, *padding)
  _, h, w, _ = x.shape
  oh, ow = h - kh + 1, w - kw + 1
  win_h, win_w = -(-(kh + s - 1) // s), -(-(kw + s - 1) // s)  # in cells of s x s pixels
  grid_h, grid_w = -(-oh // s) + win_h - 1, -(-ow // s) + win_w - 1
  x = _pad_spatial(x, (0, grid_h * s - h), (0, grid_w * s - w))
  phases = []
  for py in range(s):
    for px in range(s):
      shift = ((py, win_h * s - kh - py), (px, win_w * s - kw - px), (0, 0), (0, 0))
      phases.append(_s2d_kernel(jnp.pad(kernel, shift), s))
  y = _conv_valid(space_to_depth(x, s), jnp.concatenate(phases, -1))
  return depth_to_space(y, s)[:, :oh, :ow]


def conv_transpose_direct(x, kernel, stride: int, padding: Padding):
  """`lax.conv_transpose` (Flax ConvTranspose semantics: kernel not flipped)."""
  return jax.lax.conv_transpose(x, kernel, (stride, stride), padding, dimension_numbers=_DIMS)


def _phase_taps(n_in: int, k: int, s: int, pad: tuple[int, int]):
  """One spatial dim of a transposed conv, split into s phases on a grid of M points.

  Output o = s*m + a reads input i = m + d through kernel tap t = s*d - a + lo, for each tap with
  0 <= t < k. For a fixed phase a the taps are every s-th one, so each phase's sub-kernel is a
  strided slice of the kernel. Grid point M holds the outputs s*M - r ... s*M - r + s - 1, with the
  shift r (0 <= r < s) that makes the phases' input windows overlap most: for a 4x4 kernel at
  stride 2 every grid point then reads the same 2 inputs (r = 0 would need 3).
  Returns (per-phase (first tap, number of taps, offset in the window), window size, input pad,
  out length, r); the phases' outputs interleaved on the grid, cropped from r, are the result.
  """
  lo = pad[0]
  n_out = _conv_transpose_out(n_in, k, s, pad)
  phases = []
  for a in range(s):
    ts = [t for t in range(k) if (a + t - lo) % s == 0]
    phases.append((ts[0], len(ts), (a + ts[0] - lo) // s) if ts else (0, 0, None))
  best = None
  for r in range(s):
    # Slot j of grid point M is output s*M + j - r = s*(M + q) + a: phase a, input offset d + q.
    slots = []
    for j in range(s):
      q, a = divmod(j - r, s)
      t0, n, d = phases[a]
      slots.append((t0, n, None if d is None else d + q))
    d_min = min(d for *_, d in slots if d is not None)
    window = max(d + n for _, n, d in slots if d is not None) - d_min
    if best is None or window < best[0]:
      best = (window, r, slots, d_min)
  window, r, slots, d_min = best
  taps = [(t0, n, 0 if d is None else d - d_min) for t0, n, d in slots]
  grid = -(-(n_out + r) // s)
  return taps, window, (-d_min, grid - 1 + d_min + window - 1 - (n_in - 1)), n_out, r


def _pad_apart(x, pad_y, pad_x):
  x = _pad_spatial(x, pad_y, pad_x)
  # Keep the padding a separate array: folded into the conv as its padding, XLA CPU runs small
  # inputs (2x2 with 1024 channels) 50x slower.
  return jax.lax.optimization_barrier(x)


def conv_transpose_phase(x, kernel, stride: int, padding: Padding):
  """`conv_transpose_direct` as stride-1 convs: per output phase, or packed into one.

  Packed (`conv_transpose_phase_packed`) where it costs no extra taps and the input is large, or
  where there are few output channels; otherwise one conv per phase, whose sub-kernel is a strided
  slice of the kernel (no zero taps), so the FLOPs are exactly the direct form's. Forward and
  backward are all stride-1 convs either way.
  """
  s = stride
  b, h, w, _ = x.shape
  taps_y, window_y, pad_y, out_h, r_y = _phase_taps(h, kernel.shape[0], s, padding[0])
  taps_x, window_x, pad_x, out_w, r_x = _phase_taps(w, kernel.shape[1], s, padding[1])
  # XLA CPU, fwd + bwd of the U-Net's 4x4 stride-2 up convs at batch 4: packed 214 vs 269 ms per
  # phase from 32x32x512 inputs, 219 vs 277 ms from 64x64x256; per phase won from 16x16 down
  # (256 vs 241 ms). At batch 1 packed won from 64x64 (50 vs 60 ms) and lost at 32x32 (53 vs 49).
  exact = sum(ny for _, ny, _ in taps_y) * sum(nx for _, nx, _ in taps_x)
  if kernel.shape[-1] < 16 or (exact == s * s * window_y * window_x and b * h * w >= 4096):
    return conv_transpose_phase_packed(x, kernel, stride, padding)
  x = _pad_apart(x, pad_y, pad_x)
  m_y, m_x = x.shape[1] - window_y + 1, x.shape[2] - window_x + 1
  rows = []
  for ty, ny, oy in taps_y:
    cols = []
    for tx, nx, ox in taps_x:
      sub = kernel[ty : ty + s * ny : s, tx : tx + s * nx : s]
      cols.append(_conv_valid(x[:, oy : oy + m_y + ny - 1, ox : ox + m_x + nx - 1], sub))
    rows.append(jnp.stack(cols, axis=3))  # [B, m_y, m_x, a_x, O]
  y = jnp.stack(rows, axis=2)  # [B, m_y, a_y, m_x, a_x, O]
  y = y.reshape(y.shape[0], m_y * s, m_x * s, kernel.shape[-1])
  return y[:, r_y : r_y + out_h, r_x : r_x + out_w]


def conv_transpose_phase_packed(x, kernel, stride: int, padding: Padding):
  """`conv_transpose_direct` as ONE stride-1 conv to stride^2 x channels + depth-to-space (the
  sub-pixel form): the phases' sub-kernels zero-padded into their shared window."""
  s = stride
  _, h, w, _ = x.shape
  taps_y, window_y, pad_y, out_h, r_y = _phase_taps(h, kernel.shape[0], s, padding[0])
  taps_x, window_x, pad_x, out_w, r_x = _phase_taps(w, kernel.shape[1], s, padding[1])
  phases = []
  for ty, ny, oy in taps_y:
    for tx, nx, ox in taps_x:
      sub = kernel[ty : ty + s * ny : s, tx : tx + s * nx : s]
      window = ((oy, window_y - oy - ny), (ox, window_x - ox - nx), (0, 0), (0, 0))
      phases.append(jnp.pad(sub, window))
  phased = jnp.concatenate(phases, axis=-1)  # output channels ordered (a_y, a_x, O)
  y = depth_to_space(_conv_valid(_pad_apart(x, pad_y, pad_x), phased), s)
  return y[:, r_y : r_y + out_h, r_x : r_x + out_w]


def conv_taps(x, kernel, padding: Padding):
  """Stride-1 `conv_direct` with few outputs per position (kernel taps x output channels) as one
  matmul to every tap's output, then the taps' shifted sum. XLA CPU ran PatchGAN's last conv
  (4x4, 512 -> 1 channel on 31x31) at 3% of its matmul speed: fwd + bwd 35 -> 7 ms at batch 4,
  28 -> 3 ms at batch 1."""
  x = _pad_spatial(x, *padding)
  b, h, w, c = x.shape
  kh, kw, _, o = kernel.shape
  oh, ow = h - kh + 1, w - kw + 1
  per_tap = x.reshape(-1, c) @ kernel.transpose(2, 0, 1, 3).reshape(c, kh * kw * o)
  per_tap = per_tap.reshape(b, h, w, kh, kw, o)
  taps = [per_tap[:, i : i + oh, j : j + ow, i, j] for i in range(kh) for j in range(kw)]
  return functools.reduce(jnp.add, taps)


def conv_transpose_taps(x, kernel, stride: int, padding: Padding):
  """`conv_transpose_direct` as every tap's output from one batched matmul over the kernel's own
  [k*k, in, out] blocks, each placed on the strided output grid (an interior pad) and summed. For
  few input pixels: no sub-kernel slices or rearranged copies of the kernel, and its gradient comes
  out in place. Input i reaches output s*i + lo - t through tap t."""
  s = stride
  kh, kw, c, o = kernel.shape
  b, h, w, _ = x.shape
  (lo_y, _), (lo_x, _) = padding
  out_h, out_w = (
    _conv_transpose_out(h, kh, s, padding[0]),
    _conv_transpose_out(w, kw, s, padding[1]),
  )
  every = jnp.broadcast_to(x.reshape(1, b * h * w, c), (kh * kw, b * h * w, c))
  per_tap = jax.lax.dot_general(every, kernel.reshape(kh * kw, c, o), (((2,), (1,)), ((0,), (0,))))
  per_tap = per_tap.reshape(kh, kw, b, h, w, o)
  zero = jnp.zeros((), x.dtype)
  placed = []
  for i in range(kh):
    for j in range(kw):
      top, left = lo_y - i, lo_x - j
      grid = [
        (0, 0, 0),
        (top, out_h - top - (h - 1) * s - 1, s - 1),
        (left, out_w - left - (w - 1) * s - 1, s - 1),
        (0, 0, 0),
      ]
      placed.append(jax.lax.pad(per_tap[i, j], zero, grid))
  return functools.reduce(jnp.add, placed)


def _pairs(padding) -> Padding:
  if isinstance(padding, int):
    return ((padding, padding), (padding, padding))
  return tuple(tuple(p) for p in padding)


class _Conv(nn.Module):
  """The parameters and bias shared by StridedConv and UpConv; `_apply` is the convolution."""

  features: int
  kernel_size: int
  stride: int = 2
  padding: Any = 0
  use_bias: bool = True
  kernel_init: Any = nn.initializers.lecun_normal()
  bias_init: Any = nn.initializers.zeros
  formulation: str = "auto"
  dtype: Any = jnp.float32

  def _apply(self, x, kernel, padding: Padding, phase: bool):
    raise NotImplementedError

  @nn.compact
  def __call__(self, x):
    k = self.kernel_size
    kernel = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features))
    x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
    y = self._apply(x, kernel, _pairs(self.padding), resolve(self.formulation) == "phase")
    if self.use_bias:
      y = y + self.param("bias", self.bias_init, (self.features,)).astype(self.dtype)
    return y


class StridedConv(_Conv):
  """Conv (kernel [k, k, in, out]) at any stride; padding as ((top, bottom), (left, right))."""

  def _apply(self, x, kernel, padding, phase):
    if phase and self.stride > 1:
      s, k = self.stride, kernel.shape[0]
      b, h, w, _ = x.shape
      out = b * _conv_out(h, k, s, padding[0]) * _conv_out(w, k, s, padding[1])
      fn = conv_patches if out <= FEW_PIXELS else conv_phase
      return fn(x, kernel, s, padding)
    if phase and kernel.shape[0] * kernel.shape[1] * kernel.shape[3] <= 16:  # stride 1
      return conv_taps(x, kernel, padding)
    if phase and kernel.shape[3] <= 4 and x.shape[0] * x.shape[1] * x.shape[2] >= 4096:
      return conv_packed(x, kernel, padding)
    return conv_direct(x, kernel, self.stride, padding)


class UpConv(_Conv):
  """Transposed conv, `lax.conv_transpose` semantics (kernel [k, k, in, out], not flipped).

  PyTorch's ConvTranspose2d(k, stride, padding=p, output_padding=q) has the shape of padding
  ((k - 1 - p, k - 1 - p + q),) * 2 here.
  """

  def _apply(self, x, kernel, padding, phase):
    if not (phase and self.stride > 1):
      return conv_transpose_direct(x, kernel, self.stride, padding)
    few = x.shape[0] * x.shape[1] * x.shape[2] <= FEW_PIXELS
    fn = conv_transpose_taps if few else conv_transpose_phase
    return fn(x, kernel, self.stride, padding)


def conv(net, cls, features: int, kernel: int, stride: int, padding, use_bias: bool = True):
  """`cls` (StridedConv or UpConv) with N(0, net.init_std) kernels and net's formulation and dtype;
  call it inside `net`'s compact __call__, so the conv becomes its submodule."""
  return cls(
    features,
    kernel,
    stride,
    padding,
    use_bias=use_bias,
    kernel_init=nn.initializers.normal(net.init_std),
    formulation=net.formulation,
    dtype=net.dtype,
  )
