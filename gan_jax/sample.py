"""--mode=sample: a grid and one PNG per sample from the newest checkpoint of a run; with
config.sample.seeds, one image per seed (unconditional families); with config.sample.mix_rows and
mix_cols, a style-mixing grid (families that mix styles); at config.sample.truncation_psi where
the family truncates; for a conditional generator, seeds and mixing grids of config.sample.class_idx
(the grid shows one row per class); with config.sample.video (StyleGAN3), instead, an mp4 of the
seeds' grid as the input transform translates or rotates (video.transform_clip)."""

import functools
import json
import pathlib

import jax
import numpy as np
from absl import logging

from gan_jax import config as config_lib
from gan_jax import parallel, quantize, run, samples
from gan_jax.errors import UserError


def _class_suffix(config) -> str:
  class_idx = config.sample.get("class_idx", -1)
  return f"_class{class_idx}" if class_idx >= 0 else ""


def _latents(config, seeds):
  """NVlabs' generate.py latents: numpy RandomState(seed).randn(z_dim), one per seed."""
  return np.stack([np.random.RandomState(s).randn(config.model.z_dim) for s in seeds])


def _style_mixing_grid(config, family, state, rows):
  """The style-mixing grid of NVlabs' style_mixing.py: a black corner, the column seeds' images
  along the top, the row seeds' down the left, and in each cell the row's ws with the styles of
  config.sample.mix_styles taken from the column's. Returns (grid, file names)."""
  cols = config_lib.parse_seeds(config.sample.mix_cols, "config.sample.mix_cols")
  styles = config_lib.parse_seeds(config.sample.mix_styles, "config.sample.mix_styles")
  mix = jax.jit(functools.partial(family.style_mix, config), static_argnums=3)
  row_images, col_images, mixed = jax.device_get(
    mix(state, _latents(config, rows), _latents(config, cols), tuple(styles))
  )
  top = np.concatenate([-np.ones_like(row_images[:1]), col_images])[None]  # black corner
  grid = np.concatenate([top, np.concatenate([row_images[:, None], mixed], axis=1)])
  names = ["corner.png", *(f"col{c:04d}.png" for c in cols)]
  for r in rows:
    names += [f"row{r:04d}.png", *(f"row{r:04d}-col{c:04d}.png" for c in cols)]
  return grid, names


def check_class(config, family, needs: str) -> None:
  """UserError for config.sample.class_idx given to an unconditional generator, or, when `needs`
  names what wants a class, missing for a conditional one."""
  class_idx, classes = config.sample.get("class_idx", -1), family.num_classes(config)
  if class_idx >= 0 and not classes:
    raise UserError(f"config.sample.class_idx={class_idx}: this {family.name} is unconditional")
  if needs and classes and class_idx < 0:
    raise UserError(
      f"config.sample.class_idx: this {family.name} is conditional on {classes} classes; "
      f"{needs} need one (0-{classes - 1})"
    )


def _check_clip(family, seeds) -> None:
  from gan_jax import video  # noqa: PLC0415 - PyAV is optional

  if family.equivariance is None:
    raise UserError(f"config.sample.video: {family.name} has no input transform to move")
  if not seeds:
    raise UserError("config.sample.video needs config.sample.seeds (say 0-3): the clip's grid")
  video._av("config.sample.video")


def _transform_clip(config, family, state, seeds, step, workdir) -> pathlib.Path:
  """config.sample.video's clip of the seeds (video.transform_clip) and its info.json, in
  samples/<video>_step_<N>_psi<psi>/; returns that folder."""
  from gan_jax import video  # noqa: PLC0415

  kind, psi = config.sample.video, config.sample.get("truncation_psi", 1.0)
  out = workdir / "samples" / f"{kind}_step_{step:07d}_psi{psi:g}{_class_suffix(config)}"
  lead = parallel.is_lead_process()
  report = video.transform_clip(
    config, family, state, _latents(config, seeds), out / f"{kind}.mp4", write=lead
  )
  if lead:
    keys = ("video", "video_frames", "video_fps", "video_shift")
    info = {"step": step, "seeds": seeds, "truncation_psi": psi, **report}
    info.update({k: config.sample[k] for k in keys})
    (out / "info.json").write_text(json.dumps(info) + "\n")
    logging.info("wrote a %s clip of %d frames to %s", kind, report["frames"], out)
  return out


def sample(config, workdir, step: int | None = None) -> pathlib.Path:
  """Writes a grid and individual PNGs from the newest checkpoint (or the one of `step`); returns
  their folder."""
  workdir = run.prepare_workdir(workdir)
  family = run.validate(config)
  seeds = config_lib.parse_seeds(config.sample.get("seeds", ""))
  mix_rows = config_lib.parse_seeds(config.sample.get("mix_rows", ""), "config.sample.mix_rows")
  psi = config.sample.get("truncation_psi", 1.0)
  if seeds and family.generate is None:
    raise UserError(f"config.sample.seeds: {family.name} translates; seeds are for generators")
  if mix_rows and family.style_mix is None:
    raise UserError(f"config.sample.mix_rows: {family.name} has no style mixing")
  if psi != 1.0 and not family.truncation:
    raise UserError(f"config.sample.truncation_psi={psi}: {family.name} has no truncation")
  check_class(config, family, "seeds and mixing grids" if seeds or mix_rows else "")
  clip = config.sample.get("video", "")
  if clip:
    _check_clip(family, seeds)
  setup, state, step = run.restore_newest(config, workdir, step)
  state = quantize.apply(config, state)  # config.export.quantize: what an exported file computes
  if clip:
    return _transform_clip(config, family, state, seeds, step, workdir)
  if mix_rows:
    grid, names = _style_mixing_grid(config, family, state, mix_rows)
    out = workdir / "samples" / f"mixing_step_{step:07d}_psi{psi:g}{_class_suffix(config)}"
  elif seeds:
    images = jax.device_get(
      jax.jit(functools.partial(family.generate, config))(state, _latents(config, seeds))
    )
    grid = samples.as_grid(images)
    names = [f"seed{s:04d}.png" for s in seeds]
    out = workdir / "samples" / f"seeds_step_{step:07d}_psi{psi:g}{_class_suffix(config)}"
  else:
    inputs = run.fixed_sample_inputs(config, family)
    grid = jax.device_get(jax.jit(functools.partial(family.sample_images, config))(state, inputs))
    names = [f"{i:04d}.png" for i in range(grid.shape[0] * grid.shape[1])]
    out = workdir / "samples" / f"sample_step_{step:07d}"
  if parallel.is_lead_process():
    samples.save_png(out / "grid.png", samples.tile(grid))
    images = samples.to_uint8(grid.reshape(-1, *grid.shape[2:]))
    for name, image in zip(names, images, strict=True):
      samples.save_png(out / name, image)
    info = {"step": step, "num": len(images), "seeds": seeds, "truncation_psi": psi}
    if family.num_classes(config):
      info["class_idx"] = config.sample.get("class_idx", -1)
    if mix_rows:
      info.update({k: config.sample[k] for k in ("mix_rows", "mix_cols", "mix_styles")})
    (out / "info.json").write_text(json.dumps(info) + "\n")
    logging.info("wrote %d samples and grid.png to %s", len(images), out)
  return out
