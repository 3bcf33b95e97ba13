"""Benchmark scripts that run in seconds on CPU: their measurements in this process, and their
command lines (flags, overrides, one JSON line) run as a user runs them where that is the point."""

import json
import os
import subprocess
import sys

import pytest

from benchmarks import cycle_objective, learn_translation
from gan_jax import config as config_lib
from tests.conftest import ROOT

pytest_plugins = ["tests.conftest_runs"]  # tiny_run: the session's finished :tiny runs


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


def _config(spec, data_dir, *overrides):
  """The config `spec` as a test in this process loads it (TFDS data in the session's dir)."""
  return config_lib.load_config(str(ROOT / spec), [f"data.data_dir={data_dir}", *overrides])


def _as_printed(result: dict) -> dict:
  """`result` as the script's JSON line holds it (which it must be printable as)."""
  return json.loads(json.dumps(result))


def test_learn_translation_scores_the_test_and_train_splits(tfds_data_dir, tmp_path):
  workdir = tmp_path / "run"
  config = _config("configs/pix2pix.py:tiny", tfds_data_dir)
  line = _as_printed(learn_translation.learn(config, str(workdir), score_train=True))
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
  family, cycles, identity, crop, tfds_data_dir, tiny_run
):
  workdir = tiny_run(family)  # the session's finished :tiny run (tests/conftest_runs.py)
  spec = f"configs/{family}.py:tiny"
  lambda_a = _config(spec, tfds_data_dir).loss.lambda_a
  reweighting = [f"loss.lambda_a={2 * lambda_a}"]
  if identity:
    reweighting.append("loss.identity=0")
  base, reweighted = (
    _as_printed(cycle_objective.measure(_config(spec, tfds_data_dir, *o), str(workdir), count=6))
    for o in ([], reweighting)
  )
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
  if family != "cyclegan":
    return
  # The command line, once (the family does not change it): its flags and --config.* overrides
  # reach the same measurement, printed as one JSON line that names the config and overrides. It
  # sets up XLA's CPU flags, which this process has not, so its numbers agree to rounding only.
  args = [f"--config={spec}", f"--workdir={workdir}", "--count=6"]
  result = _run(
    ["benchmarks/cycle_objective.py", *args, *(f"--config.{o}" for o in reweighting)],
    tfds_data_dir,
  )
  assert result.returncode == 0, result.stderr[-3000:]
  [printed] = result.stdout.splitlines()
  line = json.loads(printed)
  assert (line.pop("config"), line.pop("overrides")) == (spec, reweighting)
  assert line.keys() == reweighted.keys()
  for key, value in reweighted.items():
    assert line[key] == pytest.approx(value, rel=1e-3, abs=1e-3), key


def test_fidelity_reports_each_compared_case(tfds_data_dir):
  """benchmarks/fidelity.py runs the named fidelity tests and reports what they compared."""
  result = _run(["benchmarks/fidelity.py", "-k", "bias_act_tanh or G_skip"], tfds_data_dir)
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads(result.stdout)
  op = report["cases"]["tests/test_stylegan_ops.py::test_matches_official[bias_act_tanh]"]
  assert 0 <= op["gradient"] <= 1e-5 * op["gradient_of"], op
  names = {name.split("::")[1] for name in report["cases"]}
  assert names == {
    "test_matches_official[bias_act_tanh]",
    "test_matches_official[G_skip]",
    "test_regularizers_double_backward_matches_official[G_skip]",
  }
  assert report["files"]["tests/test_stylegan2_nets.py"]["cases"] == 2
