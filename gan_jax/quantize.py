"""Smaller generators: bfloat16 weights, or int8 weight-only quantisation (config.export.quantize).

  int8: each weight matrix or conv kernel (a float32 leaf with >= 2 axes under a `params` field of
        the state) is stored as int8 with one float32 scale per output channel (its last axis, as
        Flax lays out Dense and Conv kernels): scale = max|w| / 127 over the other axes, q =
        round(w / scale). Symmetric, weight-only: activations stay float32.
  bf16: the same leaves stored as bfloat16.
Biases, norm scales and other 1-axis leaves, and everything outside `params` (batch statistics,
running averages, optimizer moments), stay as they are.

`quantize(state, mode)` gives the stored form; `dequantize` turns it back into float32 inside
whatever traces it, so an exported ONNX file keeps the small form (gan_jax/onnx_graph.py folds no
constant into a larger one) and --mode=translate / sample compute exactly what that file computes.
"""

import flax
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.errors import ConfigError

MODES = ("none", "bf16", "int8")


@flax.struct.dataclass
class Int8Weight:
  q: jax.Array  # int8, the weight's shape
  scale: jax.Array  # float32 [out channels], the weight's last axis

  def dequantize(self) -> jax.Array:
    return self.q.astype(jnp.float32) * self.scale


def mode_of(config) -> str:
  """config.export.quantize, checked ('none' for runs saved before the key existed)."""
  mode = config.get("export", {}).get("quantize", "none")
  if mode not in MODES:
    raise ConfigError(f"unknown config.export.quantize {mode!r}; choices: {', '.join(MODES)}")
  return mode


def _is_weight(path, leaf) -> bool:
  in_params = any(getattr(k, "name", getattr(k, "key", None)) == "params" for k in path)
  return in_params and getattr(leaf, "ndim", 0) >= 2 and getattr(leaf, "dtype", None) == jnp.float32


def int8(weight) -> Int8Weight:
  """Per-output-channel symmetric int8 of a float32 array (channels on the last axis)."""
  w = np.asarray(weight, np.float32)
  amax = np.abs(w).reshape(-1, w.shape[-1]).max(axis=0)
  scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
  q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
  return Int8Weight(q=jnp.asarray(q), scale=jnp.asarray(scale))


def quantize(state, mode: str):
  """The state with its weights in stored form (Int8Weight or bfloat16 leaves)."""
  if mode == "none":
    return state
  store = int8 if mode == "int8" else lambda w: jnp.asarray(w, jnp.bfloat16)
  return jax.tree_util.tree_map_with_path(
    lambda path, leaf: store(leaf) if _is_weight(path, leaf) else leaf, state
  )


def dequantize(state):
  """The stored form back in float32 (traceable: under jit the small form is the constant)."""
  restore = lambda leaf: (  # noqa: E731
    leaf.dequantize()
    if isinstance(leaf, Int8Weight)
    else leaf.astype(jnp.float32)
    if getattr(leaf, "dtype", None) == jnp.bfloat16
    else leaf
  )
  return jax.tree.map(restore, state, is_leaf=lambda x: isinstance(x, Int8Weight))


def weight_bytes(state) -> dict[str, int]:
  """Bytes of the quantised leaves' stored form and of everything under `params`."""
  stored, total = 0, 0
  for path, leaf in jax.tree_util.tree_flatten_with_path(
    state, is_leaf=lambda x: isinstance(x, Int8Weight)
  )[0]:
    if not any(getattr(k, "name", getattr(k, "key", None)) == "params" for k in path):
      continue
    size = sum(a.nbytes for a in jax.tree.leaves(leaf))
    total += size
    stored += size if isinstance(leaf, Int8Weight) or leaf.dtype == jnp.bfloat16 else 0
  return {"quantized_bytes": stored, "params_bytes": total}


def apply(config, state):
  """The state as config.export.quantize makes it: weights rounded to bf16 or int8 and back."""
  mode = mode_of(config)
  return state if mode == "none" else jax.jit(dequantize)(quantize(state, mode))
