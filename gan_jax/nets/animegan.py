"""AnimeGANv2's generator and discriminator (Chen et al. 2020; TachibanaYoshino/AnimeGANv2).

Generator (the reference's net/generator.py G_net, the layout of bryandlee/animegan2-pytorch's
port), at the reference's widths for `features` 32 (2,143,552 parameters):
  A: 7x7 conv 32 | 3x3 stride-2 conv 64 | 3x3 conv 64
  B: 3x3 stride-2 conv 128 | 3x3 conv 128
  C: 3x3 conv 128 | 4 inverted residual blocks to 256 | 3x3 conv 128
  D: bilinear x2 | 3x3 conv 128 | 3x3 conv 128
  E: bilinear x2 | 3x3 conv 64 | 3x3 conv 64 | 7x7 conv 32
  out: 1x1 conv 3, tanh
Every conv above is reflect-padded, has no bias, and is followed by layer norm (statistics over
H, W and C of each image, a scale and offset per channel; the port's GroupNorm(1)) and leaky ReLU
0.2. Stride-2 convs reflect-pad only the bottom row and right column. An inverted residual block
(MobileNetV2's): 1x1 conv to 2x the channels + norm + lReLU, a 3x3 depthwise conv with bias + norm +
lReLU, a 1x1 conv + norm, and the input added when the widths match. The norm's epsilon is the
port's 1e-5 (the TF reference's layer_norm uses 1e-12). Upsampling: `upsample` 'half_pixel' is
bilinear with half-pixel centres (PyTorch's align_corners=False, jax.image.resize); 'align_corners'
is the port's default forward; 'tf_legacy' is the TF reference's tf.image.resize_images (TF1's
mapping without half-pixel centres). Weights trained with one transfer to the others with small
differences. Sides must be multiples of 4.

GeneratorV1 (the first AnimeGAN, TachibanaYoshino/AnimeGAN net/generator.py): instance norm instead
of layer norm, 64-128-256 channels, two downsampling stages that each add a stride-2 separable conv
and a half-size resize followed by a separable conv, eight inverted residual blocks at 256, and
resize-then-separable-conv upsampling; Xavier-uniform conv weights (tf.contrib's default), the
depthwise weights N(0, 0.02) truncated, no biases. Its resizes are TF1's (`tf_legacy`): halving an
even side picks every other pixel.

Discriminator (net/discriminator.py D_net, `ch` 64, `n_dis` 3, `sn` True): 3x3 convs without bias,
all spectrally normalised, zero padding; a stride-2 conv pads only the top row and left column:
  conv ch/2, lReLU | n_dis - 1 times: stride-2 conv 2c, lReLU, conv 4c, layer norm, lReLU (c
  doubling) | conv 2c, layer norm, lReLU | conv 1 (a logit per patch, at 1/2^(n_dis-1) the side)
Weights start as both references start them: He normal (fan in) for G (TF's
variance_scaling_initializer), N(0, 0.02) for D; norms at scale 1, offset 0.

Spectral norm is flax's nn.SpectralNorm: one power iteration per call from the stored u; `train`
stores the new u in `batch_stats` (apply with mutable=['batch_stats']).
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.nets import layers, norms

UPSAMPLING = ("half_pixel", "align_corners", "tf_legacy")
NEGATIVE_SLOPE = 0.2
STRIDE_MULTIPLE = 4


class LayerNorm(nn.Module):
  """Per image over H, W and C, a scale and offset per channel (GroupNorm with one group)."""

  epsilon: float = 1e-5

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    scale = self.param("scale", nn.initializers.ones, (c,))
    bias = self.param("bias", nn.initializers.zeros, (c,))
    # standardize's affine params must span its non-reduced axes: apply them after it.
    return norms.standardize(x, None, None, (1, 2, 3), self.epsilon)[0] * scale + bias


def _he_init():
  # TF's variance_scaling_initializer(): factor 2, fan in, truncated normal.
  return nn.initializers.variance_scaling(2.0, "fan_in", "truncated_normal")


class ConvNormLReLU(nn.Module):
  """Reflect pad -> conv (no bias) -> layer norm -> leaky ReLU; stride 2 pads bottom/right only."""

  features: int
  kernel: int = 3
  stride: int = 1
  epsilon: float = 1e-5
  formulation: str = "auto"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    if self.stride == 2:
      pad = ((0, 1), (0, 1))
    else:
      pad = ((self.kernel // 2,) * 2,) * 2
    x = jnp.pad(x, ((0, 0), *pad, (0, 0)), mode="reflect")
    x = layers.StridedConv(
      self.features,
      self.kernel,
      self.stride,
      0,
      use_bias=False,
      kernel_init=_he_init(),
      formulation=self.formulation,
      dtype=self.dtype,
      name="conv",
    )(x)
    x = LayerNorm(self.epsilon, name="norm")(x)
    return nn.leaky_relu(x, NEGATIVE_SLOPE)


class InvertedResBlock(nn.Module):
  """1x1 expand (x`expansion`), 3x3 depthwise (with bias), 1x1 project; + input at equal widths."""

  features: int
  expansion: int = 2
  epsilon: float = 1e-5
  formulation: str = "auto"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    c_in = x.shape[-1]
    hidden = round(c_in * self.expansion)
    kw = dict(epsilon=self.epsilon, formulation=self.formulation, dtype=self.dtype)
    h = ConvNormLReLU(hidden, 1, **kw, name="expand")(x)
    h = jnp.pad(h, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    h = nn.Conv(
      hidden,
      (3, 3),
      padding="VALID",
      feature_group_count=hidden,
      kernel_init=_he_init(),
      dtype=self.dtype,
      name="depthwise",
    )(h)
    h = nn.leaky_relu(LayerNorm(self.epsilon, name="depthwise_norm")(h), NEGATIVE_SLOPE)
    h = nn.Conv(
      self.features,
      (1, 1),
      use_bias=False,
      kernel_init=_he_init(),
      dtype=self.dtype,
      name="project",
    )(h)
    h = LayerNorm(self.epsilon, name="project_norm")(h)
    return x + h if c_in == self.features else h


def _resize_taps(x, height: int, width: int, corners: bool):
  """Bilinear resize, source position dst * (in - 1) / (out - 1) with corners aligned (PyTorch's
  align_corners=True), else dst * in / out (TF1's legacy resize_images: no half-pixel centres)."""

  def taps(n_in, n_out):
    if corners:
      pos = jnp.arange(n_out) * ((n_in - 1) / max(n_out - 1, 1))
    else:
      pos = jnp.arange(n_out) * (n_in / n_out)
    lo = jnp.clip(jnp.floor(pos).astype(jnp.int32), 0, n_in - 1)
    hi = jnp.minimum(lo + 1, n_in - 1)
    return lo, hi, (pos - lo).astype(x.dtype)

  lo, hi, w = taps(x.shape[2], width)
  x = x[:, :, lo] * (1 - w)[:, None] + x[:, :, hi] * w[:, None]
  lo, hi, w = taps(x.shape[1], height)
  return x[:, lo] * (1 - w)[:, None, None] + x[:, hi] * w[:, None, None]


def upsample(x, height: int, width: int, mode: str):
  """Bilinear resize of NHWC `x` to (height, width), by `mode` (see UPSAMPLING)."""
  if mode == "half_pixel":
    return jax.image.resize(x, (x.shape[0], height, width, x.shape[3]), "bilinear")
  if mode in ("align_corners", "tf_legacy"):
    return _resize_taps(x, height, width, corners=mode == "align_corners")
  raise ValueError(f"unknown upsampling {mode!r}; choices: {', '.join(UPSAMPLING)}")


class Generator(nn.Module):
  """photos [B, H, W, 3] in [-1, 1] -> images [B, H, W, 3] in [-1, 1]; H, W multiples of 4.

  Attributes:
    features: the first conv's width; the reference's 32 (then 64, 128, 256).
    num_blocks: inverted residual blocks (the reference's 4).
    upsample: 'half_pixel' or 'align_corners' (see the module docstring).
  """

  features: int = 32
  num_blocks: int = 4
  upsample: str = "half_pixel"
  epsilon: float = 1e-5
  formulation: str = "auto"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = True):
    del train  # no dropout, no running statistics
    f = self.features
    kw = dict(epsilon=self.epsilon, formulation=self.formulation, dtype=self.dtype)
    size = x.shape[1:3]
    h = x.astype(self.dtype)
    h = ConvNormLReLU(f, 7, **kw, name="a_0")(h)
    h = ConvNormLReLU(2 * f, 3, 2, **kw, name="a_1")(h)
    h = ConvNormLReLU(2 * f, **kw, name="a_2")(h)
    half = h.shape[1:3]
    h = ConvNormLReLU(4 * f, 3, 2, **kw, name="b_0")(h)
    h = ConvNormLReLU(4 * f, **kw, name="b_1")(h)
    h = ConvNormLReLU(4 * f, **kw, name="c_0")(h)
    for i in range(self.num_blocks):
      h = InvertedResBlock(8 * f, **kw, name=f"c_res_{i}")(h)
    h = ConvNormLReLU(4 * f, **kw, name="c_1")(h)
    h = upsample(h, *half, self.upsample)
    h = ConvNormLReLU(4 * f, **kw, name="d_0")(h)
    h = ConvNormLReLU(4 * f, **kw, name="d_1")(h)
    h = upsample(h, *size, self.upsample)
    h = ConvNormLReLU(2 * f, **kw, name="e_0")(h)
    h = ConvNormLReLU(2 * f, **kw, name="e_1")(h)
    h = ConvNormLReLU(f, 7, **kw, name="e_2")(h)
    h = nn.Conv(3, (1, 1), use_bias=False, kernel_init=_he_init(), dtype=self.dtype, name="out")(h)
    return jnp.tanh(h).astype(jnp.float32)


def _xavier():
  return nn.initializers.xavier_uniform()  # tf.contrib.layers' default weights_initializer


class ConvNormLReLUV1(nn.Module):
  """v1's Conv2DNormLReLU: reflect pad 1 (3x3 only), conv without bias, instance norm, lReLU."""

  features: int
  kernel: int = 3
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    if self.kernel == 3:
      x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    k = (self.kernel, self.kernel)
    x = nn.Conv(
      self.features,
      k,
      padding="VALID",
      use_bias=False,
      kernel_init=_xavier(),
      dtype=self.dtype,
      name="conv",
    )(x)
    return nn.leaky_relu(norms.InstanceNorm(1e-5, name="norm")(x), NEGATIVE_SLOPE)


class SeparableConvV1(nn.Module):
  """v1's Separable_conv2d: reflect pad (1 each side; stride 2: bottom/right only), 3x3 depthwise
  and 1x1 pointwise convs without bias, instance norm (tf.contrib's default epsilon 1e-6), lReLU."""

  features: int
  stride: int = 1
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    pad = ((0, 1), (0, 1)) if self.stride == 2 else ((1, 1), (1, 1))
    x = jnp.pad(x, ((0, 0), *pad, (0, 0)), mode="reflect")
    c = x.shape[-1]
    x = nn.Conv(
      c,
      (3, 3),
      (self.stride, self.stride),
      padding="VALID",
      feature_group_count=c,
      use_bias=False,
      kernel_init=_xavier(),
      dtype=self.dtype,
      name="depthwise",
    )(x)
    x = nn.Conv(
      self.features,
      (1, 1),
      use_bias=False,
      kernel_init=_xavier(),
      dtype=self.dtype,
      name="pointwise",
    )(x)
    return nn.leaky_relu(norms.InstanceNorm(1e-6, name="norm")(x), NEGATIVE_SLOPE)


class InvertedResBlockV1(nn.Module):
  """v1's block: 1x1 expand + IN + lReLU, 3x3 depthwise + IN + lReLU, 1x1 + IN, + input."""

  features: int
  expansion: int = 2
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    c_in = x.shape[-1]
    hidden = round(c_in * self.expansion)
    h = ConvNormLReLUV1(hidden, 1, self.dtype, name="expand")(x)
    h = jnp.pad(h, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    h = nn.Conv(
      hidden,
      (3, 3),
      padding="VALID",
      feature_group_count=hidden,
      use_bias=False,
      kernel_init=nn.initializers.truncated_normal(0.02),
      dtype=self.dtype,
      name="depthwise",
    )(h)
    h = nn.leaky_relu(norms.InstanceNorm(1e-5, name="depthwise_norm")(h), NEGATIVE_SLOPE)
    h = nn.Conv(
      self.features, (1, 1), use_bias=False, kernel_init=_xavier(), dtype=self.dtype, name="project"
    )(h)
    h = norms.InstanceNorm(1e-5, name="project_norm")(h)
    return x + h if c_in == self.features else h


class GeneratorV1(nn.Module):
  """The first AnimeGAN's generator (see the module docstring); H, W multiples of 4.

  Attributes:
    features: the first convs' width; the reference's 64 (then 128, 256).
    num_blocks: inverted residual blocks (the reference's 8).
    upsample: the resizes' mode (the reference's 'tf_legacy').
  """

  features: int = 64
  num_blocks: int = 8
  upsample: str = "tf_legacy"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = True):
    del train
    f, dt = self.features, self.dtype
    h = x.astype(dt)
    h = ConvNormLReLUV1(f, dtype=dt, name="b1_0")(h)
    h = ConvNormLReLUV1(f, dtype=dt, name="b1_1")(h)
    h = self._down(h, 2 * f, "b1_down")
    h = ConvNormLReLUV1(2 * f, dtype=dt, name="b2_0")(h)
    h = SeparableConvV1(2 * f, dtype=dt, name="b2_1")(h)
    h = self._down(h, 4 * f, "b2_down")
    h = ConvNormLReLUV1(4 * f, dtype=dt, name="m_0")(h)
    for i in range(self.num_blocks):
      h = InvertedResBlockV1(4 * f, dtype=dt, name=f"m_res_{i}")(h)
    h = ConvNormLReLUV1(4 * f, dtype=dt, name="m_1")(h)
    h = self._up(h, 2 * f, "u2_up")
    h = SeparableConvV1(2 * f, dtype=dt, name="u2_0")(h)
    h = ConvNormLReLUV1(2 * f, dtype=dt, name="u2_1")(h)
    h = self._up(h, 2 * f, "u1_up")  # 128 in the code (the paper's figure says 64)
    h = ConvNormLReLUV1(f, dtype=dt, name="u1_0")(h)
    h = ConvNormLReLUV1(f, dtype=dt, name="u1_1")(h)
    h = nn.Conv(3, (1, 1), use_bias=False, kernel_init=_xavier(), dtype=dt, name="out")(h)
    return jnp.tanh(h).astype(jnp.float32)

  def _down(self, x, features: int, name: str):
    """Stride-2 separable conv + (half-size resize -> separable conv)."""
    strided = SeparableConvV1(features, 2, self.dtype, name=f"{name}_strided")(x)
    half = upsample(x, x.shape[1] // 2, x.shape[2] // 2, self.upsample)
    return strided + SeparableConvV1(features, 1, self.dtype, name=f"{name}_resized")(half)

  def _up(self, x, features: int, name: str):
    doubled = upsample(x, 2 * x.shape[1], 2 * x.shape[2], self.upsample)
    return SeparableConvV1(features, 1, self.dtype, name=name)(doubled)


class Discriminator(nn.Module):
  """images [B, H, W, 3] -> logits [B, H/2^(n_dis-1), W/2^(n_dis-1), 1].

  Attributes:
    features: the reference's `ch` (64); the first conv has features / 2.
    num_layers: the reference's `n_dis` (3).
    spectral_norm: the reference's `sn` (True).
    norm: 'layer' (v2) or 'instance' (v1, the first AnimeGAN's D).
    epsilon: of the layer norms (TF's layer_norm: 1e-12).
  """

  features: int = 64
  num_layers: int = 3
  spectral_norm: bool = True
  norm: str = "layer"  # v2's layer norm; 'instance' for v1's D
  epsilon: float = 1e-12
  formulation: str = "auto"
  dtype: Any = jnp.float32

  def _conv(self, x, features: int, stride: int, name: str, train: bool):
    pad = ((1, 1), (1, 1)) if stride == 1 else ((1, 0), (1, 0))  # the reference's conv()
    conv = layers.StridedConv(
      features,
      3,
      stride,
      pad,
      use_bias=False,
      kernel_init=nn.initializers.normal(0.02),
      formulation=self.formulation,
      dtype=self.dtype,
      name=name,
    )
    if not self.spectral_norm:
      return conv(x)
    return nn.SpectralNorm(conv, name=f"{name}_sn")(x, update_stats=train)

  def _norm(self, name: str):
    if self.norm == "instance":  # v1: ops.instance_norm, epsilon 1e-5
      return norms.InstanceNorm(1e-5, name=name)
    return LayerNorm(self.epsilon, name=name)

  @nn.compact
  def __call__(self, x, train: bool = True):
    c = self.features // 2
    h = x.astype(self.dtype)
    h = nn.leaky_relu(self._conv(h, c, 1, "conv_0", train), NEGATIVE_SLOPE)
    for i in range(1, self.num_layers):
      h = nn.leaky_relu(self._conv(h, 2 * c, 2, f"conv_s2_{i}", train), NEGATIVE_SLOPE)
      h = self._conv(h, 4 * c, 1, f"conv_s1_{i}", train)
      h = nn.leaky_relu(self._norm(f"norm_{i}")(h), NEGATIVE_SLOPE)
      c *= 2
    h = self._conv(h, 2 * c, 1, "last_conv", train)
    h = nn.leaky_relu(self._norm("last_norm")(h), NEGATIVE_SLOPE)
    return self._conv(h, 1, 1, "logit", train).astype(jnp.float32)
