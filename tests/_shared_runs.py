"""The :tiny configs of the runs that tests/conftest_runs.py trains once per session."""

from gan_jax import config as config_lib
from tests.conftest import ROOT

TINY = {"cyclegan": "configs/cyclegan.py:tiny", "dualgan": "configs/dualgan.py:tiny"}


def tiny_config(family, data_dir, *overrides):
  """A family's :tiny as `--config=configs/<family>.py:tiny --config.<overrides>` loads it, on
  the session's TFDS dir."""
  return config_lib.load_config(str(ROOT / TINY[family]), [f"data.data_dir={data_dir}", *overrides])
