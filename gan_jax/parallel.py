"""Device mesh, shardings and multi-host set-up.

Data parallelism is a `data` mesh axis over every device of every process: the global batch is
split along it, params are replicated (or, from config.fsdp_min_size elements up, split along
it too: `state_sharding`). config.model_parallel > 1 takes that many devices per `data` row for
a `model` axis, over which the leaves a family names (Family.model_parallel_leaves: U-GAT-IT's
268 M-weight MLP) are split, with their optimizer moments; the batch is split over `data` only.
Each process feeds only its own slice of the batch, and `jax.make_array_from_process_local_data`
assembles the global array, so the same code runs on one CPU, 8 fake CPU devices, several local
processes, a GPU host or a TPU pod.
"""

import jax
import numpy as np
from absl import logging
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from gan_jax.errors import ConfigError

DATA_AXIS = "data"
MODEL_AXIS = "model"


def initialize_distributed(
  coordinator_address: str = "", num_processes: int = 0, process_id: int = -1, auto: bool = False
) -> None:
  """Joins a multi-process run; a no-op for a single process.

  Args:
    coordinator_address: `host:port` of process 0. Given, the run is set up explicitly with
      `num_processes` and `process_id` (local multi-process runs, GPU clusters without a scheduler).
    num_processes: number of processes, with `coordinator_address`.
    process_id: this process's index, with `coordinator_address`.
    auto: let JAX detect the cluster (Cloud TPU pods, Slurm, Open MPI).
  """
  if coordinator_address:
    if num_processes < 1 or not 0 <= process_id < num_processes:
      raise ConfigError(
        f"--coordinator_address needs --num_processes >= 1 and 0 <= --process_id < "
        f"num_processes; got num_processes={num_processes}, process_id={process_id}"
      )
    jax.distributed.initialize(coordinator_address, num_processes, process_id)
  elif auto:
    jax.distributed.initialize()
  else:
    return
  logging.info(
    "process %d of %d, %d local / %d global devices",
    jax.process_index(),
    jax.process_count(),
    jax.local_device_count(),
    jax.device_count(),
  )


def make_mesh(devices=None, model_parallel: int = 1) -> Mesh:
  """A (data, model) mesh over `devices` (default: every device of every process), each
  `model_parallel` consecutive devices a row of the `model` axis. Rows stay within a process, so
  each process still feeds its own slice of the batch."""
  devices = jax.devices() if devices is None else list(devices)
  local = len(devices) if jax.process_count() == 1 else jax.local_device_count()
  if len(devices) % model_parallel or local % model_parallel:
    raise ConfigError(
      f"config.model_parallel={model_parallel} does not divide the {local} devices of "
      f"{'the mesh' if local == len(devices) else 'each process'}"
    )
  return Mesh(np.asarray(devices).reshape(-1, model_parallel), (DATA_AXIS, MODEL_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def _path_name(path) -> str:
  """A key path as 'g/opt_state/1/0/mu/a2b/mlp_0/kernel'."""
  return "/".join(str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path)


def state_sharding(abstract_state, mesh: Mesh, min_size: int, model_leaves=None):
  """Where each leaf of the training state lives: replicated (data parallel), except that
  - a leaf whose path ends with a key of `model_leaves` ({'mlp_0/kernel': axis}) is split along
    that axis over the `model` mesh axis: a param and its optimizer moments alike, whose paths
    end the same;
  - leaves of at least `min_size` elements (0: none) are split along their largest (other) axis
    that the `data` axis divides, FSDP-style.
  Each device holds its part only. jit gathers or partitions the computation where a step uses a
  split param; the numbers are the replicated run's, up to summation order."""
  devices, model = mesh.shape[DATA_AXIS], mesh.shape[MODEL_AXIS]
  model_leaves = model_leaves if model > 1 else {}

  def rule(path, leaf):
    spec = [None] * leaf.ndim
    name = _path_name(path)
    for suffix, axis in model_leaves.items():
      if name == suffix or name.endswith("/" + suffix):
        if leaf.shape[axis] % model:
          raise ConfigError(
            f"config.model_parallel={model} does not divide axis {axis} of {name} "
            f"{tuple(leaf.shape)}"
          )
        spec[axis] = MODEL_AXIS
    if min_size and devices > 1 and leaf.size >= min_size:
      axes = [i for i in np.argsort(leaf.shape)[::-1] if leaf.shape[i] % devices == 0]
      axes = [i for i in axes if spec[i] is None]
      if axes:
        spec[axes[0]] = DATA_AXIS
    return NamedSharding(mesh, PartitionSpec(*spec))

  return jax.tree_util.tree_map_with_path(rule, abstract_state)


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (batch) axis split over `data`; other axes whole."""
  return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def process_batch_size(global_batch_size: int, mesh: Mesh) -> int:
  """This process's slice of the global batch; raises if the batch cannot be split evenly."""
  num_devices = mesh.shape[DATA_AXIS]  # the `model` axis shares each example
  if global_batch_size % num_devices:
    where = "" if num_devices == mesh.devices.size else " (its data axis)"
    raise ConfigError(
      f"config.batch_size={global_batch_size} is not divisible by the {num_devices} "
      f"devices of the mesh{where}; use a multiple of {num_devices}"
    )
  return global_batch_size // jax.process_count()


def to_global(local_batch, sharding: NamedSharding):
  """Assembles each process's numpy slice into global `jax.Array`s sharded by `sharding`."""
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), local_batch)


def is_lead_process() -> bool:
  """Process 0 writes what must be written once: TensorBoard events, PNGs, config.json."""
  return jax.process_index() == 0
