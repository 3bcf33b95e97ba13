"""The grain input pipeline: TFDS array_record sources -> per-process batches of uint8 images.

    source[process_index::process_count] -> shuffle(seed) -> repeat -> augment -> batch

Every step is a grain `MapDataset` transformation, indexed and seeded, so the iterator's state is a
single position (one per worker process with `data.workers`) that Orbax saves beside the train
state; a resumed run reads exactly the batches an uninterrupted one would have. Augmentation
follows the reference translation code: resize to `load_size`, random crop to `image_size` and
random flip, with the same crop and flip for every image of a pair. Images stay uint8 until the
train step (4x less to move to the devices).
"""

import os
import signal
import threading
import time

import grain
import jax
import numpy as np
from absl import flags, logging
from jax.experimental import multihost_utils
from PIL import Image

from gan_jax.config import check_choice
from gan_jax.data import layouts, sources
from gan_jax.errors import ConfigError, DataError

CROPS = ("random", "center", "none")
# data.read_threads=0 starts one reader thread per CPU core, up to this many. Image decoding and
# resizing, most of a read, release Python's lock; the rest holds it, so past a few cores threads
# gain less (data.workers adds processes).
MAX_AUTO_READ_THREADS = 16


def validate_config(config) -> None:
  """Checks the data keys that need no data, before anything is read or built."""
  data = config.data
  check_choice(config, "data.crop", CROPS)
  if data.load_size and data.load_size < config.image_size:
    raise ConfigError(
      f"config.data.load_size={data.load_size} is smaller than "
      f"config.image_size={config.image_size}; use 0 or >= image_size"
    )
  if data.eval_size < 0:
    raise ConfigError(f"config.data.eval_size must be >= 0 (0 = image_size), got {data.eval_size}")
  if data.read_threads < 0 or data.prefetch < 0:
    raise ConfigError("config.data.read_threads and config.data.prefetch must be >= 0")
  if data.workers < 0:
    raise ConfigError(
      f"config.data.workers must be >= 0 (0 = no worker processes), got {data.workers}"
    )


def _exit_with_parent(parent: int) -> None:
  while os.getppid() == parent:
    time.sleep(1.0)
  os._exit(0)


def _worker_init(index: int, count: int) -> None:
  """Worker processes ignore SIGTERM and SIGINT, which a preemption or Ctrl-C sends to every
  process: the trainer may need more batches before it saves, and it stops them itself. If the
  trainer dies without stopping them (grain leaves them running), they exit within a second."""
  del index, count
  signal.signal(signal.SIGTERM, signal.SIG_IGN)
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def usable_cores() -> int:
  """The CPU cores this process may run on."""
  if hasattr(os, "sched_getaffinity"):
    return len(os.sched_getaffinity(0))
  return os.cpu_count() or 1


def read_options(data, workers: int = 0) -> grain.ReadOptions:
  """grain's ReadOptions for config.data, per process (this one, or each of `workers` worker
  processes): each reader thread builds one whole batch, and a thread can start a batch only while
  the prefetch buffer has room, so the buffer holds at least one batch per thread."""
  threads = data.read_threads
  if threads == 0:
    threads = max(1, min(MAX_AUTO_READ_THREADS, usable_cores() // max(1, workers)))
  return grain.ReadOptions(num_threads=threads, prefetch_buffer_size=max(data.prefetch, threads))


def _split(splits: dict, name: str, what: str, layout=None, key: str = ""):
  if name not in splits:
    hint = ""
    usable = [s for s in ("train", "test", "validation") if layout and _has(splits, layout, s)]
    if key and usable:
      hint = f"; use --config.data.{key}={usable[0]}"
    raise DataError(
      f"{what} is not a split of this dataset; splits: {', '.join(sorted(splits))}{hint}"
    )
  if len(splits[name]) == 0:
    raise DataError(f"split {name!r} of this dataset is empty")
  return splits[name]


def _has(splits: dict, layout, split: str) -> bool:
  """Whether `splits` holds every dataset split that `split` stands for in `layout`."""
  return all(name in splits for name in layout.split_names(split))


def _report_sizes(layout, splits, split: str, batch_size: int, process_count: int) -> None:
  """Logs how many examples the training split holds; warns when a batch repeats examples."""
  sizes = {name: len(splits[name]) for name in layout.split_names(split)}
  if jax.process_index() == 0:
    logging.info(
      "training data: %s examples", ", ".join(f"{name} {n}" for name, n in sizes.items())
    )
  for name, n in sizes.items():
    per_process = -(-n // process_count)
    if per_process < batch_size:
      logging.warning(
        "split %r holds %d examples%s, fewer than a batch (%d): every batch repeats examples",
        name,
        n,
        f" ({per_process} per process)" if process_count > 1 else "",
        batch_size,
      )


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
  if image.shape[1] == width and image.shape[0] == height:
    return image
  return np.asarray(Image.fromarray(image).resize((width, height), Image.BICUBIC))


class Augment:
  """Resize, crop and flip one example's images together (picklable, for grain workers)."""

  def __init__(
    self, image_size: int, load_size: int, crop: str, flip: bool, train: bool, eval_size: int = 0
  ):
    # Evaluation sees the whole image (shorter side to eval_size, central square), never jitter.
    self.size = image_size if train else (eval_size or image_size)
    self.load = (load_size or image_size) if train else self.size
    self.crop = crop if train else ("none" if crop == "none" else "center")
    self.flip = flip and train

  def __call__(self, images: list[np.ndarray], rng: np.random.Generator | None) -> list:
    s, load = self.size, self.load
    if self.crop == "none":
      images = [_resize(im, s, s) for im in images]
    elif self.crop == "center":
      # Shorter side to load_size (aspect kept), then the central square, as the DCGAN reference.
      h, w = images[0].shape[:2]
      nh, nw = (
        (load, max(load, round(w * load / h))) if h <= w else (max(load, round(h * load / w)), load)
      )
      images = [_resize(im, nw, nh) for im in images]
      top, left = (nh - s) // 2, (nw - s) // 2
      images = [im[top : top + s, left : left + s] for im in images]
    else:
      # The translation references' resize_and_crop: a load_size square, then one random crop.
      images = [_resize(im, load, load) for im in images]
      top, left = rng.integers(0, load - s + 1, size=2)
      images = [im[top : top + s, left : left + s] for im in images]
    if self.flip and rng.random() < 0.5:
      images = [im[:, ::-1] for im in images]
    return [np.ascontiguousarray(im) for im in images]


def _shard(source, process_index: int, process_count: int) -> grain.MapDataset:
  ds = grain.MapDataset.source(source)[process_index::process_count]
  if len(ds) == 0:
    raise DataError(
      f"a split of {len(source)} examples cannot give every one of "
      f"{process_count} processes an example"
    )
  return ds


def _examples(config, layout, splits, process_index, process_count, train: bool, split=None):
  """A MapDataset of example dicts holding only the batch keys of `layout` (a layouts.Layout)."""
  data, seed = config.data, config.seed
  key = "train_split" if train else "eval_split"
  origin = "" if split else f", config.data.{key}={data[key]!r}"
  split = split or data[key]
  if layout.domains:
    # One split per domain: config.data.eval_split 'test' reads testA and testB.
    domains = []
    for i, name in enumerate(layout.split_names(split)):
      what = f"split {name!r} ({layout.name} data{origin})"
      ds = _shard(_split(splits, name, what, layout, key), process_index, process_count)
      if train:  # each domain shuffled on its own; a shorter one simply wraps around sooner
        ds = ds.shuffle(seed=seed + i).repeat(None)
      domains.append(ds.map(lambda ex: ex["image"]))
    if not train:  # evaluation: as many tuples as the shortest domain holds
      n = min(len(d) for d in domains)
      domains = [d[:n] for d in domains]
    images = layout.images
    return grain.experimental.ZipMapDataset(domains).map(
      lambda xs: dict(zip(images, xs, strict=True))
    )
  source = _split(splits, split, f"config.data.{key}={split!r}", layout, key)
  if layout.labels and data.label_key not in source[0]:
    raise DataError(
      f"config.data.label_key={data.label_key!r} is not a feature of this dataset, which the "
      f"{layout.name} layout needs; features: {', '.join(sorted(source[0]))}"
    )
  ds = _shard(source, process_index, process_count)
  if train:
    ds = ds.shuffle(seed=seed).repeat(None)
  images, labels, label_key = layout.images, layout.labels, data.label_key
  return ds.map(
    lambda ex: {**{k: ex[k] for k in images}, **{k: np.int32(ex[label_key]) for k in labels}}
  )


def _open_in_turn(data_config, layout):
  """Process 0 prepares the dataset first; the others then open it (or build their own copy when
  their data dir is host-local), so processes sharing a data dir never build it at once."""
  if jax.process_count() == 1:
    return sources.open_dataset(data_config, layout)
  splits = sources.open_dataset(data_config, layout) if jax.process_index() == 0 else None
  multihost_utils.sync_global_devices("gan_jax: dataset prepared")
  return splits or sources.open_dataset(data_config, layout)


def make_dataset(
  config,
  layout: str,
  batch_size: int,
  *,
  train: bool = True,
  process_index: int | None = None,
  process_count: int | None = None,
  split: str | None = None,
  num_classes: int = 0,
):
  """This process's batches as a grain IterDataset.

  Args:
    config: the run config (data.*, image_size, seed).
    layout: a name in data/layouts.py (the family's layout).
    batch_size: examples per batch for THIS process.
    train: shuffle, repeat forever and augment; else one deterministic pass over the eval split,
      the last batch possibly short.
    process_index, process_count: default to this JAX process's.
    split: read this split instead of config.data.train_split / eval_split ('train' or 'test'
      for unpaired data, whose splits come in A/B pairs).
    num_classes: the classes a conditional model takes (0: none): labelled data that declares
      more is refused here, before its labels could fall outside the model's.

  Returns:
    An IterDataset of dicts: uint8 [batch, image_size, image_size, 3] per image key of the
    layout, int32 [batch] per label key. With
    config.data.workers, close its iterators (`.close()`, as every grain iterator has) to stop the
    worker processes.
  """
  validate_config(config)
  process_index = jax.process_index() if process_index is None else process_index
  process_count = jax.process_count() if process_count is None else process_count
  splits = _open_in_turn(config.data, layout)
  if num_classes:
    _check_classes(splits, config.data.label_key, num_classes)
  return batches_from_splits(
    config,
    layouts.get_layout(layout),
    splits,
    batch_size,
    train,
    process_index,
    process_count,
    split,
  )


def _check_classes(splits: dict, label_key: str, num_classes: int) -> None:
  """Refuses labelled data whose class feature (a TFDS ClassLabel) has more classes than the
  model takes."""
  for source in splits.values():
    info = getattr(source, "dataset_info", None)
    feature = info.features[label_key] if info and label_key in info.features else None
    found = getattr(feature, "num_classes", None)
    if found is not None and found > num_classes:
      raise DataError(
        f"config.data.label_key={label_key!r} has {found} classes and the model takes "
        f"{num_classes} (config.model.num_classes); set it to {found}"
      )
    return


def batches_from_splits(
  config, layout, splits, batch_size, train, process_index, process_count, split=None
):
  """make_dataset's batches from opened splits (split name -> random-access source)."""
  ds = _examples(config, layout, splits, process_index, process_count, train, split)
  if train:
    _report_sizes(layout, splits, split or config.data.train_split, batch_size, process_count)
  data = config.data
  augment = Augment(config.image_size, data.load_size, data.crop, data.flip, train, data.eval_size)
  keys = layout.images

  def transform(example, rng=None):
    return {**example, **dict(zip(keys, augment([example[k] for k in keys], rng), strict=True))}

  if train:
    ds = ds.random_map(transform, seed=config.seed + 1000 * (process_index + 1))
  else:
    ds = ds.map(transform)
  ds = ds.batch(batch_size, drop_remainder=train)
  workers = data.workers if train else 0
  batches = ds.to_iter_dataset(read_options(data, workers))
  if not workers:
    return batches
  # Worker processes (spawned) each read a slice of the batches, in turn; the batches and their
  # order are the same as without them. grain reads absl flags there: a library caller (a notebook)
  # has parsed none, so the defaults are taken.
  if not flags.FLAGS.is_parsed():
    flags.FLAGS.mark_as_parsed()
  buffer = max(1, -(-data.prefetch // workers))
  options = grain.MultiprocessingOptions(workers, per_worker_buffer_size=buffer)
  return batches.mp_prefetch(options, worker_init_fn=_worker_init)
