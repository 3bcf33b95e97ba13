"""AnimeGANv2's nets: the generator against bryandlee/animegan2-pytorch's (golden fixture, and the
tree live when ANIMEGAN2_PYTORCH_SRC is set), parameter counts, shapes, the discriminator."""

import math
import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.nets import animegan
from tests import golden
from tests.scripts import make_animegan_fixtures as fixtures

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "animegan_nets.npz"
PORT_SRC = os.environ.get("ANIMEGAN2_PYTORCH_SRC")
PORT_MODES = ("half_pixel", "align_corners")  # the port's two forwards


def _count(tree) -> int:
  return sum(math.prod(x.shape) for x in jax.tree.leaves(tree))


def _ours(params, upsample: str):
  """Output, and for half-pixel upsampling the gradients the fixture holds, of gan_jax's
  generator on the fixture input."""
  x, cot = fixtures.make_input_and_cotangent()
  net = animegan.Generator(upsample=upsample, formulation="direct")
  if upsample != "half_pixel":
    return {"out": jax.jit(net.apply)({"params": params}, x)}

  def functional(p, x):
    out = net.apply({"params": p}, x)
    return jnp.sum(out * cot), out

  grad_fn = jax.jit(jax.value_and_grad(functional, argnums=(0, 1), has_aux=True))
  (_, out), (g_params, g_x) = grad_fn(params, x)
  flat = dict(fixtures._flat(g_params))
  return {"out": out, "grad/x": g_x, **{f"grad/{p}": flat[p] for p in fixtures.GRAD_PARAMS}}


def _check(ours, want: dict, mode: str):
  for key, ref in want.items():
    got = np.asarray(ours[key])
    scale = float(np.max(np.abs(ref)))
    diff = float(np.max(np.abs(got - ref)))
    print(f"{mode} {key}: max abs diff {diff:.3g} (max |ref| {scale:.3g})")
    assert scale > 1e-3, key
    assert diff <= 2e-5 * max(scale, 1.0), (mode, key, diff, scale)


@pytest.fixture(scope="module")
def params():
  return fixtures.random_params(fixtures.generator_shapes())


@pytest.mark.parametrize("upsample", PORT_MODES)
def test_generator_matches_the_port(params, upsample):
  ref = golden.arrays(FIXTURE)
  assert int(ref["count"]) == 2_143_552 == _count(params)
  ours = _ours(params, upsample)
  want = {"out": ref[f"out/{upsample}"]}
  if upsample == "half_pixel":  # the fixture's gradients are of that forward
    want |= {k: ref[k] for k in ("grad/x", *(f"grad/{p}" for p in fixtures.GRAD_PARAMS))}
  _check(ours, want, upsample)


@pytest.mark.skipif(not PORT_SRC, reason="ANIMEGAN2_PYTORCH_SRC (the port's tree) is not set")
def test_generator_matches_the_port_live(params):
  ref = fixtures.run_port(fixtures.load_port(PORT_SRC), params)
  for upsample in PORT_MODES:
    _check({"out": _ours(params, upsample)["out"]}, {"out": ref[f"out/{upsample}"]}, upsample)


def test_generator_shapes_and_formulations(params):
  x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (1, 20, 28, 3)), jnp.float32)
  apply = lambda formulation: jax.jit(animegan.Generator(formulation=formulation).apply)
  out = apply("direct")({"params": params}, x)
  phase = apply("phase")({"params": params}, x)
  assert out.shape == x.shape and float(jnp.max(jnp.abs(out))) <= 1.0
  np.testing.assert_allclose(phase, out, atol=2e-5)


def test_discriminator():
  net = animegan.Discriminator()
  x = jnp.asarray(np.random.default_rng(1).uniform(-1, 1, (2, 32, 32, 3)), jnp.float32)
  variables = jax.jit(net.init)(jax.random.key(0), x)
  # conv_0 3->32, s2 32->64, s1 64->128, s2 128->128, s1 128->256, last 256->256, logit 256->1,
  # 3x3 without bias; layer norms on the two s1 convs and the last conv.
  convs = [3 * 32, 32 * 64, 64 * 128, 128 * 128, 128 * 256, 256 * 256, 256 * 1]
  norms = 2 * (128 + 256 + 256)
  assert _count(variables["params"]) == 9 * sum(convs) + norms == 1_128_800
  step = jax.jit(lambda stats, x: net.apply({**variables, "batch_stats": stats}, x, mutable=True))
  logits, updated = step(variables["batch_stats"], x)
  assert logits.shape == (2, 8, 8, 1)  # two stride-2 convs (n_dis 3)
  assert not jax.tree.all(
    jax.tree.map(np.array_equal, updated["batch_stats"], variables["batch_stats"])
  )  # power iteration stored
  # The normalised kernel's largest singular value is about 1 after a few iterations.
  stats = updated["batch_stats"]
  for _ in range(200):
    logits, more = step(stats, x)
    stats = more["batch_stats"]
  kernel = variables["params"]["conv_s1_1"]["kernel"].reshape(-1, 128)
  sigma = stats["conv_s1_1_sn"]["conv_s1_1/kernel/sigma"]
  np.testing.assert_allclose(sigma, np.linalg.svd(np.asarray(kernel), compute_uv=False)[0], 1e-3)
  # Each image's logits are its own (layer norm per image).
  np.testing.assert_allclose(step(stats, x[:1])[0], logits[:1], atol=1e-5)


def test_upsampling_modes():
  x = jnp.arange(2 * 3 * 4 * 1, dtype=jnp.float32).reshape(2, 3, 4, 1)
  corners = animegan.upsample(x, 6, 8, "align_corners")
  np.testing.assert_allclose(corners[:, 0, 0], x[:, 0, 0])
  np.testing.assert_allclose(corners[:, -1, -1], x[:, -1, -1])
  np.testing.assert_allclose(corners[0, 0, :, 0], np.linspace(0, 3, 8), atol=1e-6)
  with pytest.raises(ValueError, match="upsampling"):
    animegan.upsample(x, 6, 8, "nearest")


def test_tf_legacy_resizing_has_no_half_pixel_centres():
  x = jnp.arange(4 * 6, dtype=jnp.float32).reshape(1, 4, 6, 1)
  half = animegan.upsample(x, 2, 3, "tf_legacy")
  np.testing.assert_array_equal(half, x[:, ::2, ::2])  # halving picks every other pixel
  double = np.asarray(animegan.upsample(x, 8, 12, "tf_legacy"))[0, 0, :, 0]
  row = np.asarray(x)[0, 0, :, 0]
  np.testing.assert_allclose(double[::2], row)
  np.testing.assert_allclose(double[1:-1:2], (row[:-1] + row[1:]) / 2)
  assert double[-1] == row[-1]  # the last source pixel is held


def test_generator_v1():
  """The first AnimeGAN's G: 3,956,096 params at its widths (15.8 MB of float32, as its README's
  model size says); any multiple of 4; instance norm makes each image's output its own."""
  net = animegan.GeneratorV1()
  x = jnp.asarray(np.random.default_rng(2).uniform(-1, 1, (2, 20, 28, 3)), jnp.float32)
  abstract = jax.eval_shape(net.init, jax.random.key(0), x)
  assert _count(abstract) == 3_956_096
  small = animegan.GeneratorV1(features=4, num_blocks=1)
  params = jax.jit(small.init)(jax.random.key(0), x)
  apply = jax.jit(small.apply)
  out = apply(params, x)
  assert out.shape == x.shape and float(jnp.max(jnp.abs(out))) <= 1.0
  np.testing.assert_allclose(apply(params, x[1:]), out[1:], atol=1e-5)
  d = animegan.Discriminator(features=8, num_layers=2, norm="instance")
  variables = jax.jit(d.init)(jax.random.key(1), x)
  assert "norm_1" in variables["params"] and variables["params"]["norm_1"]["scale"].shape == (16,)
