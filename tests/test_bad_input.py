"""Bad input that the other test files do not reach: each fails with one clear UserError."""

import numpy as np
import pytest
from PIL import Image

from gan_jax import config as config_lib
from gan_jax import parallel, run, sample, translate
from gan_jax.errors import ConfigError, UserError
from gan_jax.families import pix2pix
from tests.conftest import ROOT, run_cli

PIX2PIX = str(ROOT / "configs/pix2pix.py") + ":tiny"
DCGAN = str(ROOT / "configs/dcgan.py") + ":tiny"


def test_workdir_that_is_a_file(tmp_path):
  not_a_folder = tmp_path / "run"
  not_a_folder.write_text("")
  with pytest.raises(UserError, match="exists and is not a folder"):
    sample.sample(config_lib.load_config(DCGAN), not_a_folder)


@pytest.mark.parametrize("mode", ["sample", "eval"])
def test_sample_or_eval_without_a_checkpoint(mode, tmp_path):
  from gan_jax import evaluate

  mode_fn = sample.sample if mode == "sample" else evaluate.evaluate
  with pytest.raises(UserError, match="no checkpoint in .*: train first"):
    mode_fn(config_lib.load_config(DCGAN), tmp_path / "empty")


def test_a_step_without_a_checkpoint_names_the_saved_steps(tmp_path, tfds_data_dir):
  from gan_jax import evaluate, train

  config = config_lib.load_config(DCGAN, [f"data.data_dir={tfds_data_dir}", "total_steps=2"])
  train.train_and_evaluate(config, tmp_path)
  with pytest.raises(UserError, match=r"^--step=3: no checkpoint .* \(saved steps: 2\)$"):
    evaluate.evaluate(config, tmp_path, step=3)
  wider = config_lib.load_config(DCGAN, [f"data.data_dir={tfds_data_dir}", "model.g_features=16"])
  differs = r"checkpoints/2 does not match .* in model\.g_features: 8 -> 16"
  with pytest.raises(UserError, match=differs):
    evaluate.evaluate(wider, tmp_path, step=2)
  assert not (tmp_path / "eval").exists()
  for path in (tmp_path / "checkpoints" / "2" / "state").rglob("*"):
    if path.is_file() and path.stat().st_size > 100:
      path.write_bytes(b"\0" * 10)  # a disk that lost the save
  with pytest.raises(UserError, match=r"^checkpoint .*/checkpoints/2 cannot be read \(\w+: "):
    evaluate.evaluate(config, tmp_path, step=2)
  with pytest.raises(UserError, match=r"--step=0: .*\(saved steps: none\)"):
    sample.sample(config, tmp_path / "empty", step=0)


def test_step_with_train_is_refused(tmp_path):
  result = run_cli([f"--config={DCGAN}", f"--workdir={tmp_path}", "--step=2"], "", check=False)
  assert result.returncode == 2
  assert result.stderr.splitlines()[-1] == (
    "error: --step is for the modes that read a trained run; train resumes from the newest "
    "checkpoint"
  )
  assert not any(tmp_path.iterdir())


def test_coordinator_address_needs_process_count_and_id():
  with pytest.raises(ConfigError, match="needs --num_processes >= 1 and 0 <= --process_id"):
    parallel.initialize_distributed("127.0.0.1:1234", 2, 5)


def test_negative_read_threads():
  config = config_lib.load_config(DCGAN, ["data.read_threads=-1"])
  with pytest.raises(ConfigError, match="read_threads and config.data.prefetch must be >= 0"):
    run.validate(config)


def test_negative_workers():
  config = config_lib.load_config(DCGAN, ["data.workers=-1"])
  with pytest.raises(ConfigError, match=r"config.data.workers must be >= 0 \(0 = no worker"):
    run.validate(config)


@pytest.mark.parametrize(
  "overrides,message",
  [
    (["eval_every=-5"], r"config.eval_every must be >= 0 \(0 = never\), got -5"),
    (["eval.inception_weights=/no/such/pt_inception.pth"], "inception_weights: no such file /no/"),
  ],
)
def test_eval_keys(overrides, message):
  with pytest.raises(ConfigError, match=message):
    run.validate(config_lib.load_config(DCGAN, overrides))


@pytest.mark.parametrize(
  "config_file,overrides,message",
  [
    (DCGAN, ["data.eval_size=-1"], "eval_size must be >= 0"),
    (PIX2PIX, ["data.eval_size=-32"], "eval_size must be >= 0"),
    (DCGAN, ["data.eval_size=64"], "eval_size=64: samples are scored against real images"),
    (PIX2PIX, ["data.eval_size=48"], r"eval_size=48 is not a multiple of 2\^5"),
  ],
)
def test_eval_size(config_file, overrides, message):
  with pytest.raises(ConfigError, match=message):
    run.validate(config_lib.load_config(config_file, overrides))


@pytest.mark.parametrize(
  "overrides,message",
  [
    (["model.d_layers=0"], "d_layers must be an integer >= 1 or 'pixel'"),
    (["model.generator=unet_16"], "expected unet_<size> with size a power of two >= 32"),
  ],
)
def test_pix2pix_model_keys(overrides, message):
  with pytest.raises(ConfigError, match=message):
    pix2pix.validate_config(config_lib.load_config(PIX2PIX, overrides))


def _image(path):
  Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path)


def test_translate_arguments(tmp_path):
  config = config_lib.load_config(PIX2PIX)
  run = lambda src, dst, direction="": translate.translate_path(
    config, tmp_path / "w", src, dst, direction
  )
  with pytest.raises(UserError, match="needs --input=PATH and --output=PATH"):
    run("", str(tmp_path / "out"))
  (tmp_path / "notes.txt").write_text("x")
  with pytest.raises(UserError, match="notes.txt is not an image file"):
    run(str(tmp_path / "notes.txt"), str(tmp_path / "out"))
  (tmp_path / "empty").mkdir()
  with pytest.raises(UserError, match="holds no images"):
    run(str(tmp_path / "empty"), str(tmp_path / "out"))
  _image(tmp_path / "a.png")
  with pytest.raises(UserError, match="unknown --direction 'AtoC'; choices: AtoB, BtoA"):
    run(str(tmp_path / "a.png"), str(tmp_path / "out"), "AtoC")


def test_translate_with_a_family_that_generates(tmp_path):
  _image(tmp_path / "a.png")
  with pytest.raises(UserError, match="'dcgan' generates images rather than translating them"):
    translate.translate_path(
      config_lib.load_config(DCGAN), tmp_path / "w", str(tmp_path / "a.png"), str(tmp_path / "out")
    )
