"""Run set-up and restore, shared by every mode (train, sample, translate, eval): config checks,
the mesh and shardings, the state's abstract form, frozen nets, the compiled named steps and the
newest checkpoint. No mode imports another; they all import this.
"""

import functools
import json
import pathlib

import jax
import numpy as np

from gan_jax import checkpoint, parallel
from gan_jax import config as config_lib
from gan_jax.data import layouts, pipeline
from gan_jax.errors import ConfigError, DataError, UserError
from gan_jax.families import base, get_family


def validate(config) -> base.Family:
  """Every check that needs no data and no compile; returns the family."""
  config_lib.validate_common(config)
  family = get_family(config.family)
  # The data keys first: a family's checks (e.g. eval_size against its stride) assume them sane.
  pipeline.validate_config(config)
  family.validate_config(config)
  model_parallel = config.get("model_parallel", 1)
  if model_parallel > 1 and not family.model_parallel_leaves(config):
    raise ConfigError(
      f"config.model_parallel={model_parallel}: family {family.name} splits nothing over a model "
      f"axis, so its {model_parallel} devices per example would all compute the same; use 1"
    )
  return family


def prepare_workdir(workdir) -> pathlib.Path:
  workdir = pathlib.Path(workdir)
  if workdir.exists() and not workdir.is_dir():
    raise UserError(f"--workdir {workdir} exists and is not a folder")
  return workdir


def _with_sharding(abstract, shardings):
  return jax.tree.map(
    lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), abstract, shardings
  )


def replicate(tree, mesh):
  """Host arrays -> global arrays replicated over `mesh` (every process holds the same values)."""
  sharding = parallel.replicated(mesh)

  def put(x):
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

  return jax.tree.map(put, tree)


class RunSetup:
  """Family, mesh, shardings, the state's abstract form and the frozen nets: what every mode
  shares. Frozen nets are built (or read from their files) when first asked for, before the steps
  compile; the modes that only restore and apply a generator never build them."""

  def __init__(self, config, devices=None):
    self.config = config
    self.family = validate(config)
    self.mesh = parallel.make_mesh(devices, config.get("model_parallel", 1))
    self.local_batch_size = parallel.process_batch_size(config.batch_size, self.mesh)
    self.batch_sharding = parallel.batch_sharding(self.mesh)
    self.replicated = parallel.replicated(self.mesh)
    spec = layouts.batch_spec(self.family.data_layout(config), config.batch_size, config.image_size)
    self.batch_spec = {
      k: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=self.batch_sharding)
      for k, v in spec.items()
    }
    create = functools.partial(self.family.create_state, config, example_batch=spec)
    abstract = jax.eval_shape(create, jax.random.key(0))
    self.state_sharding = parallel.state_sharding(
      abstract,
      self.mesh,
      config.get("fsdp_min_size", 0),
      self.family.model_parallel_leaves(config),
    )
    self.abstract_state = _with_sharding(abstract, self.state_sharding)
    self._create = jax.jit(create, out_shardings=self.state_sharding)

  @functools.cached_property
  def frozen(self):
    """The family's frozen nets, replicated over the mesh ({} for none)."""
    family = self.family
    return replicate(family.frozen(self.config) if family.frozen else {}, self.mesh)

  def init_state(self, seed: int):
    return self._create(jax.random.key(seed))

  def jit_steps(self) -> dict:
    """{name: the family's named step, jitted}: (state, batch, frozen, step) -> (state, metrics).

    The state is donated (updated in place); the frozen nets are not. `step` (an int32 scalar,
    the iterations done before this one) becomes state.step inside, and step + 1 after.
    """
    config, replicated = self.config, self.replicated
    frozen_sharding = jax.tree.map(lambda _: replicated, self.frozen)
    jitted = {}
    for name, fn in self.family.steps(config).items():

      def run(state, batch, frozen, step, fn=fn):
        state, metrics = fn(config, state.replace(step=step), batch, frozen)
        return state.replace(step=step + 1), metrics

      jitted[name] = jax.jit(
        run,
        in_shardings=(self.state_sharding, self.batch_sharding, frozen_sharding, replicated),
        out_shardings=(self.state_sharding, replicated),
        donate_argnums=0,
      )
    return jitted

  def compile_steps(self) -> dict:
    """jit_steps, each compiled ahead of time for this setup's state, batch and frozen nets."""
    step = jax.ShapeDtypeStruct((), np.int32, sharding=self.replicated)
    return {
      name: fn.lower(self.abstract_state, self.batch_spec, self.frozen, step).compile()
      for name, fn in self.jit_steps().items()
    }

  def run_iteration(self, steps: dict, state, batch, step: int):
    """Iteration `step` as the loop runs it: the named steps (from jit_steps or compile_steps)
    that the family's schedule names, in order. Returns (state, metrics of them all; a key two
    steps share holds the later one's)."""
    counter, metrics = self.step_counter(step), {}
    for name in self.family.schedule(self.config, step):
      state, more = steps[name](state, batch, self.frozen, counter)
      metrics.update(more)
    return state, metrics

  def step_counter(self, step: int) -> jax.Array:
    """The int32 scalar a named step is given for iteration `step`, on every device."""
    value = np.int32(step)
    return jax.make_array_from_callback((), self.replicated, lambda index: value)


def restore(ckpt, setup, config, workdir: pathlib.Path, data_iter=None, step: int | None = None):
  """The newest readable checkpoint, or the one saved at `step`; a refusal says how this config
  differs from the saved one."""
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
  if step is not None and step not in ckpt.all_steps():
    listed = ", ".join(map(str, ckpt.all_steps())) or "none"
    raise UserError(
      f"--step={step}: no checkpoint of that step in {ckpt.directory} (saved steps: {listed})"
    )
  try:
    if step is None:
      return ckpt.restore_latest(setup.abstract_state, data_iter)
    return ckpt.restore(step, setup.abstract_state), step
  except UserError as e:
    ckpt.close()
    diffs = []
    if saved_config is not None:
      diffs = config_lib.differences(saved_config, config_lib.json_dict(config))
    if diffs:
      raise UserError(f"{e}; this config differs from {saved} in {'; '.join(diffs[:8])}") from None
    raise


def restore_newest(config, workdir: pathlib.Path, step: int | None = None):
  """(setup, state, step) of the newest checkpoint, or of the one saved at `step` (the --step
  flag), for sampling, evaluation and translation."""
  setup = RunSetup(config)
  ckpt = checkpoint.Checkpointer(workdir / "checkpoints")
  try:
    restored = restore(ckpt, setup, config, workdir, step=step)
  finally:
    ckpt.close()
  if not restored:
    raise UserError(
      f"no checkpoint in {workdir / 'checkpoints'}: train first, with "
      f"--mode=train and the same --workdir"
    )
  state, step = restored
  return setup, state, step


def fixed_sample_inputs(config, family: base.Family):
  """The same inputs for every sample grid of a run (and after resuming): latents from the seed,
  or, for families that sample from data, the first `sample.num` examples of the eval split."""
  rng = jax.random.fold_in(jax.random.key(config.seed), 0x5A3)
  if not family.samples_from_data:
    return family.sample_inputs(config, rng, None)
  n = config.sample.num
  layout = family.data_layout(config)
  make = functools.partial(
    pipeline.make_dataset, config, layout, n, train=False, process_index=0, process_count=1
  )
  try:  # every process reads the same examples, so the inputs agree across hosts
    data = make()
  except DataError:  # no eval split: the first training examples, unaugmented
    data = make(split=config.data.train_split)
  return family.sample_inputs(config, rng, next(iter(data)))
