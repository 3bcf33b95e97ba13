"""Device mesh, shardings and multi-host set-up.

Data parallelism is a `data` mesh axis over every device of every process: the global batch is
split along it, params are replicated (or, from config.fsdp_min_size elements up, split along
it too: `state_sharding`). Each process feeds only its own slice of the batch, and
`jax.make_array_from_process_local_data` assembles the global array, so the same code runs on one
CPU, 8 fake CPU devices, several local processes, a GPU host or a TPU pod.
"""

import jax
import numpy as np
from absl import logging
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from gan_jax.errors import ConfigError

DATA_AXIS = "data"


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


def make_mesh(devices=None) -> Mesh:
  """A 1-D mesh with axis `data` over `devices` (default: every device of every process)."""
  devices = jax.devices() if devices is None else list(devices)
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def state_sharding(abstract_state, mesh: Mesh, min_size: int):
  """Where each leaf of the training state lives: replicated (data parallel), except that leaves
  of at least `min_size` elements (0: none) are split along their largest axis that the `data`
  axis divides, FSDP-style: a big param and its optimizer moments alike, each device holding
  1 / devices of it. jit gathers a split param where a step uses it whole; the numbers are the
  replicated run's, up to summation order."""
  devices = mesh.shape[DATA_AXIS]

  def rule(leaf):
    if not min_size or devices == 1 or leaf.size < min_size:
      return replicated(mesh)
    axes = [i for i in np.argsort(leaf.shape)[::-1] if leaf.shape[i] % devices == 0]
    if not axes:
      return replicated(mesh)
    spec = [None] * leaf.ndim
    spec[axes[0]] = DATA_AXIS
    return NamedSharding(mesh, PartitionSpec(*spec))

  return jax.tree.map(rule, abstract_state)


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (batch) axis split over `data`; other axes whole."""
  return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def process_batch_size(global_batch_size: int, mesh: Mesh) -> int:
  """This process's slice of the global batch; raises if the batch cannot be split evenly."""
  num_devices = mesh.devices.size
  if global_batch_size % num_devices:
    raise ConfigError(
      f"config.batch_size={global_batch_size} is not divisible by the {num_devices} "
      f"devices of the mesh; use a multiple of {num_devices}"
    )
  return global_batch_size // jax.process_count()


def to_global(local_batch, sharding: NamedSharding):
  """Assembles each process's numpy slice into global `jax.Array`s sharded by `sharding`."""
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), local_batch)


def is_lead_process() -> bool:
  """Process 0 writes what must be written once: TensorBoard events, PNGs, config.json."""
  return jax.process_index() == 0
