"""Datasets for gan_jax: embedded offline TFDS builders, local folders and TFDS catalogue names.

`open_dataset(config.data, layout)` is the one entry point; it returns random-access sources that
the grain input pipeline reads.
"""

from gan_jax.data.layouts import LAYOUTS
from gan_jax.data.sources import embedded_names, open_dataset

__all__ = ["LAYOUTS", "embedded_names", "open_dataset"]
