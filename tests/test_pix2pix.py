"""pix2pix: nets as the reference builds them, the step's losses, the schedule, end to end."""

import functools
import json
import logging
import struct

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from gan_jax import config as config_lib
from gan_jax import evaluate, parallel, run, train, translate
from gan_jax.errors import UserError
from gan_jax.families import common, pix2pix, translation
from gan_jax.nets.patchgan import PatchDiscriminator
from gan_jax.nets.unet import UNet
from tests.conftest import ROOT, run_cli

TINY = "--config=configs/pix2pix.py:tiny"


def _tiny(data_dir, *overrides):
  """The :tiny config as `--config=configs/pix2pix.py:tiny --config.<overrides>` loads it."""
  return config_lib.load_config(
    str(ROOT / "configs/pix2pix.py") + ":tiny", [f"data.data_dir={data_dir}", *overrides]
  )


def reference_unet_params(num_downs, ngf, in_c, out_c, norm):
  """Parameters of the reference UnetGenerator, counted from its description: block i (0 =
  outermost) has a 4x4 down conv (in_c or ngf*min(2^(i-1), 8) -> ngf*min(2^i, 8)) with a bias only
  for instance norm, a norm after it on all but the outermost and innermost blocks, and a 4x4 up
  conv back (input doubled by the skip concat except at the innermost), followed by a norm except
  on the outermost, whose up conv always has a bias. Batch norm has 2 params per channel."""
  enc = [ngf * min(2**i, 8) for i in range(num_downs)]
  bias = norm == "instance"
  bn = 2 if norm == "batch" else 0
  total = 0
  for i in range(num_downs):
    cin = in_c if i == 0 else enc[i - 1]
    total += 16 * cin * enc[i] + (enc[i] if bias else 0)
    total += bn * enc[i] if 0 < i < num_downs - 1 else 0
    up_in = enc[i] if i == num_downs - 1 else 2 * enc[i]
    up_out = out_c if i == 0 else enc[i - 1]
    total += 16 * up_in * up_out + (up_out if (bias or i == 0) else 0)
    total += bn * up_out if i > 0 else 0
  return total


def reference_patchgan_params(in_c, ndf, n_layers, norm):
  """NLayerDiscriminator: conv(in_c -> ndf, bias) then n_layers convs to ndf*min(2^n, 8) (bias only
  with instance norm, each followed by the norm), then conv(-> 1, bias); all 4x4."""
  bias, bn = norm == "instance", 2 if norm == "batch" else 0
  total, prev = 16 * in_c * ndf + ndf, ndf
  for n in range(1, n_layers + 1):
    cur = ndf * min(2**n, 8)
    total += 16 * prev * cur + (cur if bias else 0) + bn * cur
    prev = cur
  return total + 16 * prev + 1


def _count(module, shape, rngs):
  variables = jax.eval_shape(module.init, rngs, jnp.zeros(shape))
  return sum(x.size for x in jax.tree.leaves(variables["params"]))


RNGS = {"params": jax.random.key(0), "dropout": jax.random.key(1)}


def test_reference_counts_match_the_published_numbers():
  # Counted on the official model classes (junyanz/pytorch-CycleGAN-and-pix2pix).
  assert reference_unet_params(8, 64, 3, 3, "batch") == 54_413_955
  assert reference_patchgan_params(6, 64, 3, "batch") == 2_768_705
  assert reference_patchgan_params(3, 64, 3, "instance") == 2_764_737


@pytest.mark.parametrize(
  "num_downs,size,norm",
  [(8, 256, "batch"), (7, 128, "batch"), (8, 256, "instance"), (6, 64, "none")],
)
def test_unet_matches_the_reference_architecture(num_downs, size, norm):
  unet = UNet(num_downs, 64, norm=norm)
  assert _count(unet, (1, size, size, 3), RNGS) == reference_unet_params(num_downs, 64, 3, 3, norm)
  variables = jax.eval_shape(unet.init, RNGS, jnp.zeros((1, size, size, 3)))
  out = jax.eval_shape(
    lambda v: unet.apply(v, jnp.zeros((2, size, size, 3)), rngs=RNGS, mutable=["batch_stats"])[0],
    variables,
  )
  assert out.shape == (2, size, size, 3)


@pytest.mark.parametrize("num_downs", [5, 8])
def test_unet_dropout_sits_in_the_reference_blocks(num_downs):
  """Dropout 0.5 after the norm of the num_downs - 5 middle up blocks, the reference's `use_dropout`
  blocks (8ngf channels, at H / 2^i for i = num_downs - 2 .. 4), and nowhere else; off in eval."""
  size, ngf = 2**num_downs, 4
  unet = UNet(num_downs, ngf, formulation="direct")  # the structure, not the conv form, is tested
  x = jax.random.normal(jax.random.key(0), (1, size, size, 3))
  variables = jax.jit(unet.init)(RNGS, x)

  @functools.partial(jax.jit, static_argnums=1)
  def dropped(key, train):
    out, state = unet.apply(
      variables,
      x,
      train,
      rngs={"dropout": key},
      mutable=["batch_stats", "intermediates"],
      capture_intermediates=lambda module, _: isinstance(module, nn.Dropout),
    )
    found = state.get("intermediates", {})
    return out, [found[f"Dropout_{k}"]["__call__"][0] for k in range(len(found))]

  out, drops = dropped(jax.random.key(1), True)
  side = [size // 2**i for i in range(num_downs - 2, 3, -1)]
  assert [d.shape for d in drops] == [(1, s, s, 8 * ngf) for s in side]
  for d in drops:
    assert 0.35 < float(jnp.mean(d == 0)) < 0.65, "about half of each block's activations"
  other, _ = dropped(jax.random.key(2), True)
  assert bool(jnp.any(out != other)) == (num_downs > 5)  # the noise comes from dropout alone
  evaluated = [dropped(jax.random.key(k), False)[0] for k in (1, 2)]
  assert bool(jnp.all(evaluated[0] == evaluated[1]))


@pytest.mark.parametrize(
  "in_c,norm,size,patch", [(6, "batch", 256, 30), (3, "instance", 256, 30), (6, "batch", 128, 14)]
)
def test_patchgan_matches_the_reference_architecture(in_c, norm, size, patch):
  d = PatchDiscriminator(3, 64, norm)
  assert _count(d, (1, size, size, in_c), jax.random.key(0)) == reference_patchgan_params(
    in_c, 64, 3, norm
  )
  variables = jax.eval_shape(d.init, jax.random.key(0), jnp.zeros((1, size, size, in_c)))
  logits = jax.eval_shape(
    lambda v: d.apply(v, jnp.zeros((2, size, size, in_c)), mutable=["batch_stats"])[0], variables
  )
  assert logits.shape == (2, patch, patch, 1)  # 70x70 receptive fields, 30x30 of them at 256 px


def test_pixel_discriminator_keeps_the_resolution():
  d = PatchDiscriminator("pixel", 64, "batch")
  variables = jax.eval_shape(d.init, jax.random.key(0), jnp.zeros((1, 32, 32, 6)))
  logits = jax.eval_shape(
    lambda v: d.apply(v, jnp.zeros((1, 32, 32, 6)), mutable=["batch_stats"])[0], variables
  )
  assert logits.shape == (1, 32, 32, 1)
  assert (
    sum(x.size for x in jax.tree.leaves(variables["params"])) == 6 * 64 + 64 + 64 * 128 + 256 + 128
  )


@pytest.fixture(scope="module")
def tiny_state():
  """The :tiny config, a batch of two random pairs, a fresh state and the run's set-up: the state
  made, and stepped, by the programs a :tiny run compiles (the compile cache may hold them)."""
  config = config_lib.load_config(str(ROOT / "configs/pix2pix.py") + ":tiny")
  rng = np.random.RandomState(0)
  batch = {
    k: jnp.asarray(rng.randint(0, 256, (2, 32, 32, 3)), jnp.uint8) for k in ("image_a", "image_b")
  }
  setup = run.RunSetup(config)
  return config, batch, setup.init_state(0), setup


def test_step_losses_are_the_reference_objective(tiny_state):
  """d_loss = 0.5 (BCE(D(A,G(A)),0) + BCE(D(A,B),1)); g_loss = BCE(D'(A,G(A)),1) + 100 |G(A)-B|."""
  config, batch, state, setup = tiny_state
  step = setup.jit_steps()["main"]  # iteration 0 of a run; it donates the state it is given
  given = jax.tree.map(lambda x: x.copy(), state)
  placed = parallel.to_global(batch, setup.batch_sharding)
  new_state, m = step(given, placed, setup.frozen, setup.step_counter(0))

  @jax.jit  # one compile for the whole reference, not one per primitive
  def reference(state, new_state, batch):
    source, target = (common.to_float_images(batch[k]) for k in ("image_a", "image_b"))
    fake, _ = pix2pix._generator(
      config, state.g.params, state.g.batch_stats, source, jax.random.fold_in(state.rng, 0)
    )
    _, d = pix2pix._nets(config)
    pair = lambda x: jnp.concatenate([source, x], -1)
    fake_logits, stats = common.apply_net(d, state.d.params, state.d.batch_stats, pair(fake))
    real_logits, _ = common.apply_net(d, state.d.params, stats, pair(target))
    bce = lambda logits, label: jnp.mean(optax_bce(logits, label))
    new_logits, _ = common.apply_net(d, new_state.d.params, new_state.d.batch_stats, pair(fake))
    return {
      "d_loss": 0.5 * (bce(fake_logits, 0) + bce(real_logits, 1)),
      "g_l1": jnp.mean(jnp.abs(fake - target)),
      "g_adv": bce(new_logits, 1),
    }

  expected = reference(state, new_state, batch)
  np.testing.assert_allclose(m["d_loss"], expected["d_loss"], rtol=1e-5)
  np.testing.assert_allclose(m["g_l1"], expected["g_l1"], rtol=1e-5)
  np.testing.assert_allclose(m["g_adv"], expected["g_adv"], rtol=1e-4)
  np.testing.assert_allclose(m["g_loss"], m["g_adv"] + 100.0 * m["g_l1"], rtol=1e-5)


def test_translate_normalises_each_image_on_its_own(tiny_state):
  """The reference tests one image at a time: with batch norm in train mode (its default test),
  an image's output must not depend on the other images of the batch."""
  config, batch, state, _ = tiny_state
  x, y = (common.to_float_images(batch[k][:1]) for k in ("image_a", "image_b"))
  translate = jax.jit(lambda images: pix2pix.translate(config, state, images, jax.random.key(3)))
  with_y, with_noise = (translate(jnp.concatenate([x, other], 0)) for other in (y, -y))
  np.testing.assert_allclose(with_y[0], with_noise[0], atol=1e-6)
  assert float(jnp.abs(with_y[1] - with_noise[1]).mean()) > 1e-3
  # ...and it is the train-mode net: the running statistics (eval_mode) give another image.
  eval_config = config.copy_and_resolve_references()
  eval_config.model.eval_mode = True
  in_eval_mode = jax.jit(lambda x: pix2pix.translate(eval_config, state, x, jax.random.key(3)))
  eval_mode = in_eval_mode(jnp.concatenate([x, y], 0))
  assert float(jnp.abs(eval_mode[0] - with_y[0]).mean()) > 1e-3


def optax_bce(logits, label):
  return jnp.maximum(logits, 0) - logits * label + jnp.log1p(jnp.exp(-jnp.abs(logits)))


def test_constant_then_linear_decay_schedule():
  schedule = translation.constant_then_linear_decay(2e-4, 100, 50)
  values = [float(schedule(s)) for s in (0, 99, 100, 125, 150, 200)]
  np.testing.assert_allclose(values, [2e-4, 2e-4, 2e-4, 1e-4, 0.0, 0.0], atol=1e-12)


def test_config_errors():
  from gan_jax.errors import ConfigError

  base = str(ROOT / "configs/pix2pix.py") + ":tiny"
  cases = {
    ("model.generator=resnet_9blocks",): "expected unet_<size>",
    ("image_size=48",): r"not a multiple of 2\^5=32",
    ("data.direction=AtoC",): "choices: AtoB, BtoA",
    ("model.g_norm=group",): "choices: batch, instance, none",
    ("loss.adversarial=wgan-gp",): "not offered for pix2pix",
  }
  for overrides, message in cases.items():
    with pytest.raises(ConfigError, match=message):
      pix2pix.validate_config(config_lib.load_config(base, list(overrides)))


def tensorboard_scalars(logdir) -> dict[str, dict[int, float]]:
  """{tag: {step: value}} read back from the event files in `logdir`: TFRecord frames (length,
  its CRC, the serialized Event, its CRC) as tensorboardX writes them."""
  from tensorboardX.proto import event_pb2  # noqa: PLC0415 - only this helper needs it

  scalars = {}
  for path in sorted(logdir.glob("events.out.tfevents.*")):
    data, pos = path.read_bytes(), 0
    while pos < len(data):
      (length,) = struct.unpack("<Q", data[pos : pos + 8])
      event = event_pb2.Event.FromString(data[pos + 12 : pos + 12 + length])
      pos += 12 + length + 4
      for value in event.summary.value:
        scalars.setdefault(value.tag, {})[event.step] = value.simple_value
  return scalars


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tfds_data_dir):
  workdir = tmp_path_factory.mktemp("p2p") / "run"
  train.train_and_evaluate(_tiny(tfds_data_dir), workdir)
  return workdir


def test_tiny_train_then_eval(trained, tfds_data_dir):
  assert (trained / "samples" / "step_0000004.png").is_file()
  grid = np.asarray(Image.open(trained / "samples" / "step_0000004.png"))
  assert grid.shape == (2 + 2 * 34, 2 + 3 * 34, 3)  # sample.num rows of input | output | target
  evaluate.evaluate(_tiny(tfds_data_dir), trained)
  result = json.loads((trained / "eval" / "step_0000004.json").read_text())
  assert result["num_images"] == 8 and result["direction"] == "AtoB"
  for key in ("psnr", "ssim", "identity_psnr", "identity_ssim", "psnr_gain_db"):
    assert np.isfinite(result[key])
  assert result["psnr_gain_db"] == pytest.approx(result["psnr"] - result["identity_psnr"], abs=1e-3)
  assert set(result["skipped"]) == {"fid", "kid"}
  # SWD of the outputs to the targets as a set, beside the inputs' (the identity baseline).
  assert result["swd_vs_identity"] == pytest.approx(
    result["swd_mean"] / result["identity_swd_mean"], rel=1e-3
  )
  scalars = tensorboard_scalars(trained)
  for key in ("psnr", "ssim", "identity_psnr", "psnr_gain_db"):
    assert scalars[f"eval/{key}"] == {4: pytest.approx(result[key], abs=1e-4)}
  page = (trained / "results" / "index.html").read_text()
  assert page.count("<tr>") == 4 and "0003_target.png" in page  # eval.html_rows of :tiny
  assert (trained / "results" / "images" / "0000_output.png").is_file()
  # The train split is scored beside the test split's results, never over them.
  test_scores = (trained / "eval" / "step_0000004.json").read_bytes()
  evaluate.evaluate(_tiny(tfds_data_dir, "data.eval_split=train"), trained)
  assert (trained / "eval" / "step_0000004.json").read_bytes() == test_scores
  assert (trained / "results" / "index.html").read_text() == page
  assert "train split" in (trained / "results_train" / "index.html").read_text()
  train_scores = json.loads((trained / "eval_train" / "step_0000004.json").read_text())
  assert train_scores["split"] == "train" and train_scores["num_images"] == 32  # paired_small
  assert tensorboard_scalars(trained)["eval_train/psnr"] == {
    4: pytest.approx(train_scores["psnr"], abs=1e-4)
  }


def test_translate_keeps_names_sizes_and_inputs(trained, tmp_path, tfds_data_dir, caplog):
  src = tmp_path / "in"
  (src / "sub").mkdir(parents=True)
  rng = np.random.RandomState(0)
  Image.fromarray(rng.randint(0, 255, (37, 53, 3), np.uint8)).save(src / "odd.png")
  Image.fromarray(rng.randint(0, 255, (40, 40), np.uint8)).save(src / "sub" / "gray.jpg")
  Image.fromarray(rng.randint(0, 255, (20, 70, 4), np.uint8)).save(src / "rgba.png")
  (src / "notes.txt").write_text("not an image")
  (src / "broken.png").write_bytes(b"\x89PNG not really")
  before = {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}
  out = tmp_path / "out"
  config = _tiny(tfds_data_dir)
  with caplog.at_level(logging.INFO):
    translate.translate_path(config, trained, str(src), str(out))
  logged = "\n".join(r.getMessage() for r in caplog.records)  # what the CLI prints on stderr
  assert "skipped" in logged and "notes.txt" in logged
  assert "broken.png: not a readable image" in logged
  assert "skip_bad_images" not in logged  # a training setting; translate skips anyway
  sizes = {p.relative_to(out).as_posix(): Image.open(p).size for p in out.rglob("*.*")}
  assert sizes == {"odd.png": (53, 37), "sub/gray.jpg": (40, 40), "rgba.png": (70, 20)}
  assert all(Image.open(p).mode == "RGB" for p in out.rglob("*.*"))
  assert {p: p.read_bytes() for p in src.rglob("*") if p.is_file()} == before

  (tmp_path / "link.png").hardlink_to(src / "odd.png")  # the input image under another name
  (tmp_path / "notes.txt").write_text("kept")
  refusals = {
    (src, src): "lies inside --input",
    (src, src / "sub" / "new"): "lies inside --input",
    (src, src / "notes.txt"): "lies inside --input",
    (src, tmp_path / "notes.txt"): "is a file; give a folder",
    (src, tmp_path / "out.png"): "names an image, but --input",
    (src / "odd.png", tmp_path / "link.png"): "would overwrite the input image",
  }
  for (input_path, output_path), message in refusals.items():
    with pytest.raises(UserError, match=message):
      translate.translate_path(config, trained, str(input_path), str(output_path))
  assert {p: p.read_bytes() for p in src.rglob("*") if p.is_file()} == before
  assert (tmp_path / "notes.txt").read_text() == "kept"
  with pytest.raises(UserError, match="only the direction it was trained for"):
    translate.translate_path(config, trained, str(src / "odd.png"), str(tmp_path / "x.png"), "BtoA")


def test_translate_needs_a_checkpoint_and_an_input(tmp_path, tfds_data_dir):
  """The file's one CLI run: a UserError ends `python -m gan_jax.main` with exit 2 and one
  `error: <message>` line on stderr, no traceback (the other refusals are checked in-process)."""
  missing = run_cli(
    [
      TINY,
      f"--workdir={tmp_path / 'none'}",
      "--mode=translate",
      f"--input={tmp_path / 'nothing'}",
      f"--output={tmp_path / 'o'}",
    ],
    tfds_data_dir,
    check=False,
  )
  last = missing.stderr.splitlines()[-1]
  assert missing.returncode == 2 and "does not exist" in last
  assert last.startswith("error: --input ") and "Traceback" not in missing.stderr


def test_side_by_side_folder_with_an_odd_width_image(tmp_path, tfds_data_dir):
  pairs = tmp_path / "pairs" / "train"
  pairs.mkdir(parents=True)
  rng = np.random.RandomState(0)
  for i in range(3):
    Image.fromarray(rng.randint(0, 255, (32, 64, 3), np.uint8)).save(pairs / f"{i}.png")
  Image.fromarray(rng.randint(0, 255, (32, 63, 3), np.uint8)).save(pairs / "bad.png")
  config = _tiny(tfds_data_dir, f"data.folder={tmp_path / 'pairs'}")
  with pytest.raises(UserError) as failure:  # the CLI: exit 2, "error: <message>"
    train.train_and_evaluate(config, tmp_path / "run")
  last = str(failure.value).strip().splitlines()[-1]
  assert "bad.png" in last and "even width" in last


@pytest.mark.parametrize(
  "batch,eval_mode,norm,warned",
  [
    (16, False, "batch", True),
    (1, False, "batch", False),
    (16, True, "batch", False),
    (16, False, "instance", False),
  ],
)
def test_testing_on_one_image_statistics_after_batch_training_warns(
  batch, eval_mode, norm, warned, caplog
):
  """The advice is the family's, logged once when training starts; validating (every mode does)
  says nothing."""
  overrides = [f"batch_size={batch}", f"model.eval_mode={eval_mode}", f"model.g_norm={norm}"]
  config = config_lib.load_config(str(ROOT / "configs/pix2pix.py"), overrides)
  with caplog.at_level(logging.WARNING):
    pix2pix.validate_config(config)
  assert not caplog.records
  advice = pix2pix.FAMILY.advice(config)
  assert any("consider --config.model.eval_mode=true" in line for line in advice) == warned
