"""Normalisation layers as the reference implementations configure them.

- 'batch': PyTorch BatchNorm2d(affine=True, track_running_stats=True) with the reference init
  (scale ~ N(1, 0.02), bias 0); PyTorch's momentum 0.1 is Flax's 0.9.
- 'instance': InstanceNorm2d(affine=False, track_running_stats=False): no params, no statistics.
- 'layer': per-example over H, W and C (Gulrajani et al.'s critic for WGAN-GP).
- 'none'.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

NORMS = ("batch", "instance", "layer", "none")


def normal_around_one(std: float):
  """Initializer N(1, std): the reference's init for batch-norm scales."""

  def init(key, shape, dtype=jnp.float32):
    return 1.0 + std * jax.random.normal(key, shape, dtype)

  return init


def normalize(x, kind: str, train: bool, init_std: float = 0.02, dtype: Any = jnp.float32):
  """Applies the norm `kind` to NHWC `x`; call inside a compact module (it may create params)."""
  if kind == "batch":
    return nn.BatchNorm(
      use_running_average=not train,
      momentum=0.9,
      epsilon=1e-5,
      scale_init=normal_around_one(init_std),
      dtype=dtype,
    )(x)
  if kind == "instance":
    return nn.InstanceNorm(epsilon=1e-5, use_scale=False, use_bias=False, dtype=dtype)(x)
  if kind == "layer":
    return nn.LayerNorm(reduction_axes=(1, 2, 3), dtype=dtype)(x)
  if kind == "none":
    return x
  raise ValueError(f"unknown norm {kind!r}; choices: {', '.join(NORMS)}")


def uses_bias(kind: str) -> bool:
  """The reference gives convs before a norm a bias only for instance norm (which has no affine
  params); with batch norm the bias is redundant, and with 'none' the reference also omits it."""
  return kind == "instance"
