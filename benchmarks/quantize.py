"""Smaller generators: the ONNX file size and the quality of float32, bf16 and int8 weights.

  python benchmarks/quantize.py --translation=runs/pix2pix_cpu --generation=runs/dcgan_tiny

For each trained run given (its newest checkpoint) and each of config.export.quantize none | bf16 |
int8 (gan_jax/quantize.py):
- bytes: the exported ONNX file (--mode=export at the run's export size), and onnxruntime's
  largest difference from JAX on a random input;
- translation: on the run's eval split (the embedded toon test split is ground truth), the mean
  PSNR (dB) of the outputs against the float32 outputs and against the targets, and SSIM against
  the targets;
- generation: on eval.num_samples samples from fixed latents, SWD x 1e3 (gan_jax/metrics/swd.py)
  against the float32 samples of the same latents, and PSNR against them; the float32 row's SWD is
  against float32 samples of other latents, the floor set by sampling alone.
Prints one JSON line.
"""

import json
import pathlib
import sys
import tempfile

import numpy as np
from absl import app, flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from gan_jax import backend, logs  # noqa: E402
from gan_jax import config as config_lib  # noqa: E402

flags.DEFINE_string("translation", "", "Workdir of a trained translation run (e.g. pix2pix :cpu).")
flags.DEFINE_string("generation", "", "Workdir of a trained unconditional run (e.g. dcgan).")
FLAGS = flags.FLAGS
MODES = ("none", "bf16", "int8")


def _mean_psnr(a, b) -> float:
  from gan_jax.metrics import image_quality  # noqa: PLC0415

  return round(float(np.mean(image_quality.psnr(a, b))), 3)


def _file_bytes(config, workdir, mode, out_dir) -> dict:
  from gan_jax import export  # noqa: PLC0415

  config = config.copy_and_resolve_references()
  config.export.quantize = mode
  path = export.export(config, workdir, "onnx", str(pathlib.Path(out_dir) / f"{mode}.onnx"))
  info = json.loads(path.with_suffix(".json").read_text())
  return {"bytes": info["bytes"], "onnxruntime_max_abs_diff": info["onnxruntime_max_abs_diff"]}


def _outputs(config, workdir, mode, seed_offset=0):
  """(family, scored sets) of the run's newest checkpoint with `mode` weights (unconditional:
  from the latents of config.seed + seed_offset)."""
  from gan_jax import evaluators, quantize, run  # noqa: PLC0415

  config = config.copy_and_resolve_references()
  config.export.quantize = mode
  config.seed += seed_offset
  _, state, _ = run.restore_newest(config, pathlib.Path(workdir))
  family = run.validate(config)
  state = quantize.apply(config, state)
  make = evaluators._translations if family.translates else evaluators._samples  # noqa: SLF001
  return family, make(config, family, state)[1]


def _score_run(workdir: str) -> dict:
  from gan_jax.metrics import image_quality, swd  # noqa: PLC0415

  config, _ = config_lib.load_run_config(workdir, "")
  rows, fp32 = {}, None
  with tempfile.TemporaryDirectory() as out_dir:
    for mode in MODES:
      family, sets = _outputs(config, workdir, mode)
      row = _file_bytes(config, workdir, mode, out_dir)
      if fp32 is None:
        fp32 = sets
      for (direction, scored), (_, reference) in zip(sets, fp32, strict=True):
        tag = f"{direction}_" if family.translates and len(sets) > 1 else ""
        row[f"{tag}psnr_vs_fp32"] = (
          _mean_psnr(scored.output, reference.output) if mode != "none" else None
        )
        if family.translates:
          row[f"{tag}psnr_vs_target"] = _mean_psnr(scored.output, scored.target)
          row[f"{tag}ssim_vs_target"] = round(
            float(np.mean(image_quality.ssim(scored.output, scored.target))), 4
          )
        else:
          other = scored.output
          if mode == "none":  # float32 from other latents: the floor of sampling noise
            other = _outputs(config, workdir, mode, seed_offset=1)[1][0][1].output
          row["swd_vs_fp32"] = round(swd.swd(reference.output, other)["swd_mean"], 3)
      rows[mode] = row
  return {
    "workdir": str(workdir),
    "family": config.family,
    "total_steps": config.total_steps,
    **rows,
  }


def main(argv):
  del argv
  if not FLAGS.translation and not FLAGS.generation:
    raise app.UsageError("give --translation=DIR and/or --generation=DIR (trained runs)")
  logs.setup()
  backend.setup()
  out = {}
  for kind, workdir in (("translation", FLAGS.translation), ("generation", FLAGS.generation)):
    if workdir:
      out[kind] = _score_run(workdir)
  print(json.dumps(out))


if __name__ == "__main__":
  app.run(main)
