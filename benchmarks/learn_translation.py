"""Does a translation family learn the embedded toon task? Trains a preset on CPU, then scores the
test split against the ground truth (PSNR/SSIM beside the identity baseline). One JSON line.

  python benchmarks/learn_translation.py --config=configs/pix2pix.py:cpu [--workdir=DIR]

Training resumes if the workdir already holds checkpoints; `train_minutes_this_run` counts only
this invocation's training. The sample grids are in WORKDIR/samples, the result page in
WORKDIR/results/index.html.

--minutes=M sizes the run to about M minutes of training on this machine instead of the config's
total_steps: it times steps fed by the real pipeline (benchmarks/step_timing.py), then scales
total_steps, the schedule's constant/decay split and the log/sample/checkpoint intervals together.
Where the config tests the way the reference does (model.eval_mode False: dropout and batch
statistics at test time), the test split is also scored with eval_mode=True (`eval_eval_mode`).
--cpu_minutes=M sizes it instead by this process's CPU time per step (all threads), so that runs
of several families on a busy machine get the same CPU budget (`train_cpu_minutes_this_run`).
--score_train also scores the train split (`train_split`, written to WORKDIR/eval_train): a model
that scores as badly there as on the test split underfits, one that scores far better overfits.
Unpaired toon train splits are not pairs (trainB cartoons other crops), so they get SWD instead.
"""

import json
import pathlib
import sys
import time

from absl import app, flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import step_timing  # noqa: E402 - benchmarks/step_timing.py

from gan_jax import backend, logs  # noqa: E402
from gan_jax import config as config_lib  # noqa: E402

FLAGS = flags.FLAGS


def _define_flags() -> None:
  """The script's flags: defined when it runs, not when `learn` is imported."""
  flags.DEFINE_string("config", "configs/pix2pix.py:cpu", "Config file with preset.")
  flags.DEFINE_string("workdir", "runs/learn_pix2pix", "Where to train (resumes if present).")
  flags.DEFINE_float("minutes", 0.0, "Train for about this many minutes (0: config.total_steps).")
  flags.DEFINE_float("cpu_minutes", 0.0, "Train for about this many CPU minutes (all threads).")
  flags.DEFINE_bool("score_train", False, "Also score the train split (under- or overfitting?).")


def _scores(result: dict) -> dict:
  return {k: v for k, v in result.items() if k != "skipped"}


def fit_to_minutes(config, minutes: float, measured_step_sec: float) -> None:
  """Sets total_steps so that training takes about `minutes`, the schedule scaled with it."""
  # 10% for the loop's logging, sample grids and checkpoints, which the timed steps leave out.
  steps = max(100, int(minutes * 60 * 0.9 / measured_step_sec) // 100 * 100)
  scale = steps / config.total_steps
  config.total_steps = steps
  if "constant_steps" in config.optim:
    config.optim.constant_steps = round(config.optim.constant_steps * scale)
    config.optim.decay_steps = steps - config.optim.constant_steps
  if "init_steps" in config.optim:  # AnimeGAN's content-only phase keeps its share of the run
    config.optim.init_steps = round(config.optim.init_steps * scale)
  config.log_every = max(config.log_every, steps // 200)
  # At least 5 grids and checkpoints where the run is shorter than the preset's intervals.
  config.sample_every = min(max(config.sample_every, steps // 10), steps // 5)
  config.checkpoint_every = steps // 5


def learn(
  config, workdir, minutes: float = 0.0, score_train: bool = False, cpu_minutes: float = 0.0
) -> dict:
  """Trains `config` in `workdir` (resuming), then scores the test split (and the train split).

  Args:
    config: the config to train; `minutes` > 0 rewrites its total_steps and schedule in place.
    workdir: where to train; a workdir with checkpoints resumes.
    minutes: train for about this many minutes (0: config.total_steps).
    score_train: also score the train split (`train_split`, written to WORKDIR/eval_train).
    cpu_minutes: as `minutes`, in CPU minutes of this process (used where `minutes` is 0).

  Returns:
    The script's JSON line less "config" and "overrides".
  """
  import jax  # noqa: PLC0415 - after the backend is set up (main sets it up)

  from gan_jax import evaluate, train  # noqa: PLC0415

  sizing = None
  if minutes > 0 or cpu_minutes > 0:
    timed = config
    if "init_steps" in config.optim:
      # The timed iterations start at 0: time the adversarial step, most of the run, not the
      # cheaper init-phase one (the run then ends a little under the budget, not over it).
      timed = config.copy_and_resolve_references()
      timed.optim.init_steps = 0
    sizing = step_timing.measure(timed, steps=50, pipeline_batches=10)
    if minutes > 0:
      fit_to_minutes(config, minutes, sizing["fed_step_ms"] / 1000)
    else:
      fit_to_minutes(config, cpu_minutes, sizing["fed_step_cpu_ms"] / 1000)
  start, cpu_start = time.perf_counter(), time.process_time()
  last = train.train_and_evaluate(config, workdir)
  train_minutes = (time.perf_counter() - start) / 60
  train_cpu_minutes = (time.process_time() - cpu_start) / 60
  extra = {}
  if "eval_mode" in config.model and not config.model.eval_mode:
    # First, so that WORKDIR/eval and results/ keep the scores of the config as trained.
    config.model.eval_mode = True
    extra["eval_eval_mode"] = _scores(evaluate.evaluate(config, workdir))
    config.model.eval_mode = False
  result = evaluate.evaluate(config, workdir)
  if score_train:
    train_config = config.copy_and_resolve_references()
    train_config.data.eval_split = config.data.train_split
    extra["train_split"] = _scores(evaluate.evaluate(train_config, workdir))
  return {
    "image_size": config.image_size,
    "batch_size": config.batch_size,
    "steps": config.total_steps,
    "train_minutes_this_run": round(train_minutes, 2),
    "train_cpu_minutes_this_run": round(train_cpu_minutes, 2),
    "train_steps_per_sec": round(last.get("steps_per_sec", float("nan")), 3),
    "device_kind": jax.devices()[0].device_kind,
    "sized_by": sizing,
    "eval": _scores(result),
    **extra,
  }


def main(argv, overrides):
  del argv
  config = config_lib.load_config(FLAGS.config, overrides)
  logs.setup()
  backend.setup()
  result = learn(config, FLAGS.workdir, FLAGS.minutes, FLAGS.score_train, FLAGS.cpu_minutes)
  print(json.dumps({"config": FLAGS.config, "overrides": overrides, **result}))


if __name__ == "__main__":
  _define_flags()
  argv, overrides = config_lib.split_overrides(sys.argv)
  app.run(lambda a: main(a, overrides), argv=argv)
