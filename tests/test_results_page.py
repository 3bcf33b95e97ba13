"""DIR/results/index.html: written at every eval of every family, every file it names exists."""

import html.parser
import json
import pathlib
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from gan_jax import config as config_lib
from gan_jax import results_page, train
from tests.conftest import ROOT


class _Page(html.parser.HTMLParser):
  """The files a page references (img src, a href) and its inline SVG charts' titles."""

  def __init__(self, text: str):
    super().__init__()
    self.refs, self.charts, self._in_title = [], [], False
    self.feed(text)

  def handle_starttag(self, tag, attrs):
    attrs = dict(attrs)
    if tag in ("img", "a"):
      self.refs.append(attrs.get("src") or attrs.get("href"))
    self._in_title = tag == "title" and self._in_svg
    if tag == "svg":
      self._in_svg = True

  def handle_endtag(self, tag):
    if tag == "svg":
      self._in_svg = False

  def handle_data(self, data):
    if self._in_title:
      self.charts.append(data)
      self._in_title = False

  _in_svg = False


def _check(page_path: pathlib.Path) -> _Page:
  text = page_path.read_text()
  page = _Page(text)
  missing = [r for r in page.refs if not (page_path.parent / r).is_file()]
  assert not missing, missing
  for svg in text.split("<svg")[1:]:  # each chart is well-formed XML
    ET.fromstring("<svg" + svg.split("</svg>")[0] + "</svg>")
  return page


def test_unconditional_run_page_at_every_eval(tmp_path, tfds_data_dir):
  config = config_lib.load_config(
    str(ROOT / "configs/dcgan.py:tiny"),
    [f"data.data_dir={tfds_data_dir}", "eval_every=2", "eval.num_samples=64"],
  )
  workdir = tmp_path / "run"
  train.train_and_evaluate(config, workdir)
  page = _check(workdir / "results" / "index.html")
  refs = set(page.refs)
  assert {"../samples/step_0000002.png", "../samples/step_0000004.png"} <= refs
  assert {"../eval/step_0000002.json", "../eval/step_0000004.json"} <= refs  # both evals
  assert {"d_loss", "g_loss", "swd_mean"} <= set(page.charts)
  assert page.charts.index("d_loss") < page.charts.index("d_real_logit")  # losses first
  newest = json.loads((workdir / "eval" / "step_0000004.json").read_text())
  assert f"{newest['swd_mean']:.4g}" in (workdir / "results" / "index.html").read_text()


def test_translation_rows_and_a_long_run(tmp_path):
  workdir = tmp_path / "run"
  (workdir / "samples").mkdir(parents=True)
  for step in range(100, 2100, 100):
    (workdir / "samples" / f"step_{step:07d}.png").write_bytes(b"png")
  lines = [json.dumps({"step": s, "g_loss": 1 / s, "steps_per_sec": 3.0}) for s in range(1, 1001)]
  (workdir / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 10')  # cut short
  (workdir / "eval").mkdir()
  for step in (1000, 2000):
    scores = {"step": step, "AtoB": {"psnr": step / 100}, "skipped": {"fid": "no weights"}}
    (workdir / "eval" / f"step_{step:07d}.json").write_text(json.dumps(scores))
  image = np.zeros((8, 8, 3), np.uint8)
  rows = [(f"{i:04d}", [("input", image), ("output", image)]) for i in range(3)]
  path = results_page.write(workdir, "", "pix2pix step 2000", rows)
  page = _check(path)
  grids = [r for r in page.refs if r.startswith("../samples/")]
  assert len(grids) == results_page.MAX_GRIDS
  assert grids[0].endswith("0000100.png") and grids[-1].endswith("0002000.png")
  assert "images/0002_output.png" in page.refs
  assert page.charts == ["AtoB/psnr", "g_loss"]  # no throughput chart, no 'skipped'
  text = path.read_text()
  points = text.split('<polyline points="')[2].split('"')[0].split()
  assert len(points) == results_page.MAX_POINTS
  assert text.count("<tr>") == 3  # example rows; metric rows are marked apart


@pytest.mark.parametrize("values", [[3.0], [2.0, 2.0], [float("nan"), 1.0, 5.0]])
def test_charts_of_few_or_flat_points(values):
  svg = results_page.svg_chart("x", range(len(values)), values)
  ET.fromstring(svg)
  assert "nan" not in svg
