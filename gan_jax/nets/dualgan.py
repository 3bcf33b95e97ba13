"""DualGAN's nets (Yi et al. 2017), as its reference implementation (duxingren14/DualGAN, model.py
`fcn` and `discriminator`, ops.py) builds them in TensorFlow.

Both use TensorFlow's SAME padding, every conv has a bias, and their norm (ops.batch_norm) is in
fact an instance norm with a learned scale ~ N(1, 0.02) and offset, epsilon 1e-6, no running
statistics. Conv kernels are truncated-normal(0.02), transposed-conv kernels normal(0.02).

Generator: a U-Net. Down: a 5x5 stride-2 conv (ngf, no norm), then num_downs - 1 steps of
LeakyReLU(0.2) -> 3x3 stride-2 conv -> norm with 2, 4, then 8 x ngf channels (the innermost is
normalised too, so at a 1x1 bottleneck it passes only its offset: skips carry the image).
Up: ReLU -> 3x3 stride-2 transposed conv -> norm [-> dropout in the three innermost] -> concat the
mirrored down activation; the last is a 5x5 transposed conv to 3 channels -> tanh.

Discriminator: a 5x5 stride-2 conv (ndf) -> LeakyReLU, four 3x3 stride-2 convs (2, 4, 8, 8 x ndf) ->
norm -> LeakyReLU, then 'patch': a 3x3 stride-2 conv to a map of logits (4x4 at 256 px), or
'global': one linear logit over the flattened features. No sigmoid: the critic's raw scores.
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.nets import layers, norms

DISCRIMINATORS = ("global", "patch")


def same_padding(kernel: int, stride: int, transposed: bool = False):
  """TensorFlow's SAME padding for an even input side, as ((top, bottom), (left, right)); for a
  transposed conv, the `lax.conv_transpose` padding whose output is stride x the input."""
  total = max(kernel - stride, 0)
  lo, hi = total // 2, total - total // 2
  if transposed:  # the gradient of that conv: the kernel's far side, plus what the stride left
    lo, hi = kernel - 1 - lo, kernel - 1 - hi + (total - kernel) % stride
  return ((lo, hi), (lo, hi))


def _norm(x, dtype):
  return norms.InstanceNorm(epsilon=1e-6, scale_init=norms.normal_around_one(0.02))(x).astype(dtype)


def _conv(features, kernel, formulation, dtype, stride=2):
  return layers.StridedConv(
    features,
    kernel,
    stride,
    same_padding(kernel, stride),
    kernel_init=nn.initializers.truncated_normal(0.02),
    formulation=formulation,
    dtype=dtype,
  )


def _up(features, kernel, formulation, dtype):
  return layers.UpConv(
    features,
    kernel,
    2,
    same_padding(kernel, 2, transposed=True),
    kernel_init=nn.initializers.normal(0.02),
    formulation=formulation,
    dtype=dtype,
  )


def encoder_channels(num_downs: int, features: int) -> list[int]:
  return [features * min(2**i, 8) for i in range(num_downs)]


class DualUNet(nn.Module):
  """[B, H, W, C] -> [B, H, W, out_channels] in [-1, 1]; H, W multiples of 2^num_downs."""

  num_downs: int = 8
  features: int = 64
  out_channels: int = 3
  dropout: float = 0.0  # drop probability in the three innermost up steps (reference: off)
  formulation: str = "auto"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = True):
    n, dtype, form = self.num_downs, self.dtype, self.formulation
    channels = encoder_channels(n, self.features)
    h = _conv(channels[0], 5, form, dtype)(x.astype(dtype))
    skips = [h]
    for c in channels[1:]:
      h = _norm(_conv(c, 3, form, dtype)(nn.leaky_relu(h, 0.2)), dtype)
      skips.append(h)
    skips.pop()  # the innermost activation is h itself
    for i, c in enumerate(reversed(channels[:-1])):
      h = _norm(_up(c, 3, form, dtype)(nn.relu(h)), dtype)
      if self.dropout and i < 3:
        h = nn.Dropout(self.dropout, deterministic=not train)(h)
      h = jnp.concatenate([h, skips.pop()], axis=-1)
    h = _up(self.out_channels, 5, form, dtype)(nn.relu(h))
    return jnp.tanh(h).astype(jnp.float32)


class DualDiscriminator(nn.Module):
  """images [B, H, W, C] -> logits [B, H/64, W/64, 1] ('patch') or [B, 1] ('global')."""

  kind: str = "global"
  features: int = 64
  formulation: str = "auto"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = True):
    del train  # no dropout, no running statistics
    dtype, form = self.dtype, self.formulation
    h = nn.leaky_relu(_conv(self.features, 5, form, dtype)(x.astype(dtype)), 0.2)
    for mult in (2, 4, 8, 8):
      h = nn.leaky_relu(_norm(_conv(self.features * mult, 3, form, dtype)(h), dtype), 0.2)
    if self.kind == "patch":
      return _conv(1, 3, form, dtype)(h).astype(jnp.float32)
    h = h.reshape(h.shape[0], -1)
    return nn.Dense(1, kernel_init=nn.initializers.normal(0.02), dtype=dtype)(h).astype(jnp.float32)
