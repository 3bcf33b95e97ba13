"""--mode=translate: run a translation family's newest checkpoint on one image or a folder.

  python -m gan_jax.main --config=configs/pix2pix.py --workdir=DIR --mode=translate \
      --input=photo.jpg|photos/ --output=out.png|out/ [--direction=AtoB|BtoA]

Each image is translated at its own size: reflect-padded up to the generator's stride multiple,
translated, and cropped back. A folder is searched recursively and mirrored under the output
folder with the same file names; files that are not images, or cannot be read, are skipped with a
warning. Nothing is written until every output path is known to lie outside the input folder
and not to be an input image under another name.
"""

import pathlib

import jax
import numpy as np
from absl import logging
from PIL import Image

from gan_jax import quantize, run, samples
from gan_jax.data import images as image_io
from gan_jax.errors import DataError, UserError
from gan_jax.families import common

DIRECTIONS = ("AtoB", "BtoA")


def _plan(input_path: pathlib.Path, output_path: pathlib.Path):
  """[(source file, destination file)] and the files skipped as non-images."""
  if not input_path.exists():
    raise UserError(f"--input {input_path} does not exist")
  if input_path.is_file():
    if not image_io.is_image_file(input_path):
      raise UserError(
        f"--input {input_path} is not an image file "
        f"({', '.join(sorted(image_io.IMAGE_EXTENSIONS))})"
      )
    is_file = output_path.suffix.lower() in image_io.IMAGE_EXTENSIONS
    return [(input_path, output_path if is_file else output_path / input_path.name)], []
  if output_path.suffix.lower() in image_io.IMAGE_EXTENSIONS:
    raise UserError(f"--output {output_path} names an image, but --input {input_path} is a folder")
  files = sorted(p for p in input_path.rglob("*") if p.is_file())
  plan = [(f, output_path / f.relative_to(input_path)) for f in files if image_io.is_image_file(f)]
  skipped = [f for f in files if not image_io.is_image_file(f)]
  if not plan:
    raise UserError(f"--input {input_path} holds no images")
  return plan, skipped


def _file_id(path: pathlib.Path) -> tuple[int, int]:
  stat = path.stat()
  return stat.st_dev, stat.st_ino


def _check_output(input_path: pathlib.Path, output_path: pathlib.Path, plan) -> None:
  """Refuses, before anything is written, an --output that would write over or into the input."""
  if input_path.is_dir() and output_path.resolve().is_relative_to(input_path.resolve()):
    raise UserError(
      f"--output {output_path} lies inside --input {input_path}; choose a folder outside it"
    )
  if output_path.is_file() and any(dst != output_path for _, dst in plan):
    raise UserError(
      f"--output {output_path} is a file; give a folder (or, for one --input image, an image name)"
    )
  # The same file, however it is named: a case-insensitive file system, a link.
  sources = {_file_id(src) for src, _ in plan}
  for _, dst in plan:
    if dst.exists() and _file_id(dst) in sources:
      raise UserError(f"--output would overwrite the input image {dst}; choose another --output")


def _pad_to_multiple(image: np.ndarray, multiple: int) -> np.ndarray:
  h, w = image.shape[:2]
  ph, pw = -h % multiple, -w % multiple
  if not ph and not pw:
    return image
  return np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="reflect" if min(h, w) > 1 else "edge")


def _save(path: pathlib.Path, image: np.ndarray) -> None:
  options = {"quality": 95} if path.suffix.lower() in (".jpg", ".jpeg") else {}
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, **options)
  except OSError as e:
    raise UserError(f"cannot write {path}: {e.strerror or e}") from None


def translate_path(
  config, workdir, input_path: str, output_path: str, direction: str = "", step: int | None = None
) -> int:
  """Translates `input_path` (file or folder) to `output_path` with the newest checkpoint (or the
  one of `step`); returns the images written."""
  family_name = config.family
  workdir = pathlib.Path(workdir)
  if not input_path or not output_path:
    raise UserError("--mode=translate needs --input=PATH and --output=PATH")
  if direction and direction not in DIRECTIONS:
    raise UserError(f"unknown --direction {direction!r}; choices: {', '.join(DIRECTIONS)}")
  source, destination = pathlib.Path(input_path), pathlib.Path(output_path)
  plan, skipped = _plan(source, destination)
  _check_output(source, destination, plan)
  family = run.validate(config)
  if not family.translates:
    raise UserError(
      f"config.family={family_name!r} generates images rather than translating "
      f"them; use --mode=sample"
    )
  offered = family.directions(config)
  if direction and direction not in offered:
    raise UserError(
      f"{family_name} translates only the direction it was trained for "
      f"(config.data.direction={offered[0]!r}); --direction={direction!r} is not "
      f"available"
    )
  _, state, step = run.restore_newest(config, workdir, step)
  state = quantize.apply(config, state)  # config.export.quantize: what an exported file computes
  for path in skipped:
    logging.warning("skipped %s: not an image", path)
  multiple = family.stride_multiple(config)
  rng = jax.random.fold_in(jax.random.key(config.seed), 0x7A5)
  direction = direction or offered[0]
  translate = jax.jit(
    lambda state, x: family.translate(config, state, common.to_float_images(x), rng, direction)
  )
  written = 0
  for src, dst in plan:
    try:
      image = image_io.read_rgb(src)
    except DataError as e:  # its hint (data.skip_bad_images) is for training; here it skips
      logging.warning("skipped %s: not a readable image (%s)", src, e.__cause__ or e)
      continue
    h, w = image.shape[:2]
    out = translate(state, _pad_to_multiple(image, multiple)[None])  # compiles per padded size
    _save(dst, samples.to_uint8(out)[0, :h, :w])
    written += 1
  logging.info(
    "translated %d images with the step-%d checkpoint into %s", written, step, output_path
  )
  return written
