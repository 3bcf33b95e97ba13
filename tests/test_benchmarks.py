"""Benchmark scripts that run in seconds on CPU, run as a user runs them."""

import json
import os
import subprocess
import sys

from tests.conftest import ROOT


def _run(args, data_dir):
  env = {**os.environ, "PYTHONPATH": str(ROOT), "TFDS_DATA_DIR": data_dir}
  return subprocess.run(
    [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
  )


def test_pipeline_speed_prints_one_line_per_setting(tfds_data_dir):
  result = _run(
    [
      "benchmarks/pipeline_speed.py",
      "--config=configs/dcgan.py:tiny",
      "--settings=1x0,0x2",
      "--batches=5",
      "--warmup=1",
    ],
    tfds_data_dir,
  )
  assert result.returncode == 0, result.stderr[-3000:]
  lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
  assert [(r["read_threads"], r["workers"]) for r in lines] == [(1, 0), (0, 2)]
  assert all(r["images_per_sec"] > 0 and r["batch_size"] == 8 for r in lines), lines


def test_pipeline_speed_names_a_bad_setting(tfds_data_dir):
  result = _run(
    ["benchmarks/pipeline_speed.py", "--config=configs/dcgan.py:tiny", "--settings=2x0,two"],
    tfds_data_dir,
  )
  assert result.returncode != 0
  assert "--settings: 'two' is not READ_THREADSxWORKERS" in result.stderr


def test_learn_translation_scores_the_test_and_train_splits(tfds_data_dir, tmp_path):
  workdir = tmp_path / "run"
  args = ["benchmarks/learn_translation.py", "--config=configs/pix2pix.py:tiny"]
  result = _run([*args, f"--workdir={workdir}", "--score_train"], tfds_data_dir)
  assert result.returncode == 0, result.stderr[-3000:]
  line = json.loads(result.stdout.splitlines()[-1])
  assert line["steps"] == 4 and line["train_minutes_this_run"] > 0
  test, train = line["eval"], line["train_split"]
  assert (test["split"], test["num_images"]) == ("test", 8)  # toon/paired_small
  assert (train["split"], train["num_images"]) == ("train", 32)
  assert train["identity_psnr"] != test["identity_psnr"]
  written = json.loads((workdir / "eval_train" / "step_0000004.json").read_text())
  assert written["psnr"] == train["psnr"]
