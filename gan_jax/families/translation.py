"""What the translation families share (pix2pix, CycleGAN, DualGAN): the references' learning-rate
schedule and optimizers, and U-Net depths from generator names."""

import optax

from gan_jax.errors import ConfigError


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
