"""Family registry: `config.family` -> the module that implements it.

Every family module provides the same few pure functions (see families/dcgan.py for the contract):
`validate_config`, `create_state`, `train_step`, `generate`, `sample_inputs`, `sample_images`, and
the constant `DATA_LAYOUT` naming the kind of batches it trains on.
"""

import importlib
import types

from gan_jax.errors import ConfigError

# Imported lazily, so that a config error names every family without importing them all.
FAMILIES = {
  "dcgan": "gan_jax.families.dcgan",
  "pix2pix": "gan_jax.families.pix2pix",
  "cyclegan": "gan_jax.families.cyclegan",
  "dualgan": "gan_jax.families.dualgan",
}


def get_family(name: str) -> types.ModuleType:
  if name not in FAMILIES:
    raise ConfigError(f"unknown config.family {name!r}; families: {', '.join(FAMILIES)}")
  return importlib.import_module(FAMILIES[name])
