"""ResNet generator of CycleGAN (Zhu et al. 2017, App. 7.2, after Johnson et al. 2016), as the
reference implementation (junyanz/pytorch-CycleGAN-and-pix2pix, `ResnetGenerator`) builds it.

c7s1-64, d128, d256, R256 x n_blocks, u128, u64, c7s1-3:
  reflect pad 3 -> 7x7 conv (ngf) -> norm -> ReLU;
  two 3x3 stride-2 convs (2ngf, 4ngf) -> norm -> ReLU;
  n_blocks residual blocks: reflect pad 1 -> 3x3 conv -> norm -> ReLU [-> dropout] -> reflect pad 1
    -> 3x3 conv -> norm, added to the block's input;
  two 3x3 stride-2 transposed convs (PyTorch padding 1, output_padding 1: 2ngf, ngf) -> norm ->
    ReLU;
  reflect pad 3 -> 7x7 conv (3, with bias) -> tanh.
Convs before a norm have a bias only with instance norm (norms.uses_bias). The paper uses 6 blocks
at 128 px and 9 at 256 px; the reference defaults to 9.
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.nets import layers, norms

# Kernel 3, stride 2, PyTorch padding 1 (and output_padding 1 for the transposed conv).
_DOWN_PAD = ((1, 1), (1, 1))
_UP_PAD = ((1, 2), (1, 2))


def reflect_pad(x, pad: int):
  """ReflectionPad2d(pad) on NHWC."""
  return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")


class ResnetGenerator(nn.Module):
  """[B, H, W, C_in] -> [B, H, W, out_channels] in [-1, 1]; H, W multiples of 4."""

  num_blocks: int = 9
  features: int = 64
  out_channels: int = 3
  norm: str = "instance"
  dropout: float = 0.0  # the reference's CycleGAN sets --no_dropout; 0.5 when enabled
  init_std: float = 0.02
  formulation: str = "auto"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = True):
    bias = norms.uses_bias(self.norm)
    norm = lambda h: norms.normalize(h, self.norm, train, self.init_std, self.dtype)
    conv = lambda f, k, b: layers.conv(self, layers.StridedConv, f, k, 1, 0, b)
    ngf = self.features
    h = x.astype(self.dtype)
    h = nn.relu(norm(conv(ngf, 7, bias)(reflect_pad(h, 3))))
    for mult in (2, 4):
      h = nn.relu(norm(layers.conv(self, layers.StridedConv, ngf * mult, 3, 2, _DOWN_PAD, bias)(h)))
    for _ in range(self.num_blocks):
      r = nn.relu(norm(conv(4 * ngf, 3, bias)(reflect_pad(h, 1))))
      if self.dropout:
        r = nn.Dropout(self.dropout, deterministic=not train)(r)
      h = h + norm(conv(4 * ngf, 3, bias)(reflect_pad(r, 1)))
    for mult in (2, 1):
      h = nn.relu(norm(layers.conv(self, layers.UpConv, ngf * mult, 3, 2, _UP_PAD, bias)(h)))
    h = conv(self.out_channels, 7, True)(reflect_pad(h, 3))
    return jnp.tanh(h).astype(jnp.float32)
