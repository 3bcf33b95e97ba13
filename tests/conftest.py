"""Shared pytest set-up: a persistent compilation cache and one TFDS data dir per session."""

import os
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Set before JAX initialises: subprocess tests inherit these too, so programs compiled once
# (in this process or a child) are reused by every later test of the session and of later sessions.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(ROOT / ".cache" / "jax-tests"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
