"""Times the official StyleGAN2-ADA training iteration (NVlabs/stylegan2-ada-pytorch, commit
d72cc7d) on the CPU, at gan_jax's settings: one JSON line.

  python benchmarks/peer/stylegan2_peer.py --src=TREE [--res=32 --batch=16 --zdim=64 \
      --cbase=1024 --cmax=64 --map=2 --mbstd=4 --iters=32 --threads=2 --augpipe=bgc --p=0.2]

It builds the official Generator, its EMA copy, Discriminator, StyleGAN2Loss (with its AugmentPipe
at a fixed p when --augpipe is given: the reference's --aug=fixed) and
the two Adam optimizers with the lazy-regularization correction, then runs iterations as the
official training loop does (Gmain, Greg every 4, Dmain, Dreg every 16, then the G EMA) on random
real images, and reports seconds per iteration (after 2 warm-up iterations, which run every
phase). Defaults are configs/stylegan2.py:cpu; compare with
`python benchmarks/throughput.py --config=configs/stylegan2.py:cpu --steps=32`.
The tree is obtained as tests/scripts/make_stylegan_fixtures.py says; none of it is copied here.
"""

import argparse
import copy
import functools
import json
import pathlib
import sys
import time
import types
import warnings

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from tests.scripts.make_stylegan_fixtures import stub_missing_modules  # noqa: E402

# train.py's augpipe_specs, as arguments of AugmentPipe (the ones these benchmarks use).
AUGPIPE_SPECS = {
  "bgc": dict(
    xflip=1,
    rotate90=1,
    xint=1,
    scale=1,
    rotate=1,
    aniso=1,
    xfrac=1,
    brightness=1,
    contrast=1,
    lumaflip=1,
    hue=1,
    saturation=1,
  ),
}


def common_args(description: str) -> argparse.ArgumentParser:
  """The sizes (configs/stylegan*.py:cpu's by default) and timing flags both peers take."""
  p = argparse.ArgumentParser(description=description)
  p.add_argument("--src", required=True)
  for name, default in [("res", 32), ("batch", 16), ("zdim", 64), ("cbase", 1024), ("cmax", 64)]:
    p.add_argument(f"--{name}", type=int, default=default)
  p.add_argument("--map", type=int, default=2)
  p.add_argument("--mbstd", type=int, default=4)
  p.add_argument("--iters", type=int, default=32)
  p.add_argument("--threads", type=int, default=0)
  p.add_argument("--augpipe", default="", help="e.g. bgc; empty: no augmentation")
  p.add_argument("--p", type=float, default=0.2, help="the augment probability with --augpipe")
  return p


def run_phase(torch, module, opt, accumulate):
  """One phase of the official training loop: gradients of `accumulate()` into `module` alone,
  non-finite entries replaced as the loop does, one optimizer step."""
  opt.zero_grad(set_to_none=True)
  module.requires_grad_(True)
  accumulate()
  module.requires_grad_(False)
  for param in module.parameters():
    if param.grad is not None:
      torch.nan_to_num(param.grad, nan=0, posinf=1e5, neginf=-1e5, out=param.grad)
  opt.step()


def update_ema(torch, G_ema, G, batch_idx, args, buffers=False):
  """The loop's G EMA: half-life ema_kimg = batch * 10 / 32 with the ramp-up 0.05."""
  nimg = min(args.batch * 10 / 32 * 1000, batch_idx * args.batch * 0.05)
  beta = 0.5 ** (args.batch / max(nimg, 1e-8))
  with torch.no_grad():
    for p_ema, p in zip(G_ema.parameters(), G.parameters(), strict=True):
      p_ema.copy_(p.lerp(p_ema, beta))
    if buffers:
      for b_ema, b in zip(G_ema.buffers(), G.buffers(), strict=True):
        b_ema.copy_(b)


def report(iteration, args, peer: str, warmup_stride: int):
  """Two warm-up iterations at multiples of `warmup_stride` (every phase runs), then --iters
  timed ones; prints the JSON line."""
  import numpy as np
  import torch

  for i in range(2):
    iteration(i * warmup_stride)
  start, cpu_start = time.perf_counter(), time.process_time()
  for i in range(2, 2 + args.iters):
    iteration(i)
  sec = (time.perf_counter() - start) / args.iters
  cpu_sec = (time.process_time() - cpu_start) / args.iters
  print(
    json.dumps(
      {
        "peer": peer,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "res": args.res,
        "batch": args.batch,
        "iters": args.iters,
        "augpipe": args.augpipe or None,
        "p": args.p if args.augpipe else None,
        "sec_per_iter": round(sec, 4),
        "cpu_sec_per_iter": round(cpu_sec, 4),  # every thread's CPU time (torch's spin-waits too)
        "images_per_sec": round(args.batch / sec, 1),
        "np": np.__version__,
      }
    )
  )


def build(args, gamma=None):
  """The official G, its EMA copy, D, StyleGAN2Loss (with its AugmentPipe at --p when --augpipe
  is given) and the phases Gmain, Greg, Dmain, Dreg with their Adam optimizers and the
  lazy-regularization correction, at `args`' sizes; R1 weight `gamma` (None: the auto rule).
  Returns a namespace with those and the official modules torch, training_stats."""
  import torch

  if args.threads:
    torch.set_num_threads(args.threads)
  stub_missing_modules()
  sys.path.insert(0, args.src)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from torch_utils import training_stats
    from torch_utils.ops import bias_act, grid_sample_gradfix, upfirdn2d
    from training import augment, networks
    from training import loss as loss_lib
  grid_sample_gradfix.enabled = False  # torch's own grid_sample (the custom op wants CUDA)
  for module in (bias_act, upfirdn2d):
    module._init = lambda: False  # their pure-PyTorch paths (no CUDA plugins on a CPU)

  torch.manual_seed(0)
  widths = dict(channel_base=args.cbase, channel_max=args.cmax, num_fp16_res=0, conv_clamp=None)
  G = networks.Generator(
    z_dim=args.zdim,
    c_dim=0,
    w_dim=args.zdim,
    img_resolution=args.res,
    img_channels=3,
    mapping_kwargs=dict(num_layers=args.map),
    synthesis_kwargs=widths,
  ).train()
  D = networks.Discriminator(
    c_dim=0,
    img_resolution=args.res,
    img_channels=3,
    **widths,
    epilogue_kwargs=dict(mbstd_group_size=args.mbstd),
  ).train()
  G_ema = copy.deepcopy(G).eval()
  if gamma is None:
    gamma = 0.0002 * args.res**2 / args.batch  # --cfg=auto's rule
  pipe = None
  if args.augpipe:
    pipe = augment.AugmentPipe(**AUGPIPE_SPECS[args.augpipe]).train().requires_grad_(False)
    pipe.p.copy_(torch.as_tensor(args.p))
  loss = loss_lib.StyleGAN2Loss(
    torch.device("cpu"), G.mapping, G.synthesis, D, augment_pipe=pipe, r1_gamma=gamma
  )
  phases = []
  for name, module, interval in [("G", G, 4), ("D", D, 16)]:
    ratio = interval / (interval + 1)
    opt = torch.optim.Adam(
      module.parameters(), lr=0.0025 * ratio, betas=[0.0, 0.99**ratio], eps=1e-8
    )
    phases += [(name + "main", module, opt, 1), (name + "reg", module, opt, interval)]
  return types.SimpleNamespace(
    torch=torch,
    training_stats=training_stats,
    G=G,
    G_ema=G_ema,
    D=D,
    pipe=pipe,
    loss=loss,
    phases=phases,  # Gmain, Greg, Dmain, Dreg
  )


def run_phases(official, batch_idx, real, args):
  """One iteration's phases, each on its own latents, as the official loop runs them."""
  torch = official.torch
  c = torch.zeros([args.batch, 0])
  for name, module, opt, interval in official.phases:
    if batch_idx % interval == 0:
      z = torch.randn([args.batch, args.zdim])
      accumulate = functools.partial(
        official.loss.accumulate_gradients, name, real, c, z, c, sync=True, gain=interval
      )
      run_phase(torch, module, opt, accumulate)


def main():
  p = common_args("Times the official StyleGAN2-ADA iteration on the CPU.")
  args = p.parse_args()
  official = build(args)
  torch = official.torch
  real = torch.randn([args.batch, 3, args.res, args.res]).clamp(-1, 1)

  def iteration(batch_idx):
    run_phases(official, batch_idx, real, args)
    update_ema(torch, official.G_ema, official.G, batch_idx, args)

  report(iteration, args, "NVlabs/stylegan2-ada-pytorch (CPU, reference ops)", warmup_stride=16)


if __name__ == "__main__":
  main()
