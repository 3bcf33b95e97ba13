"""The one training loop. It knows no family: it runs the family's named steps on its schedule.

workdir/
  config.json          the resolved config of the latest run segment
  config_history.jsonl one line per run segment: its first step, when, what changed, its config
  checkpoints/<step>/  Orbax: the train state and every process's data iterator position
  samples/step_<N>.png sample grids
  metrics.jsonl        scalars as JSON lines; TensorBoard events beside it
"""

import collections
import datetime
import functools
import json
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from clu import parameter_overview

from gan_jax import checkpoint, evaluators, parallel, run, samples
from gan_jax import config as config_lib
from gan_jax import writers as writers_lib
from gan_jax.data import pipeline
from gan_jax.errors import NonFiniteLossError, UserError
from gan_jax.families.common import NetState

CPU_HINT = (
  "this run takes hours on this CPU: the configs' :cpu presets are sized for one "
  "(e.g. --config=configs/dcgan.py:cpu learns in minutes); a GPU or TPU runs the paper's settings"
)
# Iterations the host may have dispatched beyond the one it waits for (see the loop).
MAX_IN_FLIGHT = 1


def _network_params(state) -> dict:
  """{field name: params} for each network (a NetState field) of a family's State."""
  return {name: value.params for name, value in vars(state).items() if isinstance(value, NetState)}


def check_resume(config, workdir: pathlib.Path, allow_change: bool) -> list[str]:
  """How `config` differs from the config.json of the run it would resume (nothing when there is
  no checkpoint yet). Raises a UserError, before anything is built or written, for a difference
  that config.RESUMABLE_KEYS does not allow, unless `allow_change`."""
  saved = workdir / "config.json"
  saved_steps = [p for p in (workdir / "checkpoints").glob("*") if p.name.isdigit()]
  if not saved.is_file() or not saved_steps:
    return []
  before = json.loads(saved.read_text())
  refused = config_lib.resume_refusals(before, config_lib.json_dict(config))
  if refused and not allow_change:
    more = f" and {len(refused) - 8} more" if len(refused) > 8 else ""
    raise UserError(
      f"{workdir} holds a run made with another config: {'; '.join(refused[:8])}{more}; a "
      "resumed run may change only how long it runs, how often it logs, samples, saves and "
      "scores, and where it reads its data. Resume with the run's values, use another "
      "--workdir, or pass --allow_config_change to go on with this config (it is recorded in "
      "config_history.jsonl)"
    )
  return config_lib.differences(before, config_lib.json_dict(config))


def _record_config(config, workdir: pathlib.Path, step: int, changes: list[str]) -> None:
  """config.json is the config of the latest run segment; config_history.jsonl gains a line per
  segment: the step it started from, when, and what changed."""
  (workdir / "config.json").write_text(config.to_json_best_effort(indent=2, sort_keys=True) + "\n")
  entry = {
    "step": step,
    "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "changes": changes,
    "config": config_lib.json_dict(config),
  }
  with open(workdir / "config_history.jsonl", "a") as f:
    f.write(json.dumps(entry, sort_keys=True) + "\n")


def _fetch_scalars(metrics_history: list) -> dict[str, float]:
  """Means over the steps since the last log, pulled from the devices in one transfer; a metric
  that only some named steps give is the mean over the steps that gave it."""
  if not metrics_history:
    return {}
  stacked = jax.device_get(metrics_history)
  keys = dict.fromkeys(k for m in stacked for k in m)
  return {k: float(np.mean([m[k] for m in stacked if k in m])) for k in keys}


@jax.jit
def all_finite(state) -> jax.Array:
  """1.0 when every float in the state (params, optimizer moments, statistics) is finite."""
  leaves = [x for x in jax.tree.leaves(state) if jnp.issubdtype(x.dtype, jnp.floating)]
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves])).astype(jnp.float32)


def _check_finite(step: int, scalars: dict[str, float], checkpoints: list[int]) -> None:
  bad = {k: v for k, v in scalars.items() if not np.isfinite(v) or (k == "state" and v != 1.0)}
  if bad:
    newest = f"step {checkpoints[-1]}" if checkpoints else "none yet"
    raise NonFiniteLossError(
      f"non-finite loss at step {step}: {bad}; stopped without saving "
      f"(newest checkpoint: {newest}); try a lower learning rate"
    )


def _write_samples(sample_fn, state, inputs, step, workdir, writer) -> pathlib.Path:
  grid = samples.tile(jax.device_get(sample_fn(state, inputs)))
  path = workdir / "samples" / f"step_{step:07d}.png"
  if parallel.is_lead_process():
    samples.save_png(path, grid)
    writer.write_images(step, {"samples": grid})
  return path


def train_and_evaluate(config, workdir, allow_config_change: bool = False) -> dict[str, float]:
  """Trains `config` in `workdir`, resuming from its newest checkpoint.

  Args:
    config: the run's config.
    workdir: the run's folder.
    allow_config_change: resume even where `config` differs from the run's config.json in keys
      that config.RESUMABLE_KEYS does not name.

  Returns:
    The last logged scalars (empty when there was nothing left to train).
  """
  setup = run.RunSetup(config)
  workdir = run.prepare_workdir(workdir)
  changes = check_resume(config, workdir, allow_config_change)
  for line in setup.family.advice(config):
    logging.warning("%s", line)
  # Opening the data builds or checks it: bad folders and images fail here, before any compile.
  layout = setup.family.data_layout(config)
  train_data = pipeline.make_dataset(
    config, layout, setup.local_batch_size, num_classes=setup.family.num_classes(config)
  )
  data_iter = iter(train_data)
  try:
    return _train(config, workdir, setup, data_iter, changes)
  finally:
    data_iter.close()  # stops config.data.workers' processes


def _train(config, workdir: pathlib.Path, setup, data_iter, changes) -> dict[str, float]:
  family, lead = setup.family, parallel.is_lead_process()
  ckpt = checkpoint.Checkpointer(
    workdir / "checkpoints", config.ckpt.max_to_keep, config.ckpt.async_save
  )
  restored = run.restore(ckpt, setup, config, workdir, data_iter)
  if restored:
    state, step = restored
    logging.info("resumed from %s at step %d", ckpt.directory, step)
    for change in changes:
      logging.info("config changed on resume: %s", change)
  else:
    state, step = setup.init_state(config.seed), 0
    logging.info("no checkpoint in %s: starting from scratch", ckpt.directory)
  if step >= config.total_steps:
    logging.info("step %d >= config.total_steps=%d: nothing to train", step, config.total_steps)
    ckpt.close()
    return {}
  if lead:
    workdir.mkdir(parents=True, exist_ok=True)
    _record_config(config, workdir, step, changes if restored else [])
    for name, params in _network_params(state).items():
      parameter_overview.log_parameter_overview(params, msg=f"network {name}")

  start = time.perf_counter()
  steps = setup.compile_steps()
  logging.info(
    "compiled the train step%s in %.1f s",
    "" if list(steps) == ["main"] else f"s {', '.join(steps)}",
    time.perf_counter() - start,
  )

  sample_inputs = run.fixed_sample_inputs(config, family)
  sample_fn = jax.jit(functools.partial(family.sample_images, config))
  writer = writers_lib.create_default_writer(workdir, config.total_steps, lead)
  progress = writers_lib.Progress(
    config.total_steps,
    config.batch_size,
    step,
    config.get("progress_secs", 10),
    lead,
    slow_hint=CPU_HINT if jax.default_backend() == "cpu" else "",
  )
  scorer = None
  if config.eval_every:
    scorer = evaluators.Scorer(config, setup, workdir)  # its Inception loaded once
  preemption = checkpoint.PreemptionWatch()
  scalars, history = {}, []
  # Metrics of the iterations dispatched but maybe not done. After dispatching iteration t the
  # host waits for t - MAX_IN_FLIGHT: the device always has the next iteration queued, but the host
  # never runs far ahead, so Ctrl-C stops after the step in flight and progress is real time.
  in_flight = collections.deque()
  mark_time, mark_step = time.perf_counter(), step
  try:
    while step < config.total_steps:
      batch = parallel.to_global(next(data_iter), setup.batch_sharding)
      state, metrics = setup.run_iteration(steps, state, batch, step)
      step += 1
      history.append(metrics)
      in_flight.append((step, metrics))
      preemption.waiting_for = f"step {step} (in flight)"
      while len(in_flight) > MAX_IN_FLIGHT:
        done, done_metrics = in_flight.popleft()
        jax.block_until_ready(done_metrics)
        progress.step_done(done, done_metrics)
      last = step == config.total_steps
      if step % config.log_every == 0 or last:
        scalars = _fetch_scalars(history)
        history = []
        _check_finite(step, scalars, ckpt.all_steps())
        now = time.perf_counter()
        rate = (step - mark_step) / (now - mark_time)
        throughput = {
          "steps_per_sec": rate,
          "images_per_sec": rate * config.batch_size,
          "eta_sec": (config.total_steps - step) / rate,
        }
        scalars = {**scalars, **throughput}
        writer.write_scalars(step, scalars)
        progress.logged(step)
        mark_time, mark_step = now, step
      if config.sample_every and (step % config.sample_every == 0 or last):
        path = _write_samples(sample_fn, state, sample_inputs, step, workdir, writer)
        progress.sampled(step, path)
      preempted = preemption.reached(step)
      if step % config.checkpoint_every == 0 or last or preempted:
        # Never save a state that went non-finite: its update may be bad while its loss was not.
        _check_finite(
          step,
          {"state": float(all_finite(state)), **_fetch_scalars(history[-1:])},
          ckpt.all_steps(),
        )
        preemption.waiting_for = f"the checkpoint of step {step} to be written"
        ckpt.save(step, state, data_iter)
      if scorer and (step % config.eval_every == 0 or last):
        preemption.waiting_for = f"the evaluation at step {step}"
        writer.flush()  # the results page charts metrics.jsonl up to this step
        scorer.score(state, step)
      if preempted:
        ckpt.wait()
        logging.warning("stopped at step %d after saving; run the same command to resume", step)
        break
  finally:
    preemption.close()
    ckpt.wait()
    ckpt.close()
    writer.close()
  return scalars
