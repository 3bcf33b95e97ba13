"""Normalisation layers as the reference implementations configure them.

- 'batch': PyTorch BatchNorm2d(affine=True, track_running_stats=True) with the reference init
  (scale ~ N(1, 0.02), bias 0), momentum 0.1; like PyTorch, the running variance averages the
  unbiased batch variance while the batch itself is normalised with the biased one.
- 'instance': InstanceNorm2d(affine=False, track_running_stats=False): no params, no statistics.
- 'layer': per-example over H, W and C (Gulrajani et al.'s critic for WGAN-GP).
- 'none'.

Batch and instance norm (also DualGAN's affine one) share `standardize`, whose backward pass is
written out: the input, scale and bias gradients all follow from two sums, of dy and of
dy * x_hat, and one elementwise pass, where autodiff of the forward formula leaves XLA more
reductions to fuse. Variables keep Flax's names (params `scale`, `bias`; batch_stats `mean`,
`var`) and module names, so checkpoints are those of `nn.BatchNorm` and `nn.InstanceNorm`.
"""

import functools
import math
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


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def standardize(x, scale, bias, axes: tuple[int, ...], eps: float):
  """(x - mean) / sqrt(var + eps) * scale + bias, the statistics over `axes` of NHWC `x`.

  Computed in float32 whatever x's dtype (the result has x's dtype). `scale` and `bias` broadcast
  against x (shape [C] for batch norm), or are None (no affine params). The variance is the biased
  one, E[x^2] - E[x]^2 (Flax's fast variance). Returns (y, mean, var), mean and var with `axes`
  kept as size-1 dimensions; they are statistics for running averages, and their cotangents are
  ignored: pass them through `jax.lax.stop_gradient` before use.
  """
  return _standardize_fwd(x, scale, bias, axes, eps)[0]


def _standardize_fwd(x, scale, bias, axes, eps):
  xf = x.astype(jnp.float32)
  mean = jnp.mean(xf, axes, keepdims=True)
  var = jnp.maximum(jnp.mean(jnp.square(xf), axes, keepdims=True) - jnp.square(mean), 0.0)
  rstd = jax.lax.rsqrt(var + eps)
  y = _scale_shift(xf, mean, rstd, scale, bias).astype(x.dtype)
  return (y, mean, var), (x, mean, rstd, scale, bias)


def _gain(rstd, scale):
  return rstd if scale is None else rstd * scale


def _scale_shift(xf, mean, rstd, scale, bias):
  """(xf - mean) * rstd * scale + bias, scale and bias optional."""
  y = (xf - mean) * _gain(rstd, scale)
  return y if bias is None else y + bias


def _standardize_bwd(axes, eps, residuals, cotangents):
  del eps
  x, mean, rstd, scale, bias = residuals
  dy = cotangents[0].astype(jnp.float32)
  x_hat = (x.astype(jnp.float32) - mean) * rstd
  sum_dy = jnp.sum(dy, axes, keepdims=True)
  sum_dy_x_hat = jnp.sum(dy * x_hat, axes, keepdims=True)
  n = math.prod(x.shape[a] for a in axes)
  dx = _gain(rstd, scale) * (dy - (sum_dy + x_hat * sum_dy_x_hat) / n)
  return dx.astype(x.dtype), _unbroadcast(sum_dy_x_hat, scale), _unbroadcast(sum_dy, bias)


def _unbroadcast(total, param):
  """Sums `total` down to `param`'s shape: over the dims along which `param` was broadcast."""
  if param is None:
    return None
  total = jnp.sum(total, tuple(range(total.ndim - param.ndim)))
  dims = tuple(i for i, n in enumerate(param.shape) if n == 1 and total.shape[i] != 1)
  return jnp.sum(total, dims, keepdims=True).astype(param.dtype)


standardize.defvjp(_standardize_fwd, _standardize_bwd)


def instance_norm(x, eps: float = 1e-5):
  """Per-example, per-channel standardisation over H and W of NHWC `x`, no affine params."""
  return standardize(x, None, None, (1, 2), eps)[0]


class _AffineNorm(nn.Module):
  """Per-channel scale (from `scale_init`) and bias (zeros), as Flax's norms name them."""

  epsilon: float = 1e-5
  scale_init: Any = nn.initializers.ones

  def affine_params(self, channels: int):
    scale = self.param("scale", self.scale_init, (channels,))
    return scale, self.param("bias", nn.initializers.zeros, (channels,))


class InstanceNorm(_AffineNorm):
  """Instance norm with per-channel affine params (DualGAN's); `normalize`'s 'instance' has none."""

  @nn.compact
  def __call__(self, x):
    scale, bias = self.affine_params(x.shape[-1])
    return standardize(x, scale, bias, (1, 2), self.epsilon)[0]


class BatchNorm(_AffineNorm):
  """Batch norm over N, H, W of NHWC inputs, with running statistics (momentum 0.1, PyTorch's)."""

  use_running_average: bool = False
  momentum: float = 0.1  # PyTorch's convention: running = (1 - m) * running + m * batch

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    scale, bias = self.affine_params(c)
    ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((c,), jnp.float32))
    ra_var = self.variable("batch_stats", "var", lambda: jnp.ones((c,), jnp.float32))
    if self.use_running_average:
      rstd = jax.lax.rsqrt(ra_var.value + self.epsilon)
      return _scale_shift(x.astype(jnp.float32), ra_mean.value, rstd, scale, bias).astype(x.dtype)
    axes = tuple(range(x.ndim - 1))
    y, mean, var = standardize(x, scale, bias, axes, self.epsilon)
    if not self.is_initializing():
      n = math.prod(x.shape[:-1])
      mean, var = jax.lax.stop_gradient((mean.reshape(c), var.reshape(c) * (n / max(n - 1, 1))))
      ra_mean.value = (1 - self.momentum) * ra_mean.value + self.momentum * mean
      ra_var.value = (1 - self.momentum) * ra_var.value + self.momentum * var
    return y


def normalize(x, kind: str, train: bool, init_std: float = 0.02, dtype: Any = jnp.float32):
  """Applies the norm `kind` to NHWC `x`; call inside a compact module (it may create params)."""
  if kind == "batch":
    return BatchNorm(use_running_average=not train, scale_init=normal_around_one(init_std))(x)
  if kind == "instance":
    return instance_norm(x).astype(dtype)
  if kind == "layer":
    return nn.LayerNorm(reduction_axes=(1, 2, 3), dtype=dtype)(x)
  if kind == "none":
    return x
  raise ValueError(f"unknown norm {kind!r}; choices: {', '.join(NORMS)}")


def uses_bias(kind: str) -> bool:
  """The reference gives convs before a norm a bias only for instance norm (which has no affine
  params); with batch norm the bias is redundant, and with 'none' the reference also omits it."""
  return kind == "instance"
