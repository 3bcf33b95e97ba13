"""pix2pix: paired image-to-image translation with a conditional GAN and an L1 loss.

Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks"; defaults from
the reference implementation (junyanz/pytorch-CycleGAN-and-pix2pix, `Pix2PixModel`):
  G: U-Net, D: PatchGAN on concat(input, output);
  D loss = 0.5 * (BCE(D(A, G(A)), 0) + BCE(D(A, B), 1));
  G loss = BCE(D(A, G(A)), 1) + lambda_L1 * |G(A) - B|_1 (mean), lambda_L1 = 100.
One step = one D update, then one G update against the updated D, from one G forward pass.
"""

import flax
import jax
import jax.numpy as jnp

from gan_jax import losses
from gan_jax.config import check_choice
from gan_jax.errors import ConfigError
from gan_jax.families import base, common, translation
from gan_jax.nets import layers
from gan_jax.nets.patchgan import PatchDiscriminator
from gan_jax.nets.unet import UNet

DIRECTIONS = ("AtoB", "BtoA")  # config.data.direction: which image of a pair is the source


@flax.struct.dataclass
class State:
  step: jax.Array
  rng: jax.Array  # step t draws its dropout masks from fold_in(rng, t)
  g: common.NetState
  d: common.NetState


def num_downs(config) -> int:
  return translation.unet_depth(config, 32)


def stride_multiple(config) -> int:
  """Image sides must be multiples of this (the U-Net halves them num_downs times)."""
  return 2 ** num_downs(config)


def validate_config(config) -> None:
  model = config.model
  downs = num_downs(config)
  if config.image_size % 2**downs:
    raise ConfigError(
      f"config.image_size={config.image_size} is not a multiple of 2^{downs}="
      f"{2**downs}, the stride of config.model.generator={model.generator!r}"
    )
  if config.data.eval_size % 2**downs:
    raise ConfigError(
      f"config.data.eval_size={config.data.eval_size} is not a multiple of 2^{downs}, the "
      f"stride of config.model.generator={model.generator!r}"
    )
  for key in ("model.g_norm", "model.d_norm"):
    check_choice(config, key, ("batch", "instance", "none"))
  layers_ = model.d_layers
  if not (layers_ == "pixel" or (isinstance(layers_, int) and layers_ >= 1)):
    raise ConfigError(f"config.model.d_layers must be an integer >= 1 or 'pixel', got {layers_!r}")
  check_choice(config, "model.conv_formulation", layers.FORMULATIONS)
  check_choice(config, "model.dtype", common.DTYPES)
  check_choice(config, "data.direction", DIRECTIONS)
  losses.get_adversarial_loss(config.loss.adversarial)
  if config.loss.adversarial == "wgan-gp":
    raise ConfigError(
      "config.loss.adversarial='wgan-gp' is not offered for pix2pix; choices: "
      "non_saturating (the reference's vanilla), lsgan, hinge, minimax"
    )


def advice(config) -> list[str]:
  model = config.model
  if model.g_norm == "batch" and config.batch_size > 1 and not model.eval_mode:
    return [
      f"config.batch_size={config.batch_size} trains batch norm on batches, but "
      "config.model.eval_mode=False tests each image on its own statistics, as the reference "
      "does after training at batch 1 (toon, batch 16: -1.75 dB against +5.02 dB with "
      "eval_mode); consider --config.model.eval_mode=true"
    ]
  return []


def _nets(config):
  model = config.model
  dtype, conv = common.DTYPES[model.dtype], model.conv_formulation
  g = UNet(
    num_downs(config), model.g_features, 3, model.g_norm, model.dropout, model.init_std, conv, dtype
  )
  d = PatchDiscriminator(
    model.d_layers, model.d_features, model.d_norm, model.init_std, conv, dtype
  )
  return g, d


def _source_target(config, batch):
  a, b = common.to_float_images(batch["image_a"]), common.to_float_images(batch["image_b"])
  return (a, b) if config.data.direction == "AtoB" else (b, a)


def create_state(config, rng, example_batch) -> State:
  g, d = _nets(config)
  g_tx, d_tx = translation.adam_pair(config)
  g_rng, d_rng, drop_rng, run_rng = jax.random.split(rng, 4)
  shape = example_batch["image_a"].shape[1:3]
  image = jnp.zeros((1, *shape, 3))
  g_state = common.init_net(g, g_tx, {"params": g_rng, "dropout": drop_rng}, image)
  d_state = common.init_net(d, d_tx, d_rng, jnp.zeros((1, *shape, 6)))
  return State(step=jnp.zeros((), jnp.int32), rng=run_rng, g=g_state, d=d_state)


def _generator(config, params, batch_stats, images, rng, train=True):
  g, _ = _nets(config)
  return common.apply_net(g, params, batch_stats, images, train=train, rngs={"dropout": rng})


def train_step(config, state: State, batch, frozen=None):
  del frozen  # no frozen nets
  _, d = _nets(config)
  g_tx, d_tx = translation.adam_pair(config)
  adversarial = losses.get_adversarial_loss(config.loss.adversarial)
  source, target = _source_target(config, batch)
  dropout_rng = jax.random.fold_in(state.rng, state.step)

  fake, g_vjp, g_stats = jax.vjp(
    lambda p: _generator(config, p, state.g.batch_stats, source, dropout_rng),
    state.g.params,
    has_aux=True,
  )

  def d_loss_fn(params):
    # As the reference: the fake pair first, then the real pair, each its own batch-norm batch.
    fake_logits, stats = common.apply_net(
      d, params, state.d.batch_stats, jnp.concatenate([source, jax.lax.stop_gradient(fake)], -1)
    )
    real_logits, stats = common.apply_net(d, params, stats, jnp.concatenate([source, target], -1))
    loss = 0.5 * adversarial.d_loss(real_logits, fake_logits)
    return loss, (
      stats,
      {"d_real_logit": jnp.mean(real_logits), "d_fake_logit": jnp.mean(fake_logits)},
    )

  (d_loss, (d_stats, metrics)), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(
    state.d.params
  )
  d_state = common.apply_updates(state.d, d_tx, d_grads, d_stats)

  def g_loss_fn(images):
    logits, _ = common.apply_net(d, d_state.params, d_stats, jnp.concatenate([source, images], -1))
    adv = adversarial.g_loss(logits)
    l1 = jnp.mean(jnp.abs(images - target))
    return config.loss.gan_weight * adv + config.loss.l1_weight * l1, (adv, l1)

  (g_loss, (g_adv, g_l1)), d_fake = jax.value_and_grad(g_loss_fn, has_aux=True)(fake)
  (g_grads,) = g_vjp(d_fake)
  g_state = common.apply_updates(state.g, g_tx, g_grads, g_stats)
  return state.replace(g=g_state, d=d_state), {
    "d_loss": d_loss,
    "g_loss": g_loss,
    "g_adv": g_adv,
    "g_l1": g_l1,
    **metrics,
  }


def translate(config, state: State, images, rng, direction=None):
  """Source-domain images in [-1, 1] -> target domain, as the reference tests: by default with
  dropout on and batch norm on each image's own statistics (config.model.eval_mode=False).
  `direction` is always the trained one (config.data.direction) for pix2pix."""
  del direction
  g, _ = _nets(config)
  return common.translate_images(
    g, state.g.params, state.g.batch_stats, images, rng, train=not config.model.eval_mode
  )


def sample_inputs(config, rng, batch):
  source, target = _source_target(config, batch)
  return {"source": source, "target": target, "rng": rng}


def sample_images(config, state: State, inputs):
  """Rows of input | output | target."""
  out = translate(config, state, inputs["source"], inputs["rng"])
  return jnp.stack([inputs["source"], out, inputs["target"]], axis=1)


FAMILY = base.Family(
  name="pix2pix",
  layout="paired",
  validate_config=validate_config,
  advice=advice,
  create_state=create_state,
  steps=base.one_step(train_step),
  translate=translate,
  stride_multiple=stride_multiple,
  directions=lambda config: (config.data.direction,),  # only the trained one
  samples_from_data=True,  # sample grids show fixed eval examples: input | output | target
  sample_inputs=sample_inputs,
  sample_images=sample_images,
)
