"""The training loop end to end: CLI, resume, preemption, bad input, non-finite losses."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from gan_jax import checkpoint, run, train
from gan_jax import config as config_lib
from tests.conftest import ROOT, run_cli

TINY = "--config=configs/dcgan.py:tiny"


def _load_final_state(workdir, config_file="configs/dcgan.py:tiny"):
  config = config_lib.load_config(str(ROOT / config_file))
  setup = run.RunSetup(config)
  ckpt = checkpoint.Checkpointer(workdir / "checkpoints")
  state, step = ckpt.restore_latest(setup.abstract_state)
  ckpt.close()
  return jax.device_get(state), step


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tfds_data_dir):
  """One finished :tiny run (4 steps, checkpoints at 2 and 4); tests copy it before changing it."""
  workdir = tmp_path_factory.mktemp("tiny") / "run"
  result = run_cli([TINY, f"--workdir={workdir}"], tfds_data_dir)
  return workdir, result


def _copy(run, tmp_path):
  dst = tmp_path / "run"
  shutil.copytree(run, dst)
  return dst


def test_tiny_run_writes_everything_a_user_expects(tiny_run):
  workdir, result = tiny_run
  assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["2", "4"]
  assert sorted(p.name for p in (workdir / "samples").iterdir()) == [
    "step_0000002.png",
    "step_0000004.png",
  ]
  assert list(workdir.glob("events.out.tfevents.*"))
  config = json.loads((workdir / "config.json").read_text())
  assert config["family"] == "dcgan" and config["total_steps"] == 4
  rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in rows] == [1, 2, 3, 4]
  assert all(np.isfinite(r["d_loss"]) and r["images_per_sec"] > 0 for r in rows)
  assert (
    "step 4/4 | d_loss" in result.stderr and "img/s" in result.stderr and "ETA" in result.stderr
  )
  assert "compiled the train step" in result.stderr


def test_same_command_again_resumes_and_has_nothing_left(tiny_run, tmp_path, tfds_data_dir):
  workdir = _copy(tiny_run[0], tmp_path)
  result = run_cli([TINY, f"--workdir={workdir}"], tfds_data_dir)
  assert "at step 4" in result.stderr and "nothing to train" in result.stderr
  assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["2", "4"]


def test_sample_mode_writes_grid_and_pngs(tiny_run, tmp_path, tfds_data_dir):
  workdir = _copy(tiny_run[0], tmp_path)
  run_cli([TINY, f"--workdir={workdir}", "--mode=sample"], tfds_data_dir)
  out = workdir / "samples" / "sample_step_0000004"
  assert (out / "grid.png").is_file()
  assert len(list(out.glob("0*.png"))) == 16  # sample.num of :tiny
  from PIL import Image

  assert Image.open(out / "0000.png").size == (32, 32)


@pytest.mark.parametrize("config,workers", [(TINY, 2), ("--config=tests/toy_family.py:tiny", 0)])
def test_exact_resume_after_sigterm(config, workers, tmp_path, tfds_data_dir):
  """N steps straight == k steps, SIGTERM, restart, N - k steps: bitwise, on CPU. DCGAN's
  interrupted run reads through worker processes; SIGTERM goes to all its processes, as at a
  preemption. The toy family (DCGAN's nets, read in this process) runs three named steps on
  intervals 1, 3 and 4: both segments cross boundaries of its schedule, and its frozen net is
  rebuilt, not restored, on resume."""
  steps = [
    "--config.total_steps=120",
    "--config.log_every=1",
    "--config.checkpoint_every=1000",
    "--config.sample_every=0",
    "--config.data.crop=random",
    "--config.data.load_size=36",
    "--config.data.flip=true",
  ]
  straight = tmp_path / "straight"
  run_cli([config, f"--workdir={straight}", *steps], tfds_data_dir)

  interrupted = tmp_path / "interrupted"
  env = {**os.environ, "PYTHONPATH": str(ROOT), "TFDS_DATA_DIR": tfds_data_dir}
  read = [f"--config.data.workers={workers}"]
  proc = subprocess.Popen(
    [sys.executable, "-m", "gan_jax.main", config, f"--workdir={interrupted}", *steps, *read],
    cwd=ROOT,
    env=env,
    stderr=subprocess.PIPE,
    text=True,
    start_new_session=True,
  )
  log = []
  for line in proc.stderr:  # progress goes to stderr (absl)
    log.append(line)
    if "step 5/120" in line:
      os.killpg(proc.pid, signal.SIGTERM)
      break
  log += proc.stderr.readlines()
  assert proc.wait(timeout=120) == 0, "".join(log[-30:])
  saved = [int(p.name) for p in (interrupted / "checkpoints").iterdir()]
  assert len(saved) == 1 and 5 <= saved[0] < 120, saved
  assert any("received SIGTERM" in line for line in log)

  run_cli([config, f"--workdir={interrupted}", *steps, *read], tfds_data_dir)
  config_file = config.removeprefix("--config=")
  a, step_a = _load_final_state(straight, config_file)
  b, step_b = _load_final_state(interrupted, config_file)
  assert step_a == step_b == 120
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    if hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      x, y = jax.random.key_data(x), jax.random.key_data(y)
    np.testing.assert_array_equal(x, y)


def test_damaged_newest_checkpoint_falls_back_to_previous(tiny_run, tmp_path, tfds_data_dir):
  workdir = _copy(tiny_run[0], tmp_path)
  for path in (workdir / "checkpoints" / "4" / "state").rglob("*"):
    if path.is_file() and path.stat().st_size > 100:
      path.write_bytes(b"\0" * 10)  # a disk that lost the newest save
  result = run_cli([TINY, f"--workdir={workdir}", "--config.total_steps=6"], tfds_data_dir)
  assert "cannot be read" in result.stderr and "moved unreadable checkpoint" in result.stderr
  assert "resumed from" in result.stderr and "at step 2" in result.stderr
  names = sorted(p.name for p in (workdir / "checkpoints").iterdir())
  assert names == ["2", "4", "4.unreadable", "6"] or names == ["4", "4.unreadable", "6"], names


@pytest.mark.parametrize(
  "overrides,messages",
  [
    (  # a valid change, but not one a resumed run may make unasked
      ["--config.batch_size=4"],
      ("holds a run made with another config: batch_size: 8 -> 4", "--allow_config_change"),
    ),
    (  # asked, but the checkpoint cannot hold this config's state
      ["--config.model.g_features=16", "--allow_config_change"],
      (
        "checkpoints/4 holds a different train state",
        "g.batch_stats.BatchNorm_0.mean: saved (32,) float32, config needs (64,)",
        "differs from",
        "model.g_features: 8 -> 16",
      ),
    ),
    (  # grain saves the data position per worker process
      ["--config.data.workers=2", "--allow_config_change"],
      ("config.data.workers=2, but the checkpoints in", "resume with --config.data.workers=0"),
    ),
  ],
)
def test_a_resume_this_config_cannot_make_is_refused_and_kept(
  overrides, messages, tiny_run, tmp_path, tfds_data_dir
):
  workdir = _copy(tiny_run[0], tmp_path)
  before = sorted(p.name for p in (workdir / "checkpoints").iterdir())
  config_before = (workdir / "config.json").read_text()
  history_before = (workdir / "config_history.jsonl").read_text()
  result = run_cli(
    [TINY, f"--workdir={workdir}", *overrides, "--config.total_steps=8"], tfds_data_dir, check=False
  )
  assert result.returncode == 2
  last = result.stderr.splitlines()[-1]
  for message in messages:
    assert message in last
  assert "Traceback" not in result.stderr
  assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == before
  assert (workdir / "config.json").read_text() == config_before
  assert (workdir / "config_history.jsonl").read_text() == history_before


def test_non_finite_loss_stops_without_saving(tiny_run, tmp_path, tfds_data_dir):
  workdir = _copy(tiny_run[0], tmp_path)
  result = run_cli(
    [
      TINY,
      f"--workdir={workdir}",
      "--config.total_steps=8",
      "--config.optim.d_lr=nan",
      "--allow_config_change",
    ],
    tfds_data_dir,
    check=False,
  )
  assert result.returncode == 1
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith("error: non-finite loss at step") and "newest checkpoint: step 4" in last
  assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["2", "4"]
  state, step = _load_final_state(workdir)  # still restorable, and finite
  assert step == 4 and float(train.all_finite(state)) == 1.0


@pytest.mark.parametrize(
  "args,message",
  [
    (["--config=configs/dcgan.py:huge"], "unknown preset 'huge'"),
    (["--config=configs/nope.py"], "config file 'configs/nope.py' does not exist"),
    ([TINY, "--config.batch_sise=8"], "unknown config key 'batch_sise'"),
    ([TINY, "--config.family=gan9"], "unknown config.family 'gan9'"),
    ([TINY, "--config.data.folder=/no/such/folder"], "/no/such/folder"),
    ([TINY, "--config.data.name=shapes/huge"], "valid names"),
  ],
)
def test_bad_input_is_one_line_before_anything_is_written(args, message, tmp_path, tfds_data_dir):
  workdir = tmp_path / "run"
  result = run_cli([*args, f"--workdir={workdir}"], tfds_data_dir, check=False)
  assert result.returncode == 2
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1, result.stderr  # no start-up lines before it, no second copy after it
  assert lines[0].startswith("error: ") and message in lines[0]
  assert not workdir.exists()


def test_preemption_watch_flags_sigterm():
  watch = checkpoint.PreemptionWatch()
  try:
    assert not watch.reached(1)
    signal.raise_signal(signal.SIGTERM)
    time.sleep(0.01)
    assert watch.reached(2)
  finally:
    watch.close()
  assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_trains_on_a_plain_folder_of_mixed_images(tmp_path, tfds_data_dir):
  from PIL import Image

  folder = tmp_path / "images" / "nested"
  folder.mkdir(parents=True)
  rng = np.random.RandomState(0)
  for i in range(12):  # different sizes and modes, as a user's folder has
    pixels = rng.randint(0, 255, (40 + i, 50, 3), np.uint8)
    mode = ("RGB", "L", "RGBA")[i % 3]
    Image.fromarray(pixels).convert(mode).save(folder / f"{i}.png")
  (folder / "notes.txt").write_text("not an image")
  workdir = tmp_path / "run"
  run_cli(
    [
      TINY,
      f"--workdir={workdir}",
      f"--config.data.folder={tmp_path / 'images'}",
      "--config.total_steps=2",
    ],
    tfds_data_dir,
  )
  assert (workdir / "checkpoints" / "2").is_dir()
