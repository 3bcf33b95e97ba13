"""Shared pytest set-up: a persistent compilation cache and one TFDS data dir per session."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Set before JAX initialises: subprocess tests inherit these too, so programs compiled once
# (in this process or a child) are reused by every later test of the session and of later sessions.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(ROOT / ".cache" / "jax-tests"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# JAX's non-partitionable threefry (its default before 0.5) draws the same kind of numbers and
# compiles about 2.5x faster on XLA CPU: every create_state compiles one generator per parameter.
# The random streams differ from the default's; no test compares against values drawn outside it.
os.environ.setdefault("JAX_THREEFRY_PARTITIONABLE", "0")


@pytest.fixture(scope="session")
def tfds_data_dir(tmp_path_factory) -> str:
  """A TFDS data dir for the whole session (pass it as data_dir): each dataset is built once."""
  return str(tmp_path_factory.mktemp("tensorflow_datasets"))


def run_cli(args, data_dir, *, env=None, timeout=300, check=True):
  """Runs `python -m gan_jax.main ARGS` in a fresh process; returns the CompletedProcess."""
  full_env = {**os.environ, "PYTHONPATH": str(ROOT), "TFDS_DATA_DIR": data_dir, **(env or {})}
  result = subprocess.run(
    [sys.executable, "-m", "gan_jax.main", *args],
    cwd=ROOT,
    env=full_env,
    capture_output=True,
    text=True,
    timeout=timeout,
  )
  if check and result.returncode != 0:
    raise AssertionError(f"exit {result.returncode}\n{result.stderr[-4000:]}")
  return result
