"""--mode=sample: a grid and one PNG per sample from the newest checkpoint of a run; with
config.sample.seeds, one image per seed (unconditional families), at config.sample.truncation_psi
where the family truncates."""

import functools
import json
import pathlib

import jax
import numpy as np
from absl import logging

from gan_jax import config as config_lib
from gan_jax import parallel, run, samples
from gan_jax.errors import UserError


def sample(config, workdir) -> pathlib.Path:
  """Writes a grid and individual PNGs from the newest checkpoint; returns their folder."""
  workdir = run.prepare_workdir(workdir)
  family = run.validate(config)
  seeds = config_lib.parse_seeds(config.sample.get("seeds", ""))
  psi = config.sample.get("truncation_psi", 1.0)
  if seeds and family.generate is None:
    raise UserError(f"config.sample.seeds: {family.name} translates; seeds are for generators")
  if psi != 1.0 and not family.truncation:
    raise UserError(f"config.sample.truncation_psi={psi}: {family.name} has no truncation")
  setup, state, step = run.restore_newest(config, workdir)
  if seeds:
    z = np.stack([np.random.RandomState(s).randn(config.model.z_dim) for s in seeds])
    images = jax.device_get(jax.jit(functools.partial(family.generate, config))(state, z))
    grid = samples.as_grid(images)
    names = [f"seed{s:04d}.png" for s in seeds]
    out = workdir / "samples" / f"seeds_step_{step:07d}_psi{psi:g}"
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
    (out / "info.json").write_text(json.dumps(info) + "\n")
    logging.info("wrote %d samples and grid.png to %s", len(images), out)
  return out
