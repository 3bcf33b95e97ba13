"""Metric writers: one interface for the console, TensorBoard and JSON lines.

The interface mirrors `clu.metric_writers` (write_scalars / write_images / flush / close), whose
implementations import TensorFlow; TensorBoard events are written with tensorboardX instead, so
TensorFlow stays off the install and the training path.
"""

import json
import pathlib
import time

import jax
import numpy as np
from absl import logging


class MetricWriter:
  """Base class: every method is optional."""

  def write_scalars(self, step: int, scalars: dict[str, float]) -> None:
    pass

  def write_images(self, step: int, images: dict[str, np.ndarray]) -> None:
    """images: name -> uint8 [H, W, 3]."""

  def flush(self) -> None:
    pass

  def close(self) -> None:
    self.flush()


def format_duration(seconds: float) -> str:
  seconds = int(round(seconds))
  hours, rest = divmod(seconds, 3600)
  minutes, secs = divmod(rest, 60)
  return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


class ConsoleWriter(MetricWriter):
  """One progress line per write: losses, then throughput and ETA when present."""

  def __init__(self, total_steps: int):
    self.total_steps = total_steps

  def write_scalars(self, step, scalars):
    logging.info("%s", format_line(step, self.total_steps, scalars))


def format_line(step: int, total_steps: int, scalars: dict[str, float]) -> str:
  """`step N/T | losses, then the rest (each group alphabetical) | steps/s, img/s | ETA`."""
  throughput = ("steps_per_sec", "images_per_sec", "eta_sec")
  keys = sorted(
    (k for k in scalars if k not in throughput), key=lambda k: (not k.endswith("_loss"), k)
  )
  losses = " ".join(f"{k} {scalars[k]:.4g}" for k in keys)
  line = f"step {step}/{total_steps}"
  if losses:
    line += f" | {losses}"
  if "steps_per_sec" in scalars:
    line += f" | {scalars['steps_per_sec']:.3g} steps/s, {scalars['images_per_sec']:.4g} img/s"
  if "eta_sec" in scalars:
    line += f" | ETA {format_duration(scalars['eta_sec'])}"
  return line


class Progress:
  """The console between log_every lines: a line when the first step is done, then at least every
  `every_secs` seconds (0: never), with the latest step's losses, the rate since the last line,
  the ETA and the newest sample grid's path. Only the lead process prints."""

  def __init__(
    self,
    total_steps: int,
    batch_size: int,
    step: int,
    every_secs: float,
    lead: bool,
    clock=None,
    slow_hint: str = "",
  ):
    self.total_steps, self.batch_size, self.every_secs = total_steps, batch_size, every_secs
    # Said once, when the second line's ETA is over an hour: the first line's rate includes the
    # first step's start-up (input workers, first execution), which can double it.
    self.slow_hint = slow_hint
    self.enabled = lead and every_secs > 0
    self._clock = clock or time.perf_counter
    self._first = step + 1
    self._mark_step, self._mark_time = step, self._clock()
    self._last_line, self._logged_step = self._mark_time, step
    self.newest_sample = None

  def sampled(self, step: int, path) -> None:
    self.newest_sample = path
    if self.enabled:
      logging.info("step %d: sample grid %s", step, path)

  def logged(self, step: int) -> None:
    """A log_every line was just written: the next progress line is due every_secs after it."""
    self._last_line, self._logged_step = self._clock(), step

  def step_done(self, step: int, metrics) -> None:
    """Iteration `step` is done on the device; prints a line when one is due."""
    if not self.enabled:
      return
    now = self._clock()
    due = step == self._first or now - self._last_line >= self.every_secs
    if not due or step <= self._logged_step:
      return
    scalars = {k: float(v) for k, v in jax.device_get(metrics).items()}
    elapsed = now - self._mark_time
    if step > self._mark_step and elapsed > 0:
      rate = (step - self._mark_step) / elapsed
      scalars.update(
        steps_per_sec=rate,
        images_per_sec=rate * self.batch_size,
        eta_sec=(self.total_steps - step) / rate,
      )
    line = format_line(step, self.total_steps, scalars)
    if self.newest_sample:
      line += f" | samples {self.newest_sample}"
    logging.info("%s", line)
    if step > self._first and self.slow_hint:
      if scalars.get("eta_sec", 0) > 3600:
        logging.warning("%s", self.slow_hint)
      self.slow_hint = ""
    self._mark_step, self._mark_time, self._last_line = step, now, now


class TensorBoardWriter(MetricWriter):
  """TensorBoard event files in `logdir`, through tensorboardX."""

  def __init__(self, logdir: str | pathlib.Path):
    from tensorboardX import SummaryWriter  # imported here: only the lead process writes events

    self._writer = SummaryWriter(str(logdir), flush_secs=30)

  def write_scalars(self, step, scalars):
    for key, value in scalars.items():
      self._writer.add_scalar(key, value, step)

  def write_images(self, step, images):
    for key, image in images.items():
      self._writer.add_image(key, image, step, dataformats="HWC")

  def flush(self):
    self._writer.flush()

  def close(self):
    self._writer.close()


class JsonLinesWriter(MetricWriter):
  """Scalars as JSON lines (`{"step": ..., "d_loss": ...}`), easy to read back in scripts."""

  def __init__(self, path: str | pathlib.Path):
    self._file = open(path, "a")  # noqa: SIM115 - kept open for the whole run

  def write_scalars(self, step, scalars):
    self._file.write(json.dumps({"step": step, **{k: float(v) for k, v in scalars.items()}}) + "\n")

  def flush(self):
    self._file.flush()

  def close(self):
    self._file.close()


class MultiWriter(MetricWriter):
  def __init__(self, writers: list[MetricWriter]):
    self.writers = writers

  def write_scalars(self, step, scalars):
    for w in self.writers:
      w.write_scalars(step, scalars)

  def write_images(self, step, images):
    for w in self.writers:
      w.write_images(step, images)

  def flush(self):
    for w in self.writers:
      w.flush()

  def close(self):
    for w in self.writers:
      w.close()


def create_default_writer(workdir: pathlib.Path, total_steps: int, lead: bool) -> MetricWriter:
  """Console everywhere; TensorBoard events and metrics.jsonl in `workdir` on the lead process."""
  if not lead:
    return MetricWriter()
  return MultiWriter(
    [
      ConsoleWriter(total_steps),
      TensorBoardWriter(workdir),
      JsonLinesWriter(workdir / "metrics.jsonl"),
    ]
  )
