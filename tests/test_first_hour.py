"""What a new user meets in their first hour: --help, progress, Ctrl-C, the modes reading the run's
own config, resuming with a changed config, small folders, quiet output, TensorBoard."""

import json
import logging
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from gan_jax import config as config_lib
from gan_jax import train, writers
from gan_jax.data import pipeline
from gan_jax.errors import DataError, UserError
from tests.conftest import ROOT, run_cli

TINY = "--config=configs/dcgan.py:tiny"


def _folder(path, n):
  path.mkdir(parents=True)
  rng = np.random.RandomState(0)
  for i in range(n):
    Image.fromarray(rng.randint(0, 255, (40, 40, 3), np.uint8)).save(path / f"{i}.png")
  return path


def _tiny(tfds_data_dir, *overrides):
  return config_lib.load_config(
    str(ROOT / "configs/dcgan.py:tiny"), [f"data.data_dir={tfds_data_dir}", *overrides]
  )


def test_help_lists_families_presets_modes_and_exits_0():
  result = subprocess.run(
    [sys.executable, "-m", "gan_jax.main", "--help"],
    cwd=ROOT,
    env={**os.environ, "PYTHONPATH": str(ROOT)},
    capture_output=True,
    text=True,
    timeout=60,
  )
  assert result.returncode == 0, result.stderr
  out = result.stdout
  for file in sorted((ROOT / "configs").glob("*.py")):
    presets = config_lib.import_config_file(file).PRESETS
    assert re.search(rf"configs/{file.name}\s+presets: {', '.join(presets)}\n", out), file.name
  for mode in ("train", "sample", "translate", "eval"):
    assert re.search(rf"^  {mode} +python -m gan_jax.main ", out, re.MULTILINE), mode
  assert "--workdir" in out and "--[no]allow_config_change" in out and "__main__" not in out


@pytest.mark.parametrize(
  "args,message",
  [
    (["--mode=bogus", "--workdir=w"], "flag --mode=bogus: value should be one of"),
    (["--workdir=w"], "--config is required to train"),
    ([TINY], "--workdir is required"),
    ([TINY, "--workdir=w", "extra"], "unexpected arguments: extra"),
    (["--config=configs/dcgan.py:huge", "--workdir=w"], "unknown preset 'huge'"),
    ([TINY, "--workdir=w", "--config.family=gan9"], "unknown config.family 'gan9'"),
  ],
)
def test_a_bad_command_is_one_line_and_nothing_else(args, message, tmp_path):
  """The README promises one line on stderr: no log line before it, no second copy after it."""
  result = run_cli(
    [a.replace("=w", f"={tmp_path / 'w'}") for a in args], str(tmp_path), check=False
  )
  assert result.returncode == 2
  assert result.stderr.splitlines() == [result.stderr.strip()], result.stderr
  assert result.stderr.startswith("error: ") and message in result.stderr
  assert not (tmp_path / "w").exists()


def test_progress_lines_come_with_the_first_step_then_every_few_seconds(caplog):
  now = [0.0]
  progress = writers.Progress(100, 8, 0, every_secs=10, lead=True, clock=lambda: now[0])
  metrics = {"d_loss": np.float32(0.5), "g_loss": np.float32(2.0)}
  with caplog.at_level(logging.INFO):
    now[0] = 3.0
    progress.step_done(1, metrics)  # the first step: at once
    now[0] = 9.0
    progress.step_done(3, metrics)  # 6 s later: not yet
    progress.sampled(4, "runs/x/samples/step_0000004.png")
    now[0] = 13.5
    progress.step_done(7, metrics)  # 10.5 s after the last line
    progress.logged(9)  # a log_every line at step 9
    now[0] = 30.0
    progress.step_done(8, metrics)  # older than the logged line: never
    now[0] = 31.0
    progress.step_done(10, metrics)
  lines = [r.getMessage() for r in caplog.records if re.match(r"step \d+/", r.getMessage())]
  assert lines[0] == "step 1/100 | d_loss 0.5 g_loss 2 | 0.333 steps/s, 2.667 img/s | ETA 4m57s"
  assert lines[1].startswith("step 7/100 | d_loss 0.5 g_loss 2 | 0.571 steps/s, 4.571 img/s")
  assert lines[1].endswith("| samples runs/x/samples/step_0000004.png")
  assert "step 4: sample grid runs/x/samples/step_0000004.png" in [
    r.getMessage() for r in caplog.records
  ]
  assert [line.split(" |")[0] for line in lines] == ["step 1/100", "step 7/100", "step 10/100"]
  assert "presets are sized" not in caplog.text  # an ETA under an hour: no hint


@pytest.mark.parametrize("secs_per_step, told", [(1.0, True), (0.5, False)])
def test_a_run_of_hours_on_a_cpu_is_told_of_the_cpu_presets(caplog, secs_per_step, told):
  """Judged on the second line: the first step's 3 s of start-up alone would make any run of
  5,000 steps look like hours."""
  now = [0.0]
  progress = writers.Progress(5000, 8, 0, 10, True, clock=lambda: now[0], slow_hint="use :cpu")
  with caplog.at_level(logging.INFO):
    now[0] = 3.0
    progress.step_done(1, {"loss": np.float32(1)})  # ETA 14,997 s
    for step in range(2, 40):
      now[0] = 3.0 + (step - 1) * secs_per_step
      progress.step_done(step, {"loss": np.float32(1)})
  warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
  assert warnings == (["use :cpu"] if told else [])


def test_training_prints_progress_between_logged_steps(tmp_path, tfds_data_dir, caplog):
  """log_every far away: the progress lines alone show the run, with the newest grid's path."""
  config = _tiny(
    tfds_data_dir, "total_steps=6", "log_every=1000", "progress_secs=1e-9", "sample_every=3"
  )
  with caplog.at_level(logging.INFO):
    train.train_and_evaluate(config, tmp_path / "run")
  lines = [r.getMessage() for r in caplog.records if re.match(r"step \d+/6 \|", r.getMessage())]
  assert [line.split(" |")[0] for line in lines[:5]] == [f"step {i}/6" for i in range(1, 6)]
  assert "steps/s" in lines[1] and "ETA" in lines[1]
  grid = tmp_path / "run" / "samples" / "step_0000003.png"
  assert grid.is_file() and lines[3].endswith(f"| samples {grid}")


def _train_until(args, workdir, data_dir, line_pattern):
  """Starts a CLI training run; returns (process, log lines so far) once a line matches."""
  proc = subprocess.Popen(
    [sys.executable, "-m", "gan_jax.main", *args, f"--workdir={workdir}"],
    cwd=ROOT,
    env={**os.environ, "PYTHONPATH": str(ROOT), "TFDS_DATA_DIR": data_dir},
    stderr=subprocess.PIPE,
    text=True,
  )
  log = []
  for line in proc.stderr:
    log.append(line)
    if re.search(line_pattern, line):
      return proc, log
  raise AssertionError(f"exit {proc.wait()}: {''.join(log[-20:])}")


# Steps of some tens of milliseconds; log_every and checkpoint_every never come: only Ctrl-C saves.
LONG_RUN = [
  TINY,
  "--config.batch_size=64",
  "--config.total_steps=100000",
  "--config.log_every=100000",
  "--config.checkpoint_every=100000",
  "--config.sample_every=0",
  "--config.progress_secs=0.000001",
]


def test_ctrl_c_stops_after_the_step_in_flight(tmp_path, tfds_data_dir):
  workdir = tmp_path / "run"
  proc, log = _train_until(LONG_RUN, workdir, tfds_data_dir, r"^I.*\] step 20/100000 \|")
  proc.send_signal(signal.SIGINT)
  sent = time.perf_counter()
  log += proc.stderr.readlines()
  assert proc.wait(timeout=60) == 0, "".join(log[-20:])
  seconds = time.perf_counter() - sent
  done = max(int(m[1]) for line in log if (m := re.search(r"\] step (\d+)/100000 \|", line)))
  saved = [int(p.name) for p in (workdir / "checkpoints").iterdir()]
  # The host runs at most one step ahead of the device: the run stops with the step it was
  # waiting for when the signal came, or the next.
  assert len(saved) == 1 and 20 <= saved[0] <= done + 2, (saved, done)
  assert any(f"stopped at step {saved[0]} after saving" in line for line in log)
  # It names the step it stops after; one more may be dispatched while the handler runs.
  pattern = r"received SIGINT: stopping after step (\d+)"
  said = [m for line in log if (m := re.search(pattern, line))]
  assert len(said) == 1 and saved[0] - 1 <= int(said[0][1]) <= saved[0], "".join(log[-10:])
  assert seconds < 30


def test_a_second_ctrl_c_stops_at_once_and_says_what_it_waited_for(tmp_path, tfds_data_dir):
  proc, log = _train_until(LONG_RUN, tmp_path / "run", tfds_data_dir, r"\] step 20/100000 \|")
  proc.send_signal(signal.SIGINT)
  for line in proc.stderr:
    log.append(line)
    if "received SIGINT" in line:
      proc.send_signal(signal.SIGINT)
      break
  log += proc.stderr.readlines()
  assert proc.wait(timeout=60) == 130, "".join(log[-20:])
  assert any(
    re.search(r"second Ctrl-C: stopping now, without waiting for (step|the )", x) for x in log
  )
  assert log[-1].startswith("error: interrupted")


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_ctrl_c_on_one_of_two_processes_stops_both_at_one_step(tmp_path, tfds_data_dir):
  """Ctrl-C reaches one process (a terminal may signal only one): it is passed to JAX's
  preemption service, and both processes save one checkpoint at a step they agree on."""
  workdir, port = tmp_path / "run", _free_port()
  env = {**os.environ, "PYTHONPATH": str(ROOT), "TFDS_DATA_DIR": tfds_data_dir}
  procs = [
    subprocess.Popen(
      [
        sys.executable,
        "-m",
        "gan_jax.main",
        *LONG_RUN,
        f"--workdir={workdir}",
        f"--coordinator_address=127.0.0.1:{port}",
        "--num_processes=2",
        f"--process_id={i}",
      ],
      cwd=ROOT,
      env=env,
      stderr=subprocess.PIPE,
      text=True,
    )
    for i in range(2)
  ]
  try:
    log = []
    for line in procs[0].stderr:
      log.append(line)
      if re.search(r"\] step 20/100000 \|", line):
        break
    procs[1].send_signal(signal.SIGINT)
    sent = time.perf_counter()
    codes = [p.wait(timeout=90) for p in procs]
    seconds = time.perf_counter() - sent
  finally:
    for p in procs:
      p.kill()
  logs = ["".join(log) + procs[0].stderr.read(), procs[1].stderr.read()]
  assert codes == [0, 0], logs[1][-2000:]
  saved = [int(p.name) for p in (workdir / "checkpoints").iterdir()]
  assert len(saved) == 1 and saved[0] >= 20
  for text in logs:
    assert f"stopped at step {saved[0]} after saving" in text
  assert "received SIGINT: stopping after a step every process reaches" in logs[1]
  assert seconds < 60


def test_eval_without_flags_scores_the_runs_own_data(tmp_path, tfds_data_dir, caplog):
  """Trained on a folder of 5 images; --mode=eval with --workdir alone scores those 5 images, not
  the embedded dataset the config file names."""
  folder = _folder(tmp_path / "mine", 5)
  workdir = tmp_path / "run"
  with caplog.at_level(logging.INFO):
    train.train_and_evaluate(_tiny(tfds_data_dir, f"data.folder={folder}"), workdir)
  assert "training data: train 5 examples" in caplog.text
  assert "split 'train' holds 5 examples, fewer than a batch (8)" in caplog.text
  bare = run_cli([f"--workdir={workdir}", "--mode=eval"], tfds_data_dir, check=False)
  assert bare.returncode == 2
  assert "use --config.data.eval_split=train" in bare.stderr.splitlines()[-1]
  # --step scores an older checkpoint than the newest (4).
  result = run_cli(
    [f"--workdir={workdir}", "--mode=eval", "--config.data.eval_split=train", "--step=2"],
    tfds_data_dir,
  )
  assert sorted(p.name for p in (workdir / "eval_train").iterdir()) == ["step_0000002.json"]
  scores = json.loads((workdir / "eval_train" / "step_0000002.json").read_text())
  assert scores["num_images"] == 5 and scores["swd_mean"] > 0
  assert "override data.eval_split: test -> train" in result.stderr
  # A config file given too is not used in its place: the log says how it differs.
  config, notes = config_lib.load_run_config(workdir, TINY.removeprefix("--config="), [])
  assert config.data.folder == str(folder)
  assert f"data.folder: {folder} -> " in notes[-1] and "the run's config is used" in notes[-1]


def test_run_config_fills_keys_added_since_and_restores_tuples(tmp_path):
  config = config_lib.load_config(str(ROOT / "configs/dcgan.py:tiny"))
  saved = json.loads(config.to_json_best_effort())
  del saved["progress_secs"]  # a run made before the key existed
  saved["model"]["pair"] = [1, [2, 3]]
  (tmp_path / "config.json").write_text(json.dumps(saved))
  loaded, notes = config_lib.load_run_config(tmp_path, "", ["total_steps=9"])
  assert loaded.progress_secs == 10.0 and loaded.model.pair == (1, (2, 3))
  assert loaded.total_steps == 9 and "override total_steps: 4 -> 9" in notes
  (tmp_path / "config.json").write_text("[1, 2]")
  with pytest.raises(UserError, match="config.json is not a config gan_jax wrote"):
    config_lib.load_run_config(tmp_path, "", [])
  with pytest.raises(UserError, match="train in .* first"):
    config_lib.load_run_config(tmp_path / "nothing", "", [])


def test_resume_keeps_a_history_of_config_changes(tmp_path, tfds_data_dir, caplog):
  workdir = tmp_path / "run"
  train.train_and_evaluate(_tiny(tfds_data_dir, "total_steps=2"), workdir)
  # Allowed without asking: a longer run, logged more often.
  train.train_and_evaluate(_tiny(tfds_data_dir, "total_steps=4", "log_every=2"), workdir)
  with pytest.raises(UserError, match=r"another config: optim.d_lr: 0.0002 -> 0.001"):
    train.train_and_evaluate(
      _tiny(tfds_data_dir, "total_steps=6", "log_every=2", "optim.d_lr=1e-3"), workdir
    )
  with caplog.at_level(logging.INFO):
    train.train_and_evaluate(
      _tiny(tfds_data_dir, "total_steps=6", "log_every=2", "optim.d_lr=1e-3"),
      workdir,
      allow_config_change=True,
    )
  assert "config changed on resume: optim.d_lr: 0.0002 -> 0.001" in caplog.text
  history = [json.loads(x) for x in (workdir / "config_history.jsonl").read_text().splitlines()]
  assert [h["step"] for h in history] == [0, 2, 4]
  assert history[0]["changes"] == []
  assert history[1]["changes"] == ["log_every: 1 -> 2", "total_steps: 2 -> 4"]
  assert history[2]["changes"] == ["optim.d_lr: 0.0002 -> 0.001", "total_steps: 4 -> 6"]
  saved = json.loads((workdir / "config.json").read_text())
  assert saved == history[2]["config"] and saved["optim"]["d_lr"] == 1e-3
  # Nothing left to train: the record is not touched.
  train.train_and_evaluate(
    _tiny(tfds_data_dir, "total_steps=6", "log_every=2", "optim.d_lr=1e-3"), workdir
  )
  assert len((workdir / "config_history.jsonl").read_text().splitlines()) == 3
  # A run begun before a setting existed goes on after the upgrade that adds it; the record says so.
  del saved["export"]
  (workdir / "config.json").write_text(json.dumps(saved))
  train.train_and_evaluate(
    _tiny(tfds_data_dir, "total_steps=7", "log_every=2", "optim.d_lr=1e-3"), workdir
  )
  added = json.loads((workdir / "config_history.jsonl").read_text().splitlines()[-1])["changes"]
  assert added[0].startswith("export: (absent) -> {") and added[1] == "total_steps: 6 -> 7"


def test_a_missing_eval_split_suggests_one_that_exists(tmp_path, tfds_data_dir):
  config = _tiny(tfds_data_dir, f"data.folder={_folder(tmp_path / 'mine', 3)}")
  with pytest.raises(DataError, match=r"splits: train; use --config.data.eval_split=train$"):
    pipeline.make_dataset(config, "unconditional", 8, train=False)
  config = config_lib.load_config(
    str(ROOT / "configs/cyclegan.py:tiny"),
    [f"data.data_dir={tfds_data_dir}", "data.eval_split=val"],
  )
  with pytest.raises(DataError, match=r"use --config.data.eval_split=train$"):
    pipeline.make_dataset(config, "unpaired", 1, train=False)


def test_first_run_builds_its_data_quietly_and_tensorboard_reads_it(tmp_path):
  """A fresh data dir: the log says what is built; TFDS's download banner and its warnings about
  the folder it is about to fill are not shown. Then `tensorboard --logdir DIR`, as the README
  says: installed, and it finds the losses."""
  data_dir, workdir = tmp_path / "tfds", tmp_path / "run"
  result = run_cli([TINY, f"--workdir={workdir}"], str(data_dir))
  assert result.stdout == ""
  assert "building the dataset gan_jax_shapes/small in" in result.stderr
  assert re.search(r"built .*: train \d+, test \d+ examples", result.stderr)
  for noise in ("Downloading and preparing", "Variant folder", "XLA_FLAGS", "Dataset gan_jax"):
    assert noise not in result.stderr
  shutil.rmtree(data_dir)

  tensorboard = pathlib.Path(sys.executable).parent / "tensorboard"  # installed beside python
  result = subprocess.run(
    [str(tensorboard), "--inspect", f"--logdir={workdir}", "--tag=d_loss"],
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert result.returncode == 0, result.stderr[-2000:]
  stats = r"Event statistics for tag d_loss in .*\n\s*scalars\n(.*\n)*\s*num_steps\s+4\n"
  assert re.search(stats, result.stdout), result.stdout
