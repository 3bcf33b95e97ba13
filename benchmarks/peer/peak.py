#!/usr/bin/env python3
"""Measured float32 matmul peak (GFLOP/s) of this machine, numpy and torch.

usage: python peak.py --threads 2 [--n 2048] [--reps 10]
Prints one JSON line: best-of-reps GFLOP/s for numpy (its BLAS) and torch.
"""

import argparse
import json
import os
import time

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=2)
p.add_argument("--n", type=int, default=2048)
p.add_argument("--reps", type=int, default=10)
a = p.parse_args()
for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
  os.environ[var] = str(a.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(a.threads)
flop = 2.0 * a.n**3


def best(fn):
  fn()
  fn()  # warm-up
  ts = []
  for _ in range(a.reps):
    t0 = time.perf_counter()
    fn()
    ts.append(time.perf_counter() - t0)
  return flop / min(ts) / 1e9


rng = np.random.default_rng(0)
x = rng.standard_normal((a.n, a.n), dtype=np.float32)
y = rng.standard_normal((a.n, a.n), dtype=np.float32)
np_gflops = best(lambda: x @ y)
tx, ty = torch.from_numpy(x.copy()), torch.from_numpy(y.copy())
out = torch.empty(a.n, a.n)
torch_gflops = best(lambda: torch.mm(tx, ty, out=out))

blas = "?"
try:
  cfg = np.show_config(mode="dicts")
  blas = cfg["Build Dependencies"]["blas"]["name"]
except Exception:
  pass
print(
  json.dumps(
    {
      "threads": a.threads,
      "n": a.n,
      "numpy_f32_gflops": round(np_gflops, 1),
      "numpy_version": np.__version__,
      "numpy_blas": blas,
      "torch_f32_gflops": round(torch_gflops, 1),
      "torch_version": torch.__version__,
    }
  )
)
