"""Pieces every family's state and step share."""

from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

from gan_jax.errors import ConfigError

# config.model.dtype -> the compute dtype of the nets (params stay float32).
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


@flax.struct.dataclass
class NetState:
  """One network's trainable state: params, batch-norm statistics (maybe empty) and optimizer."""

  params: Any
  batch_stats: Any
  opt_state: Any


def init_net(module, tx: optax.GradientTransformation, rng: jax.Array, *inputs) -> NetState:
  """Initialises `module` on `inputs` (shapes only matter) and its optimizer."""
  variables = module.init(rng, *inputs)
  params = variables["params"]
  return NetState(
    params=params, batch_stats=variables.get("batch_stats", {}), opt_state=tx.init(params)
  )


def apply_net(module, params, batch_stats, *inputs, train: bool = True, rngs=None):
  """Runs `module` in train or eval mode; returns (outputs, updated batch_stats).

  In train mode batch norm normalises with the batch's statistics and updates the running ones; a
  module without batch norm returns `batch_stats` unchanged (an empty dict). `rngs` feeds dropout.
  """
  variables = {"params": params, "batch_stats": batch_stats}
  if train and batch_stats:
    out, updated = module.apply(variables, *inputs, train=True, mutable=["batch_stats"], rngs=rngs)
    return out, updated["batch_stats"]
  return module.apply(variables, *inputs, train=train, rngs=rngs), batch_stats


def translate_images(module, params, batch_stats, images, rng, train: bool):
  """A generator over a batch of source images as the references test: one image at a time.

  Their test scripts force batch size 1, so in train mode (the default way they test) batch norm
  normalises each image with its own statistics, and dropout draws a fresh mask per image. Here
  each image is a batch of one under `jax.vmap`: an image's output does not depend on the others
  in its batch or on the batch size. In eval mode (`train` False) the running statistics are used.
  """
  if not train:
    return apply_net(module, params, batch_stats, images, train=False)[0]

  def one(image, key):
    out, _ = apply_net(module, params, batch_stats, image[None], train=True, rngs={"dropout": key})
    return out[0]

  return jax.vmap(one)(images, jax.random.split(rng, images.shape[0]))


def apply_updates(net: NetState, tx: optax.GradientTransformation, grads, batch_stats) -> NetState:
  updates, opt_state = tx.update(grads, net.opt_state, net.params)
  return NetState(
    params=optax.apply_updates(net.params, updates), batch_stats=batch_stats, opt_state=opt_state
  )


def to_float_images(images: jax.Array) -> jax.Array:
  """uint8 [0, 255] (as the input pipeline ships them, 4x less to transfer) -> float32 [-1, 1]."""
  return images.astype(jnp.float32) * (2.0 / 255.0) - 1.0


def grid_columns(n: int) -> int:
  """The largest divisor of n not above ceil(sqrt(n)): 64 -> 8, 16 -> 4, 10 -> 2."""
  limit = max(1, int(-(-(n**0.5) // 1)))
  return max(d for d in range(1, limit + 1) if n % d == 0)


def constant_then_linear_decay(lr: float, constant_steps: int, decay_steps: int):
  """The translation references' schedule (n_epochs at lr, then n_epochs_decay linearly to 0),
  counted in steps: lr for `constant_steps`, then linearly down to 0 over `decay_steps`."""
  if decay_steps <= 0:
    return optax.constant_schedule(lr)
  return optax.join_schedules(
    [optax.constant_schedule(lr), optax.linear_schedule(lr, 0.0, decay_steps)], [constant_steps]
  )


def adam_pair(config):
  """The translation references' optimizers for G and D: Adam(lr, b1, b2) on the constant then
  linear-decay schedule of config.optim (g_lr, d_lr, b1, b2, constant_steps, decay_steps)."""
  o = config.optim
  schedule = lambda lr: constant_then_linear_decay(lr, o.constant_steps, o.decay_steps)
  return optax.adam(schedule(o.g_lr), o.b1, o.b2), optax.adam(schedule(o.d_lr), o.b1, o.b2)


def unet_depth(config, min_size: int) -> int:
  """config.model.generator 'unet_<size>' -> its down steps (unet_256: 8, 256 -> 1 px)."""
  name = config.model.generator
  size = int(name[5:]) if name.startswith("unet_") and name[5:].isdigit() else 0
  if size < min_size or size & (size - 1):
    raise ConfigError(
      f"config.model.generator={name!r}: expected unet_<size> with size a power of two >= "
      f"{min_size} (the references' unet_256 and unet_128, or e.g. unet_64)"
    )
  return size.bit_length() - 1
