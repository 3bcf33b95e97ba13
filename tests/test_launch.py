"""launch/: each launcher's --dry_run prints the commands it would run (no gcloud, Slurm or second
machine needed): the gan_jax.main flags, the worker count, and the resume loop after preemption.
The real two-process run of local_multiprocess.sh is in tests/test_parallel.py."""

import os
import shlex
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

ARGS = ["--config=configs/dcgan.py", "--workdir=gs://bucket/runs/dcgan", "--config.seed=3"]


@pytest.fixture(autouse=True)
def fake_cloud(tmp_path, monkeypatch):
  """gcloud, srun and sbatch that only leave a mark: a dry run must call none of them."""
  bin_dir, marks = tmp_path / "bin", tmp_path / "called"
  bin_dir.mkdir()
  for tool in ("gcloud", "srun", "sbatch"):
    (bin_dir / tool).write_text(f"#!/bin/sh\necho {tool} >> {marks}\nexit 1\n")
    (bin_dir / tool).chmod(0o755)
  monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
  yield
  assert not marks.exists(), marks.read_text()


def _launch(script, *args, env=None):
  full_env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **(env or {})}
  return subprocess.run(
    ["bash", str(ROOT / "launch" / script), *args],
    cwd=ROOT,
    env=full_env,
    capture_output=True,
    text=True,
    timeout=30,
  )


def _commands(result) -> list[list[str]]:
  """The printed commands ('+ ...' lines, shell-quoted), as argument lists."""
  return [shlex.split(line[2:]) for line in result.stdout.splitlines() if line.startswith("+ ")]


def test_the_fake_tools_would_be_noticed(tmp_path):
  assert shutil.which("gcloud") == str(tmp_path / "bin" / "gcloud")
  subprocess.run(["gcloud", "version"], check=False)
  (tmp_path / "called").unlink()  # it did leave its mark


def test_tpu_vm_recreates_and_resumes_after_each_preemption():
  result = _launch(
    "tpu_vm.sh",
    "--dry_run",
    "--spot",
    "--accelerator=v4-32",
    "my-tpu",
    "us-central2-b",
    *ARGS,
    env={"GAN_JAX_DRY_RUN_PREEMPTIONS": "2", "TFDS_DATA_DIR": "gs://bucket/tfds"},
  )
  assert result.returncode == 0, result.stderr
  assert "v4-32: 4 workers" in result.stderr
  commands = _commands(result)
  verbs = [c[4] for c in commands]
  # create, set up, run; then after each preemption: delete, create, set up, run again
  assert verbs == ["create", "ssh", "ssh"] + ["delete", "create", "ssh", "ssh"] * 2
  assert all(
    "--spot" in c and "--accelerator-type=v4-32" in c for c in commands if c[4] == "create"
  )
  runs = [c for c in commands if c[4] == "ssh" and "gan_jax.main" in c[-1]]
  assert len(runs) == 3 and all(c == runs[0] for c in runs)  # the same command: it resumes
  assert all("--worker=all" in c for c in commands if c[4] == "ssh")
  worker = shlex.split(runs[0][-1].split("&&", 1)[1])
  assert worker == [
    "TFDS_DATA_DIR=gs://bucket/tfds",
    ".venv/bin/python",
    "-m",
    "gan_jax.main",
    "--multihost",
    *ARGS,
  ]
  assert result.stderr.count("re-creating it and resuming") == 2


def test_tpu_vm_gives_up_after_max_restarts():
  result = _launch(
    "tpu_vm.sh",
    "--dry_run",
    "--max_restarts=1",
    "t",
    "z",
    *ARGS,
    env={"GAN_JAX_DRY_RUN_PREEMPTIONS": "5"},
  )
  assert result.returncode == 1
  assert "giving up" in result.stderr
  assert sum("gan_jax.main" in c[-1] for c in _commands(result)) == 2


@pytest.mark.parametrize(
  ("accelerator", "workers"), [("v4-8", 1), ("v4-32", 4), ("v5litepod-8", 1), ("v5litepod-16", 4)]
)
def test_tpu_vm_worker_count(accelerator, workers):
  result = _launch("tpu_vm.sh", "--dry_run", f"--accelerator={accelerator}", "t", "z", *ARGS)
  assert result.returncode == 0, result.stderr
  assert f"{accelerator}: {workers} workers" in result.stderr


def test_tpu_vm_refuses_unknown_options_and_missing_arguments():
  result = _launch("tpu_vm.sh", "--dry_run", "--zone=x", "t", "z", *ARGS)
  assert result.returncode == 2 and "unknown option --zone=x" in result.stderr
  result = _launch("tpu_vm.sh", "--dry_run", "t", "z")
  assert result.returncode == 2 and "no gan_jax.main arguments" in result.stderr


def test_slurm_one_process_per_gpu_requeued():
  result = _launch("slurm_gpu.sbatch", "--dry_run", "--nodes=2", "--gpus_per_node=4", *ARGS)
  assert result.returncode == 0, result.stderr
  assert "8 processes" in result.stderr
  sbatch, srun = _commands(result)
  assert sbatch[:5] == [
    "sbatch",
    "--nodes=2",
    "--gpus-per-node=4",
    "--ntasks-per-node=4",
    "--requeue",
  ]
  assert sbatch[-3:] == ARGS
  assert srun[0] == "srun" and srun[2:] == [
    ".venv/bin/python",
    "-m",
    "gan_jax.main",
    "--multihost",
    *ARGS,
  ]
  header = (ROOT / "launch/slurm_gpu.sbatch").read_text()
  assert "#SBATCH --requeue" in header and "#SBATCH --signal=TERM@120" in header


def test_multi_node_variables_become_the_distributed_flags():
  env = {
    "GAN_JAX_COORDINATOR": "10.0.0.1:1234",
    "GAN_JAX_NUM_PROCESSES": "4",
    "GAN_JAX_PROCESS_ID": "3",
  }
  result = _launch("multi_node.sh", "--dry_run", *ARGS, env=env)
  assert result.returncode == 0, result.stderr
  (command,) = _commands(result)
  assert command[1:] == [
    "-m",
    "gan_jax.main",
    *ARGS,
    "--coordinator_address=10.0.0.1:1234",
    "--num_processes=4",
    "--process_id=3",
  ]
  del env["GAN_JAX_PROCESS_ID"]
  result = _launch("multi_node.sh", "--dry_run", *ARGS, env=env)
  assert result.returncode != 0 and "GAN_JAX_PROCESS_ID" in result.stderr


def test_local_multiprocess_dry_run():
  result = _launch("local_multiprocess.sh", "--dry_run", "3", *ARGS, env={"GAN_JAX_PORT": "2345"})
  assert result.returncode == 0, result.stderr
  commands = _commands(result)
  assert [c[-2] for c in commands] == ["--process_id=0", "--process_id=1", "--process_id=2"]
  assert all(c[3:6] == ARGS and "--coordinator_address=127.0.0.1:2345" in c for c in commands)
  assert all(c[-3] == "--num_processes=3" for c in commands)
