"""gan_jax's StyleGAN3 computes what NVlabs/stylegan3 computes: the synthesis schedule (every
layer's sizes, rates, cutoffs, half-widths, channels, up/down factors, taps, paddings and filter
taps, at full width: T and R at 256 px, T at 1024, R at 64), the filtered leaky ReLU for every
(up, down, filters) of the 256 px T and R nets (output and gradients), and whole tiny T and R
generators (output, gradients with respect to z and every parameter; a user transform;
truncation; the magnitude and w_avg EMAs after a training forward).

The reference runs live where STYLEGAN3_SRC names a checkout of NVlabs/stylegan3 (then the
filtered lrelu is also compared at the 256 px nets' full sizes), else its numbers come from
tests/fixtures/stylegan3_nets.npz (tests/scripts/make_stylegan3_fixtures.py regenerates them).
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.nets import filtered_lrelu as flrelu
from gan_jax.nets import stylegan3
from tests import golden
from tests.scripts import make_stylegan3_fixtures as fixtures

SRC = os.environ.get("STYLEGAN3_SRC")
FLRELU_CASES = {case["name"]: case for case in fixtures.flrelu_cases()}
G_CASES = {case["name"]: case for case in fixtures.G_CASES}


def _reference(name) -> dict[str, np.ndarray]:
  return golden.reference(fixtures, SRC, name)


@pytest.mark.parametrize("config,resolution", fixtures.SCHEDULE_NETS)
def test_schedule_equals_the_official_modules_attributes(config, resolution):
  ref = _reference(f"schedule_{config}_{resolution}")
  net = stylegan3.SynthesisNetwork(resolution, **fixtures.synthesis_kwargs(config))
  s = net.schedule()
  assert s["channels"][0] == ref["input/channels"]
  np.testing.assert_array_equal(ref["input/size"], [s["sizes"][0]] * 2)
  np.testing.assert_allclose(
    [s["sampling_rates"][0], s["cutoffs"][0]],
    [ref["input/sampling_rate"], ref["input/bandwidth"]],
    rtol=1e-12,
  )
  layers = fixtures.net_layers(resolution, config)
  assert len(layers) == sum(1 for k in ref if k.endswith("/name"))
  for idx, layer in enumerate(layers):
    assert layer["name"] == str(ref[f"{idx}/name"])
    layer = {**layer, "use_fp16": bool(s["use_fp16"][idx])}
    for k in fixtures.SCHEDULE_KEYS:
      np.testing.assert_allclose(
        np.asarray(layer[k], np.float64), ref[f"{idx}/{k}"], rtol=1e-12, err_msg=f"{idx} {k}"
      )
    for k in ("up_filter", "down_filter"):
      got = np.zeros(0, np.float32) if layer[k] is None else layer[k]
      assert got.shape == ref[f"{idx}/{k}"].shape, f"layer {idx} {k}"
      np.testing.assert_allclose(got, ref[f"{idx}/{k}"], rtol=0, atol=1e-7, err_msg=f"{idx} {k}")


def test_lowpass_filters_have_firwin_semantics():
  signal = pytest.importorskip("scipy.signal")
  special = pytest.importorskip("scipy.special")
  for numtaps, cutoff, width, fs in [(12, 2.0, 4.3, 32), (24, 45.2, 20.0, 128), (6, 3.0, 9.0, 16)]:
    want = signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs)
    np.testing.assert_allclose(flrelu.design_lowpass_filter(numtaps, cutoff, width, fs), want, 1e-6)
  x = np.linspace(0, 80, 2001)
  np.testing.assert_allclose(flrelu.bessel_j1(x), special.j1(x), rtol=0, atol=1e-13)
  assert flrelu.design_lowpass_filter(1, 2.0, 1.0, 8) is None


def _flrelu(case, x, b):
  return flrelu.filtered_lrelu(
    x,
    case["fu"],
    case["fd"],
    b,
    case["up"],
    case["down"],
    case["padding"],
    case["gain"],
    case["slope"],
    case["clamp"],
  )


def _check_flrelu(case, ref):
  x, b = jnp.asarray(ref["x"]), jnp.asarray(ref["b"])
  out, vjp = jax.vjp(jax.jit(lambda x, b: _flrelu(case, x, b)), x, b)
  golden.assert_close(out, ref["out"], f"{case['name']} output")
  grad_x, grad_b = vjp(jnp.asarray(ref["cot"]))
  golden.assert_close(grad_x, ref["grad_x"], f"{case['name']} gradient wrt x")
  golden.assert_close(grad_b, ref["grad_b"], f"{case['name']} gradient wrt b", 1e-4)


@pytest.mark.parametrize("name", list(FLRELU_CASES))
def test_filtered_lrelu_matches_the_reference_path(name):
  _check_flrelu(FLRELU_CASES[name], _reference(name))


@pytest.mark.skipif(not SRC, reason="STYLEGAN3_SRC is not set")
@pytest.mark.parametrize("config", ["t", "r"])
def test_filtered_lrelu_at_the_256px_nets_full_sizes(config):
  """Every layer's exact filters and padding, on an input of its full size (one channel)."""
  seen = set()
  for layer in fixtures.net_layers(256, config):
    key = (layer["up_factor"], layer["down_factor"], layer["padding"], layer["in_size"])
    if key in seen:
      continue
    seen.add(key)
    k = layer["conv_kernel"]
    case = dict(
      name=f"{config}_{layer['name']}",
      x_shape=(1, layer["in_size"] + k - 1, layer["in_size"] + k - 1, 1),
      up=layer["up_factor"],
      down=layer["down_factor"],
      padding=layer["padding"],
      fu=layer["up_filter"],
      fd=layer["down_filter"],
      gain=1.0 if layer["is_torgb"] else float(np.sqrt(2)),
      slope=1.0 if layer["is_torgb"] else 0.2,
      clamp=256.0,
    )
    official = golden.official(fixtures, SRC)
    with fixtures.official_modules(official.modules):
      ref = fixtures.run_flrelu(official, case)
    assert ref["out"].shape[1] == layer["out_size"]
    _check_flrelu(case, ref)


def _generator(case):
  init = fixtures.g_init(case)
  top = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs")
  synthesis = {k: v for k, v in init.items() if k not in top}
  return stylegan3.Generator(**{k: init[k] for k in top}, synthesis_kwargs=synthesis)


@pytest.mark.parametrize("name", list(G_CASES))
def test_generator_matches_official(name):
  case = G_CASES[name]
  ref = _reference(name)
  state = {k[len("state/") :]: v for k, v in ref.items() if k.startswith("state/")}
  transform = state.pop("synthesis.input.transform")
  variables = stylegan3.convert_reference_state(state)
  g = _generator(case)
  c = jnp.zeros((case["batch"], 0))
  mutable = ["stats"] if case["train"] else False

  def f(params, z):
    out = g.apply(
      {**variables, "params": params},
      z,
      c,
      truncation_psi=case["psi"],
      update_emas=case["train"],
      transform=jnp.asarray(transform),
      mutable=mutable,
    )
    return out[0] if case["train"] else out

  out, vjp = jax.vjp(jax.jit(f), variables["params"], jnp.asarray(ref["z"]))
  golden.assert_close(out, ref["out"], "output")
  grad_params, grad_z = vjp(jnp.asarray(ref["cot"]))
  golden.assert_close(grad_z, ref["grad/z"], "gradient wrt z", 1e-4)
  grads = {k[len("grad_state/") :]: v for k, v in ref.items() if k.startswith("grad_state/")}
  want = dict(
    jax.tree_util.tree_leaves_with_path(stylegan3.convert_reference_state(grads)["params"])
  )
  got = dict(jax.tree_util.tree_leaves_with_path(grad_params))
  assert set(want) == set(got), set(want) ^ set(got)
  for path, g_leaf in got.items():
    golden.assert_close(g_leaf, want[path], f"gradient wrt {jax.tree_util.keystr(path)}", 1e-4)
  if case["train"]:
    _, updated = g.apply(variables, jnp.asarray(ref["z"]), c, update_emas=True, mutable=["stats"])
    after = {k[len("after/") :]: v for k, v in ref.items() if k.startswith("after/")}
    want_stats = stylegan3.convert_reference_state(after)["stats"]
    moved = jax.tree.map(
      lambda a, b: float(jnp.abs(a - b).max()), updated["stats"], variables["stats"]
    )
    assert min(jax.tree.leaves(moved)) > 0, "the training forward left an EMA where it was"
    jax.tree.map(
      lambda a, b: golden.assert_close(a, b, "EMAs after the update"), updated["stats"], want_stats
    )
