"""The StyleGAN2 family: the reference's phase schedule, its auto rules, lazy-regularization Adam,
the G EMA, w_avg tracking, and a :tiny run through the loop."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from PIL import Image

from gan_jax import config as config_lib
from gan_jax import run, samples, train
from gan_jax.errors import ConfigError, UserError
from gan_jax.families import stylegan2
from tests.conftest import ROOT

FAST_ADA = ("aug.interval=1", "aug.kimg=0.1", "optim.batch_gpu=2")


def _config(*overrides, preset="tiny"):
  return config_lib.load_config(str(ROOT / f"configs/stylegan2.py:{preset}"), list(overrides))


def test_the_phases_run_in_the_reference_order_and_intervals():
  config = _config("loss.g_reg_interval=4", "loss.d_reg_interval=16")
  names = [stylegan2.schedule(config, step) for step in range(33)]
  assert names[0] == ("g_main", "g_reg", "d_main", "d_reg")
  assert names[4] == ("g_main", "g_reg", "d_main") and names[16] == names[0]
  assert names[1] == names[2] == names[3] == ("g_main", "d_main")
  assert sum("g_reg" in n for n in names) == 9 and sum("d_reg" in n for n in names) == 3
  off = _config("loss.g_reg_interval=0", "loss.r1_gamma=0")
  assert set(stylegan2.steps(off)) == {"g_main", "d_main"}
  assert stylegan2.schedule(off, 0) == ("g_main", "d_main")


def test_auto_rules_follow_the_reference():
  config = _config(preset="auto")  # 256 px, batch 16
  assert stylegan2.r1_gamma(config) == pytest.approx(0.0002 * 256**2 / 16)
  assert float(stylegan2.ema_beta(config, 0)) == 0.0  # no images seen: the EMA is G itself
  # ramp-up: half-life min(5 kimg, 0.05 x 160 images) = 8 images
  assert float(stylegan2.ema_beta(config, 10)) == pytest.approx(0.5 ** (16 / 8))
  # past the ramp-up: half-life batch * 10 / 32 kimg = 5,000 images
  assert float(stylegan2.ema_beta(config, 10**6)) == pytest.approx(0.5 ** (16 / 5000))
  assert stylegan2.r1_gamma(_config("loss.r1_gamma=10", preset="auto")) == 10.0


def test_named_presets_follow_the_reference_specs():
  # train.py cfg_specs: (res, mb, mbstd, fmaps -> channel_base, lrate, gamma, ema, ramp, map)
  specs = {
    "stylegan2": (1024, 32, 4, 32768, 0.002, 10.0, 10.0, 0.0, 8),
    "paper256": (256, 64, 8, 16384, 0.0025, 1.0, 20.0, 0.0, 8),
    "cifar": (32, 64, 32, 32768, 0.0025, 0.01, 500.0, 0.05, 2),
  }
  for preset, spec in specs.items():
    c = _config(preset=preset)
    m, o = c.model, c.optim
    got = (c.image_size, c.batch_size, m.mbstd_group, m.channel_base, o.lr, c.loss.r1_gamma)
    got += (o.ema_kimg, o.ema_rampup, m.mapping_layers)
    assert got == spec, preset
    assert (m.num_fp16_res, m.conv_clamp, m.channel_max) == (4, 256.0, 512)
    run.validate(c)
  cifar = _config(preset="cifar")  # --cfg=cifar also drops path length, mixing and D's skips
  assert cifar.total_steps == 100_000_000 // 64  # --kimg=100000
  assert set(stylegan2.steps(cifar)) == {"g_main", "d_main", "d_reg"}
  assert cifar.loss.style_mixing == 0 and stylegan2._nets(cifar)[1].architecture == "orig"
  assert _config(preset="paper256").total_steps == 25_000_000 // 64


def test_lazy_regularization_runs_adam_at_lr_and_betas_to_the_interval_ratio():
  config = _config("optim.lr=0.01", "optim.b1=0.5", "optim.b2=0.99")
  tx = stylegan2._adam(config, 4)
  ratio = 4 / 5
  want = optax.adam(0.01 * ratio, 0.5**ratio, 0.99**ratio, 1e-8)
  params = {"w": jnp.array([1.0, -2.0])}
  grads = [{"w": jnp.array([0.3, -1.0])}, {"w": jnp.array([-0.2, 0.5])}]
  got_state, want_state = tx.init(params), want.init(params)
  for g in grads:
    got, got_state = tx.update(g, got_state)
    expected, want_state = want.update(g, want_state)
    np.testing.assert_allclose(got["w"], expected["w"], rtol=1e-6)
  plain = optax.adam(0.01, 0.5, 0.99, 1e-8)
  assert not np.allclose(plain.update(grads[0], plain.init(params))[0]["w"], got["w"])


def test_ada_p_climbs_on_a_d_that_always_says_real_and_falls_on_one_that_never_does():
  config = _config("batch_size=8", "aug.kimg=2", "aug.interval=4")  # p steps 8 * 4 / 2000
  ada = stylegan2.ada_lib.init(config)
  real, fake = jnp.ones((8,)), -jnp.ones((8,))
  ps = []
  for step in range(12):  # g_main of step t + 1 moves p after iterations 0, 4, 8
    ada = stylegan2.ada_lib.adjust(config, ada, step - 1)
    ada = stylegan2.ada_lib.accumulate(config, ada, real)
    ps.append(float(ada.p))
  step_size = 8 * 4 / 2000
  assert ps[0] == 0.0 and ps[1] == ps[4] == pytest.approx(step_size)
  assert ps[5] == ps[8] == pytest.approx(2 * step_size) and ps[9] == pytest.approx(3 * step_size)
  for step in range(12, 40):  # a D that says fake for every real: p falls to 0 and stays there
    ada = stylegan2.ada_lib.adjust(config, ada, step - 1)
    ada = stylegan2.ada_lib.accumulate(config, ada, fake)
  assert float(ada.p) == 0.0
  fixed = _config("aug.mode=fixed", "aug.p=0.3")
  ada = stylegan2.ada_lib.accumulate(fixed, stylegan2.ada_lib.init(fixed), real)
  assert float(stylegan2.ada_lib.adjust(fixed, ada, 0).p) == pytest.approx(0.3)


def test_accumulation_rounds_average_the_chunks_gradients_and_thread_the_carry_in_order():
  config = _config("batch_size=6", "optim.batch_gpu=2", "model.mbstd_group=2")  # 3 rounds
  x = jnp.arange(6.0)[:, None] * jnp.ones((6, 3))
  params = {"w": jnp.asarray([0.5, -1.0, 2.0])}
  keys = jax.random.split(jax.random.key(1), 2)

  def loss_fn(params, carry, chunk):
    drawn = jax.random.uniform(chunk["keys"][0])
    loss = jnp.mean(jnp.sum(params["w"] * chunk["x"] ** 2, axis=1)) * drawn
    return loss, (carry * 10 + chunk["x"][0, 0], {"drawn": drawn})

  loss, carry, metrics, grads = stylegan2.accumulate(config, loss_fn, params, 0.0, {"x": x}, keys)
  assert float(carry) == 24.0  # the rounds' first samples 0, 2, 4, in that order
  want_loss, want_grads, drawn = 0.0, 0.0, []
  for r in range(3):
    round_keys = jnp.stack([jax.random.fold_in(k, r) for k in keys])
    chunk = {"x": x[2 * r : 2 * r + 2], "keys": round_keys}
    (value, (_, m)), g = jax.value_and_grad(loss_fn, has_aux=True)(params, 0.0, chunk)
    want_loss, want_grads = want_loss + value / 3, want_grads + g["w"] / 3
    drawn.append(float(m["drawn"]))
  assert len(set(drawn)) == 3  # every round draws its own numbers
  np.testing.assert_allclose(float(loss), float(want_loss), rtol=1e-6)
  np.testing.assert_allclose(grads["w"], want_grads, rtol=1e-6)
  np.testing.assert_allclose(float(metrics["drawn"]), np.mean(drawn), rtol=1e-6)
  one = _config("batch_size=6", "model.mbstd_group=2")  # batch_gpu 0: one round, the keys as given
  _, carry, metrics, _ = stylegan2.accumulate(one, loss_fn, params, 0.0, {"x": x}, keys)
  assert float(carry) == 0.0 and float(metrics["drawn"]) == float(jax.random.uniform(keys[0]))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tfds_data_dir):
  """A :tiny run of 3 iterations (every phase runs at 0 and 2) through the loop, ADA's p due to
  move after every iteration (by 4 / 100), each phase in two accumulation rounds."""
  config = _config(f"data.data_dir={tfds_data_dir}", "total_steps=3", *FAST_ADA)
  workdir = tmp_path_factory.mktemp("sg2") / "run"
  scalars = train.train_and_evaluate(config, workdir)
  setup, state, step = run.restore_newest(config, workdir)
  return config, scalars, jax.device_get(state), step, workdir


def test_a_tiny_run_trains_every_phase_and_saves_ema_w_avg_and_pl_mean(trained):
  config, scalars, state, step, workdir = trained
  assert step == 3
  for key in ("g_loss", "d_loss", "pl_penalty", "r1_penalty", "pl_mean"):
    assert np.isfinite(scalars[key]), key
  assert float(state.pl_mean) > 0  # moved from 0 by two g_reg phases
  w_avg = state.g.batch_stats["stats"]["mapping"]["w_avg"]
  assert float(np.abs(w_avg).max()) > 0  # every G forward in training moves it
  np.testing.assert_array_equal(w_avg, state.g_ema.batch_stats["stats"]["mapping"]["w_avg"])
  g, ema = jax.tree.leaves(state.g.params), jax.tree.leaves(state.g_ema.params)
  assert any(not np.allclose(a, b) for a, b in zip(g, ema, strict=True))  # the EMA lags G
  assert (workdir / "samples" / "step_0000002.png").is_file()


def test_a_run_stopped_and_resumed_ends_bitwise_where_the_straight_run_does(trained, tmp_path):
  """Resume restores G, its EMA and w_avg, D, both optimizers, the path-length mean, ADA's p and
  sign sums, and the RNG: 1 iteration, then 2 more in a new run, equals 3 straight."""
  config, _, straight, _, _ = trained
  workdir = tmp_path / "run"
  train.train_and_evaluate(
    _config(f"data.data_dir={config.data.data_dir}", "total_steps=1", *FAST_ADA), workdir
  )
  train.train_and_evaluate(config, workdir)
  _, resumed, step = run.restore_newest(config, workdir)
  assert step == 3 and float(straight.ada.count) == config.batch_size  # the last d_main's signs
  for x, y in zip(jax.tree.leaves(straight), jax.tree.leaves(jax.device_get(resumed)), strict=True):
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      x, y = jax.random.key_data(x), jax.random.key_data(y)
    np.testing.assert_array_equal(x, y)


def test_bad_values_are_named():
  with pytest.raises(ConfigError, match="power of two >= 8"):
    run.validate(_config("image_size=12"))
  with pytest.raises(ConfigError, match="multiple of config.model.mbstd_group=4"):
    run.validate(_config("batch_size=6", "model.mbstd_group=4"))
  with pytest.raises(ConfigError, match="pl_batch_shrink=2: the path-length batch"):
    run.validate(_config("batch_size=1", "model.mbstd_group=1"))
  with pytest.raises(ConfigError, match="unknown config.model.half_dtype"):
    run.validate(_config("model.half_dtype=float8"))
  with pytest.raises(ConfigError, match="not a multiple of config.optim.batch_gpu=3 x 1 devices"):
    run.validate(_config("optim.batch_gpu=3"))
  with pytest.raises(ConfigError, match="batch_gpu=1 must be a multiple of config.loss.pl_batch"):
    run.validate(_config("optim.batch_gpu=1"))
  with pytest.raises(ConfigError, match="aug.p=0.2 is for config.aug.mode=fixed only"):
    run.validate(_config("aug.p=0.2"))
  with pytest.raises(ConfigError, match="unknown config.aug.mode 'adaptive'"):
    run.validate(_config("aug.mode=adaptive"))


def test_sample_mode_draws_nvlabs_seeds_and_truncates(trained):
  config, _, state, _, workdir = trained
  from gan_jax import sample  # noqa: PLC0415

  seeds = config_lib.load_config(
    str(ROOT / "configs/stylegan2.py:tiny"),
    [f"data.data_dir={config.data.data_dir}", "sample.seeds=0-2,7"],
  )
  out = sample.sample(seeds, workdir)
  assert sorted(p.name for p in out.glob("seed*.png")) == [
    "seed0000.png",
    "seed0001.png",
    "seed0002.png",
    "seed0007.png",
  ]
  z7 = np.random.RandomState(7).randn(1, config.model.z_dim)  # as NVlabs' generate.py draws it
  want = samples.to_uint8(np.asarray(stylegan2.generate(config, state, jnp.asarray(z7))))[0]
  np.testing.assert_array_equal(np.asarray(Image.open(out / "seed0007.png")), want)
  # psi 0: every w is w_avg, and with the constant noise every seed gives one image
  seeds.sample.truncation_psi = 0.0
  out = sample.sample(seeds, workdir)
  assert out.name.endswith("_psi0")
  first = np.asarray(Image.open(out / "seed0000.png"))
  for name in ("seed0001.png", "seed0007.png"):
    np.testing.assert_array_equal(np.asarray(Image.open(out / name)), first)


def test_style_mixing_grid_takes_the_chosen_styles_from_the_column_seeds(trained):
  config, _, state, _, workdir = trained
  from gan_jax import sample  # noqa: PLC0415

  num_ws = stylegan2.nets.SynthesisNetwork(config.image_size, channel_base=64).num_ws
  read = lambda out, name: np.asarray(Image.open(out / name))  # noqa: E731
  mix = ["sample.mix_rows=1,2", "sample.mix_cols=3-5", f"data.data_dir={config.data.data_dir}"]
  every = _config(*mix, f"sample.mix_styles=0-{num_ws - 1}")
  out = sample.sample(every, workdir)
  assert len(list(out.glob("*.png"))) == 3 * 4 + 1  # the cells, the corner and grid.png
  assert not read(out, "corner.png").any()  # black
  z3 = np.random.RandomState(3).randn(1, config.model.z_dim)  # as NVlabs' scripts draw it
  want = samples.to_uint8(np.asarray(stylegan2.generate(config, state, jnp.asarray(z3))))[0]
  np.testing.assert_array_equal(read(out, "col0003.png"), want)
  np.testing.assert_array_equal(read(out, "row0001-col0003.png"), want)  # every style: column's
  coarse = sample.sample(_config(*mix, "sample.mix_styles=0-1"), workdir)
  cell = read(coarse, "row0002-col0004.png")
  assert not np.array_equal(cell, read(coarse, "row0002.png"))
  assert not np.array_equal(cell, read(coarse, "col0004.png"))
  with pytest.raises(ConfigError, match=f"a 16 px generator has styles 0-{num_ws - 1}"):
    run.validate(_config(*mix, "sample.mix_styles=0-99"))
  with pytest.raises(ConfigError, match="mix_rows and config.sample.mix_cols go together"):
    run.validate(_config("sample.mix_rows=1"))


def test_sample_options_a_family_cannot_use_are_refused(tmp_path):
  from gan_jax import sample  # noqa: PLC0415

  dcgan = config_lib.load_config(str(ROOT / "configs/dcgan.py:tiny"), ["sample.truncation_psi=0.5"])
  with pytest.raises(UserError, match="dcgan has no truncation"):
    sample.sample(dcgan, tmp_path / "run")
  pix2pix = config_lib.load_config(str(ROOT / "configs/pix2pix.py:tiny"), ["sample.seeds=1"])
  mixing = config_lib.load_config(
    str(ROOT / "configs/dcgan.py:tiny"), ["sample.mix_rows=1", "sample.mix_cols=2"]
  )
  with pytest.raises(UserError, match="dcgan has no style mixing"):
    sample.sample(mixing, tmp_path / "run")
  with pytest.raises(UserError, match="pix2pix translates; seeds are for generators"):
    sample.sample(pix2pix, tmp_path / "run")
  with pytest.raises(ConfigError, match="config.sample.seeds: '3-1' is not a number or a range"):
    run.validate(_config("sample.seeds=0,3-1"))
  assert not (tmp_path / "run").exists()
