"""How close gan_jax is to the official implementations: the max abs difference of every output
and gradient that the fidelity tests compare, by case. One JSON line.

  python benchmarks/fidelity.py [-k PYTEST_EXPRESSION]

Runs the fidelity tests with tests/golden.py's report on: against the golden fixtures (what the
official code computed, tests/scripts/make_*_fixtures.py), or against the official trees where
STYLEGAN3_SRC, STYLEGAN2_ADA_SRC and UGATIT_SRC name them. Each case reports the largest
difference among its outputs and among its gradients, each beside the largest |value| of the
array it was found in (the tests' tolerances are relative to that).
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import golden  # noqa: E402

SOURCES = ("STYLEGAN2_ADA_SRC", "STYLEGAN3_SRC", "UGATIT_SRC")  # the tests' official trees
SOURCES = ("STYLEGAN2_ADA_SRC", "STYLEGAN3_SRC", "UGATIT_SRC")  # the tests' official trees
TESTS = (
  "tests/test_stylegan_ops.py",  # upfirdn2d, bias_act, modulated conv, fully connected
  "tests/test_stylegan2_nets.py",  # mapping, synthesis, G, D, R1 and path length
  "tests/test_augment.py",  # ADA's pipe in the reference's debug mode
  "tests/test_stylegan3_nets.py",  # filtered lrelu, T and R generators
  "tests/test_ugatit_nets.py",  # U-GAT-IT generators and discriminators
)


def by_file(cases: dict) -> dict:
  """{test file: {cases, output, gradient}}: the largest difference of each kind in the file."""
  files = {}
  for name, case in cases.items():
    row = files.setdefault(name.split("::")[0], {"cases": 0})
    row["cases"] += 1
    for kind in ("output", "gradient"):
      if kind in case:
        row[kind] = max(row.get(kind, 0.0), case[kind])
  return files


def summarise(lines: list[dict]) -> dict:
  """{case: {output, output_of, gradient, gradient_of}}: per case, the largest difference of
  each kind and the largest |value| of the array where it was found."""
  cases = {}
  for line in lines:
    kind = "gradient" if "gradient" in line["what"] else "output"
    case = cases.setdefault(line["test"], {})
    if line["max_abs_diff"] >= case.get(kind, -1.0):
      case[kind] = float(f"{line['max_abs_diff']:.2e}")
      case[f"{kind}_of"] = float(f"{line['max_abs']:.3g}")
  return cases


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("-k", default="official or reference_path", help="pytest -k expression")
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as tmp:
    report = pathlib.Path(tmp) / "fidelity.jsonl"
    env = {**os.environ, golden.REPORT_ENV: str(report)}
    command = [sys.executable, "-m", "pytest", "-q", "-m", "slow or not slow", "-k", args.k]
    result = subprocess.run([*command, *TESTS], cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
      sys.exit(f"the fidelity tests failed (pytest exit {result.returncode}):\n{result.stdout}")
    lines = [json.loads(x) for x in report.read_text().splitlines()] if report.exists() else []
  if not lines:
    sys.exit(f"no comparison was reported: does -k {args.k!r} select the fidelity tests?")
  trees = {k: bool(os.environ.get(k)) for k in SOURCES}
  cases = summarise(lines)
  result = {"official_trees": trees, "comparisons": len(lines), "files": by_file(cases)}
  print(json.dumps({**result, "cases": cases}))


if __name__ == "__main__":
  main()
