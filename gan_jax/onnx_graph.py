"""A jaxpr as an ONNX graph, written with the `onnx` package (opset 18).

`to_onnx(fn, example)` traces `fn` (arrays it closes over, such as a generator's params, become
constants) and writes each primitive as ONNX operators. Anything computed from constants alone
(weight normalisation, dropout masks from a fixed key, constant noise) is evaluated once here with
JAX and stored, unless storing it would take more bytes than its inputs: an int8 or bfloat16 weight
stays small in the file and is cast (and scaled) when the model runs. Shapes are static, as in the
jaxpr. A primitive without a conversion fails with its name (ExportError).

Why not jax2onnx: every release from 0.13 requires orbax-checkpoint < 0.11.37 (gan_jax pins 0.12.8),
and 0.12.5 does not convert `nn.leaky_relu` or antialiased `jax.image.resize` under jax 0.10.2;
jax2tf + tf2onnx would need TensorFlow.
"""

import string

import jax
import jax.numpy as jnp
import numpy as np
import onnx
from jax import lax
from jax.extend import core as jex_core
from onnx import helper, numpy_helper

from gan_jax.errors import ExportError
from gan_jax.onnx_scatter import SCATTER, ScatterLayout

OPSET = 18
IR_VERSION = 10  # read by onnxruntime >= 1.16
INT64_MAX = np.iinfo(np.int64).max


class _Tensor:
  """A value computed by the ONNX graph (as opposed to a constant known at export)."""

  def __init__(self, name: str, aval):
    self.name, self.aval = name, aval


def _nbytes(aval) -> int:
  try:
    itemsize = np.dtype(aval.dtype).itemsize
  except TypeError:  # PRNG key arrays
    itemsize = 8
  return int(np.prod(aval.shape, dtype=np.int64)) * itemsize


def _onnx_dtype(dtype) -> int:
  return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


class _Graph:
  def __init__(self):
    self.nodes, self.initializers, self._count, self._consts = [], [], 0, {}

  def fresh(self, hint: str) -> str:
    self._count += 1
    return f"{hint}_{self._count}"

  def const(self, value) -> str:
    """The name of an initializer holding `value` (one per distinct array object)."""
    key = id(value)
    if key not in self._consts:
      array = np.asarray(value)
      name = self.fresh("const")
      self.initializers.append(numpy_helper.from_array(array, name))
      self._consts[key] = (name, value)  # holding `value` keeps its id unique
    return self._consts[key][0]

  def name(self, x) -> str:
    return x.name if isinstance(x, _Tensor) else self.const(x)

  def op(self, op_type: str, inputs, **attrs) -> str:
    out = self.fresh(op_type.lower())
    names = [i if isinstance(i, str) else self.name(i) for i in inputs]
    self.nodes.append(helper.make_node(op_type, names, [out], **attrs))
    return out

  def int64(self, values) -> str:
    return self.const(np.asarray(values, np.int64))


# Primitive conversions: (graph, eqn, inputs) -> output names, one per eqn.outvars.
UNARY = {
  "neg": "Neg",
  "exp": "Exp",
  "log": "Log",
  "tanh": "Tanh",
  "sqrt": "Sqrt",
  "abs": "Abs",
  "sign": "Sign",
  "floor": "Floor",
  "ceil": "Ceil",
  "logistic": "Sigmoid",
  "erf": "Erf",
  "sin": "Sin",
  "cos": "Cos",
  "not": "Not",
}
BINARY = {
  "add": "Add",
  "sub": "Sub",
  "mul": "Mul",
  "div": "Div",
  "max": "Max",
  "min": "Min",
  "pow": "Pow",
  "and": "And",
  "or": "Or",
  "xor": "Xor",
  "eq": "Equal",
  "lt": "Less",
  "le": "LessOrEqual",
  "gt": "Greater",
  "ge": "GreaterOrEqual",
}
IDENTITY = ("stop_gradient", "copy", "copy_p", "reduce_precision", "optimization_barrier")
REDUCE = {"reduce_sum": "ReduceSum", "reduce_max": "ReduceMax", "reduce_min": "ReduceMin"}


def _out_shape(eqn, i=0):
  return tuple(eqn.outvars[i].aval.shape)


def _reshape(g, x, shape) -> str:
  return g.op("Reshape", [x, g.int64(shape)])


def _dilate(g, x: str, shape, axis: int, factor: int) -> tuple[str, list]:
  """Inserts factor - 1 zeros between the elements of `axis` (lax's lhs and interior dilation)."""
  if factor == 1:
    return x, list(shape)
  n = shape[axis]
  split = [*shape[: axis + 1], 1, *shape[axis + 1 :]]
  pads = [0] * (2 * len(split))
  pads[len(split) + axis + 1] = factor - 1
  x = g.op("Pad", [_reshape(g, x, split), g.int64(pads)])
  merged = [*shape[:axis], n * factor, *shape[axis + 1 :]]
  x = _reshape(g, x, merged)
  size = (n - 1) * factor + 1
  x = g.op("Slice", [x, g.int64([0]), g.int64([size]), g.int64([axis])])
  merged[axis] = size
  return x, merged


def _conv(g, eqn, ins):
  p = eqn.params
  if p["batch_group_count"] != 1:
    raise ExportError("conv_general_dilated with batch_group_count > 1 has no ONNX conversion")
  lhs_spec, rhs_spec, out_spec = p["dimension_numbers"]
  lhs, rhs = ins
  x = g.op("Transpose", [lhs], perm=list(lhs_spec))  # -> N, C, spatial...
  shape = [lhs.aval.shape[d] for d in lhs_spec]
  w = (
    np.transpose(np.asarray(rhs), rhs_spec)
    if not isinstance(rhs, _Tensor)
    else g.op("Transpose", [rhs], perm=list(rhs_spec))
  )  # -> O, I, spatial...
  for i, factor in enumerate(p["lhs_dilation"]):
    x, shape = _dilate(g, x, shape, 2 + i, factor)
  lo = [a for a, _ in p["padding"]]
  hi = [b for _, b in p["padding"]]
  if min(lo + hi) < 0:  # lax crops with negative padding; ONNX Pad does too
    x = g.op("Pad", [x, g.int64([0, 0, *lo, 0, 0, *hi])])
    lo, hi = [0] * len(lo), [0] * len(hi)
  y = g.op(
    "Conv",
    [x, w],
    strides=list(p["window_strides"]),
    pads=[*lo, *hi],
    dilations=list(p["rhs_dilation"]),
    group=p["feature_group_count"],
  )
  return [g.op("Transpose", [y], perm=[int(i) for i in np.argsort(out_spec)])]


def _dot_general(g, eqn, ins):
  """Any dot_general as one Einsum: lax orders the result batch, lhs free, rhs free."""
  (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
  lhs, rhs = (eqn.invars[0].aval, eqn.invars[1].aval)
  letters = iter(string.ascii_letters)
  left = [next(letters) for _ in lhs.shape]
  right = [None] * len(rhs.shape)
  for a, b in zip(lc, rc, strict=True):
    right[b] = left[a]
  for a, b in zip(lb, rb, strict=True):
    right[b] = left[a]
  right = [r or next(letters) for r in right]
  out = [left[a] for a in lb]
  out += [left[a] for a in range(len(left)) if a not in lc and a not in lb]
  out += [right[b] for b in range(len(right)) if b not in rc and b not in rb]
  equation = f"{''.join(left)},{''.join(right)}->{''.join(out)}"
  y = g.op("Einsum", ins, equation=equation)
  if eqn.outvars[0].aval.dtype != lhs.dtype:
    y = g.op("Cast", [y], to=_onnx_dtype(eqn.outvars[0].aval.dtype))
  return [y]


def _broadcast_in_dim(g, eqn, ins):
  (x,) = ins[:1]
  shape, dims = eqn.params["shape"], eqn.params["broadcast_dimensions"]
  inner = [1] * len(shape)
  for i, d in enumerate(dims):
    inner[d] = eqn.invars[0].aval.shape[i]
  y = _reshape(g, g.name(x), inner)
  return [y if tuple(inner) == tuple(shape) else g.op("Expand", [y, g.int64(shape)])]


def _pad(g, eqn, ins):
  x, value = ins
  shape = list(eqn.invars[0].aval.shape)
  y = g.name(x)
  for axis, (_, _, interior) in enumerate(eqn.params["padding_config"]):
    y, shape = _dilate(g, y, shape, axis, interior + 1)
  lo = [a for a, _, _ in eqn.params["padding_config"]]
  hi = [b for _, b, _ in eqn.params["padding_config"]]
  return [g.op("Pad", [y, g.int64(lo + hi), value])]


def _slice(g, eqn, ins):
  p = eqn.params
  axes = list(range(len(p["start_indices"])))
  steps = p["strides"] or [1] * len(axes)
  inputs = [ins[0], g.int64(p["start_indices"]), g.int64(p["limit_indices"]), g.int64(axes)]
  return [g.op("Slice", [*inputs, g.int64(steps)])]


def _rev(g, eqn, ins):
  axes = list(eqn.params["dimensions"])
  starts, ends = g.int64([-1] * len(axes)), g.int64([-INT64_MAX] * len(axes))
  return [g.op("Slice", [ins[0], starts, ends, g.int64(axes), g.int64([-1] * len(axes))])]


def _select_n(g, eqn, ins):
  which, *cases = ins
  if eqn.invars[0].aval.dtype == np.bool_:
    return [g.op("Where", [which, cases[1], cases[0]])]
  out = g.name(cases[0])
  dtype = eqn.invars[0].aval.dtype
  for i, case in enumerate(cases[1:], 1):
    out = g.op("Where", [g.op("Equal", [which, np.asarray(i, dtype)]), case, out])
  return [out]


def _integer_pow(g, eqn, ins):
  y = eqn.params["y"]
  if y == 2:
    return [g.op("Mul", [ins[0], ins[0]])]
  return [g.op("Pow", [ins[0], np.asarray(y, eqn.invars[0].aval.dtype)])]


def _reduce(op_type):
  return lambda g, eqn, ins: [g.op(op_type, [ins[0], g.int64(eqn.params["axes"])], keepdims=0)]


def _split(g, eqn, ins):
  axis, start, outs = eqn.params["axis"], 0, []
  for size in eqn.params["sizes"]:
    limits = [g.int64([start]), g.int64([start + size]), g.int64([axis])]
    outs.append(g.op("Slice", [ins[0], *limits]))
    start += size
  return outs


def _stack(g, eqn, ins):
  """lax's stack (jnp.stack of several arrays): each input given a unit axis, then Concat."""
  axis, out = eqn.params["axis"], _out_shape(eqn)
  unit = [*out[:axis], 1, *out[axis + 1 :]]
  return [g.op("Concat", [_reshape(g, g.name(x), unit) for x in ins], axis=axis)]


def _scatter(g, eqn, ins):
  """Any lax scatter (but mode ONE_HOT) as ONNX ScatterND, reduction by the primitive;
  indices known at export are turned into positions here, computed ones in the graph."""
  layout, (operand, indices, updates) = ScatterLayout(eqn), ins
  if isinstance(indices, _Tensor):
    closed = jax.make_jaxpr(lambda i: layout.positions(i)[0])(
      jax.ShapeDtypeStruct(indices.aval.shape, indices.aval.dtype)
    )
    (where,) = _convert(g, closed.jaxpr, closed.consts, [indices])
    spills = layout.mode == lax.GatherScatterMode.FILL_OR_DROP
    where = g.op("Cast", [where], to=onnx.TensorProto.INT64)
  else:
    where, inside = layout.positions(jnp.asarray(indices))
    where, spills = g.int64(where), inside is not None and not np.all(inside)
  data = g.op("Transpose", [operand], perm=layout.operand_perm)
  if spills:
    rank = len(layout.operand_perm)
    data = g.op("Pad", [data, g.int64([0] * rank + [1] + [0] * (rank - 1))])
  values = g.op("Transpose", [updates], perm=layout.update_perm)
  if eqn.primitive.name == "scatter-sub":
    values = g.op("Neg", [values])
  out = g.op("ScatterND", [data, where, values], reduction=SCATTER[eqn.primitive.name])
  if spills:
    out = g.op("Slice", [out, g.int64([0]), g.int64([layout.sizes[0]]), g.int64([0])])
  return [g.op("Transpose", [out], perm=[int(i) for i in np.argsort(layout.operand_perm)])]


CONVERSIONS = {
  **{k: (lambda op: lambda g, eqn, ins: [g.op(op, ins)])(v) for k, v in UNARY.items()},
  **{k: (lambda op: lambda g, eqn, ins: [g.op(op, ins)])(v) for k, v in BINARY.items()},
  **{k: _reduce(v) for k, v in REDUCE.items()},
  "ne": lambda g, eqn, ins: [g.op("Not", [g.op("Equal", ins)])],
  "rsqrt": lambda g, eqn, ins: [g.op("Reciprocal", [g.op("Sqrt", ins)])],
  "square": lambda g, eqn, ins: [g.op("Mul", [ins[0], ins[0]])],
  "rem": lambda g, eqn, ins: [g.op("Mod", ins, fmod=1)],
  "integer_pow": _integer_pow,
  "clamp": lambda g, eqn, ins: [g.op("Min", [g.op("Max", [ins[1], ins[0]]), ins[2]])],
  "convert_element_type": lambda g, eqn, ins: [
    g.op("Cast", ins, to=_onnx_dtype(eqn.params["new_dtype"]))
  ],
  "reshape": lambda g, eqn, ins: [_reshape(g, ins[0], _out_shape(eqn))],
  "squeeze": lambda g, eqn, ins: [_reshape(g, ins[0], _out_shape(eqn))],
  "expand_dims": lambda g, eqn, ins: [_reshape(g, ins[0], _out_shape(eqn))],
  "transpose": lambda g, eqn, ins: [g.op("Transpose", ins, perm=list(eqn.params["permutation"]))],
  "broadcast_in_dim": _broadcast_in_dim,
  "concatenate": lambda g, eqn, ins: [g.op("Concat", ins, axis=eqn.params["dimension"])],
  "slice": _slice,
  "rev": _rev,
  "pad": _pad,
  "select_n": _select_n,
  "dot_general": _dot_general,
  "conv_general_dilated": _conv,
  "split": _split,
  "stack": _stack,
  **{k: _scatter for k in SCATTER},
}


def _sub_jaxpr(eqn):
  """The closed jaxpr a call-like primitive (jit, custom_jvp_call, custom_vjp_call) runs."""
  for key in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
    sub = eqn.params.get(key)
    if isinstance(sub, jex_core.ClosedJaxpr):
      return sub
  return None


def _foldable(eqn, ins) -> bool:
  """Whether to evaluate `eqn` now: its inputs are all known, and either ONNX could not compute it
  or its result is no larger than its inputs (a cast of int8 weights to float32 is not)."""
  if any(isinstance(x, _Tensor) for x in ins):
    return False
  if eqn.primitive.name not in CONVERSIONS:
    return True
  out_bytes = sum(_nbytes(v.aval) for v in eqn.outvars)
  in_bytes = sum(_nbytes(v.aval) for v in eqn.invars)
  return out_bytes <= in_bytes


def _live_eqns(jaxpr) -> list:
  """The equations the outputs need: tracing keeps the rest, such as the dequantisation of the
  weights of nets `fn` does not run, which would otherwise land in the file as unused nodes."""
  live, kept = {v for v in jaxpr.outvars if not isinstance(v, jex_core.Literal)}, []
  for eqn in reversed(jaxpr.eqns):
    if eqn.effects or any(v in live for v in eqn.outvars):
      kept.append(eqn)
      live.update(v for v in eqn.invars if not isinstance(v, jex_core.Literal))
  return kept[::-1]


def _convert(g: _Graph, jaxpr, consts, args) -> list:
  env = {}

  def read(v):
    if isinstance(v, jex_core.Literal):
      return np.asarray(v.val, dtype=v.aval.dtype)
    return env[v]

  env.update(zip(jaxpr.constvars, consts, strict=True))
  env.update(zip(jaxpr.invars, args, strict=True))
  for eqn in _live_eqns(jaxpr):
    ins = [read(v) for v in eqn.invars]
    name = eqn.primitive.name
    sub = _sub_jaxpr(eqn)
    if sub is not None:
      outs = _convert(g, sub.jaxpr, sub.consts, ins)
    elif _foldable(eqn, ins):
      outs = eqn.primitive.bind(*ins, **eqn.params)
      outs = outs if eqn.primitive.multiple_results else [outs]
    elif name in IDENTITY:
      outs = ins
    elif name in CONVERSIONS:
      names = CONVERSIONS[name](g, eqn, ins)
      outs = [_Tensor(n, v.aval) for n, v in zip(names, eqn.outvars, strict=True)]
    else:
      raise ExportError(f"primitive {name!r} has no ONNX conversion ({eqn})")
    for v, out in zip(eqn.outvars, outs, strict=True):
      if not isinstance(v, jex_core.DropVar):
        env[v] = out
  return [read(v) for v in jaxpr.outvars]


def to_onnx(fn, example, input_name: str, output_name: str, doc: str = "") -> onnx.ModelProto:
  """`fn` (one array in, one array out) as an ONNX model with static shapes.

  Args:
    fn: a JAX function of one float32 array; arrays it closes over become constants.
    example: an array of the input's shape and dtype.
    input_name, output_name: the graph's input and output names.
    doc: the model's doc string.
  Returns:
    The checked ModelProto.
  """
  closed = jax.make_jaxpr(fn)(example)
  g = _Graph()
  x = _Tensor(input_name, closed.in_avals[0])
  (y,) = _convert(g, closed.jaxpr, closed.consts, [x])
  out_aval = closed.out_avals[0]
  g.nodes.append(helper.make_node("Identity", [g.name(y)], [output_name]))
  graph = helper.make_graph(
    g.nodes,
    "gan_jax",
    [helper.make_tensor_value_info(input_name, _onnx_dtype(x.aval.dtype), x.aval.shape)],
    [helper.make_tensor_value_info(output_name, _onnx_dtype(out_aval.dtype), out_aval.shape)],
    initializer=g.initializers,
  )
  model = helper.make_model(
    graph,
    opset_imports=[helper.make_opsetid("", OPSET)],
    ir_version=IR_VERSION,
    producer_name="gan_jax",
    doc_string=doc,
  )
  onnx.checker.check_model(model, full_check=model.ByteSize() < 2**31 - 2**20)
  return model


def save(model: onnx.ModelProto, path) -> None:
  """Writes `model`; over 2 GB (protobuf's limit) the weights go to `<path>.data` beside it."""
  big = model.ByteSize() > 2**31 - 2**20
  onnx.save_model(model, str(path), save_as_external_data=big, location=f"{path.name}.data")
