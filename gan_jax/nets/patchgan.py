"""PatchGAN discriminators (Isola et al. 2017, Sec. 3.2.2), as the reference implementation
(junyanz/pytorch-CycleGAN-and-pix2pix, `NLayerDiscriminator`, `PixelDiscriminator`) builds them.

n_layers = 3 is the 70x70 PatchGAN: conv(ndf, s2) -> LeakyReLU, then n_layers - 1 stride-2 and one
stride-1 conv -> norm -> LeakyReLU with ndf * min(2^n, 8) channels, then a stride-1 conv to one
logit per patch; all 4x4 with padding 1 (a 256 px input gives a 30x30 map). `pixel` is the 1x1
PixelGAN. The first and last convs have a bias; the others only with instance norm.
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.nets import layers, norms

_PAD = ((1, 1), (1, 1))


class PatchDiscriminator(nn.Module):
  """images [B, H, W, C] -> logits [B, H', W', 1] (n_layers >= 1) or [B, H, W, 1] ('pixel')."""

  n_layers: int | str = 3
  features: int = 64
  norm: str = "batch"
  init_std: float = 0.02
  formulation: str = "auto"
  dtype: Any = jnp.float32

  def _conv(self, features, kernel, stride, padding, use_bias):
    return layers.conv(self, layers.StridedConv, features, kernel, stride, padding, use_bias)

  @nn.compact
  def __call__(self, x, train: bool = True):
    bias = norms.uses_bias(self.norm)
    norm = lambda h: norms.normalize(h, self.norm, train, self.init_std, self.dtype)
    h = x.astype(self.dtype)
    if self.n_layers == "pixel":
      h = nn.leaky_relu(self._conv(self.features, 1, 1, 0, True)(h), 0.2)
      h = nn.leaky_relu(norm(self._conv(2 * self.features, 1, 1, 0, bias)(h)), 0.2)
      return self._conv(1, 1, 1, 0, bias)(h).astype(jnp.float32)
    h = nn.leaky_relu(self._conv(self.features, 4, 2, _PAD, True)(h), 0.2)
    for n in range(1, self.n_layers + 1):
      stride = 2 if n < self.n_layers else 1
      h = self._conv(self.features * min(2**n, 8), 4, stride, _PAD, bias)(h)
      h = nn.leaky_relu(norm(h), 0.2)
    return self._conv(1, 4, 1, _PAD, True)(h).astype(jnp.float32)
