"""Does a trained CycleGAN's (or DualGAN's) objective prefer the ground truth? One JSON line.

  python benchmarks/cycle_objective.py --config=configs/cyclegan.py:cpu --workdir=DIR [--count=64]

The embedded toon task knows the true A -> B map, `toon.cartoonize`. This script takes a trained
CycleGAN or DualGAN (the newest checkpoint in --workdir, with its b2a generator and both
discriminators as they are) and scores, on crops of the train photos at the training crop size,
every term of the generator objective that depends on the a2b generator twice: once with the
trained a2b, once with `cartoonize` in its place. Those terms are the adversarial loss of A -> B
against D_b, the A cycle |b2a(a2b(a)) - a|, the B cycle |a2b(b2a(b)) - b| (DualGAN's rec_a, rec_b,
L1 or L2 as configured) and CycleGAN's identity term |a2b(b) - b|, each with its config weight.
`truth_minus_model` > 0 means the objective, as trained so far, scores the true cartoons worse than
the model's own outputs: training would then pull a2b away from the truth. Photos are `a` crops; `b`
crops are cartoons of other crops, as trainA and trainB hold. Crops are cut at the dataset's own
scale (the :cpu preset's load_size) from its whole images and their cartoons, as the dataset stores
them.
"""

import json
import pathlib
import sys

import numpy as np
from absl import app, flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from gan_jax import backend, logs  # noqa: E402
from gan_jax import config as config_lib  # noqa: E402

FLAGS = flags.FLAGS


def _define_flags() -> None:
  """The script's flags: defined when it runs, not when `measure` is imported."""
  flags.DEFINE_string("config", "configs/cyclegan.py:cpu", "Config file with preset (as trained).")
  flags.DEFINE_string("workdir", None, "A CycleGAN workdir with a checkpoint.", required=True)
  flags.DEFINE_integer("count", 64, "Crops per domain.")
  flags.DEFINE_integer("seed", 0, "Seed of the crop positions.")


def _toon_variant(name: str):
  """The toon builder config of `config.data.name` ('toon/unpaired')."""
  from gan_jax.data import toon  # noqa: PLC0415

  variant = name.partition("/")[2]
  for builder_config in toon.Toon.BUILDER_CONFIGS:
    if builder_config.name == variant and not builder_config.paired:
      return builder_config
  raise app.UsageError(f"config.data.name={name!r}: this needs an unpaired toon variant")


def _crops(variant, start: int, count: int, size: int, rng) -> tuple[np.ndarray, np.ndarray]:
  """(photo crops, their true cartoons), uint8 [count, size, size, 3], from train crops start...."""
  from gan_jax.data import toon  # noqa: PLC0415

  photos, cartoons = [], []
  for _, _, _, image in toon.crops("train", start, count, variant.image_size):
    cartoon = toon.cartoonize(image)
    top, left = rng.integers(0, image.shape[0] - size + 1, size=2)
    photos.append(image[top : top + size, left : left + size])
    cartoons.append(cartoon[top : top + size, left : left + size])
  return np.stack(photos), np.stack(cartoons)


def _check(config):
  """The toon variant of a CycleGAN or DualGAN `config`; app.UsageError for any other config."""
  if config.family not in ("cyclegan", "dualgan"):
    raise app.UsageError(
      f"--config is a {config.family} config; this measures CycleGAN's or DualGAN's objective"
    )
  return _toon_variant(config.data.name)


def measure(config, workdir, count: int = 64, seed: int = 0) -> dict:
  """Scores the objective's a2b terms with the trained a2b and with `cartoonize` in its place.

  Args:
    config: the run's config as trained (its loss weights are the ones applied).
    workdir: the run's folder; its newest checkpoint is scored.
    count: crops per domain.
    seed: seed of the crop positions.

  Returns:
    The script's JSON line less "config" and "overrides": step, crops, crop_size,
    d_b_mean_on_real_b, the terms of "model" and "truth", and "truth_minus_model".

  Raises:
    app.UsageError: `config` is not a CycleGAN or DualGAN config on an unpaired toon variant.
  """
  variant = _check(config)  # JAX is imported below: call after `backend.setup()`, as main does
  import jax.numpy as jnp  # noqa: PLC0415 - after the backend is set up

  from gan_jax import losses, samples  # noqa: PLC0415
  from gan_jax import run as run_lib  # noqa: PLC0415
  from gan_jax.data import toon  # noqa: PLC0415
  from gan_jax.families import common, cyclegan, dualgan  # noqa: PLC0415

  _, state, step = run_lib.restore_newest(config, pathlib.Path(workdir))
  loss = config.loss
  if config.family == "cyclegan":  # as its train_step: L1 cycles, and an identity term
    g_net, d_net = cyclegan._nets(config)  # noqa: SLF001 - the family's own nets
    adversarial = losses.get_adversarial_loss(loss.adversarial)
    distance = lambda x, y: jnp.mean(jnp.abs(x - y))
    cycle_names, identity = ("cycle_a", "cycle_b"), loss.identity
  else:
    g_net, d_net = dualgan._nets(config)  # noqa: SLF001
    adversarial, distance = dualgan.objective(config)
    cycle_names, identity = ("rec_a", "rec_b"), None  # no identity term

  def run(net, params, stats, name, x):
    return common.apply_net(net, params[name], stats[name], x)[0]

  g = lambda name, x: run(g_net, state.g.params, state.g.batch_stats, name, x)
  d = lambda name, x: run(d_net, state.d.params, state.d.batch_stats, name, x)
  to_float = lambda u8: common.to_float_images(jnp.asarray(u8))
  cartoonize = lambda u8: np.stack([toon.cartoonize(image) for image in u8])

  rng = np.random.default_rng(seed)
  size = config.image_size
  photos, true_b = _crops(variant, 0, count, size, rng)  # trainA: crops 0..
  # trainB: cartoons of the crops past trainA's.
  _, cartoons = _crops(variant, variant.num_train, count, size, rng)
  a, b = to_float(photos), to_float(cartoons)
  fake_a = g("b2a", b)
  # a2b's outputs on the photos (fake_b), on the b2a fakes (rec_b) and on the cartoons (idt_b).
  solutions = {
    "model": {"fake_b": g("a2b", a), "rec_b": g("a2b", fake_a)},
    "truth": {
      "fake_b": to_float(true_b),
      "rec_b": to_float(cartoonize(samples.to_uint8(fake_a))),
    },
  }
  if identity is not None:
    solutions["model"]["idt_b"] = g("a2b", b)
    solutions["truth"]["idt_b"] = to_float(cartoonize(cartoons))
  terms = {}
  for name, out in solutions.items():
    terms[name] = {
      "g_adv_a2b": float(adversarial.g_loss(d("b", out["fake_b"]))),
      cycle_names[0]: loss.lambda_a * float(distance(g("b2a", out["fake_b"]), a)),
      cycle_names[1]: loss.lambda_b * float(distance(out["rec_b"], b)),
    }
    if identity is not None:
      terms[name]["idt_a2b"] = loss.lambda_b * identity * float(distance(out["idt_b"], b))
    terms[name]["total"] = sum(terms[name].values())
    terms[name]["d_b_mean"] = float(jnp.mean(d("b", out["fake_b"])))
  rounded = {k: {t: round(v, 4) for t, v in terms[k].items()} for k in terms}
  delta = {t: round(terms["truth"][t] - terms["model"][t], 4) for t in terms["model"]}
  return {
    "step": step,
    "crops": count,
    "crop_size": size,
    "d_b_mean_on_real_b": round(float(jnp.mean(d("b", b))), 4),
    **rounded,
    "truth_minus_model": delta,
  }


def main(argv, overrides):
  del argv
  config = config_lib.load_config(FLAGS.config, overrides)
  _check(config)  # before the set-up, as a usage error
  logs.setup()
  backend.setup()
  result = measure(config, FLAGS.workdir, FLAGS.count, FLAGS.seed)
  print(json.dumps({"config": FLAGS.config, "overrides": overrides, **result}))


if __name__ == "__main__":
  _define_flags()
  argv, overrides = config_lib.split_overrides(sys.argv)
  app.run(lambda a: main(a, overrides), argv=argv)
