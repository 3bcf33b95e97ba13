"""Metric writers: one interface for the console, TensorBoard and JSON lines.

The interface mirrors `clu.metric_writers` (write_scalars / write_images / flush / close), whose
implementations import TensorFlow; TensorBoard events are written with tensorboardX instead, so
TensorFlow stays off the install and the training path.
"""

import json
import pathlib

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

  THROUGHPUT = ("steps_per_sec", "images_per_sec", "eta_sec")

  def __init__(self, total_steps: int):
    self.total_steps = total_steps

  def write_scalars(self, step, scalars):
    # Losses first, then the rest (logits, penalties), each group alphabetical.
    keys = sorted(
      (k for k in scalars if k not in self.THROUGHPUT), key=lambda k: (not k.endswith("_loss"), k)
    )
    losses = " ".join(f"{k} {scalars[k]:.4g}" for k in keys)
    line = f"step {step}/{self.total_steps}"
    if losses:
      line += f" | {losses}"
    if "steps_per_sec" in scalars:
      line += f" | {scalars['steps_per_sec']:.3g} steps/s, {scalars['images_per_sec']:.4g} img/s"
    if "eta_sec" in scalars:
      line += f" | ETA {format_duration(scalars['eta_sec'])}"
    logging.info("%s", line)


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
