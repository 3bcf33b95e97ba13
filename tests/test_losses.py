"""Adversarial losses and the gradient penalty on hand-built inputs."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import losses
from gan_jax.errors import ConfigError

REAL = jnp.array([2.0, -1.0])
FAKE = jnp.array([0.5, -3.0])


def _log_sigmoid(x):
  return math.log(1.0 / (1.0 + math.exp(-x)))


def test_bce_d_loss_is_goodfellow_eq1():
  # D maximises log D(x) + log(1 - D(G(z))); the loss is its negation, averaged per term.
  expected = -np.mean([_log_sigmoid(r) for r in REAL]) - np.mean([_log_sigmoid(-f) for f in FAKE])
  for name in ("minimax", "non_saturating"):
    got = losses.get_adversarial_loss(name).d_loss(REAL, FAKE)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_generator_losses():
  sig = lambda x: 1.0 / (1.0 + math.exp(-x))
  minimax = np.mean([math.log(1.0 - sig(f)) for f in FAKE])
  non_saturating = -np.mean([math.log(sig(f)) for f in FAKE])
  cases = {
    "minimax": minimax,
    "non_saturating": non_saturating,
    "lsgan": np.mean([(f - 1.0) ** 2 for f in FAKE]),
    "hinge": -np.mean(FAKE),
    "wgan-gp": -np.mean(FAKE),
  }
  for name, expected in cases.items():
    np.testing.assert_allclose(losses.get_adversarial_loss(name).g_loss(FAKE), expected, rtol=1e-6)


def test_d_losses_lsgan_hinge_wasserstein():
  cases = {
    "lsgan": np.mean([(r - 1.0) ** 2 for r in REAL]) + np.mean([f**2 for f in FAKE]),
    "hinge": np.mean([max(0.0, 1.0 - r) for r in REAL])
    + np.mean([max(0.0, 1.0 + f) for f in FAKE]),
    "wgan-gp": np.mean(FAKE) - np.mean(REAL),
  }
  for name, expected in cases.items():
    np.testing.assert_allclose(
      losses.get_adversarial_loss(name).d_loss(REAL, FAKE), expected, rtol=1e-6
    )


def test_bce_stays_finite_for_huge_logits():
  loss = losses.get_adversarial_loss("non_saturating")
  assert np.isfinite(loss.d_loss(jnp.array([1e4]), jnp.array([-1e4])))
  assert np.isfinite(loss.g_loss(jnp.array([-1e4])))


def test_gradient_penalty_of_a_linear_critic():
  # critic(x) = sum(a * x): its input gradient is `a` everywhere, so the penalty is (|a| - 1)^2.
  a = jnp.full((1, 2, 2, 1), 0.75)
  critic = lambda x: jnp.sum(a * x, axis=(1, 2, 3))
  real, fake = jnp.ones((3, 2, 2, 1)), jnp.zeros((3, 2, 2, 1))
  penalty = losses.gradient_penalty(critic, real, fake, jax.random.key(0))
  np.testing.assert_allclose(penalty, (float(jnp.linalg.norm(a)) - 1.0) ** 2, rtol=1e-5)


def test_gradient_penalty_of_unit_lipschitz_critic_is_zero():
  critic = lambda x: x.reshape(x.shape[0], -1)[:, 0]  # gradient norm exactly 1
  real, fake = jnp.ones((4, 3, 3, 2)), -jnp.ones((4, 3, 3, 2))
  assert float(losses.gradient_penalty(critic, real, fake, jax.random.key(1))) < 1e-8


def test_unknown_loss_lists_choices():
  with pytest.raises(ConfigError, match="minimax, non_saturating, lsgan, hinge, wgan-gp"):
    losses.get_adversarial_loss("wasserstein")
