"""--mode=eval: score the newest checkpoint of any family on its eval split.

Writes `DIR/eval/step_<N>.json` and TensorBoard scalars `eval/<metric>`; translation families also
get `DIR/results/index.html` (input | output | target rows), as users of the reference repo expect.
Another split than `test` (`--config.data.eval_split=train`) goes to `eval_<split>/`,
`results_<split>/` and `eval_<split>/<metric>` instead, beside the test split's results.
- unconditional families: SWD (metrics/swd.py) of `eval.num_samples` samples against as many real
  eval images.
- paired translation: PSNR and SSIM of the outputs against the ground-truth targets, beside the
  identity baseline (the input itself scored against the target).
- unpaired translation: both directions; PSNR/SSIM as above where testA[i] and testB[i] show the
  same scene (`aligned_test`), else SWD of the outputs against the real target-domain images.
- FID and KID (metrics/fid.py) wherever SWD or PSNR/SSIM is scored, given the FID Inception weights
  file (config.eval.inception_weights): outputs or samples against the real images of the target
  domain, beside the identity baseline (the inputs themselves) for translation. Features are
  extracted over the mesh (the batch split over its devices); real-image features are cached.
Metrics that cannot run here are listed under "skipped" with the reason, never silently missing.
Every process reads the whole eval split and computes the same numbers; the lead process writes.
`config.eval_every` runs the same scoring on the training state during training.
"""

import functools
import hashlib
import html
import json
import os
import pathlib

import jax
import numpy as np
from absl import logging

from gan_jax import backend, parallel, samples, train
from gan_jax import writers as writers_lib
from gan_jax.config import base_config, check_choice
from gan_jax.data import pipeline
from gan_jax.families import common, unpaired
from gan_jax.metrics import fid, image_quality, swd

NO_WEIGHTS = (
  "needs the FID Inception weights file: set config.eval.inception_weights to "
  "pt_inception-2015-12-05-6726825d.pth (the file pytorch-fid uses)"
)
DEFAULT_FEATURE_CACHE = backend.DEFAULT_CACHE_DIR.parent / "inception_features"
DEFAULT_SPLIT = base_config().data.eval_split  # scored into eval/ and results/


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


class InceptionFeatures:
  """The FID Inception over the mesh: 2048-d features of uint8 images; real sets cached on disk,
  keyed by the weights file and the images' bytes (so a changed dataset is never served stale)."""

  def __init__(self, config, mesh):
    from gan_jax.metrics import inception  # noqa: PLC0415 - only where FID/KID run

    path = pathlib.Path(config.eval.inception_weights).expanduser()
    self._params = jax.device_put(inception.load_params(path), parallel.replicated(mesh))
    self._weights = hashlib.sha256(path.read_bytes()).digest()
    self._cache = pathlib.Path(config.eval.feature_cache or DEFAULT_FEATURE_CACHE).expanduser()
    devices = mesh.devices.size
    self._batch_size = -(-config.eval.batch_size // devices) * devices  # a multiple of devices
    self._sharding = parallel.batch_sharding(mesh)
    self._features = jax.jit(inception.features, out_shardings=parallel.replicated(mesh))

  def _run(self, chunk: np.ndarray):
    floats = chunk.astype(np.float32) / 255
    x = jax.make_array_from_callback(floats.shape, self._sharding, lambda index: floats[index])
    return self._features(self._params, x)

  def __call__(self, images: np.ndarray) -> np.ndarray:
    """uint8 [N, H, W, 3] -> float32 [N, 2048]."""
    return run_batched(self._run, images, self._batch_size)

  def cached(self, images: np.ndarray) -> np.ndarray:
    """As __call__, for the real images: read from or written to the feature cache."""
    key = hashlib.sha256(self._weights + str(images.shape).encode() + images.tobytes())
    file = self._cache / f"{key.hexdigest()[:32]}.npy"
    if file.is_file():
      return np.load(file)
    features = self(images)
    if parallel.is_lead_process():
      self._cache.mkdir(parents=True, exist_ok=True)
      partial = file.with_suffix(f".{os.getpid()}.tmp")
      with open(partial, "wb") as f:
        np.save(f, features)
      partial.replace(file)  # atomic: a reader never sees half a file
    return features


def _inception_scores(inception, output, target, source=None) -> tuple[dict, dict]:
  """FID/KID of `output` against the real `target` images (and of `source`, the identity
  baseline, where given); returns (scores, skipped)."""
  if inception is None:
    return {}, {"fid": NO_WEIGHTS, "kid": NO_WEIGHTS}
  real = inception.cached(target)
  scores, skipped = {}, {}
  for prefix, images in (("", output), ("identity_", source)):
    if images is None:
      continue
    features = inception(images)
    try:
      scores[f"{prefix}fid"] = round(fid.fid(features, real), 4)
    except ValueError as e:  # e.g. too few images for a covariance the square root can take
      skipped[f"{prefix}fid"] = f"FID failed on {len(images)} images: {e}"
    kid = fid.kid(features, real)
    scores[f"{prefix}kid"] = round(kid["kid"], 6)
    scores[f"{prefix}kid_std"] = round(kid["kid_std"], 6)
    scores["kid_subset_size"] = kid["kid_subset_size"]  # the same for output and source
  return scores, skipped


def _eval_unconditional(config, setup, state, inception):
  reals = np.concatenate([b["image"] for b in eval_batches(config, "unconditional")])
  n = min(config.eval.num_samples, len(reals))
  reals = reals[:n]
  z_rng = jax.random.fold_in(jax.random.key(config.seed), 0xE7A1)
  inputs = setup.family.sample_inputs(_with_sample_num(config, n), z_rng, None)
  generate = jax.jit(functools.partial(setup.family.generate, config))
  fakes = samples.to_uint8(
    run_batched(lambda z: generate(state, z, None), np.asarray(inputs), config.eval.batch_size)
  )
  scores = {k: round(v, 4) for k, v in swd.swd(reals, fakes).items()}
  more, skipped = _inception_scores(inception, fakes, reals)
  return {"num_images": n, **scores, **more}, None, skipped


def _with_sample_num(config, n):
  config = config.copy_and_resolve_references()
  config.sample.num = n
  return config


def aligned_test(config) -> bool:
  """Whether unpaired eval pairs are ground truth for each other: as config.eval.aligned_test says,
  or ('auto') for the test split of the embedded toon data, whose testB[i] is the cartoon of
  testA[i] (its trainB holds cartoons of other crops than trainA). Unpaired user folders have no
  such pairs."""
  check_choice(config, "eval.aligned_test", unpaired.ALIGNED_TEST)
  setting = config.eval.aligned_test
  if setting == "auto":
    toon = not config.data.folder and config.data.name.split("/")[0] == "toon"
    return toon and config.data.eval_split == "test"
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


def _eval_translation(config, setup, state, inception):
  """Paired: the trained direction. Unpaired: both directions, testA[i] against testB[i] (or the
  pairs of config.data.eval_split)."""
  family, layout = setup.family, setup.family.DATA_LAYOUT
  batches = list(eval_batches(config, layout))
  a = np.concatenate([b["image_a"] for b in batches])
  b = np.concatenate([b["image_b"] for b in batches])
  aligned = layout == "paired" or aligned_test(config)
  if layout == "paired":
    directions = [config.data.direction]
  else:
    directions = ["AtoB", "BtoA"]
  results, rows, inception_skipped = {"num_images": len(a)}, [], {}
  for direction in directions:
    source, target = (a, b) if direction == "AtoB" else (b, a)
    output = _translate_all(config, family, state, source, direction)
    scores = _scores(output, source, target, aligned)
    more, more_skipped = _inception_scores(inception, output, target, source)
    scores.update(more)
    inception_skipped.update(more_skipped)
    if layout == "paired":
      results.update(direction=direction, **scores)
    else:
      results[direction] = scores
    rows.append((direction, source, output, target))
  skipped = {"swd": "translation outputs are scored against their targets (PSNR/SSIM)"}
  if not aligned:
    split = config.data.eval_split
    reason = (
      f"{split}A[i] and {split}B[i] are not the same scene (set config.eval.aligned_test=yes if "
      f"they are); the outputs are scored by SWD against the real target-domain images instead"
    )
    skipped = {"psnr": reason, "ssim": reason}
  return results, rows, {**skipped, **inception_skipped}


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
  return score(config, setup, state, step, workdir)


def score(config, setup, state, step: int, workdir: pathlib.Path, inception=None) -> dict:
  """Scores `state` (at `step`): writes eval/step_<N>.json, TensorBoard scalars and, for
  translation, results/index.html; returns the results. `inception`: an InceptionFeatures to
  reuse (made here from config.eval.inception_weights when None and that is set)."""
  if inception is None and config.eval.inception_weights:
    inception = InceptionFeatures(config, setup.mesh)
  layout = setup.family.DATA_LAYOUT
  if layout == "unconditional":
    results, examples, skipped = _eval_unconditional(config, setup, state, inception)
    skipped.update(
      psnr="no ground truth for unconditional samples",
      ssim="no ground truth for unconditional samples",
    )
  else:
    results, examples, skipped = _eval_translation(config, setup, state, inception)
  split = config.data.eval_split
  results = {"step": step, "split": split, **results, "skipped": skipped}
  if parallel.is_lead_process():
    # Another split (say, train, to tell under- from overfitting) is written beside the test
    # split's results, never over them.
    suffix = "" if split == DEFAULT_SPLIT else f"_{split}"
    out = workdir / f"eval{suffix}" / f"step_{step:07d}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    writer = writers_lib.TensorBoardWriter(workdir)
    writer.write_scalars(step, _flat_scalars(results, f"eval{suffix}/"))
    writer.close()
    if examples is not None:
      page = write_results_page(
        workdir / f"results{suffix}",
        f"{config.family} step {step}, {split} split",
        _page_rows(config, examples),
      )
      logging.info("results page: %s", page)
    logging.info(
      "eval at step %d: %s (written to %s)",
      step,
      {k: v for k, v in results.items() if k != "skipped"},
      out,
    )
  return results
