"""Times a config's input pipeline, train-step compile and train step (no flags: a library for the
scripts beside it, which import it as `step_timing`)."""

import time


def _time_iterations(setup, compiled, state, batch_fn, first, n):
  """Runs iterations first .. first + n - 1 (each the named steps its schedule picks); returns the
  state, the wall seconds and this process's CPU seconds (every thread's)."""
  import jax  # noqa: PLC0415

  start, cpu_start = time.perf_counter(), time.process_time()
  for step in range(first, first + n):
    state, metrics = setup.run_iteration(compiled, state, batch_fn(), step)
  jax.block_until_ready(metrics)
  return state, time.perf_counter() - start, time.process_time() - cpu_start


def measure(config, steps: int, pipeline_batches: int) -> dict:
  """Times `config`'s input pipeline, compile and train step; call after `backend.setup()`."""
  import jax  # noqa: PLC0415 - after the backend is set up

  from gan_jax import parallel, run  # noqa: PLC0415
  from gan_jax.data import pipeline  # noqa: PLC0415

  setup = run.RunSetup(config)
  data = iter(
    pipeline.make_dataset(config, setup.family.data_layout(config), setup.local_batch_size)
  )
  next(data)  # the dataset is built (if needed) and open before anything is timed

  start = time.perf_counter()
  for _ in range(pipeline_batches):
    next(data)
  pipeline_sec = time.perf_counter() - start

  start = time.perf_counter()
  compiled = setup.compile_steps()  # every named step
  compile_sec = time.perf_counter() - start

  # Iterations as the loop runs them: a family with several named steps (regularizers every N
  # iterations) is timed over its schedule, so give `steps` a multiple of its longest interval.
  state = setup.init_state(config.seed)
  fixed = parallel.to_global(next(data), setup.batch_sharding)
  state, *_ = _time_iterations(setup, compiled, state, lambda: fixed, 0, 2)  # warm-up
  state, fixed_sec, _ = _time_iterations(setup, compiled, state, lambda: fixed, 2, steps)
  fed = lambda: parallel.to_global(next(data), setup.batch_sharding)
  state, fed_sec, fed_cpu_sec = _time_iterations(setup, compiled, state, fed, 2 + steps, steps)
  data.close()  # stops config.data.workers' processes

  step_sec = fixed_sec / steps
  pipeline_rate = pipeline_batches * config.batch_size / pipeline_sec
  return {
    "family": config.family,
    "platform": jax.default_backend(),
    "device_kind": jax.devices()[0].device_kind,
    "devices": jax.device_count(),
    "global_batch": config.batch_size,
    "image_size": config.image_size,
    "compile_sec": round(compile_sec, 2),
    "step_ms": round(step_sec * 1000, 2),  # one iteration: every named step it runs
    "fed_step_ms": round(fed_sec / steps * 1000, 2),
    # CPU time of this process per fed step: what a step costs on CPU however busy the machine is
    # (the wall time grows with other jobs, this much less); input workers' processes not counted.
    "fed_step_cpu_ms": round(fed_cpu_sec / steps * 1000, 2),
    "train_images_per_sec": round(steps * config.batch_size / fed_sec, 1),
    "pipeline_images_per_sec": round(pipeline_rate, 1),
    "pipeline_vs_step": round(pipeline_rate * step_sec / config.batch_size, 2),
  }
