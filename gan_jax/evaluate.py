"""--mode=eval: score the newest checkpoint of any family on its eval split.

Writes `DIR/eval/step_<N>.json` and TensorBoard scalars `eval/<metric>`; translation families also
get `DIR/results/index.html` (input | output | target rows), as users of the reference repo expect.
- unconditional families: SWD (metrics/swd.py) of `eval.num_samples` samples against as many real
  eval images.
- paired translation: PSNR and SSIM of the outputs against the ground-truth targets, beside the
  identity baseline (the input itself scored against the target).
Metrics that cannot run here are listed under "skipped" with the reason, never silently missing.
Every process reads the whole eval split and computes the same numbers; the lead process writes.
"""

import functools
import html
import json
import pathlib

import jax
import numpy as np
from absl import logging

from gan_jax import parallel, samples, train
from gan_jax import writers as writers_lib
from gan_jax.data import pipeline
from gan_jax.errors import UserError
from gan_jax.families import common
from gan_jax.metrics import image_quality, swd

SKIPPED_ALWAYS = {
  "fid": "needs the FID Inception weights file (not supported yet)",
  "kid": "needs the FID Inception weights file (not supported yet)",
}


def eval_batches(config, layout: str):
  """The whole eval split (every process reads all of it), in eval.batch_size batches."""
  return pipeline.make_dataset(
    config, layout, config.eval.batch_size, train=False, process_index=0, process_count=1
  )


def run_batched(fn, images: np.ndarray, batch_size: int) -> np.ndarray:
  """fn over `images` in fixed-size batches (the last one padded), so fn compiles once."""
  outputs = []
  for start in range(0, len(images), batch_size):
    chunk = images[start : start + batch_size]
    pad = batch_size - len(chunk)
    if pad:
      chunk = np.concatenate([chunk, np.repeat(chunk[-1:], pad, axis=0)])
    outputs.append(np.asarray(fn(chunk))[: batch_size - pad])
  return np.concatenate(outputs)


def _eval_unconditional(config, setup, state):
  reals = np.concatenate([b["image"] for b in eval_batches(config, "unconditional")])
  n = min(config.eval.num_samples, len(reals))
  reals = reals[:n]
  z_rng = jax.random.fold_in(jax.random.key(config.seed), 0xE7A1)
  inputs = setup.family.sample_inputs(_with_sample_num(config, n), z_rng, None)
  generate = jax.jit(functools.partial(setup.family.generate, config))
  fakes = samples.to_uint8(
    run_batched(lambda z: generate(state, z, None), np.asarray(inputs), config.eval.batch_size)
  )
  scores = swd.swd(reals, fakes)
  return {"num_images": n, **{k: round(v, 4) for k, v in scores.items()}}, None


def _with_sample_num(config, n):
  config = config.copy_and_resolve_references()
  config.sample.num = n
  return config


def _eval_paired(config, setup, state):
  family = setup.family
  batches = list(eval_batches(config, "paired"))
  a = np.concatenate([b["image_a"] for b in batches])
  b = np.concatenate([b["image_b"] for b in batches])
  source, target = (a, b) if config.data.direction == "AtoB" else (b, a)
  rng = jax.random.fold_in(jax.random.key(config.seed), 0xE7A1)
  translate = jax.jit(
    lambda state, x: family.translate(
      config, state, common.to_float_images(x), rng, config.data.direction
    )
  )
  output = samples.to_uint8(
    run_batched(functools.partial(translate, state), source, config.eval.batch_size)
  )
  metric = lambda x: {
    "psnr": float(np.mean(image_quality.psnr(x, target))),
    "ssim": float(np.mean(image_quality.ssim(x, target))),
  }
  ours, identity = metric(output), metric(source)
  results = {
    "num_images": len(source),
    "direction": config.data.direction,
    "psnr": round(ours["psnr"], 4),
    "ssim": round(ours["ssim"], 4),
    "identity_psnr": round(identity["psnr"], 4),
    "identity_ssim": round(identity["ssim"], 4),
    "psnr_gain_db": round(ours["psnr"] - identity["psnr"], 4),
  }
  return results, (source, output, target)


def write_results_page(directory: pathlib.Path, title: str, rows) -> pathlib.Path:
  """index.html with one row of images per example; rows: (name, [(label, uint8 image), ...])."""
  images_dir = directory / "images"
  cells = []
  for name, row in rows:
    tds = []
    for label, image in row:
      file = f"{name}_{label}.png"
      samples.save_png(images_dir / file, image)
      tds.append(f'<td><img src="images/{file}" width="256"><br>{html.escape(label)}</td>')
    cells.append(f"<tr><td>{html.escape(name)}</td>{''.join(tds)}</tr>")
  page = (
    f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
    f"</head><body><h2>{html.escape(title)}</h2><table>\n"
    + "\n".join(cells)
    + "\n</table></body></html>\n"
  )
  directory.mkdir(parents=True, exist_ok=True)
  path = directory / "index.html"
  path.write_text(page)
  return path


def evaluate(config, workdir) -> dict:
  """Scores the newest checkpoint in `workdir`; returns what it wrote to eval/step_<N>.json."""
  workdir = pathlib.Path(workdir)
  setup, state, step = train.restore_newest(config, workdir)
  layout = setup.family.DATA_LAYOUT
  skipped = dict(SKIPPED_ALWAYS)
  if layout == "unconditional":
    results, examples = _eval_unconditional(config, setup, state)
    skipped.update(
      psnr="no ground truth for unconditional samples",
      ssim="no ground truth for unconditional samples",
    )
  elif layout == "paired":
    results, examples = _eval_paired(config, setup, state)
    skipped.update(swd="translation outputs are scored against their targets (PSNR/SSIM)")
  else:
    raise UserError(f"--mode=eval does not support the {layout} layout yet")
  results = {"step": step, "split": config.data.eval_split, **results, "skipped": skipped}
  if parallel.is_lead_process():
    out = workdir / "eval" / f"step_{step:07d}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    writer = writers_lib.TensorBoardWriter(workdir)
    writer.write_scalars(
      step,
      {f"eval/{k}": v for k, v in results.items() if isinstance(v, (int, float)) and k != "step"},
    )
    writer.close()
    if examples is not None:
      source, output, target = examples
      rows = [
        (f"{i:04d}", [("input", source[i]), ("output", output[i]), ("target", target[i])])
        for i in range(min(config.eval.html_rows, len(source)))
      ]
      page = write_results_page(workdir / "results", f"{config.family} step {step}", rows)
      logging.info("results page: %s", page)
    logging.info(
      "eval at step %d: %s (written to %s)",
      step,
      {k: v for k, v in results.items() if k != "skipped"},
      out,
    )
  return results
