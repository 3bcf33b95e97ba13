"""Local image folders, in the layouts users already have, as TFDS array_record datasets.

A folder is built once into the data dir and reused until it changes: the builder config is named
`<folder name>_<fingerprint>`, where the fingerprint hashes the relative path, size and mtime of
every image file and the skip_bad_images setting. Any change gives a new name and so a new build;
unchanged folders are never rebuilt.

Layouts (`detect_layout`):
- unpaired: `trainA/ trainB/` (required) and optional `testA/ testB/`;
- paired: `train/` (required) and optional `val/ test/`, each file a side-by-side A|B image;
- unconditional: any other folder of images, searched recursively.
Files without an image extension are ignored; unreadable images fail the build with the file's
name, or are skipped (and counted in a warning) when skip_bad_images is set.
"""

import dataclasses
import hashlib
import os
import pathlib
import re
from collections.abc import Callable
from typing import ClassVar

import numpy as np
import tensorflow_datasets as tfds
from absl import logging

from gan_jax.data import images
from gan_jax.data.builder import OfflineBuilder, OfflineInfo
from gan_jax.data.layouts import LAYOUTS
from gan_jax.errors import DataError

# The layouts a local folder can take, from the one table (data/layouts.py).
FOLDER_LAYOUTS = {name: layout for name, layout in LAYOUTS.items() if layout.folder_form}
ACCEPTED_LAYOUTS = ", or ".join(
  f"{layout.folder_form} ({name})" for name, layout in FOLDER_LAYOUTS.items()
)
_SHOWN_SKIPPED = 5  # skipped files named in the warning


def list_images(root: pathlib.Path) -> list[pathlib.Path]:
  """All image files under `root`, recursively and sorted; hidden files and folders are left out.

  Symlinked folders are followed (datasets are often linked in), each real folder once.

  Args:
    root: the folder to search.

  Returns:
    The image paths, below `root` as given (not resolved).
  """
  found, seen = [], set()
  for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
    real = os.path.realpath(dirpath)
    if real in seen:  # a symlink loop or a second link to the same folder
      dirnames[:] = []
      continue
    seen.add(real)
    dirnames[:] = [d for d in dirnames if not d.startswith(".")]
    found += [pathlib.Path(dirpath, f) for f in filenames if images.is_image_file(f)]
  return sorted(found)


def _check_folder(folder: pathlib.Path) -> None:
  if not folder.exists():
    raise DataError(f"data.folder {folder} does not exist; expected a folder of {ACCEPTED_LAYOUTS}")
  if not folder.is_dir():
    raise DataError(
      f"data.folder {folder} is not a folder; expected a folder of {ACCEPTED_LAYOUTS}"
    )


def detect_layout(folder: str | os.PathLike) -> str:
  """Names the layout of a folder: 'unpaired', 'paired' or 'unconditional'.

  Args:
    folder: the dataset folder.

  Returns:
    'unpaired' if it has trainA/ or trainB/, else 'paired' if it has train/, else 'unconditional'.

  Raises:
    DataError: the folder does not exist, or holds none of the layouts.
  """
  folder = pathlib.Path(folder).expanduser()
  _check_folder(folder)
  if (folder / "trainA").is_dir() or (folder / "trainB").is_dir():
    return "unpaired"
  if (folder / "train").is_dir():
    return "paired"
  if list_images(folder):
    return "unconditional"
  raise DataError(f"data.folder {folder} holds no images; expected {ACCEPTED_LAYOUTS}")


@dataclasses.dataclass(frozen=True)
class FolderPlan:
  """A validated folder: its layout and, per split, the split's folder and image files."""

  folder: pathlib.Path
  layout: str
  splits: dict[str, tuple[pathlib.Path, tuple[pathlib.Path, ...]]]


def plan_folder(folder: str | os.PathLike, layout: str) -> FolderPlan:
  """Checks that a folder has the layout a family needs and lists its splits' images.

  Args:
    folder: the dataset folder.
    layout: the layout the family needs, one of 'unconditional', 'paired', 'unpaired'.

  Returns:
    The folder's plan.

  Raises:
    DataError: the folder is missing, empty, of another layout, or lacks a required split.
  """
  folder = pathlib.Path(folder).expanduser()
  if layout not in FOLDER_LAYOUTS:
    raise DataError(
      f"data.folder {folder}: this family needs {layout} data ({LAYOUTS[layout].feature_form}), "
      f"which a local folder cannot give; use data.name with a TFDS dataset that has it"
    )
  needed = FOLDER_LAYOUTS[layout].folder_form
  found = detect_layout(folder)
  if found != layout:
    hint = ""
    if layout == "unconditional" and found == "paired":
      hint = f"; if {folder / 'train'} holds plain images, point data.folder at it"
    raise DataError(
      f"data.folder {folder} has the {found} layout ({FOLDER_LAYOUTS[found].folder_form}) but "
      f"this family needs {layout} images: {needed}{hint}"
    )
  if layout == "unconditional":
    return FolderPlan(folder, layout, {"train": (folder, tuple(list_images(folder)))})
  splits = {}
  for split in FOLDER_LAYOUTS[layout].folder_splits:
    split_dir = folder / split
    files = tuple(list_images(split_dir)) if split_dir.is_dir() else ()
    if files:
      splits[split] = (split_dir, files)
    elif split in FOLDER_LAYOUTS[layout].folder_required:
      raise DataError(
        f"data.folder {folder}: {split}/ is missing or holds no images; "
        f"the {layout} layout needs {needed}"
      )
  return FolderPlan(folder, layout, splits)


def config_name(plan: FolderPlan, skip_bad_images: bool) -> str:
  """Names a folder's build: `<sanitised folder name>_<12 hex digits of its fingerprint>`.

  Args:
    plan: the validated folder.
    skip_bad_images: whether unreadable images are skipped (it changes what gets built).

  Returns:
    The TFDS builder config name.
  """
  digest = hashlib.sha256(f"{plan.layout}\nskip_bad_images={skip_bad_images}\n".encode())
  for _, files in plan.splits.values():
    for path in files:
      stat = path.stat()
      relative = path.relative_to(plan.folder).as_posix()
      digest.update(f"{relative}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
  base = re.sub(r"[^a-z0-9]+", "_", plan.folder.resolve().name.lower()).strip("_")[:40]
  return f"{base or 'folder'}_{digest.hexdigest()[:12]}"


class _FolderBuilder(OfflineBuilder, skip_registration=True):
  """Builds a planned folder; subclasses give the features of one layout."""

  LAYOUT: ClassVar[str]

  def __init__(self, *, plan: FolderPlan | None = None, skip_bad_images: bool = False, **kwargs):
    """Makes the builder of one folder build.

    Args:
      plan: the folder; only needed to build, not to read an existing build.
      skip_bad_images: skip unreadable images (counted in a warning) instead of failing.
      **kwargs: for `tfds.core.DatasetBuilder` (config, data_dir).
    """
    self._plan = plan
    self._skip_bad_images = skip_bad_images
    super().__init__(**kwargs)

  def _split_generators(self, dl_manager):
    del dl_manager  # the images are local
    return {
      split: self._generate_examples(split, split_dir, files)
      for split, (split_dir, files) in self._plan.splits.items()
    }

  def _generate_examples(
    self, split: str, split_dir: pathlib.Path, files: tuple[pathlib.Path, ...]
  ):
    skipped = []
    for index, path in enumerate(files):
      try:
        opened = images.open_image(path)
      except DataError:
        if not self._skip_bad_images:
          raise
        skipped.append(path)
        continue
      file_name = path.relative_to(split_dir).as_posix()
      yield file_name, {"file_name": file_name, **self._features_of(split, path, index, *opened)}
    if skipped:
      self._report_skipped(split_dir, files, skipped)

  def _report_skipped(self, split_dir, files, skipped) -> None:
    if len(skipped) == len(files):
      raise DataError(f"every image in {split_dir} is unreadable (first: {skipped[0]})")
    shown = ", ".join(str(p) for p in skipped[:_SHOWN_SKIPPED])
    more = ", ..." if len(skipped) > _SHOWN_SKIPPED else ""
    logging.warning(
      "skipped %d unreadable images of %d in %s (skip_bad_images=true): %s%s",
      len(skipped),
      len(files),
      split_dir,
      shown,
      more,
    )

  def _features_of(self, split, path, index, image, data) -> dict:
    """The example's features other than `file_name`, from its decoded image."""
    raise NotImplementedError

  def _info_with(self, features: dict) -> tfds.core.DatasetInfo:
    """DatasetInfo of this layout's features plus `file_name` (relative to the split folder)."""
    return OfflineInfo(
      builder=self,
      description=f"The local {self.LAYOUT} image folder {self.builder_config.description}",
      features=tfds.features.FeaturesDict({"file_name": tfds.features.Text(), **features}),
    )


_IMAGE = tfds.features.Image(shape=(None, None, 3))


class UnconditionalFolder(_FolderBuilder, skip_registration=True):
  """A plain folder of images: split `train`, features `image`, `file_name`."""

  name = "gan_jax_folder_unconditional"
  LAYOUT = "unconditional"

  def _info(self):
    return self._info_with({"image": _IMAGE})

  def _features_of(self, split, path, index, image, data):
    return {"image": images.encode_opened(image, data)}


class UnpairedFolder(_FolderBuilder, skip_registration=True):
  """trainA/ trainB/ [testA/ testB/]: features `image`, `label` (A/B), `id`, `file_name`."""

  name = "gan_jax_folder_unpaired"
  LAYOUT = "unpaired"

  def _info(self):
    label = tfds.features.ClassLabel(names=("A", "B"))
    return self._info_with({"image": _IMAGE, "label": label, "id": tfds.features.Scalar(np.int64)})

  def _features_of(self, split, path, index, image, data):
    return {"image": images.encode_opened(image, data), "label": split[-1], "id": index}


class PairedFolder(_FolderBuilder, skip_registration=True):
  """train/ [val/ test/] of side-by-side A|B images: `image_a`, `image_b`, `id`, `file_name`."""

  name = "gan_jax_folder_paired"
  LAYOUT = "paired"

  def _info(self):
    features = {"image_a": _IMAGE, "image_b": _IMAGE, "id": tfds.features.Scalar(np.int64)}
    return self._info_with(features)

  def _features_of(self, split, path, index, image, data):
    width, height = image.size
    if width % 2:
      raise DataError(
        f"{path} is {width} px wide; expected a side-by-side A|B image of even width "
        "(A on the left half, B on the right)"
      )
    rgb = images.to_rgb(image)
    image_a = rgb.crop((0, 0, width // 2, height))
    image_b = rgb.crop((width // 2, 0, width, height))
    return {
      "image_a": images.encode_png(image_a),
      "image_b": images.encode_png(image_b),
      "id": index,
    }


BUILDERS = {b.LAYOUT: b for b in (UnconditionalFolder, PairedFolder, UnpairedFolder)}


def folder_builder(
  folder: str | os.PathLike, layout: str, data_dir: str | None, skip_bad_images: bool
) -> Callable[[], tfds.core.DatasetBuilder]:
  """Validates a folder and returns a factory of its TFDS builder.

  Validation (layout, required splits) happens here, before anything is built. The builder is
  prepared (or found prepared) by the caller.

  Args:
    folder: the dataset folder.
    layout: the layout the family needs.
    data_dir: where built datasets live; None for the TFDS default.
    skip_bad_images: skip unreadable images instead of failing.

  Returns:
    A function that makes the folder's builder; calling it again gives a fresh builder that
    reads whatever is on disk now.

  Raises:
    DataError: the folder cannot be used for this layout.
  """
  plan = plan_folder(folder, layout)
  config = tfds.core.BuilderConfig(name=config_name(plan, skip_bad_images), description=str(folder))
  return lambda: BUILDERS[layout](
    plan=plan, skip_bad_images=skip_bad_images, config=config, data_dir=data_dir
  )
