"""Run with XLA_FLAGS=--xla_force_host_platform_device_count=8: Inception features extracted by
features.InceptionFeatures with the batch split over all 8 devices, against one device's. Prints
one JSON line. Args: the weights file, a feature-cache folder."""

import json
import sys

import jax
import numpy as np

from gan_jax import config as config_lib
from gan_jax import parallel
from gan_jax.metrics import features, inception

weights, cache = sys.argv[1:3]
config = config_lib.load_config(
  "configs/dcgan.py:tiny",
  [f"eval.inception_weights={weights}", f"eval.feature_cache={cache}", "eval.batch_size=12"],
)
extractor = features.InceptionFeatures(config, parallel.make_mesh())
images = np.random.RandomState(0).randint(0, 256, (5, 40, 40, 3), np.uint8)
sharded = extractor(images)
one_device = jax.jit(inception.features)(
  inception.load_params(weights), images.astype(np.float32) / 255
)
print(
  json.dumps(
    {
      "devices": jax.device_count(),
      "batch_size": extractor._batch_size,
      "shape": list(sharded.shape),
      "max_abs_diff": float(np.abs(sharded - np.asarray(one_device)).max()),
    }
  )
)
