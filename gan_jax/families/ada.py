"""Adaptive discriminator augmentation (Karras et al. 2020, "Training Generative Adversarial
Networks with Limited Data"), as NVlabs/stylegan2-ada-pytorch runs it (train.py --aug, --p,
--target, --augpipe; training/training_loop.py's ADA heuristic), for the StyleGAN families.

Every image D sees (reals, fakes, and the reals R1 differentiates through) passes the augment
pipe with probability p per op. With `aug.mode=ada`, D's sign on the reals is summed over
`aug.interval` iterations, and p then moves by interval * batch / (kimg * 1000) toward the side
that brings the mean sign to `aug.target` (0.6): p goes from 0 to 1 in `aug.kimg` thousand images
at the most. p and the running sums live in the training state, so checkpoints carry them.
"""

import flax
import jax
import jax.numpy as jnp

from gan_jax.config import check_choice
from gan_jax.errors import ConfigError
from gan_jax.nets import augment as pipes

MODES = ("noaug", "fixed", "ada")


@flax.struct.dataclass
class Ada:
  p: jax.Array  # float32 scalar: the augment probability
  signs: jax.Array  # float32 scalar: the sum of sign(D(real)) since p last moved
  count: jax.Array  # float32 scalar: how many signs that sum holds


def validate_config(config) -> None:
  aug = config.aug
  check_choice(config, "aug.mode", MODES)
  check_choice(config, "aug.pipe", tuple(pipes.PIPES))
  if not 0.0 <= aug.p <= 1.0:
    raise ConfigError(f"config.aug.p must be in [0, 1], got {aug.p}")
  if aug.mode != "fixed" and aug.p:
    raise ConfigError(
      f"config.aug.p={aug.p} is for config.aug.mode=fixed only (mode {aug.mode!r}: "
      + ("p starts at 0 and adapts)" if aug.mode == "ada" else "no augmentation)")
    )
  if aug.mode == "ada":
    if not 0.0 < aug.target <= 1.0:
      raise ConfigError(f"config.aug.target must be in (0, 1], got {aug.target}")
    if aug.interval < 1 or aug.kimg <= 0:
      raise ConfigError(
        f"config.aug.interval ({aug.interval}) must be >= 1 and config.aug.kimg ({aug.kimg}) > 0"
      )


def init(config) -> Ada:
  zero = jnp.zeros((), jnp.float32)
  return Ada(p=jnp.asarray(config.aug.p, jnp.float32), signs=zero, count=zero)


def augment(config, ada: Ada, images, key):
  """What D sees of `images` (NHWC in [-1, 1]): the config's pipe at probability ada.p."""
  if config.aug.mode == "noaug":
    return images
  return pipes.augment(images, ada.p, key, pipe=config.aug.pipe)


def accumulate(config, ada: Ada, real_logits) -> Ada:
  """Adds D's signs on an iteration's reals (the reference's Loss/signs/real)."""
  if config.aug.mode != "ada":
    return ada
  signs = ada.signs + jnp.sum(jnp.sign(real_logits)).astype(jnp.float32)
  return ada.replace(signs=signs, count=ada.count + real_logits.size)


def adjust(config, ada: Ada, step) -> Ada:
  """The sign heuristic, due after iteration `step` (counted from 0) when step % aug.interval is
  0: p moves by interval * batch / (kimg * 1000) toward the mean sign's target, and stays >= 0.
  The reference moves p after the iteration's last phase; a family calls this at the start of
  the next iteration's first phase, with that iteration's step - 1, which is the same."""
  if config.aug.mode != "ada":
    return ada
  aug = config.aug
  mean = ada.signs / jnp.maximum(ada.count, 1.0)
  step_size = config.batch_size * aug.interval / (aug.kimg * 1000)
  p = jnp.maximum(ada.p + jnp.sign(mean - aug.target) * step_size, 0.0).astype(jnp.float32)
  due = (step >= 0) & (step % aug.interval == 0)
  zero = jnp.zeros((), jnp.float32)
  return Ada(
    p=jnp.where(due, p, ada.p),
    signs=jnp.where(due, zero, ada.signs),
    count=jnp.where(due, zero, ada.count),
  )
