"""The one entry point of the input pipeline: a data config and a layout -> random-access splits.

Three kinds of dataset, in this order of precedence:
1. `data.folder`: a local folder, built once into the data dir (see `folders`).
2. `data.name` of an embedded dataset (`EMBEDDED`: `shapes`, `toon`, with `/config`), generated
   offline by gan_jax's own builders. They are resolved here, never through TFDS's registry.
3. any other `data.name` is a TFDS catalogue name (`cifar10`, `cycle_gan/horse2zebra`, ...).
Every dataset is stored as array_record and read with `as_data_source`, which needs no TensorFlow.
"""

import os
from collections.abc import Callable
from typing import Protocol

import numpy as np
import tensorflow_datasets as tfds

from gan_jax.data import folders, shapes, smoothing, style_folders, toon
from gan_jax.data.layouts import LAYOUTS
from gan_jax.errors import DataError

EMBEDDED = {"shapes": shapes.Shapes, "toon": toon.Toon}
_ARRAY_RECORD = tfds.core.FileFormat.ARRAY_RECORD


class Source(Protocol):
  """A random-access split: `len(source)` examples, each a dict of numpy arrays."""

  def __len__(self) -> int: ...

  def __getitem__(self, index: int) -> dict[str, np.ndarray]: ...


def embedded_names() -> list[str]:
  """Every valid embedded `data.name`: each dataset alone (its default config) and `name/config`.

  Returns:
    The names, e.g. ['shapes', 'shapes/full', 'shapes/small', 'toon', ...].
  """
  names = []
  for dataset, builder_cls in EMBEDDED.items():
    names += [dataset] + [f"{dataset}/{c.name}" for c in builder_cls.BUILDER_CONFIGS]
  return names


def open_dataset(data_config, layout: str) -> dict[str, Source]:
  """Prepares a dataset if needed and opens its splits for random access.

  Cheap when the dataset is already prepared (a folder is only listed and stat-ed).

  Args:
    data_config: an object with `name`, `folder`, `data_dir` (strings, '' when unused) and
      `skip_bad_images` (bool); a non-empty `folder` wins over `name`.
    layout: what the family needs, a name in data/layouts.py: e.g. 'unconditional' (examples
      hold 'image'), 'paired' ('image_a', 'image_b') or 'unpaired' (splits 'trainA', 'trainB'
      [+ 'testA', 'testB'] of 'image').

  Returns:
    Split name -> source; each example is a dict of numpy arrays, images uint8 [H, W, 3].

  Raises:
    DataError: the dataset cannot be found, prepared or read, or has another layout.
  """
  if layout not in LAYOUTS:
    raise ValueError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
  if layout == "photo_style":  # photos (A), style images (B); smoothed B derived when absent
    folder = getattr(data_config, "folder", "") or ""
    if folder and style_folders.is_reference_layout(folder):  # AnimeGAN's own folders
      skip_bad_images = bool(getattr(data_config, "skip_bad_images", False))
      data_dir = getattr(data_config, "data_dir", "") or None
      make_builder = style_folders.builder(folder, data_dir, skip_bad_images)
      return smoothing.with_smooth_splits(_open_prepared(_prepare(make_builder)))
    return smoothing.with_smooth_splits(open_dataset(data_config, "unpaired"))
  folder = getattr(data_config, "folder", "") or ""
  name = getattr(data_config, "name", "") or ""
  data_dir = getattr(data_config, "data_dir", "") or None
  if folder:
    skip_bad_images = bool(getattr(data_config, "skip_bad_images", False))
    make_builder = folders.folder_builder(folder, layout, data_dir, skip_bad_images)
    return _open_prepared(_prepare(make_builder))
  if not name:
    raise DataError(
      "data.name and data.folder are both empty; set data.name to an embedded dataset "
      f"({', '.join(embedded_names())}) or a TFDS name, or data.folder to a local folder"
    )
  if name.split("/", 1)[0] in EMBEDDED:
    return _open_prepared(_prepare(_embedded_builder(name, layout, data_dir)))
  label_key = getattr(data_config, "label_key", "label")
  return _open_catalogue(name, layout, data_dir, label_key)


def aligned_splits(data_config) -> tuple[str, ...]:
  """The splits of an unpaired dataset whose domains hold the same scenes in the same order
  (testA[i] and testB[i]: ground truth for each other), as the dataset declares: the embedded
  toon data's test split. Local folders and catalogue datasets declare none."""
  name = getattr(data_config, "name", "") or ""
  if getattr(data_config, "folder", "") or name.split("/", 1)[0] not in EMBEDDED:
    return ()
  return getattr(_embedded_config(name), "aligned_splits", ())


def _embedded_config(name: str):
  """The builder config of an embedded `name` ('toon', 'toon/unpaired'), or None."""
  dataset, _, config_name = name.partition("/")
  builder_cls = EMBEDDED[dataset]
  configs = {c.name: c for c in builder_cls.BUILDER_CONFIGS}
  return configs.get(config_name or builder_cls.BUILDER_CONFIGS[0].name)


def _embedded_builder(name: str, layout: str, data_dir: str | None):
  """Checks an embedded name and its layout; returns a factory of its builder."""
  builder_cls = EMBEDDED[name.partition("/")[0]]
  config = _embedded_config(name)
  if config is None:
    raise DataError(
      f"data.name {name!r} is not an embedded dataset; valid names: {', '.join(embedded_names())}"
    )
  if layout not in config.layouts:
    fitting = [
      f"{other}/{c.name}"
      for other, other_cls in EMBEDDED.items()
      for c in other_cls.BUILDER_CONFIGS
      if layout in c.layouts
    ]
    has = config.layouts[0]
    raise DataError(
      f"data.name {name!r} has the {has} layout ({LAYOUTS[has].feature_form}) but "
      f"this family needs {layout} images ({LAYOUTS[layout].feature_form}); embedded datasets "
      f"with that layout: {', '.join(fitting) or 'none'}"
    )
  # By name, so that a pickled builder (grain worker processes) re-creates the same config.
  return lambda: builder_cls(config=config.name, data_dir=data_dir)


def _prepare(make_builder: Callable[[], tfds.core.DatasetBuilder]):
  """Returns a prepared builder, building it in array_record format unless it already exists.

  TFDS writes into a temporary folder and renames it when complete, so a failed build leaves
  nothing that a later call would take for a finished dataset.

  Args:
    make_builder: makes a fresh builder, reading whatever is on disk now.

  Returns:
    A builder whose data is on disk.
  """
  builder = make_builder()
  if builder.is_prepared():
    return builder
  try:
    builder.download_and_prepare(file_format=_ARRAY_RECORD)
  except Exception:
    # Several processes of one run may build the same dataset into a shared data dir; if another
    # one finished first, its build is as good as ours.
    fresh = make_builder()
    if fresh.is_prepared():
      return fresh
    raise
  return builder


def _check_array_record(name: str, builder: tfds.core.DatasetBuilder) -> None:
  if _ARRAY_RECORD not in builder.info.available_file_formats():
    formats = ", ".join(sorted(f.value for f in builder.info.available_file_formats()))
    raise DataError(
      f"data.name {name!r} is prepared in {builder.data_dir} as {formats or 'an unknown format'}, "
      f"but gan_jax reads array_record; convert it with `tfds build {name} "
      f"--file_format=array_record --data_dir={builder.data_dir_root}` (or set another "
      "data.data_dir)"
    )


def _open_prepared(builder: tfds.core.DatasetBuilder) -> dict[str, Source]:
  return {str(split): source for split, source in builder.as_data_source().items()}


def _open_catalogue(
  name: str, layout: str, data_dir: str | None, label_key: str = "label"
) -> dict[str, Source]:
  """Opens a TFDS catalogue dataset, preparing it in array_record format if it is not there."""
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except Exception as e:
    reason = (str(e).strip().splitlines() or [type(e).__name__])[0].rstrip(":")
    raise DataError(
      f"data.name {name!r} is neither an embedded dataset ({', '.join(embedded_names())}) nor a "
      f"TFDS dataset that can be opened ({reason})"
    ) from e
  # Features are known before any download: check them first.
  _check_catalogue_layout(name, builder, layout, label_key)
  grey_keys = _grey_image_keys(name, builder.info.features)
  if builder.is_prepared():
    _check_array_record(name, builder)
  else:
    try:
      builder = _prepare(lambda: tfds.builder(name, data_dir=data_dir))
    except Exception as e:
      reason = " ".join(str(e).split())[:300] or type(e).__name__
      raise DataError(
        f"cannot prepare TFDS dataset {name!r} in {builder.data_dir_root} ({reason}); without "
        f"network, run `tfds build {name} --file_format=array_record "
        f"--data_dir={builder.data_dir_root}` where it can download, and copy the result here"
      ) from e
  _check_catalogue_layout(name, builder, layout, label_key)  # now with its splits
  splits = _open_prepared(builder)
  if grey_keys:
    return {split: _GreyToRgb(source, grey_keys) for split, source in splits.items()}
  return splits


def catalogue_layout(info: tfds.core.DatasetInfo) -> str | None:
  """The layout of a TFDS dataset, from its features and (once prepared) its splits.

  Args:
    info: the dataset's info.

  Returns:
    'paired' (features image_a and image_b), 'unpaired' (an image feature and splits trainA and
    trainB), 'unconditional' (an image feature, other splits), None when an image feature is
    there but the splits are not known yet, or '' when the dataset has no image feature.
  """
  keys = set(info.features.keys())
  if {"image_a", "image_b"} <= keys:
    return "paired"
  if "image" not in keys:
    return ""
  if not info.splits:
    return None
  return "unpaired" if {"trainA", "trainB"} <= set(info.splits.keys()) else "unconditional"


def _check_catalogue_layout(name: str, builder, layout: str, label_key: str = "label") -> None:
  if layout == "labelled":
    features = builder.info.features
    feature = features[label_key] if "image" in features and label_key in features else None
    if not isinstance(feature, tfds.features.ClassLabel):
      raise DataError(
        f"data.name {name!r} has no 'image' feature with an integer class feature "
        f"{label_key!r} (config.data.label_key), which this family's labelled layout needs; "
        f"features: {', '.join(sorted(features.keys()))}"
      )
    return
  found = catalogue_layout(builder.info)
  if found is None and layout != "paired":
    return  # unconditional or unpaired: decided by the splits, checked again once prepared
  if found != layout:
    if found is None:
      has = "an 'image' feature (the unconditional or unpaired layout)"
    elif found:
      has = f"the {found} layout ({LAYOUTS[found].feature_form})"
    else:
      has = "no 'image' or 'image_a'/'image_b' feature"
    raise DataError(
      f"data.name {name!r} has {has} but this family needs {layout} images "
      f"({LAYOUTS[layout].feature_form})"
    )


class _GreyToRgb:
  """Wraps a source of 1-channel images (e.g. MNIST) so that its images have 3 channels."""

  def __init__(self, source: Source, keys: tuple[str, ...]):
    self._source, self._keys = source, keys

  def __len__(self) -> int:
    return len(self._source)

  def __getitem__(self, index: int) -> dict[str, np.ndarray]:
    example = dict(self._source[index])
    for key in self._keys:
      example[key] = np.repeat(example[key], 3, axis=-1)
    return example

  def __repr__(self) -> str:
    return f"_GreyToRgb({self._source!r})"


def _grey_image_keys(name: str, features) -> tuple[str, ...]:
  """Checks that a catalogue dataset's images are uint8 with 1 or 3 channels; names the 1s."""
  grey = []
  for key in ("image", "image_a", "image_b"):
    if key not in features:
      continue
    feature = features[key]
    if not isinstance(feature, tfds.features.Image) or feature.np_dtype != np.uint8:
      raise DataError(f"data.name {name!r}: feature {key!r} is {feature!r}; expected uint8 images")
    if feature.shape[-1] not in (1, 3):
      raise DataError(
        f"data.name {name!r}: feature {key!r} has {feature.shape[-1]} channels; expected 1 or 3"
      )
    if feature.shape[-1] == 1:
      grey.append(key)
  return tuple(grey)


def default_data_dir() -> str:
  """The TFDS data dir used when `data.data_dir` is empty."""
  return os.fspath(tfds.core.constants.DATA_DIR)
