"""The one table of data layouts: what a family's batches hold, and how each dataset gives it.

A family declares one layout by name. From its row come the keys of a batch (`batch_spec`), the
TFDS features a dataset must have, the splits it is read from, and the folder form a user's local
folder must take. Two ways to hold several image domains:
- in one example (`paired`): each example has every image key;
- in one split per domain (`unpaired`): the example of domain `d` comes from split `<split><d>`
  (`trainA`, `trainB`), each domain shuffled on its own; the batch key of domain `i` is `images[i]`.
Labels are integer features carried beside the images (config.data.label_key names the feature).
"""

import dataclasses

import jax
import numpy as np

from gan_jax.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Layout:
  name: str
  images: tuple[str, ...]  # uint8 [B, H, W, 3] keys of a batch
  feature_form: str  # what a TFDS dataset of this layout provides, as named in errors
  labels: tuple[str, ...] = ()  # int32 [B] keys of a batch
  domains: tuple[str, ...] = ()  # split suffixes, one per image key; () = all keys in one example
  folder_form: str = ""  # a local folder of this layout, as named in errors; '' = none offered
  folder_splits: tuple[str, ...] = ()  # the split folders a local folder may hold
  folder_required: tuple[str, ...] = ()  # the ones it must hold

  def split_names(self, split: str) -> tuple[str, ...]:
    """The dataset splits that make up `split` ('train' -> trainA, trainB when unpaired)."""
    return tuple(split + d for d in self.domains) if self.domains else (split,)


LAYOUTS = {
  layout.name: layout
  for layout in (
    Layout(
      "unconditional",
      images=("image",),
      feature_form="an 'image' feature",
      folder_form="plain images, searched recursively",
    ),
    Layout(
      "labelled",
      images=("image",),
      labels=("label",),
      feature_form="an 'image' feature and an integer class feature (config.data.label_key)",
    ),
    Layout(
      "paired",
      images=("image_a", "image_b"),
      feature_form="'image_a' and 'image_b' features",
      folder_form="train/ [val/ test/] of side-by-side A|B images",
      folder_splits=("train", "val", "test"),
      folder_required=("train",),
    ),
    Layout(
      "unpaired",
      images=("image_a", "image_b"),
      domains=("A", "B"),
      feature_form="an 'image' feature in splits trainA, trainB",
      folder_form="trainA/ trainB/ [testA/ testB/]",
      folder_splits=("trainA", "trainB", "testA", "testB"),
      folder_required=("trainA", "trainB"),
    ),
    # AnimeGAN: photos, style images and their edge-smoothed copies, each shuffled on its own.
    # From unpaired data (A photos, B style) or AnimeGAN's folders (data/style_folders.py);
    # data/smoothing.py derives the smooth split where the data has none.
    Layout(
      "photo_style",
      images=("image_a", "image_b", "image_smooth"),
      domains=("A", "B", "smooth"),
      feature_form="an 'image' feature in splits trainA (photos), trainB (style images)",
    ),
  )
}


def get_layout(name: str) -> Layout:
  if name not in LAYOUTS:
    raise ConfigError(f"unknown data layout {name!r}; layouts: {', '.join(LAYOUTS)}")
  return LAYOUTS[name]


def batch_spec(layout: Layout | str, batch_size: int, image_size: int) -> dict:
  """Shapes and dtypes of a batch of `layout`, without reading any data."""
  layout = get_layout(layout) if isinstance(layout, str) else layout
  image = jax.ShapeDtypeStruct((batch_size, image_size, image_size, 3), np.uint8)
  label = jax.ShapeDtypeStruct((batch_size,), np.int32)
  return {**{k: image for k in layout.images}, **{k: label for k in layout.labels}}
