"""Benchmark scripts that run in seconds on CPU, run as a user runs them."""

import json
import os
import subprocess
import sys

import pytest

from gan_jax import config as config_lib
from tests.conftest import ROOT, run_cli


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


@pytest.mark.parametrize(
  "family, cycles, identity, crop",
  [("cyclegan", ("cycle_a", "cycle_b"), True, 32), ("dualgan", ("rec_a", "rec_b"), False, 64)],
)
def test_cycle_objective_scores_the_model_and_the_true_cartoons(
  family, cycles, identity, crop, tfds_data_dir, tmp_path
):
  workdir = tmp_path / "run"
  config_arg = f"--config=configs/{family}.py:tiny"
  run_cli([config_arg, f"--workdir={workdir}"], tfds_data_dir)
  lambda_a = config_lib.load_config(str(ROOT / f"configs/{family}.py:tiny")).loss.lambda_a
  args = ["benchmarks/cycle_objective.py", config_arg, f"--workdir={workdir}", "--count=6"]
  reweighting = [f"--config.loss.lambda_a={2 * lambda_a}"]
  if identity:
    reweighting.append("--config.loss.identity=0")
  lines = []
  for overrides in ([], reweighting):
    result = _run([*args, *overrides], tfds_data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    lines.append(json.loads(result.stdout.splitlines()[-1]))
  base, reweighted = lines
  assert (base["step"], base["crops"], base["crop_size"]) == (4, 6, crop)
  penalties = (*cycles, "idt_a2b") if identity else cycles
  for solution in ("model", "truth"):
    terms = base[solution]
    assert set(terms) == {"g_adv_a2b", *penalties, "d_b_mean", "total"}
    assert abs(terms["total"] - sum(terms[k] for k in ("g_adv_a2b", *penalties))) < 1e-3
    assert all(terms[k] > 0 for k in penalties), terms
    # The weights come from the config: the same crops and nets, lambda_a doubled, no identity.
    again = reweighted[solution]
    assert abs(again[cycles[0]] - 2 * terms[cycles[0]]) < 1e-3 * terms[cycles[0]]
    assert (again["g_adv_a2b"], again[cycles[1]]) == (terms["g_adv_a2b"], terms[cycles[1]])
    if identity:
      assert again["idt_a2b"] == 0
  # The true cartoons are not the 4-step model's outputs.
  assert base["truth"][cycles[0]] != base["model"][cycles[0]]
  delta = base["truth_minus_model"]["total"]
  assert abs(delta - (base["truth"]["total"] - base["model"]["total"])) < 1e-3
