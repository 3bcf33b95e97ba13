"""DualGAN: unpaired translation with two U-Nets, two Wasserstein critics and reconstruction.

Yi et al. 2017, "DualGAN: Unsupervised Dual Learning for Image-to-Image Translation"; the objective
and schedule of its reference implementation (duxingren14/DualGAN, model.py), in this module's names
(families/unpaired.py):
  fake_B = a2b(A), rec_A = b2a(fake_B), fake_A = b2a(B), rec_B = a2b(fake_A);
  critic loss = mean D_b(fake_B) - mean D_b(B) + mean D_a(fake_A) - mean D_a(A)
              + gp_weight * (GP(D_b) + GP(D_a))        (WGAN-GP, the default; gp_weight 10)
  G loss = -mean D_b(fake_B) - mean D_a(fake_A) + lambda_A |rec_A - A|_1 + lambda_B |rec_B - B|_1.
'wgan' drops the penalty and clips every critic weight to +-clip_value after each critic update;
'non_saturating' is the reference's 'classic' sigmoid cross-entropy. One iteration: a critic
update on this G's fakes, then (every n_critic iterations) a G update against the updated critics,
from one G forward pass. RMSProp (decay 0.9) at 5e-5 for both, one optimizer per pair of nets.

Two named steps: `main` (the critic update, then the G update) every n_critic iterations, and
`critic` (the critic update alone) on the others; with n_critic 1 (the reference's) only `main`.
"""

import jax
import jax.numpy as jnp
import optax

from gan_jax import losses
from gan_jax.config import check_choice
from gan_jax.errors import ConfigError
from gan_jax.families import base, common, translation, unpaired
from gan_jax.families.unpaired import State
from gan_jax.nets import dualgan as nets
from gan_jax.nets import layers

ADVERSARIAL = ("wgan-gp", "wgan", "non_saturating")
RECONSTRUCTION = ("l1", "l2")


def num_downs(config) -> int:
  return translation.unet_depth(config, 4)


def stride_multiple(config) -> int:
  return 2 ** num_downs(config)


def validate_config(config) -> None:
  unpaired.validate_config(config, stride_multiple(config))
  check_choice(config, "model.discriminator", nets.DISCRIMINATORS)
  if config.image_size % 64:
    raise ConfigError(
      f"config.image_size={config.image_size}: DualGAN's critic halves the image six times; use "
      f"a multiple of 64"
    )
  check_choice(config, "model.conv_formulation", layers.FORMULATIONS)
  check_choice(config, "model.dtype", common.DTYPES)
  check_choice(config, "loss.adversarial", ADVERSARIAL)
  check_choice(config, "loss.reconstruction", RECONSTRUCTION)
  for key in ("lambda_a", "lambda_b", "gp_weight", "clip_value"):
    if config.loss[key] < 0:
      raise ConfigError(f"config.loss.{key} must be >= 0, got {config.loss[key]}")
  if config.optim.n_critic < 1:
    raise ConfigError(f"config.optim.n_critic must be >= 1, got {config.optim.n_critic}")


def _nets(config):
  model = config.model
  dtype, conv = common.DTYPES[model.dtype], model.conv_formulation
  g = nets.DualUNet(num_downs(config), model.g_features, 3, model.dropout, conv, dtype)
  d = nets.DualDiscriminator(model.discriminator, model.d_features, conv, dtype)
  return g, d


def _optimizers(config):
  o = config.optim
  # TensorFlow 1's RMSProp: squared-gradient average starts at 1, epsilon inside the root.
  make = lambda lr: optax.rmsprop(lr, decay=o.decay, eps=1e-10, initial_scale=1.0)
  return make(o.g_lr), make(o.d_lr)


def create_state(config, rng, example_batch) -> State:
  g, d = _nets(config)
  g_tx, d_tx = _optimizers(config)
  g_rng, d_rng, run_rng = jax.random.split(rng, 3)
  image = jnp.zeros((1, *example_batch["image_a"].shape[1:3], 3))
  return State(
    step=jnp.zeros((), jnp.int32),
    rng=run_rng,
    g=unpaired.init_nets(g, unpaired.GENERATORS, g_tx, g_rng, image),
    d=unpaired.init_nets(d, unpaired.DISCRIMINATORS, d_tx, d_rng, image),
    pools={},
  )


def objective(config):
  """(adversarial loss, reconstruction distance) that config.loss names."""
  loss = config.loss
  # 'wgan' and 'wgan-gp' share the Wasserstein critic and generator losses.
  adversarial = losses.get_adversarial_loss(
    "wgan-gp" if loss.adversarial == "wgan" else loss.adversarial
  )
  if loss.reconstruction == "l1":
    return adversarial, lambda x, y: jnp.mean(jnp.abs(x - y))
  return adversarial, lambda x, y: jnp.mean(jnp.square(x - y))


def _step(config, state: State, batch, update_g: bool):
  """The critic update, then (update_g) the G update from the same G forward pass."""
  g_net, d_net = _nets(config)
  g_tx, d_tx = _optimizers(config)
  loss = config.loss
  adversarial, distance = objective(config)
  real_a, real_b = unpaired.images(batch)
  dropout_rng, gp_rng = jax.random.split(jax.random.fold_in(state.rng, state.step))

  def g_forward(g_params):
    g = unpaired.NetRunner(g_net, g_params, state.g.batch_stats, dropout_rng)
    fake_b, fake_a = g("a2b", real_a), g("b2a", real_b)
    return (fake_a, fake_b, g("b2a", fake_b), g("a2b", fake_a)), g.stats

  outputs, g_vjp, g_stats = jax.vjp(g_forward, state.g.params, has_aux=True)
  fake_a, fake_b = (jax.lax.stop_gradient(x) for x in outputs[:2])

  def d_loss_fn(d_params):
    terms = {}
    keys = jax.random.split(gp_rng, 2)
    examples = (("a", real_a, fake_a), ("b", real_b, fake_b))
    for (name, real, fake), key in zip(examples, keys, strict=True):
      critic = lambda x, name=name: d_net.apply({"params": d_params[name]}, x)
      terms[f"d_{name}"] = adversarial.d_loss(critic(real), critic(fake))
      if loss.adversarial == "wgan-gp":
        terms[f"gp_{name}"] = losses.gradient_penalty(critic, real, fake, key)
    total = terms["d_a"] + terms["d_b"]
    if loss.adversarial == "wgan-gp":
      total += loss.gp_weight * (terms["gp_a"] + terms["gp_b"])
    return total, terms

  (d_loss, d_terms), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(state.d.params)
  d_state = common.apply_updates(state.d, d_tx, d_grads, state.d.batch_stats)
  if loss.adversarial == "wgan":
    clip = lambda p: jnp.clip(p, -loss.clip_value, loss.clip_value)
    d_state = d_state.replace(params=jax.tree.map(clip, d_state.params))
  if not update_g:
    return state.replace(d=d_state), {"d_loss": d_loss, **d_terms}

  def g_loss_fn(outputs):
    fake_a, fake_b, rec_a, rec_b = outputs
    critic = lambda name, x: d_net.apply({"params": d_state.params[name]}, x)
    terms = {
      "g_adv_a2b": adversarial.g_loss(critic("b", fake_b)),
      "g_adv_b2a": adversarial.g_loss(critic("a", fake_a)),
      "rec_a": loss.lambda_a * distance(rec_a, real_a),
      "rec_b": loss.lambda_b * distance(rec_b, real_b),
    }
    return sum(terms.values()), terms

  (g_loss, g_terms), d_outputs = jax.value_and_grad(g_loss_fn, has_aux=True)(outputs)
  (g_grads,) = g_vjp(d_outputs)
  g_state = common.apply_updates(state.g, g_tx, g_grads, g_stats)
  new_state = state.replace(g=g_state, d=d_state)
  return new_state, {"g_loss": g_loss, "d_loss": d_loss, **g_terms, **d_terms}


def main_step(config, state: State, batch, frozen=None):
  """A critic update, then a G update against the updated critics."""
  del frozen  # no frozen nets
  return _step(config, state, batch, update_g=True)


def critic_step(config, state: State, batch, frozen=None):
  """A critic update alone (the iterations between G updates when n_critic > 1)."""
  del frozen
  return _step(config, state, batch, update_g=False)


def steps(config):
  if config.optim.n_critic == 1:
    return {base.MAIN: main_step}
  return {base.MAIN: main_step, "critic": critic_step}


def schedule(config, step: int) -> tuple[str, ...]:
  """G trains on iterations 0, n_critic, 2 n_critic, ...; the critic alone on the others."""
  return (base.MAIN,) if step % config.optim.n_critic == 0 else ("critic",)


FAMILY = unpaired.family(
  "dualgan",
  validate_config,
  create_state,
  steps,
  generator=lambda config: _nets(config)[0],
  stride_multiple=stride_multiple,
  schedule=schedule,
)
