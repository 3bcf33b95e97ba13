"""StyleGAN2 nets (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN"), as
the generator and discriminator of NVlabs/stylegan2-ada-pytorch (commit d72cc7d, training/
networks.py) compute them, in Flax on the ops of `stylegan_ops` (NHWC).

G: z (and a label) -> mapping MLP -> w, broadcast to one w per layer (with truncation towards the
tracked mean w) -> synthesis: a learned 4x4 constant, per resolution two modulated 3x3 convs (the
first upsamples 2x through the [1, 3, 3, 1] FIR), per-pixel noise with a learned strength, and a
ToRGB whose output is added to the upsampled image of the resolution below ('skip').
D: ResNet blocks (FromRGB at the top, two 3x3 convs, the second downsampling, a 1x1 skip), then at
4x4 a minibatch-stddev feature, a conv, two dense layers and, with labels, a projection onto the
mapped label. Channels at resolution r: min(channel_base / r, channel_max). Every weight is stored
N(0, 1) (divided by the layer's lr multiplier) and scaled at run time (equalized learning rate).

Variable collections: 'params' (trained); 'stats' (the mapping net's w_avg, updated while training);
'consts' (each synthesis layer's fixed noise image, for noise_mode='const'). Names follow the
reference's module names, so `convert_reference_state` maps its state dict onto these collections.
Random noise (noise_mode='random') draws from the 'noise' RNG stream.
"""

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.nets import stylegan_ops as ops

RESAMPLE_FILTER = (1, 3, 3, 1)
ARCHITECTURES = ("orig", "skip", "resnet")
NOISE_MODES = ("random", "const", "none")


def normalize_2nd_moment(x, axis: int = 1, eps: float = 1e-8):
  """x / sqrt(mean(x^2) + eps) along `axis`. Reference: networks.py, normalize_2nd_moment."""
  return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=axis, keepdims=True) + eps)


def channels_at(resolution: int, channel_base: int, channel_max: int) -> int:
  return min(channel_base // resolution, channel_max)


def _normal(scale: float = 1.0):
  return lambda key, shape, dtype=jnp.float32: jax.random.normal(key, shape, dtype) * scale


class FullyConnected(nn.Module):
  """Equalized-lr dense layer: weight [in, out] ~ N(0, 1) / lr_multiplier, bias bias_init.
  Reference: networks.py, FullyConnectedLayer."""

  features: int
  activation: str = "linear"
  lr_multiplier: float = 1.0
  bias_init: float = 0.0
  use_bias: bool = True

  @nn.compact
  def __call__(self, x):
    weight = self.param(
      "weight", _normal(1 / self.lr_multiplier), (x.shape[-1], self.features), jnp.float32
    )
    bias = None
    if self.use_bias:
      init = lambda key, shape: jnp.full(shape, self.bias_init, jnp.float32)
      bias = self.param("bias", init, (self.features,))
    return ops.fully_connected(x, weight, bias, self.activation, self.lr_multiplier)


class MappingNetwork(nn.Module):
  """z [N, z_dim] and c [N, c_dim] -> w [N, w_dim], broadcast to [N, num_ws, w_dim] when num_ws.

  Tracks w_avg (collection 'stats') with decay w_avg_beta when called with update_w_avg=True (the
  reference does while training); truncation_psi < 1 moves w towards it, for the first
  truncation_cutoff ws (all when None). Reference: networks.py, MappingNetwork.
  """

  z_dim: int
  c_dim: int
  w_dim: int
  num_ws: int | None
  num_layers: int = 8
  embed_features: int | None = None
  layer_features: int | None = None
  activation: str = "lrelu"
  lr_multiplier: float = 0.01
  w_avg_beta: float | None = 0.995

  @nn.compact
  def __call__(self, z, c, truncation_psi=1.0, truncation_cutoff=None, update_w_avg=False):
    embed = self.w_dim if self.embed_features is None else self.embed_features
    layer = self.w_dim if self.layer_features is None else self.layer_features
    x = None
    if self.z_dim > 0:
      x = normalize_2nd_moment(z.astype(jnp.float32))
    if self.c_dim > 0:
      y = normalize_2nd_moment(FullyConnected(embed, name="embed")(c.astype(jnp.float32)))
      x = y if x is None else jnp.concatenate([x, y], axis=1)
    for idx in range(self.num_layers):
      features = self.w_dim if idx == self.num_layers - 1 else layer
      x = FullyConnected(features, self.activation, self.lr_multiplier, name=f"fc{idx}")(x)

    track = self.num_ws is not None and self.w_avg_beta is not None
    if track:
      w_avg = self.variable("stats", "w_avg", jnp.zeros, (self.w_dim,), jnp.float32)
      if update_w_avg and not self.is_initializing():
        mean = jax.lax.stop_gradient(jnp.mean(x, axis=0))
        w_avg.value = w_avg.value + (mean - w_avg.value) * (1 - self.w_avg_beta)
    if self.num_ws is not None:
      x = jnp.repeat(x[:, None, :], self.num_ws, axis=1)
    if truncation_psi != 1:
      if not track:
        raise ValueError("truncation needs a tracked w_avg (num_ws and w_avg_beta set)")
      avg = w_avg.value
      if self.num_ws is None or truncation_cutoff is None:
        x = avg + (x - avg) * truncation_psi
      else:
        head = avg + (x[:, :truncation_cutoff] - avg) * truncation_psi
        x = jnp.concatenate([head, x[:, truncation_cutoff:]], axis=1)
    return x


class SynthesisLayer(nn.Module):
  """Modulated conv (up 1 or 2) + noise + bias + lrelu (gain, clamp). Reference: networks.py,
  SynthesisLayer."""

  out_channels: int
  resolution: int
  kernel_size: int = 3
  up: int = 1
  use_noise: bool = True
  activation: str = "lrelu"
  conv_clamp: float | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, w, noise_mode="random", fused_modconv=False, gain=1.0):
    in_channels, k, res = x.shape[-1], self.kernel_size, self.resolution
    styles = FullyConnected(in_channels, bias_init=1.0, name="affine")(w)
    weight = self.param("weight", _normal(), (k, k, in_channels, self.out_channels))
    noise = None
    if self.use_noise:
      noise_const = self.variable(
        "consts", "noise_const", lambda: jax.random.normal(self.make_rng("params"), (res, res))
      )
      strength = self.param("noise_strength", nn.initializers.zeros, ())
      if noise_mode == "random":
        noise = jax.random.normal(self.make_rng("noise"), (x.shape[0], res, res, 1)) * strength
      elif noise_mode == "const":
        noise = (noise_const.value * strength)[None, :, :, None]
    bias = self.param("bias", nn.initializers.zeros, (self.out_channels,))
    x = ops.modulated_conv2d(
      x,
      weight,
      styles,
      noise=None if noise is None else noise.astype(x.dtype),
      up=self.up,
      padding=k // 2,
      resample_filter=ops.setup_filter(RESAMPLE_FILTER),
      flip_weight=self.up == 1,
      fused_modconv=fused_modconv,
    )
    act_gain = ops.ACTIVATIONS[self.activation][2] * gain
    clamp = None if self.conv_clamp is None else self.conv_clamp * gain
    return ops.bias_act(x, bias, act=self.activation, gain=act_gain, clamp=clamp)


class ToRGB(nn.Module):
  """Modulated 1x1 conv without demodulation, + bias (clamp). Reference: networks.py, ToRGBLayer."""

  out_channels: int
  kernel_size: int = 1
  conv_clamp: float | None = None

  @nn.compact
  def __call__(self, x, w, fused_modconv=False):
    in_channels, k = x.shape[-1], self.kernel_size
    styles = FullyConnected(in_channels, bias_init=1.0, name="affine")(w)
    styles = styles * ops.weight_gain(in_channels, k)
    weight = self.param("weight", _normal(), (k, k, in_channels, self.out_channels))
    bias = self.param("bias", nn.initializers.zeros, (self.out_channels,))
    x = ops.modulated_conv2d(x, weight, styles, demodulate=False, fused_modconv=fused_modconv)
    return ops.bias_act(x, bias, clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
  """One resolution of the synthesis net: (const | conv0 up 2) -> conv1 -> ToRGB. Returns (x, img)
  with img float32. Reference: networks.py, SynthesisBlock."""

  in_channels: int  # 0: the first block (a learned constant)
  out_channels: int
  resolution: int
  img_channels: int
  is_last: bool
  architecture: str = "skip"
  conv_clamp: float | None = None
  dtype: Any = jnp.float32  # the blocks of the highest resolutions may compute in 16 bits

  @property
  def num_conv(self) -> int:
    return 1 if self.in_channels == 0 else 2

  @property
  def num_torgb(self) -> int:
    return int(self.is_last or self.architecture == "skip")

  @nn.compact
  def __call__(self, x, img, ws, noise_mode="random", fused_modconv=False):
    f = ops.setup_filter(RESAMPLE_FILTER)
    layer = dict(resolution=self.resolution, conv_clamp=self.conv_clamp)
    w = iter(range(ws.shape[1]))
    if self.in_channels == 0:
      res = self.resolution
      const = self.param("const", _normal(), (res, res, self.out_channels))
      x = jnp.broadcast_to(const.astype(self.dtype), (ws.shape[0], res, res, self.out_channels))
    else:
      x = x.astype(self.dtype)
    kwargs = dict(noise_mode=noise_mode, fused_modconv=fused_modconv)
    if self.in_channels == 0:
      x = SynthesisLayer(self.out_channels, **layer, name="conv1")(x, ws[:, next(w)], **kwargs)
    elif self.architecture == "resnet":
      y = Conv2dLayer(self.out_channels, 1, use_bias=False, up=2, name="skip")(x, gain=np.sqrt(0.5))
      x = SynthesisLayer(self.out_channels, up=2, **layer, name="conv0")(
        x, ws[:, next(w)], **kwargs
      )
      x = SynthesisLayer(self.out_channels, **layer, name="conv1")(
        x, ws[:, next(w)], gain=np.sqrt(0.5), **kwargs
      )
      x = y + x
    else:
      x = SynthesisLayer(self.out_channels, up=2, **layer, name="conv0")(
        x, ws[:, next(w)], **kwargs
      )
      x = SynthesisLayer(self.out_channels, **layer, name="conv1")(x, ws[:, next(w)], **kwargs)
    if img is not None:
      img = ops.upsample2d(img, f)
    if self.num_torgb:
      torgb = ToRGB(self.img_channels, conv_clamp=self.conv_clamp, name="torgb")
      y = torgb(x, ws[:, next(w)], fused_modconv=fused_modconv).astype(jnp.float32)
      img = y if img is None else img + y
    return x, img


def fp16_resolution(img_resolution: int, num_fp16_res: int) -> int:
  """The lowest resolution whose blocks compute in 16 bits (the reference's rule: the num_fp16_res
  highest, never below 8)."""
  return max(2 ** (int(math.log2(img_resolution)) + 1 - num_fp16_res), 8)


class SynthesisNetwork(nn.Module):
  """ws [N, num_ws, w_dim] -> images [N, R, R, img_channels] (float32, about [-1, 1]).
  Reference: networks.py, SynthesisNetwork."""

  img_resolution: int
  img_channels: int = 3
  channel_base: int = 32768
  channel_max: int = 512
  num_fp16_res: int = 0
  half_dtype: Any = jnp.bfloat16  # the 16-bit type of those blocks
  architecture: str = "skip"
  conv_clamp: float | None = None

  def block_specs(self) -> list[dict]:
    r = self.img_resolution
    if r < 4 or r & (r - 1):
      raise ValueError(f"img_resolution must be a power of two >= 4, got {r}")
    if self.architecture not in ARCHITECTURES:
      raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}")
    lowest_half = fp16_resolution(r, self.num_fp16_res)
    specs = []
    for res in [2**i for i in range(2, int(math.log2(r)) + 1)]:
      specs.append(
        dict(
          in_channels=channels_at(res // 2, self.channel_base, self.channel_max) if res > 4 else 0,
          out_channels=channels_at(res, self.channel_base, self.channel_max),
          resolution=res,
          is_last=res == r,
          dtype=self.half_dtype if res >= lowest_half else jnp.float32,
        )
      )
    return specs

  @property
  def num_ws(self) -> int:
    n = 0
    for spec in self.block_specs():
      n += 1 if spec["in_channels"] == 0 else 2
    return n + 1  # the last block's ToRGB

  @nn.compact
  def __call__(self, ws, noise_mode="random", fused_modconv=False):
    if noise_mode not in NOISE_MODES:
      raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
    ws = ws.astype(jnp.float32)
    x = img = None
    w_idx = 0
    for spec in self.block_specs():
      block = SynthesisBlock(
        img_channels=self.img_channels,
        architecture=self.architecture,
        conv_clamp=self.conv_clamp,
        name=f"b{spec['resolution']}",
        **spec,
      )
      n = block.num_conv + block.num_torgb
      x, img = block(x, img, ws[:, w_idx : w_idx + n], noise_mode, fused_modconv)
      w_idx += block.num_conv
    return img


class Generator(nn.Module):
  """z [N, z_dim], c [N, c_dim] -> images [N, R, R, img_channels]. Reference: networks.py,
  Generator."""

  z_dim: int
  c_dim: int
  w_dim: int
  img_resolution: int
  img_channels: int = 3
  mapping_kwargs: Any = None  # MappingNetwork's fields
  synthesis_kwargs: Any = None  # SynthesisNetwork's fields

  def setup(self):
    self.synthesis = SynthesisNetwork(
      self.img_resolution, self.img_channels, **(self.synthesis_kwargs or {})
    )
    self.mapping = MappingNetwork(
      self.z_dim, self.c_dim, self.w_dim, self.synthesis.num_ws, **(self.mapping_kwargs or {})
    )

  def __call__(
    self,
    z,
    c,
    truncation_psi=1.0,
    truncation_cutoff=None,
    noise_mode="random",
    fused_modconv=False,
    update_w_avg=False,
  ):
    ws = self.mapping(z, c, truncation_psi, truncation_cutoff, update_w_avg)
    return self.synthesis(ws, noise_mode, fused_modconv)


class Conv2dLayer(nn.Module):
  """Equalized-lr conv (up / down through the FIR) + bias + activation (gain, clamp).
  Reference: networks.py, Conv2dLayer."""

  out_channels: int
  kernel_size: int
  use_bias: bool = True
  activation: str = "linear"
  up: int = 1
  down: int = 1
  conv_clamp: float | None = None

  @nn.compact
  def __call__(self, x, gain=1.0):
    in_channels, k = x.shape[-1], self.kernel_size
    weight = self.param("weight", _normal(), (k, k, in_channels, self.out_channels))
    bias = (
      self.param("bias", nn.initializers.zeros, (self.out_channels,)) if self.use_bias else None
    )
    w = weight * ops.weight_gain(in_channels, k)
    x = ops.conv2d_resample(
      x,
      w.astype(x.dtype),
      ops.setup_filter(RESAMPLE_FILTER),
      up=self.up,
      down=self.down,
      padding=k // 2,
      flip_weight=self.up == 1,
    )
    act_gain = ops.ACTIVATIONS[self.activation][2] * gain
    clamp = None if self.conv_clamp is None else self.conv_clamp * gain
    return ops.bias_act(x, bias, act=self.activation, gain=act_gain, clamp=clamp)


class DiscriminatorBlock(nn.Module):
  """FromRGB (first block, or 'skip') -> conv0 -> conv1 down 2 (+ the 1x1 'resnet' skip).
  Reference: networks.py, DiscriminatorBlock."""

  in_channels: int  # 0: the first block (reads the image)
  tmp_channels: int
  out_channels: int
  resolution: int
  architecture: str = "resnet"
  activation: str = "lrelu"
  conv_clamp: float | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, img):
    act, clamp, f = self.activation, self.conv_clamp, ops.setup_filter(RESAMPLE_FILTER)
    if x is not None:
      x = x.astype(self.dtype)
    if self.in_channels == 0 or self.architecture == "skip":
      img = img.astype(self.dtype)
      y = Conv2dLayer(self.tmp_channels, 1, activation=act, conv_clamp=clamp, name="fromrgb")(img)
      x = y if x is None else x + y
      img = ops.downsample2d(img, f) if self.architecture == "skip" else None
    conv0 = Conv2dLayer(self.tmp_channels, 3, activation=act, conv_clamp=clamp, name="conv0")
    conv1 = Conv2dLayer(
      self.out_channels, 3, activation=act, down=2, conv_clamp=clamp, name="conv1"
    )
    if self.architecture == "resnet":
      skip = Conv2dLayer(self.out_channels, 1, use_bias=False, down=2, name="skip")
      y = skip(x, gain=np.sqrt(0.5))
      x = y + conv1(conv0(x), gain=np.sqrt(0.5))
    else:
      x = conv1(conv0(x))
    return x, img


def minibatch_stddev(x, group_size: int | None = 4, num_channels: int = 1):
  """Appends num_channels features: the stddev over groups of group_size samples (sample i is in
  group i mod (N / G)), averaged over channels and pixels, per group of channels. Reference:
  networks.py, MinibatchStdLayer (NCHW there)."""
  n, h, w, c = x.shape
  g = min(group_size, n) if group_size is not None else n
  if n % g:
    raise ValueError(f"the batch ({n}) must be a multiple of the stddev group size ({g})")
  f = num_channels
  y = x.astype(jnp.float32).reshape(g, n // g, h, w, f, c // f)
  y = y - jnp.mean(y, axis=0)
  y = jnp.sqrt(jnp.mean(jnp.square(y), axis=0) + 1e-8)  # [n, H, W, F, c]
  y = jnp.mean(y, axis=(1, 2, 4))  # [n, F]
  y = jnp.tile(y, (g, 1))[:, None, None, :]  # [N, 1, 1, F]
  y = jnp.broadcast_to(y, (n, h, w, f)).astype(x.dtype)
  return jnp.concatenate([x, y], axis=-1)


class DiscriminatorEpilogue(nn.Module):
  """At 4x4: minibatch stddev, conv, dense, dense to 1 (or to cmap_dim, projected onto the mapped
  label). Reference: networks.py, DiscriminatorEpilogue."""

  in_channels: int
  cmap_dim: int
  resolution: int = 4
  architecture: str = "resnet"
  mbstd_group_size: int | None = 4
  mbstd_num_channels: int = 1
  activation: str = "lrelu"
  conv_clamp: float | None = None

  @nn.compact
  def __call__(self, x, img, cmap):
    act = self.activation
    x = x.astype(jnp.float32)
    if self.architecture == "skip":
      fromrgb = Conv2dLayer(self.in_channels, 1, activation=act, name="fromrgb")
      x = x + fromrgb(img.astype(jnp.float32))
    if self.mbstd_num_channels > 0:
      x = minibatch_stddev(x, self.mbstd_group_size, self.mbstd_num_channels)
    x = Conv2dLayer(self.in_channels, 3, activation=act, conv_clamp=self.conv_clamp, name="conv")(x)
    # Flattened in the reference's NCHW order, so that its dense weights apply unchanged.
    x = x.transpose(0, 3, 1, 2).reshape(x.shape[0], -1)
    x = FullyConnected(self.in_channels, activation=act, name="fc")(x)
    x = FullyConnected(1 if self.cmap_dim == 0 else self.cmap_dim, name="out")(x)
    if self.cmap_dim > 0:
      x = jnp.sum(x * cmap, axis=1, keepdims=True) * (1 / np.sqrt(self.cmap_dim))
    return x


class Discriminator(nn.Module):
  """images [N, R, R, img_channels], c [N, c_dim] -> logits [N, 1]. Reference: networks.py,
  Discriminator."""

  c_dim: int
  img_resolution: int
  img_channels: int = 3
  architecture: str = "resnet"
  channel_base: int = 32768
  channel_max: int = 512
  num_fp16_res: int = 0
  half_dtype: Any = jnp.bfloat16
  conv_clamp: float | None = None
  cmap_dim: int | None = None
  mapping_kwargs: Any = None
  epilogue_kwargs: Any = None  # mbstd_group_size, mbstd_num_channels

  @nn.compact
  def __call__(self, img, c):
    r = self.img_resolution
    if r < 4 or r & (r - 1):
      raise ValueError(f"img_resolution must be a power of two >= 4, got {r}")
    ch = lambda res: channels_at(res, self.channel_base, self.channel_max)
    lowest_half = fp16_resolution(r, self.num_fp16_res)
    cmap_dim = (ch(4) if self.cmap_dim is None else self.cmap_dim) if self.c_dim > 0 else 0
    x = None
    for res in [2**i for i in range(int(math.log2(r)), 2, -1)]:
      block = DiscriminatorBlock(
        in_channels=ch(res) if res < r else 0,
        tmp_channels=ch(res),
        out_channels=ch(res // 2),
        resolution=res,
        architecture=self.architecture,
        conv_clamp=self.conv_clamp,
        dtype=self.half_dtype if res >= lowest_half else jnp.float32,
        name=f"b{res}",
      )
      x, img = block(x, img)
    cmap = None
    if self.c_dim > 0:
      mapping = MappingNetwork(
        0,
        self.c_dim,
        cmap_dim,
        None,
        w_avg_beta=None,
        **(self.mapping_kwargs or {}),
        name="mapping",
      )
      cmap = mapping(None, c)
    epilogue = DiscriminatorEpilogue(
      ch(4),
      cmap_dim,
      architecture=self.architecture,
      conv_clamp=self.conv_clamp,
      **(self.epilogue_kwargs or {}),
      name="b4",
    )
    return epilogue(x, img, cmap)


# ------------------------------------------------------------------------------------------------
# The reference's weights.


def convert_reference_state(state: dict[str, np.ndarray]) -> dict[str, dict]:
  """A state dict of the reference's Generator or Discriminator (name -> array, as
  `{k: v.numpy() for k, v in module.state_dict().items()}` gives) -> Flax variables for the
  module here: {'params': ..., 'stats': ..., 'consts': ...}. Dense weights [out, in] become
  [in, out]; conv weights OIHW become HWIO; the 4x4 constant CHW becomes HWC; the FIR filter
  buffers are dropped (they are compile-time constants here)."""
  variables: dict[str, dict] = {}
  for name, value in state.items():
    *path, leaf = name.split(".")
    value = np.asarray(value, np.float32)
    if leaf == "resample_filter":
      continue
    if leaf == "weight" and value.ndim == 2:
      value = value.T
    elif leaf == "weight" and value.ndim == 4:
      value = value.transpose(2, 3, 1, 0)
    elif leaf == "const":
      value = value.transpose(1, 2, 0)
    collection = {"w_avg": "stats", "noise_const": "consts"}.get(leaf, "params")
    node = variables.setdefault(collection, {})
    for part in path:
      node = node.setdefault(part, {})
    node[leaf] = jnp.asarray(value)
  return variables
