"""Config files, presets, overrides and validation: every mistake is one clear ConfigError."""

import pathlib

import pytest

from gan_jax import config as config_lib
from gan_jax import run
from gan_jax.errors import ConfigError

ROOT = pathlib.Path(__file__).resolve().parent.parent
DCGAN = str(ROOT / "configs" / "dcgan.py")


# Each family's default preset against its paper / reference repository's defaults (the sources
# cited in each config file): a changed default fails here, not only in a week-long run.
PAPER_SETTINGS = {
  "dcgan": {
    "image_size": 64,
    "batch_size": 128,
    "data.name": "shapes",
    "optim.g_lr": 2e-4,
    "optim.b1": 0.5,
    "model.init_std": 0.02,
  },
  "pix2pix": {  # junyanz/pytorch-CycleGAN-and-pix2pix, pix2pix defaults
    "image_size": 256,
    "batch_size": 1,
    "data.load_size": 286,
    "data.crop": "random",
    "data.flip": True,
    "data.direction": "AtoB",
    "model.generator": "unet_256",
    "model.d_layers": 3,
    "model.g_features": 64,
    "model.d_features": 64,
    "model.g_norm": "batch",
    "model.dropout": 0.5,
    "model.init_std": 0.02,
    "optim.g_lr": 2e-4,
    "optim.d_lr": 2e-4,
    "optim.b1": 0.5,
    "optim.b2": 0.999,
    "loss.adversarial": "non_saturating",
    "loss.l1_weight": 100.0,
  },
  "cyclegan": {  # the same repository, CycleGAN defaults
    "image_size": 256,
    "batch_size": 1,
    "data.load_size": 286,
    "data.flip": True,
    "model.generator": "resnet_9blocks",
    "model.d_layers": 3,
    "model.g_norm": "instance",
    "model.dropout": 0.0,
    "model.pool_size": 50,
    "optim.g_lr": 2e-4,
    "optim.b1": 0.5,
    "loss.adversarial": "lsgan",
    "loss.lambda_a": 10.0,
    "loss.lambda_b": 10.0,
    "loss.identity": 0.5,
  },
  "dualgan": {  # duxingren14/DualGAN
    "image_size": 256,
    "batch_size": 1,
    "model.generator": "unet_256",
    "model.discriminator": "global",
    "optim.g_lr": 5e-5,
    "optim.decay": 0.9,
    "optim.n_critic": 1,
    "loss.adversarial": "wgan-gp",
    "loss.gp_weight": 10.0,
    "loss.lambda_a": 500.0,
    "loss.reconstruction": "l1",
  },
  "stylegan2": {  # NVlabs/stylegan2-ada-pytorch train.py --cfg=auto, one accelerator, 256 px
    "image_size": 256,
    "batch_size": 16,
    "model.z_dim": 512,
    "model.w_dim": 512,
    "model.mapping_layers": 2,
    "model.mapping_lr": 0.01,
    "model.channel_base": 16384,
    "model.channel_max": 512,
    "model.num_fp16_res": 4,
    "model.conv_clamp": 256.0,
    "model.mbstd_group": 4,
    "optim.lr": 0.0025,
    "optim.b1": 0.0,
    "optim.b2": 0.99,
    "optim.eps": 1e-8,
    "optim.ema_rampup": 0.05,
    "loss.d_reg_interval": 16,
    "loss.g_reg_interval": 4,
    "loss.pl_weight": 2.0,
    "loss.pl_decay": 0.01,
    "loss.pl_batch_shrink": 2,
    "loss.style_mixing": 0.9,
    "aug.mode": "ada",  # --aug=ada --augpipe=bgc --target=0.6; ada_interval 4, ada_kimg 500
    "aug.pipe": "bgc",
    "aug.target": 0.6,
    "aug.interval": 4,
    "aug.kimg": 500.0,
  },
  "stylegan3": {  # NVlabs/stylegan3 train.py --cfg=stylegan3-t --batch=32 --gamma=2 (256 px)
    "image_size": 256,
    "batch_size": 32,
    "model.config": "t",
    "model.z_dim": 512,
    "model.w_dim": 512,
    "model.mapping_layers": 2,
    "model.mapping_lr": 0.01,
    "model.channel_base": 32768,
    "model.channel_max": 512,
    "model.num_fp16_res": 4,
    "model.conv_clamp": 256.0,
    "model.magnitude_ema_kimg": 20.0,
    "model.mbstd_group": 4,
    "optim.lr": 0.0025,
    "optim.d_lr": 0.002,
    "optim.b1": 0.0,
    "optim.b2": 0.99,
    "optim.eps": 1e-8,
    "optim.ema_kimg": -1.0,
    "optim.ema_rampup": 0.05,
    "loss.r1_gamma": 2.0,
    "loss.d_reg_interval": 16,
    "loss.g_reg_interval": 0,
    "loss.pl_weight": 0.0,
    "loss.style_mixing": 0.0,
    "loss.blur_sigma": -1.0,
    "loss.blur_fade_kimg": -1.0,
    "aug.mode": "ada",
    "aug.pipe": "bgc",
    "aug.target": 0.6,
    "aug.interval": 4,
    "aug.kimg": 500.0,
  },
  "ugatit": {  # znxlwm/UGATIT-pytorch main.py defaults
    "image_size": 256,
    "batch_size": 1,
    "total_steps": 1_000_000,
    "data.load_size": 286,
    "data.crop": "random",
    "data.flip": True,
    "model.light": False,
    "model.features": 64,
    "model.g_blocks": 4,
    "model.global_layers": 7,
    "model.local_layers": 5,
    "optim.lr": 1e-4,
    "optim.b1": 0.5,
    "optim.b2": 0.999,
    "optim.weight_decay": 1e-4,
    "loss.adversarial": 1.0,
    "loss.cycle": 10.0,
    "loss.identity": 10.0,
    "loss.cam": 1000.0,
  },
  "animegan": {  # TachibanaYoshino/AnimeGANv2 main.py defaults, Hayao weights (tools/ops.py)
    "image_size": 256,
    "batch_size": 12,
    "total_steps": 101 * 554,
    "optim.init_steps": 10 * 554,
    "model.g_features": 32,
    "model.g_blocks": 4,
    "model.d_features": 64,
    "model.d_layers": 3,
    "model.spectral_norm": True,
    "model.vgg_input": "caffe_bgr",
    "optim.init_lr": 2e-4,
    "optim.g_lr": 2e-5,
    "optim.d_lr": 4e-5,
    "optim.b1": 0.5,
    "optim.b2": 0.999,
    "loss.g_adversarial": 300.0,
    "loss.d_adversarial": 300.0,
    "loss.content": 1.5,
    "loss.style": 2.5,
    "loss.color": 15.0,
    "loss.tv": 1.0,
    "loss.d_real": 1.2,
    "loss.d_fake": 1.2,
    "loss.d_gray": 1.2,
    "loss.d_smooth": 0.8,
  },
}


@pytest.mark.parametrize("family", sorted(PAPER_SETTINGS))
def test_default_preset_is_the_paper_setting(family):
  c = config_lib.load_config(str(ROOT / "configs" / f"{family}.py"))
  assert c.family == family
  for key, value in PAPER_SETTINGS[family].items():
    assert c[key] == value, key
  run.validate(c)


CONFIG_FILES = sorted((ROOT / "configs").glob("*.py"))


def test_every_family_default_is_pinned():
  assert {p.stem for p in CONFIG_FILES} == set(PAPER_SETTINGS)


def _every_preset():
  """'configs/<file>.py:<preset>' for every preset (its PRESETS) of every config file."""
  for path in CONFIG_FILES:
    for preset in config_lib.import_config_file(path).PRESETS:
      yield f"configs/{path.name}:{preset}"


EVERY_PRESET = list(_every_preset())


def test_every_family_has_its_presets():
  families = {spec.split(":")[0] for spec in EVERY_PRESET}
  assert {"configs/dcgan.py", "configs/pix2pix.py", "configs/cyclegan.py"} <= families
  assert len(EVERY_PRESET) >= 3 * len(families)


@pytest.mark.parametrize("spec", EVERY_PRESET)
def test_every_preset_validates(spec):
  path, preset = spec.split(":")
  run.validate(config_lib.load_config(f"{ROOT / path}:{preset}"))


def test_overrides_are_typed():
  c = config_lib.load_config(
    DCGAN + ":tiny",
    [
      "batch_size=16",
      "optim.g_lr=1e-3",
      "data.flip=true",
      "data.folder=/some/where",
      "loss.adversarial=hinge",
    ],
  )
  assert c.batch_size == 16 and isinstance(c.batch_size, int)
  assert c.optim.g_lr == 1e-3 and c.data.flip is True
  assert c.data.folder == "/some/where" and c.loss.adversarial == "hinge"


@pytest.mark.parametrize(
  "spec,overrides,match",
  [
    (
      "configs/nope.py",
      [],
      r"config file 'configs/nope.py' does not exist; configs shipped: .*dcgan.py",
    ),
    (
      DCGAN + ":huge",
      [],
      r"unknown preset 'huge' for configs/dcgan.py; presets: default, cpu, tiny",
    ),
    (DCGAN, ["batch_sise=3"], r"unknown config key 'batch_sise'; keys here: .*batch_size"),
    (DCGAN, ["optimizer.lr=3"], r"unknown config key 'optimizer.lr': the config has no section"),
    (DCGAN, ["data.nme=x"], r"unknown config key 'data.nme'; keys here: .*name"),
    (DCGAN, ["batch_size=many"], r"config key 'batch_size': cannot use 'many' as a int"),
    (DCGAN, ["data.flip=maybe"], r"config key 'data.flip': cannot use 'maybe' as a bool"),
    (DCGAN, ["data=3"], r"config key 'data' is a section"),
    (DCGAN, ["batch_size"], r"must look like --config.<key>=<value>"),
  ],
)
def test_bad_config_arguments(spec, overrides, match):
  with pytest.raises(ConfigError, match=match):
    config_lib.load_config(spec, overrides)


@pytest.mark.parametrize(
  "overrides,match",
  [
    (["family=stylegan9"], r"unknown config.family 'stylegan9'; families: dcgan"),
    (["batch_size=0"], r"config.batch_size must be a positive integer, got 0"),
    (["total_steps=-5"], r"config.total_steps must be a positive integer"),
    (
      ["image_size=48"],
      r"config.image_size: DCGAN image size must be a power of two >= 32, got 48",
    ),
    (["model.d_norm=group"], r"unknown config.model.d_norm 'group'; choices: batch, layer, none"),
    (["loss.adversarial=wgan"], r"unknown config.loss.adversarial 'wgan'; choices: minimax"),
    (["loss.adversarial=wgan-gp"], r"wgan-gp.*needs config.model.d_norm='layer' or 'none'"),
    (["data.crop=zoom"], r"unknown config.data.crop 'zoom'; choices: random, center, none"),
    (["data.load_size=16"], r"config.data.load_size=16 is smaller than config.image_size=32"),
    (["model.conv_formulation=fft"], r"unknown config.model.conv_formulation 'fft'"),
  ],
)
def test_bad_config_values(overrides, match):
  c = config_lib.load_config(DCGAN + ":tiny", overrides)
  with pytest.raises(ConfigError, match=match):
    run.validate(c)


def test_missing_keys_are_listed(tmp_path):
  bad = tmp_path / "partial.py"
  bad.write_text(
    "import ml_collections\n"
    "def get_config(arg=None):\n"
    "  c = ml_collections.ConfigDict()\n"
    "  c.family = 'dcgan'\n"
    "  c.seed = 0\n"
    "  return c\n"
  )
  c = config_lib.load_config(str(bad))
  with pytest.raises(
    ConfigError,
    match=r"missing required keys: total_steps, batch_size, "
    r"image_size, log_every, sample_every, checkpoint_every, data.name",
  ):
    run.validate(c)


def test_config_file_without_get_config(tmp_path):
  bad = tmp_path / "empty.py"
  bad.write_text("x = 1\n")
  with pytest.raises(ConfigError, match="has no get_config"):
    config_lib.load_config(str(bad))


def test_config_file_that_fails_to_import(tmp_path):
  bad = tmp_path / "broken.py"
  bad.write_text("import ml_collections\nraise ValueError('typo in the config')\n")
  with pytest.raises(ConfigError, match=r"broken.py failed to load: ValueError: typo in"):
    config_lib.load_config(str(bad))
