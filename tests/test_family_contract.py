"""The family contract (families/base.py), named steps on a schedule and frozen nets, in process:
every registered family, DualGAN's n_critic schedule, and the test-only toy family."""

import dataclasses
import json

import jax
import numpy as np
import pytest

from gan_jax import checkpoint, run, train
from gan_jax import config as config_lib
from gan_jax.errors import ConfigError
from gan_jax.families import FAMILIES, base, get_family
from tests import toy_family
from tests.conftest import ROOT

TINY = {name: f"configs/{name}.py:tiny" for name in FAMILIES}
TOY = "tests/toy_family.py:tiny"


def _config(spec, *overrides):
  return config_lib.load_config(str(ROOT / spec), list(overrides))


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_registered_family_keeps_the_contract(name):
  family = get_family(name)
  assert family.name == name
  assert base.check(family) == []
  assert base.check_steps(family, _config(TINY[name])) == []


@pytest.mark.parametrize(
  "broken,problem",
  [
    ({"stride_multiple": None}, "translates but gives no stride_multiple"),
    ({"translate": None}, "neither or both of generate"),
    ({"generate": lambda *a: None}, "neither or both of generate"),
    ({"layout": "triplets"}, "layout 'triplets' is not one of unconditional, labelled"),
    ({"sample_images": None}, "sample_images is not callable"),
    ({"schedule": None}, "schedule is not callable"),
  ],
)
def test_a_missing_piece_breaks_the_contract(broken, problem):
  family = dataclasses.replace(get_family("cyclegan"), **broken)
  problems = base.check(family)
  assert any(problem in p for p in problems), problems


def test_a_schedule_that_does_not_match_the_steps_is_caught():
  config = _config(TOY)
  toy = toy_family.FAMILY
  assert base.check_steps(toy, config) == []
  two = dataclasses.replace(
    toy, steps=lambda c: {k: v for k, v in toy.steps(c).items() if k != "g_reg"}
  )
  assert any("names 'g_reg' at iteration 0" in p for p in base.check_steps(two, config))
  main_only = dataclasses.replace(toy, schedule=lambda c, s: (base.MAIN,))
  assert "step 'd_reg' is never scheduled" in base.check_steps(main_only, config)
  nothing = dataclasses.replace(toy, schedule=lambda c, s: ())
  assert "schedule runs no step at iteration 0" in base.check_steps(nothing, config)


def test_a_family_module_is_found_by_its_path_and_checked():
  assert get_family("tests.toy_family") is toy_family.FAMILY
  with pytest.raises(ConfigError, match="'tests.conftest' breaks the family contract: its module"):
    get_family("tests.conftest")
  with pytest.raises(ConfigError, match="'tests.nothing_here': cannot import it"):
    get_family("tests.nothing_here")
  with pytest.raises(ConfigError, match="unknown config.family 'gan9'; families: dcgan"):
    get_family("gan9")


def test_dualgan_n_critic_is_a_schedule_with_no_discarded_g_update(tfds_data_dir):
  """n_critic 2: iteration 0 runs `main` (critic, then G), iteration 1 `critic` alone: G's params
  stay as they were, D's move. With n_critic 1 only `main` is compiled."""
  assert list(get_family("dualgan").steps(_config(TINY["dualgan"]))) == ["main"]
  config = _config(  # weight clipping: no gradient penalty, so the steps compile in seconds
    TINY["dualgan"], "optim.n_critic=2", "loss.adversarial=wgan", f"data.data_dir={tfds_data_dir}"
  )
  setup = run.RunSetup(config)
  steps = setup.jit_steps()
  assert sorted(steps) == ["critic", "main"]
  assert [setup.family.schedule(config, i) for i in range(4)] == [("main",), ("critic",)] * 2
  rng = np.random.RandomState(0)
  batch = {k: rng.randint(0, 256, v.shape, np.uint8) for k, v in setup.batch_spec.items()}
  state = setup.init_state(0)
  g0 = jax.device_get(state.g.params)
  state, m0 = setup.run_iteration(steps, state, batch, 0)
  g1, d1 = jax.device_get((state.g.params, state.d.params))
  state, m1 = setup.run_iteration(steps, state, batch, 1)
  g2, d2 = jax.device_get((state.g.params, state.d.params))
  assert int(state.step) == 2
  assert "g_loss" in m0 and "g_loss" not in m1 and "d_loss" in m1
  changed = lambda a, b: max(
    float(np.max(np.abs(x - y))) for x, y in zip(*map(jax.tree.leaves, (a, b)), strict=True)
  )
  assert changed(g0, g1) > 0 and changed(g1, g2) == 0 and changed(d1, d2) > 0


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory, tfds_data_dir):
  """The toy family trained in this process for 13 iterations (checkpoints at 10 and 13)."""
  config = _config(
    TOY,
    f"data.data_dir={tfds_data_dir}",
    "total_steps=13",
    "checkpoint_every=10",
    "sample_every=0",
  )
  workdir = tmp_path_factory.mktemp("toy") / "run"
  toy_family.TRACES.clear()
  train.train_and_evaluate(config, workdir)
  return config, workdir, dict(toy_family.TRACES)


def test_each_named_step_is_compiled_once_and_run_on_its_schedule(toy_run):
  config, workdir, traces = toy_run
  assert traces == {"main": 1, "d_reg": 1, "g_reg": 1}  # 13 iterations, no retrace
  rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in rows] == list(range(1, 14))
  # Iteration i (logged as step i + 1) runs g_reg when i % 3 == 0 and d_reg when i % 4 == 0.
  assert [r["step"] for r in rows if "g_reg" in r] == [1, 4, 7, 10, 13]
  assert [r["step"] for r in rows if "r1" in r] == [1, 5, 9, 13]
  assert all("feature_loss" in r and np.isfinite(r["g_loss"]) for r in rows)


def _saved_arrays(step_dir) -> dict[str, tuple]:
  """{tree path: shape} of every array a checkpoint's state item holds, from Orbax's metadata."""
  tree = json.loads((step_dir / "state" / "_METADATA").read_text())["tree_metadata"]
  values = {path: m["value_metadata"] for path, m in tree.items()}
  return {path: tuple(v["write_shape"]) for path, v in values.items() if "write_shape" in v}


def test_a_checkpoint_holds_no_frozen_weights(toy_run):
  config, workdir, _ = toy_run
  setup = run.RunSetup(config)
  frozen_shapes = {x.shape for x in jax.tree.leaves(setup.frozen)}
  assert (5, 5, 3, toy_family.FROZEN_FEATURES) in frozen_shapes  # a shape no trained net has
  for step in ("10", "13"):
    saved = _saved_arrays(workdir / "checkpoints" / step)
    assert any("'g', 'params'" in path for path in saved)  # the metadata is read right
    assert not frozen_shapes & set(saved.values())
    assert not any("features" in path for path in saved)
    stored = [checkpoint.stored_shape_dtype(x)[0] for x in jax.tree.leaves(setup.abstract_state)]
    state_size = sum(int(np.prod(shape)) for shape in stored)
    assert sum(int(np.prod(shape)) for shape in saved.values()) == state_size


def test_frozen_nets_are_replicated_and_stay_as_built(toy_run):
  config, _, _ = toy_run
  setup = run.RunSetup(config)
  steps = setup.jit_steps()
  batch = {k: np.zeros(v.shape, v.dtype) for k, v in setup.batch_spec.items()}
  state = setup.init_state(0)
  for i in range(2):
    state, metrics = setup.run_iteration(steps, state, batch, i)
  leaves = jax.tree.leaves(setup.frozen)
  assert all(not x.is_deleted() and x.sharding.is_fully_replicated for x in leaves)
  expected = jax.tree.leaves(toy_family.frozen(config))
  for x, y in zip(leaves, expected, strict=True):
    np.testing.assert_array_equal(x, y)
  assert float(metrics["feature_loss"]) > 0
