"""--mode=project (NVlabs' projector.py): its schedule and noise penalty against hand-computed
values, a projection that finds a generated image again, the files it writes, and bad input."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from gan_jax import config as config_lib
from gan_jax import project, run, samples, train
from gan_jax.errors import ConfigError, DataError, UserError
from gan_jax.families import stylegan2
from tests.conftest import ROOT, run_cli

FAMILY = stylegan2.FAMILY
QUICK = ("project.w_avg_samples=1000",)


def _config(data_dir, *overrides):
  return config_lib.load_config(
    str(ROOT / "configs/stylegan2.py:tiny"), [f"data.data_dir={data_dir}", *QUICK, *overrides]
  )


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tfds_data_dir):
  """One iteration of StyleGAN2 :tiny (only the main phases, no augmentation): a checkpoint."""
  config = _config(
    tfds_data_dir, "total_steps=1", "loss.g_reg_interval=0", "loss.r1_gamma=0", "aug.mode=noaug"
  )
  workdir = tmp_path_factory.mktemp("sg2_project") / "run"
  train.train_and_evaluate(config, workdir)
  _, state, _ = run.restore_newest(config, workdir)
  return config, jax.device_get(state), workdir


def _render(config, state, w, noise):
  ws = jnp.repeat(jnp.asarray(w).reshape(1, 1, -1), FAMILY.w_space.num_ws(config), axis=1)
  return np.asarray(FAMILY.w_space.synthesis(config, state, ws, noise))[0]


def test_ramps_follow_the_reference_schedule():
  p = _config("unused").project  # lr 0.1, ramp-up 0.05, ramp-down 0.25, jitter 0.05 to t 0.75
  lr = lambda step: float(project.ramps(p, step, 1000)[0])  # noqa: E731
  jitter = lambda step: float(project.ramps(p, step, 1000)[1])  # noqa: E731
  assert lr(0) == 0.0 and lr(25) == pytest.approx(0.05) and lr(500) == pytest.approx(0.1)
  assert lr(900) == pytest.approx(0.1 * (0.5 - 0.5 * np.cos(0.4 * np.pi)))  # 0.0345
  assert lr(1000) == pytest.approx(0.0, abs=1e-9)
  assert jitter(0) == pytest.approx(0.05) and jitter(375) == pytest.approx(0.05 * 0.25)
  assert jitter(750) == 0.0 and jitter(900) == 0.0


def test_noise_regularization_against_hand_computation():
  ones = jnp.ones((16, 16))  # every product 1, at 16 and 8 px, across and down: 4 terms of 1
  assert float(project.noise_regularization({"a": ones})) == pytest.approx(4.0)
  checker = jnp.asarray(np.indices((16, 16)).sum(0) % 2 * 2 - 1, jnp.float32)
  # at 16 px each shift flips every sign (two terms of (-1)^2); averaged to 8 px it is all 0
  assert float(project.noise_regularization({"a": checker})) == pytest.approx(2.0)
  rng = np.random.default_rng(0)
  images = {"b4": rng.normal(size=(4, 4)), "b32": rng.normal(size=(32, 32))}
  want = 0.0
  for image in images.values():
    while True:
      h, w = image.shape
      across = sum(image[y, x] * image[y, (x - 1) % w] for y in range(h) for x in range(w))
      down = sum(image[y, x] * image[(y - 1) % h, x] for y in range(h) for x in range(w))
      want += (across / (h * w)) ** 2 + (down / (h * w)) ** 2
      if h <= 8:
        break
      image = np.array(
        [
          [image[2 * y : 2 * y + 2, 2 * x : 2 * x + 2].mean() for x in range(w // 2)]
          for y in range(h // 2)
        ]
      )
  got = project.noise_regularization(jax.tree.map(jnp.asarray, images))
  assert float(got) == pytest.approx(want, rel=1e-5)
  normal = project.normalize_noise({"a": jnp.asarray(rng.normal(3.0, 2.0, size=(8, 8)))})["a"]
  assert abs(float(jnp.mean(normal))) < 1e-6 and float(jnp.mean(normal**2)) == pytest.approx(1.0)


def test_projecting_a_generated_image_finds_it_again(tiny_run):
  config, state, _ = tiny_run
  config = config.copy_and_resolve_references()
  config.project.num_steps = 50
  w_space = FAMILY.w_space
  z = np.random.RandomState(5).randn(1, config.model.z_dim).astype(np.float32)
  w_target = np.asarray(w_space.mapping(config, state, z, np.zeros((1,), np.int32)))[0]
  target = samples.to_uint8(_render(config, state, w_target, w_space.noise(config, state)))
  w_avg, _ = project.w_stats(config, w_space, state, np.zeros((1000,), np.int32))
  pixels = target.astype(np.float32) / 127.5 - 1
  start = np.mean(np.square(_render(config, state, w_avg, w_space.noise(config, state)) - pixels))
  w, noise, image, metrics = project.project(config, FAMILY, state, target, seed=0)
  final = np.mean(np.square(image - pixels))
  assert final < 0.1 * start, (start, final)  # measured: 0.085 -> 0.0012
  assert float(metrics["dist"]) < 0.1 * start
  assert np.linalg.norm(w - w_target) < 0.5 * np.linalg.norm(w_avg - w_target)
  for leaf in jax.tree.leaves(noise):  # renormalised after every step
    assert abs(float(np.mean(leaf))) < 1e-5 and float(np.mean(leaf**2)) == pytest.approx(1, 1e-4)


def test_project_mode_writes_w_the_image_the_target_and_frames(tiny_run, tmp_path):
  config, state, workdir = tiny_run
  target_file = tmp_path / "wide.png"
  Image.fromarray(np.full((20, 30, 3), (10, 200, 30), np.uint8)).save(target_file)
  config = _config(config.data.data_dir, "project.num_steps=4", "project.frame_every=2")
  out = project.project_mode(config, workdir, str(target_file))
  assert out == workdir / "projections" / "wide_seed303_step0000001"
  assert sorted(p.name for p in (out / "frames").iterdir()) == ["step_00002.png", "step_00004.png"]
  frame = np.asarray(Image.open(out / "frames" / "step_00004.png"))
  assert frame.shape == (16, 32, 3)  # target | projection
  target = np.asarray(Image.open(out / "target.png"))
  np.testing.assert_array_equal(target, frame[:, :16])
  assert (target == (10, 200, 30)).all()  # the colour, cropped and resized to 16 px
  saved = np.load(out / "projected_w.npz")
  num_ws = FAMILY.w_space.num_ws(config)
  assert saved["w"].shape == (1, num_ws, config.model.w_dim)
  assert (saved["w"] == saved["w"][:, :1]).all()  # one w for every layer, as the reference's
  noise_keys = sorted(k for k in saved.files if k.startswith("noise."))
  assert "noise.synthesis.b16.conv1.noise_const" in noise_keys and len(noise_keys) == 5
  noise = jax.tree.map(lambda x: x, FAMILY.w_space.noise(config, state))
  noise = jax.tree_util.tree_map_with_path(
    lambda path, _: saved["noise." + ".".join(k.key for k in path)], noise
  )
  again = samples.to_uint8(np.clip(_render(config, state, saved["w"][0, 0], noise), -1, 1))
  np.testing.assert_array_equal(np.asarray(Image.open(out / "proj.png")), again)
  np.testing.assert_array_equal(frame[:, 16:], again)  # the last frame is the final image
  info = json.loads((out / "info.json").read_text())
  assert info["seed"] == 303 and info["num_steps"] == 4 and info["checkpoint_step"] == 1
  assert info["distance"].startswith("mean squared error") and np.isfinite(info["dist"])


def test_load_target_centre_crops_a_wide_image_and_resizes_it(tmp_path):
  wide = np.zeros((24, 48, 3), np.uint8)
  wide[:, :12], wide[:, 12:36], wide[:, 36:] = (255, 0, 0), (0, 255, 0), (0, 0, 255)
  Image.fromarray(wide).save(tmp_path / "wide.png")
  target = project.load_target(str(tmp_path / "wide.png"), 16)
  assert target.shape == (16, 16, 3) and (target == (0, 255, 0)).all()


def test_bad_targets_options_and_families_are_named(tiny_run, tmp_path):
  config, _, workdir = tiny_run
  data_dir = config.data.data_dir
  with pytest.raises(UserError, match="--target missing.png does not exist"):
    project.project_mode(config, workdir, "missing.png")
  with pytest.raises(UserError, match="needs --target=IMAGE"):
    project.project_mode(config, workdir, "")
  (tmp_path / "notes.txt").write_text("hello")
  with pytest.raises(UserError, match="notes.txt is not an image file"):
    project.project_mode(config, workdir, str(tmp_path / "notes.txt"))
  (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
  with pytest.raises(DataError, match="cannot read image .*broken.png"):
    project.project_mode(config, workdir, str(tmp_path / "broken.png"))
  good = tmp_path / "good.png"
  Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(good)
  with pytest.raises(ConfigError, match="--mode=project takes one seed"):
    project.project_mode(_config(data_dir, "sample.seeds=1,2"), workdir, str(good))
  with pytest.raises(ConfigError, match="project.vgg16_weights: no such file"):
    project.project_mode(_config(data_dir, "project.vgg16_weights=vgg.pth"), workdir, str(good))
  with pytest.raises(ConfigError, match="project.num_steps must be >= 1"):
    project.project_mode(_config(data_dir, "project.num_steps=0"), workdir, str(good))
  with pytest.raises(UserError, match="class_idx=2: this stylegan2 is unconditional"):
    project.project_mode(_config(data_dir, "sample.class_idx=2"), workdir, str(good))
  pix2pix = config_lib.load_config(str(ROOT / "configs/pix2pix.py:tiny"))
  with pytest.raises(UserError, match="'pix2pix' does not generate from a w"):
    project.project_mode(pix2pix, tmp_path / "p2p", str(good))
  (tmp_path / "file").write_text("")
  with pytest.raises(UserError, match="--output .*file exists and is not a folder"):
    project.project_mode(config, workdir, str(good), str(tmp_path / "file"))
  # the command line: one error line, exit status 2
  result = run_cli(
    ["--mode=project", f"--workdir={workdir}", "--target=missing.png"], data_dir, check=False
  )
  assert result.returncode == 2
  lines = result.stderr.strip().splitlines()
  assert lines[-1] == "error: --target missing.png does not exist or is not a file"
  assert "Traceback" not in result.stderr and not any(
    line.startswith("error") for line in lines[:-1]
  )


@pytest.fixture(scope="module")
def vgg16_file(tmp_path_factory):
  """A torchvision-layout vgg16 state dict (features.<index>.weight OIHW, .bias) of a random VGG16,
  written with torch.save as torchvision's file is; and its params as gan_jax holds them."""
  torch = pytest.importorskip("torch")
  from gan_jax.nets import vgg  # noqa: PLC0415

  params = vgg.random_params("vgg16", project.vgg_layers(16), seed=3)["params"]
  names = vgg.layer_names("vgg16")
  state = {}
  for name, layer in params.items():
    index = names.index(name)
    state[f"features.{index}.weight"] = torch.from_numpy(
      layer["kernel"].transpose(3, 2, 0, 1).copy()
    )
    state[f"features.{index}.bias"] = torch.from_numpy(layer["bias"].copy())
  path = tmp_path_factory.mktemp("vgg") / "vgg16.pth"
  torch.save(state, path)
  return path, params


def test_vgg16_distance_is_unweighted_lpips_on_the_file_weights(vgg16_file):
  from gan_jax.nets import vgg  # noqa: PLC0415

  path, params = vgg16_file
  config = _config("unused", f"project.vgg16_weights={path}")
  kind, features_fn, loaded = project.make_distance(config)
  assert kind.startswith("LPIPS-style VGG16") and str(path) in kind
  a, b = (
    jax.random.uniform(jax.random.key(k), (1, 16, 16, 3), minval=-1, maxval=1) for k in (0, 1)
  )
  got = float(jnp.sum(jnp.square(features_fn(loaded, a) - features_fn(loaded, b))))
  layers = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
  assert project.vgg_layers(16) == layers and project.vgg_layers(8) == layers[:4]
  fa, fb = (vgg.features({"params": params}, x, "vgg16", layers, "imagenet_rgb") for x in (a, b))
  want = 0.0
  for name in layers:  # LPIPS without its learned weights: every channel weighs 1
    x, y = np.asarray(fa[name], np.float64)[0], np.asarray(fb[name], np.float64)[0]
    x = x / (np.linalg.norm(x, axis=-1, keepdims=True) + 1e-10)
    y = y / (np.linalg.norm(y, axis=-1, keepdims=True) + 1e-10)
    want += np.mean(np.sum(np.square(x - y), axis=-1))
  assert got == pytest.approx(want, rel=1e-4)
  assert float(jnp.sum(jnp.square(features_fn(loaded, a) - features_fn(loaded, a)))) == 0.0
  big = jnp.arange(2 * 8 * 8 * 1, dtype=jnp.float32).reshape(2, 8, 8, 1)
  want_small = np.asarray(big).reshape(2, 2, 4, 2, 4, 1).mean(axis=(2, 4))
  np.testing.assert_allclose(project._area_downsample(big, 2), want_small)  # > 256 px: area


def test_projection_with_vgg16_distance_brings_it_down(tiny_run, vgg16_file):
  config, state, workdir = tiny_run
  path, _ = vgg16_file
  config = _config(config.data.data_dir, f"project.vgg16_weights={path}", "project.num_steps=20")
  w_space = FAMILY.w_space
  z = np.random.RandomState(5).randn(1, config.model.z_dim).astype(np.float32)
  w_target = np.asarray(w_space.mapping(config, state, z, np.zeros((1,), np.int32)))[0]
  target = samples.to_uint8(_render(config, state, w_target, w_space.noise(config, state)))
  distance = project.make_distance(config)
  _, features_fn, params = distance
  w_avg, _ = project.w_stats(config, w_space, state, np.zeros((1000,), np.int32))
  as_float = lambda image: jnp.asarray(image[None], jnp.float32) / 127.5 - 1  # noqa: E731
  target_features = features_fn(params, as_float(target))
  start_image = np.clip(_render(config, state, w_avg, w_space.noise(config, state)), -1, 1)
  start = float(
    jnp.sum(jnp.square(features_fn(params, jnp.asarray(start_image[None])) - target_features))
  )
  _, _, image, metrics = project.project(config, FAMILY, state, target, 0, distance)
  final = float(
    jnp.sum(jnp.square(features_fn(params, jnp.asarray(image[None])) - target_features))
  )
  assert final < 0.2 * start, (start, final)  # measured: 0.45 -> 0.020
