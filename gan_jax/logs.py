"""Console logging: gan_jax's own progress at INFO, libraries' chatter only from WARNING up."""

import logging as std_logging

from absl import logging

# Orbax, grain and TFDS log every checkpoint write and read at INFO through absl; a user needs to
# see their warnings and errors, not those details.
_QUIET_PACKAGES = ("/orbax/", "/grain/", "/tensorflow_datasets/", "/jax/", "/etils/")


class _LibraryFilter(std_logging.Filter):
  def filter(self, record: std_logging.LogRecord) -> bool:
    if "OpenCV is not installed" in str(record.msg):  # TFDS: PIL decodes our images just as well
      return False
    # TFDS, about a folder dataset's config and a dataset it is about to build
    if str(record.msg).startswith(("Variant folder", "Using custom data configuration")):
      return False
    if record.levelno >= std_logging.WARNING:
      return True
    return not any(part in record.pathname for part in _QUIET_PACKAGES)


def setup() -> None:
  """Routes INFO to the console and mutes libraries' INFO; idempotent."""
  logging.set_verbosity(logging.INFO)
  handler = logging.get_absl_handler()
  if not any(isinstance(f, _LibraryFilter) for f in handler.filters):
    handler.addFilter(_LibraryFilter())
  # TFDS draws progress bars while it builds a dataset; the log says what is being built.
  import tensorflow_datasets as tfds  # noqa: PLC0415 - heavy, and only needed once set up

  tfds.disable_progress_bar()
