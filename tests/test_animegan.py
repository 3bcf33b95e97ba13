"""AnimeGANv2's family: its losses against hand computations, the edge smoothing and the derived
smooth split, the init -> adversarial schedule, one adversarial iteration against a direct
computation, and a :tiny run through the loop with exact resume across the phase switch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import config as config_lib
from gan_jax import run, train
from gan_jax.data import layouts, smoothing, sources
from gan_jax.errors import ConfigError, DataError, UserError
from gan_jax.families import animegan, base, common
from gan_jax.nets import vgg
from tests.conftest import ROOT


def _config(*overrides, preset="tiny"):
  return config_lib.load_config(str(ROOT / f"configs/animegan.py:{preset}"), list(overrides))


# ------------------------------------------------------------------------------------------------
# Losses, on hand-built inputs.


def test_gram_is_features_transposed_times_features_over_hwc():
  f = np.arange(2 * 2 * 3 * 2, dtype=np.float64).reshape(2, 2, 3, 2) / 10
  flat = f.reshape(2, 6, 2)
  want = np.einsum("bnc,bnd->bcd", flat, flat) / (2 * 3 * 2)
  np.testing.assert_allclose(animegan.gram(jnp.asarray(f, jnp.float32)), want, rtol=1e-6)
  # one image, one channel of ones: sum of 1 over 4 pixels / (4 * 1)
  assert float(animegan.gram(jnp.ones((1, 2, 2, 1)))[0, 0, 0]) == 1.0


def test_huber_is_quadratic_then_linear_at_delta_1():
  x = jnp.asarray([0.0, 0.5, -2.0, 3.0])
  y = jnp.zeros(4)
  want = np.mean([0.0, 0.125, 2.0 - 0.5, 3.0 - 0.5])
  np.testing.assert_allclose(animegan.huber(x, y), want, rtol=1e-6)


def test_yuv_is_tf_rgb_to_yuv_of_images_in_0_1():
  # white -> Y 1, U = V = 0 (rows of the kernel sum to 1, 0, 0); pure red -> the kernel's first row
  white, red = jnp.ones((1, 1, 1, 3)), jnp.asarray([[[[1.0, -1.0, -1.0]]]])
  np.testing.assert_allclose(animegan.rgb_to_yuv(white)[0, 0, 0], [1.0, 0.0, 0.0], atol=1e-6)
  np.testing.assert_allclose(
    animegan.rgb_to_yuv(red)[0, 0, 0], [0.299, -0.14714119, 0.61497538], atol=1e-7
  )


def test_color_loss_is_l1_on_y_and_huber_on_u_v():
  rng = np.random.default_rng(0)
  photo, fake = (rng.uniform(-1, 1, (2, 4, 4, 3)) for _ in range(2))
  k = np.asarray(animegan.RGB_TO_YUV)
  p, f = ((photo + 1) / 2) @ k, ((fake + 1) / 2) @ k
  e = np.abs(p - f)
  hub = np.where(e <= 1, 0.5 * e**2, e - 0.5)
  want = np.mean(e[..., 0]) + np.mean(hub[..., 1]) + np.mean(hub[..., 2])
  got = animegan.color_loss(jnp.asarray(photo, jnp.float32), jnp.asarray(fake, jnp.float32))
  np.testing.assert_allclose(got, want, rtol=1e-5)


def test_total_variation_is_half_the_mean_squared_differences():
  x = np.zeros((1, 3, 2, 1))
  x[0, 1, 0, 0] = 2.0  # one bright pixel: vertical diffs (2, -2, 0, 0), horizontal (-2, 0, 0)
  want = (8 / 4) / 2 + (4 / 3) / 2
  np.testing.assert_allclose(animegan.total_variation(jnp.asarray(x, jnp.float32)), want, 1e-6)


def test_grey_is_opencv_luma_in_three_channels():
  images = np.array([[[[255, 0, 0], [10, 200, 30]]]], np.uint8)
  luma = np.rint(images.astype(np.float64) @ [0.299, 0.587, 0.114])
  got = np.asarray(animegan.grey(jnp.asarray(images)))
  np.testing.assert_allclose(got, np.repeat(luma[..., None], 3, -1) / 127.5 - 1, atol=1e-6)


# ------------------------------------------------------------------------------------------------
# Edge smoothing and the derived split.


def test_edge_smoothing_blurs_only_near_edges():
  image = np.full((24, 24, 3), 40, np.uint8)
  image[:, 12:] = 220  # one vertical edge between columns 11 and 12
  image[3, 3] = (200, 40, 40)  # an isolated dot far from it: an edge of its own
  mask = smoothing.edge_mask(image)
  assert mask[:, 9:15].all() and not mask[:, 16:].any() and not mask[12:, :9].any()
  out = smoothing.edge_smooth(image)
  np.testing.assert_array_equal(out[~mask], image[~mask])
  # At (10, 11): the binomial 5x5 blur over columns 9..13 (three dark, two bright).
  w = np.array([1, 4, 6, 4, 1]) / 16
  want = np.floor(w @ np.array([40, 40, 40, 220, 220]))
  assert out[10, 11, 0] == want
  with pytest.raises(ValueError, match="uint8"):
    smoothing.edge_smooth(image.astype(np.float32))


def test_the_photo_style_layout_derives_smooth_images_from_the_style_split(tfds_data_dir):
  data = _config(f"data.data_dir={tfds_data_dir}").data
  splits = sources.open_dataset(data, "photo_style")
  assert {"trainA", "trainB", "trainsmooth", "testsmooth"} <= set(splits)
  assert len(splits["trainsmooth"]) == len(splits["trainB"])
  style = splits["trainB"][3]["image"]
  np.testing.assert_array_equal(splits["trainsmooth"][3]["image"], smoothing.edge_smooth(style))


# ------------------------------------------------------------------------------------------------
# Config, schedule.


def test_the_init_phase_then_the_adversarial_one():
  config = _config()
  family = animegan.FAMILY
  assert base.check(family) == [] and base.check_steps(family, config, 8) == []
  names = [family.schedule(config, s) for s in range(4)]
  assert names == [("init",), ("init",), ("main",), ("main",)]
  default = _config(preset="default")
  assert family.schedule(default, 10 * 554 - 1) == ("init",)
  assert family.schedule(default, 10 * 554) == ("main",)


def test_bad_values_are_named():
  with pytest.raises(ConfigError, match="image_size"):
    run.validate(_config("image_size=36"))
  with pytest.raises(ConfigError, match="model.upsample"):
    run.validate(_config("model.upsample=nearest"))
  with pytest.raises(ConfigError, match="model.vgg_input"):
    run.validate(_config("model.vgg_input=rgb"))
  with pytest.raises(ConfigError, match="loss.style"):
    run.validate(_config("loss.style=-1"))
  with pytest.raises(ConfigError, match="init_steps"):
    run.validate(_config("optim.init_steps=-1"))
  assert "adversarial phase" in animegan.advice(_config("optim.init_steps=4"))[0]
  assert animegan.advice(_config("model.vgg_weights=vgg19-dcbb9e9d.pth"))


# ------------------------------------------------------------------------------------------------
# One iteration of each phase through the loop's jitted steps.


@pytest.fixture(scope="module")
def stepped():
  """(config, setup, state 0, batch, state after an init iteration, metrics, state after an
  adversarial iteration from state 0, metrics, jitted steps)."""
  config = _config()
  setup = run.RunSetup(config)
  rng = np.random.RandomState(0)
  batch = {k: rng.randint(0, 256, v.shape, np.uint8) for k, v in setup.batch_spec.items()}
  steps = setup.jit_steps()
  before = jax.device_get(setup.init_state(0))
  after_init, m_init = setup.run_iteration(steps, setup.init_state(0), batch, 0)
  after_main, m_main = setup.run_iteration(steps, setup.init_state(0), batch, 2)
  return (
    config,
    setup,
    before,
    batch,
    jax.device_get(after_init),
    jax.device_get(m_init),
    jax.device_get(after_main),
    jax.device_get(m_main),
    steps,
  )


def _same(a, b) -> bool:
  pairs = zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
  return all(np.array_equal(x, y) for x, y in pairs)


def test_each_phase_updates_what_it_should(stepped):
  _, _, before, _, after_init, m_init, after_main, m_main, _ = stepped
  assert set(m_init) == {"init_content"}
  # init: G with its own Adam; D and the adversarial Adam untouched
  assert not _same(after_init.g.params, before.g.params)
  assert not _same(after_init.g_init_opt, before.g_init_opt)
  assert _same(after_init.g.opt_state, before.g.opt_state) and _same(after_init.d, before.d)
  # main: D and G with the adversarial Adams; the init Adam untouched
  assert _same(after_main.g_init_opt, before.g_init_opt)
  assert not _same(after_main.d.params, before.d.params)
  assert not _same(after_main.g.opt_state, before.g.opt_state)
  assert {"d_real", "d_fake", "d_gray", "d_smooth", "g_adv", "content", "style", "color"} <= set(
    m_main
  )


def test_one_adversarial_iteration_is_the_reference_d_then_g_update(stepped):
  """The step's terms against a direct computation: D on the four image sets with the initial
  weights, then G's adversarial term from the updated D, VGG terms from the random VGG19."""
  config, setup, before, batch, _, _, after, metrics, _ = stepped
  d_net, g_net = animegan._discriminator(config), animegan._generator(config)
  frozen_vgg = {"vgg": vgg.random_params("vgg19", ("conv4_4",))}
  w = config.loss
  photo = common.to_float_images(batch["image_a"])
  anime = common.to_float_images(batch["image_b"])
  grey_anime, grey_smooth = animegan.grey(batch["image_b"]), animegan.grey(batch["image_smooth"])
  fake = g_net.apply({"params": before.g.params}, photo)
  stacked = jnp.concatenate([anime, fake, grey_anime, grey_smooth])
  logits, stats = common.apply_net(d_net, before.d.params, before.d.batch_stats, stacked)
  real_l, fake_l, grey_l, smooth_l = np.split(np.asarray(logits, np.float64), 4)
  mse = lambda x, t: float(np.mean((x - t) ** 2))
  want = {
    "d_real": w.d_adversarial * w.d_real * mse(real_l, 1),
    "d_fake": w.d_adversarial * w.d_fake * mse(fake_l, 0),
    "d_gray": w.d_adversarial * w.d_gray * mse(grey_l, 0),
    "d_smooth": w.d_adversarial * w.d_smooth * mse(smooth_l, 0),
  }
  fake_logits, _ = common.apply_net(d_net, after.d.params, stats, fake)
  want["g_adv"] = w.g_adversarial * mse(np.asarray(fake_logits, np.float64), 1)
  feats = lambda x: np.asarray(animegan._features(config, frozen_vgg, x), np.float64)
  f_photo, f_fake, f_grey = feats(photo), feats(fake), feats(grey_anime)
  gram = lambda f: np.einsum("bhwc,bhwd->bcd", f, f) / np.prod(f.shape[1:])
  want["content"] = w.content * np.mean(np.abs(f_photo - f_fake))
  want["style"] = w.style * np.mean(np.abs(gram(f_grey) - gram(f_fake)))
  want["tv"] = w.tv * float(animegan.total_variation(fake))
  for key, value in want.items():
    np.testing.assert_allclose(metrics[key], value, rtol=2e-4, err_msg=key)
  assert metrics["d_loss"] == pytest.approx(sum(metrics[k] for k in want if k[:2] == "d_"), 1e-5)


def test_the_steps_trace_once(stepped):
  config, setup, _, batch, _, _, _, _, steps = stepped
  rng = np.random.RandomState(5)
  other = {k: rng.randint(0, 256, v.shape, np.uint8) for k, v in setup.batch_spec.items()}
  state = setup.init_state(1)
  state, _ = setup.run_iteration(steps, state, other, 0)
  state, _ = setup.run_iteration(steps, state, batch, 3)
  for name in ("init", "main"):
    assert steps[name]._cache_size() == 1, name


# ------------------------------------------------------------------------------------------------
# Through the loop.


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tfds_data_dir):
  """A :tiny run of 3 iterations through the loop: 2 init, 1 adversarial."""
  config = _config(f"data.data_dir={tfds_data_dir}", "total_steps=3")
  workdir = tmp_path_factory.mktemp("animegan") / "run"
  scalars = train.train_and_evaluate(config, workdir)
  _, state, step = run.restore_newest(config, workdir)
  return config, scalars, jax.device_get(state), step, workdir


def test_a_tiny_run_trains_samples_and_translates(trained):
  config, scalars, state, step, workdir = trained
  assert step == 3
  for key in ("g_loss", "d_loss", "content", "style", "color", "tv", "d_smooth"):
    assert np.isfinite(scalars[key]), key
  assert (workdir / "samples" / "step_0000002.png").is_file()
  photos = np.random.default_rng(1).uniform(-1, 1, (2, 24, 28, 3)).astype(np.float32)
  grid = np.asarray(animegan.sample_images(config, state, {"photo": photos}))
  assert grid.shape == (2, 2, 24, 28, 3)
  np.testing.assert_array_equal(grid[:, 0], photos)
  np.testing.assert_allclose(grid[:, 1], animegan.translate(config, state, photos, None), atol=1e-6)


def test_a_run_stopped_and_resumed_ends_bitwise_where_the_straight_run_does(trained, tmp_path):
  """1 init iteration, then a new run to 3 (the second init one and the first adversarial one):
  both Adams, D's spectral-norm u and the RNG come back exactly."""
  config, _, straight, _, _ = trained
  workdir = tmp_path / "run"
  quiet = (f"data.data_dir={config.data.data_dir}", "sample_every=0")
  train.train_and_evaluate(_config(*quiet, "total_steps=1"), workdir)
  train.train_and_evaluate(_config(*quiet, "total_steps=3"), workdir)
  _, resumed, step = run.restore_newest(config, workdir)
  assert step == 3
  for x, y in zip(jax.tree.leaves(straight), jax.tree.leaves(jax.device_get(resumed)), strict=True):
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      x, y = jax.random.key_data(x), jax.random.key_data(y)
    np.testing.assert_array_equal(x, y)


def test_the_v1_preset_builds_and_traces_both_steps():
  """:v1 at tiny widths: the first AnimeGAN's G and instance-norm D through both steps' traces
  (shapes only, nothing compiled)."""
  config = _config("model.generator=v1", "model.d_norm=instance", "model.upsample=tf_legacy")
  run.validate(config)
  assert _config(preset="v1").model.generator == "v1"
  spec = {k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in _batch_spec(config).items()}
  state = jax.eval_shape(lambda: animegan.create_state(config, jax.random.key(0), spec))
  frozen = {"vgg": vgg.random_params("vgg19", ("conv4_4",))}
  for name, step in animegan.steps(config).items():
    out, metrics = jax.eval_shape(lambda s, b, step=step: step(config, s, b, frozen), state, spec)
    assert jax.tree.structure(out) == jax.tree.structure(state), name
    assert metrics, name


def _batch_spec(config):
  return layouts.batch_spec(animegan.FAMILY.layout, config.batch_size, config.image_size)


def test_video_mode_translates_a_clip_with_the_trained_generator(trained, tmp_path):
  pytest.importorskip("av")
  from gan_jax import video  # noqa: PLC0415
  from tests import test_video  # noqa: PLC0415 - its clip writer (imports av)

  config, _, _, _, workdir = trained
  source, target = tmp_path / "clip.mp4", tmp_path / "anime.mp4"
  test_video._write_clip(source)
  report = video.translate_video(config, workdir, str(source), str(target), smoothing=0.5)
  assert report["frames"] == test_video.FRAMES and report["fps"] == test_video.FPS
  frames, rate, audio = test_video._read(target)
  assert len(frames) == test_video.FRAMES and rate == test_video.FPS and audio == 1
  print(f"video: {report}")
  with pytest.raises(UserError, match="--input=CLIP"):
    video.translate_video(config, workdir, "", str(target))


def _write_images(folder, n: int, seed: int):
  from PIL import Image  # noqa: PLC0415

  folder.mkdir(parents=True)
  rng = np.random.default_rng(seed)
  for i in range(n):
    Image.fromarray(rng.integers(0, 256, (16, 20, 3), np.uint8)).save(folder / f"{i}.png")


def test_the_reference_folder_layout(tmp_path, tfds_data_dir):
  """dataset/train_photo, dataset/<style>/style [and smooth]: smooth/ read when there, derived
  from style/ when not."""
  root = tmp_path / "dataset"
  _write_images(root / "train_photo", 4, 0)
  _write_images(root / "Hayao" / "style", 3, 1)
  data = _config(f"data.data_dir={tfds_data_dir}", f"data.folder={root / 'Hayao'}").data
  splits = sources.open_dataset(data, "photo_style")
  assert (len(splits["trainA"]), len(splits["trainB"]), len(splits["trainsmooth"])) == (4, 3, 3)
  style = splits["trainB"][0]["image"]
  np.testing.assert_array_equal(splits["trainsmooth"][0]["image"], smoothing.edge_smooth(style))
  _write_images(root / "Hayao" / "smooth", 2, 2)  # the reference's own smoothed images win
  splits = sources.open_dataset(data, "photo_style")
  assert len(splits["trainsmooth"]) == 2 and "testA" not in splits
  (root / "train_photo" / "0.png").rename(root / "0.png")
  for i in range(1, 4):
    (root / "train_photo" / f"{i}.png").unlink()
  with pytest.raises(DataError, match="train_photo"):
    sources.open_dataset(data, "photo_style")
