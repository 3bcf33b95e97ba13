"""The one training loop. It knows no family: it runs the family's named steps on its schedule.

workdir/
  config.json          the resolved config of the latest run
  checkpoints/<step>/  Orbax: the train state and every process's data iterator position
  samples/step_<N>.png sample grids
  metrics.jsonl        scalars as JSON lines; TensorBoard events beside it
"""

import functools
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from clu import parameter_overview

from gan_jax import checkpoint, evaluators, parallel, run, samples
from gan_jax import writers as writers_lib
from gan_jax.data import pipeline
from gan_jax.errors import NonFiniteLossError
from gan_jax.families.common import NetState


def _network_params(state) -> dict:
  """{field name: params} for each network (a NetState field) of a family's State."""
  return {name: value.params for name, value in vars(state).items() if isinstance(value, NetState)}


def _save_config(config, workdir: pathlib.Path) -> None:
  (workdir / "config.json").write_text(config.to_json_best_effort(indent=2, sort_keys=True) + "\n")


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


def _write_samples(sample_fn, state, inputs, step, workdir, writer):
  grid = samples.tile(jax.device_get(sample_fn(state, inputs)))
  if parallel.is_lead_process():
    samples.save_png(workdir / "samples" / f"step_{step:07d}.png", grid)
    writer.write_images(step, {"samples": grid})


def train_and_evaluate(config, workdir) -> dict[str, float]:
  """Trains `config` in `workdir`, resuming from its newest checkpoint.

  Returns:
    The last logged scalars (empty when there was nothing left to train).
  """
  setup = run.RunSetup(config)
  workdir = run.prepare_workdir(workdir)
  # Opening the data builds or checks it: bad folders and images fail here, before any compile.
  train_data = pipeline.make_dataset(config, setup.family.layout, setup.local_batch_size)
  data_iter = iter(train_data)
  try:
    return _train(config, workdir, setup, data_iter)
  finally:
    data_iter.close()  # stops config.data.workers' processes


def _train(config, workdir: pathlib.Path, setup, data_iter) -> dict[str, float]:
  family, lead = setup.family, parallel.is_lead_process()
  ckpt = checkpoint.Checkpointer(
    workdir / "checkpoints", config.ckpt.max_to_keep, config.ckpt.async_save
  )
  restored = run.restore(ckpt, setup, config, workdir, data_iter)
  if restored:
    state, step = restored
    logging.info("resumed from %s at step %d", ckpt.directory, step)
  else:
    state, step = setup.init_state(config.seed), 0
    logging.info("no checkpoint in %s: starting from scratch", ckpt.directory)
  if lead:
    workdir.mkdir(parents=True, exist_ok=True)
    _save_config(config, workdir)
    for name, params in _network_params(state).items():
      parameter_overview.log_parameter_overview(params, msg=f"network {name}")
  if step >= config.total_steps:
    logging.info("step %d >= config.total_steps=%d: nothing to train", step, config.total_steps)
    ckpt.close()
    return {}

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
  scorer = None
  if config.eval_every:
    scorer = evaluators.Scorer(config, setup, workdir)  # its Inception loaded once
  preemption = checkpoint.PreemptionWatch()
  scalars, history = {}, []
  mark_time, mark_step = time.perf_counter(), step
  try:
    while step < config.total_steps:
      batch = parallel.to_global(next(data_iter), setup.batch_sharding)
      state, metrics = setup.run_iteration(steps, state, batch, step)
      step += 1
      history.append(metrics)
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
        mark_time, mark_step = now, step
      if config.sample_every and (step % config.sample_every == 0 or last):
        _write_samples(sample_fn, state, sample_inputs, step, workdir, writer)
      preempted = preemption.reached(step)
      if step % config.checkpoint_every == 0 or last or preempted:
        # Never save a state that went non-finite: its update may be bad while its loss was not.
        _check_finite(
          step,
          {"state": float(all_finite(state)), **_fetch_scalars(history[-1:])},
          ckpt.all_steps(),
        )
        ckpt.save(step, state, data_iter)
      if scorer and (step % config.eval_every == 0 or last):
        scorer.score(state, step)
      if preempted:
        logging.warning("stopped at step %d after saving; run the same command to resume", step)
        break
  finally:
    preemption.close()
    ckpt.wait()
    ckpt.close()
    writer.close()
  return scalars
