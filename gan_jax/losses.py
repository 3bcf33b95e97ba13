"""Adversarial losses and regularisers shared by the families.

Each adversarial loss is a pair of functions of discriminator logits (raw, unbounded outputs):
`d_loss(real_logits, fake_logits)` and `g_loss(fake_logits)`, both means over every element, so
patch discriminators (one logit per patch) and image discriminators use the same code. Families
scale them (e.g. pix2pix and CycleGAN halve D's loss) where their reference does.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from gan_jax.errors import ConfigError


class AdversarialLoss(NamedTuple):
  d_loss: Callable[[jax.Array, jax.Array], jax.Array]
  g_loss: Callable[[jax.Array], jax.Array]


def _bce_d(real, fake):
  # -log sigmoid(r) - log(1 - sigmoid(f)), written with softplus to stay finite for large logits.
  return jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake))


def _minimax_g(fake):
  # Goodfellow eq. 1 as written: G minimises log(1 - D(G(z))) = -softplus(f).
  return -jnp.mean(jax.nn.softplus(fake))


def _non_saturating_g(fake):
  # Goodfellow Sec. 3: G maximises log D(G(z)), i.e. minimises -log sigmoid(f) = softplus(-f).
  return jnp.mean(jax.nn.softplus(-fake))


def _lsgan_d(real, fake):
  # Mao et al. 2017 with a=0, b=c=1 (the CycleGAN reference's MSE targets).
  return jnp.mean(jnp.square(real - 1.0)) + jnp.mean(jnp.square(fake))


def _lsgan_g(fake):
  return jnp.mean(jnp.square(fake - 1.0))


def _hinge_d(real, fake):
  return jnp.mean(jax.nn.relu(1.0 - real)) + jnp.mean(jax.nn.relu(1.0 + fake))


def _wasserstein_d(real, fake):
  return jnp.mean(fake) - jnp.mean(real)


def _wasserstein_g(fake):
  return -jnp.mean(fake)


ADVERSARIAL_LOSSES = {
  "minimax": AdversarialLoss(_bce_d, _minimax_g),
  "non_saturating": AdversarialLoss(_bce_d, _non_saturating_g),
  "lsgan": AdversarialLoss(_lsgan_d, _lsgan_g),
  "hinge": AdversarialLoss(_hinge_d, _wasserstein_g),
  # The critic loss of Gulrajani et al. 2017; the family adds `gradient_penalty`.
  "wgan-gp": AdversarialLoss(_wasserstein_d, _wasserstein_g),
}


def get_adversarial_loss(name: str) -> AdversarialLoss:
  if name not in ADVERSARIAL_LOSSES:
    raise ConfigError(
      f"unknown config.loss.adversarial {name!r}; choices: {', '.join(ADVERSARIAL_LOSSES)}"
    )
  return ADVERSARIAL_LOSSES[name]


def gradient_penalty(
  critic: Callable[[jax.Array], jax.Array], real: jax.Array, fake: jax.Array, rng: jax.Array
) -> jax.Array:
  """WGAN-GP's penalty (Gulrajani et al. 2017, eq. 3): E[(||grad_x critic(x)||_2 - 1)^2].

  Args:
    critic: images [B, H, W, C] -> logits; gradients flow to its params through this call.
    real, fake: image batches of the same shape.
    rng: key for the per-example interpolation weights.

  Returns:
    The scalar penalty (not yet weighted).
  """
  eps = jax.random.uniform(rng, (real.shape[0],) + (1,) * (real.ndim - 1), real.dtype)
  mixed = eps * real + (1.0 - eps) * fake
  # Summing over the batch gives each example's gradient w.r.t. its own input, as long as the
  # critic treats examples independently (no batch norm: see configs/dcgan.py, model.d_norm).
  grads = jax.grad(lambda x: jnp.sum(critic(x)))(mixed)
  norms = jnp.sqrt(jnp.sum(jnp.square(grads), axis=tuple(range(1, grads.ndim))) + 1e-12)
  return jnp.mean(jnp.square(norms - 1.0))
