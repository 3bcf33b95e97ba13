"""DCGAN generator and discriminator (Radford et al. 2015, Sec. 3 and Fig. 1).

G: z -> 4x4 -> 8x8 -> ... -> image (stride-2 transposed convs, batch norm and ReLU, tanh output).
D: image -> ... -> 4x4 -> one logit (stride-2 convs, LeakyReLU 0.2, batch norm except on the input
layer). Channels double per layer towards 4x4, from `features` at the image end, as in the reference
PyTorch example (ngf = ndf = 64 at 64x64). Convs have no bias: batch norm follows each of them.
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.nets import layers, norms

NORMS = ("batch", "layer", "none")  # those the DCGAN discriminator offers


def num_stages(image_size: int) -> int:
  """Stride-2 layers between 4x4 and `image_size` (32 -> 3, 64 -> 4, 128 -> 5)."""
  stages = image_size.bit_length() - 3
  if image_size < 32 or image_size != 4 << stages:
    raise ValueError(f"DCGAN image size must be a power of two >= 32, got {image_size}")
  return stages


class Generator(nn.Module):
  """z [B, z_dim] -> images [B, S, S, 3] in [-1, 1]."""

  image_size: int = 64
  features: int = 64
  init_std: float = 0.02
  formulation: str = "auto"  # see nets/layers.py
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, train: bool = True):
    stages = num_stages(self.image_size)
    kernel_init = nn.initializers.normal(self.init_std)
    width = self.features << (stages - 1)
    # The reference's first layer is a 4x4 transposed conv on a 1x1 input: a dense layer to 4x4xC.
    x = nn.Dense(4 * 4 * width, use_bias=False, kernel_init=kernel_init, dtype=self.dtype)(z)
    x = x.reshape(z.shape[0], 4, 4, width)
    x = nn.relu(norms.normalize(x, "batch", train, self.init_std, self.dtype))
    for stage in range(stages):
      last = stage == stages - 1
      width = 3 if last else width // 2
      # Kernel 4, stride 2, PyTorch padding 1 == lax padding k - 1 - p = 2: doubles H and W.
      x = layers.UpConv(
        width,
        4,
        2,
        ((2, 2), (2, 2)),
        use_bias=False,
        kernel_init=kernel_init,
        formulation=self.formulation,
        dtype=self.dtype,
      )(x)
      x = (
        jnp.tanh(x)
        if last
        else nn.relu(norms.normalize(x, "batch", train, self.init_std, self.dtype))
      )
    return x.astype(jnp.float32)


class Discriminator(nn.Module):
  """images [B, S, S, 3] -> logits [B]."""

  image_size: int = 64
  features: int = 64
  norm: str = "batch"
  init_std: float = 0.02
  formulation: str = "auto"  # see nets/layers.py
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, images, train: bool = True):
    kernel_init = nn.initializers.normal(self.init_std)
    x = images.astype(self.dtype)
    for stage in range(num_stages(self.image_size)):
      x = layers.StridedConv(
        self.features << stage,
        4,
        2,
        ((1, 1), (1, 1)),
        use_bias=False,
        kernel_init=kernel_init,
        formulation=self.formulation,
        dtype=self.dtype,
      )(x)
      if stage > 0:  # Radford Sec. 3: no batch norm on the discriminator's input layer
        x = norms.normalize(x, self.norm, train, self.init_std, self.dtype)
      x = nn.leaky_relu(x, 0.2)
    x = nn.Conv(
      1, (4, 4), padding="VALID", use_bias=False, kernel_init=kernel_init, dtype=self.dtype
    )(x)
    return x.reshape(x.shape[0]).astype(jnp.float32)
