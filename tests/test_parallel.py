"""Data parallelism on a real 8-device CPU mesh, and a real 2-process run on loopback."""

import json
import os
import socket
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def _env(data_dir, **extra):
  return {**os.environ, "PYTHONPATH": str(ROOT), "TFDS_DATA_DIR": data_dir, **extra}


def _mesh_equivalence(data_dir, config, *args, timeout=300):
  """tests/scripts/mesh_equivalence.py on 8 fake CPU devices: its JSON line."""
  result = subprocess.run(
    [sys.executable, str(ROOT / "tests/scripts/mesh_equivalence.py"), data_dir, config, *args],
    cwd=ROOT,
    env=_env(data_dir, XLA_FLAGS="--xla_force_host_platform_device_count=8"),
    capture_output=True,
    text=True,
    timeout=timeout,
  )
  assert result.returncode == 0, result.stderr[-3000:]
  out = json.loads(result.stdout.strip().splitlines()[-1])
  assert out["devices"] == 8
  return out


def test_eight_devices_match_one(tfds_data_dir):
  # The CPU default's conv formulations (the :tiny preset picks direct ones); the state
  # replicated, then leaves of >= 64 elements split (FSDP).
  out = _mesh_equivalence(
    tfds_data_dir,
    "configs/dcgan.py:tiny",
    *("--set", "model.conv_formulation=auto", "--run", "1:", "--run", "8:"),
    *("--run", "8:fsdp_min_size=64"),
  )
  runs = out["runs"]
  assert [r["param_devices"] for r in runs] == [[1], [8], [8]]  # on 1, then on all 8 devices
  assert [r["split_leaves"] for r in runs][:2] == [0, 0] and runs[2]["split_leaves"] > 0, out
  # Batch norm and the losses reduce over the global batch either way: only summation order differs.
  assert all(r["params_max_abs_diff"] < 1e-5 for r in runs), out
  assert "config.batch_size=12 is not divisible by the 8 devices" in out["indivisible"]


@pytest.mark.slow
def test_a_model_axis_with_remat_matches_one_device(tfds_data_dir):
  """U-GAT-IT :tiny (batch 2, 2 iterations) against 1 device: on a 1 x 8 (data x model) mesh its
  gamma/beta MLP weight and Adam moments split over the model axis; on a 2 x 4 mesh that, leaves
  of 1,024 elements or more over the data axis (FSDP) and each generator application
  rematerialised. Marked slow: three compiles of the whole step, minutes on 2 busy cores."""
  out = _mesh_equivalence(
    tfds_data_dir,
    "configs/ugatit.py:tiny",
    *("--steps", "2", "--run", "1:", "--run", "8:model_parallel=8"),
    *("--run", "8:model_parallel=4,model.remat=True,fsdp_min_size=1024"),
    timeout=1800,
  )
  one, model, mixed = out["runs"]
  assert one["param_devices"] == [1] and model["param_devices"] == mixed["param_devices"] == [8]
  assert model["split_leaves"] == 6 and mixed["split_leaves"] > 6, out
  # Measured 4e-8 and 1e-6 (losses in the thousands: the CAM terms weigh 1,000).
  assert model["params_max_abs_diff"] < 1e-6 and model["metrics_max_abs_diff"] < 1e-5, out
  # Measured 2.6e-4 and 2.4e-4. Splitting the batch changes the gradients' summation order, and
  # Adam's first steps move a param by about lr (1e-4) whatever its gradient's size, so a
  # near-zero gradient's sign noise moves it up to 2 lr a step. The losses agree to 1e-7.
  assert mixed["params_max_abs_diff"] < 2 * 1e-4 * 2 and mixed["metrics_max_abs_diff"] < 1e-3, out


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
