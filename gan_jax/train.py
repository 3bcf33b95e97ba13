"""The one training loop, and sampling from a trained run. It knows no family.

workdir/
  config.json          the resolved config of the latest run
  checkpoints/<step>/  Orbax: the train state and every process's data iterator position
  samples/step_<N>.png sample grids
  metrics.jsonl        scalars as JSON lines; TensorBoard events beside it
"""

import functools
import json
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from clu import parameter_overview

from gan_jax import checkpoint, parallel, samples
from gan_jax import config as config_lib
from gan_jax import writers as writers_lib
from gan_jax.data import pipeline
from gan_jax.errors import DataError, NonFiniteLossError, UserError
from gan_jax.families import get_family
from gan_jax.families.common import NetState


def validate(config):
  """Every check that needs no data and no compile; returns the family module."""
  config_lib.validate_common(config)
  family = get_family(config.family)
  # The data keys first: a family's checks (e.g. eval_size against its stride) assume them sane.
  pipeline.validate_config(config)
  family.validate_config(config)
  return family


def _prepare_workdir(workdir) -> pathlib.Path:
  workdir = pathlib.Path(workdir)
  if workdir.exists() and not workdir.is_dir():
    raise UserError(f"--workdir {workdir} exists and is not a folder")
  return workdir


def _state_sharding(abstract_state, mesh):
  # Data parallel: every leaf replicated. A family may later shard big params on a model axis.
  return jax.tree.map(lambda _: parallel.replicated(mesh), abstract_state)


def _with_sharding(abstract_state, shardings):
  return jax.tree.map(
    lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), abstract_state, shardings
  )


def make_train_step(config, family, state_sharding, batch_sharding):
  """The family's step, jitted with explicit shardings; the state is donated (updated in place)."""
  replicated = parallel.replicated(batch_sharding.mesh)
  return jax.jit(
    functools.partial(family.train_step, config),
    in_shardings=(state_sharding, batch_sharding),
    out_shardings=(state_sharding, replicated),
    donate_argnums=0,
  )


class RunSetup:
  """Family, mesh, shardings and the state's abstract form: what train and sample share."""

  def __init__(self, config, devices=None):
    self.family = validate(config)
    self.mesh = parallel.make_mesh(devices)
    self.local_batch_size = parallel.process_batch_size(config.batch_size, self.mesh)
    self.batch_sharding = parallel.batch_sharding(self.mesh)
    spec = pipeline.batch_spec(self.family.DATA_LAYOUT, config.batch_size, config.image_size)
    self.batch_spec = {
      k: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=self.batch_sharding)
      for k, v in spec.items()
    }
    create = functools.partial(self.family.create_state, config, example_batch=spec)
    abstract = jax.eval_shape(create, jax.random.key(0))
    self.state_sharding = _state_sharding(abstract, self.mesh)
    self.abstract_state = _with_sharding(abstract, self.state_sharding)
    self._create = jax.jit(create, out_shardings=self.state_sharding)

  def init_state(self, seed: int):
    return self._create(jax.random.key(seed))

  def compile_train_step(self, config):
    """The jitted train step (make_train_step), compiled for this setup's state and batch."""
    step = make_train_step(config, self.family, self.state_sharding, self.batch_sharding)
    return step.lower(self.abstract_state, self.batch_spec).compile()


def _network_params(state) -> dict:
  """{field name: params} for each network (a NetState field) of a family's State."""
  return {name: value.params for name, value in vars(state).items() if isinstance(value, NetState)}


def config_differences(saved: dict, config, prefix: str = "") -> list[str]:
  """`key: saved -> now` for each leaf where `config` differs from the saved config.json."""
  now = config if isinstance(config, dict) else json.loads(config.to_json_best_effort())
  diffs = []
  for key in sorted(set(saved) | set(now)):
    a, b = saved.get(key, "(absent)"), now.get(key, "(absent)")
    if isinstance(a, dict) and isinstance(b, dict):
      diffs += config_differences(a, b, f"{prefix}{key}.")
    elif a != b:
      diffs.append(f"{prefix}{key}: {a} -> {b}")
  return diffs


def restore(ckpt, setup, config, workdir: pathlib.Path, data_iter=None):
  """The newest readable checkpoint; a refusal says how this config differs from the saved one."""
  saved = workdir / "config.json"
  saved_config = json.loads(saved.read_text()) if saved.is_file() else None
  if data_iter is not None and ckpt.all_steps() and saved_config is not None:
    # grain saves the reader's position per worker process: it resumes only on as many.
    workers = saved_config.get("data", {}).get("workers", 0)
    if workers != config.data.workers:
      ckpt.close()
      raise UserError(
        f"config.data.workers={config.data.workers}, but the checkpoints in {ckpt.directory} hold "
        f"the data position of data.workers={workers}; resume with --config.data.workers={workers}"
      )
  try:
    return ckpt.restore_latest(setup.abstract_state, data_iter)
  except UserError as e:
    ckpt.close()
    diffs = config_differences(saved_config, config) if saved_config is not None else []
    if diffs:
      raise UserError(f"{e}; this config differs from {saved} in {'; '.join(diffs[:8])}") from None
    raise


def fixed_sample_inputs(config, family):
  """The same inputs for every sample grid of a run (and after resuming): latents from the seed,
  or, for families that sample from data, the first `sample.num` examples of the eval split."""
  rng = jax.random.fold_in(jax.random.key(config.seed), 0x5A3)
  if not getattr(family, "SAMPLES_FROM_DATA", False):
    return family.sample_inputs(config, rng, None)
  n = config.sample.num
  try:  # every process reads the same examples, so the inputs agree across hosts
    data = pipeline.make_dataset(
      config, family.DATA_LAYOUT, n, train=False, process_index=0, process_count=1
    )
  except DataError:  # no eval split: the first training examples, unaugmented
    data = pipeline.make_dataset(
      config,
      family.DATA_LAYOUT,
      n,
      train=False,
      process_index=0,
      process_count=1,
      split=config.data.train_split,
    )
  return family.sample_inputs(config, rng, next(iter(data)))


def _save_config(config, workdir: pathlib.Path) -> None:
  (workdir / "config.json").write_text(config.to_json_best_effort(indent=2, sort_keys=True) + "\n")


def _fetch_scalars(metrics_history: list) -> dict[str, float]:
  """Means over the steps since the last log, pulled from the devices in one transfer."""
  if not metrics_history:
    return {}
  stacked = jax.device_get(metrics_history)
  return {k: float(np.mean([m[k] for m in stacked])) for k in stacked[0]}


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
  setup = RunSetup(config)
  workdir = _prepare_workdir(workdir)
  # Opening the data builds or checks it: bad folders and images fail here, before any compile.
  train_data = pipeline.make_dataset(config, setup.family.DATA_LAYOUT, setup.local_batch_size)
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
  restored = restore(ckpt, setup, config, workdir, data_iter)
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
  train_step = setup.compile_train_step(config)
  logging.info("compiled the train step in %.1f s", time.perf_counter() - start)

  sample_inputs = fixed_sample_inputs(config, family)
  sample_fn = jax.jit(functools.partial(family.sample_images, config))
  writer = writers_lib.create_default_writer(workdir, config.total_steps, lead)
  scorer = None
  if config.eval_every:
    from gan_jax import evaluate  # noqa: PLC0415 - evaluate imports this module

    scorer = functools.partial(evaluate.score, config, setup, workdir=workdir)
    if config.eval.inception_weights:  # loaded once, reused at every eval
      scorer = functools.partial(scorer, inception=evaluate.InceptionFeatures(config, setup.mesh))
  preemption = checkpoint.PreemptionWatch()
  scalars, history = {}, []
  mark_time, mark_step = time.perf_counter(), step
  try:
    while step < config.total_steps:
      batch = parallel.to_global(next(data_iter), setup.batch_sharding)
      state, metrics = train_step(state, batch)
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
        scorer(state, step)
      if preempted:
        logging.warning("stopped at step %d after saving; run the same command to resume", step)
        break
  finally:
    preemption.close()
    ckpt.wait()
    ckpt.close()
    writer.close()
  return scalars


def restore_newest(config, workdir: pathlib.Path):
  """(setup, state, step) of the newest checkpoint, for sampling, evaluation and translation."""
  setup = RunSetup(config)
  ckpt = checkpoint.Checkpointer(workdir / "checkpoints")
  restored = restore(ckpt, setup, config, workdir)
  ckpt.close()
  if not restored:
    raise UserError(
      f"no checkpoint in {workdir / 'checkpoints'}: train first, with "
      f"--mode=train and the same --workdir"
    )
  state, step = restored
  return setup, state, step


def sample(config, workdir) -> pathlib.Path:
  """Writes a grid and individual PNGs from the newest checkpoint; returns their folder."""
  workdir = _prepare_workdir(workdir)
  setup, state, step = restore_newest(config, workdir)
  inputs = fixed_sample_inputs(config, setup.family)
  grid = jax.device_get(
    jax.jit(functools.partial(setup.family.sample_images, config))(state, inputs)
  )
  out = workdir / "samples" / f"sample_step_{step:07d}"
  if parallel.is_lead_process():
    samples.save_png(out / "grid.png", samples.tile(grid))
    images = samples.to_uint8(grid.reshape(-1, *grid.shape[2:]))
    for i, image in enumerate(images):
      samples.save_png(out / f"{i:04d}.png", image)
    (out / "info.json").write_text(json.dumps({"step": step, "num": len(images)}) + "\n")
    logging.info("wrote %d samples and grid.png to %s", len(images), out)
  return out
