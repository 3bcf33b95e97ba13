"""CycleGAN and DualGAN: nets as the references build them, the image pool, the steps' objectives,
end to end in both directions, exact resume with the pools, and eval without ground truth."""

import functools
import json
import re
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from gan_jax import checkpoint, evaluate, run, train, translate
from gan_jax import config as config_lib
from gan_jax.errors import ConfigError, UserError
from gan_jax.families import cyclegan, dualgan, image_pool
from gan_jax.nets import dualgan as dualgan_nets
from gan_jax.nets.resnet import ResnetGenerator
from tests._shared_runs import tiny_config
from tests.conftest import ROOT

pytest_plugins = ["tests.conftest_runs"]  # tiny_run: the session's finished :tiny runs

CONFIGS = {"cyclegan": "configs/cyclegan.py:tiny", "dualgan": "configs/dualgan.py:tiny"}


def reference_resnet_params(ngf, blocks, norm, in_c=3, out_c=3):
  """ResnetGenerator counted from its description: 7x7 conv (in_c -> ngf), two 3x3 stride-2 convs
  doubling the channels, `blocks` residual blocks of two 3x3 convs at 4ngf, two 3x3 transposed
  convs halving them, a 7x7 conv to out_c with a bias. The others have a bias only with instance
  norm, and each is followed by the norm (2 params per channel for batch norm, 0 for instance)."""
  bias, bn = norm == "instance", 2 if norm == "batch" else 0
  conv = lambda k, cin, cout: k * k * cin * cout + (cout if bias else 0) + bn * cout
  total = conv(7, in_c, ngf) + conv(3, ngf, 2 * ngf) + conv(3, 2 * ngf, 4 * ngf)
  total += blocks * 2 * conv(3, 4 * ngf, 4 * ngf)
  total += conv(3, 4 * ngf, 2 * ngf) + conv(3, 2 * ngf, ngf)
  return total + 49 * ngf * out_c + out_c


def reference_dualgan_params(num_downs, ngf, ndf, size, disc):
  """DualGAN's fcn and discriminator counted from model.py: every conv has a bias, every norm a
  scale and an offset. G: 5x5 conv to ngf, then 3x3 convs to ngf * min(2^i, 8), each normed; up:
  3x3 transposed convs back, normed, each input doubled by the skip except the innermost; a 5x5
  transposed conv to 3. D: 5x5 conv to ndf, four normed 3x3 convs (2, 4, 8, 8 ndf), then a 3x3 conv
  to 1 (patch) or a linear layer over the (size/32)^2 x 8ndf features (global)."""
  conv = lambda k, cin, cout, norm=True: k * k * cin * cout + cout + (2 * cout if norm else 0)
  c = [ngf * min(2**i, 8) for i in range(num_downs)]
  g = conv(5, 3, c[0], False) + sum(conv(3, c[i - 1], c[i]) for i in range(1, num_downs))
  for i in reversed(range(num_downs - 1)):
    g += conv(3, c[i + 1] if i == num_downs - 2 else 2 * c[i + 1], c[i])
  g += conv(5, 2 * c[0], 3, False)
  d, prev = conv(5, 3, ndf, False), ndf
  for mult in (2, 4, 8, 8):
    d, prev = d + conv(3, prev, ndf * mult), ndf * mult
  d += conv(3, prev, 1, False) if disc == "patch" else (size // 32) ** 2 * prev + 1
  return g, d


def _count(module, shape, rng=None):
  rngs = rng or {"params": jax.random.key(0), "dropout": jax.random.key(1)}
  variables = jax.eval_shape(module.init, rngs, jnp.zeros(shape))
  return sum(x.size for x in jax.tree.leaves(variables["params"])), variables


def test_reference_counts_match_the_published_numbers():
  # The reference's resnet_9blocks has 11.378 M parameters (its printed network summary).
  assert reference_resnet_params(64, 9, "instance") == 11_378_179
  assert reference_resnet_params(64, 6, "instance") == 7_837_699


@pytest.mark.parametrize(
  "blocks,size,norm", [(9, 256, "instance"), (6, 128, "instance"), (6, 64, "batch")]
)
def test_resnet_generator_matches_the_reference_architecture(blocks, size, norm):
  g = ResnetGenerator(blocks, 64, norm=norm)
  count, variables = _count(g, (1, size, size, 3))
  assert count == reference_resnet_params(64, blocks, norm)
  out = jax.eval_shape(
    lambda v: g.apply(v, jnp.zeros((2, size, size, 3)), mutable=["batch_stats"])[0], variables
  )
  assert out.shape == (2, size, size, 3)


def test_resnet_generator_cannot_see_a_constant_added_to_its_input():
  """Reflect padding, then instance norm right after the first conv, as the reference builds it:
  the output is blind to the input's mean colour (issue 5's note: what that costs on toon), where
  DualGAN's U-Net, whose first conv has no norm and whose skips reach the output, is not."""
  x = jax.random.uniform(jax.random.key(1), (1, 16, 16, 3), minval=-1, maxval=1)
  shift = jnp.array([0.3, -0.2, 0.1])
  for g, blind in ((ResnetGenerator(2, 8), True), (dualgan_nets.DualUNet(4, 8), False)):
    variables = jax.jit(g.init)(jax.random.key(0), x)
    apply = jax.jit(g.apply)
    change = float(jnp.abs(apply(variables, x + shift) - apply(variables, x)).max())
    assert (change < 1e-4) == blind, (type(g).__name__, change)


@pytest.mark.parametrize("disc,patch_shape", [("global", (2, 1)), ("patch", (2, 4, 4, 1))])
def test_dualgan_nets_match_the_reference_architecture(disc, patch_shape):
  g_ref, d_ref = reference_dualgan_params(8, 64, 64, 256, disc)
  g = dualgan_nets.DualUNet(8, 64)
  d = dualgan_nets.DualDiscriminator(disc, 64)
  g_count, g_vars = _count(g, (1, 256, 256, 3))
  d_count, d_vars = _count(d, (1, 256, 256, 3))
  assert (g_count, d_count) == (g_ref, d_ref)
  assert jax.eval_shape(lambda v: g.apply(v, jnp.zeros((2, 256, 256, 3))), g_vars).shape == (
    2,
    256,
    256,
    3,
  )
  assert jax.eval_shape(lambda v: d.apply(v, jnp.zeros((2, 256, 256, 3))), d_vars).shape == (
    patch_shape
  )


def test_image_pool_fills_then_returns_stored_fakes_about_half_the_time():
  size = 4
  pool = image_pool.create(size, (1, 1, 1))
  query = jax.jit(image_pool.query)
  returned_old, stored_ok = 0, True
  history = []
  for i in range(404):
    new = jnp.full((1, 1, 1, 1), float(i + 1))
    before = np.asarray(pool.images).ravel().tolist()
    pool, out = query(pool, new, jax.random.key(i))
    value = float(out.ravel()[0])
    after = np.asarray(pool.images).ravel().tolist()
    history.append(value)
    if i < size:  # filling: the new image comes back and is stored in the next slot
      assert value == i + 1 and after[i] == i + 1 and int(pool.count) == i + 1
    elif value != i + 1:  # swapped: an image that was stored comes back, the new one takes its slot
      returned_old += 1
      slot = before.index(value)
      changed = sum(x != y for x, y in zip(before, after, strict=True))
      stored_ok &= after[slot] == i + 1 and changed == 1
    else:  # kept: the pool is untouched
      stored_ok &= after == before
  assert stored_ok
  assert 0.4 < returned_old / 400 < 0.6, returned_old
  # Pure in the key: the same query gives the same answer.
  a = query(pool, jnp.ones((3, 1, 1, 1)), jax.random.key(7))
  b = query(pool, jnp.ones((3, 1, 1, 1)), jax.random.key(7))
  jax.tree.map(np.testing.assert_array_equal, a, b)
  empty = image_pool.create(0, (1, 1, 1))
  x = jnp.arange(3.0).reshape(3, 1, 1, 1)
  np.testing.assert_array_equal(query(empty, x, jax.random.key(0))[1], x)


def _batch(size, seed=0):
  rng = np.random.RandomState(seed)
  return {
    k: jnp.asarray(rng.randint(0, 256, (2, size, size, 3)), jnp.uint8)
    for k in ("image_a", "image_b")
  }


# The step tests' nets: :tiny with the fewest layers that keep every kind of them (CycleGAN: one
# residual block, one strided PatchGAN layer, at 16 px; DualGAN: a U-Net of two levels, one skip).
# What they test is the step's objective, which no depth changes, and their cost is compile time,
# which grows with the layers.
STEP_NETS = {
  "cyclegan": ["image_size=16", "model.generator=resnet_1blocks", "model.d_layers=1"],
  "dualgan": ["model.generator=unet_4"],
}


def _first_step(module, family, overrides=()):
  """(config, batch, initial state, step, state after one step, step metrics) of a family's :tiny
  with STEP_NETS."""
  config = config_lib.load_config(str(ROOT / CONFIGS[family]), [*STEP_NETS[family], *overrides])
  module.validate_config(config)
  batch = _batch(config.image_size)
  # Placed as a run places it, so that a state restored from a checkpoint (placed the same way)
  # steps without a second compile.
  shardings = jax.tree.map(lambda x: x.sharding, run.RunSetup(config).abstract_state)
  create = jax.jit(functools.partial(module.create_state, config), out_shardings=shardings)
  state = create(jax.random.key(0), batch)
  step = jax.jit(functools.partial(module.FAMILY.steps(config)["main"], config))
  return config, batch, state, step, *step(state, batch)


def _floats(batch):
  return [batch[k].astype(jnp.float32) * (2 / 255) - 1 for k in ("image_a", "image_b")]


def test_cyclegan_step_losses_are_the_reference_objective():
  """LSGAN G terms, lambda 10 cycles and 0.5 * lambda identity terms, halved LSGAN D terms on the
  pooled fakes (the pool is still filling, so they are this step's fakes). lambda_A != lambda_B
  here (the reference's 10 for both would hide a swap): identity A->B is weighted by lambda_B."""
  lam_a, lam_b = 10.0, 7.0
  config, batch, state, _, new_state, m = _first_step(
    cyclegan, "cyclegan", [f"loss.lambda_a={lam_a}", f"loss.lambda_b={lam_b}"]
  )
  g, d = cyclegan._nets(config)

  @jax.jit  # one compile for the whole reference, not one per primitive
  def reference(state, batch):
    a, b = _floats(batch)
    gen = lambda name, x: g.apply({"params": state.g.params[name]}, x)
    dis = lambda name, x: d.apply({"params": state.d.params[name]}, x)
    mse = lambda x, t: jnp.mean((x - t) ** 2)
    l1 = lambda x, t: jnp.mean(jnp.abs(x - t))
    fake_b, fake_a = gen("a2b", a), gen("b2a", b)
    expected = {
      "g_adv_a2b": mse(dis("b", fake_b), 1),
      "g_adv_b2a": mse(dis("a", fake_a), 1),
      "cycle_a": lam_a * l1(gen("b2a", fake_b), a),
      "cycle_b": lam_b * l1(gen("a2b", fake_a), b),
      "idt_a2b": lam_b * 0.5 * l1(gen("a2b", b), b),
      "idt_b2a": lam_a * 0.5 * l1(gen("b2a", a), a),
      "d_b": 0.5 * (mse(dis("b", b), 1) + mse(dis("b", fake_b), 0)),
      "d_a": 0.5 * (mse(dis("a", a), 1) + mse(dis("a", fake_a), 0)),
    }
    return expected, fake_b

  expected, fake_b = reference(state, batch)
  for key, value in expected.items():
    np.testing.assert_allclose(m[key], value, rtol=2e-5, err_msg=key)
  g_terms = ("g_adv_a2b", "g_adv_b2a", "cycle_a", "cycle_b", "idt_a2b", "idt_b2a")
  np.testing.assert_allclose(m["g_loss"], sum(m[k] for k in g_terms), rtol=1e-5)
  # Both pools now hold this step's fakes.
  assert int(new_state.pools["b"].count) == 2
  np.testing.assert_allclose(new_state.pools["b"].images[:2], fake_b, atol=1e-5)


def test_dualgan_step_losses_are_the_reference_objective():
  """Critic: mean D(fake) - mean D(real) + 10 GP for each critic; G: -mean D'(fake) against the
  updated critics + lambda |reconstruction - input| (lambda_A 500, the reference's default; lambda_B
  300 here, so that a swap of the two fails)."""
  config, batch, state, _, new_state, m = _first_step(dualgan, "dualgan", ["loss.lambda_b=300"])
  g, d = dualgan._nets(config)

  def penalty(critic, real, fake, key):
    eps = jax.random.uniform(key, (real.shape[0], 1, 1, 1))
    grads = jax.vmap(jax.grad(lambda x: critic(x[None]).sum()))(eps * real + (1 - eps) * fake)
    return jnp.mean((jnp.sqrt(jnp.sum(grads**2, axis=(1, 2, 3))) - 1) ** 2)

  @jax.jit  # one compile for the whole reference, not one per primitive
  def reference(state, new_state, batch):
    a, b = _floats(batch)
    gen = lambda name, x: g.apply({"params": state.g.params[name]}, x)
    fake_b, fake_a = gen("a2b", a), gen("b2a", b)
    _, gp_rng = jax.random.split(jax.random.fold_in(state.rng, 0))
    keys = dict(zip("ab", jax.random.split(gp_rng, 2), strict=True))
    expected = {"d_loss": 0.0}
    for name, real, fake in (("a", a, fake_a), ("b", b, fake_b)):
      critic = lambda x, name=name: d.apply({"params": state.d.params[name]}, x)
      expected[f"d_{name}"] = jnp.mean(critic(fake)) - jnp.mean(critic(real))
      expected[f"gp_{name}"] = penalty(critic, real, fake, keys[name])
      expected["d_loss"] += expected[f"d_{name}"] + 10 * expected[f"gp_{name}"]
    updated = lambda name, x: d.apply({"params": new_state.d.params[name]}, x)
    expected["g_adv_a2b"] = -jnp.mean(updated("b", fake_b))
    expected["rec_a"] = 500 * jnp.mean(jnp.abs(gen("b2a", fake_b) - a))
    expected["rec_b"] = 300 * jnp.mean(jnp.abs(gen("a2b", fake_a) - b))
    return expected

  expected = reference(state, new_state, batch)
  for key in ("d_a", "gp_a", "d_b", "gp_b", "d_loss", "g_adv_a2b", "rec_a", "rec_b"):
    value = expected[key]
    tolerance = {"rtol": 1e-5} if key.startswith("rec_") else {"rtol": 1e-4}
    if key in ("d_a", "d_b"):
      tolerance["atol"] = 1e-6
    np.testing.assert_allclose(m[key], value, err_msg=key, **tolerance)


def test_dualgan_weight_clipping():
  """'wgan': no penalty, every critic weight clipped to +-clip_value after each critic update, in
  both of the n_critic schedule's steps (tests/test_family_contract.py runs the schedule)."""
  overrides = ["loss.adversarial=wgan", "optim.d_lr=0.5"]
  config, batch, state, _, one, m = _first_step(dualgan, "dualgan", overrides)
  assert "gp_a" not in m
  largest = lambda params: max(float(jnp.max(jnp.abs(x))) for x in jax.tree.leaves(params))
  assert largest(one.d.params) == pytest.approx(0.01)  # lr 0.5: clipped
  critic = jax.jit(functools.partial(dualgan.critic_step, config))
  two, m = critic(one, batch)
  assert largest(two.d.params) == pytest.approx(0.01) and "g_loss" not in m
  jax.tree.map(np.testing.assert_array_equal, two.g.params, one.g.params)


@pytest.mark.parametrize(
  "family,overrides,message",
  [
    ("cyclegan", ["model.generator=resnet"], "expected resnet_<n>blocks"),
    ("cyclegan", ["data.eval_size=30"], "data.eval_size=30 is not a multiple of 4"),
    ("cyclegan", ["loss.adversarial=wgan-gp"], "not offered for cyclegan"),
    ("cyclegan", ["model.pool_size=-1"], "pool_size must be >= 0"),
    ("cyclegan", ["eval.aligned_test=maybe"], "choices: auto, yes, no"),
    ("dualgan", ["model.discriminator=pixel"], "choices: global, patch"),
    ("dualgan", ["image_size=32", "model.generator=unet_32"], "multiple of 64"),
    ("dualgan", ["optim.n_critic=0"], "n_critic must be >= 1"),
    ("dualgan", ["loss.adversarial=lsgan"], "choices: wgan-gp, wgan, non_saturating"),
  ],
)
def test_config_errors(family, overrides, message):
  with pytest.raises(ConfigError, match=message):
    run.validate(config_lib.load_config(str(ROOT / CONFIGS[family]), overrides))


def test_tiny_train_translate_and_eval_both_directions(tiny_run, tmp_path, tfds_data_dir):
  """CycleGAN end to end; DualGAN's run is the folder test below (the two share everything after
  the train step: unpaired.translation_functions, the eval and the translate tool)."""
  family = "cyclegan"
  workdir = tiny_run(family)
  config = tiny_config(family, tfds_data_dir)
  side = config.image_size + 2
  grid = np.asarray(Image.open(workdir / "samples" / "step_0000004.png"))
  assert grid.shape == (2 + 2 * side, 2 + 6 * side, 3)  # real A, A->B, A->B->A, real B, B->A, ...

  evaluate.evaluate(config, workdir)
  result = json.loads((workdir / "eval" / "step_0000004.json").read_text())
  assert result["num_images"] == 8
  for direction in ("AtoB", "BtoA"):
    scores = result[direction]
    psnr_keys = {"psnr", "ssim", "identity_psnr", "identity_ssim", "psnr_gain_db"}
    swd_keys = {"swd_mean", "identity_swd_mean", "swd_vs_identity"}
    assert psnr_keys | swd_keys <= set(scores)
    assert {k for k in scores if not k.startswith("swd_")} == psnr_keys | {"identity_swd_mean"}
    assert all(np.isfinite(v) for v in scores.values())
  # The embedded toon pairs are the same crops, so both directions share the identity baseline.
  assert result["AtoB"]["identity_psnr"] == result["BtoA"]["identity_psnr"]
  page = (workdir / "results" / "index.html").read_text()
  assert page.count("<tr>") == 4 and "0003_BtoA_target.png" in page

  image = tmp_path / "in.png"
  Image.fromarray(np.random.RandomState(0).randint(0, 255, (30, 45, 3), np.uint8)).save(image)
  outputs = {}
  for direction in ("AtoB", "BtoA"):
    out = tmp_path / f"{direction}.png"
    translate.translate_path(config, workdir, str(image), str(out), direction)
    outputs[direction] = np.asarray(Image.open(out))
    assert outputs[direction].shape == (30, 45, 3)
  assert not np.array_equal(outputs["AtoB"], outputs["BtoA"])  # two different generators


def test_unpaired_eval_reads_the_split_it_is_given(tiny_run, tfds_data_dir):
  """--config.data.eval_split=train scores trainA/trainB (32 each in toon/unpaired_small; the test
  split has 8). The toon trainB holds cartoons of other crops than trainA, so there is no ground
  truth to score against: SWD, and PSNR/SSIM skipped with the reason."""
  workdir = tiny_run("cyclegan")
  evaluate.evaluate(tiny_config("cyclegan", tfds_data_dir, "data.eval_split=train"), workdir)
  result = json.loads((workdir / "eval_train" / "step_0000004.json").read_text())
  assert (result["split"], result["num_images"]) == ("train", 32)
  for direction in ("AtoB", "BtoA"):
    assert np.isfinite(result[direction]["swd_mean"]) and "psnr" not in result[direction]
  assert result["skipped"]["psnr"].startswith("trainA[i] and trainB[i] are not the same scene")
  message = "split 'valA' (unpaired data, config.data.eval_split='val') is not a split"
  with pytest.raises(UserError, match=re.escape(message)):
    evaluate.evaluate(tiny_config("cyclegan", tfds_data_dir, "data.eval_split=val"), workdir)


def _final_state(workdir, config):
  setup = run.RunSetup(config)
  ckpt = checkpoint.Checkpointer(workdir / "checkpoints")
  state, step = ckpt.restore_latest(setup.abstract_state)
  ckpt.close()
  return jax.device_get(state), step


def test_cyclegan_resume_is_exact_including_the_pools(tiny_run, tmp_path, tfds_data_dir):
  """4 steps straight == 2 steps, then the same workdir resumed to 4. The pools (3 slots, 2 fakes a
  step) fill during step 2, so steps 3-4 swap fakes that came back from disk."""
  family = "cyclegan"
  straight = tiny_run(family)  # trained in this process too: the same XLA flags
  resumed = tmp_path / "resumed"
  train.train_and_evaluate(tiny_config(family, tfds_data_dir, "total_steps=2"), resumed)
  config = tiny_config(family, tfds_data_dir)
  train.train_and_evaluate(config, resumed)
  a, step_a = _final_state(straight, config)
  b, step_b = _final_state(resumed, config)
  assert step_a == step_b == 4
  assert int(a.pools["a"].count) == 3 and np.abs(a.pools["a"].images).sum() > 0
  _assert_same_state(a, b)


def _assert_same_state(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      x, y = jax.random.key_data(x), jax.random.key_data(y)
    np.testing.assert_array_equal(x, y)


def test_cyclegan_without_a_pool_checkpoints(tmp_path):
  """model.pool_size=0 (the reference's --pool_size 0): the D's see this step's fakes, and the
  state, which then holds no pool buffer (a checkpoint cannot hold a zero-size array), goes
  through a real checkpoint and back."""
  config, batch, _, step, state, _ = _first_step(cyclegan, "cyclegan", ["model.pool_size=0"])
  assert state.pools["a"].images is None
  ckpt = checkpoint.Checkpointer(tmp_path / "checkpoints")
  ckpt.save(1, state)
  ckpt.wait()
  restored, at = ckpt.restore_latest(run.RunSetup(config).abstract_state)
  ckpt.close()
  assert at == 1
  _assert_same_state(jax.device_get(state), jax.device_get(restored))
  step(restored, batch)  # and trains on from there


def test_unaligned_folders_of_different_sizes_train_and_eval_by_swd(tmp_path, tfds_data_dir):
  """DualGAN on trainA/ 5 images, trainB/ 3 (the shorter domain wraps around); eval on user
  folders has no ground truth, so PSNR/SSIM are skipped with the reason and SWD is reported."""
  rng = np.random.RandomState(0)
  counts = {"trainA": 5, "trainB": 3, "testA": 4, "testB": 4}
  for split, n in counts.items():
    (tmp_path / "data" / split).mkdir(parents=True)
    for i in range(n):
      shape = (40 + i, 48, 3)
      Image.fromarray(rng.randint(0, 255, shape, np.uint8)).save(
        tmp_path / "data" / split / f"{i}.png"
      )
  workdir = tmp_path / "run"
  config = tiny_config("dualgan", tfds_data_dir, f"data.folder={tmp_path / 'data'}")
  train.train_and_evaluate(config, workdir)
  evaluate.evaluate(config, workdir)
  result = json.loads((workdir / "eval" / "step_0000004.json").read_text())
  assert result["num_images"] == 4
  for direction in ("AtoB", "BtoA"):
    assert np.isfinite(result[direction]["swd_mean"]) and "psnr" not in result[direction]
  assert "not the same scene" in result["skipped"]["psnr"]
  side = config.image_size + 2
  grid = np.asarray(Image.open(workdir / "samples" / "step_0000004.png"))
  assert grid.shape == (2 + 2 * side, 2 + 6 * side, 3)  # real A, A->B, A->B->A, real B, B->A, ...
  shutil.rmtree(workdir)


def test_nets_of_one_optimizer_may_be_different_modules_with_their_own_statistics():
  """U-GAT-IT's global and local discriminators per domain: one NetState, a module per name, each
  name's batch statistics threaded on its own."""
  import flax.linen as nn  # noqa: PLC0415
  import optax  # noqa: PLC0415

  from gan_jax.families import unpaired  # noqa: PLC0415

  class Net(nn.Module):
    features: int

    @nn.compact
    def __call__(self, x, train=True):
      x = nn.Conv(self.features, (3, 3))(x)
      return nn.BatchNorm(use_running_average=not train, momentum=0.5)(x)

  modules = {"global": Net(4), "local": Net(2)}
  x = jnp.ones((2, 8, 8, 3))
  net = unpaired.init_nets(modules, ("global", "local"), optax.adam(1e-3), jax.random.key(0), x)
  assert net.params["global"]["Conv_0"]["kernel"].shape == (3, 3, 3, 4)
  assert net.params["local"]["Conv_0"]["kernel"].shape == (3, 3, 3, 2)
  run = unpaired.NetRunner(modules, net.params, net.batch_stats)
  assert run("local", x + 1).shape == (2, 8, 8, 2)
  moved = lambda name: float(jnp.max(jnp.abs(run.stats[name]["BatchNorm_0"]["mean"])))
  assert moved("local") > 0 and moved("global") == 0  # only the net that ran updated its own
