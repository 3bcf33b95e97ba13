"""The U-GAT-IT family: one iteration against a direct computation of the reference's losses and
spectral-norm power iterations, rho clipping, the reference's Adam (coupled weight decay) and lr
decay, a :tiny run through the loop with exact resume, sample grids and translation both ways."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import AbstractMesh, PartitionSpec

from gan_jax import config as config_lib
from gan_jax import parallel, run, train
from gan_jax.data import layouts
from gan_jax.errors import ConfigError
from gan_jax.families import ugatit
from tests.conftest import ROOT


def _config(*overrides, preset="tiny"):
  return config_lib.load_config(str(ROOT / f"configs/ugatit.py:{preset}"), list(overrides))


def _leaves(tree):
  """Leaves with flattened paths, e.g. ('a2b', 'ada_0', 'norm1', 'rho')."""
  flat = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {tuple(getattr(k, "key", k) for k in path): np.asarray(x) for path, x in flat}


def test_the_lr_decays_as_the_reference_lowers_it():
  """UGATIT.py train: before 1-based iteration s > N // 2, lr -= lr0 / (N // 2)."""
  for config in (_config(), _config(preset="default")):
    n, lr0 = config.total_steps, config.optim.lr
    schedule = ugatit.learning_rate(config)
    lr, checks = lr0, {0, n // 2 - 1, n // 2, n // 2 + 1, 3 * n // 4, n - 2, n - 1}
    for s in range(1, n + 1):
      if s > n // 2:
        lr -= lr0 / (n // 2)
      if s - 1 in checks:
        assert float(schedule(s - 1)) == pytest.approx(lr, abs=1e-6 * lr0), s  # float32
    assert float(schedule(n - 1)) == 0.0


def test_adam_adds_the_weight_decay_to_the_gradient_as_torch_does():
  config = _config("optim.weight_decay=0.5", preset="default")  # lr constant at these steps
  tx = ugatit.optimizer(config)
  p = np.array([1.0, -2.0, 0.5], np.float32)
  grads = [np.array([0.3, -1.0, 0.0], np.float32), np.array([-0.2, 0.5, 0.1], np.float32)]
  params, state = {"w": jnp.asarray(p)}, tx.init({"w": jnp.asarray(p)})
  b1, b2, lr, wd = 0.5, 0.999, 1e-4, 0.5
  m = v = np.zeros(3)
  for t, g in enumerate(grads, 1):  # torch.optim.Adam with weight_decay
    g = g + wd * p
    m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
    p = p - lr / (1 - b1**t) * m / (np.sqrt(v) / np.sqrt(1 - b2**t) + 1e-8)
    updates, state = tx.update({"w": jnp.asarray(grads[t - 1])}, state, params)
    params = optax.apply_updates(params, updates)
    np.testing.assert_allclose(params["w"], p, rtol=1e-6)


def test_bad_values_are_named():
  with pytest.raises(ConfigError, match="global_layers=6 halves the image 4 times"):
    run.validate(_config("model.global_layers=6"))
  with pytest.raises(ConfigError, match="data.eval_size=30 is not a multiple of 4"):
    run.validate(_config("data.eval_size=30"))
  with pytest.raises(ConfigError, match="unknown config.model.ddof 2"):
    run.validate(_config("model.ddof=2"))
  with pytest.raises(ConfigError, match="config.loss.cam must be >= 0"):
    run.validate(_config("loss.cam=-1"))
  with pytest.raises(ConfigError, match="config.model_parallel must be an integer >= 1, got 0"):
    run.validate(_config("model_parallel=0"))
  with pytest.raises(ConfigError, match="config.model_parallel=2 does not divide the 1 devices"):
    run.RunSetup(_config("model_parallel=2"), jax.devices()[:1])
  dcgan = config_lib.load_config(str(ROOT / "configs/dcgan.py:tiny"), ["model_parallel=2"])
  with pytest.raises(ConfigError, match="family dcgan splits nothing over a model axis"):
    run.validate(dcgan)
  saved = config_lib.json_dict(_config())
  saved["model"]["remat"] = "yes"  # as a hand-edited config.json could hold it
  bad = config_lib.config_from_json(json.dumps(saved))
  with pytest.raises(ConfigError, match="config.model.remat must be True or False, got 'yes'"):
    run.validate(bad)
  assert ugatit.advice(_config()) == []
  assert "lr stops before it reaches 0" in ugatit.advice(_config("total_steps=2"))[0]


def _abstract_state(config):
  spec = layouts.batch_spec("unpaired", config.batch_size, config.image_size)
  return jax.eval_shape(lambda: ugatit.create_state(config, jax.random.key(0), spec))


def test_the_mlp_weight_and_its_adam_moments_split_over_the_model_axis():
  """config.model_parallel: the (H/4 W/4 4ngf) x 4ngf weight of both generators, and Adam's mu
  and nu of it, by output feature over `model`; with FSDP the other big leaves over `data`."""
  config = _config()
  abstract, rules = _abstract_state(config), ugatit.FAMILY.model_parallel_leaves(config)
  mesh = AbstractMesh((2, 4), (parallel.DATA_AXIS, parallel.MODEL_AXIS))

  def split(min_size):
    shardings = parallel.state_sharding(abstract, mesh, min_size, rules)
    flat = jax.tree_util.tree_flatten_with_path(shardings)[0]
    return {parallel._path_name(p): s.spec for p, s in flat if any(s.spec)}

  model_split = split(0)
  assert sorted(model_split) == [
    f"g/{where}/{g}/mlp_0/kernel"
    for where in ("opt_state/1/0/mu", "opt_state/1/0/nu", "params")
    for g in ("a2b", "b2a")
  ]
  assert set(model_split.values()) == {PartitionSpec(None, "model")}
  with_fsdp = split(1024)  # the MLP weight [8 * 8 * 16, 16] and the largest D kernels
  assert with_fsdp["g/params/a2b/mlp_0/kernel"] == PartitionSpec("data", "model")
  assert len(with_fsdp) > len(model_split)
  others = {k: v for k, v in with_fsdp.items() if k not in model_split}
  assert all(set(spec) == {None, "data"} for spec in others.values()), others
  odd = AbstractMesh((1, 3), (parallel.DATA_AXIS, parallel.MODEL_AXIS))
  with pytest.raises(
    ConfigError, match=r"model_parallel=3 does not divide axis 1 of .*mlp_0/kernel"
  ):
    parallel.state_sharding(abstract, odd, 0, rules)


def test_remat_recomputes_each_generator_application():
  """model.remat: the six G applications of a step each recomputed behind a barrier that waits
  for its cotangent (none without); that the numbers stay those of the step without it,
  tests/test_parallel.py checks on 8 devices."""
  config = _config()
  spec = layouts.batch_spec("unpaired", config.batch_size, config.image_size)

  def barriers(jaxpr):
    count = 0
    for eqn in jaxpr.eqns:
      count += eqn.primitive.name == "optimization_barrier"
      for sub in jax.extend.core.jaxprs_in_params(eqn.params):
        count += barriers(sub)
    return count

  for remat, count in ((False, 0), (True, 6)):
    config = _config(f"model.remat={remat}")
    step = lambda s, b, c=config: ugatit.train_step(c, s, b)  # noqa: E731
    jaxpr = jax.make_jaxpr(step)(_abstract_state(config), spec)
    assert barriers(jaxpr.jaxpr) == count


# ------------------------------------------------------------------------------------------------
# One iteration, as the reference computes it.


def _apply(module, params, stats, x):
  """A train-mode forward: (outputs, the spectral norms' stats after its power iteration)."""
  out, new = module.apply(
    {"params": params, "batch_stats": stats}, x, train=True, mutable=["batch_stats"]
  )
  return out, new["batch_stats"]


def _mse(x, target):
  return float(np.mean((np.asarray(x, np.float64) - target) ** 2))


def _bce(logits, target):
  z = np.asarray(logits, np.float64)
  return float(np.mean(np.maximum(z, 0) - z * target + np.log1p(np.exp(-np.abs(z)))))


def _l1(x, y):
  return float(np.mean(np.abs(np.asarray(x, np.float64) - np.asarray(y))))


@pytest.fixture(scope="module")
def one_step():
  """The loop's compiled step on random images: (config, state before, batch, state after,
  metrics)."""
  config = _config()
  setup = run.RunSetup(config)
  rng = np.random.RandomState(0)
  batch = {k: rng.randint(0, 256, v.shape, np.uint8) for k, v in setup.batch_spec.items()}
  before = jax.device_get(setup.init_state(0))
  after, metrics = setup.run_iteration(setup.compile_steps(), setup.init_state(0), batch, 0)
  return config, before, batch, jax.device_get(after), jax.device_get(metrics)


def test_one_iteration_is_the_reference_d_update_then_g_update(one_step):
  """UGATIT.py train: the D's see the current G's fakes, each D the real batch and then the fake
  one, each call a power iteration (train mode); G is judged by the updated D's, whose power
  iterations are kept. Losses as the reference writes them, in float64 numpy."""
  config, before, batch, after, metrics = one_step
  g_net, d_nets = ugatit._generator(config), ugatit._discriminators(config)
  real = {k: batch[f"image_{k}"].astype(np.float32) / 127.5 - 1 for k in "ab"}
  gen = lambda name, x: g_net.apply({"params": before.g.params[name]}, x)
  fake = {"b": gen("a2b", real["a"])[0], "a": gen("b2a", real["b"])[0]}

  stats, d_loss = dict(before.d.batch_stats), 0.0
  for name, module in d_nets.items():
    domain = name[-1]
    (real_logit, real_cam, _), stats[name] = _apply(
      module, before.d.params[name], stats[name], real[domain]
    )
    (fake_logit, fake_cam, _), stats[name] = _apply(
      module, before.d.params[name], stats[name], fake[domain]
    )
    term = _mse(real_logit, 1) + _mse(fake_logit, 0) + _mse(real_cam, 1) + _mse(fake_cam, 0)
    assert float(metrics[f"d_{name}"]) == pytest.approx(term, rel=1e-5), name
    d_loss += term
  assert float(metrics["d_loss"]) == pytest.approx(d_loss, rel=1e-5)

  g_loss = 0.0
  for g, back, source, target in (("a2b", "b2a", "a", "b"), ("b2a", "a2b", "b", "a")):
    x, cam_source, _ = gen(g, real[source])
    idt, cam_target, _ = gen(g, real[target])
    adversarial = 0.0
    for scale in ("global", "local"):
      name = f"{scale}_{target}"
      (logit, cam, _), stats[name] = _apply(
        d_nets[name], after.d.params[name], stats[name], fake[target]
      )
      adversarial += _mse(logit, 1) + _mse(cam, 1)
    terms = {
      f"g_adv_{g}": adversarial,
      f"cycle_{source}": 10 * _l1(gen(back, x)[0], real[source]),
      f"idt_{target}": 10 * _l1(idt, real[target]),
      f"cam_{g}": 1000 * (_bce(cam_source, 1) + _bce(cam_target, 0)),
    }
    for key, value in terms.items():
      assert float(metrics[key]) == pytest.approx(value, rel=1e-5), key
    g_loss += sum(terms.values())
  assert float(metrics["g_loss"]) == pytest.approx(g_loss, rel=1e-5)

  # Each D's u after its three power iterations this iteration (real, fake, fake again).
  got, want, start = _leaves(after.d.batch_stats), _leaves(stats), _leaves(before.d.batch_stats)
  for path in want:
    np.testing.assert_allclose(got[path], want[path], rtol=1e-5, atol=1e-6, err_msg=str(path))
  assert any(not np.allclose(got[p], start[p], atol=1e-4) for p in got if p[-1].endswith("/u"))


def test_rho_is_clipped_to_0_1_after_the_g_update(one_step):
  """ILN's rho starts at 0: Adam's first step moves each by about lr, up or down, and the ones
  that went down are clipped back to 0 (the reference's RhoClipper)."""
  config, before, _, after, _ = one_step
  rho = {p: x for p, x in _leaves(after.g.params).items() if p[-1] == "rho"}
  start = {p: x for p, x in _leaves(before.g.params).items() if p[-1] == "rho"}
  assert rho and all(x.min() >= 0 and x.max() <= 1 for x in rho.values())
  iln = np.concatenate([x for p, x in rho.items() if p[-2].endswith("_norm")])
  assert np.all(start[next(p for p in rho if p[-2].endswith("_norm"))] == 0)
  assert (iln == 0).any() and iln.max() == pytest.approx(config.optim.lr, rel=1e-2)
  ada = np.concatenate([x for p, x in rho.items() if not p[-2].endswith("_norm")])
  assert np.abs(ada - 0.9).max() == pytest.approx(config.optim.lr, rel=1e-2)  # moved, unclipped


def test_attention_maps_are_shown_jet_coloured_from_their_minimum_to_their_maximum():
  heatmap = jnp.array([3.0, 4.0, 5.0, 7.0]).reshape(1, 2, 2, 1)  # scaled: 0, 0.25, 0.5, 1
  colours = np.asarray(ugatit.heatmap_image(heatmap, (2, 2))).reshape(4, 3)
  want = [[0, 0, 0.5], [0, 0.5, 1], [0.5, 1, 0.5], [0.5, 0, 0]]  # dark blue .. dark red
  np.testing.assert_allclose(colours, np.array(want) * 2 - 1, atol=1e-6)
  assert np.asarray(ugatit.heatmap_image(heatmap, (8, 8))).shape == (1, 8, 8, 3)


# ------------------------------------------------------------------------------------------------
# Through the loop.


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tfds_data_dir):
  """A :tiny run of 3 iterations through the loop (samples and checkpoints at 2 and 3)."""
  config = _config(f"data.data_dir={tfds_data_dir}", "total_steps=3")
  workdir = tmp_path_factory.mktemp("ugatit") / "run"
  scalars = train.train_and_evaluate(config, workdir)
  _, state, step = run.restore_newest(config, workdir)
  return config, scalars, jax.device_get(state), step, workdir


def test_a_tiny_run_trains_and_samples_with_the_attention_maps(trained):
  config, scalars, state, step, workdir = trained
  assert step == 3
  for key in ("g_loss", "d_loss", "cam_a2b", "cam_b2a", "d_global_a", "d_local_b"):
    assert np.isfinite(scalars[key]), key
  assert (workdir / "samples" / "step_0000002.png").is_file()
  rng = np.random.RandomState(1)
  images = {k: rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32) for k in "ab"}
  grid = np.asarray(ugatit.sample_images(config, state, {**images, "rng": jax.random.key(0)}))
  assert grid.shape == (2, 8, 32, 32, 3)
  np.testing.assert_array_equal(grid[:, 0], images["a"])
  np.testing.assert_array_equal(grid[:, 4], images["b"])
  for col, g, source in ((1, "a2b", "a"), (5, "b2a", "b")):  # the attention maps, coloured
    heatmap = ugatit._apply_generator(config, state, g, images[source])[2]
    assert heatmap.shape == (2, 8, 8, 1)
    np.testing.assert_allclose(grid[:, col], ugatit.heatmap_image(heatmap, (32, 32)), atol=1e-6)
  a2b = np.asarray(ugatit.translate(config, state, images["a"], None, "AtoB"))
  np.testing.assert_allclose(grid[:, 2], a2b, atol=1e-6)
  b2a = np.asarray(ugatit.translate(config, state, images["b"], None, "BtoA"))
  np.testing.assert_allclose(grid[:, 6], b2a, atol=1e-6)
  assert not np.allclose(a2b, b2a)
  # The full model's MLP takes 32 px only: other sizes are resized to it and back.
  assert ugatit.translate(config, state, images["a"][:, :24, :28], None, "AtoB").shape == (
    2,
    24,
    28,
    3,
  )


def test_a_run_stopped_and_resumed_ends_bitwise_where_the_straight_run_does(trained, tmp_path):
  """Resume restores both G's, the four D's with their spectral norms' u, both optimizers and the
  RNG: 1 iteration, then 2 more in a new run, equals 3 straight."""
  config, _, straight, _, _ = trained
  workdir = tmp_path / "run"
  quiet = (f"data.data_dir={config.data.data_dir}", "sample_every=0")  # samples change nothing
  train.train_and_evaluate(_config(*quiet, "total_steps=1"), workdir)
  train.train_and_evaluate(_config(*quiet, "total_steps=3"), workdir)
  _, resumed, step = run.restore_newest(config, workdir)
  assert step == 3
  u = _leaves(straight.d.batch_stats)
  assert any(p[-1].endswith("/u") for p in u)  # the spectral norms' state is in the checkpoint
  for x, y in zip(jax.tree.leaves(straight), jax.tree.leaves(jax.device_get(resumed)), strict=True):
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      x, y = jax.random.key_data(x), jax.random.key_data(y)
    np.testing.assert_array_equal(x, y)
