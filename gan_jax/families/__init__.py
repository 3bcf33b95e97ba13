"""Family registry: `config.family` -> the `Family` its module declares (families/base.py).

`config.family` is a registered name, or the dotted path of a module outside gan_jax that defines
`FAMILY` (a family of the user's own; the tests' toy family is one).
"""

import importlib

from gan_jax.errors import ConfigError
from gan_jax.families import base

# Imported lazily, so that a config error names every family without importing them all.
FAMILIES = {
  "dcgan": "gan_jax.families.dcgan",
  "pix2pix": "gan_jax.families.pix2pix",
  "cyclegan": "gan_jax.families.cyclegan",
  "dualgan": "gan_jax.families.dualgan",
  "stylegan2": "gan_jax.families.stylegan2",
  "stylegan3": "gan_jax.families.stylegan3",
  "ugatit": "gan_jax.families.ugatit",
  "animegan": "gan_jax.families.animegan",
}


def get_family(name: str) -> base.Family:
  """The family `name` declares, checked against the contract."""
  if name in FAMILIES:
    module = importlib.import_module(FAMILIES[name])
  elif "." in name:
    try:
      module = importlib.import_module(name)
    except ImportError as e:
      raise ConfigError(f"config.family {name!r}: cannot import it ({e})") from None
  else:
    raise ConfigError(
      f"unknown config.family {name!r}; families: {', '.join(FAMILIES)} (or a module path)"
    )
  family = getattr(module, "FAMILY", None)
  problems = base.check(family) if family is not None else ["its module defines no FAMILY"]
  if problems:
    raise ConfigError(f"config.family {name!r} breaks the family contract: {'; '.join(problems)}")
  return family
