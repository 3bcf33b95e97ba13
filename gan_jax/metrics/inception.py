"""The FID Inception-v3 in Flax: pytorch-fid's `InceptionV3()` (2048-d pool features), no torch.

FID compares Inception features of TensorFlow's 2015-12-05 Inception graph. pytorch-fid ported that
graph to PyTorch as `pt_inception-2015-12-05-6726825d.pth`; `load_params` reads the file (through
`torch_file`, so it needs no torch), and `features(params, images)` does what pytorch-fid does to
images in [0, 1]:
1. bilinear resize to 299x299 with half-pixel centres and no antialiasing, as PyTorch's
   `interpolate(mode='bilinear', align_corners=False)` (`jax.image.resize` antialiases when it
   downsamples, so it is not used);
2. scale to [-1, 1];
3. the net up to Mixed_7c, then the mean over the 8x8 positions.

The net is torchvision's Inception-v3 layout (Szegedy et al. 2016) with the FID graph's two
differences: the 3x3 average pools of the 35x35 and 17x17 blocks and of the first 8x8 block
(Mixed_7b) divide by the pixels inside the image (TensorFlow's pools do not count the padding), and
the last block (Mixed_7c) max-pools its pool branch. Every conv has no bias and is followed by batch
norm (running statistics, epsilon 1e-3) and ReLU; `load_params` folds each batch norm into its
conv's kernel and a bias. Module names are the state dict's: `Mixed_6b.branch7x7_2.conv.weight` is
Mixed_6b/branch7x7_2.

Convs run at `Precision.HIGHEST`, full float32 on every backend (TPUs default to one bfloat16 pass,
GPUs to TF32), so features agree across backends and with pytorch-fid on CPU.
"""

import functools
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.metrics import torch_file

INPUT_SIZE = 299
FEATURES = 2048
BATCH_NORM_EPSILON = 1e-3
WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
PRECISION = jax.lax.Precision.HIGHEST


class ConvReLU(nn.Module):
  """Conv with batch norm folded into kernel and bias, then ReLU (torchvision's BasicConv2d)."""

  features: int
  kernel: tuple[int, int]
  stride: int = 1
  padding: tuple[int, int] = (0, 0)

  @nn.compact
  def __call__(self, x):
    kernel = self.param(
      "kernel", nn.initializers.lecun_normal(), (*self.kernel, x.shape[-1], self.features)
    )
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    (ph, pw) = self.padding
    y = jax.lax.conv_general_dilated(
      x,
      kernel,
      (self.stride, self.stride),
      ((ph, ph), (pw, pw)),
      dimension_numbers=("NHWC", "HWIO", "NHWC"),
      precision=PRECISION,
    )
    return nn.relu(y + bias)


def _conv(x, name, features, kernel, stride=1, padding=0):
  kernel = (kernel, kernel) if isinstance(kernel, int) else kernel
  padding = (padding, padding) if isinstance(padding, int) else padding
  return ConvReLU(features, kernel, stride, padding, name=name)(x)


def _max_pool(x, stride=2, padding=0):
  pad = ((padding, padding), (padding, padding))
  return nn.max_pool(x, (3, 3), (stride, stride), pad)


def _avg_pool_inside(x):
  """3x3 stride-1 mean over the window's pixels inside the image (padding not counted)."""
  return nn.avg_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)), count_include_pad=False)


class InceptionA(nn.Module):
  """35x35 block (Mixed_5b-d): 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg pool -> 1x1."""

  pool_features: int

  @nn.compact
  def __call__(self, x):
    b1 = _conv(x, "branch1x1", 64, 1)
    b5 = _conv(_conv(x, "branch5x5_1", 48, 1), "branch5x5_2", 64, 5, padding=2)
    b3 = _conv(x, "branch3x3dbl_1", 64, 1)
    b3 = _conv(_conv(b3, "branch3x3dbl_2", 96, 3, padding=1), "branch3x3dbl_3", 96, 3, padding=1)
    bp = _conv(_avg_pool_inside(x), "branch_pool", self.pool_features, 1)
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  """35x35 -> 17x17 (Mixed_6a): stride-2 3x3 | 1x1 -> 3x3 -> stride-2 3x3 | stride-2 max pool."""

  @nn.compact
  def __call__(self, x):
    b3 = _conv(x, "branch3x3", 384, 3, stride=2)
    bd = _conv(x, "branch3x3dbl_1", 64, 1)
    bd = _conv(_conv(bd, "branch3x3dbl_2", 96, 3, padding=1), "branch3x3dbl_3", 96, 3, stride=2)
    return jnp.concatenate([b3, bd, _max_pool(x)], axis=-1)


class InceptionC(nn.Module):
  """17x17 block (Mixed_6b-e): 1x1 | factorised 7x7 | two factorised 7x7s | avg pool -> 1x1."""

  channels_7x7: int

  @nn.compact
  def __call__(self, x):
    c = self.channels_7x7
    row, col = {"kernel": (1, 7), "padding": (0, 3)}, {"kernel": (7, 1), "padding": (3, 0)}
    b1 = _conv(x, "branch1x1", 192, 1)
    b7 = _conv(x, "branch7x7_1", c, 1)
    b7 = _conv(b7, "branch7x7_2", c, **row)
    b7 = _conv(b7, "branch7x7_3", 192, **col)
    bd = _conv(x, "branch7x7dbl_1", c, 1)
    for i, (features, shape) in enumerate([(c, col), (c, row), (c, col), (192, row)], start=2):
      bd = _conv(bd, f"branch7x7dbl_{i}", features, **shape)
    bp = _conv(_avg_pool_inside(x), "branch_pool", 192, 1)
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  """17x17 -> 8x8 (Mixed_7a): 1x1 -> stride-2 3x3 | 1x1 -> 1x7 -> 7x1 -> stride-2 3x3 | max pool."""

  @nn.compact
  def __call__(self, x):
    b3 = _conv(_conv(x, "branch3x3_1", 192, 1), "branch3x3_2", 320, 3, stride=2)
    b7 = _conv(x, "branch7x7x3_1", 192, 1)
    b7 = _conv(b7, "branch7x7x3_2", 192, (1, 7), padding=(0, 3))
    b7 = _conv(b7, "branch7x7x3_3", 192, (7, 1), padding=(3, 0))
    b7 = _conv(b7, "branch7x7x3_4", 192, 3, stride=2)
    return jnp.concatenate([b3, b7, _max_pool(x)], axis=-1)


class InceptionE(nn.Module):
  """8x8 block (Mixed_7b, 7c): 1x1 | 1x1 -> (1x3, 3x1) | 1x1 -> 3x3 -> (1x3, 3x1) | pool -> 1x1.

  The FID graph average-pools (padding not counted) in Mixed_7b and max-pools in Mixed_7c.
  """

  max_pool: bool = False

  @nn.compact
  def __call__(self, x):
    def split(y, name):  # 1x3 and 3x1 side by side
      a = _conv(y, f"{name}a", 384, (1, 3), padding=(0, 1))
      return jnp.concatenate([a, _conv(y, f"{name}b", 384, (3, 1), padding=(1, 0))], axis=-1)

    b1 = _conv(x, "branch1x1", 320, 1)
    b3 = split(_conv(x, "branch3x3_1", 384, 1), "branch3x3_2")
    bd = _conv(_conv(x, "branch3x3dbl_1", 448, 1), "branch3x3dbl_2", 384, 3, padding=1)
    bd = split(bd, "branch3x3dbl_3")
    pooled = _max_pool(x, stride=1, padding=1) if self.max_pool else _avg_pool_inside(x)
    bp = _conv(pooled, "branch_pool", 192, 1)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class FIDInceptionV3(nn.Module):
  """[B, 299, 299, 3] in [-1, 1] -> [B, 2048] pool features."""

  @nn.compact
  def __call__(self, x):
    x = _conv(x, "Conv2d_1a_3x3", 32, 3, stride=2)  # 149x149
    x = _conv(x, "Conv2d_2a_3x3", 32, 3)  # 147x147
    x = _max_pool(_conv(x, "Conv2d_2b_3x3", 64, 3, padding=1))  # 73x73
    x = _conv(x, "Conv2d_3b_1x1", 80, 1)
    x = _max_pool(_conv(x, "Conv2d_4a_3x3", 192, 3))  # 35x35
    for name, pool_features in (("Mixed_5b", 32), ("Mixed_5c", 64), ("Mixed_5d", 64)):
      x = InceptionA(pool_features, name=name)(x)
    x = InceptionB(name="Mixed_6a")(x)  # 17x17
    for name, channels in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160)):
      x = InceptionC(channels, name=name)(x)
    x = InceptionC(192, name="Mixed_6e")(x)
    x = InceptionD(name="Mixed_7a")(x)  # 8x8
    x = InceptionE(name="Mixed_7b")(x)
    x = InceptionE(max_pool=True, name="Mixed_7c")(x)
    return jnp.mean(x, axis=(1, 2))


def _linear_taps(in_size: int, out_size: int):
  """PyTorch's bilinear taps on one axis (align_corners=False): for each output pixel, the two
  input pixels and their float32 weights, as PyTorch computes them on CPU."""
  scale = np.float32(in_size) / np.float32(out_size)
  # PyTorch's CPU kernel rounds scale * (i + 0.5) - 0.5 once, as a fused multiply-add does: float32
  # operands multiply exactly in float64, so rounding that result to float32 gives its taps.
  half = np.arange(out_size, dtype=np.float32) + np.float32(0.5)
  centre = (half.astype(np.float64) * scale - 0.5).astype(np.float32)
  centre = np.maximum(centre, np.float32(0))  # edge pixels clamp, they do not extrapolate
  lo = np.minimum(np.floor(centre).astype(np.int32), in_size - 1)
  hi = np.where(lo < in_size - 1, lo + 1, lo)
  w_hi = np.clip(centre - lo.astype(np.float32), 0, 1).astype(np.float32)
  return lo, hi, np.float32(1) - w_hi, w_hi


def resize_bilinear(images: jax.Array, height: int, width: int) -> jax.Array:
  """Bilinear resize of NHWC images as `torch.nn.functional.interpolate(images, (height, width),
  mode='bilinear', align_corners=False)`: half-pixel centres, no antialiasing either way.

  Like PyTorch it interpolates along the width first, then blends the two rows.
  """
  _, h, w, _ = images.shape
  if w != width:
    lo, hi, w_lo, w_hi = _linear_taps(w, width)
    images = images[:, :, lo] * w_lo[:, None] + images[:, :, hi] * w_hi[:, None]
  if h != height:
    lo, hi, w_lo, w_hi = _linear_taps(h, height)
    images = images[:, lo] * w_lo[:, None, None] + images[:, hi] * w_hi[:, None, None]
  return images


def features(params, images: jax.Array) -> jax.Array:
  """pytorch-fid's 2048-d Inception features of `images`.

  Args:
    params: from `load_params`.
    images: [B, H, W, 3] float in [0, 1], any H and W (resized to 299x299).

  Returns:
    [B, 2048] float32.
  """
  if images.ndim != 4 or images.shape[-1] != 3:
    raise ValueError(f"Inception features need images [B, H, W, 3], got shape {images.shape}")
  x = resize_bilinear(jnp.asarray(images, jnp.float32), INPUT_SIZE, INPUT_SIZE)
  return FIDInceptionV3().apply(params, 2 * x - 1)


@functools.cache
def _param_shapes() -> dict[tuple[str, ...], tuple[int, ...]]:
  """{module path: kernel shape [kh, kw, in, out]} of every conv, from the module itself."""
  abstract = jax.eval_shape(
    FIDInceptionV3().init,
    jax.random.key(0),
    jax.ShapeDtypeStruct((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32),
  )
  flat = jax.tree_util.tree_flatten_with_path(abstract["params"])[0]
  return {
    tuple(k.key for k in path[:-1]): leaf.shape for path, leaf in flat if path[-1].key == "kernel"
  }


def _get(state: dict, key: str, shape: tuple[int, ...], path: str) -> np.ndarray:
  if key not in state:
    raise torch_file.TorchFileError(
      f"{path}: no {key}; expected the FID Inception weights ({WEIGHTS_FILE})"
    )
  if state[key].shape != shape:
    raise torch_file.TorchFileError(
      f"{path}: {key} has shape {list(state[key].shape)}, expected {list(shape)} "
      f"(the FID Inception weights, {WEIGHTS_FILE})"
    )
  return state[key].astype(np.float64)


def load_params(path: str | os.PathLike):
  """The FID Inception's variables from pytorch-fid's weights file, batch norms folded into convs.

  Args:
    path: `pt_inception-2015-12-05-6726825d.pth` (or any state dict of the same network).

  Returns:
    {'params': ...} for `features`: NumPy float32 arrays, to be put on devices as the caller
    shards them. The file's fc layer and num_batches_tracked counters are not used.

  Raises:
    TorchFileError: the file is missing or unreadable, lacks a weight, or has one of another shape.
  """
  path = os.fspath(path)
  state = torch_file.load(path)
  params = {}
  for module, (kh, kw, cin, cout) in _param_shapes().items():
    prefix = ".".join(module)
    weight = _get(state, f"{prefix}.conv.weight", (cout, cin, kh, kw), path)
    gamma, beta, mean, var = (
      _get(state, f"{prefix}.bn.{name}", (cout,), path)
      for name in ("weight", "bias", "running_mean", "running_var")
    )
    scale = gamma / np.sqrt(var + BATCH_NORM_EPSILON)
    node = params
    for name in module:
      node = node.setdefault(name, {})
    kernel = (weight * scale[:, None, None, None]).transpose(2, 3, 1, 0)  # OIHW -> HWIO
    node["kernel"] = np.ascontiguousarray(kernel, np.float32)
    node["bias"] = (beta - mean * scale).astype(np.float32)
  return {"params": params}
