"""gan_jax.nets.stylegan2 computes what the official StyleGAN2-ADA nets compute from their weights:
the generator (skip, resnet and orig synthesis; labels; truncation with a cutoff; const and no
noise; fused and per-sample modulated convs; clamping), the mapping network's w_avg update, and the
discriminator (resnet and skip; labels by projection; minibatch stddev groups). Outputs and the
gradients of a random linear functional of them, with respect to the inputs and every parameter.

The reference runs live where STYLEGAN2_ADA_SRC names a checkout of NVlabs/stylegan2-ada-pytorch,
else its numbers come from tests/fixtures/stylegan2_nets.npz
(tests/scripts/make_stylegan2_net_fixtures.py regenerates them).
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.families import stylegan2 as family
from gan_jax.nets import stylegan2
from tests import golden
from tests.scripts import make_stylegan2_net_fixtures as fixtures
from tests.scripts import make_stylegan_fixtures as ops_fixtures

SRC = os.environ.get("STYLEGAN2_ADA_SRC")


def _fixture() -> dict[str, np.ndarray]:
  return golden.arrays(fixtures.FIXTURE)


def _reference(case) -> dict[str, np.ndarray]:
  if SRC:
    official = golden.official(ops_fixtures, SRC)
    return {**fixtures.make_inputs(case), **fixtures.run_official(official, case)}
  return golden.section(_fixture(), case["name"] + "/")


def _module_and_call(case, inputs):
  """The gan_jax module of the case and fn(variables, inputs) -> output."""
  kind, init, call = case["kind"], dict(case["init"]), case["call"]
  n = case["batch"]
  c = jnp.asarray(inputs["c"]) if "c" in inputs else jnp.zeros((n, 0), jnp.float32)
  if kind == "G":
    module = stylegan2.Generator(**init)
    return lambda v, x: module.apply(v, x["z"], c, **call)
  if kind == "mapping":
    module = stylegan2.MappingNetwork(**init)
    return lambda v, x: module.apply(
      v, x["z"], c, truncation_psi=0.6, update_w_avg=True, mutable=["stats"]
    )
  module = stylegan2.Discriminator(**init)
  return lambda v, x: module.apply(v, x["img"], c)


@pytest.mark.parametrize("name", [case["name"] for case in fixtures.CASES])
def test_matches_official(name):
  case = fixtures.BY_NAME[name]
  ref = _reference(case)
  variables = stylegan2.convert_reference_state(golden.section(ref, "state/"))
  inputs = {k: jnp.asarray(ref[k]) for k in ("z", "c", "img") if k in ref}
  run = _module_and_call(case, inputs)
  diff = {k: v for k, v in inputs.items() if k != "c"}

  def f(params, x):
    out = run({**variables, "params": params}, x)
    return out if case["kind"] != "mapping" else out[0]

  out, vjp = jax.vjp(jax.jit(f), variables["params"], diff)
  golden.assert_close(out, ref["out"], "output")
  grad_params, grad_inputs = vjp(jnp.asarray(ref["cot"]))
  for k, v in grad_inputs.items():
    golden.assert_close(v, ref[f"grad/{k}"], f"gradient wrt {k}")
  want = stylegan2.convert_reference_state(golden.section(ref, "grad_state/"))["params"]
  got_leaves = jax.tree_util.tree_leaves_with_path(grad_params)
  want_flat = dict(jax.tree_util.tree_leaves_with_path(want))
  assert set(want_flat) <= {p for p, _ in got_leaves}, "the parameters differ"
  for path, g in got_leaves:
    what = f"gradient wrt {jax.tree_util.keystr(path)}"
    if path in want_flat:
      golden.assert_close(g, want_flat[path], what, 1e-4)
    else:  # unused here (noise strengths with noise_mode='none'): torch has no gradient
      np.testing.assert_array_equal(g, np.zeros_like(g), err_msg=what)
  if case["kind"] == "mapping":
    _, updated = run(variables, inputs)
    golden.assert_close(updated["stats"]["w_avg"], ref["w_avg"], "w_avg after an update")


@pytest.mark.parametrize(
  "name", ["G_skip", "G_resnet_label_fused_clamped", "D_resnet", "D_skip_label_clamped"]
)
def test_regularizers_double_backward_matches_official(name):
  """Path length (G) and R1 (D) through the family's own functions: the penalties and the
  gradients of their means with respect to every parameter (second-order through the nets)."""
  case = fixtures.BY_NAME[name]
  ref = _reference(case)
  variables = stylegan2.convert_reference_state(golden.section(ref, "state/"))
  n = case["batch"]
  c = jnp.asarray(ref["c"]) if "c" in ref else jnp.zeros((n, 0), jnp.float32)
  if case["kind"] == "G":
    g = stylegan2.Generator(**case["init"])
    synth = lambda m, ws: m.synthesis(ws, "const")

    def value(params):
      v = {**variables, "params": params}
      synthesis = lambda ws: g.apply(v, ws, method=synth)
      return family.path_lengths(synthesis, jnp.asarray(ref["reg/ws"]), ref["reg/noise"])[1]
  else:
    d = stylegan2.Discriminator(**case["init"])

    def value(params):
      discriminator = lambda x: d.apply({**variables, "params": params}, x, c)
      return family.r1_penalty(discriminator, jnp.asarray(ref["img"]))

  mean = lambda p: (lambda v: (jnp.mean(v), v))(value(p))
  (_, got), grads = jax.jit(jax.value_and_grad(mean, has_aux=True))(variables["params"])
  golden.assert_close(got, ref["reg/value"], "penalty", 1e-4)
  want = dict(
    jax.tree_util.tree_leaves_with_path(
      stylegan2.convert_reference_state(golden.section(ref, "reg_grad_state/"))["params"]
    )
  )
  # Relative to the largest gradient of any parameter: a small one (a bias of the first block)
  # is the difference of large terms, which float32 rounds in either framework. Against float64
  # JAX on D_resnet (largest gradient 0.019): torch float32 is off by 2.6e-6, JAX float32 by
  # 2.2e-6, so 3e-4 of the scale (5.8e-6); a wrong formula is off by the scale itself.
  largest = max(float(np.abs(w).max()) for w in want.values())
  for path, g in jax.tree_util.tree_leaves_with_path(grads):
    what = f"second-order gradient wrt {jax.tree_util.keystr(path)}"
    if path in want:
      golden.assert_close(g, want[path], what, 3e-4, rtol=1e-3, of=largest, floor=0)
    else:
      np.testing.assert_array_equal(g, np.zeros_like(g), err_msg=what)


def test_fused_and_per_sample_modulated_convs_give_one_generator():
  case = fixtures.BY_NAME["G_resnet_label_fused_clamped"]
  ref = _reference(case)
  variables = stylegan2.convert_reference_state(golden.section(ref, "state/"))
  module = stylegan2.Generator(**case["init"])
  call = {**case["call"]}
  static = ("noise_mode", "fused_modconv", "truncation_psi", "truncation_cutoff")
  apply = jax.jit(module.apply, static_argnames=static)
  images = [
    apply(variables, ref["z"], ref["c"], **{**call, "fused_modconv": fused})
    for fused in (True, False)
  ]
  golden.assert_close(images[0], images[1], "fused vs per-sample")


def test_random_noise_draws_from_the_noise_stream_and_its_strength_scales_it():
  g = stylegan2.Generator(
    4, 0, 4, 8, mapping_kwargs=dict(num_layers=1), synthesis_kwargs=fixtures.TINY
  )
  z, c = jnp.ones((2, 4)), jnp.zeros((2, 0))
  variables = jax.jit(g.init)({"params": jax.random.key(0), "noise": jax.random.key(1)}, z, c)
  params = jax.tree.map(lambda x: x, variables["params"])
  params["synthesis"]["b8"]["conv1"]["noise_strength"] = jnp.float32(1.0)
  variables = {**variables, "params": params}
  apply = jax.jit(g.apply, static_argnames="noise_mode")
  draw = lambda v, key: apply(v, z, c, rngs={"noise": jax.random.key(key)})
  assert not np.allclose(draw(variables, 2), draw(variables, 3))
  np.testing.assert_array_equal(draw(variables, 2), draw(variables, 2))
  none = apply(variables, z, c, noise_mode="none")
  params["synthesis"]["b8"]["conv1"]["noise_strength"] = jnp.float32(0.0)
  silent = draw({**variables, "params": params}, 2)
  np.testing.assert_allclose(silent, none, atol=1e-6)


def test_bad_shapes_are_named():
  with pytest.raises(ValueError, match="power of two"):
    stylegan2.SynthesisNetwork(12).num_ws  # noqa: B018
  d = stylegan2.Discriminator(0, 8, **fixtures.TINY, epilogue_kwargs=dict(mbstd_group_size=4))
  with pytest.raises(ValueError, match=r"batch \(6\) must be a multiple of the stddev group"):
    d.init(jax.random.key(0), jnp.zeros((6, 8, 8, 3)), jnp.zeros((6, 0)))
