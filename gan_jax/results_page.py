"""DIR/results[_<split>]/index.html: one page per run that a browser opens from disk.

Rewritten at every eval (evaluators.Scorer), from what the run has written so far:
- the eval metrics over steps (eval[_<split>]/step_*.json): a table, a line chart per metric and
  the newest JSON, with a link to every JSON file;
- the training curves (metrics.jsonl): a line chart per logged scalar (losses first);
- the sample grids over steps (samples/step_*.png), up to MAX_GRIDS spread over the run;
- translation families: input | output | target rows of the eval split (images/).
Charts are inline SVG; every image and link is a relative path inside DIR.
"""

import html
import json
import pathlib

import numpy as np

from gan_jax import samples

MAX_GRIDS = 12
MAX_POINTS = 400  # per chart; longer curves are thinned evenly
THROUGHPUT = ("steps_per_sec", "images_per_sec", "eta_sec")
NOT_CHARTED = ("num_images", "kid_subset_size")  # counts, in the table only
WIDTH, HEIGHT, PAD = 300, 150, 34


def _number(value: float) -> str:
  return f"{value:.4g}"


def svg_chart(title: str, xs, ys) -> str:
  """A line chart of ys over xs with its range on the axes, as an inline <svg>."""
  xs, ys = np.asarray(xs, float), np.asarray(ys, float)
  keep = np.isfinite(ys)
  xs, ys = xs[keep], ys[keep]
  if len(xs) > MAX_POINTS:
    index = np.linspace(0, len(xs) - 1, MAX_POINTS).round().astype(int)
    xs, ys = xs[index], ys[index]
  parts = [
    f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
    f'class="chart"><title>{html.escape(title)}</title>',
    f'<text x="{PAD}" y="12" font-size="12">{html.escape(title)}</text>',
    f'<rect x="{PAD}" y="18" width="{WIDTH - PAD - 6}" height="{HEIGHT - 40}" fill="none" '
    'stroke="#bbb"/>',
  ]
  if len(xs):
    x0, x1 = xs.min(), max(xs.max(), xs.min() + 1)
    y0, y1 = ys.min(), ys.max()
    if y1 == y0:  # a flat line (or one point) sits in the middle
      y0, y1 = y0 - 1, y1 + 1
    px = PAD + (xs - x0) / (x1 - x0) * (WIDTH - PAD - 6)
    py = 18 + (1 - (ys - y0) / (y1 - y0)) * (HEIGHT - 40)
    points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py, strict=True))
    shape = "polyline" if len(xs) > 1 else "circle"
    if shape == "polyline":
      parts.append(f'<polyline points="{points}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>')
    else:
      parts.append(f'<circle cx="{px[0]:.1f}" cy="{py[0]:.1f}" r="3" fill="#1f77b4"/>')
    labels = [(2, 24, _number(ys.max())), (PAD, HEIGHT - 8, f"step {int(xs.min())}")]
    if ys.max() > ys.min():
      labels.append((2, HEIGHT - 22, _number(ys.min())))
    if len(xs) > 1:
      labels.append((WIDTH - 80, HEIGHT - 8, f"step {int(xs.max())}"))
    for x, y, text in labels:
      parts.append(f'<text x="{x}" y="{y}" font-size="10">{text}</text>')
  parts.append("</svg>")
  return "".join(parts)


def _flat(results: dict, prefix: str = "") -> dict[str, float]:
  out = {}
  for key, value in results.items():
    if isinstance(value, dict) and key != "skipped":
      out.update(_flat(value, f"{prefix}{key}/"))
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and key != "step":
      out[prefix + key] = float(value)
  return out


def _eval_section(page_dir: pathlib.Path, eval_dir: pathlib.Path) -> str:
  files = sorted(eval_dir.glob("step_*.json"))
  if not files:
    return "<h3>Eval metrics</h3><p>none yet</p>"
  evals = [json.loads(f.read_text()) for f in files]
  flats = [_flat(e) for e in evals]
  keys = sorted({k for f in flats for k in f})
  steps = [e.get("step", 0) for e in evals]
  head = "".join(f"<th>{html.escape(k)}</th>" for k in ["step", *keys])
  body = "".join(
    f'<tr class="metric"><td><a href="{_rel(page_dir, file)}">{step}</a></td>'
    + "".join(f"<td>{_number(f[k]) if k in f else ''}</td>" for k in keys)
    + "</tr>"
    for file, step, f in zip(files, steps, flats, strict=True)
  )
  charts = "".join(
    svg_chart(
      k, [s for s, f in zip(steps, flats, strict=True) if k in f], [f[k] for f in flats if k in f]
    )
    for k in keys
    if k.rsplit("/", 1)[-1] not in NOT_CHARTED
  )
  newest = html.escape(json.dumps(evals[-1], indent=2))
  return (
    f'<h3>Eval metrics</h3><div>{charts}</div><table class="metrics"><thead>'
    f'<tr class="metric">{head}</tr></thead>{body}</table>'
    f"<p>newest ({html.escape(files[-1].name)}):</p><pre>{newest}</pre>"
  )


def _training_section(metrics_file: pathlib.Path) -> str:
  if not metrics_file.is_file():
    return "<h3>Training curves</h3><p>none yet</p>"
  series: dict[str, list] = {}
  for line in metrics_file.read_text().splitlines():
    try:
      row = json.loads(line)
    except json.JSONDecodeError:  # a line cut short by a crash
      continue
    for key, value in row.items():
      if key != "step" and key not in THROUGHPUT and isinstance(value, (int, float)):
        series.setdefault(key, []).append((row["step"], value))
  order = sorted(series, key=lambda k: (not k.endswith("_loss"), k))
  charts = "".join(svg_chart(k, *zip(*series[k], strict=True)) for k in order)
  return f"<h3>Training curves</h3><div>{charts}</div>"


def _rel(page_dir: pathlib.Path, file: pathlib.Path) -> str:
  return html.escape(f"../{file.relative_to(page_dir.parent).as_posix()}")


def _grids_section(page_dir: pathlib.Path, samples_dir: pathlib.Path) -> str:
  grids = sorted(samples_dir.glob("step_*.png"))
  if not grids:
    return "<h3>Sample grids</h3><p>none yet</p>"
  if len(grids) > MAX_GRIDS:
    grids = [grids[i] for i in np.linspace(0, len(grids) - 1, MAX_GRIDS).round().astype(int)]
  cells = "".join(
    f'<figure><img src="{_rel(page_dir, g)}" width="256"><figcaption>'
    f"step {int(g.stem.split('_')[1])}</figcaption></figure>"
    for g in grids
  )
  return f'<h3>Sample grids</h3><div class="grids">{cells}</div>'


def _examples_section(page_dir: pathlib.Path, rows) -> str:
  """One table row per example: (name, [(label, uint8 image), ...]); images into images/."""
  cells = []
  for name, row in rows:
    tds = []
    for label, image in row:
      file = f"{name}_{label}.png"
      samples.save_png(page_dir / "images" / file, image)
      tds.append(f'<td><img src="images/{file}" width="256"><br>{html.escape(label)}</td>')
    cells.append(f"<tr><td>{html.escape(name)}</td>{''.join(tds)}</tr>")
  return "<h3>Eval examples</h3><table>\n" + "\n".join(cells) + "\n</table>"


STYLE = (
  "body{font-family:sans-serif} .chart{margin:4px} figure{display:inline-block;margin:4px} "
  "table.metrics{border-collapse:collapse;font-size:12px} table.metrics td,table.metrics th"
  "{border:1px solid #ccc;padding:2px 6px} pre{background:#f6f6f6;padding:6px}"
)


def write(workdir, suffix: str, title: str, rows=None) -> pathlib.Path:
  """Writes workdir/results<suffix>/index.html (suffix '' or '_<split>'); returns its path.

  Args:
    workdir: the run's folder.
    suffix: '' for the default eval split, '_<split>' for another.
    title: the page's heading.
    rows: translation examples, (name, [(label, uint8 image), ...]) each; None for none.
  """
  workdir = pathlib.Path(workdir)
  page_dir = workdir / f"results{suffix}"
  page_dir.mkdir(parents=True, exist_ok=True)
  sections = [
    _eval_section(page_dir, workdir / f"eval{suffix}"),
    _training_section(workdir / "metrics.jsonl"),
    _grids_section(page_dir, workdir / "samples"),
  ]
  if rows:
    sections.append(_examples_section(page_dir, rows))
  page = (
    f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
    f"<style>{STYLE}</style></head><body><h2>{html.escape(title)}</h2>\n"
    + "\n".join(sections)
    + "\n</body></html>\n"
  )
  path = page_dir / "index.html"
  path.write_text(page)
  return path
