"""StyleGAN3 (Karras et al. 2021, "Alias-Free Generative Adversarial Networks") as NVlabs/stylegan3
trains it (train.py --cfg=stylegan3-t|stylegan3-r, training/loss.py, training/training_loop.py at
commit c233a91).

The StyleGAN2 family's phases, state, D, ADA, R1, G EMA and samplers (families/stylegan2.py) with
the alias-free generator of nets/stylegan3.py; what differs is the reference's: no path-length
regularization and no style mixing (the config's loss.g_reg_interval, pl_weight and style_mixing
are 0); w_avg and the layers' magnitude EMAs move only in the D phase's G forward (loss.py runs
G with update_emas=True there alone); D's learning rate is its own (optim.d_lr); and for R, every
image D sees is first blurred by a Gaussian whose sigma fades linearly from loss.blur_sigma to 0
over loss.blur_fade_kimg thousand images (loss.py's run_D; -1 for both: train.py's rules).
"""

import dataclasses
import math

import jax
import jax.numpy as jnp

from gan_jax.config import check_choice
from gan_jax.errors import ConfigError
from gan_jax.families import stylegan2
from gan_jax.nets import stylegan3 as nets

VIDEOS = ("", "translate", "rotate")  # config.sample.video: --mode=sample's transform clip


def generator(config, c_dim: int = 0):
  """(G, num_ws) for the config: T (3x3 convs) or R (1x1 convs, radial down filters, twice the
  channel base and max, as train.py doubles them for stylegan3-r)."""
  m = config.model
  radial = m.config == "r"
  widen = 2 if radial else 1
  synthesis = dict(
    channel_base=m.channel_base * widen,
    channel_max=m.channel_max * widen,
    num_fp16_res=m.num_fp16_res,
    half_dtype=stylegan2.HALF_DTYPES[m.half_dtype],
    conv_kernel=1 if radial else 3,
    use_radial_filters=radial,
    conv_clamp=m.conv_clamp or None,
    magnitude_ema_beta=0.5 ** (config.batch_size / (m.magnitude_ema_kimg * 1000)),
  )
  g = nets.Generator(
    m.z_dim,
    c_dim,
    m.w_dim,
    config.image_size,
    mapping_kwargs=dict(num_layers=m.mapping_layers, lr_multiplier=m.mapping_lr),
    synthesis_kwargs=synthesis,
  )
  return g, nets.SynthesisNetwork(config.image_size).num_ws


def validate_config(config) -> None:
  check_choice(config, "model.config", nets.CONFIGS)
  loss = config.loss
  for key, rule in (("blur_sigma", "10 for R, 0 for T"), ("blur_fade_kimg", "batch * 200 / 32")):
    if loss[key] < 0 and loss[key] != -1:
      raise ConfigError(f"config.loss.{key} must be >= 0 or -1 ({rule}), got {loss[key]}")
  sample = config.sample
  if sample.video not in VIDEOS:
    raise ConfigError(
      f"unknown config.sample.video {sample.video!r}; choices: translate, rotate ('' for none)"
    )
  for key in ("video_frames", "video_fps", "video_shift"):
    if not sample[key] > 0:
      raise ConfigError(f"config.sample.{key} must be > 0, got {sample[key]}")
  if config.model.magnitude_ema_kimg <= 0:
    raise ConfigError(
      f"config.model.magnitude_ema_kimg must be > 0, got {config.model.magnitude_ema_kimg}"
    )
  stylegan2.validate_config(config)


def initial_blur_sigma(config) -> float:
  """loss.blur_sigma, or train.py's rule when -1: 10 for stylegan3-r, none for stylegan3-t."""
  sigma = config.loss.blur_sigma
  return (10.0 if config.model.config == "r" else 0.0) if sigma < 0 else sigma


def blur_fade_kimg(config) -> float:
  """loss.blur_fade_kimg, or train.py's batch * 200 / 32 for stylegan3-r when -1."""
  fade = config.loss.blur_fade_kimg
  return config.batch_size * 200 / 32 if fade < 0 else fade


def blur_sigma(config, step):
  """The D-input blur's sigma at iteration `step` (images seen: step x batch): loss.blur_sigma,
  fading linearly to 0 over loss.blur_fade_kimg thousand images (loss.py, accumulate_gradients)."""
  fade = blur_fade_kimg(config) * 1000
  if not fade:
    return jnp.zeros((), jnp.float32)
  seen = jnp.asarray(step, jnp.float32) * config.batch_size
  return jnp.maximum(1 - seen / fade, 0.0) * initial_blur_sigma(config)


def blur(config, images, step):
  """NHWC images filtered by the normalised separable kernel 2^(-(x / sigma)^2) over
  |x| <= floor(3 sigma), zero-padded to keep their size; unchanged once that is 0 (loss.py,
  run_D). The kernel has the taps of the initial sigma, those past the current reach zero, so the
  shapes stay static while sigma fades."""
  reach = math.floor(initial_blur_sigma(config) * 3)
  if reach == 0:
    return images
  sigma = blur_sigma(config, step)
  x = jnp.arange(-reach, reach + 1, dtype=jnp.float32)
  safe = jnp.maximum(sigma, 1e-8)
  taps = jnp.where(jnp.abs(x) <= jnp.floor(sigma * 3), jnp.exp2(-jnp.square(x / safe)), 0.0)
  taps = taps / jnp.sum(taps)
  c = images.shape[-1]

  def filtered(images):
    for kernel_shape in ((1, 2 * reach + 1), (2 * reach + 1, 1)):
      kernel = jnp.broadcast_to(taps.reshape(*kernel_shape, 1, 1), (*kernel_shape, 1, c))
      images = jax.lax.conv_general_dilated(
        images,
        kernel.astype(images.dtype),
        (1, 1),
        [(k // 2, k // 2) for k in kernel_shape],
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=c,
      )
    return images

  return jax.lax.cond(jnp.floor(sigma * 3) > 0, filtered, lambda images: images, images)


def transformed(config, state, z, transform, truncation_psi=1.0):
  """The deployed (EMA) G of latents z with the input's user transform (3x3, the inverse of the
  image's): untruncated, what the reference's EQ metrics synthesize (metrics/equivariance.py);
  --mode=sample's transform videos pass config.sample.truncation_psi."""
  g, _, _ = stylegan2._nets(config)
  c = stylegan2.one_hot(config, stylegan2.sample_labels(config, z.shape[0]))
  variables = stylegan2._ema_variables(state)
  return g.apply(
    variables, z, c, truncation_psi=truncation_psi, noise_mode="const", transform=transform
  )


def transform_ignored(family):
  """`family` with every transformed image synthesized at the identity: an image that cannot
  follow the shift or turn, whose EQ scores are the floor the alias-free layers are measured
  against (tests/test_stylegan3.py, benchmarks/equivariance_baseline.py)."""
  return dataclasses.replace(
    family, equivariance=lambda c, s, z, t: transformed(c, s, z, jnp.eye(3))
  )


stylegan2.VARIANTS["stylegan3"] = stylegan2.Variant(generator, blur)

FAMILY = dataclasses.replace(
  stylegan2.FAMILY,
  name="stylegan3",
  validate_config=validate_config,
  style_mix=None,  # no style-mixing tool in the reference for StyleGAN3
  w_space=None,  # projection: StyleGAN2's only, for now
  equivariance=transformed,
)
