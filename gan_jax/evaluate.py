"""--mode=eval: score the newest checkpoint of any family on its eval split.

Writes `DIR/eval/step_<N>.json` and TensorBoard scalars `eval/<metric>`; translation families also
get `DIR/results/index.html` (input | output | target rows), as users of the reference repo expect.
- unconditional families: SWD (metrics/swd.py) of `eval.num_samples` samples against as many real
  eval images.
- paired translation: PSNR and SSIM of the outputs against the ground-truth targets, beside the
  identity baseline (the input itself scored against the target).
- unpaired translation: both directions; PSNR/SSIM as above where testA[i] and testB[i] show the
  same scene (`aligned_test`), else SWD of the outputs against the real target-domain images.
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
from gan_jax.config import check_choice
from gan_jax.data import pipeline
from gan_jax.families import common, unpaired
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


def aligned_test(config) -> bool:
  """Whether unpaired eval pairs are ground truth for each other: as config.eval.aligned_test says,
  or ('auto') for the embedded toon data, whose testB[i] is the cartoon of testA[i]. Unpaired user
  folders have no such pairs."""
  check_choice(config, "eval.aligned_test", unpaired.ALIGNED_TEST)
  setting = config.eval.aligned_test
  if setting == "auto":
    return not config.data.folder and config.data.name.split("/")[0] == "toon"
  return setting == "yes"


def _translate_all(config, family, state, source: np.ndarray, direction: str) -> np.ndarray:
  rng = jax.random.fold_in(jax.random.key(config.seed), 0xE7A1)
  translate = jax.jit(
    lambda state, x: family.translate(config, state, common.to_float_images(x), rng, direction)
  )
  return samples.to_uint8(
    run_batched(functools.partial(translate, state), source, config.eval.batch_size)
  )


def _scores(output: np.ndarray, source: np.ndarray, target: np.ndarray, aligned: bool) -> dict:
  """PSNR/SSIM against the ground truth beside the identity baseline; or, without ground truth,
  SWD of the outputs against the real target-domain images."""
  if not aligned:
    return {k: round(v, 4) for k, v in swd.swd(target, output).items()}
  metric = lambda x: {
    "psnr": float(np.mean(image_quality.psnr(x, target))),
    "ssim": float(np.mean(image_quality.ssim(x, target))),
  }
  ours, identity = metric(output), metric(source)
  return {
    "psnr": round(ours["psnr"], 4),
    "ssim": round(ours["ssim"], 4),
    "identity_psnr": round(identity["psnr"], 4),
    "identity_ssim": round(identity["ssim"], 4),
    "psnr_gain_db": round(ours["psnr"] - identity["psnr"], 4),
  }


def _eval_translation(config, setup, state):
  """Paired: the trained direction. Unpaired: both directions, testA[i] against testB[i]."""
  family, layout = setup.family, setup.family.DATA_LAYOUT
  batches = list(eval_batches(config, layout))
  a = np.concatenate([b["image_a"] for b in batches])
  b = np.concatenate([b["image_b"] for b in batches])
  aligned = layout == "paired" or aligned_test(config)
  if layout == "paired":
    directions = [config.data.direction]
  else:
    directions = ["AtoB", "BtoA"]
  results, rows = {"num_images": len(a)}, []
  for direction in directions:
    source, target = (a, b) if direction == "AtoB" else (b, a)
    output = _translate_all(config, family, state, source, direction)
    scores = _scores(output, source, target, aligned)
    if layout == "paired":
      results.update(direction=direction, **scores)
    else:
      results[direction] = scores
    rows.append((direction, source, output, target))
  skipped = {"swd": "translation outputs are scored against their targets (PSNR/SSIM)"}
  if not aligned:
    reason = (
      "testA[i] and testB[i] are not the same scene (set config.eval.aligned_test=yes if they "
      "are); the outputs are scored by SWD against the real target-domain images instead"
    )
    skipped = {"psnr": reason, "ssim": reason}
  return results, rows, skipped


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


def _flat_scalars(results: dict, prefix: str) -> dict[str, float]:
  """{'AtoB': {'psnr': 1}} -> {'<prefix>AtoB/psnr': 1}; numbers only, without the step."""
  out = {}
  for key, value in results.items():
    if isinstance(value, dict):
      out.update(_flat_scalars(value, f"{prefix}{key}/"))
    elif isinstance(value, (int, float)) and key != "step":
      out[prefix + key] = value
  return out


def _page_rows(config, examples):
  """One row per eval example: input | output | target for each direction scored."""
  n = min(config.eval.html_rows, len(examples[0][1]))
  rows = []
  for i in range(n):
    cells = []
    for direction, source, output, target in examples:
      tag = "" if len(examples) == 1 else f"{direction}_"
      cells += [(f"{tag}input", source[i]), (f"{tag}output", output[i])]
      cells.append((f"{tag}target", target[i]))
    rows.append((f"{i:04d}", cells))
  return rows


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
  else:
    results, examples, more_skipped = _eval_translation(config, setup, state)
    skipped.update(more_skipped)
  results = {"step": step, "split": config.data.eval_split, **results, "skipped": skipped}
  if parallel.is_lead_process():
    out = workdir / "eval" / f"step_{step:07d}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    writer = writers_lib.TensorBoardWriter(workdir)
    writer.write_scalars(step, _flat_scalars(results, "eval/"))
    writer.close()
    if examples is not None:
      page = write_results_page(
        workdir / "results", f"{config.family} step {step}", _page_rows(config, examples)
      )
      logging.info("results page: %s", page)
    logging.info(
      "eval at step %d: %s (written to %s)",
      step,
      {k: v for k, v in results.items() if k != "skipped"},
      out,
    )
  return results
