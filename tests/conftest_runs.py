"""Finished :tiny runs shared by the whole session: each family is trained once, and every test that
asks for a run gets its own copy to change. A pytest plugin: a test module that uses `tiny_run`
names it in `pytest_plugins = ["tests.conftest_runs"]` (registered once, so its session fixture
is one for all modules)."""

import shutil

import pytest

from gan_jax import train
from tests._shared_runs import tiny_config


@pytest.fixture(scope="session")
def finished_tiny_runs(tmp_path_factory, tfds_data_dir):
  """family -> the workdir of the session's one finished :tiny run of it (4 steps, checkpoints at
  2 and 4), trained in this process on first use. Read it only: tests change `tiny_run` copies."""
  runs = {}

  def get(family):
    if family not in runs:
      workdir = tmp_path_factory.mktemp(f"{family}_tiny") / "run"
      train.train_and_evaluate(tiny_config(family, tfds_data_dir), workdir)
      runs[family] = workdir
    return runs[family]

  return get


@pytest.fixture
def tiny_run(finished_tiny_runs, tmp_path):
  """family -> this test's own copy of the session's finished :tiny run of that family."""

  def copy(family):
    workdir = tmp_path / f"{family}_tiny"
    if not workdir.exists():
      shutil.copytree(finished_tiny_runs(family), workdir)
    return workdir

  return copy
