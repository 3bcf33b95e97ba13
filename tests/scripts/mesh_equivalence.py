"""Run by tests/test_parallel.py with 8 fake CPU devices: the same steps on 1 and on 8 devices,
the state replicated and split (FSDP).

Prints one JSON line: the largest absolute difference of any param after the steps against the
1-device run, how many state leaves each run split, the number of devices, and what
process_batch_size said about a batch that 8 devices cannot split.
"""

import json
import sys

import jax
import numpy as np

from gan_jax import config as config_lib
from gan_jax import parallel, run
from gan_jax.data import pipeline
from gan_jax.errors import ConfigError

# The CPU default's conv formulations (the :tiny preset picks direct ones), under an 8-device mesh.
overrides = [f"data.data_dir={sys.argv[1]}", "model.conv_formulation=auto"]
config = config_lib.load_config("configs/dcgan.py:tiny", overrides)
data = iter(pipeline.make_dataset(config, "unconditional", config.batch_size))
batches = [next(data) for _ in range(3)]

# 1 device; 8 devices, the state replicated; 8 devices, leaves of >= 64 elements split (FSDP).
fsdp = config_lib.load_config("configs/dcgan.py:tiny", [*overrides, "fsdp_min_size=64"])
finals, split = [], []
for devices, cfg in ((jax.devices()[:1], config), (jax.devices(), config), (jax.devices(), fsdp)):
  setup = run.RunSetup(cfg, devices)
  step = setup.jit_steps()["main"]
  state = setup.init_state(config.seed)
  for i, batch in enumerate(batches):
    batch = parallel.to_global(batch, setup.batch_sharding)
    state, _ = step(state, batch, setup.frozen, setup.step_counter(i))
  shards = {len(x.sharding.device_set) for x in jax.tree.leaves(state.g.params)}
  split.append(
    sum(
      not x.sharding.is_fully_replicated for x in jax.tree.leaves(state) if hasattr(x, "sharding")
    )
  )
  finals.append((jax.device_get(state.g.params), jax.device_get(state.d.params), shards))


def max_diff(a, b):
  pairs = zip(jax.tree.leaves(a[:2]), jax.tree.leaves(b[:2]), strict=True)
  return max(float(np.max(np.abs(x - y))) for x, y in pairs)


try:
  parallel.process_batch_size(12, parallel.make_mesh())
  indivisible = "accepted"
except ConfigError as e:
  indivisible = str(e)
print(
  json.dumps(
    {
      "devices": jax.device_count(),
      "max_abs_diff": max_diff(finals[0], finals[1]),
      "fsdp_max_abs_diff": max_diff(finals[0], finals[2]),
      "split_leaves": split,  # per run: state leaves not replicated
      "param_devices": [sorted(f[2]) for f in finals],
      "indivisible": indivisible,
    }
  )
)
