"""CycleGAN: unpaired translation with two generators, two PatchGANs and cycle consistency.

Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks";
the objective and update order of the reference implementation
(junyanz/pytorch-CycleGAN-and-pix2pix, `CycleGANModel`), in this module's names
(families/unpaired.py):
  fake_B = a2b(A), rec_A = b2a(fake_B), fake_A = b2a(B), rec_B = a2b(fake_A);
  G loss = GAN(D_b(fake_B), real) + GAN(D_a(fake_A), real)
         + lambda_A |rec_A - A|_1 + lambda_B |rec_B - B|_1
         + identity * (lambda_B |a2b(B) - B|_1 + lambda_A |b2a(A) - A|_1);
  D_b loss = 0.5 (GAN(D_b(B), real) + GAN(D_b(pool_B(fake_B)), fake)), D_a likewise with A;
LSGAN by default, lambda_A = lambda_B = 10, identity 0.5, pools of 50 fakes per domain. One step:
the G update (against the current D's), then the D update on the same fakes passed through the
pools, all from one forward pass, as the reference's optimize_parameters does.
"""

import jax
import jax.numpy as jnp

from gan_jax import losses
from gan_jax.config import check_choice
from gan_jax.errors import ConfigError
from gan_jax.families import base, common, image_pool, translation, unpaired
from gan_jax.families.unpaired import State
from gan_jax.nets import layers
from gan_jax.nets.patchgan import PatchDiscriminator
from gan_jax.nets.resnet import ResnetGenerator
from gan_jax.nets.unet import UNet

NORMS = ("instance", "batch", "none")


def _generator_kind(config) -> tuple[str, int]:
  """'resnet_9blocks' -> ('resnet', 9); 'unet_256' -> ('unet', 8 downs)."""
  name = config.model.generator
  if name.startswith("resnet_") and name.endswith("blocks") and name[7:-6].isdigit():
    return "resnet", int(name[7:-6])
  if name.startswith("unet_"):
    return "unet", translation.unet_depth(config, 32)
  raise ConfigError(
    f"config.model.generator={name!r}: expected resnet_<n>blocks (the reference's "
    f"resnet_9blocks, resnet_6blocks) or unet_<size> (the reference's unet_256, unet_128)"
  )


def stride_multiple(config) -> int:
  kind, n = _generator_kind(config)
  return 4 if kind == "resnet" else 2**n


def validate_config(config) -> None:
  unpaired.validate_config(config, stride_multiple(config))
  for key in ("model.g_norm", "model.d_norm"):
    check_choice(config, key, NORMS)
  d_layers = config.model.d_layers
  if not (d_layers == "pixel" or (isinstance(d_layers, int) and d_layers >= 1)):
    raise ConfigError(f"config.model.d_layers must be an integer >= 1 or 'pixel', got {d_layers!r}")
  check_choice(config, "model.conv_formulation", layers.FORMULATIONS)
  check_choice(config, "model.dtype", common.DTYPES)
  losses.get_adversarial_loss(config.loss.adversarial)
  if config.loss.adversarial == "wgan-gp":
    raise ConfigError(
      "config.loss.adversarial='wgan-gp' is not offered for cyclegan (see configs/dualgan.py); "
      "choices: lsgan (the reference's default), non_saturating, hinge, minimax"
    )
  for key in ("lambda_a", "lambda_b", "identity"):
    if config.loss[key] < 0:
      raise ConfigError(f"config.loss.{key} must be >= 0, got {config.loss[key]}")
  if config.model.pool_size < 0:
    raise ConfigError(f"config.model.pool_size must be >= 0, got {config.model.pool_size}")


def _nets(config):
  model = config.model
  dtype, conv = common.DTYPES[model.dtype], model.conv_formulation
  kind, n = _generator_kind(config)
  if kind == "resnet":
    g = ResnetGenerator(
      n, model.g_features, 3, model.g_norm, model.dropout, model.init_std, conv, dtype
    )
  else:
    g = UNet(n, model.g_features, 3, model.g_norm, model.dropout, model.init_std, conv, dtype)
  d = PatchDiscriminator(
    model.d_layers, model.d_features, model.d_norm, model.init_std, conv, dtype
  )
  return g, d


def create_state(config, rng, example_batch) -> State:
  g, d = _nets(config)
  g_tx, d_tx = translation.adam_pair(config)
  g_rng, d_rng, run_rng = jax.random.split(rng, 3)
  shape = (*example_batch["image_a"].shape[1:3], 3)
  image = jnp.zeros((1, *shape))
  g_state = unpaired.init_nets(g, unpaired.GENERATORS, g_tx, g_rng, image)
  d_state = unpaired.init_nets(d, unpaired.DISCRIMINATORS, d_tx, d_rng, image)
  size = config.model.pool_size
  pools = {name: image_pool.create(size, shape) for name in ("a", "b")}
  return State(step=jnp.zeros((), jnp.int32), rng=run_rng, g=g_state, d=d_state, pools=pools)


def train_step(config, state: State, batch, frozen=None):
  del frozen  # no frozen nets
  g_net, d_net = _nets(config)
  g_tx, d_tx = translation.adam_pair(config)
  adversarial = losses.get_adversarial_loss(config.loss.adversarial)
  lam_a, lam_b, lam_idt = config.loss.lambda_a, config.loss.lambda_b, config.loss.identity
  real_a, real_b = unpaired.images(batch)
  dropout_rng, pool_rng = jax.random.split(jax.random.fold_in(state.rng, state.step))
  l1 = lambda x, y: jnp.mean(jnp.abs(x - y))

  def g_loss_fn(g_params):
    g = unpaired.NetRunner(g_net, g_params, state.g.batch_stats, dropout_rng)
    # The D's judge with their current params; their statistics from these passes are dropped.
    d = unpaired.NetRunner(d_net, state.d.params, state.d.batch_stats)
    fake_b = g("a2b", real_a)
    rec_a = g("b2a", fake_b)
    fake_a = g("b2a", real_b)
    rec_b = g("a2b", fake_a)
    terms = {
      "g_adv_a2b": adversarial.g_loss(d("b", fake_b)),
      "g_adv_b2a": adversarial.g_loss(d("a", fake_a)),
      "cycle_a": lam_a * l1(rec_a, real_a),
      "cycle_b": lam_b * l1(rec_b, real_b),
    }
    if lam_idt > 0:
      terms["idt_a2b"] = lam_b * lam_idt * l1(g("a2b", real_b), real_b)
      terms["idt_b2a"] = lam_a * lam_idt * l1(g("b2a", real_a), real_a)
    return sum(terms.values()), (g.stats, fake_a, fake_b, terms)

  (g_loss, (g_stats, fake_a, fake_b, terms)), g_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(
    state.g.params
  )
  g_state = common.apply_updates(state.g, g_tx, g_grads, g_stats)

  rng_a, rng_b = jax.random.split(pool_rng)
  pool_a, pooled_a = image_pool.query(state.pools["a"], jax.lax.stop_gradient(fake_a), rng_a)
  pool_b, pooled_b = image_pool.query(state.pools["b"], jax.lax.stop_gradient(fake_b), rng_b)

  def d_loss_fn(d_params):
    d = unpaired.NetRunner(d_net, d_params, state.d.batch_stats)
    loss_b = 0.5 * adversarial.d_loss(d("b", real_b), d("b", pooled_b))
    loss_a = 0.5 * adversarial.d_loss(d("a", real_a), d("a", pooled_a))
    return loss_a + loss_b, (d.stats, {"d_a": loss_a, "d_b": loss_b})

  (d_loss, (d_stats, d_terms)), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(
    state.d.params
  )
  d_state = common.apply_updates(state.d, d_tx, d_grads, d_stats)
  new_state = state.replace(g=g_state, d=d_state, pools={"a": pool_a, "b": pool_b})
  return new_state, {"g_loss": g_loss, "d_loss": d_loss, **terms, **d_terms}


FAMILY = unpaired.family(
  "cyclegan",
  validate_config,
  create_state,
  base.one_step(train_step),
  generator=lambda config: _nets(config)[0],
  stride_multiple=stride_multiple,
)
