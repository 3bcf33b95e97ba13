"""The original GAN objective (Goodfellow et al. 2014) on DCGAN nets (Radford et al. 2015).

One step: one D update, then one G update against the updated D (the family contract:
families/base.py).
"""

import flax
import jax
import jax.numpy as jnp
import optax

from gan_jax import losses
from gan_jax.config import check_choice
from gan_jax.errors import ConfigError
from gan_jax.families import base, common
from gan_jax.nets import dcgan as nets
from gan_jax.nets import layers


@flax.struct.dataclass
class State:
  step: jax.Array  # int32 scalar: updates done so far (the loop's)
  rng: jax.Array  # base key; step t uses fold_in(rng, t), so resuming needs nothing else
  g: common.NetState
  d: common.NetState


def validate_config(config) -> None:
  try:
    nets.num_stages(config.image_size)
  except ValueError as e:
    raise ConfigError(f"config.image_size: {e}") from None
  if config.data.eval_size not in (0, config.image_size):
    raise ConfigError(
      f"config.data.eval_size={config.data.eval_size}: samples are scored against real images "
      f"of config.image_size={config.image_size}; leave it 0"
    )
  model = config.model
  check_choice(config, "model.d_norm", nets.NORMS)
  check_choice(config, "model.conv_formulation", layers.FORMULATIONS)
  check_choice(config, "model.dtype", common.DTYPES)
  losses.get_adversarial_loss(config.loss.adversarial)
  if config.loss.adversarial == "wgan-gp" and model.d_norm == "batch":
    raise ConfigError(
      "config.loss.adversarial='wgan-gp' needs config.model.d_norm='layer' or "
      "'none': the gradient penalty is per example and batch norm mixes examples"
    )
  for key in ("z_dim", "g_features", "d_features"):
    if model[key] < 1:
      raise ConfigError(f"config.model.{key} must be >= 1, got {model[key]}")


def _nets(config):
  model = config.model
  dtype = common.DTYPES[model.dtype]
  conv = model.conv_formulation
  g = nets.Generator(config.image_size, model.g_features, model.init_std, conv, dtype)
  d = nets.Discriminator(
    config.image_size, model.d_features, model.d_norm, model.init_std, conv, dtype
  )
  return g, d


def _optimizers(config):
  o = config.optim
  return optax.adam(o.g_lr, o.b1, o.b2), optax.adam(o.d_lr, o.b1, o.b2)


def create_state(config, rng, example_batch) -> State:
  g, d = _nets(config)
  g_tx, d_tx = _optimizers(config)
  g_rng, d_rng, run_rng = jax.random.split(rng, 3)
  image_shape = example_batch["image"].shape[1:]
  return State(
    step=jnp.zeros((), jnp.int32),
    rng=run_rng,
    g=common.init_net(g, g_tx, g_rng, jnp.zeros((2, config.model.z_dim))),
    d=common.init_net(d, d_tx, d_rng, jnp.zeros((2, *image_shape))),
  )


def train_step(config, state: State, batch, frozen=None):
  """One discriminator update, then one generator update against the updated discriminator."""
  del frozen  # no frozen nets
  g, d = _nets(config)
  g_tx, d_tx = _optimizers(config)
  adversarial = losses.get_adversarial_loss(config.loss.adversarial)
  real = common.to_float_images(batch["image"])
  z_rng, gp_rng = jax.random.split(jax.random.fold_in(state.rng, state.step))
  z = jax.random.normal(z_rng, (real.shape[0], config.model.z_dim))

  # One G forward serves both updates: its VJP carries D's gradient back to G's params later.
  def g_forward(params):
    return common.apply_net(g, params, state.g.batch_stats, z)

  fake, g_vjp, g_stats = jax.vjp(g_forward, state.g.params, has_aux=True)

  def d_loss_fn(params):
    # Real and fake go through D separately, so batch norm sees one kind at a time (as the
    # reference does); the statistics carry from the real call to the fake one.
    real_logits, stats = common.apply_net(d, params, state.d.batch_stats, real)
    fake_logits, stats = common.apply_net(d, params, stats, jax.lax.stop_gradient(fake))
    loss = adversarial.d_loss(real_logits, fake_logits)
    metrics = {"d_real_logit": jnp.mean(real_logits), "d_fake_logit": jnp.mean(fake_logits)}
    if config.loss.adversarial == "wgan-gp":
      critic = lambda x: common.apply_net(d, params, stats, x)[0]
      penalty = losses.gradient_penalty(critic, real, jax.lax.stop_gradient(fake), gp_rng)
      loss = loss + config.loss.gp_weight * penalty
      metrics["gradient_penalty"] = penalty
    return loss, (stats, metrics)

  (d_loss, (d_stats, metrics)), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(
    state.d.params
  )
  d_state = common.apply_updates(state.d, d_tx, d_grads, d_stats)

  def g_loss_fn(images):
    logits, _ = common.apply_net(d, d_state.params, d_stats, images)
    return adversarial.g_loss(logits)

  g_loss, d_fake = jax.value_and_grad(g_loss_fn)(fake)
  (g_grads,) = g_vjp(d_fake)
  g_state = common.apply_updates(state.g, g_tx, g_grads, g_stats)

  return state.replace(g=g_state, d=d_state), {"d_loss": d_loss, "g_loss": g_loss, **metrics}


def generate(config, state: State, z, rng=None):
  """Images from latents z [N, z_dim], in [-1, 1].

  Batch norm normalises with the statistics of this batch of latents, as the reference samples
  (its generator never leaves train mode); the running statistics are left untouched.
  """
  del rng  # G is deterministic given z
  g, _ = _nets(config)
  images, _ = common.apply_net(g, state.g.params, state.g.batch_stats, z)
  return images


sample_inputs = base.latent_sample_inputs
sample_images = base.generated_grid(generate)

FAMILY = base.Family(
  name="dcgan",
  layout="unconditional",
  validate_config=validate_config,
  create_state=create_state,
  steps=base.one_step(train_step),
  generate=generate,
  sample_inputs=sample_inputs,
  sample_images=sample_images,
)
