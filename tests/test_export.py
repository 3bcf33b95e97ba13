"""--mode=export: every landed generator as ONNX, run by onnxruntime on the input JAX gets; int8 and
bf16 weights (gan_jax/quantize.py) in the file and in the JAX modes."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import onnxruntime
import pytest

from gan_jax import config as config_lib
from gan_jax import export, onnx_graph, quantize, run, train
from gan_jax.data import layouts
from gan_jax.errors import ConfigError, UserError
from tests.conftest import ROOT, run_cli

FAMILIES = ("dcgan", "pix2pix", "cyclegan", "dualgan", "ugatit", "animegan", "stylegan2")


def _tiny(family, *overrides):
  return config_lib.load_config(str(ROOT / f"configs/{family}.py:tiny"), list(overrides))


def _state(config, jit=False):
  """A family's random state; `jit` builds it as one program (StyleGAN3's eager init compiles
  hundreds of small ones)."""
  family = run.validate(config)
  spec = layouts.batch_spec(family.layout, config.batch_size, config.image_size)
  create = lambda key: family.create_state(config, key, example_batch=spec)  # noqa: E731
  return family, (jax.jit(create) if jit else create)(jax.random.key(3))


def _input(example, name):
  rng = np.random.default_rng(1)
  if name == "images":
    return rng.uniform(-1, 1, example.shape).astype(np.float32)
  return rng.standard_normal(example.shape).astype(np.float32)


def _run_onnx(model, name, x):
  session = onnxruntime.InferenceSession(
    model.SerializeToString(), providers=["CPUExecutionProvider"]
  )
  return session.run(None, {name: x})[0]


def _agreement(config, direction="", jit=False):
  family, state = _state(config, jit)
  fn, example, name, out_name, _ = export.generator_fn(config, family, state, direction)
  model = onnx_graph.to_onnx(fn, example, name, out_name)
  x = _input(example, name)
  ours, theirs = _run_onnx(model, name, x), np.asarray(jax.jit(fn)(x))
  return model, ours, theirs


@pytest.mark.parametrize("family", FAMILIES)
def test_every_generator_matches_onnxruntime(family):
  config = _tiny(family, "export.batch_size=2")
  model, ours, theirs = _agreement(config)
  diff = float(np.max(np.abs(ours - theirs)))
  print(f"{family}: onnxruntime vs JAX max abs diff {diff:.3g}, {model.ByteSize()} bytes")
  assert ours.shape == theirs.shape and ours.shape[0] == 2
  assert np.std(theirs) > 1e-3  # a real image, not a constant
  assert diff < 2e-5, diff


@pytest.mark.parametrize("variant", ["t", "r"])
def test_stylegan3_matches_onnxruntime(variant):
  """StyleGAN3 from z, its user transform at identity: the Fourier input's rotation and
  translation are built with stack and scatter, written as Concat and ScatterND."""
  config = _tiny("stylegan3", "export.batch_size=2", f"model.config={variant}")
  model, ours, theirs = _agreement(config, jit=True)
  diff = float(np.max(np.abs(ours - theirs)))
  print(
    f"stylegan3-{variant}: onnxruntime vs JAX max abs diff {diff:.3g}, {model.ByteSize()} bytes"
  )
  assert ours.shape == theirs.shape == (2, 16, 16, 3)
  assert np.std(theirs) > 1e-3
  assert "ScatterND" in {node.op_type for node in model.graph.node}
  assert diff < 2e-5, diff


def _converted(fn, x, primitive):
  """(ONNX op types, onnxruntime's output, JAX's) for `fn`, whose jaxpr must hold `primitive`."""
  assert f" {primitive}[" in str(jax.make_jaxpr(fn)(x))  # the case still tests that primitive
  model = onnx_graph.to_onnx(fn, x, "x", "y")
  return (
    {n.op_type for n in model.graph.node},
    _run_onnx(model, "x", x),
    np.asarray(fn(jnp.asarray(x))),
  )


X = np.arange(1.0, 13.0, dtype=np.float32).reshape(3, 4)


def test_stack_of_computed_and_constant_arrays():
  stack = lambda a: jnp.stack([a[0], 2 * a[2], jnp.arange(4.0)], 1)  # noqa: E731
  ops, ours, theirs = _converted(stack, X, "stack")
  assert "Concat" in ops and ours.shape == (4, 3)
  np.testing.assert_array_equal(ours, theirs)


_vmapped = jax.vmap(lambda a, i, u: a.at[:, i].add(u))
SCATTERS = {
  "set a row": (lambda a: a.at[1].set(2 * a[0]), "scatter"),
  "add a column": (lambda a: a.at[:, 1].add(a[:, 0]), "scatter-add"),
  "set a slice (window)": (lambda a: a.at[:, 1:3].set(-a[:, :2]), "scatter"),
  "multiply part of a row": (lambda a: a.at[0, 1:3].multiply(a[1, :2]), "scatter-mul"),
  "subtract": (lambda a: a.at[1].subtract(a[0]), "scatter-sub"),
  "min": (lambda a: a.at[jnp.array([0, 2])].min(a[1:] / 2 + 3), "scatter-min"),
  "max": (lambda a: a.at[jnp.array([0, 2])].max(a[1:] / 2 + 3), "scatter-max"),
  "index array": (lambda a: a.at[jnp.array([[0, 1], [2, 0]]), 2].add(a[:2, :2]), "scatter-add"),
  "known out of bounds dropped": (lambda a: a.at[jnp.array([7, 1, 9])].set(-a), "scatter"),
  "computed, some dropped": (lambda a: a.at[a[:, 0].astype(int) % 5].add(a), "scatter-add"),
  "computed window, one dropped": (
    lambda a: a.at[a[:2, 0].astype(int) * 4 - 3, 1:3].set(10 * a[:2, :2]),
    "scatter",
  ),
  "computed, clipped": (
    lambda a: a.at[a[:2, 0].astype(int) * 3 - 3].set(7 * a[:2], mode="clip"),
    "scatter",
  ),
  "vmapped (batching dims)": (
    lambda a: _vmapped(a.reshape(2, 2, 3), a[:2, 0].astype(int) % 3, 5 * a[:2, :2]),
    "scatter-add",
  ),
}


@pytest.mark.parametrize("case", SCATTERS)
def test_scatter_forms_match_jax(case):
  fn, primitive = SCATTERS[case]
  ops, ours, theirs = _converted(fn, X, primitive)
  assert "ScatterND" in ops and ours.shape == theirs.shape
  np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)


def test_unconverted_scatter_mode_is_named():
  numbers = jax.lax.ScatterDimensionNumbers((0,), (1,), (1,))
  one_hot = jax.lax.GatherScatterMode.ONE_HOT
  fn = lambda a: jax.lax.scatter_add(a, jnp.array([1]), a[:, 0], numbers, mode=one_hot)  # noqa: E731
  with pytest.raises(onnx_graph.ExportError, match="scatter-add in mode ONE_HOT"):
    onnx_graph.to_onnx(fn, X, "x", "y")


def test_the_other_direction_and_a_larger_size():
  config = _tiny("cyclegan", "export.image_size=48")
  _, ours, theirs = _agreement(config, "BtoA")
  assert ours.shape == (1, 48, 48, 3)
  assert np.max(np.abs(ours - theirs)) < 2e-5


@pytest.mark.parametrize("mode", ["int8", "bf16"])
def test_quantized_file_is_smaller_and_matches_jax(mode):
  fp32, _, reference = _agreement(_tiny("pix2pix"))
  small, ours, theirs = _agreement(_tiny("pix2pix", f"export.quantize={mode}"))
  ratio = small.ByteSize() / fp32.ByteSize()
  print(f"pix2pix {mode}: {ratio:.3f} of the float32 file")
  assert ratio < (0.35 if mode == "int8" else 0.65), ratio
  stored = {i.data_type for i in small.graph.initializer}
  assert (onnx.TensorProto.INT8 if mode == "int8" else onnx.TensorProto.BFLOAT16) in stored
  assert np.max(np.abs(ours - theirs)) < 2e-5  # the file computes what JAX computes
  assert 1e-4 < np.max(np.abs(theirs - reference)) < 0.5  # rounded weights, nearly the output


def test_int8_is_per_output_channel_and_symmetric():
  w = np.random.default_rng(0).standard_normal((3, 3, 4, 5)).astype(np.float32)
  w[..., 2] *= 100.0  # one loud channel must not coarsen the others
  q = quantize.int8(w)
  assert q.q.dtype == np.int8 and q.scale.shape == (5,)
  np.testing.assert_allclose(q.scale, np.abs(w).reshape(-1, 5).max(0) / 127, rtol=1e-6)
  error = np.abs(np.asarray(q.dequantize()) - w)
  assert np.all(error <= np.asarray(q.scale) / 2 + 1e-6)
  assert np.max(np.abs(np.asarray(q.q))) == 127


def test_quantize_touches_only_weight_matrices_under_params():
  config = _tiny("pix2pix")
  _, state = _state(config)
  stored = quantize.quantize(state, "int8")
  is_q = lambda x: isinstance(x, quantize.Int8Weight)  # noqa: E731
  kinds = [type(x).__name__ for x in jax.tree.leaves(stored.g.params, is_leaf=is_q)]
  assert "Int8Weight" in kinds
  assert not any(is_q(x) for x in jax.tree.leaves(stored.g.batch_stats, is_leaf=is_q))
  assert not any(is_q(x) for x in jax.tree.leaves(stored.g.opt_state, is_leaf=is_q))
  biases = [x for x in jax.tree.leaves(stored.g.params, is_leaf=is_q) if getattr(x, "ndim", 0) == 1]
  assert biases and all(b.dtype == np.float32 for b in biases)
  sizes = quantize.weight_bytes(stored)
  assert sizes["quantized_bytes"] < sizes["params_bytes"]
  with pytest.raises(ConfigError, match="config.export.quantize"):
    quantize.mode_of(_tiny("pix2pix", "export.quantize=int4"))


def test_unused_computations_leave_no_node():
  """What `fn` traces but its output does not need (here a sine; in an export, the dequantised
  weights of the nets it does not run) stays out of the file."""
  model = onnx_graph.to_onnx(lambda x: (jnp.sin(x), x * 2)[1], np.ones(4, np.float32), "x", "y")
  assert [n.op_type for n in model.graph.node] == ["Mul", "Identity"]


def test_unconverted_primitive_is_named():
  with pytest.raises(onnx_graph.ExportError, match="cumsum"):
    onnx_graph.to_onnx(lambda x: jax.numpy.cumsum(x * 2), np.ones(4, np.float32), "x", "y")


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory, tfds_data_dir):
  workdir = tmp_path_factory.mktemp("dcgan") / "run"
  train.train_and_evaluate(_tiny("dcgan", f"data.data_dir={tfds_data_dir}"), workdir)
  return workdir


def test_export_mode_writes_a_checked_file(dcgan_run, tmp_path):
  config, _ = config_lib.load_run_config(dcgan_run, "", ["export.quantize=int8"])
  path = export.export(config, dcgan_run, "onnx", str(tmp_path / "g.onnx"))
  info = json.loads(path.with_suffix(".json").read_text())
  assert info["family"] == "dcgan" and info["quantize"] == "int8" and info["step"] > 0
  assert info["input"]["shape"] == [1, config.model.z_dim]
  assert info["bytes"] == path.stat().st_size
  assert info["onnxruntime_max_abs_diff"] < 2e-5
  default = export.export(config_lib.load_run_config(dcgan_run, "")[0], dcgan_run, "onnx")
  assert default.parent == dcgan_run / "export" and default.name.endswith("_none.onnx")


def test_export_refuses_bad_requests_before_work(dcgan_run, tmp_path):
  config, _ = config_lib.load_run_config(dcgan_run, "")
  with pytest.raises(UserError, match="--format 'tflite'"):
    export.export(config, dcgan_run, "tflite")
  with pytest.raises(UserError, match="must name a .onnx file"):
    export.export(config, dcgan_run, "onnx", str(tmp_path / "g.txt"))
  with pytest.raises(UserError, match="no direction"):
    export.export(config, dcgan_run, "onnx", direction="AtoB")
  with pytest.raises(UserError, match="no checkpoint"):
    export.export(config, tmp_path, "onnx")
  assert not list(tmp_path.rglob("*.onnx")) and not list(tmp_path.rglob("*.json"))


def test_sample_mode_uses_the_quantized_weights(dcgan_run):
  config, _ = config_lib.load_run_config(dcgan_run, "")
  _, state, _ = run.restore_newest(config, dcgan_run)
  family = run.validate(config)
  z = np.random.default_rng(0).standard_normal((4, config.model.z_dim)).astype(np.float32)
  outs = {}
  for mode in ("none", "bf16", "int8"):
    config.export.quantize = mode
    outs[mode] = np.asarray(family.generate(config, quantize.apply(config, state), z))
  for mode in ("bf16", "int8"):
    assert 0 < np.max(np.abs(outs[mode] - outs["none"])) < 0.5, mode


def test_export_command_line(dcgan_run, tmp_path, tfds_data_dir):
  out = tmp_path / "cli.onnx"
  args = [f"--workdir={dcgan_run}", "--mode=export", "--format=onnx", f"--output={out}"]
  result = run_cli([*args, "--config.export.quantize=bf16"], tfds_data_dir)
  assert "bf16 weights" in result.stderr and json.loads(out.with_suffix(".json").read_text())
  bad = run_cli([*args[:2], "--format=tflite"], tfds_data_dir, check=False)
  assert bad.returncode != 0 and "--format" in bad.stderr
