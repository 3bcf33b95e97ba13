"""What every family's state and step share: a network's state, its init, apply and update."""

from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

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
