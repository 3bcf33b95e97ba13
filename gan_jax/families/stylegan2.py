"""StyleGAN2 (Karras et al. 2020) with ADA, as NVlabs/stylegan2-ada-pytorch trains it.

Named steps on the reference's phase schedule (training/training_loop.py): every iteration
`g_main` (non-saturating logistic loss), every g_reg_interval-th `g_reg` (path length), `d_main`
(logistic loss on real and fake, then the G EMA update), every d_reg_interval-th `d_reg` (R1 on
the reals). Each phase draws its own latents; a regularization phase scales its loss by its
interval, and its optimizer runs at lr and betas ** (interval / (interval + 1)), as the reference's
lazy regularization does. Style mixing with probability config.loss.style_mixing; every G forward
in training updates the mapping network's w_avg, as the reference's train-mode mapping does.
Every image D sees passes the augment pipe (families/ada.py) with its own draws, as the
reference's run_D does; R1 differentiates through it to the reals.

Conditional (config.model.num_classes > 0, the labelled layout, config.data.label_key): labels are
one-hot, G's mapping embeds them and D projects onto its mapped label, as the reference's
networks do; each phase's generated labels are drawn from the batch's labels (a uniform draw from
a uniformly drawn batch is a training label at random, as the reference's get_label of a random
index is). Sampled images outside training take config.sample.class_idx, or the classes in turn.
"""

import dataclasses
import math
from collections.abc import Callable

import flax
import jax
import jax.numpy as jnp
import optax

from gan_jax import samples
from gan_jax.config import check_choice, parse_seeds
from gan_jax.errors import ConfigError
from gan_jax.families import ada as ada_lib
from gan_jax.families import base, common
from gan_jax.nets import stylegan2 as nets

HALF_DTYPES = {"bfloat16": jnp.bfloat16, "float16": jnp.float16}


@flax.struct.dataclass
class State:
  step: jax.Array  # int32 scalar: iterations done (the loop's)
  rng: jax.Array  # iteration t, phase k draws from fold_in(fold_in(rng, t), k)
  g: common.NetState  # batch_stats holds G's other collections: 'stats' (w_avg), 'consts'
  g_ema: common.NetState  # the EMA of G's params (no optimizer), sampled and scored
  d: common.NetState
  pl_mean: jax.Array  # path length's moving mean
  ada: ada_lib.Ada  # the augment probability and D's signs on the reals since it last moved


def r1_gamma(config) -> float:
  """config.loss.r1_gamma, or the reference's auto rule 0.0002 * res^2 / batch when -1."""
  gamma = config.loss.r1_gamma
  return 0.0002 * config.image_size**2 / config.batch_size if gamma < 0 else gamma


def ema_beta(config, step):
  """The G EMA decay of iteration `step`: half-life ema_kimg (auto: batch * 10 / 32) in images,
  at most ema_rampup x the images seen so far (training_loop.py)."""
  o = config.optim
  ema_nimg = (config.batch_size * 10 / 32 if o.ema_kimg < 0 else o.ema_kimg) * 1000
  if o.ema_rampup:
    ema_nimg = jnp.minimum(ema_nimg, step * config.batch_size * o.ema_rampup)
  return 0.5 ** (config.batch_size / jnp.maximum(ema_nimg, 1e-8))


def num_classes(config) -> int:
  """The classes a conditional G and D see (config.model.num_classes; 0: unconditional)."""
  return config.model.get("num_classes", 0)


def layout_for(config) -> str:
  return "labelled" if num_classes(config) else "unconditional"


def validate_config(config) -> None:
  r = config.image_size
  if r < 8 or r & (r - 1):
    raise ConfigError(f"config.image_size must be a power of two >= 8, got {r}")
  m, loss = config.model, config.loss
  if "g_architecture" in m:  # StyleGAN3's G has none
    check_choice(config, "model.g_architecture", nets.ARCHITECTURES)
  check_choice(config, "model.d_architecture", nets.ARCHITECTURES)
  check_choice(config, "model.half_dtype", tuple(HALF_DTYPES))
  for key in ("z_dim", "w_dim", "mapping_layers", "channel_base", "channel_max", "mbstd_group"):
    if m[key] < 1:
      raise ConfigError(f"config.model.{key} must be >= 1, got {m[key]}")
  classes = num_classes(config)
  if classes < 0:
    raise ConfigError(f"config.model.num_classes must be >= 0 (0: unconditional), got {classes}")
  class_idx = config.sample.get("class_idx", -1)
  if classes and class_idx >= classes:
    raise ConfigError(
      f"config.sample.class_idx={class_idx}: the generator has classes 0-{classes - 1} "
      "(config.model.num_classes)"
    )
  group = min(m.mbstd_group, config.batch_size)
  if config.batch_size % group:
    raise ConfigError(
      f"config.batch_size={config.batch_size} must be a multiple of config.model.mbstd_group="
      f"{m.mbstd_group} (the minibatch-stddev groups)"
    )
  if loss.g_reg_interval and config.batch_size < loss.pl_batch_shrink:
    raise ConfigError(
      f"config.batch_size={config.batch_size} is smaller than config.loss.pl_batch_shrink="
      f"{loss.pl_batch_shrink}: the path-length batch would be empty"
    )
  for key in ("d_reg_interval", "g_reg_interval", "pl_batch_shrink"):
    if loss[key] < 0:
      raise ConfigError(f"config.loss.{key} must be >= 0, got {loss[key]}")
  per_round = _round_batch(config)
  if config.optim.batch_gpu < 0 or (per_round and config.batch_size % per_round):
    raise ConfigError(
      f"config.batch_size={config.batch_size} is not a multiple of config.optim.batch_gpu="
      f"{config.optim.batch_gpu} x {jax.device_count()} devices (the accumulation rounds)"
    )
  if per_round and config.optim.batch_gpu % min(m.mbstd_group, config.optim.batch_gpu):
    raise ConfigError(
      f"config.optim.batch_gpu={config.optim.batch_gpu} must be a multiple of "
      f"config.model.mbstd_group={m.mbstd_group} (D's stddev groups lie within a round)"
    )
  if per_round and loss.g_reg_interval and config.optim.batch_gpu % loss.pl_batch_shrink:
    raise ConfigError(
      f"config.optim.batch_gpu={config.optim.batch_gpu} must be a multiple of "
      f"config.loss.pl_batch_shrink={loss.pl_batch_shrink} (the path-length rounds)"
    )
  _, _, num_ws = _nets(config)
  styles = parse_seeds(config.sample.get("mix_styles", ""), "config.sample.mix_styles")
  if config.sample.get("mix_rows") and styles and max(styles) >= num_ws:
    raise ConfigError(
      f"config.sample.mix_styles={config.sample.mix_styles!r}: a {r} px generator has styles "
      f"0-{num_ws - 1}"
    )
  ada_lib.validate_config(config)


@dataclasses.dataclass(frozen=True)
class Variant:
  """A family that trains with these phases, D, losses and ADA but its own generator: its module
  registers one in VARIANTS under its name (families/stylegan3.py), so this module never imports
  it. generator(config, c_dim) -> (G, num_ws); d_input(config, images, step) -> images: a filter
  on every image D sees at iteration `step`, before the augment pipe (None: none)."""

  generator: Callable
  d_input: Callable | None = None


VARIANTS: dict[str, Variant] = {}  # by config.family


def _nets(config):
  m = config.model
  half = HALF_DTYPES[m.half_dtype]
  widths = dict(channel_base=m.channel_base, channel_max=m.channel_max)
  precision = dict(num_fp16_res=m.num_fp16_res, half_dtype=half, conv_clamp=m.conv_clamp or None)
  variant = VARIANTS.get(config.family)
  if variant is not None:  # another G (StyleGAN3's alias-free one) on this family's D and phases
    g, num_ws = variant.generator(config, num_classes(config))
  else:
    g = nets.Generator(
      m.z_dim,
      num_classes(config),
      m.w_dim,
      config.image_size,
      mapping_kwargs=dict(num_layers=m.mapping_layers, lr_multiplier=m.mapping_lr),
      synthesis_kwargs=dict(**widths, **precision, architecture=m.g_architecture),
    )
    num_ws = nets.SynthesisNetwork(config.image_size, **widths).num_ws
  d = nets.Discriminator(
    num_classes(config),
    config.image_size,
    architecture=m.d_architecture,
    **widths,
    **precision,
    epilogue_kwargs=dict(mbstd_group_size=min(m.mbstd_group, config.batch_size)),
  )
  return g, d, num_ws


def _adam(config, interval: int, lr: float | None = None):
  """The reference's Adam for a net whose regularization runs every `interval` iterations."""
  o = config.optim
  ratio = interval / (interval + 1) if interval else 1.0
  return optax.adam((o.lr if lr is None else lr) * ratio, o.b1**ratio, o.b2**ratio, o.eps)


def _d_adam(config):
  """D's Adam: at config.optim.d_lr where set (StyleGAN3's G and D rates differ), else optim.lr."""
  return _adam(config, config.loss.d_reg_interval, config.optim.get("d_lr", config.optim.lr))


def _clean(grads):
  """The reference replaces NaN / inf in gradients by 0 / +-1e5 before each update."""
  return jax.tree.map(lambda g: jnp.nan_to_num(g, nan=0.0, posinf=1e5, neginf=-1e5), grads)


def create_state(config, rng, example_batch) -> State:
  g, d, _ = _nets(config)
  g_rng, d_rng, run_rng = jax.random.split(rng, 3)
  z = jnp.zeros((2, config.model.z_dim))
  labels = one_hot(config, jnp.zeros((2,), jnp.int32))
  g_vars = g.init({"params": g_rng, "noise": g_rng}, z, labels)
  g_params = g_vars["params"]
  extra = {k: v for k, v in g_vars.items() if k != "params"}  # w_avg, the constant noise
  image = jnp.zeros((2, *example_batch["image"].shape[1:]))
  d_params = d.init(d_rng, image, labels)["params"]
  g_tx = _adam(config, config.loss.g_reg_interval)
  d_tx = _d_adam(config)
  return State(
    step=jnp.zeros((), jnp.int32),
    rng=run_rng,
    g=common.NetState(g_params, extra, g_tx.init(g_params)),
    g_ema=common.NetState(g_params, extra, ()),
    d=common.NetState(d_params, {}, d_tx.init(d_params)),
    pl_mean=jnp.zeros((), jnp.float32),
    ada=ada_lib.init(config),
  )


def _keys(state: State, phase: int, n: int):
  return jax.random.split(jax.random.fold_in(jax.random.fold_in(state.rng, state.step), phase), n)


def one_hot(config, labels):
  """int32 class labels [N] -> the one-hot c [N, num_classes] G and D take ([N, 0] when
  unconditional), as the reference's dataset gives integer labels."""
  return jax.nn.one_hot(labels, num_classes(config), dtype=jnp.float32)


def _generated_labels(config, batch, key, n: int):
  """n labels for generated images: the batch's labels at random positions (conditional), or
  zeros (unconditional, unused)."""
  if not num_classes(config):
    return jnp.zeros((n,), jnp.int32)
  labels = batch["label"]
  return labels[jax.random.randint(key, (n,), 0, labels.shape[0])]


def _mapping(config, g, num_ws, params, extra, z, labels, mix_keys, update=True):
  """ws for latents z and class labels, with style mixing; returns (ws, G's updated
  collections)."""
  c = one_hot(config, labels)
  variables = {"params": params, **extra}
  run = lambda m, z, update: m.mapping(z, c, update_w_avg=update)
  ws, updated = g.apply(variables, z, update, method=run, mutable=["stats"])
  extra = {**extra, **updated} if update else extra
  prob = config.loss.style_mixing
  if prob > 0:
    cut_key, coin_key, z_key = mix_keys
    cutoff = jax.random.randint(cut_key, (), 1, num_ws)
    cutoff = jnp.where(jax.random.uniform(coin_key) < prob, cutoff, num_ws)
    other, _ = g.apply(variables, jax.random.normal(z_key, z.shape), False, method=run, mutable=[])
    ws = jnp.where(jnp.arange(num_ws)[None, :, None] >= cutoff, other, ws)
  return ws, extra


def _synthesis(g, params, extra, ws, noise_key, noise_mode="random"):
  run = lambda m, ws: m.synthesis(ws, noise_mode)
  return g.apply({"params": params, **extra}, ws, method=run, rngs={"noise": noise_key})


def _g_phase_updates_w_avg(config) -> bool:
  """StyleGAN2-ADA's train-mode mapping moves w_avg in every G forward; StyleGAN3's loss.py only
  in the D phase's (update_emas=True in Dmain alone)."""
  return config.family != "stylegan3"


def _synthesis_updating(config, g, params, extra, ws, noise_key):
  """The D phase's synthesis: StyleGAN3's also moves its layers' magnitude EMAs (loss.py, Dmain's
  run_G with update_emas=True). Returns (images, G's collections)."""
  if config.family != "stylegan3":
    return _synthesis(g, params, extra, ws, noise_key), extra
  run = lambda m, ws: m.synthesis(ws, update_emas=True)  # noqa: E731
  images, updated = g.apply({"params": params, **extra}, ws, method=run, mutable=["stats"])
  return images, {**extra, **updated}


def _d(config, d, params, ada, images, labels, aug_key, step=None):
  """D's logits for `images` of class `labels` as D sees them: blurred at iteration `step` where
  the config fades a blur out (StyleGAN3-R), then through the augment pipe."""
  variant = VARIANTS.get(config.family)
  if step is not None and variant is not None and variant.d_input is not None:
    images = variant.d_input(config, images, step)
  images = ada_lib.augment(config, ada, images, aug_key)
  return d.apply({"params": params}, images, one_hot(config, labels))


def path_lengths(synthesis, ws, pl_noise):
  """Per sample: the norm of the gradient of sum(synthesis(ws) * pl_noise) with respect to ws,
  squared and summed over w's features, averaged over the ws, square-rooted (loss.py, Gpl).
  Returns (images, lengths)."""
  images, vjp = jax.vjp(synthesis, ws)
  (grads,) = vjp(pl_noise.astype(images.dtype))
  return images, jnp.sqrt(jnp.mean(jnp.sum(jnp.square(grads), axis=2), axis=1))


def r1_penalty(discriminator, real):
  """Per sample: the squared norm of the gradient of D's logits with respect to the real image
  (loss.py, Dr1)."""
  grads = jax.grad(lambda x: jnp.sum(discriminator(x)))(real)
  return jnp.sum(jnp.square(grads), axis=(1, 2, 3))


def _real_labels(config, batch):
  """The batch's class labels (zeros when unconditional: D ignores them)."""
  n = batch["image"].shape[0]
  return batch["label"] if num_classes(config) else jnp.zeros((n,), jnp.int32)


def _update(net: common.NetState, tx, grads, extra=None) -> common.NetState:
  return common.apply_updates(net, tx, _clean(grads), net.batch_stats if extra is None else extra)


def _round_batch(config) -> int:
  """Samples in one accumulation round over all devices (0: no accumulation)."""
  return config.optim.batch_gpu * jax.device_count()


def _rounds(config) -> int:
  """Gradient-accumulation rounds per phase: batch / (optim.batch_gpu x devices), as the
  reference's --batch-gpu; 1 when optim.batch_gpu is 0 (every device's share at once)."""
  per_round = _round_batch(config)
  return config.batch_size // per_round if per_round else 1


def _chunks(x, rounds: int):
  """[B, ...] -> [rounds, B / rounds, ...]: round r takes the r-th slice of every device's share
  of the batch (the batch is split over the devices in order), so each round stays on its device."""
  x = x.reshape(jax.device_count(), rounds, -1, *x.shape[1:])
  return jnp.swapaxes(x, 0, 1).reshape(rounds, -1, *x.shape[3:])


def accumulate(config, loss_fn, params, carry, per_sample, keys):
  """The mean loss and gradients of a phase over _rounds(config) rounds.

  loss_fn(params, carry, chunk) -> (loss, (carry, metrics)), where chunk is per_sample's slices of
  a round plus "keys" (that round's PRNG keys: `keys` itself with one round, else each folded with
  the round's index). The carry (w_avg, the path-length mean, ADA's sums) threads through the rounds
  in order, as the reference's state does; metrics are averaged over them. The reference sums the
  rounds' gradients; their mean is the same Adam step (up to eps) and a batch's gradient however
  it is split. Returns (loss, carry, metrics, grads).
  """
  grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
  rounds = _rounds(config)
  if rounds == 1:
    (loss, (carry, metrics)), grads = grad_fn(params, carry, {**per_sample, "keys": keys})
    return loss, carry, metrics, grads
  chunks = {k: _chunks(v, rounds) for k, v in per_sample.items()}
  fold = lambda r: jax.vmap(lambda k: jax.random.fold_in(k, r))(keys)  # noqa: E731
  chunks["keys"] = jax.vmap(fold)(jnp.arange(rounds))

  def round_(acc, chunk):
    carry, total = acc
    (loss, (carry, metrics)), grads = grad_fn(params, carry, chunk)
    return (carry, jax.tree.map(jnp.add, total, (loss, grads))), metrics

  zeros = jax.tree.map(jnp.zeros_like, (jnp.zeros((), jnp.float32), params))
  (carry, (loss, grads)), metrics = jax.lax.scan(round_, (carry, zeros), chunks)
  mean = lambda x: x / rounds  # noqa: E731
  return (
    mean(loss),
    carry,
    jax.tree.map(lambda m: jnp.mean(m, 0), metrics),
    jax.tree.map(mean, grads),
  )


def g_main(config, state: State, batch, frozen=None):
  del frozen
  g, d, num_ws = _nets(config)
  ada = ada_lib.adjust(config, state.ada, state.step - 1)  # the previous iteration's, if due
  z_key, *keys = _keys(state, 0, 6)
  n = batch["image"].shape[0]
  z = jax.random.normal(z_key, (n, config.model.z_dim))
  c = _generated_labels(config, batch, jax.random.fold_in(z_key, 1), n)

  def loss_fn(params, extra, chunk):
    noise_key, aug_key, *mix = chunk["keys"]
    ws, extra = _mapping(
      config, g, num_ws, params, extra, chunk["z"], chunk["c"], mix, _g_phase_updates_w_avg(config)
    )
    fake = _synthesis(g, params, extra, ws, noise_key)
    logits = _d(config, d, state.d.params, ada, fake, chunk["c"], aug_key, state.step)
    return jnp.mean(jax.nn.softplus(-logits)), (extra, {"g_fake_logit": jnp.mean(logits)})

  loss, extra, metrics, grads = accumulate(
    config, loss_fn, state.g.params, state.g.batch_stats, {"z": z, "c": c}, jnp.stack(keys)
  )
  g_state = _update(state.g, _adam(config, config.loss.g_reg_interval), grads, extra)
  return state.replace(g=g_state, ada=ada), {"g_loss": loss, **metrics, "aug_p": ada.p}


def g_reg(config, state: State, batch, frozen=None):
  """Path-length regularization on batch / pl_batch_shrink latents (loss.py, Gpl)."""
  del frozen
  g, _, num_ws = _nets(config)
  loss_cfg, size = config.loss, config.image_size
  z_key, noise_key, pl_key, *mix = _keys(state, 1, 6)
  keys = [noise_key, *mix]
  n = batch["image"].shape[0] // loss_cfg.pl_batch_shrink
  z = jax.random.normal(z_key, (n, config.model.z_dim))
  c = _generated_labels(config, batch, jax.random.fold_in(z_key, 1), n)
  pl_noise = jax.random.normal(pl_key, (n, size, size, 3)) / math.sqrt(size * size)

  def loss_fn(params, carry, chunk):
    extra, pl_mean = carry
    noise_key, *mix = chunk["keys"]
    ws, extra = _mapping(config, g, num_ws, params, extra, chunk["z"], chunk["c"], mix)
    synthesis = lambda ws: _synthesis(g, params, extra, ws, noise_key)  # noqa: E731
    _, lengths = path_lengths(synthesis, ws, chunk["pl_noise"])
    pl_mean = pl_mean + (jnp.mean(lengths) - pl_mean) * loss_cfg.pl_decay
    penalty = jnp.square(lengths - pl_mean)
    loss = jnp.mean(penalty * loss_cfg.pl_weight) * loss_cfg.g_reg_interval
    carry = (extra, jax.lax.stop_gradient(pl_mean))  # a round's mean moves the next one's
    return loss, (carry, {"pl_penalty": jnp.mean(penalty)})

  carry = (state.g.batch_stats, state.pl_mean)
  inputs = {"z": z, "pl_noise": pl_noise, "c": c}
  _, (extra, pl_mean), metrics, grads = accumulate(
    config, loss_fn, state.g.params, carry, inputs, jnp.stack(keys)
  )
  g_state = _update(state.g, _adam(config, loss_cfg.g_reg_interval), grads, extra)
  return state.replace(g=g_state, pl_mean=pl_mean), {**metrics, "pl_mean": pl_mean}


def d_main(config, state: State, batch, frozen=None):
  """D's logistic loss on fakes and reals, then the G EMA (loss.py, Dmain; training_loop.py)."""
  del frozen
  g, d, num_ws = _nets(config)
  real = common.to_float_images(batch["image"])
  z_key, *keys = _keys(state, 2, 7)
  z = jax.random.normal(z_key, (real.shape[0], config.model.z_dim))
  c = _generated_labels(config, batch, jax.random.fold_in(z_key, 1), real.shape[0])

  def loss_fn(params, carry, chunk):
    extra, ada = carry
    noise_key, fake_aug, real_aug, *mix = chunk["keys"]
    ws, extra = _mapping(config, g, num_ws, state.g.params, extra, chunk["z"], chunk["c"], mix)
    fake, extra = _synthesis_updating(config, g, state.g.params, extra, ws, noise_key)
    fake = jax.lax.stop_gradient(fake)
    fake_logits = _d(config, d, params, state.ada, fake, chunk["c"], fake_aug, state.step)
    real = chunk["real"]
    real_logits = _d(config, d, params, state.ada, real, chunk["real_c"], real_aug, state.step)
    loss = jnp.mean(jax.nn.softplus(fake_logits)) + jnp.mean(jax.nn.softplus(-real_logits))
    ada = ada_lib.accumulate(config, ada, jax.lax.stop_gradient(real_logits))
    metrics = {
      "d_real_logit": jnp.mean(real_logits),
      "d_fake_logit": jnp.mean(fake_logits),
      "d_real_sign": jnp.mean(jnp.sign(real_logits)),  # what ADA steers toward aug.target
    }
    return loss, ((extra, ada), metrics)

  carry = (state.g.batch_stats, state.ada)
  inputs = {"z": z, "real": real, "c": c, "real_c": _real_labels(config, batch)}
  loss, (extra, ada), metrics, grads = accumulate(
    config, loss_fn, state.d.params, carry, inputs, jnp.stack(keys)
  )
  d_state = _update(state.d, _d_adam(config), grads)
  beta = ema_beta(config, state.step)
  ema = jax.tree.map(lambda e, p: p + (e - p) * beta, state.g_ema.params, state.g.params)
  g_state = state.g.replace(batch_stats=extra)
  g_ema = common.NetState(ema, extra, ())
  state = state.replace(d=d_state, g=g_state, g_ema=g_ema, ada=ada)
  return state, {"d_loss": loss, **metrics}


def d_reg(config, state: State, batch, frozen=None):
  """R1 on the reals, gamma / 2 x the squared gradient norm (loss.py, Dr1)."""
  del frozen
  _, d, _ = _nets(config)
  real = common.to_float_images(batch["image"])
  keys = _keys(state, 3, 1)

  def loss_fn(params, carry, chunk):
    (aug_key,) = chunk["keys"]
    discriminator = lambda x: _d(  # noqa: E731
      config, d, params, state.ada, x, chunk["real_c"], aug_key, state.step
    )
    penalty = r1_penalty(discriminator, chunk["real"])
    loss = jnp.mean(penalty * (r1_gamma(config) / 2)) * config.loss.d_reg_interval
    return loss, (carry, {"r1_penalty": jnp.mean(penalty)})

  inputs = {"real": real, "real_c": _real_labels(config, batch)}
  _, _, metrics, grads = accumulate(config, loss_fn, state.d.params, (), inputs, keys)
  d_state = _update(state.d, _d_adam(config), grads)
  return state.replace(d=d_state), metrics


def steps(config):
  named = {"g_main": g_main, "d_main": d_main}
  if config.loss.g_reg_interval and config.loss.pl_weight:
    named["g_reg"] = g_reg
  if config.loss.d_reg_interval and r1_gamma(config):
    named["d_reg"] = d_reg
  return named


def schedule(config, step: int) -> tuple[str, ...]:
  """The reference's phases in its order: Gmain, Greg, Dmain, Dreg."""
  loss, named = config.loss, steps(config)
  names = ["g_main"]
  if "g_reg" in named and step % loss.g_reg_interval == 0:
    names.append("g_reg")
  names.append("d_main")
  if "d_reg" in named and step % loss.d_reg_interval == 0:
    names.append("d_reg")
  return tuple(names)


def sample_labels(config, n: int):
  """The classes of n images sampled outside training: config.sample.class_idx for all, or the
  classes in turn (0, 1, ..., 0, 1, ...: as evenly as a balanced dataset's labels).
  Unconditional: zeros, unused."""
  class_idx = config.sample.get("class_idx", -1)
  if class_idx >= 0:
    return jnp.full((n,), class_idx, jnp.int32)
  return jnp.arange(n, dtype=jnp.int32) % max(num_classes(config), 1)


def _ema_variables(state: State):
  return {"params": state.g_ema.params, **state.g_ema.batch_stats}


def _generate(config, state: State, z, labels, rng=None):
  g, _, _ = _nets(config)
  noise = jax.random.key(0) if rng is None else rng
  psi = config.sample.get("truncation_psi", 1.0)
  c = one_hot(config, labels)
  images = g.apply(
    _ema_variables(state), z, c, truncation_psi=psi, noise_mode="const", rngs={"noise": noise}
  )
  return jnp.clip(images, -1.0, 1.0)


def generate(config, state: State, z, rng=None):
  """Images from latents with the EMA generator and its constant noise, truncated towards w_avg
  by config.sample.truncation_psi; conditional: of the classes `sample_labels` gives."""
  return _generate(config, state, z, sample_labels(config, z.shape[0]), rng)


def sample_images(config, state: State, z):
  """The sample grid: the latents' images; conditional: one row per class, the same latent down
  each column (sample.num // num_classes columns, at least one)."""
  classes = num_classes(config)
  if not classes:
    return samples.as_grid(generate(config, state, z))
  cols = max(1, z.shape[0] // classes)
  z = jnp.tile(z[:cols], (classes, 1))
  labels = jnp.repeat(jnp.arange(classes, dtype=jnp.int32), cols)
  images = _generate(config, state, z, labels)
  return images.reshape(classes, cols, *images.shape[1:])


def style_mix(config, state: State, z_rows, z_cols, styles):
  """NVlabs' style_mixing.py: the EMA generator's ws (truncated by config.sample.truncation_psi,
  constant noise) of every row and column latent, and for each (row, column) the row's ws with
  the style layers in `styles` (indices into ws) taken from the column's. Conditional: of the
  classes `sample_labels` gives."""
  g, _, num_ws = _nets(config)
  z = jnp.concatenate([z_rows, z_cols])
  c = one_hot(config, sample_labels(config, z.shape[0]))
  psi = config.sample.get("truncation_psi", 1.0)
  map_ = lambda m, z: m.mapping(z, c, truncation_psi=psi)  # noqa: E731
  ws = g.apply(_ema_variables(state), z, method=map_)
  rows, cols = ws[: len(z_rows)], ws[len(z_rows) :]
  take = jnp.zeros(num_ws, bool).at[jnp.asarray(styles)].set(True)[None, None, :, None]
  mixed = jnp.where(take, cols[None], rows[:, None])  # [R, C, num_ws, w_dim]
  all_ws = jnp.concatenate([rows, cols, mixed.reshape(-1, *ws.shape[1:])])
  images = jnp.clip(
    _synthesis(g, state.g_ema.params, state.g_ema.batch_stats, all_ws, jax.random.key(0), "const"),
    -1.0,
    1.0,
  )
  r, c = len(z_rows), len(z_cols)
  return images[:r], images[r : r + c], images[r + c :].reshape(r, c, *images.shape[1:])


def w_mapping(config, state: State, z, labels):
  """The EMA mapping's untruncated w [N, w_dim] of latents z and class labels."""
  g, _, _ = _nets(config)
  run = lambda m, z, c: m.mapping(z, c)  # noqa: E731
  return g.apply(_ema_variables(state), z, one_hot(config, labels), method=run)[:, 0]


def w_synthesis(config, state: State, ws, noise):
  """The EMA synthesis of ws [N, num_ws, w_dim] with `noise` (w_noise's form) as its constant
  noise images; not clipped (a projection differentiates through it)."""
  g, _, _ = _nets(config)
  extra = {**state.g_ema.batch_stats, "consts": noise}
  return _synthesis(g, state.g_ema.params, extra, ws, jax.random.key(0), "const")


def w_noise(config, state: State):
  """Every synthesis layer's constant noise image [res, res] (the 'consts' collection)."""
  del config
  return state.g_ema.batch_stats["consts"]


sample_inputs = base.latent_sample_inputs

FAMILY = base.Family(
  name="stylegan2",
  layout="unconditional",
  layout_for=layout_for,
  num_classes=num_classes,
  validate_config=validate_config,
  create_state=create_state,
  steps=steps,
  schedule=schedule,
  generate=generate,
  truncation=True,
  style_mix=style_mix,
  w_space=base.WSpace(
    num_ws=lambda config: _nets(config)[2],
    mapping=w_mapping,
    synthesis=w_synthesis,
    noise=w_noise,
  ),
  sample_inputs=sample_inputs,
  sample_images=sample_images,
)
