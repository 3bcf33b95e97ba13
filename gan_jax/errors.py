"""Errors a user can act on.

Anything raised as a `UserError` is printed by `gan_jax.main` as one line, without a traceback:
it names the bad thing (config key, file, value) and what would be accepted instead.
"""


class UserError(Exception):
  """Bad input from the user: a config value, a file, a folder layout."""


class ConfigError(UserError, ValueError):
  """A config file, preset, key or value that cannot be used."""


class DataError(UserError, ValueError):
  """A dataset, folder or image that cannot be used."""


class ExportError(UserError):
  """A function holds something the ONNX writer (gan_jax/onnx_graph.py) cannot convert."""


class NonFiniteLossError(RuntimeError):
  """A loss became NaN or infinite; training stopped without saving the bad state."""
