"""The StyleGAN3 family: its presets against the reference's train.py and docs/configs.md, the
nets' shapes at 32, 64 and 256 px (T and R, abstractly), R's fading D-input blur, the EMAs moved
in the D phase only, and a :tiny R run through the loop (every phase, no retrace, samples,
bitwise resume, --mode=sample)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import config as config_lib
from gan_jax import run, train
from gan_jax.errors import ConfigError, UserError
from gan_jax.families import stylegan2, stylegan3
from gan_jax.nets import stylegan3 as nets
from tests.conftest import ROOT

FAST = ("model.config=r", "aug.interval=1", "aug.kimg=0.1")


def _config(*overrides, preset="tiny"):
  return config_lib.load_config(str(ROOT / f"configs/stylegan3.py:{preset}"), list(overrides))


def test_presets_follow_the_reference():
  t = _config(preset="t")  # --cfg=stylegan3-t --batch=32 --gamma=2 (docs/configs.md, 256 px)
  assert (t.image_size, t.batch_size, t.loss.r1_gamma) == (256, 32, 2.0)
  assert (t.model.channel_base, t.model.channel_max, t.model.mapping_layers) == (32768, 512, 2)
  assert (t.optim.lr, t.optim.d_lr, t.aug.target, t.loss.d_reg_interval) == (0.0025, 0.002, 0.6, 16)
  assert t.loss.g_reg_interval == 0 and t.loss.style_mixing == 0 and t.loss.pl_weight == 0
  assert float(stylegan2.ema_beta(t, 10**6)) == pytest.approx(0.5 ** (32 / 10_000))  # 10 kimg
  assert stylegan3.initial_blur_sigma(t) == 0
  g, num_ws = stylegan3.generator(t)
  assert num_ws == 16 and g.synthesis_kwargs["conv_kernel"] == 3
  assert g.synthesis_kwargs["magnitude_ema_beta"] == pytest.approx(0.5 ** (32 / 20_000))
  r = _config(preset="r")
  g, _ = stylegan3.generator(r)
  s = g.synthesis_kwargs
  assert (s["channel_base"], s["channel_max"], s["conv_kernel"]) == (65536, 1024, 1)
  assert s["use_radial_filters"] and stylegan3.initial_blur_sigma(r) == 10
  assert stylegan3.blur_fade_kimg(r) == 200  # batch 32 * 200 / 32
  assert _config(preset="r512").loss.r1_gamma == 8 and _config(preset="t1024").loss.r1_gamma == 32
  assert stylegan3.FAMILY.name == "stylegan3" and stylegan3.FAMILY.style_mix is None
  for preset in stylegan3_presets():
    run.validate(_config(preset=preset))


def stylegan3_presets():
  import importlib.util  # noqa: PLC0415

  spec = importlib.util.spec_from_file_location("sg3_config", ROOT / "configs/stylegan3.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.PRESETS


@pytest.mark.parametrize("config_name", ["t", "r"])
@pytest.mark.parametrize("size", [32, 64, 256])
def test_generator_shapes(config_name, size):
  """Abstract init and forward (jax.eval_shape): the image, a 16-bit layer where the reference's
  rule puts one, the R net's 1x1 weights at twice the widths."""
  config = _config(f"model.config={config_name}", f"image_size={size}", preset="t")
  g, num_ws = stylegan3.generator(config)
  z, c = jnp.zeros((2, 512)), jnp.zeros((2, 0))
  variables = jax.eval_shape(lambda: g.init(jax.random.key(0), z, c))
  out = jax.eval_shape(lambda v: g.apply(v, z, c), variables)
  assert out.shape == (2, size, size, 3) and out.dtype == jnp.float32
  params = variables["params"]["synthesis"]
  first = params[nets.layer_name(0, 36, 1024 if config_name == "r" else 512)]
  k = 1 if config_name == "r" else 3
  assert first["weight"].shape[:2] == (k, k) and num_ws == 16
  net = nets.SynthesisNetwork(size, **g.synthesis_kwargs)
  half = [f["dtype"] == jnp.bfloat16 for f in net.layer_fields()]
  assert half == list(net.schedule()["use_fp16"])  # rate x 16 > resolution
  assert any(half) and (size < 256 or not all(half))


def test_blur_fades_as_the_reference_and_is_its_normalised_gaussian():
  config = _config("model.config=r", preset="tiny")  # batch 4: fades over 25 kimg
  fade_steps = stylegan3.blur_fade_kimg(config) * 1000 / config.batch_size
  assert float(stylegan3.blur_sigma(config, 0)) == 10.0
  assert float(stylegan3.blur_sigma(config, fade_steps / 2)) == pytest.approx(5.0)
  assert float(stylegan3.blur_sigma(config, fade_steps + 10)) == 0.0
  impulse = jnp.zeros((1, 33, 33, 1)).at[0, 16, 16, 0].set(1.0)
  step = 4500  # sigma (1 - 4500 x 4 / 25,000) x 10 = 2.8: taps over |x| <= 8
  sigma = (1 - step * config.batch_size / 25_000) * 10
  assert float(stylegan3.blur_sigma(config, step)) == pytest.approx(sigma)
  x = np.arange(-8, 9)
  taps = np.exp2(-np.square(x / sigma))
  taps /= taps.sum()
  want = np.zeros((33, 33))
  want[8:25, 8:25] = np.outer(taps, taps)
  np.testing.assert_allclose(stylegan3.blur(config, impulse, step)[0, ..., 0], want, atol=1e-7)
  images = jax.random.normal(jax.random.key(0), (2, 16, 16, 3))
  np.testing.assert_array_equal(stylegan3.blur(config, images, int(fade_steps) + 1), images)
  t = _config(preset="tiny")
  np.testing.assert_array_equal(stylegan3.blur(t, images, 0), images)  # T: no blur


def test_bad_values_are_named():
  with pytest.raises(ConfigError, match="model.config"):
    run.validate(_config("model.config=s"))
  with pytest.raises(ConfigError, match="blur_sigma must be >= 0 or -1"):
    run.validate(_config("loss.blur_sigma=-2"))
  with pytest.raises(ConfigError, match="magnitude_ema_kimg"):
    run.validate(_config("model.magnitude_ema_kimg=0"))
  with pytest.raises(ConfigError, match="config.sample.video 'spin'"):
    run.validate(_config("sample.video=spin"))
  with pytest.raises(ConfigError, match="config.sample.video_frames must be > 0"):
    run.validate(_config("sample.video_frames=0"))


def _stats(state):
  return jax.tree.leaves(state.g.batch_stats["stats"])


def test_the_emas_move_in_the_d_phase_only():
  """loss.py runs G with update_emas=True in Dmain alone: w_avg and every layer's
  magnitude_ema stay put in g_main and move in d_main, and G_ema takes G's."""
  config = _config("aug.mode=noaug")
  batch = {"image": jnp.zeros((config.batch_size, 16, 16, 3), jnp.uint8)}
  state = stylegan2.create_state(config, jax.random.key(0), batch)
  after_g, _ = jax.jit(lambda s: stylegan2.g_main(config, s, batch))(state)
  for a, b in zip(_stats(state), _stats(after_g), strict=True):
    np.testing.assert_array_equal(a, b)
  after_d, _ = jax.jit(lambda s: stylegan2.d_main(config, s, batch))(after_g)
  moved = [
    float(jnp.abs(a - b).max()) for a, b in zip(_stats(after_g), _stats(after_d), strict=True)
  ]
  assert len(moved) == 16 and min(moved) > 0  # w_avg and the 15 layers' magnitudes
  for a, b in zip(
    _stats(after_d), jax.tree.leaves(after_d.g_ema.batch_stats["stats"]), strict=True
  ):
    np.testing.assert_array_equal(a, b)


# The run below compiles three steps twice: 46 s for the three tests on an idle machine.
@pytest.fixture(scope="module")
def trained(tmp_path_factory, tfds_data_dir):
  """A :tiny StyleGAN3-R run of 3 iterations (D-input blur, ADA moving p every iteration)."""
  config = _config(f"data.data_dir={tfds_data_dir}", "total_steps=3", *FAST)
  workdir = tmp_path_factory.mktemp("sg3") / "run"
  jax.clear_caches()
  scalars = train.train_and_evaluate(config, workdir)
  setup, state, step = run.restore_newest(config, workdir)
  return config, scalars, jax.device_get(state), step, workdir


def test_a_tiny_r_run_trains_its_phases_and_saves_the_emas(trained):
  config, scalars, state, step, workdir = trained
  assert step == 3
  assert set(stylegan2.steps(config)) == {"g_main", "d_main", "d_reg"}
  for key in ("g_loss", "d_loss", "r1_penalty"):
    assert np.isfinite(scalars[key]), key
  assert float(state.ada.p) > 0
  magnitudes = jax.tree.leaves(state.g.batch_stats["stats"]["synthesis"])
  assert len(magnitudes) == 15 and all(float(m) != 1.0 for m in magnitudes)
  assert (workdir / "samples" / "step_0000002.png").is_file()


def test_a_run_stopped_and_resumed_ends_bitwise_where_the_straight_run_does(trained, tmp_path):
  config, _, straight, _, _ = trained
  workdir = tmp_path / "run"
  first = _config(f"data.data_dir={config.data.data_dir}", "total_steps=1", *FAST)
  train.train_and_evaluate(first, workdir)
  train.train_and_evaluate(config, workdir)
  _, resumed, step = run.restore_newest(config, workdir)
  assert step == 3
  for x, y in zip(jax.tree.leaves(straight), jax.tree.leaves(jax.device_get(resumed)), strict=True):
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      x, y = jax.random.key_data(x), jax.random.key_data(y)
    np.testing.assert_array_equal(x, y)


def test_sample_mode_writes_the_seeds(trained):
  config, _, _, _, workdir = trained
  from gan_jax import sample  # noqa: PLC0415

  seeds = config_lib.load_config(
    str(ROOT / "configs/stylegan3.py:tiny"),
    [f"data.data_dir={config.data.data_dir}", "sample.seeds=0-1", *FAST],
  )
  out = sample.sample(seeds, workdir)
  assert sorted(p.name for p in out.glob("seed*.png")) == ["seed0000.png", "seed0001.png"]


@pytest.mark.parametrize("kind", ["rotate", "translate"])
def test_sample_mode_writes_a_transform_clip(trained, kind):
  """config.sample.video: an mp4 of the seeds' grid with the frames, size and rate asked for, each
  frame its step's transform of the grid (the first untransformed), and the grid moving."""
  av = pytest.importorskip("av")
  from gan_jax import sample, samples, video  # noqa: PLC0415

  config, _, state, _, workdir = trained
  clip = [f"sample.video={kind}", "sample.video_frames=6", "sample.video_fps=12", *FAST]
  with pytest.raises(UserError, match="config.sample.video needs config.sample.seeds"):
    sample.sample(_config(f"data.data_dir={config.data.data_dir}", *clip), workdir)
  clip_config = _config(f"data.data_dir={config.data.data_dir}", "sample.seeds=0-2", *clip)
  out = sample.sample(clip_config, workdir)
  with av.open(str(out / f"{kind}.mp4")) as reader:
    stream = reader.streams.video[0]
    frames = [f.to_ndarray(format="rgb24").astype(np.float32) for f in reader.decode(stream)]
    assert stream.average_rate == 12
  z = np.stack([np.random.RandomState(s).randn(8) for s in range(3)])
  untransformed = stylegan2.generate(clip_config, state, z)
  want = [
    samples.tile(samples.as_grid(stylegan3.transformed(clip_config, state, z, t)))
    for t in video.transform_path(kind, 6, clip_config.sample.video_shift)
  ]
  np.testing.assert_array_equal(want[0], samples.tile(samples.as_grid(untransformed)))
  assert len(frames) == 6 and frames[0].shape == want[0].shape == (3 * 18 + 2, 18 + 2, 3)
  # Each frame is nearest its own transform's grid (the codec loses about 2 levels of 255 on
  # these 16-pixel cells), and the grids differ frame to frame.
  error = np.array([[np.abs(f - w).mean() for w in want] for f in frames])
  print(kind, "frame vs each transform's grid", np.round(error, 2).tolist())
  np.testing.assert_array_equal(np.argmin(error, axis=1), np.arange(6))
  assert all(
    np.abs(a.astype(float) - b).mean() > 1 for a, b in zip(want[:-1], want[1:], strict=True)
  )


@pytest.mark.parametrize(
  "net, margins", [("t", {"eq_t": 15, "eq_t_frac": 10}), ("r", {"eq_r": 15})]
)
def test_eval_scores_equivariance_and_a_random_generator_has_it_by_construction(net, margins):
  """--mode=eval's EQ-T (evaluators.equivariance) of a random SG3-T and EQ-R of a random SG3-R
  (1x1 convs, radial filters: built for rotation): each far higher than the same generator with
  its input transform ignored scores, as alias-free layers give by construction."""
  from gan_jax import evaluators  # noqa: PLC0415

  config = _config(f"model.config={net}", "eval.num_samples=8", "eval.batch_size=4")
  batch = {"image": jnp.zeros((config.batch_size, 16, 16, 3), jnp.uint8)}
  state = stylegan2.create_state(config, jax.random.key(0), batch)
  scores = evaluators.equivariance(config, stylegan3.FAMILY, state)
  fixed = evaluators.equivariance(config, stylegan3.transform_ignored(stylegan3.FAMILY), state)
  print(net, scores, "transform ignored", fixed)
  for name, margin in margins.items():
    assert scores[name] > fixed[name] + margin, name
