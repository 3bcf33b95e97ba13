"""U-Net generator of pix2pix (Isola et al. 2017, Sec. 3.2.1 and App. 6.1.1), as the reference
implementation (junyanz/pytorch-CycleGAN-and-pix2pix, `UnetGenerator`) builds it.

`num_downs` 4x4 stride-2 convs take the image down to 1x1 (unet_256: 8, unet_128: 7), channels
ngf, 2ngf, 4ngf, then 8ngf; transposed convs bring it back, each up step concatenated with the
activation that entered the matching down step. Down steps: LeakyReLU(0.2) -> conv -> norm (no
activation before the first conv, no norm on the first and innermost). Up steps: ReLU -> transposed
conv -> norm, with dropout 0.5 (pix2pix's only noise source) after the norm in the num_downs - 5 up
steps nearest the innermost; the outermost up step has no norm, a bias and tanh.
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.nets import layers, norms

# Kernel 4, stride 2, PyTorch padding 1: halves (conv) or doubles (transposed conv) H and W.
_DOWN_PAD = ((1, 1), (1, 1))
_UP_PAD = ((2, 2), (2, 2))


def unet_channels(num_downs: int, features: int) -> list[int]:
  """Channels after each down step: ngf, 2ngf, 4ngf, then 8ngf for the rest."""
  return [features * min(2**i, 8) for i in range(num_downs)]


class UNet(nn.Module):
  """[B, H, W, C_in] -> [B, H, W, out_channels] in [-1, 1]; H, W multiples of 2^num_downs."""

  num_downs: int = 8
  features: int = 64
  out_channels: int = 3
  norm: str = "batch"
  dropout: float = 0.5  # 0 to disable (the reference's --no_dropout)
  init_std: float = 0.02
  formulation: str = "auto"
  dtype: Any = jnp.float32

  def _conv(self, cls, features, padding, use_bias):
    return layers.conv(self, cls, features, 4, 2, padding, use_bias)

  @nn.compact
  def __call__(self, x, train: bool = True):
    n = self.num_downs
    if n < 5:
      raise ValueError(f"a U-Net needs num_downs >= 5 (the reference's minimum), got {n}")
    channels = unet_channels(n, self.features)
    bias = norms.uses_bias(self.norm)
    norm = lambda h: norms.normalize(h, self.norm, train, self.init_std, self.dtype)
    skips = []
    h = x.astype(self.dtype)
    for i in range(n):
      skips.append(h)
      if i > 0:
        h = nn.leaky_relu(h, 0.2)
      h = self._conv(layers.StridedConv, channels[i], _DOWN_PAD, bias)(h)
      if 0 < i < n - 1:
        h = norm(h)
    for i in reversed(range(n)):
      h = nn.relu(h)
      if i == 0:
        h = self._conv(layers.UpConv, self.out_channels, _UP_PAD, True)(h)
        return jnp.tanh(h).astype(jnp.float32)
      h = norm(self._conv(layers.UpConv, channels[i - 1], _UP_PAD, bias)(h))
      if self.dropout and 4 <= i < n - 1:
        h = nn.Dropout(self.dropout, deterministic=not train)(h)
      h = jnp.concatenate([skips[i], h], axis=-1)
