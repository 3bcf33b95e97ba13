"""A test-only family with three named steps on an interval schedule and a frozen net.

It is its own config file too: `--config=tests/toy_family.py:tiny` (config.family names this module
by its dotted path, as a family of a user's own would be named). The steps, on DCGAN's :tiny nets:
- `main` (every iteration): a D update, then a G update whose loss adds an L1 feature-matching term
  through a frozen random conv net (as AnimeGAN's VGG19 content loss uses a frozen net);
- `d_reg` (every `d_reg_every` iterations): a lazy R1 penalty on real images (StyleGAN2's);
- `g_reg` (every `g_reg_every` iterations): an L2 penalty on G's outputs.
`TRACES` counts how often each step is traced: the loop must trace each once.
"""

import collections

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from configs import dcgan as dcgan_config
from gan_jax import losses
from gan_jax.families import base, common, dcgan

TRACES = collections.Counter()
FROZEN_FEATURES = 24  # channels of the frozen net's 5x5 conv: a shape no trained net has
FROZEN_SEED = 1234


class FrozenFeatures(nn.Module):
  @nn.compact
  def __call__(self, x):
    return nn.Conv(FROZEN_FEATURES, (5, 5), strides=2, name="features")(x)


def frozen(config):
  """The frozen net's params, built deterministically (a real family may read them from a file)."""
  del config
  variables = FrozenFeatures().init(jax.random.key(FROZEN_SEED), jnp.zeros((1, 32, 32, 3)))
  return {"features": jax.tree.map(np.asarray, variables["params"])}


def _features(frozen_params, images):
  return FrozenFeatures().apply({"params": frozen_params["features"]}, images)


def _z(config, state, salt: int):
  key = jax.random.fold_in(jax.random.fold_in(state.rng, state.step), salt)
  return jax.random.normal(key, (config.batch_size, config.model.z_dim))


def main_step(config, state, batch, frozen):
  """DCGAN's step, with the frozen-feature term added to G's loss."""
  TRACES["main"] += 1
  g, d = dcgan._nets(config)  # noqa: SLF001 - the toy reuses DCGAN's nets
  g_tx, d_tx = dcgan._optimizers(config)  # noqa: SLF001
  adversarial = losses.get_adversarial_loss("non_saturating")
  real = common.to_float_images(batch["image"])
  z = _z(config, state, 0)

  def d_loss_fn(params):
    fake, _ = common.apply_net(g, state.g.params, state.g.batch_stats, z)
    real_logits, stats = common.apply_net(d, params, state.d.batch_stats, real)
    fake_logits, stats = common.apply_net(d, params, stats, fake)
    return adversarial.d_loss(real_logits, fake_logits), stats

  (d_loss, d_stats), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(state.d.params)
  d_state = common.apply_updates(state.d, d_tx, d_grads, d_stats)

  def g_loss_fn(params):
    fake, g_stats = common.apply_net(g, params, state.g.batch_stats, z)
    logits, _ = common.apply_net(d, d_state.params, d_stats, fake)
    feature = jnp.mean(jnp.abs(_features(frozen, fake) - _features(frozen, real)))
    return adversarial.g_loss(logits) + config.loss.feature_weight * feature, (g_stats, feature)

  (g_loss, (g_stats, feature)), g_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(
    state.g.params
  )
  g_state = common.apply_updates(state.g, g_tx, g_grads, g_stats)
  metrics = {"d_loss": d_loss, "g_loss": g_loss, "feature_loss": feature}
  return state.replace(g=g_state, d=d_state), metrics


def d_reg_step(config, state, batch, frozen):
  """R1: gamma / 2 * |grad_x D(x)|^2 on real images, weighted by the interval (lazy)."""
  del frozen
  TRACES["d_reg"] += 1
  _, d = dcgan._nets(config)  # noqa: SLF001
  _, d_tx = dcgan._optimizers(config)  # noqa: SLF001
  real = common.to_float_images(batch["image"])

  def r1_fn(params):
    critic = lambda x: jnp.sum(common.apply_net(d, params, state.d.batch_stats, x)[0])
    grads = jax.grad(critic)(real)
    penalty = jnp.mean(jnp.sum(jnp.square(grads), axis=(1, 2, 3)))
    return 0.5 * config.loss.r1_gamma * penalty * config.optim.d_reg_every, penalty

  (_, penalty), grads = jax.value_and_grad(r1_fn, has_aux=True)(state.d.params)
  d_state = common.apply_updates(state.d, d_tx, grads, state.d.batch_stats)
  return state.replace(d=d_state), {"r1": penalty}


def g_reg_step(config, state, batch, frozen):
  """An L2 penalty on G's outputs, weighted by the interval."""
  del batch, frozen
  TRACES["g_reg"] += 1
  g, _ = dcgan._nets(config)  # noqa: SLF001
  g_tx, _ = dcgan._optimizers(config)  # noqa: SLF001
  z = _z(config, state, 1)

  def penalty_fn(params):
    fake, _ = common.apply_net(g, params, state.g.batch_stats, z)
    penalty = jnp.mean(jnp.square(fake))
    return config.loss.g_reg_weight * penalty * config.optim.g_reg_every, penalty

  (_, penalty), grads = jax.value_and_grad(penalty_fn, has_aux=True)(state.g.params)
  g_state = common.apply_updates(state.g, g_tx, grads, state.g.batch_stats)
  return state.replace(g=g_state), {"g_reg": penalty}


def schedule(config, step: int) -> tuple[str, ...]:
  names = [base.MAIN]
  if step % config.optim.g_reg_every == 0:
    names.append("g_reg")
  if step % config.optim.d_reg_every == 0:
    names.append("d_reg")
  return tuple(names)


FAMILY = base.Family(
  name="toy",
  layout="unconditional",
  validate_config=dcgan.validate_config,
  create_state=dcgan.create_state,
  steps=lambda config: {base.MAIN: main_step, "d_reg": d_reg_step, "g_reg": g_reg_step},
  schedule=schedule,
  generate=dcgan.generate,
  sample_inputs=dcgan.sample_inputs,
  sample_images=dcgan.sample_images,
  frozen=frozen,
)


def get_config(arg=None):
  """configs/dcgan.py:tiny with this family and its regularizer settings."""
  c = dcgan_config.get_config("tiny" if arg in (None, "tiny") else arg)
  c.family = "tests.toy_family"
  c.model.d_norm = "none"  # R1's input gradient is per example
  c.optim.g_reg_every = 3
  c.optim.d_reg_every = 4
  c.loss.feature_weight = 1.0
  c.loss.r1_gamma = 1.0
  c.loss.g_reg_weight = 0.1
  return c
