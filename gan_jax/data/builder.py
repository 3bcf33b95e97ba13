"""The base of gan_jax's own TFDS builders (embedded datasets and local folders)."""

import tensorflow_datasets as tfds


class OfflineInfo(tfds.core.DatasetInfo):
  """The DatasetInfo of gan_jax's builders. Before a dataset is prepared, TFDS looks for its
  metadata in its public bucket, through a temp folder it leaves behind; ours are never there."""

  def initialize_from_bucket(self) -> None:
    pass


class OfflineBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """A builder that downloads nothing and stays out of TFDS's global registry."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  # TFDS finds a builder's checksums file next to its module through `importlib_resources`, which
  # is not a dependency here (and would fail the build); these builders download nothing.
  code_path = None
