"""The base of gan_jax's own TFDS builders (embedded datasets and local folders)."""

import tensorflow_datasets as tfds
from absl import logging


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

  # TFDS prints "Downloading and preparing dataset Unknown size ..." around a build; these
  # builders download nothing, so the log says what is built, where, and what it holds.
  def _log_download_bytes(self) -> None:
    name = f"{self.name}/{self.builder_config.name}" if self.builder_config else self.name
    logging.info("building the dataset %s in %s (once: later runs read it)", name, self.data_dir)

  def _log_download_done(self) -> None:
    sizes = ", ".join(f"{split} {info.num_examples}" for split, info in self.info.splits.items())
    logging.info("built %s: %s examples", self.data_dir, sizes)
