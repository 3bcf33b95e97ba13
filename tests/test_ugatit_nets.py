"""gan_jax.nets.ugatit computes what the official U-GAT-IT nets compute from their weights: a light
and a full generator and two discriminators in train mode (the three outputs; the gradients of a
random linear functional of them with respect to the input and every parameter; the spectral
norms' u and sigma after the forward), with as many parameters at the paper's sizes; AdaILN and ILN
against numpy, with the unbiased (PyTorch) and the biased (TensorFlow) variance.

The reference runs live where UGATIT_SRC names a checkout of znxlwm/UGATIT-pytorch, else its
numbers come from tests/fixtures/ugatit_nets.npz (tests/scripts/make_ugatit_fixtures.py
regenerates them).
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.nets import ugatit
from tests import golden
from tests.scripts import make_ugatit_fixtures as fixtures

SRC = os.environ.get("UGATIT_SRC")


def _fixture() -> dict[str, np.ndarray]:
  return golden.arrays(fixtures.FIXTURE)


def _reference(case) -> dict[str, np.ndarray]:
  if SRC:
    return {
      "x": fixtures.make_input(case),
      **fixtures.run_official(golden.official(fixtures, SRC), case),
    }
  return golden.section(_fixture(), case["name"] + "/")


def _module(kind: str, init: dict):
  """The gan_jax net built as the official constructor arguments `init` build theirs."""
  if kind == "G":
    return ugatit.Generator(
      num_blocks=init["n_blocks"],
      features=init["ngf"],
      out_channels=init["output_nc"],
      light=init["light"],
    )
  return ugatit.Discriminator(n_layers=init["n_layers"], features=init["ndf"])


def _run_once(fn, *args):
  """fn(*args), jitted at XLA's lowest backend optimisation level: each program here runs once, on
  tiny inputs, and LLVM without optimisation compiles a generator's gradient in about half the
  time (2 cores: 6-9 s -> 3 s)."""
  compiled = jax.jit(fn).lower(*args).compile({"xla_backend_optimization_level": 0})
  return compiled(*args)


def _leaves(tree) -> dict:
  return dict(jax.tree_util.tree_leaves_with_path(tree))


@pytest.mark.parametrize("name", [case["name"] for case in fixtures.CASES])
def test_matches_official_in_train_mode(name):
  case = fixtures.BY_NAME[name]
  ref = _reference(case)
  variables = ugatit.convert_reference_state(golden.section(ref, "state/"))
  module = _module(case["kind"], case["init"])
  stats = variables.get("batch_stats", {})
  cots = [jnp.asarray(ref[f"cot/{i}"]) for i in range(3)]

  def functional(params, x):
    v = {"params": params, "batch_stats": stats}
    outs, updated = module.apply(v, x, train=True, mutable=["batch_stats"])
    return sum(jnp.sum(o * c) for o, c in zip(outs, cots, strict=True)), (outs, updated)

  grad = jax.grad(functional, (0, 1), has_aux=True)
  (grad_params, grad_x), (outs, updated) = _run_once(grad, variables["params"], ref["x"])
  for i, what in enumerate(("image or logits", "cam_logit", "heatmap")):
    golden.assert_close(outs[i], ref[f"out/{i}"], what)
  golden.assert_close(grad_x, ref["grad/x"], "gradient wrt the input", 1e-4)
  want = _leaves(ugatit.convert_reference_state(golden.section(ref, "grad_state/"))["params"])
  got = _leaves(grad_params)
  assert set(got) == set(want), "the parameters differ"
  for path, g in got.items():
    golden.assert_close(g, want[path], f"gradient wrt {jax.tree_util.keystr(path)}", 1e-4)
  after = ugatit.convert_reference_state(
    {**golden.section(ref, "state/"), **golden.section(ref, "after/")}
  )
  want_stats = _leaves(after.get("batch_stats", {}))
  got_stats = _leaves(updated.get("batch_stats", {}))
  assert set(got_stats) == set(want_stats), "the spectral norms' statistics differ"
  assert bool(want_stats) == (case["kind"] == "D")
  for path, s in got_stats.items():
    golden.assert_close(s, want_stats[path], f"{jax.tree_util.keystr(path)} after the forward")


def test_parameter_counts_match_official_at_paper_sizes():
  """Shapes only (jax.eval_shape): the full generator's first MLP weight alone is 268 M floats."""
  if SRC:
    want = fixtures.paper_parameter_counts(golden.official(fixtures, SRC))
  else:
    want = {name: int(_fixture()[f"count/{name}"]) for name in fixtures.PAPER_NETS}
  got = {}
  for name, (kind, init) in fixtures.PAPER_NETS.items():
    x = jax.ShapeDtypeStruct((1, 256, 256, 3), jnp.float32)
    params = jax.eval_shape(_module(kind, init).init, jax.random.key(0), x)["params"]
    got[name] = sum(leaf.size for leaf in jax.tree.leaves(params))
    if name == "G_full":
      assert params["mlp_0"]["kernel"].shape == (64 * 64 * 256, 256)
  assert got == want


def test_outputs_shapes():
  g = ugatit.Generator(num_blocks=1, features=2, light=True)
  out = jax.eval_shape(g.init_with_output, jax.random.key(0), jnp.zeros((2, 32, 24, 3)))[0]
  assert [o.shape for o in out] == [(2, 32, 24, 3), (2, 2), (2, 8, 6, 1)]
  d = ugatit.Discriminator(n_layers=7, features=2)  # the global D: 5 stride-2 convs
  out = jax.eval_shape(d.init_with_output, jax.random.key(0), jnp.zeros((2, 128, 256, 3)))[0]
  assert [o.shape for o in out] == [(2, 2, 6, 1), (2, 2), (2, 3, 7, 1)]
  with pytest.raises(ValueError, match="at least 3"):
    ugatit.Discriminator(n_layers=2).init(jax.random.key(0), jnp.zeros((1, 16, 16, 3)))


def _iln_numpy(x, rho, eps, ddof):
  """rho * IN + (1 - rho) * LN of NHWC x, in float64."""
  x = x.astype(np.float64)
  per_channel, per_example = (1, 2), (1, 2, 3)
  x_in = (x - x.mean(per_channel, keepdims=True)) / np.sqrt(
    x.var(per_channel, ddof=ddof, keepdims=True) + eps
  )
  x_ln = (x - x.mean(per_example, keepdims=True)) / np.sqrt(
    x.var(per_example, ddof=ddof, keepdims=True) + eps
  )
  return rho * x_in + (1 - rho) * x_ln


@pytest.mark.parametrize("ddof", [1, 0])
def test_ada_iln_and_iln_against_numpy(ddof):
  rng = np.random.RandomState(3)
  x = (rng.randn(2, 3, 3, 4) * 2 + 1).astype(np.float32)  # 9 pixels: ddof moves the IN part 6%
  rho, gamma, beta = rng.rand(4), rng.randn(2, 4), rng.randn(2, 4)
  iln = _iln_numpy(x, rho, 1e-5, ddof)
  ada = ugatit.AdaILN(ddof=ddof)
  got = jax.jit(ada.apply)({"params": {"rho": rho}}, x, gamma, beta)
  np.testing.assert_allclose(got, iln * gamma[:, None, None] + beta[:, None, None], atol=2e-5)
  ilnorm = ugatit.ILN(ddof=ddof)
  params = {"rho": rho, "gamma": gamma[0], "beta": beta[0]}
  got = jax.jit(ilnorm.apply)({"params": params}, x)
  np.testing.assert_allclose(got, iln * gamma[0] + beta[0], atol=2e-5)


def test_iln_by_hand():
  """One channel of values 1 and 3 and one of 4 and 0 (2 pixels): each channel has mean 2 and
  unbiased variance 2 and 8, so IN gives -+1/sqrt(2) in both; LN's variance over all four is
  10/3 (ddof 1), 5/2 (ddof 0)."""
  x = np.array([[[[1.0, 4.0]], [[3.0, 0.0]]]], np.float32)  # [1, H=2, W=1, C=2]
  iln = jax.jit(ugatit.instance_layer_norm, static_argnames="ddof")
  for ddof, ln_var in ((1, 10 / 3), (0, 5 / 2)):
    in_var = np.array([2.0, 8.0]) if ddof else np.array([1.0, 4.0])
    want_in = np.array([[[[-1.0, 2.0]], [[1.0, -2.0]]]]) / np.sqrt(in_var + 1e-5)
    want_ln = (x - 2.0) / np.sqrt(ln_var + 1e-5)
    for rho in (np.array([1.0, 0.0]), np.array([0.25, 0.75])):  # per channel
      got = iln(x, rho, ddof=ddof)
      np.testing.assert_allclose(got, rho * want_in + (1 - rho) * want_ln, rtol=1e-5)


def test_clip_rho_clips_every_rho_and_nothing_else():
  params = {
    "ada_0": {"norm1": {"rho": jnp.array([-0.5, 0.5, 1.5])}, "conv1": {"kernel": jnp.full(2, 3.0)}},
    "up_0_norm": {"rho": jnp.array([2.0]), "gamma": jnp.array([-2.0])},
  }
  clipped = ugatit.clip_rho(params)
  np.testing.assert_array_equal(clipped["ada_0"]["norm1"]["rho"], [0.0, 0.5, 1.0])
  np.testing.assert_array_equal(clipped["up_0_norm"]["rho"], [1.0])
  np.testing.assert_array_equal(clipped["ada_0"]["conv1"]["kernel"], [3.0, 3.0])
  np.testing.assert_array_equal(clipped["up_0_norm"]["gamma"], [-2.0])
