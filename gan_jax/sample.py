"""--mode=sample: a grid and one PNG per sample from the newest checkpoint of a run."""

import functools
import json
import pathlib

import jax
from absl import logging

from gan_jax import parallel, run, samples


def sample(config, workdir) -> pathlib.Path:
  """Writes a grid and individual PNGs from the newest checkpoint; returns their folder."""
  workdir = run.prepare_workdir(workdir)
  setup, state, step = run.restore_newest(config, workdir)
  inputs = run.fixed_sample_inputs(config, setup.family)
  grid = jax.device_get(
    jax.jit(functools.partial(setup.family.sample_images, config))(state, inputs)
  )
  out = workdir / "samples" / f"sample_step_{step:07d}"
  if parallel.is_lead_process():
    samples.save_png(out / "grid.png", samples.tile(grid))
    images = samples.to_uint8(grid.reshape(-1, *grid.shape[2:]))
    for i, image in enumerate(images):
      samples.save_png(out / f"{i:04d}.png", image)
    (out / "info.json").write_text(json.dumps({"step": step, "num": len(images)}) + "\n")
    logging.info("wrote %d samples and grid.png to %s", len(images), out)
  return out
