"""Run by tests/test_parallel.py with 8 fake CPU devices: the same iterations of one config on one
device and on meshes of several, the state replicated or split.

  XLA_FLAGS=--xla_force_host_platform_device_count=8 python tests/scripts/mesh_equivalence.py \
      DATA_DIR configs/dcgan.py:tiny --set model.conv_formulation=auto \
      --run 1: --run 8: --run 8:fsdp_min_size=64

Each --run is DEVICES:OVERRIDE,OVERRIDE,... (the first DEVICES devices, these overrides on top of
--set); the first run is the reference, and every run trains on the same batches. Prints one JSON
line: the number of devices; the reference's last metrics; per run, the largest absolute
difference of any float state leaf (params, optimizer moments, batch statistics), of any param,
of any leaf relative to its largest value, and of any metric against the reference, how many
state leaves it split and on how many devices its params lived; and what process_batch_size said
about a batch that 8 devices cannot split.
"""

import argparse
import json

import jax
import numpy as np

from gan_jax import config as config_lib
from gan_jax import parallel, run
from gan_jax.data import pipeline
from gan_jax.errors import ConfigError


def _float_leaves(tree, where=""):
  """{path: array} of the float leaves whose path contains `where`."""
  flat = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {
    parallel._path_name(p): np.asarray(x)
    for p, x in flat
    if jax.dtypes.issubdtype(x.dtype, np.floating) and where in parallel._path_name(p)
  }


def _max_diff(a, b, relative=False) -> float:
  """The largest |a - b| over the leaves; relative: each leaf's over its largest |a|."""
  scale = lambda x: max(float(np.max(np.abs(x))), 1e-30) if relative else 1.0  # noqa: E731
  return max(float(np.max(np.abs(a[k] - b[k]))) / scale(a[k]) for k in a)


def _train(config, devices, batches):
  """(final state on the host, last metrics, leaves split, the devices params lived on)."""
  setup = run.RunSetup(config, devices)
  steps, state = setup.jit_steps(), setup.init_state(config.seed)
  for i, batch in enumerate(batches):
    state, metrics = setup.run_iteration(
      steps, state, parallel.to_global(batch, setup.batch_sharding), i
    )
  leaves = [x for x in jax.tree.leaves(state) if hasattr(x, "sharding")]
  split = sum(not x.sharding.is_fully_replicated for x in leaves)
  on = sorted({len(x.sharding.device_set) for x in leaves})
  metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
  return jax.device_get(state), metrics, split, on


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("data_dir")
  parser.add_argument("config")
  parser.add_argument("--set", action="append", default=[], help="an override of every run")
  parser.add_argument("--run", action="append", required=True, help="DEVICES:OVERRIDE,...")
  parser.add_argument("--steps", type=int, default=3)
  args = parser.parse_args()
  base = [f"data.data_dir={args.data_dir}", *args.set]
  runs = []
  for spec in args.run:
    devices, _, overrides = spec.partition(":")
    config = config_lib.load_config(args.config, [*base, *filter(None, overrides.split(","))])
    runs.append((spec, config, jax.devices()[: int(devices)]))

  config = runs[0][1]
  family = run.validate(config)
  data = iter(pipeline.make_dataset(config, family.layout, config.batch_size))
  batches = [next(data) for _ in range(args.steps)]
  results = [_train(config, devices, batches) for _, config, devices in runs]

  reference, metrics = _float_leaves(results[0][0]), results[0][1]
  params = _float_leaves(results[0][0], "params")
  out = []
  for (spec, _, _), (state, run_metrics, split, on) in zip(runs, results, strict=True):
    out.append(
      {
        "run": spec,
        "max_abs_diff": _max_diff(reference, _float_leaves(state)),
        "max_rel_diff": _max_diff(reference, _float_leaves(state), relative=True),
        "params_max_abs_diff": _max_diff(params, _float_leaves(state, "params")),
        "metrics_max_abs_diff": max(abs(run_metrics[k] - metrics[k]) for k in metrics),
        "split_leaves": split,  # state leaves not replicated
        "param_devices": on,
      }
    )
  try:
    parallel.process_batch_size(12, parallel.make_mesh())
    indivisible = "accepted"
  except ConfigError as e:
    indivisible = str(e)
  print(
    json.dumps(
      {"devices": jax.device_count(), "metrics": metrics, "runs": out, "indivisible": indivisible}
    )
  )


if __name__ == "__main__":
  main()
