"""Evaluators by name: what --mode=eval and `config.eval_every` score, chosen by the family's kind.

What is scored is one or more sets of outputs (`Scored`): an unconditional family's samples against
real eval images; a translation family's outputs per direction (the trained one for paired data,
AtoB and BtoA for unpaired) against the target-domain images, with the inputs as the identity
baseline. Every evaluator in `EVALUATORS` then scores each set or says why it cannot:
- `psnr_ssim`: PSNR and SSIM against the ground truth, beside the identity baseline (the input
  itself scored against the target), where the targets are ground truth (`aligned`);
- `swd` (metrics/swd.py): the outputs' distance to the real target images as a set, beside the
  identity baseline's for translation;
- `fid_kid` (metrics/fid.py): FID and KID against the real target images (and the identity
  baseline's), given the FID Inception weights file (config.eval.inception_weights).
A family with an input transform (Family.equivariance: StyleGAN3) also gets EQ-T, EQ-T frac and
EQ-R.
Whether a test split is ground truth is the dataset's to say (`sources.aligned_splits`: the
embedded toon data's test split), or the config's (`eval.aligned_test`). Metrics that cannot run are
listed under "skipped" with the reason, never silently missing. Every process reads the whole eval
split and computes the same numbers; the lead process writes `eval[_<split>]/step_<N>.json`,
TensorBoard scalars and the run's page `results[_<split>]/index.html` (gan_jax/results_page.py).
"""

import dataclasses
import functools
import json
import pathlib

import jax
import numpy as np
from absl import logging

from gan_jax import parallel, results_page, samples
from gan_jax import writers as writers_lib
from gan_jax.config import base_config
from gan_jax.data import pipeline, sources
from gan_jax.families import common
from gan_jax.metrics import equivariance as eq_metrics
from gan_jax.metrics import fid, image_quality, swd
from gan_jax.metrics.features import InceptionFeatures, run_batched

NO_WEIGHTS = (
  "needs the FID Inception weights file: set config.eval.inception_weights to "
  "pt_inception-2015-12-05-6726825d.pth (the file pytorch-fid uses)"
)
DEFAULT_SPLIT = base_config().data.eval_split  # scored into eval/ and results/


@dataclasses.dataclass
class Scored:
  """One set of outputs to score, uint8 [N, H, W, 3] each."""

  output: np.ndarray  # samples or translations
  target: np.ndarray  # real images of the output's domain; ground truth where `aligned`
  source: np.ndarray | None = None  # translation inputs (the identity baseline)
  aligned: bool = False  # target[i] is the ground truth of output[i]
  unaligned_reason: str = ""  # why it is not, for translation


def _psnr_ssim(scored: Scored, inception) -> tuple[dict, dict]:
  del inception
  if scored.source is None:
    reason = "no ground truth for unconditional samples"
    return {}, {"psnr": reason, "ssim": reason}
  if not scored.aligned:
    return {}, {"psnr": scored.unaligned_reason, "ssim": scored.unaligned_reason}
  metric = lambda x: {
    "psnr": float(np.mean(image_quality.psnr(x, scored.target))),
    "ssim": float(np.mean(image_quality.ssim(x, scored.target))),
  }
  ours, identity = metric(scored.output), metric(scored.source)
  return {
    "psnr": round(ours["psnr"], 4),
    "ssim": round(ours["ssim"], 4),
    "identity_psnr": round(identity["psnr"], 4),
    "identity_ssim": round(identity["ssim"], 4),
    "psnr_gain_db": round(ours["psnr"] - identity["psnr"], 4),
  }, {}


def _swd(scored: Scored, inception) -> tuple[dict, dict]:
  """SWD of the outputs to the real target images: how far they are from looking like the target
  domain, ground truth or not. Translation also gets the identity baseline's (the inputs'), drawn
  on the same patches and projections, and their ratio."""
  del inception
  try:
    scores = swd.swd(scored.target, scored.output)
  except ValueError as e:  # e.g. a side that is not a power of two >= 16
    return {}, {"swd": f"SWD cannot score {scored.output.shape[1:3]} images: {e}"}
  scores = {k: round(v, 4) for k, v in scores.items()}
  if scored.source is not None:
    identity = swd.swd(scored.target, scored.source)["swd_mean"]
    scores["identity_swd_mean"] = round(identity, 4)
    scores["swd_vs_identity"] = round(scores["swd_mean"] / max(identity, 1e-12), 4)
  return scores, {}


def _fid_kid(scored: Scored, inception) -> tuple[dict, dict]:
  """FID/KID of the output against the real target images (and of the source, the identity
  baseline, where there is one)."""
  if inception is None:
    return {}, {"fid": NO_WEIGHTS, "kid": NO_WEIGHTS}
  real = inception.cached(scored.target)
  scores, skipped = {}, {}
  for prefix, images in (("", scored.output), ("identity_", scored.source)):
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


EVALUATORS = {"psnr_ssim": _psnr_ssim, "swd": _swd, "fid_kid": _fid_kid}


def aligned_test(config) -> bool:
  """Whether unpaired eval pairs are ground truth for each other: as config.eval.aligned_test says,
  or ('auto') as the dataset declares for config.data.eval_split (sources.aligned_splits)."""
  setting = config.eval.aligned_test
  if setting == "auto":
    return config.data.eval_split in sources.aligned_splits(config.data)
  return setting == "yes"


def eval_batches(config, layout: str):
  """The whole eval split (every process reads all of it), in eval.batch_size batches."""
  return pipeline.make_dataset(
    config, layout, config.eval.batch_size, train=False, process_index=0, process_count=1
  )


def _samples(config, family, state) -> tuple[int, list]:
  """Unconditional: eval.num_samples samples against as many real eval images."""
  reals = np.concatenate([b["image"] for b in eval_batches(config, family.layout)])
  n = min(config.eval.num_samples, len(reals))
  z_rng = jax.random.fold_in(jax.random.key(config.seed), 0xE7A1)
  with_n = config.copy_and_resolve_references()
  with_n.sample.num = n
  inputs = family.sample_inputs(with_n, z_rng, None)
  generate = jax.jit(functools.partial(family.generate, config))
  fakes = samples.to_uint8(
    run_batched(lambda z: generate(state, z, None), np.asarray(inputs), config.eval.batch_size)
  )
  return n, [("", Scored(output=fakes, target=reals[:n]))]


def _translations(config, family, state) -> tuple[int, list]:
  """Translation: each direction's outputs against the eval split's other images."""
  batches = list(eval_batches(config, family.layout))
  a = np.concatenate([b["image_a"] for b in batches])
  b = np.concatenate([b["image_b"] for b in batches])
  aligned = family.layout == "paired" or aligned_test(config)
  split = config.data.eval_split
  reason = (
    f"{split}A[i] and {split}B[i] are not the same scene (set config.eval.aligned_test=yes if "
    f"they are); the outputs are scored by SWD against the real target-domain images instead"
  )
  rng = jax.random.fold_in(jax.random.key(config.seed), 0xE7A1)
  sets = []
  for direction in family.directions(config):
    source, target = (a, b) if direction == "AtoB" else (b, a)
    translate = jax.jit(
      lambda state, x, d=direction: family.translate(
        config, state, common.to_float_images(x), rng, d
      )
    )
    output = samples.to_uint8(
      run_batched(functools.partial(translate, state), source, config.eval.batch_size)
    )
    sets.append((direction, Scored(output, target, source, aligned, reason)))
  return len(a), sets


def _page_rows(config, sets):
  """One row per eval example: input | output | target for each direction scored."""
  n = min(config.eval.html_rows, len(sets[0][1].output))
  rows = []
  for i in range(n):
    cells = []
    for direction, scored in sets:
      tag = "" if len(sets) == 1 else f"{direction}_"
      cells += [(f"{tag}input", scored.source[i]), (f"{tag}output", scored.output[i])]
      cells.append((f"{tag}target", scored.target[i]))
    rows.append((f"{i:04d}", cells))
  return rows


def _flat_scalars(results: dict, prefix: str) -> dict[str, float]:
  """{'AtoB': {'psnr': 1}} -> {'<prefix>AtoB/psnr': 1}; numbers only, without the step."""
  out = {}
  for key, value in results.items():
    if isinstance(value, dict):
      out.update(_flat_scalars(value, f"{prefix}{key}/"))
    elif isinstance(value, (int, float)) and key != "step":
      out[prefix + key] = value
  return out


def equivariance(config, family, state) -> dict:
  """EQ-T, EQ-T frac and EQ-R in dB (metrics/equivariance.py) of eval.num_samples latents (whole
  eval.batch_size batches), for a family that synthesizes with an input transform."""
  run = jax.jit(functools.partial(family.equivariance, config))
  size = config.eval.batch_size
  n = max(size, config.eval.num_samples // size * size)
  z_rng = jax.random.fold_in(jax.random.key(config.seed), 0xE0)
  z = np.asarray(jax.random.normal(z_rng, (n, config.model.z_dim)))
  batches = [z[i : i + size] for i in range(0, n, size)]
  synthesize = lambda zs, transform: np.asarray(run(state, zs, transform))
  return {
    "eq_t": round(eq_metrics.eq_t(synthesize, batches), 4),
    "eq_t_frac": round(eq_metrics.eq_t(synthesize, batches, fractional=True), 4),
    "eq_r": round(eq_metrics.eq_r(synthesize, batches), 4),
  }


class Scorer:
  """Scores train states of one run; the FID Inception (config.eval.inception_weights) is loaded
  once, here."""

  def __init__(self, config, setup, workdir):
    self.config, self.family, self.workdir = config, setup.family, pathlib.Path(workdir)
    weights = config.eval.inception_weights
    self.inception = InceptionFeatures(config, setup.mesh) if weights else None

  def score(self, state, step: int) -> dict:
    """Writes eval/step_<N>.json, TensorBoard scalars and results/index.html; returns the
    results."""
    config, family = self.config, self.family
    make_sets = _translations if family.translates else _samples
    num_images, sets = make_sets(config, family, state)
    results, skipped = {"num_images": num_images}, {}
    for name, scored in sets:
      scores = {}
      for evaluator in EVALUATORS.values():
        more, more_skipped = evaluator(scored, self.inception)
        scores.update(more)
        skipped.update(more_skipped)
      if len(sets) == 1:  # one set: its scores at the top (with the direction of a translation)
        results.update({"direction": name, **scores} if name else scores)
      else:
        results[name] = scores
    if family.equivariance is not None:
      results.update(equivariance(config, family, state))
    split = config.data.eval_split
    results = {"step": step, "split": split, **results, "skipped": skipped}
    if parallel.is_lead_process():
      self._write(results, sets if family.translates else None, step)
    return results

  def _write(self, results: dict, sets, step: int) -> None:
    # Another split (say, train, to tell under- from overfitting) is written beside the test
    # split's results, never over them.
    split, workdir = self.config.data.eval_split, self.workdir
    suffix = "" if split == DEFAULT_SPLIT else f"_{split}"
    out = workdir / f"eval{suffix}" / f"step_{step:07d}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    writer = writers_lib.TensorBoardWriter(workdir)
    writer.write_scalars(step, _flat_scalars(results, f"eval{suffix}/"))
    writer.close()
    page = results_page.write(
      workdir,
      suffix,
      f"{self.config.family} step {step}, {split} split",
      _page_rows(self.config, sets) if sets is not None else None,
    )
    logging.info("results page: %s", page)
    shown = {k: v for k, v in results.items() if k != "skipped"}
    logging.info("eval at step %d: %s (written to %s)", step, shown, out)
