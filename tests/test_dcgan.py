"""DCGAN nets and the GAN family's step, for every adversarial loss."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import config as config_lib
from gan_jax import run
from gan_jax.families import dcgan
from gan_jax.nets import dcgan as nets
from tests.conftest import ROOT


def _count(params):
  return sum(x.size for x in jax.tree.leaves(params))


def test_parameter_counts_equal_the_reference_nets():
  # The reference PyTorch DCGAN at 64 px (nz=100, ngf=ndf=64, nc=3, bias-free convs, batch norm):
  # G = 100*512*16 + 512*256*16 + 256*128*16 + 128*64*16 + 64*3*16 (convs) + 2*(512+256+128+64) (BN)
  #   = 3,576,704;  D = 3*64*16 + 64*128*16 + 128*256*16 + 256*512*16 + 512*16 + 2*(128+256+512)
  #   = 2,765,568.
  g = jax.eval_shape(nets.Generator(64, 64).init, jax.random.key(0), jnp.zeros((2, 100)))
  d = jax.eval_shape(nets.Discriminator(64, 64).init, jax.random.key(0), jnp.zeros((2, 64, 64, 3)))
  assert _count(g["params"]) == 3_576_704
  assert _count(d["params"]) == 2_765_568


@pytest.mark.parametrize("size", [32, 64, 128])
def test_shapes_at_every_resolution(size):
  z = jnp.zeros((3, 8))
  g, d = nets.Generator(size, 4), nets.Discriminator(size, 4)
  g_vars = jax.eval_shape(g.init, jax.random.key(1), z)
  images = jax.eval_shape(lambda v: g.apply(v, z, mutable=["batch_stats"])[0], g_vars)
  assert images.shape == (3, size, size, 3)
  d_vars = jax.eval_shape(d.init, jax.random.key(2), images)
  logits = jax.eval_shape(lambda v, x: d.apply(v, x, mutable=["batch_stats"])[0], d_vars, images)
  assert logits.shape == (3,)


def test_init_follows_radford():
  g = jax.jit(nets.Generator(32, 16).init)(jax.random.key(0), jnp.zeros((2, 100)))["params"]
  kernel = np.asarray(g["UpConv_0"]["kernel"])
  assert abs(kernel.std() - 0.02) < 0.002 and abs(kernel.mean()) < 0.002
  scale = np.asarray(g["BatchNorm_0"]["scale"])
  assert abs(scale.mean() - 1.0) < 0.01 and 0.01 < scale.std() < 0.03


@pytest.mark.parametrize(
  "loss,d_norm",
  [
    ("non_saturating", "batch"),
    ("minimax", "batch"),
    ("lsgan", "none"),
    ("hinge", "batch"),
    ("wgan-gp", "layer"),
  ],
)
def test_every_loss_trains_a_few_finite_steps(loss, d_norm):
  config = config_lib.load_config(
    str(ROOT / "configs/dcgan.py") + ":tiny", [f"loss.adversarial={loss}", f"model.d_norm={d_norm}"]
  )
  dcgan.validate_config(config)
  images = jax.random.randint(jax.random.key(0), (8, 32, 32, 3), 0, 256).astype(jnp.uint8)
  batch = {"image": images}
  setup = run.RunSetup(config)
  # Made as a run makes it, placed as the steps return it: the step compiles once, not once for
  # a fresh state's placement and again for its own outputs'.
  state = setup.init_state(0)
  steps = setup.jit_steps()
  before = jax.device_get(state.g.params)  # the steps donate the state
  for i in range(3):
    state, metrics = setup.run_iteration(steps, state, batch, i)
  assert int(state.step) == 3
  assert all(np.isfinite(float(v)) for v in metrics.values()), metrics
  assert ("gradient_penalty" in metrics) == (loss == "wgan-gp")
  after = jax.device_get(state.g.params)
  moved = jax.tree.map(lambda a, b: float(np.max(np.abs(a - b))), before, after)
  assert min(jax.tree.leaves(moved)) > 0  # every generator param gets a gradient


def test_generate_is_deterministic_in_z():
  config = config_lib.load_config(str(ROOT / "configs/dcgan.py") + ":tiny")
  create = functools.partial(
    dcgan.create_state, config, example_batch={"image": jnp.zeros((8, 32, 32, 3))}
  )
  state = jax.jit(create)(jax.random.key(0))
  z = dcgan.sample_inputs(config, jax.random.key(3), None)
  generate = jax.jit(functools.partial(dcgan.generate, config))
  a = generate(state, z)
  assert float(jnp.max(jnp.abs(a))) <= 1.0
  np.testing.assert_array_equal(a, generate(state, z))
  grid = jax.jit(functools.partial(dcgan.sample_images, config))(state, z)
  assert grid.shape == (4, 4, 32, 32, 3)  # sample.num = 16 of :tiny, as a square grid
  np.testing.assert_array_equal(grid.reshape(a.shape), a)
