"""gan_jax.nets.augment computes what the official StyleGAN2-ADA augment pipe computes, and behaves
as ADA needs it to.

Fidelity: each op of the 'bgc' pipe alone, the whole pipe (RGB, grey, other strengths), cutout
and imgfilter, in the reference's debug mode (every random parameter at a fixed percentile):
outputs and the gradients of a random linear functional sum(out * cot) with respect to the images.
The reference is NVlabs/stylegan2-ada-pytorch's AugmentPipe, live where STYLEGAN2_ADA_SRC names a
checkout, else the numbers in tests/fixtures/stylegan_augment.npz
(tests/scripts/make_stylegan_augment_fixtures.py regenerates them).

Behaviour, on random draws: p = 0 is the identity; p is traced; xflip at p = 1 mirrors about half
the samples; each sample has its own draws and transform; outputs and gradients are finite; the
double backward R1 needs runs.
"""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.nets import augment
from tests import golden
from tests.scripts import make_stylegan_augment_fixtures as fixtures

SRC = os.environ.get("STYLEGAN2_ADA_SRC")
KEY = jax.random.PRNGKey(0)


def _fixture() -> dict[str, np.ndarray]:
  return golden.arrays(fixtures.FIXTURE)


@functools.cache
def _official():
  return fixtures.load_augment(SRC)


def _inputs(case) -> dict[str, np.ndarray]:
  if SRC:
    return fixtures.make_inputs(case["shape"])
  prefix = f"inputs/{fixtures.shape_key(case['shape'])}/"
  return {k: _fixture()[prefix + k] for k in ("images", "cot")}


def _reference(case, percentile, inputs) -> dict[str, np.ndarray]:
  if SRC:
    return fixtures.run_official(_official(), case, percentile, inputs)
  return {k: _fixture()[f"{case['name']}/{percentile}/{k}"] for k in ("out", "grad")}


@jax.jit
def _apply_with_grad(images, cot, transforms):
  """apply_transforms and its image gradient: one compile per shape and set of stages (the
  resampling's backward takes seconds to compile on the CPU)."""
  out, vjp = jax.vjp(lambda x: augment.apply_transforms(x, transforms), images)
  return out, vjp(cot)[0]


def _debug_transforms(case, percentile):
  transforms = augment.sample_transforms(
    KEY, 1.0, case["shape"], pipe=case["pipe"], debug_percentile=percentile, **case["kwargs"]
  )
  if "geometric" in transforms and "color" not in transforms and case["shape"][-1] == 3:
    # An identity colour matrix keeps RGB images exactly and lets these share bgc's program.
    transforms["color"] = jnp.broadcast_to(jnp.eye(4), (case["shape"][0], 4, 4))
  return transforms


# float32 rounding of coordinates and sums, relative to the array's largest value
_close = functools.partial(golden.assert_close, scale=2e-5, rtol=0, floor=0)


@pytest.mark.parametrize("name", list(fixtures.BY_NAME))
def test_matches_official(name):
  case = fixtures.BY_NAME[name]
  inputs = _inputs(case)
  for percentile in case["percentiles"]:
    ref = _reference(case, percentile, inputs)
    transforms = _debug_transforms(case, percentile)
    out, grad = _apply_with_grad(inputs["images"], inputs["cot"], transforms)
    _close(out, ref["out"], f"{name} at {percentile}: output")
    _close(grad, ref["grad"], f"{name} at {percentile}: image gradient")


def test_augment_is_the_sampled_transforms_applied():
  """The public function, end to end: bgc in debug mode against the official outputs."""
  case = fixtures.BY_NAME["bgc"]
  inputs = _inputs(case)
  run = jax.jit(lambda x, percentile: augment.augment(x, 0.0, KEY, debug_percentile=percentile))
  for percentile in case["percentiles"]:
    out = run(inputs["images"], np.float32(percentile))
    _close(out, _reference(case, percentile, inputs)["out"], f"bgc at {percentile}")


def test_fixture_covers_the_cases():
  """The fixture has every case, from the inputs the script makes now (else regenerate)."""
  data = _fixture()
  for case in fixtures.CASES:
    prefix = f"inputs/{fixtures.shape_key(case['shape'])}/"
    for k, v in fixtures.make_inputs(case["shape"]).items():
      np.testing.assert_array_equal(data[prefix + k], v, err_msg=case["name"])
    for percentile in case["percentiles"]:
      assert f"{case['name']}/{percentile}/out" in data
  assert str(data["meta/commit"]) == fixtures.COMMIT


@pytest.mark.skipif(not SRC, reason="STYLEGAN2_ADA_SRC is not set")
def test_fixture_is_what_the_official_tree_computes():
  data = _fixture()
  for case in fixtures.CASES:
    inputs = fixtures.make_inputs(case["shape"])
    for percentile in case["percentiles"]:
      for k, v in fixtures.run_official(_official(), case, percentile, inputs).items():
        # torch's CPU kernels round differently from one CPU to another (rotate's grid sample:
        # 1.7e-6); well inside the 2e-5 x max that gan_jax is held to against them
        want = data[f"{case['name']}/{percentile}/{k}"]
        np.testing.assert_allclose(want, v, rtol=0, atol=1e-5, err_msg=case["name"])


def test_pipes_and_strengths_are_the_references():
  assert augment.PIPES["bgc"] == augment.BGC == fixtures.BGC
  assert set(augment.MULTIPLIERS) == set(augment.PIPES["bgcfnc"])
  if SRC:  # the strengths are AugmentPipe's defaults
    defaults = _official().AugmentPipe()
    for k, v in augment.STRENGTHS.items():
      assert np.allclose(v, getattr(defaults, k)), k


# ------------------------------------------------------------------------------------------------
# Behaviour on random draws.


def _images(shape, seed=0):
  return jnp.asarray(np.random.RandomState(seed).uniform(-1, 1, shape), jnp.float32)


@functools.cache
def _traced_bgc():
  """jit(augment) with the default pipe, and the list its traces append to."""
  traces = []

  @jax.jit
  def run(images, p, rng):
    traces.append(p)
    return augment.augment(images, p, rng)

  return run, traces


def test_p_zero_keeps_the_images_exactly():
  run, _ = _traced_bgc()
  x = _images((4, 8, 8, 3))
  np.testing.assert_array_equal(run(x, jnp.float32(0), KEY), x)
  assert not np.allclose(run(x, jnp.float32(1), KEY), x, atol=1e-3)


def test_p_is_traced():
  run, traces = _traced_bgc()
  x = _images((4, 8, 8, 3))
  outs = [run(x, jnp.float32(p), KEY) for p in (0.3, 0.9)]
  assert len(traces) == 1, "a new p retraced the pipe"
  assert not np.allclose(outs[0], outs[1])


def test_xflip_flips_about_half_at_p_one():
  """Each sample comes back as it was or mirrored. 8x8: the resampling reflect-pads by 6 pixels,
  so an untransformed image comes back unchanged; a mirrored one is smoothed a little, as the
  reference's is (its Symlet filter is not symmetric)."""
  x = _images((64, 8, 8, 3))
  out = jax.jit(lambda x: augment.augment(x, 1.0, KEY, xflip=1))(x)
  to_image = np.abs(out - x).max(axis=(1, 2, 3))
  to_mirror = np.abs(out - x[:, :, ::-1]).max(axis=(1, 2, 3))
  kept, flipped = to_image < 1e-5, (to_mirror < 0.5) & (to_image > 1)
  assert np.all(kept ^ flipped), "every sample is either the image or its mirror"
  assert 20 <= flipped.sum() <= 44, f"{flipped.sum()} of 64 flipped"


def test_random_bgc_output_and_gradient_finite_per_sample():
  case = fixtures.BY_NAME["bgc"]
  shape = case["shape"]
  x = np.broadcast_to(_inputs(case)["images"][:1], shape)  # one image, a draw per sample
  transforms = jax.jit(lambda p: augment.sample_transforms(KEY, p, shape))(1.0)
  assert transforms.keys() == {"geometric", "color"}
  out, grad = _apply_with_grad(x, _inputs(case)["cot"], transforms)  # bgc's program
  assert out.shape == x.shape and out.dtype == x.dtype
  assert np.all(np.isfinite(out)) and np.all(np.isfinite(grad))
  assert np.abs(grad).max() > 0
  assert not np.allclose(out[0], out[1], atol=1e-3), "the samples share their draws"


def test_each_sample_gets_its_own_transform():
  """On random draws, the stages after the geometric one act on each sample alone, with its own
  parameters: the batch gives what its samples give one at a time. (The geometric stage pads by a
  margin that depends on the whole batch, as the reference's.)"""
  shape = (3, 22, 23, 3)
  pipe = {op: 1.0 for op in ("brightness", "hue", "imgfilter", "noise", "cutout")}
  transforms = jax.jit(lambda p: augment.sample_transforms(KEY, p, shape, pipe=pipe))(1.0)
  x = _images(shape)
  apply = jax.jit(augment.apply_transforms)
  batch = apply(x, transforms)
  for i in range(shape[0]):
    one = apply(x[i : i + 1], {k: v[i : i + 1] for k, v in transforms.items()})
    np.testing.assert_allclose(batch[i], one[0], rtol=1e-5, atol=1e-5, err_msg=f"sample {i}")
  assert np.all(np.isfinite(batch))


def test_double_backward_runs():
  """R1 differentiates |dD/dx|^2: the grad of a function of the grad through the pipe (random
  draws, through the p > 0 branch) is finite and not zero. Its value is what JAX derives for the
  linear ops the forward pass, checked against the reference above, is made of."""
  x = _images((2, 8, 8, 3))
  w, v = _images(x.shape, seed=2), _images(x.shape, seed=3)
  d = lambda x: jnp.sum(jnp.tanh(augment.augment(x, 1.0, KEY) * 2) * w)
  penalty = lambda x: jnp.sum(jnp.square(jax.grad(d)(x)))
  slope = jax.jit(lambda x: jnp.vdot(jax.grad(penalty)(x), v))(x)
  assert np.isfinite(slope) and abs(slope) > 1e-2


def test_pipe_selection():
  """The stages a call runs: `pipe` (BGC when no multiplier is given), multipliers as keywords
  overriding it, a PIPES entry passed as keywords (shapes only: nothing compiles)."""
  sample = lambda **kw: augment.sample_transforms(KEY, 1.0, (2, 32, 32, 3), **kw)
  stages = lambda **kw: set(jax.eval_shape(lambda: sample(**kw)))
  assert stages() == {"geometric", "color"}
  assert stages(**augment.PIPES["blit"]) == stages(xflip=1) == {"geometric"}
  assert stages(pipe="color") == {"color"}
  assert stages(pipe="bgc", noise=1) == {"geometric", "color", "noise"}
  assert stages(pipe="bgcfnc") == {"geometric", "color", "imgfilter", "noise", "cutout"}
  assert stages(pipe="bg", **{op: 0 for op in augment.GEOMETRIC}) == set()
  x = _images((2, 8, 8, 3))
  assert augment.augment(x, 0.5, KEY, pipe={}, xflip=0) is x


def test_bad_arguments():
  x = _images((2, 8, 8, 3))
  with pytest.raises(ValueError, match="Unrecognized augment pipe"):
    augment.augment(x, 0.5, KEY, pipe="bgx")
  with pytest.raises(ValueError, match="unknown augment arguments"):
    augment.augment(x, 0.5, KEY, rotate_std=1.0)
  with pytest.raises(ValueError, match="unknown augment ops"):
    augment.augment(x, 0.5, KEY, pipe={"flip": 1.0})
  with pytest.raises(ValueError, match="RGB or 1-channel"):
    augment.augment(x[..., :2], 0.5, KEY)
  with pytest.raises(ValueError, match="imgfilter reflect-pads"):
    augment.augment(x, 0.5, KEY, imgfilter=1)
