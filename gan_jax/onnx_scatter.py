"""Where a lax scatter writes, as ONNX ScatterND addresses it (onnx_graph's `scatter` conversion).

The index arithmetic alone: which operand dims ScatterND indexes element by element and which stay
whole slices, the transposes that put them in that order, and each update element's position
(clipped, or sent to a spill row where lax would drop it).
"""

import jax.numpy as jnp
import numpy as np
from jax import lax

from gan_jax.errors import ExportError

SCATTER = {
  "scatter": "none",
  "scatter-add": "add",
  "scatter-sub": "add",  # of the negated updates
  "scatter-mul": "mul",
  "scatter-min": "min",
  "scatter-max": "max",
}


class ScatterLayout:
  """A lax scatter as one ONNX ScatterND. The operand's dims split into `explicit` ones (indexed,
  or a window narrower than the dim), which ScatterND addresses element by element and which the
  transposed operand puts first, and `full` ones (whole-dim windows), which stay slices."""

  def __init__(self, eqn):
    dn, operand, updates = eqn.params["dimension_numbers"], eqn.invars[0].aval, eqn.invars[2].aval
    mode = eqn.params["mode"]
    if mode not in (
      lax.GatherScatterMode.CLIP,
      lax.GatherScatterMode.FILL_OR_DROP,
      lax.GatherScatterMode.PROMISE_IN_BOUNDS,
    ):
      raise ExportError(f"{eqn.primitive.name} in mode {mode.name} has no ONNX conversion")
    self.mode, n, u = mode, tuple(operand.shape), tuple(updates.shape)
    # vmap's batching dims: operand dim -> indices dim; each is indexed by its position there.
    self.batching = dict(
      zip(dn.operand_batching_dims, dn.scatter_indices_batching_dims, strict=True)
    )
    windowed = [d for d in range(len(n)) if d not in (*dn.inserted_window_dims, *self.batching)]
    window_of = dict(zip(windowed, dn.update_window_dims, strict=True))  # operand -> updates dim
    self.window = [u[window_of[d]] if d in window_of else 1 for d in range(len(n))]
    self.indexed = tuple(dn.scatter_dims_to_operand_dims)
    full = [d for d in window_of if d not in self.indexed and u[window_of[d]] == n[d]]
    self.explicit = [d for d in range(len(n)) if d not in full]
    if not self.explicit:
      raise ExportError(f"{eqn.primitive.name} that indexes no dim has no ONNX conversion")
    scatter_dims = [i for i in range(len(u)) if i not in dn.update_window_dims]
    explicit_windows = {window_of[d]: c for c, d in enumerate(self.explicit) if d in window_of}
    self.update_dims = [i for i in range(len(u)) if i in scatter_dims or i in explicit_windows]
    self.operand_perm = self.explicit + full
    self.update_perm = self.update_dims + [window_of[d] for d in full]
    # Starts reshaped to the explicit update dims (1 along windows) plus each window's offsets.
    self.start_shape = [u[i] if i in scatter_dims else 1 for i in self.update_dims]
    offsets = np.zeros(
      [1 if i in scatter_dims else u[i] for i in self.update_dims] + [len(self.explicit)], np.int32
    )
    for axis, i in enumerate(self.update_dims):
      if i in explicit_windows:
        shape = [1] * len(self.update_dims)
        shape[axis] = u[i]
        offsets[..., explicit_windows[i]] += np.arange(u[i]).reshape(shape)
    self.offsets, self.sizes = offsets, [n[d] for d in self.explicit]

  def positions(self, indices):
    """(ScatterND indices, each window's in-bounds flag or None): each update element's position
    along the explicit dims; a window that lax would drop (FILL_OR_DROP) goes to one row past the
    end of the first explicit dim, which the conversion adds and removes again."""
    indices, column = indices.astype(jnp.int32), (*indices.shape[:-1], 1)

    def start(d):
      if d in self.indexed:
        return lax.slice_in_dim(indices, self.indexed.index(d), self.indexed.index(d) + 1, axis=-1)
      if d in self.batching:
        return lax.broadcasted_iota(jnp.int32, column, self.batching[d])
      return jnp.zeros(column, jnp.int32)

    starts = jnp.concatenate([start(d) for d in self.explicit], -1)
    highest = np.asarray([self.sizes[c] - self.window[d] for c, d in enumerate(self.explicit)])
    if self.mode == lax.GatherScatterMode.CLIP:
      starts = jnp.clip(starts, 0, highest)
    inside = jnp.min(((starts >= 0) & (starts <= highest)).astype(jnp.int32), -1) > 0
    out = starts.reshape(*self.start_shape, -1) + self.offsets
    if self.mode != lax.GatherScatterMode.FILL_OR_DROP:
      return out, None
    spill = np.asarray([self.sizes[0]] + [0] * (len(self.sizes) - 1), np.int32)
    out = jnp.where(inside.reshape(*self.start_shape, 1), out, spill)
    return out, inside
