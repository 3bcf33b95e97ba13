"""notebooks/gan_jax_colab.ipynb runs top to bottom on CPU (tiny preset, no installs outside Colab),
so it cannot rot: it trains, shows sample grids, translates the bundled photo, evaluates and zips
the checkpoint."""

import json
import time

import nbclient
import nbformat

from tests.conftest import ROOT

NOTEBOOK = ROOT / "notebooks" / "gan_jax_colab.ipynb"


def _outputs(cell, kind):
  return [o for o in cell.get("outputs", []) if o.get("output_type") == kind]


def test_notebook_runs_top_to_bottom(tmp_path, tfds_data_dir, monkeypatch):
  workdir = tmp_path / "run"
  for key, value in {
    "GAN_JAX_NOTEBOOK_FAMILY": "pix2pix",
    "GAN_JAX_NOTEBOOK_PRESET": "tiny",
    "GAN_JAX_NOTEBOOK_STEPS": "0",
    "GAN_JAX_NOTEBOOK_WORKDIR": str(workdir),
    "TFDS_DATA_DIR": tfds_data_dir,
  }.items():
    monkeypatch.setenv(key, value)
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  start = time.perf_counter()
  nbclient.NotebookClient(
    notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
  ).execute()
  print(f"notebook ran in {time.perf_counter() - start:.1f} s")
  code = [c for c in notebook.cells if c.cell_type == "code"]
  assert not any(_outputs(c, "error") for c in code)
  text = "".join(
    o.get("text", "") for c in code for o in _outputs(c, "stream") if o.get("name") == "stdout"
  )
  assert "in Colab: False" in text and "accelerator: cpu (jax==0.10.2)" in text
  images = [o for c in code for o in _outputs(c, "display_data") if "image/png" in o["data"]]
  assert len(images) >= 3  # the last two sample grids and the input | translation pair
  logs = "".join(o.get("text", "") for c in code for o in _outputs(c, "stream"))
  assert "step 4/4" in logs  # the progress line
  assert (workdir / "translated.png").is_file()
  scores = json.loads((workdir / "eval" / "step_0000004.json").read_text())
  assert scores["num_images"] > 0 and "psnr" in scores
  assert (workdir / "checkpoint_4.zip").stat().st_size > 1000
