"""Golden fixtures for tests/test_augment.py: what the official StyleGAN2-ADA augment pipe computes.

The cases: each op of the 'bgc' pipe alone, the whole pipe (RGB, greyscale, and with non-default
strengths), cutout and imgfilter, each run through AugmentPipe (training/augment.py of
NVlabs/stylegan2-ada-pytorch) in its debug mode at a few percentiles: every random parameter is
replaced by its value at that percentile, so the output is a deterministic function of the image.
The fixture holds numbers only, in gan_jax's NHWC layout: the input images per shape, the outputs,
and the gradients of a random linear functional sum(out * cot) with respect to the images.
NVlabs' licence does not allow copying their code, and none is copied.

Get the official tree as tests/scripts/make_stylegan_fixtures.py says, then regenerate
tests/fixtures/stylegan_augment.npz (CPU PyTorch, seconds) from the repository root:

  STYLEGAN2_ADA_SRC=path/to/stylegan2-ada-pytorch \
    python tests/scripts/make_stylegan_augment_fixtures.py

With STYLEGAN2_ADA_SRC set, tests/test_augment.py also compares against the tree live.
"""

import os
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from tests.scripts import make_stylegan_fixtures as ops_fixtures  # noqa: E402

FIXTURE = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "stylegan_augment.npz"
COMMIT = ops_fixtures.COMMIT

# train.py's augpipe_specs['bgc']: blit, geometric and colour ops, each at multiplier 1.
GEOMETRIC = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac")
COLOR = ("brightness", "contrast", "lumaflip", "hue", "saturation")
BGC = {op: 1.0 for op in GEOMETRIC + COLOR}
PERCENTILES = (0.1, 0.37, 0.8)  # rotate90 by 0, 1 and 3 quarter turns
RGB = (2, 9, 12, 3)  # odd and non-square: a swapped axis or a half-pixel shift shows
GREY = (2, 9, 12, 1)
LARGE = (2, 22, 23, 2)  # imgfilter reflect-pads by 21 pixels


def _case(name, pipe, shape=RGB, percentiles=PERCENTILES, **kwargs):
  return {"name": name, "pipe": pipe, "shape": shape, "percentiles": percentiles, "kwargs": kwargs}


# Percentiles at which the op differs (xflip and lumaflip act from 0.5 up; xint at 0 translates
# by -1.5 and -1.125 pixels, rounded to -2 and -1, so swapped axes show).
PERCENTILES_OF = {"xflip": (0.1, 0.8), "lumaflip": (0.1, 0.8), "xint": (0.0, 0.1, 0.8)}
CASES = [
  *[_case(op, {op: 1.0}, percentiles=PERCENTILES_OF.get(op, PERCENTILES)) for op in BGC],
  # A 2.3x zoom-out: the resampling reads beyond the reflect-padded margin (its zeros), which the
  # margin's cap at the image size does not hide on these larger images.
  _case("scale_far", {"scale": 1.0}, LARGE, percentiles=(0.1,), scale_std=1.326),
  _case("bgc", BGC),
  _case("color_grey", {op: 1.0 for op in COLOR}, GREY),  # the geometric ops ignore channels
  _case(
    "bgc_strengths",
    BGC,
    percentiles=(0.7,),
    xint_max=0.25,
    scale_std=0.3,
    rotate_max=0.5,
    aniso_std=0.3,
    xfrac_std=0.2,
    brightness_std=0.3,
    contrast_std=0.3,
    hue_max=0.5,
    saturation_std=0.5,
  ),
  _case("cutout", {"cutout": 1.0}),
  _case("imgfilter", {"imgfilter": 1.0}, LARGE, percentiles=(0.2, 0.9)),
  _case(
    "imgfilter_bands",
    {"imgfilter": 1.0},
    LARGE,
    percentiles=(0.75,),
    imgfilter_bands=(1.0, 0.0, 1.0, 0.0),
    imgfilter_std=0.5,
  ),
]
BY_NAME = {case["name"]: case for case in CASES}
assert len(BY_NAME) == len(CASES), "case names must be unique"


def shape_key(shape) -> str:
  return "x".join(str(d) for d in shape)


def make_inputs(shape) -> dict[str, np.ndarray]:
  """Images uniform in [-1, 1] and the functional's weights, from a RandomState seeded by shape."""
  rng = np.random.RandomState(sum((i + 1) * d for i, d in enumerate(shape)))
  images = rng.uniform(-1, 1, shape).astype(np.float32)
  return {"images": images, "cot": rng.randn(*shape).astype(np.float32)}


def load_augment(src: str):
  """The official tree's training/augment.py module (its ops on their pure-PyTorch paths)."""
  ops_fixtures.load_official(src)
  from training import augment

  return augment


def run_official(official_augment, case, percentile, inputs) -> dict[str, np.ndarray]:
  """{'out', 'grad'} of AugmentPipe(**pipe, **kwargs) in debug mode, in NHWC."""
  import torch

  pipe = official_augment.AugmentPipe(**case["pipe"], **case["kwargs"])
  nchw = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))
  nhwc = lambda t: np.ascontiguousarray(t.detach().numpy().transpose(0, 2, 3, 1), np.float32)
  images = nchw(inputs["images"]).requires_grad_(True)
  with torch.enable_grad():
    out = pipe(images, debug_percentile=percentile)
    (grad,) = torch.autograd.grad((out * nchw(inputs["cot"])).sum(), [images])
  return {"out": nhwc(out), "grad": nhwc(grad)}


def main():
  src = os.environ.get("STYLEGAN2_ADA_SRC")
  if not src:
    sys.exit("set STYLEGAN2_ADA_SRC to a checkout of NVlabs/stylegan2-ada-pytorch (see the top)")

  official = load_augment(src)
  arrays = ops_fixtures.provenance(src, COMMIT)
  for case in CASES:
    inputs = make_inputs(case["shape"])
    for k, v in inputs.items():
      arrays[f"inputs/{shape_key(case['shape'])}/{k}"] = v
    for percentile in case["percentiles"]:
      for k, v in run_official(official, case, percentile, inputs).items():
        arrays[f"{case['name']}/{percentile}/{k}"] = v
  ops_fixtures.save(FIXTURE, arrays, f"{len(CASES)} cases, ")


if __name__ == "__main__":
  main()
