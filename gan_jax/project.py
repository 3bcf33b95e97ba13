"""--mode=project: the w whose image comes closest to a target image, as NVlabs' projector.py
(stylegan2-ada-pytorch, commit d72cc7d) finds it, for families that generate from w
(Family.w_space).

  python -m gan_jax.main --workdir=runs/sg2 --mode=project --target=photo.png [--output=DIR] \
      [--config.sample.seeds=303] [--config.project.num_steps=1000] \
      [--config.project.vgg16_weights=vgg16-397923af.pth]

The target is centre-cropped to a square and resized to the generator's side (Lanczos), as the
reference does. w starts at the mean of config.project.w_avg_samples mapped latents (numpy
RandomState(123), the reference's); Adam (0.9, 0.999) moves w and every constant noise image of
the synthesis (drawn afresh, N(0, 1)) for config.project.num_steps steps, at a learning rate
ramped up linearly over the first lr_rampup of the steps and down by a half cosine over the last
lr_rampdown; w is jittered by N(0, 1) x w_std x noise_factor x (1 - t / noise_ramp)^2, and each
noise image's autocorrelation (its products with itself shifted by one pixel down and across, at
every 2x2-averaged scale down to 8x8) is penalised with weight noise_weight, the image renormalised
to mean 0 and variance 1 after every step.

The distance: with config.project.vgg16_weights (torchvision's vgg16 state dict, supplied by the
user), LPIPS-style on VGG16's relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3 (each feature vector
unit-normalised, squared differences summed over channels, averaged over positions, summed over
layers; LPIPS's learned channel weights are not in that file, so every channel weighs 1), on images
area-downsampled to 256 px when larger, as the reference's. Without it: the mean squared
difference of pixels in [-1, 1]. The log says which.

Written to --output (default WORKDIR/projections/<target name>_seed<seed>_step<checkpoint step>):
target.png, proj.png (the final w with the optimised noise), projected_w.npz ('w' [1, num_ws,
w_dim] as the reference writes it, and each optimised noise image under 'noise.<layer path>'),
frames/step_NNNNN.png (target | projection every config.project.frame_every steps; video is left
to the user's tools) and info.json.
"""

import functools
import json
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging
from PIL import Image

from gan_jax import config as config_lib
from gan_jax import parallel, run, samples
from gan_jax.data import images as image_io
from gan_jax.errors import ConfigError, UserError

DEFAULT_SEED = 303  # projector.py --seed
W_AVG_SEED = 123  # projector.py draws the latents of w's mean and spread from this RandomState
LPIPS_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")  # LPIPS's VGG16 taps
VGG_MAX_SIDE = 256  # larger images are area-downsampled to this before VGG (projector.py)
NOISE_REG_MIN_SIDE = 8  # the autocorrelation penalty stops averaging down at this side


def load_target(path: str, size: int) -> np.ndarray:
  """The target image as uint8 [size, size, 3]: centre-cropped to a square and resized with
  Lanczos, as projector.py prepares it. UserError for a missing, non-image or unreadable file."""
  if not path:
    raise UserError("--mode=project needs --target=IMAGE: the image to find a w for")
  file = pathlib.Path(path)
  if not file.is_file():
    raise UserError(f"--target {path} does not exist or is not a file")
  if not image_io.is_image_file(file):
    extensions = ", ".join(sorted(image_io.IMAGE_EXTENSIONS))
    raise UserError(f"--target {path} is not an image file ({extensions})")
  image = Image.fromarray(image_io.read_rgb(file))  # DataError (one line) when unreadable
  w, h = image.size
  side = min(w, h)
  image = image.crop(((w - side) // 2, (h - side) // 2, (w + side) // 2, (h + side) // 2))
  if side != size:
    logging.info("target %s: %dx%d, centre-cropped to %d and resized to %d", path, w, h, side, size)
  return np.asarray(image.resize((size, size), Image.LANCZOS), np.uint8)


def _seed(config) -> int:
  seeds = config_lib.parse_seeds(config.sample.get("seeds", ""))
  if len(seeds) > 1:
    raise ConfigError(f"config.sample.seeds={config.sample.seeds!r}: --mode=project takes one seed")
  return seeds[0] if seeds else DEFAULT_SEED


def _labels(config, family, n: int):
  """Class labels for the mapping: config.sample.class_idx for a conditional generator."""
  classes, class_idx = family.num_classes(config), config.sample.get("class_idx", -1)
  if class_idx >= 0 and not classes:
    raise UserError(f"config.sample.class_idx={class_idx}: this {family.name} is unconditional")
  if classes and class_idx < 0:
    raise UserError(
      f"config.sample.class_idx: this {family.name} is conditional on {classes} classes; "
      f"--mode=project needs one (0-{classes - 1})"
    )
  return np.full((n,), max(class_idx, 0), np.int32)


def validate(config) -> None:
  """ConfigError for config.project values that cannot be used."""
  p = config.project
  for key in ("num_steps", "w_avg_samples"):
    if p[key] < 1:
      raise ConfigError(f"config.project.{key} must be >= 1, got {p[key]}")
  for key in ("lr", "noise_factor", "noise_weight", "lr_rampdown", "lr_rampup", "noise_ramp"):
    if p[key] < 0:
      raise ConfigError(f"config.project.{key} must be >= 0, got {p[key]}")
  if p.frame_every < 0:
    raise ConfigError(
      f"config.project.frame_every must be >= 0 (0: no frames), got {p.frame_every}"
    )
  weights = p.vgg16_weights
  if weights and not pathlib.Path(weights).expanduser().is_file():
    raise ConfigError(f"config.project.vgg16_weights: no such file {weights}")


def ramps(p, step, num_steps):
  """(learning rate, w jitter as a multiple of w_std) of step `step` (a number or traced):
  projector.py's schedule."""
  t = step / num_steps
  jitter = p.noise_factor * jnp.square(jnp.maximum(0.0, 1.0 - t / max(p.noise_ramp, 1e-8)))
  down = jnp.minimum(1.0, (1.0 - t) / max(p.lr_rampdown, 1e-8))
  ramp = (0.5 - 0.5 * jnp.cos(down * jnp.pi)) * jnp.minimum(1.0, t / max(p.lr_rampup, 1e-8))
  return p.lr * ramp, jitter


def noise_regularization(noise) -> jax.Array:
  """Sum over the noise images [H, W] and their 2x2-averaged versions down to 8x8 of the squared
  mean product with the image shifted by one pixel (wrapping), across and down."""
  total = jnp.zeros((), jnp.float32)
  for image in jax.tree.leaves(noise):
    while True:
      total += jnp.square(jnp.mean(image * jnp.roll(image, 1, axis=1)))
      total += jnp.square(jnp.mean(image * jnp.roll(image, 1, axis=0)))
      if image.shape[0] <= NOISE_REG_MIN_SIDE:
        break
      h, w = image.shape
      image = image.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
  return total


def normalize_noise(noise):
  """Each noise image shifted to mean 0 and scaled to mean square 1."""

  def one(image):
    image = image - jnp.mean(image)
    return image * jax.lax.rsqrt(jnp.mean(jnp.square(image)))

  return jax.tree.map(one, noise)


def _area_downsample(images, side: int):
  factor = images.shape[1] // side
  if factor <= 1:
    return images
  n, h, w, c = images.shape
  return images.reshape(n, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))


def vgg_layers(image_size: int) -> tuple[str, ...]:
  """LPIPS's layers that an image of this side still has a position in (relu5_3 needs 16 px)."""
  side = min(image_size, VGG_MAX_SIDE)
  return tuple(name for name in LPIPS_LAYERS if side >> (int(name[4]) - 1) >= 1)


def make_distance(config):
  """(kind, features_fn, params): features_fn(params, images in [-1, 1]) -> features whose summed
  squared difference is the distance; `kind` names it for the log."""
  weights = config.project.vgg16_weights
  if not weights:
    return "mean squared error of pixels in [-1, 1]", _pixel_features, {}
  from gan_jax.nets import vgg  # noqa: PLC0415 - only with a weights file

  layers = vgg_layers(config.image_size)
  params = vgg.load_params(pathlib.Path(weights).expanduser(), "vgg16", layers)
  kind = f"LPIPS-style VGG16 distance ({', '.join(layers)}) with {weights}"
  return kind, functools.partial(_lpips_features, layers=layers), params


def _pixel_features(params, images):
  del params
  return images / jnp.sqrt(images[0].size)  # summed squared differences = the mean


def _lpips_features(params, images, layers):
  """Per layer: each position's feature vector unit-normalised and scaled by 1 / sqrt(positions),
  so that the summed squared difference is LPIPS's unweighted distance."""
  from gan_jax.nets import vgg  # noqa: PLC0415

  images = _area_downsample(images, VGG_MAX_SIDE)
  found = vgg.features(params, images, "vgg16", layers, "imagenet_rgb")
  out = []
  for name in layers:
    f = found[name]
    f = f / (jnp.sqrt(jnp.sum(jnp.square(f), axis=-1, keepdims=True)) + 1e-10)
    out.append(f.reshape(f.shape[0], -1) / np.sqrt(f.shape[1] * f.shape[2]))
  return jnp.concatenate(out, axis=1)


def w_stats(config, w_space, state, labels):
  """(w_avg [w_dim], w_std): the mean of project.w_avg_samples mapped latents and their root mean
  squared distance from it."""
  n = config.project.w_avg_samples
  z = np.random.RandomState(W_AVG_SEED).randn(n, config.model.z_dim).astype(np.float32)
  mapping = jax.jit(functools.partial(w_space.mapping, config))
  chunk = 1000
  ws = np.concatenate(
    [
      np.asarray(mapping(state, z[i : i + chunk], labels[i : i + chunk]))
      for i in range(0, n, chunk)
    ]
  ).astype(np.float64)
  w_avg = ws.mean(axis=0)
  w_std = float(np.sqrt(np.sum(np.square(ws - w_avg)) / n))
  return w_avg.astype(np.float32), w_std


def make_step(config, w_space, features_fn, w_std: float):
  """The jitted projection step:
  (state, vgg params, target features, opt {'w', 'noise'}, adam state, step, key)
  -> (opt, adam state, {'dist', 'noise_reg', 'loss'})."""
  p, num_ws = config.project, w_space.num_ws(config)
  adam = optax.scale_by_adam(0.9, 0.999, 1e-8)  # torch.optim.Adam's defaults, as projector.py's

  def loss_fn(opt, state, params, target, jitter, key):
    w = opt["w"] + jax.random.normal(key, opt["w"].shape) * jitter
    ws = jnp.repeat(w[:, None, :], num_ws, axis=1)
    images = w_space.synthesis(config, state, ws, opt["noise"]).astype(jnp.float32)
    dist = jnp.sum(jnp.square(features_fn(params, images) - target))
    reg = noise_regularization(opt["noise"])
    return dist + reg * p.noise_weight, (dist, reg)

  @jax.jit
  def step(state, params, target, opt, adam_state, i, key):
    lr, jitter = ramps(p, i, p.num_steps)
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    (loss, (dist, reg)), grads = grad_fn(opt, state, params, target, jitter * w_std, key)
    updates, adam_state = adam.update(grads, adam_state)
    opt = jax.tree.map(lambda x, u: x - lr * u, opt, updates)
    opt = {"w": opt["w"], "noise": normalize_noise(opt["noise"])}
    return opt, adam_state, {"dist": dist, "noise_reg": reg, "loss": loss}

  return step, adam


def project(config, family, state, target: np.ndarray, seed: int, distance=None, on_frame=None):
  """Runs the projection of `target` (uint8 [R, R, 3]) through `family.w_space` from `state`.

  Args:
    distance: make_distance(config) (made here when None).
    on_frame: called as on_frame(step, image in [-1, 1] [R, R, 3]) every project.frame_every
      steps (and after the last).

  Returns:
    (w [w_dim], optimised noise, final image [R, R, 3] in [-1, 1], metrics of the last step).
  """
  w_space, p = family.w_space, config.project
  kind, features_fn, params = make_distance(config) if distance is None else distance
  logging.info("project: %s", kind if p.vgg16_weights else f"{kind} (no project.vgg16_weights)")
  labels = _labels(config, family, p.w_avg_samples)
  w_avg, w_std = w_stats(config, w_space, state, labels)
  logging.info("project: w_avg and w_std %.4f from %d mapped latents", w_std, p.w_avg_samples)
  target_images = jnp.asarray(target[None], jnp.float32) / 127.5 - 1.0
  target_features = jax.jit(features_fn)(params, target_images)
  key = jax.random.key(seed)
  noise = w_space.noise(config, state)
  leaves, treedef = jax.tree.flatten(noise)
  noise_keys = jax.random.split(jax.random.fold_in(key, 0), max(len(leaves), 1))
  fresh = [jax.random.normal(k, x.shape, jnp.float32) for k, x in zip(noise_keys, leaves)]  # noqa: B905
  opt = {"w": jnp.asarray(w_avg[None]), "noise": jax.tree.unflatten(treedef, fresh)}
  step, adam = make_step(config, w_space, features_fn, w_std)
  adam_state = adam.init(opt)
  render = jax.jit(
    lambda state, opt: jnp.clip(
      w_space.synthesis(
        config, state, jnp.repeat(opt["w"][:, None], w_space.num_ws(config), 1), opt["noise"]
      ),
      -1.0,
      1.0,
    )[0]
  )
  jitter_key = jax.random.fold_in(key, 1)
  every = max(1, p.num_steps // 20)
  first = last_log = time.time()  # steps/s counts from the end of the first (compiling) step
  for i in range(p.num_steps):
    opt, adam_state, metrics = step(
      state, params, target_features, opt, adam_state, i, jax.random.fold_in(jitter_key, i)
    )
    done = i + 1
    if on_frame and p.frame_every and (done % p.frame_every == 0 or done == p.num_steps):
      on_frame(done, np.asarray(render(state, opt)))
    if done == 1 or done % every == 0 or done == p.num_steps or time.time() - last_log > 30:
      dist, loss = float(metrics["dist"]), float(metrics["loss"])  # waits for the step
      last_log = time.time()
      if done == 1:
        first = last_log
        speed = "first step compiled"
      else:
        rate = (done - 1) / max(last_log - first, 1e-9)
        speed = f"{rate:.1f} steps/s, {(p.num_steps - done) / rate:.0f} s left"
      logging.info(
        "project step %d/%d: dist %.4f loss %.4f (%s)", done, p.num_steps, dist, loss, speed
      )
  image = np.asarray(render(state, opt))
  return np.asarray(opt["w"][0]), jax.device_get(opt["noise"]), image, jax.device_get(metrics)


def _check_output(output: str) -> None:
  if output and pathlib.Path(output).exists() and not pathlib.Path(output).is_dir():
    raise UserError(f"--output {output} exists and is not a folder")


def project_mode(
  config, workdir, target_path: str, output: str = "", step: int | None = None
) -> pathlib.Path:
  """--mode=project: checks everything, restores the newest checkpoint (or the one of `step`),
  projects, writes the outputs; returns their folder."""
  workdir = run.prepare_workdir(workdir)
  family = run.validate(config)
  if family.w_space is None:
    raise UserError(
      f"config.family={family.name!r} does not generate from a w; --mode=project is for "
      "StyleGAN-like families"
    )
  validate(config)
  seed = _seed(config)
  _labels(config, family, 1)
  _check_output(output)
  target = load_target(target_path, config.image_size)
  distance = make_distance(config)  # a bad weights file fails here, before the checkpoint is read
  _, state, step = run.restore_newest(config, workdir, step)
  name = f"{pathlib.Path(target_path).stem}_seed{seed}_step{step:07d}"
  out = pathlib.Path(output) if output else workdir / "projections" / name
  lead = parallel.is_lead_process()

  def save_frame(done, image):
    if lead:
      frame = np.concatenate([target, samples.to_uint8(image)], axis=1)
      samples.save_png(out / "frames" / f"step_{done:05d}.png", frame)

  w, noise, image, metrics = project(config, family, state, target, seed, distance, save_frame)
  if lead:
    samples.save_png(out / "target.png", target)
    samples.save_png(out / "proj.png", samples.to_uint8(image))
    num_ws = family.w_space.num_ws(config)
    arrays = {"w": np.repeat(w[None, None], num_ws, axis=1)}
    for path, leaf in jax.tree_util.tree_flatten_with_path(noise)[0]:
      arrays["noise." + ".".join(str(getattr(k, "key", k)) for k in path)] = np.asarray(leaf)
    np.savez(out / "projected_w.npz", **arrays)
    info = {
      "target": str(target_path),
      "checkpoint_step": step,
      "seed": seed,
      "num_steps": config.project.num_steps,
      "distance": distance[0],
      **{k: float(v) for k, v in metrics.items()},
    }
    (out / "info.json").write_text(json.dumps(info) + "\n")
    logging.info("wrote projected_w.npz, proj.png, target.png and frames to %s", out)
  return out
