"""AnimeGAN's dataset folders as the reference lays them out, built like any local folder.

  dataset/
    train_photo/          photos (domain A)
    test/test_photo/      optional: photos for the sample grids and --mode=eval
    <style>/style/        the style images (domain B)
    <style>/smooth/       optional: their edge-smoothed copies (derived when absent)

`data.folder` names `dataset/<style>` (as the reference's --dataset names the style). Splits:
trainA (train_photo), trainB (style), trainsmooth (smooth, when present) and testA (test_photo,
when present). Files are found as every local folder's (data/folders.py); the build is cached in the
data dir under a fingerprint of the files.
"""

import os
import pathlib

import numpy as np
import tensorflow_datasets as tfds

from gan_jax.data import folders, images
from gan_jax.errors import DataError

STYLE, SMOOTH, PHOTOS, TEST_PHOTOS = "style", "smooth", "train_photo", ("test", "test_photo")


def is_reference_layout(folder: str | os.PathLike) -> bool:
  """Whether `folder` is a `<style>/` folder with `style/` beside a `../train_photo/`."""
  folder = pathlib.Path(folder).expanduser()
  return (folder / STYLE).is_dir() and (folder.parent / PHOTOS).is_dir()


def plan(folder: str | os.PathLike) -> folders.FolderPlan:
  """The splits of a reference-layout folder; DataError when a required one holds no images."""
  folder = pathlib.Path(folder).expanduser()
  dirs = {
    "trainA": folder.parent / PHOTOS,
    "trainB": folder / STYLE,
    "trainsmooth": folder / SMOOTH,
    "testA": folder.parent.joinpath(*TEST_PHOTOS),
  }
  splits = {}
  for split, path in dirs.items():
    files = tuple(folders.list_images(path)) if path.is_dir() else ()
    if files:
      splits[split] = (path, files)
    elif split in ("trainA", "trainB"):
      raise DataError(
        f"data.folder {folder}: {path} is missing or holds no images; AnimeGAN's layout is "
        f"{PHOTOS}/ beside <style>/{STYLE}/ [<style>/{SMOOTH}/]"
      )
  # The fingerprint of every file, relative to the dataset root above the style folder.
  return folders.FolderPlan(folder.parent, "photo_style", splits)


class PhotoStyleFolder(folders.UnpairedFolder, skip_registration=True):
  """The reference's folders: feature `image`, `label` (A, B or smooth), `id`, `file_name`."""

  name = "gan_jax_folder_photo_style"
  LAYOUT = "photo_style"

  def _info(self):
    label = tfds.features.ClassLabel(names=("A", "B", "smooth"))
    return self._info_with(
      {"image": folders._IMAGE, "label": label, "id": tfds.features.Scalar(np.int64)}
    )

  def _features_of(self, split, path, index, image, data):
    label = "smooth" if split.endswith("smooth") else split[-1]
    return {"image": images.encode_opened(image, data), "label": label, "id": index}


def builder(folder, data_dir: str | None, skip_bad_images: bool):
  """A factory of the folder's TFDS builder (validated now, built by the caller)."""
  folder_plan = plan(folder)
  name = folders.config_name(folder_plan, skip_bad_images)
  config = tfds.core.BuilderConfig(name=name, description=str(folder))
  return lambda: PhotoStyleFolder(
    plan=folder_plan, skip_bad_images=skip_bad_images, config=config, data_dir=data_dir
  )
