"""Conditional StyleGAN2 (config.model.num_classes): labels from the labelled layout, one-hot into
G's mapping and D's projection, generated labels drawn from the data's, a grid row per class,
--mode=sample's class option, and an exact resume."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from gan_jax import config as config_lib
from gan_jax import run, samples, train
from gan_jax.errors import ConfigError, DataError, UserError
from gan_jax.families import stylegan2
from tests.conftest import ROOT

CLASSES = 5  # the embedded shapes' `shape` feature: circle, square, triangle, cross, star
CONDITIONAL = ("data.label_key=shape", f"model.num_classes={CLASSES}", "optim.batch_gpu=2")


def _config(data_dir, *overrides):
  return config_lib.load_config(
    str(ROOT / "configs/stylegan2.py:tiny"),
    [f"data.data_dir={data_dir}", *CONDITIONAL, *overrides],
  )


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tfds_data_dir):
  """3 iterations of a conditional :tiny run (every phase at 0 and 2, two accumulation rounds)."""
  config = _config(tfds_data_dir, "total_steps=3")
  workdir = tmp_path_factory.mktemp("sg2c") / "run"
  scalars = train.train_and_evaluate(config, workdir)
  setup, state, step = run.restore_newest(config, workdir)
  return config, scalars, setup, jax.device_get(state), step, workdir


def test_conditional_runs_on_the_labelled_layout_and_trains_d_projection(trained):
  config, scalars, setup, state, step, workdir = trained
  assert stylegan2.FAMILY.data_layout(config) == "labelled"
  assert setup.batch_spec["label"].shape == (config.batch_size,)
  assert step == 3 and all(np.isfinite(scalars[k]) for k in ("g_loss", "d_loss", "r1_penalty"))
  init = jax.device_get(setup.init_state(config.seed))
  # G's label embedding and D's label mapping (the projection's cmap) learned from the labels of
  # the data, not one class: the embed weight's row of each class in the batches moved.
  for trained_net, init_net in ((state.g.params, init.g.params), (state.d.params, init.d.params)):
    after, before = (net["mapping"]["embed"]["weight"] for net in (trained_net, init_net))
    assert after.shape[0] == CLASSES
    moved = np.abs(after - before).max(axis=1) > 0
    assert moved.sum() >= 3, (trained_net is state.g.params and "G" or "D", moved)
  # D's logits of the same images differ with the label it is told
  _, d, _ = stylegan2._nets(config)
  images = jax.random.uniform(jax.random.key(1), (4, 16, 16, 3), minval=-1, maxval=1)
  logits = [
    d.apply({"params": state.d.params}, images, stylegan2.one_hot(config, jnp.full((4,), k)))
    for k in (0, 3)
  ]
  assert float(jnp.max(jnp.abs(logits[0] - logits[1]))) > 1e-4


def test_the_generator_output_depends_on_the_label(trained):
  config, _, _, state, _, _ = trained
  z = jax.random.normal(jax.random.key(2), (3, config.model.z_dim))
  a = stylegan2._generate(config, state, z, jnp.zeros((3,), jnp.int32))
  b = stylegan2._generate(config, state, z, jnp.full((3,), 4, jnp.int32))
  assert float(jnp.max(jnp.abs(a - b))) > 1e-3
  c = stylegan2._generate(config, state, z, jnp.zeros((3,), jnp.int32))
  np.testing.assert_array_equal(a, c)


def test_labels_are_one_hot_and_generated_labels_come_from_the_batch():
  config = _config("unused")
  np.testing.assert_array_equal(
    stylegan2.one_hot(config, jnp.array([2, 0])), np.eye(CLASSES, dtype=np.float32)[[2, 0]]
  )
  batch = {"image": jnp.zeros((4, 16, 16, 3), jnp.uint8), "label": jnp.array([3, 3, 1, 1])}
  drawn = np.concatenate(
    [stylegan2._generated_labels(config, batch, jax.random.key(k), 8) for k in range(8)]
  )
  assert set(drawn.tolist()) == {1, 3}  # the batch's labels only, both of them
  assert 0.3 < np.mean(drawn == 3) < 0.7


def test_a_run_stopped_and_resumed_ends_bitwise_where_the_straight_run_does(trained, tmp_path):
  config, _, _, straight, _, _ = trained
  workdir = tmp_path / "run"
  train.train_and_evaluate(_config(config.data.data_dir, "total_steps=1"), workdir)
  train.train_and_evaluate(config, workdir)
  _, resumed, step = run.restore_newest(config, workdir)
  assert step == 3
  for x, y in zip(jax.tree.leaves(straight), jax.tree.leaves(jax.device_get(resumed)), strict=True):
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      x, y = jax.random.key_data(x), jax.random.key_data(y)
    np.testing.assert_array_equal(x, y)


def test_sample_grid_has_a_row_per_class_and_seeds_take_the_class_option(trained):
  config, _, _, state, _, workdir = trained
  from gan_jax import sample  # noqa: PLC0415

  assert (workdir / "samples" / "step_0000002.png").is_file()
  z = jnp.asarray(np.random.RandomState(0).randn(8, config.model.z_dim))
  grid = stylegan2.sample_images(config, state, z)
  assert grid.shape[:2] == (CLASSES, 1)  # sample.num 4 < 5 classes: one column
  np.testing.assert_allclose(
    grid[3, 0], stylegan2._generate(config, state, z[:1], jnp.array([3]))[0], atol=1e-6
  )
  out = sample.sample(
    _config(config.data.data_dir, "sample.seeds=7", "sample.class_idx=2"), workdir
  )
  assert out.name.endswith("_class2")
  z7 = np.random.RandomState(7).randn(1, config.model.z_dim)  # NVlabs' generate.py latents
  want = stylegan2._generate(config, state, jnp.asarray(z7), jnp.array([2]))
  np.testing.assert_array_equal(
    np.asarray(Image.open(out / "seed0007.png")), samples.to_uint8(np.asarray(want))[0]
  )
  with pytest.raises(UserError, match="conditional on 5 classes; seeds and mixing grids need one"):
    sample.sample(_config(config.data.data_dir, "sample.seeds=7"), workdir)
  with pytest.raises(ConfigError, match="class_idx=5: the generator has classes 0-4"):
    sample.sample(_config(config.data.data_dir, "sample.seeds=7", "sample.class_idx=5"), workdir)


def test_bad_class_settings_are_named(tmp_path, tfds_data_dir):
  from gan_jax import sample  # noqa: PLC0415

  plain = config_lib.load_config(str(ROOT / "configs/stylegan2.py:tiny"), ["sample.class_idx=1"])
  with pytest.raises(UserError, match="class_idx=1: this stylegan2 is unconditional"):
    sample.sample(plain, tmp_path / "run")
  with pytest.raises(ConfigError, match="class_idx must be a class index or -1"):
    run.validate(_config(tfds_data_dir, "sample.class_idx=-2"))
  with pytest.raises(ConfigError, match="num_classes must be >= 0"):
    run.validate(_config(tfds_data_dir, "model.num_classes=-1"))
  no_labels = _config(tfds_data_dir, "data.label_key=label")
  with pytest.raises(DataError, match="label_key='label' is not a feature of this dataset"):
    train.train_and_evaluate(no_labels, tmp_path / "bad")
  fewer = _config(tfds_data_dir, "model.num_classes=4")  # `shape` has 5: label 4 has no class
  with pytest.raises(DataError, match="label_key='shape' has 5 classes and the model takes 4"):
    train.train_and_evaluate(fewer, tmp_path / "fewer")
  assert not (tmp_path / "fewer" / "checkpoints").exists() or not any(
    (tmp_path / "fewer" / "checkpoints").iterdir()
  )


def test_projection_maps_w_of_the_chosen_class_and_needs_one(trained, tmp_path):
  from gan_jax import project  # noqa: PLC0415

  config, _, _, state, _, workdir = trained
  target = tmp_path / "target.png"
  Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(target)
  quick = _config(config.data.data_dir, "project.w_avg_samples=200")
  with pytest.raises(UserError, match="conditional on 5 classes; --mode=project needs one"):
    project.project_mode(quick, workdir, str(target))
  w_space = stylegan2.FAMILY.w_space
  means = [project.w_stats(quick, w_space, state, np.full((200,), k, np.int32))[0] for k in (0, 4)]
  assert np.abs(means[0] - means[1]).max() > 1e-3  # w's start depends on the class
