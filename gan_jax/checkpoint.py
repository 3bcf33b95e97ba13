"""Orbax checkpoints of the train state and the data iterator, and preemption handling.

Each checkpoint holds two items: `state` (the family's whole State pytree, sharded as in
training) and `data` (each process's grain iterator position), so a resumed run sees exactly the
batches it would have seen. Saves are asynchronous. A newest checkpoint that cannot be read (a crash
mid-write, a damaged disk) falls back to the previous one with a warning; Orbax itself ignores the
`*.orbax-checkpoint-tmp-*` folders that an interrupted save leaves behind.
"""

import os
import pathlib
import signal
import threading

import grain
import jax
import orbax.checkpoint as ocp
from absl import logging
from jax.experimental import multihost_utils

from gan_jax.errors import UserError


class Checkpointer:
  """Saves and restores (state, data iterator) under `directory`."""

  def __init__(self, directory: str | pathlib.Path, max_to_keep: int = 3, async_save: bool = True):
    self.directory = pathlib.Path(directory).absolute()
    self._manager = ocp.CheckpointManager(
      self.directory,
      item_handlers={  # named up front so that item_metadata can read a step before restoring it
        "state": ocp.StandardCheckpointHandler(),
        "data": grain.checkpoint.CheckpointHandler(),
      },
      options=ocp.CheckpointManagerOptions(
        max_to_keep=max_to_keep, create=True, enable_async_checkpointing=async_save
      ),
    )

  def all_steps(self) -> list[int]:
    return sorted(self._manager.all_steps())

  def save(self, step: int, state, data_iterator=None) -> None:
    items = {"state": ocp.args.StandardSave(state)}
    if data_iterator is not None:
      items["data"] = grain.checkpoint.CheckpointSave(data_iterator)
    self._manager.save(step, args=ocp.args.Composite(**items), force=True)

  def restore_latest(self, abstract_state, data_iterator=None):
    """Restores the newest readable checkpoint.

    Args:
      abstract_state: the State as `jax.ShapeDtypeStruct`s carrying the target shardings.
      data_iterator: a fresh grain iterator, moved in place to the saved position; None to skip
        the data item (sampling, evaluation).

    Returns:
      (state, step), or None when there is no checkpoint at all.

    Raises:
      UserError: checkpoints exist but none can be restored (e.g. saved with another config); the
        files are left as they are.
    """
    steps = self.all_steps()
    errors = []
    for step in reversed(steps):
      try:
        mismatch = self._mismatch(step, abstract_state)
        if not mismatch:
          items = {"state": ocp.args.StandardRestore(abstract_state)}
          if data_iterator is not None:
            items["data"] = grain.checkpoint.CheckpointRestore(data_iterator)
          restored = self._manager.restore(step, args=ocp.args.Composite(**items))
      except Exception as e:  # damaged files: Orbax and TensorStore raise many types
        errors.append(f"step {step}: {type(e).__name__}: {_first_line(e)}")
        logging.warning(
          "checkpoint %s/%d cannot be read (%s); trying an older one",
          self.directory,
          step,
          errors[-1],
        )
        continue
      if mismatch:  # readable, but not this config's state: stop before touching anything
        raise UserError(
          f"checkpoint {self.directory}/{step} holds a different train state than "
          f"this config makes ({mismatch}); use the config it was saved with, or "
          f"another --workdir"
        )
      if errors:
        self._set_aside([s for s in steps if s > step])
      return restored["state"], step
    if steps:
      raise UserError(
        f"none of the checkpoints {steps} in {self.directory} can be read (newest "
        f"error: {errors[0]}); move them away or use another --workdir"
      )
    return None

  def restore(self, step: int, abstract_state):
    """The state saved at `step` (no data iterator, no fallback): for evaluation and tools."""
    try:
      mismatch = self._mismatch(step, abstract_state)
      if not mismatch:
        args = ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state))
        return self._manager.restore(step, args=args)["state"]
    except Exception as e:  # damaged files: Orbax and TensorStore raise many types
      raise UserError(
        f"checkpoint {self.directory}/{step} cannot be read ({type(e).__name__}: {_first_line(e)})"
      ) from None
    raise UserError(f"checkpoint {self.directory}/{step} does not match this config: {mismatch}")

  def _mismatch(self, step: int, abstract_state) -> str:
    """What differs between the saved state's arrays and `abstract_state` ('' when nothing)."""
    saved = self._manager.item_metadata(step)["state"]
    name = lambda path: jax.tree_util.keystr(path, simple=True, separator=".")
    saved = {
      name(p): (tuple(m.shape), m.dtype) for p, m in jax.tree_util.tree_leaves_with_path(saved)
    }
    wanted = {
      name(p): stored_shape_dtype(a) for p, a in jax.tree_util.tree_leaves_with_path(abstract_state)
    }
    problems = [f"{k} is missing" for k in sorted(wanted.keys() - saved.keys())]
    problems += [f"{k} is not in this config's state" for k in sorted(saved.keys() - wanted.keys())]
    for key in sorted(saved.keys() & wanted.keys()):
      (s_shape, s_dtype), (w_shape, w_dtype) = saved[key], wanted[key]
      if s_shape != w_shape or (s_dtype is not None and s_dtype != w_dtype):
        problems.append(f"{key}: saved {s_shape} {s_dtype}, config needs {w_shape} {w_dtype}")
    extra = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
    return "; ".join(problems[:3]) + extra

  def _set_aside(self, unreadable: list[int]) -> None:
    """Renames unreadable newer checkpoints to `<step>.unreadable` (kept for a post-mortem, out
    of Orbax's way), so that training can save those steps again."""
    if jax.process_index() == 0:
      for step in unreadable:
        path = self.directory / str(step)
        target = path.with_name(f"{step}.unreadable")
        n = 1
        while target.exists():
          target, n = path.with_name(f"{step}.unreadable{n}"), n + 1
        path.rename(target)
        logging.warning("moved unreadable checkpoint %s to %s", path, target.name)
    if jax.process_count() > 1:
      multihost_utils.sync_global_devices("gan_jax: unreadable checkpoints set aside")
    self._manager.reload()

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()


def stored_shape_dtype(leaf) -> tuple:
  """(shape, dtype) as Orbax stores the leaf: typed PRNG keys as their raw uint32 data."""
  if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
    leaf = jax.eval_shape(jax.random.key_data, leaf)
  return tuple(leaf.shape), leaf.dtype


def _first_line(e: Exception) -> str:
  text = str(e).strip().splitlines()
  # Orbax appends advice on loading options that do not apply here; the first sentence is the fact.
  return text[0].split(". ")[0][:300] if text else ""


class PreemptionWatch:
  """Tells the loop when to save and stop: SIGTERM (preemption) or Ctrl-C.

  Alone, a signal handler sets a flag and the loop stops after the step in flight. With several
  processes, JAX's preemption service (started by `jax.distributed.initialize`) sees SIGTERM and
  picks a step that every process reaches together; Ctrl-C on any process is passed to it as
  SIGTERM. A second Ctrl-C stops at once without saving, saying what the loop was waiting for
  (`waiting_for`, which the loop keeps up to date).
  """

  def __init__(self):
    self._event = threading.Event()
    self._multi = jax.process_count() > 1
    self._previous = {}
    self.waiting_for = "the step in flight"
    if threading.current_thread() is threading.main_thread():
      signals = (signal.SIGINT,) if self._multi else (signal.SIGTERM, signal.SIGINT)
      for sig in signals:
        self._previous[sig] = signal.signal(sig, self._handle)

  def _handle(self, signum, frame):
    if signum == signal.SIGINT and self._event.is_set():
      logging.warning("second Ctrl-C: stopping now, without waiting for %s", self.waiting_for)
      raise KeyboardInterrupt
    self._event.set()
    where = "a step every process reaches" if self._multi else self.waiting_for
    logging.warning(
      "received %s: stopping after %s, then saving a checkpoint%s",
      signal.Signals(signum).name,
      where,
      "; Ctrl-C again stops at once without saving" if signum == signal.SIGINT else "",
    )
    if self._multi:  # JAX's preemption service listens for SIGTERM and tells every process
      os.kill(os.getpid(), signal.SIGTERM)

  def reached(self, step: int) -> bool:
    if self._multi:
      return multihost_utils.reached_preemption_sync_point(step)
    return self._event.is_set()

  def close(self) -> None:
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    self._previous = {}
