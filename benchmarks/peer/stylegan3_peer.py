"""Times the official StyleGAN3 training iteration (NVlabs/stylegan3, commit c233a91) on the CPU,
at gan_jax's settings: one JSON line.

  python benchmarks/peer/stylegan3_peer.py --src=TREE [--cfg=t --res=32 --batch=16 --zdim=64 \
      --cbase=1024 --cmax=64 --map=2 --mbstd=4 --gamma=1 --dreg=16 --iters=32 --threads=2 \
      --augpipe=bgc --p=0.2]

It builds the official stylegan3-t (or -r: 1x1 convs, radial filters, doubled G widths, the D-input
blur) Generator, its EMA copy, the StyleGAN2 Discriminator, StyleGAN2Loss (no path length, no
style mixing; with its AugmentPipe at a fixed p when --augpipe is given) and the two Adam
optimizers as train.py and training_loop.py set them up for --cfg=stylegan3-*: G's phase 'Gboth'
(G main only: no G regularization) every iteration, D main every iteration and D R1 every --dreg,
with the lazy-regularization correction on D's Adam, then the G EMA. Iterations run on random real
images; it reports wall and CPU seconds per iteration after 2 warm-up iterations (which run every
phase).
The ops run through their pure-PyTorch reference paths (a CPU tensor never takes the CUDA ones:
`_filtered_lrelu_ref`, `_upfirdn2d_ref`, `_bias_act_ref`). Defaults are configs/stylegan3.py:cpu;
compare with `python benchmarks/throughput.py --config=configs/stylegan3.py:cpu --steps=32
--config.aug.mode=noaug`. The tree is obtained as tests/scripts/make_stylegan3_fixtures.py says;
none of it is copied here.
"""

import copy
import functools
import sys
import warnings

from stylegan2_peer import (
  AUGPIPE_SPECS,
  common_args,
  report,
  run_phase,
  stub_missing_modules,
  update_ema,
)


def main():
  p = common_args("Times the official StyleGAN3 iteration on the CPU.")
  p.add_argument("--cfg", choices=("t", "r"), default="t")
  p.add_argument("--gamma", type=float, default=1.0, help="R1 weight (configs/stylegan3.py:cpu's)")
  p.add_argument("--dreg", type=int, default=16, help="D's lazy R1 interval")
  args = p.parse_args()

  import torch

  if args.threads:
    torch.set_num_threads(args.threads)
  stub_missing_modules()
  sys.path.insert(0, args.src)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from torch_utils.ops import grid_sample_gradfix
    from training import augment, networks_stylegan2, networks_stylegan3
    from training import loss as loss_lib
  grid_sample_gradfix.enabled = False  # torch's own grid_sample (the custom op wants CUDA)

  torch.manual_seed(0)
  radial = args.cfg == "r"
  widen = 2 if radial else 1
  G = networks_stylegan3.Generator(
    z_dim=args.zdim,
    c_dim=0,
    w_dim=args.zdim,
    img_resolution=args.res,
    img_channels=3,
    mapping_kwargs=dict(num_layers=args.map),
    channel_base=args.cbase * widen,
    channel_max=args.cmax * widen,
    num_fp16_res=0,
    conv_clamp=256,
    magnitude_ema_beta=0.5 ** (args.batch / (20 * 1e3)),
    conv_kernel=1 if radial else 3,
    use_radial_filters=radial,
  ).train()
  D = networks_stylegan2.Discriminator(
    c_dim=0,
    img_resolution=args.res,
    img_channels=3,
    channel_base=args.cbase,
    channel_max=args.cmax,
    num_fp16_res=0,
    conv_clamp=256,
    epilogue_kwargs=dict(mbstd_group_size=args.mbstd),
  ).train()
  G_ema = copy.deepcopy(G).eval()
  pipe = None
  if args.augpipe:
    pipe = augment.AugmentPipe(**AUGPIPE_SPECS[args.augpipe]).train().requires_grad_(False)
    pipe.p.copy_(torch.as_tensor(args.p))
  blur = dict(blur_init_sigma=10, blur_fade_kimg=args.batch * 200 / 32) if radial else {}
  loss = loss_lib.StyleGAN2Loss(
    torch.device("cpu"), G, D, augment_pipe=pipe, r1_gamma=args.gamma, **blur
  )
  g_opt = torch.optim.Adam(G.parameters(), lr=0.0025, betas=[0.0, 0.99], eps=1e-8)
  ratio = args.dreg / (args.dreg + 1)
  d_opt = torch.optim.Adam(D.parameters(), lr=0.002 * ratio, betas=[0.0, 0.99**ratio], eps=1e-8)
  phases = [("Gboth", G, g_opt, 1), ("Dmain", D, d_opt, 1), ("Dreg", D, d_opt, args.dreg)]
  real = torch.randn([args.batch, 3, args.res, args.res]).clamp(-1, 1)
  c = torch.zeros([args.batch, 0])

  def iteration(batch_idx):
    cur_nimg = batch_idx * args.batch
    for name, module, opt, interval in phases:
      if batch_idx % interval == 0:
        z = torch.randn([args.batch, args.zdim])
        accumulate = functools.partial(
          loss.accumulate_gradients, name, real, c, z, c, gain=interval, cur_nimg=cur_nimg
        )
        run_phase(torch, module, opt, accumulate)
    update_ema(torch, G_ema, G, batch_idx, args, buffers=True)

  report(iteration, args, f"NVlabs/stylegan3 stylegan3-{args.cfg} (CPU, reference ops)", args.dreg)


if __name__ == "__main__":
  main()
