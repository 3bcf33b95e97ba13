"""Data parallelism on a real 8-device CPU mesh, and a real 2-process run on loopback."""

import json
import os
import socket
import subprocess
import sys

from tests.conftest import ROOT


def _env(data_dir, **extra):
  return {**os.environ, "PYTHONPATH": str(ROOT), "TFDS_DATA_DIR": data_dir, **extra}


def test_eight_devices_match_one(tfds_data_dir):
  result = subprocess.run(
    [sys.executable, str(ROOT / "tests/scripts/mesh_equivalence.py"), tfds_data_dir],
    cwd=ROOT,
    env=_env(tfds_data_dir, XLA_FLAGS="--xla_force_host_platform_device_count=8"),
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert result.returncode == 0, result.stderr[-3000:]
  out = json.loads(result.stdout.strip().splitlines()[-1])
  assert out["devices"] == 8
  assert out["param_devices"] == [[1], [8], [8]]  # on 1, then on all 8 devices
  assert out["split_leaves"][:2] == [0, 0] and out["split_leaves"][2] > 0, out
  # Batch norm and the losses reduce over the global batch either way: only summation order differs.
  assert out["max_abs_diff"] < 1e-5 and out["fsdp_max_abs_diff"] < 1e-5, out
  assert "config.batch_size=12 is not divisible by the 8 devices" in out["indivisible"]


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_two_processes_on_loopback(tmp_path, tfds_data_dir):
  """launch/local_multiprocess.sh: 2 processes, jax.distributed over loopback, one shared run."""
  workdir = tmp_path / "run"
  result = subprocess.run(
    [
      "bash",
      str(ROOT / "launch/local_multiprocess.sh"),
      "2",
      "--config=configs/dcgan.py:tiny",
      f"--workdir={workdir}",
    ],
    cwd=ROOT,
    env=_env(tfds_data_dir, GAN_JAX_PORT=str(_free_port()), PYTHON=sys.executable),
    capture_output=True,
    text=True,
    timeout=300,
  )
  log = result.stdout + result.stderr
  assert result.returncode == 0, log[-4000:]
  assert "process 0 of 2" in log and "process 1 of 2" in log and "2 global devices" in log
  # Each process saved its own data iterator position; the state was written once, together.
  data = sorted(p.name for p in (workdir / "checkpoints" / "4" / "data").glob("process_*"))
  assert data == ["process_0-of-2.json", "process_1-of-2.json"]
  positions = [json.loads((workdir / "checkpoints/4/data" / name).read_text()) for name in data]
  assert positions[0] == positions[1]  # 4 batches of 4 each, from disjoint shards
  assert log.count("step 4/4") == 1  # only the lead process reports
