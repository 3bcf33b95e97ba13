"""AnimeGANv2: photo -> anime with a light generator, grayscale adversarial and style losses, a
colour loss and a frozen VGG19.

Chen, Liu & Chen 2020, "AnimeGAN: A Novel Lightweight GAN for Photo Animation"; the objective,
schedule and update order of the official TF code (TachibanaYoshino/AnimeGANv2, AnimeGANv2.py
`build_model` and `train`, tools/ops.py), in this module's names:
  init phase (the first `init_steps` iterations): G alone, loss = content * L1(VGG(photo),
  VGG(G(photo))), its own Adam (init_lr);
  then each iteration: the D update, then the G update against the updated D (same batch):
    D loss = d_adversarial * (d_real * mean((D(anime) - 1)^2) + d_fake * mean(D(G(photo))^2)
             + d_gray * mean(D(gray(anime))^2) + d_smooth * mean(D(gray(smooth anime))^2)),
    G loss = g_adversarial * mean((D(G(photo)) - 1)^2) + content * L1(VGG(photo), VGG(G(photo)))
             + style * L1(Gram(VGG(gray(anime))), Gram(VGG(G(photo))))
             + colour * (L1(Y) + Huber(U) + Huber(V), photo against G(photo) in YUV)
             + tv * TV(G(photo)).
VGG is VGG19's conv4_4 before its ReLU on inputs mapped to Caffe's BGR (nets/vgg.py), a frozen net
(weights from config.model.vgg_weights, or a deterministic random VGG19 when that is empty); Gram
is F^T F / (H W C) per image; TV is mean(dy^2) / 2 + mean(dx^2) / 2 (tf.nn.l2_loss over the
count); Huber has delta 1; YUV is tf.image.rgb_to_yuv of the images in [0, 1]. The grey images are
the references' cv2 IMREAD_GRAYSCALE copies (BT.601 luma, rounded) in all three channels. D is
called once on the four image sets stacked, one power iteration for all four, as the TF graph's
four calls read the same stored u. The two phases keep separate Adam states, as the reference's
separate optimizers do.
"""

import flax
import jax
import jax.numpy as jnp
import optax

from gan_jax import losses
from gan_jax.config import check_choice
from gan_jax.errors import ConfigError
from gan_jax.families import base, common
from gan_jax.nets import animegan as nets
from gan_jax.nets import layers, vgg

INIT, MAIN = "init", base.MAIN
VGG_ARCH = "vgg19"
VGG_LAYER = "conv4_4"  # before its ReLU (the reference's conv4_4_no_activation)
# tf.image.rgb_to_yuv's kernel: rows R, G, B; columns Y, U, V.
RGB_TO_YUV = (
  (0.299, -0.14714119, 0.61497538),
  (0.587, -0.28886916, -0.51496512),
  (0.114, 0.43601035, -0.10001026),
)
GREY_WEIGHTS = (0.299, 0.587, 0.114)  # OpenCV's RGB -> grey (BT.601)
LSGAN = losses.get_adversarial_loss("lsgan")


@flax.struct.dataclass
class State:
  step: jax.Array  # int32 scalar
  rng: jax.Array
  g: common.NetState  # opt_state: the adversarial phase's Adam
  g_init_opt: optax.OptState  # the init phase's Adam (its own moments)
  d: common.NetState  # batch_stats: the spectral norms' u


# --- losses (pure, on float images and features) ------------------------------------------


def gram(features: jax.Array) -> jax.Array:
  """[B, H, W, C] -> [B, C, C]: F^T F / (H W C), the reference's gram()."""
  b, h, w, c = features.shape
  f = features.reshape(b, h * w, c).astype(jnp.float32)
  return jnp.einsum("bnc,bnd->bcd", f, f, precision=jax.lax.Precision.HIGHEST) / (h * w * c)


def l1(x, y) -> jax.Array:
  return jnp.mean(jnp.abs(x - y))


def huber(x, y, delta: float = 1.0) -> jax.Array:
  """tf.losses.huber_loss's mean: 0.5 e^2 where |e| <= delta, else delta (|e| - delta / 2)."""
  e = jnp.abs(x - y)
  return jnp.mean(jnp.where(e <= delta, 0.5 * e**2, delta * (e - 0.5 * delta)))


def rgb_to_yuv(images: jax.Array) -> jax.Array:
  """Images in [-1, 1] -> YUV of the images in [0, 1] (tf.image.rgb_to_yuv)."""
  return ((images + 1) / 2) @ jnp.asarray(RGB_TO_YUV, jnp.float32)


def color_loss(photo, fake) -> jax.Array:
  """L1 on Y + Huber on U and V, of the photo against its translation."""
  p, f = rgb_to_yuv(photo), rgb_to_yuv(fake)
  return l1(p[..., 0], f[..., 0]) + huber(p[..., 1], f[..., 1]) + huber(p[..., 2], f[..., 2])


def total_variation(images) -> jax.Array:
  """mean(dy^2) / 2 + mean(dx^2) / 2: tf.nn.l2_loss of the differences over their count."""
  dy = images[:, :-1] - images[:, 1:]
  dx = images[:, :, :-1] - images[:, :, 1:]
  return jnp.mean(dy**2) / 2 + jnp.mean(dx**2) / 2


def grey(images_uint8: jax.Array) -> jax.Array:
  """uint8 RGB [B, H, W, 3] -> its grey image (rounded BT.601 luma) in 3 channels, in [-1, 1]."""
  luma = jnp.round(images_uint8.astype(jnp.float32) @ jnp.asarray(GREY_WEIGHTS, jnp.float32))
  return jnp.repeat(luma[..., None], 3, axis=-1) * (2.0 / 255.0) - 1.0


# --- config, nets, state --------------------------------------------------------------------


def validate_config(config) -> None:
  for key, value in (("image_size", config.image_size), ("data.eval_size", config.data.eval_size)):
    if value % nets.STRIDE_MULTIPLE:
      raise ConfigError(
        f"config.{key}={value} is not a multiple of {nets.STRIDE_MULTIPLE}, the generator's stride"
      )
  if config.image_size % 8:
    raise ConfigError(
      f"config.image_size={config.image_size} is not a multiple of 8: VGG19's conv4_4 follows "
      "three 2x2 pools"
    )
  m = config.model
  check_choice(config, "model.generator", GENERATORS)
  check_choice(config, "model.d_norm", D_NORMS)
  check_choice(config, "model.upsample", nets.UPSAMPLING)
  check_choice(config, "model.vgg_input", vgg.INPUT_MODES)
  check_choice(config, "model.conv_formulation", layers.FORMULATIONS)
  check_choice(config, "model.dtype", common.DTYPES)
  for key in ("g_features", "g_blocks", "d_features"):
    if m[key] < 1:
      raise ConfigError(f"config.model.{key} must be >= 1, got {m[key]}")
  if m.d_layers < 1 or config.image_size % 2 ** (m.d_layers - 1):
    raise ConfigError(
      f"config.model.d_layers={m.d_layers} needs an image side divisible by "
      f"{2 ** max(m.d_layers - 1, 0)} (and >= 1 layer); config.image_size={config.image_size}"
    )
  for key, value in config.loss.items():
    if value < 0:
      raise ConfigError(f"config.loss.{key} must be >= 0, got {value}")
  if config.optim.init_steps < 0:
    raise ConfigError(f"config.optim.init_steps must be >= 0, got {config.optim.init_steps}")


GENERATORS = ("v2", "v1")
D_NORMS = ("layer", "instance")


def _generator(config):
  m = config.model
  if m.generator == "v1":
    return nets.GeneratorV1(m.g_features, m.g_blocks, m.upsample, common.DTYPES[m.dtype])
  return nets.Generator(
    m.g_features,
    m.g_blocks,
    m.upsample,
    formulation=m.conv_formulation,
    dtype=common.DTYPES[m.dtype],
  )


def _discriminator(config) -> nets.Discriminator:
  m = config.model
  return nets.Discriminator(
    m.d_features,
    m.d_layers,
    m.spectral_norm,
    m.d_norm,
    formulation=m.conv_formulation,
    dtype=common.DTYPES[m.dtype],
  )


def _adam(config, lr):
  return optax.adam(lr, config.optim.b1, config.optim.b2)


def optimizers(config):
  """(init G, adversarial G, D): Adam(init_lr | g_lr | d_lr, b1, b2), constant rates."""
  o = config.optim
  return _adam(config, o.init_lr), _adam(config, o.g_lr), _adam(config, o.d_lr)


def create_state(config, rng, example_batch) -> State:
  init_tx, g_tx, d_tx = optimizers(config)
  g_rng, d_rng, run_rng = jax.random.split(rng, 3)
  image = jnp.zeros((1, *example_batch["image_a"].shape[1:3], 3))
  g = common.init_net(_generator(config), g_tx, g_rng, image)
  return State(
    step=jnp.zeros((), jnp.int32),
    rng=run_rng,
    g=g,
    g_init_opt=init_tx.init(g.params),
    d=common.init_net(_discriminator(config), d_tx, d_rng, image),
  )


def frozen(config):
  """{'vgg': VGG19 up to conv4_4}: read from config.model.vgg_weights, or random (logged)."""
  return {"vgg": vgg.frozen_params(config.model.vgg_weights or None, VGG_ARCH, (VGG_LAYER,))}


def schedule(config, step: int) -> tuple[str, ...]:
  return (INIT,) if step < config.optim.init_steps else (MAIN,)


def advice(config) -> list[str]:
  if config.optim.init_steps >= config.total_steps:
    return [
      f"config.optim.init_steps={config.optim.init_steps} >= config.total_steps="
      f"{config.total_steps}: the run ends before the adversarial phase starts"
    ]
  path, mode = config.model.vgg_weights, config.model.vgg_input
  if path.endswith((".pth", ".pt")) and mode != "imagenet_rgb":
    return [
      f"config.model.vgg_weights={path!r} looks like torchvision weights, which expect "
      f"config.model.vgg_input='imagenet_rgb' (it is {mode!r})"
    ]
  if path.endswith(".npy") and mode != "caffe_bgr":
    return [f"config.model.vgg_weights={path!r} (the TF port's) expects vgg_input='caffe_bgr'"]
  return []


# --- steps ----------------------------------------------------------------------------------


def _features(config, frozen_nets, images) -> jax.Array:
  out = vgg.features(frozen_nets["vgg"], images, VGG_ARCH, (VGG_LAYER,), config.model.vgg_input)
  return out[VGG_LAYER]


def _generate(config, params, photos):
  return _generator(config).apply({"params": params}, photos)


def init_step(config, state: State, batch, frozen=None):
  """The init phase: G on the content loss alone, with the init Adam."""
  photo = common.to_float_images(batch["image_a"])
  real_features = _features(config, frozen, photo)
  init_tx = optimizers(config)[0]

  def loss_fn(params):
    fake = _generate(config, params, photo)
    return config.loss.content * l1(real_features, _features(config, frozen, fake))

  loss, grads = jax.value_and_grad(loss_fn)(state.g.params)
  updates, opt = init_tx.update(grads, state.g_init_opt, state.g.params)
  g = state.g.replace(params=optax.apply_updates(state.g.params, updates))
  return state.replace(g=g, g_init_opt=opt), {"init_content": loss}


def discriminator_terms(config, logits_real, logits_fake, logits_grey, logits_smooth) -> dict:
  """The D loss's weighted LSGAN terms (the reference's discriminator_loss, times d_adversarial)."""
  w = config.loss
  return {
    "d_real": w.d_adversarial * w.d_real * jnp.mean(jnp.square(logits_real - 1)),
    "d_fake": w.d_adversarial * w.d_fake * jnp.mean(jnp.square(logits_fake)),
    "d_gray": w.d_adversarial * w.d_gray * jnp.mean(jnp.square(logits_grey)),
    "d_smooth": w.d_adversarial * w.d_smooth * jnp.mean(jnp.square(logits_smooth)),
  }


def generator_terms(config, logits_fake, photo, fake, f_photo, f_fake, f_grey) -> dict:
  """The G loss's weighted terms; f_* are VGG features of the photo, G(photo), grey anime."""
  w = config.loss
  return {
    "g_adv": w.g_adversarial * LSGAN.g_loss(logits_fake),
    "content": w.content * l1(f_photo, f_fake),
    "style": w.style * l1(gram(f_grey), gram(f_fake)),
    "color": w.color * color_loss(photo, fake),
    "tv": w.tv * total_variation(fake),
  }


def main_step(config, state: State, batch, frozen=None):
  """One adversarial iteration: the D update on G(photo), then the G update against the new D."""
  _, g_tx, d_tx = optimizers(config)
  d_net = _discriminator(config)
  photo = common.to_float_images(batch["image_a"])
  anime = common.to_float_images(batch["image_b"])
  anime_grey, smooth_grey = grey(batch["image_b"]), grey(batch["image_smooth"])
  n = photo.shape[0]
  fake, g_vjp = jax.vjp(lambda p: _generate(config, p, photo), state.g.params)

  def d_loss_fn(d_params):
    stacked = jnp.concatenate([anime, jax.lax.stop_gradient(fake), anime_grey, smooth_grey])
    logits, stats = common.apply_net(d_net, d_params, state.d.batch_stats, stacked)
    terms = discriminator_terms(config, *jnp.split(logits, 4))
    return sum(terms.values()), (stats, terms)

  (d_loss, (d_stats, d_terms)), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(
    state.d.params
  )
  d_state = common.apply_updates(state.d, d_tx, d_grads, d_stats)

  f_photo = _features(config, frozen, photo)
  f_grey = _features(config, frozen, anime_grey[:n])

  def g_loss_fn(fake):
    logits, stats = common.apply_net(d_net, d_state.params, d_state.batch_stats, fake)
    f_fake = _features(config, frozen, fake)
    terms = generator_terms(config, logits, photo, fake, f_photo, f_fake, f_grey)
    return sum(terms.values()), (stats, terms)

  (g_loss, (d_stats, g_terms)), fake_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(fake)
  (g_grads,) = g_vjp(fake_grads)
  g_state = common.apply_updates(state.g, g_tx, g_grads, state.g.batch_stats)
  new_state = state.replace(g=g_state, d=d_state.replace(batch_stats=d_stats))
  return new_state, {"g_loss": g_loss, "d_loss": d_loss, **g_terms, **d_terms}


def steps(config):
  return {INIT: init_step, MAIN: main_step}


# --- translation and samples ----------------------------------------------------------------


def translate(config, state: State, images, rng, direction=None):
  """Photos in [-1, 1] -> anime; G has no randomness and no statistics."""
  del rng, direction
  return _generate(config, state.g.params, images)


def sample_inputs(config, rng, batch):
  del config, rng
  return {"photo": common.to_float_images(batch["image_a"])}


def sample_images(config, state: State, inputs):
  """Per example: photo | G(photo)."""
  photo = inputs["photo"]
  return jnp.stack([photo, translate(config, state, photo, None)], axis=1)


FAMILY = base.Family(
  name="animegan",
  layout="photo_style",
  validate_config=validate_config,
  create_state=create_state,
  steps=steps,
  schedule=schedule,
  translate=translate,
  stride_multiple=lambda config: nets.STRIDE_MULTIPLE,
  directions=lambda config: ("AtoB",),
  samples_from_data=True,
  sample_inputs=sample_inputs,
  sample_images=sample_images,
  frozen=frozen,
  advice=advice,
)
