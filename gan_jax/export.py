"""--mode=export: a run's generator as an ONNX file, for onnxruntime and other ONNX runtimes.

  python -m gan_jax.main --workdir=DIR --mode=export --format=onnx [--output=FILE.onnx]
      [--direction=AtoB|BtoA] [--config.export.quantize=none|bf16|int8]
      [--config.export.image_size=N] [--config.export.batch_size=N]

What is exported is the function the other modes run, on the newest checkpoint, with its weights
baked in (gan_jax/onnx_graph.py writes the graph):
  translation (pix2pix, CycleGAN, DualGAN, U-GAT-IT): `images` float32 [B, S, S, 3] (NHWC, in
    [-1, 1]) -> `output` of the same shape, the translation in `--direction` (default: the trained
    one), as --mode=translate computes it: pix2pix keeps its test-time dropout (masks drawn once
    from config.seed and stored) and each image's own batch statistics unless model.eval_mode;
  unconditional (DCGAN, StyleGAN2, StyleGAN3): `z` float32 [B, z_dim] -> `images` [B, H, W, 3]
    in [-1, 1]. StyleGAN2 and StyleGAN3 are exported from z, through the mapping net with
    config.sample.truncation_psi baked in (StyleGAN2: and the constant noise; StyleGAN3: with its
    input's user transform at the identity, as --mode=sample draws); DCGAN normalises with the
    statistics of the exported batch, as it samples.
Shapes are static: S is config.export.image_size (default data.eval_size, else image_size; a
multiple of the generator's stride) and B config.export.batch_size. Beside FILE.onnx, FILE.json
says what goes in and out, the step and the quantisation; when onnxruntime is installed the file
is run on a random input and its largest difference from JAX is written there too.
"""

import json
import pathlib

import jax
import numpy as np
from absl import logging

from gan_jax import parallel, quantize, run
from gan_jax.errors import UserError

FORMATS = ("onnx",)


def _setting(config, key: str, default: int) -> int:
  """config.export.<key>, or its default for a config from before the export keys."""
  return config.get("export", {}).get(key, default)


def _size(config, family) -> int:
  size = _setting(config, "image_size", 0) or config.data.eval_size or config.image_size
  multiple = family.stride_multiple(config)
  if size <= 0 or size % multiple:
    raise UserError(
      f"config.export.image_size={size} must be a positive multiple of {multiple}, the stride of "
      f"{family.name}'s generator"
    )
  return size


def generator_fn(config, family, state, direction: str = ""):
  """(fn, example input, input name, output name, facts): the generator of `state`, its weights
  stored as config.export.quantize says and turned to float32 inside `fn`."""
  stored = quantize.quantize(state, quantize.mode_of(config))
  batch = _setting(config, "batch_size", 1)
  if batch < 1:
    raise UserError(f"config.export.batch_size must be >= 1, got {batch}")
  if family.translates:
    offered = family.directions(config)
    direction = direction or offered[0]
    if direction not in offered:
      raise UserError(f"{family.name} offers --direction {', '.join(offered)}, not {direction!r}")
    size = _size(config, family)
    rng = jax.random.fold_in(jax.random.key(config.seed), 0x7A5)  # as --mode=translate draws

    def fn(images):
      return family.translate(config, quantize.dequantize(stored), images, rng, direction)

    example = np.zeros((batch, size, size, 3), np.float32)
    return fn, example, "images", "output", {"direction": direction}

  def fn(z):
    return family.generate(config, quantize.dequantize(stored), z)

  example = np.zeros((batch, config.model.z_dim), np.float32)
  facts = {"truncation_psi": config.sample.get("truncation_psi", 1.0)} if family.truncation else {}
  if family.equivariance:  # a generator with an input transform is exported at the identity
    facts["input_transform"] = "identity"
  return fn, example, "z", "images", facts


def _output_path(workdir: pathlib.Path, output: str, name: str) -> pathlib.Path:
  if not output:
    return workdir / "export" / name
  path = pathlib.Path(output)
  if path.suffix != ".onnx":
    raise UserError(f"--output {output} must name a .onnx file")
  if path.is_dir():
    raise UserError(f"--output {output} is a folder; name a .onnx file")
  return path


def onnxruntime_difference(path: pathlib.Path, fn, example, input_name: str):
  """Largest |onnxruntime - JAX| on a random input of the example's shape (None without
  onnxruntime)."""
  try:
    import onnxruntime  # noqa: PLC0415 - optional
  except ImportError:
    return None
  rng = np.random.default_rng(0)
  x = (
    rng.uniform(-1, 1, example.shape)
    if input_name == "images"
    else rng.standard_normal(example.shape)
  ).astype(np.float32)
  session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
  (ours,) = session.run(None, {input_name: x})
  return float(np.max(np.abs(ours - np.asarray(jax.jit(fn)(x)))))


def export(
  config, workdir, fmt: str, output: str = "", direction: str = "", step: int | None = None
) -> pathlib.Path:
  """Writes the generator of the newest checkpoint in `workdir` (or the one of `step`) as `fmt`;
  returns the file."""
  if fmt not in FORMATS:
    raise UserError(f"unknown --format {fmt!r}; choices: {', '.join(FORMATS)}")
  from gan_jax import onnx_graph  # noqa: PLC0415 - needs the onnx package

  workdir = run.prepare_workdir(workdir)
  family = run.validate(config)
  mode = quantize.mode_of(config)
  if direction and not family.translates:
    raise UserError(f"--direction: {family.name} generates from latents; it has no direction")
  if output:
    _output_path(workdir, output, "")  # a bad --output fails before the restore
  _, state, step = run.restore_newest(config, workdir, step)
  fn, example, input_name, output_name, facts = generator_fn(config, family, state, direction)
  tag = f"_{facts['direction']}" if "direction" in facts else ""
  path = _output_path(workdir, output, f"{family.name}{tag}_step{step}_{mode}.onnx")
  doc = f"gan_jax {family.name} generator, step {step}, weights {mode}"
  model = onnx_graph.to_onnx(fn, example, input_name, output_name, doc)
  if not parallel.is_lead_process():
    return path
  path.parent.mkdir(parents=True, exist_ok=True)
  onnx_graph.save(model, path)
  info = {
    "family": family.name,
    "step": step,
    "quantize": mode,
    "input": {"name": input_name, "shape": list(example.shape), "dtype": "float32"},
    "output": {"name": output_name, "range": [-1.0, 1.0], "layout": "NHWC"},
    "bytes": path.stat().st_size,
    **facts,
  }
  diff = onnxruntime_difference(path, fn, example, input_name)
  if diff is not None:
    info["onnxruntime_max_abs_diff"] = diff
  path.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
  logging.info(
    "exported %s (step %d, %s weights, %d bytes) to %s; onnxruntime vs JAX max abs diff %s",
    family.name,
    step,
    mode,
    info["bytes"],
    path,
    "not checked (no onnxruntime)" if diff is None else f"{diff:.3g}",
  )
  return path
