#!/usr/bin/env python3
"""PEER baseline: wall time of ONE training iteration of the *official* PyTorch
CycleGAN / pix2pix (junyanz/pytorch-CycleGAN-and-pix2pix) on CPU.

No upstream code lives in this folder.  The upstream tree is extracted to a temp
folder (--src or $CYCLEGAN_SRC, see README.md) and put on sys.path at run
time.  The options namespace is built with the upstream option parser
(TrainOptions.initialize + the model's modify_commandline_options), so every
default (architecture, norm, losses, lambdas, Adam, pool size, dropout) is the
official one; only batch_size / crop_size / load_size are overridden.

Timed region per iteration (exactly what upstream train.py does per step):
    model.set_input(batch); model.optimize_parameters()

Prints one JSON line (last line of stdout):
  {model,size,batch,threads,sec_per_iter,img_per_s,torch_version,...}
"""

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import types


def parse_args():
  p = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
  )
  p.add_argument("--model", choices=["cyclegan", "pix2pix"], required=True)
  p.add_argument("--size", type=int, choices=[128, 256], default=256)
  p.add_argument("--batch", type=int, default=1)
  p.add_argument("--iters", type=int, default=5, help="timed iterations")
  p.add_argument("--warmup", type=int, default=2)
  p.add_argument("--threads", type=int, default=2)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument(
    "--src",
    default=os.environ.get(
      "CYCLEGAN_SRC", os.path.join(tempfile.gettempdir(), "perf", "cyclegan-src")
    ),
    help="extracted upstream tree (models/, options/, util/, data/)",
  )
  p.add_argument(
    "--count-flops",
    action="store_true",
    help="also count FLOPs of one iteration (untimed): hook-based forward conv MACs and "
    "torch.utils.flop_counter exact fwd+bwd count",
  )
  return p.parse_args()


args = parse_args()
# Threads must be fixed before torch / BLAS initialise.
for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
  os.environ[var] = str(args.threads)

import torch  # noqa: E402

torch.set_num_threads(args.threads)
with contextlib.suppress(RuntimeError):
  torch.set_num_interop_threads(1)

if not os.path.isdir(os.path.join(args.src, "models")):
  sys.exit(
    f"upstream source not found at {args.src}; see README.md (git archive ... | tar -x -C ...)"
  )
sys.path.insert(0, args.src)

# options/base_options.py imports the `data` package only to call
# data.get_option_setter(dataset_mode) in gather_options(); data/ needs PIL and
# torchvision.  The aligned/unaligned dataset setters return the parser
# unchanged (BaseDataset.modify_commandline_options), and we never call
# gather_options(), so a stub is exact.  Use the real package when importable.
try:
  import data  # noqa: F401
except ImportError:
  sys.modules["data"] = types.ModuleType("data")

import models  # noqa: E402  (upstream models/__init__.py)
from options.train_options import TrainOptions  # noqa: E402  (upstream)

UPSTREAM_MODEL = {"cyclegan": "cycle_gan", "pix2pix": "pix2pix"}[args.model]
if args.model == "pix2pix" and args.size != 256:
  sys.exit("pix2pix default netG is unet_256 (8 stride-2 downsamplings): it needs 256x256 input")


def build_opt():
  parser = argparse.ArgumentParser()
  parser = TrainOptions().initialize(parser)  # base + train defaults
  parser = models.get_option_setter(UPSTREAM_MODEL)(parser, True)  # model defaults (isTrain=True)
  ckpt = tempfile.mkdtemp(prefix="peer_ckpt_")
  opt = parser.parse_args(
    [
      "--dataroot",
      "unused",
      "--model",
      UPSTREAM_MODEL,
      "--name",
      "peer",
      "--checkpoints_dir",
      ckpt,
      "--batch_size",
      str(args.batch),
      "--load_size",
      str(args.size),
      "--crop_size",
      str(args.size),
    ]
  )
  opt.isTrain = True
  opt.gpu_ids = []  # pre-2025 upstream API; 2025 upstream uses opt.device instead
  opt.device = torch.device("cpu")
  return opt


def make_batch(opt, gen):
  shape_a = (args.batch, opt.input_nc, args.size, args.size)
  shape_b = (args.batch, opt.output_nc, args.size, args.size)
  return {
    "A": torch.rand(shape_a, generator=gen) * 2 - 1,
    "B": torch.rand(shape_b, generator=gen) * 2 - 1,
    "A_paths": ["rand"] * args.batch,
    "B_paths": ["rand"] * args.batch,
  }


def count_forward_macs(model, batch):
  """Hook-based: sum of MACs of every Conv2d/ConvTranspose2d forward call in one
  optimize_parameters() (all G and D passes, including the frozen-D passes)."""
  macs = [0]

  def conv_hook(m, inp, out):
    cin_per_group = m.in_channels // m.groups
    macs[0] += out.numel() * cin_per_group * m.kernel_size[0] * m.kernel_size[1]

  def convt_hook(m, inp, out):
    x = inp[0]
    cout_per_group = m.out_channels // m.groups
    macs[0] += x.numel() * cout_per_group * m.kernel_size[0] * m.kernel_size[1]

  handles = []
  for name in model.model_names:
    net = getattr(model, "net" + name)
    for m in net.modules():
      if isinstance(m, torch.nn.ConvTranspose2d):
        handles.append(m.register_forward_hook(convt_hook))
      elif isinstance(m, torch.nn.Conv2d):
        handles.append(m.register_forward_hook(conv_hook))
  model.set_input(batch)
  model.optimize_parameters()
  for h in handles:
    h.remove()
  return macs[0]


def count_exact_flops(model, batch):
  from torch.utils.flop_counter import FlopCounterMode

  with FlopCounterMode(display=False) as fc:
    model.set_input(batch)
    model.optimize_parameters()
  return fc.get_total_flops()


def main():
  torch.manual_seed(args.seed)
  import random

  random.seed(args.seed)  # ImagePool uses python `random`
  opt = build_opt()
  with contextlib.redirect_stdout(sys.stderr):  # upstream prints a lot
    model = models.create_model(opt)
    model.setup(opt)
  gen = torch.Generator().manual_seed(args.seed)
  n = args.warmup + args.iters
  batches = [make_batch(opt, gen) for _ in range(n)]  # inputs prepared outside the timed region

  times = []
  for i in range(n):
    t0 = time.perf_counter()
    model.set_input(batches[i])
    model.optimize_parameters()
    dt = time.perf_counter() - t0
    if i >= args.warmup:
      times.append(dt)

  mean = sum(times) / len(times)
  res = {
    "model": args.model,
    "size": args.size,
    "batch": args.batch,
    "threads": args.threads,
    "sec_per_iter": round(mean, 4),
    "img_per_s": round(args.batch / mean, 4),
    "torch_version": torch.__version__,
    "sec_per_iter_min": round(min(times), 4),
    "sec_per_iter_median": round(statistics.median(times), 4),
    "timed_iters": len(times),
    "iter_times": [round(t, 3) for t in times],
    "netG": opt.netG,
    "netD": opt.netD,
    "norm": opt.norm,
    "gan_mode": opt.gan_mode,
    "pool_size": opt.pool_size,
    "use_dropout": not opt.no_dropout,
  }
  if args.count_flops:
    with contextlib.redirect_stdout(sys.stderr):
      fwd_macs = count_forward_macs(model, batches[0])
      exact = count_exact_flops(model, batches[0])
    res["fwd_conv_gmacs"] = round(fwd_macs / 1e9, 3)
    res["gflop_per_iter_est"] = round(3 * 2 * fwd_macs / 1e9, 2)  # 2 FLOP/MAC, fwd+bwd ~= 3x fwd
    res["gflop_per_iter_exact"] = round(
      exact / 1e9, 2
    )  # FlopCounterMode: conv/mm fwd+bwd actually executed
  print(json.dumps(res), flush=True)


if __name__ == "__main__":
  main()
