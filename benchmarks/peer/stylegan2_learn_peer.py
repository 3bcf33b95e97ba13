"""Trains the official StyleGAN2-ADA (NVlabs/stylegan2-ada-pytorch, commit d72cc7d) on gan_jax's
embedded `shapes` on the CPU, and scores its EMA generator as benchmarks/learn_dcgan.py scores
gan_jax's: the same test images, the same SWD and palette share. One JSON line per checkpoint.

  python benchmarks/peer/stylegan2_learn_peer.py --src=TREE --steps=8000 --every=500 \
      [--gamma=1 --augpipe=bgc --ada_target=0.6 --threads=2 --grids=DIR]

Defaults are configs/stylegan2.py:cpu (32 px, batch 16, z = w = 64, channel_base 1024, channel_max
64, mapping 2, mbstd 4, R1 weight 1, path length 2, style mixing 0.9, ADA on bgc toward 0.6), so
the curve sits beside `python benchmarks/learn_dcgan.py --config=configs/stylegan2.py:cpu
--config.total_steps=8000 --config.checkpoint_every=500`. One step is one iteration of the
official training loop (training_loop.py): Gmain, Greg every 4, Dmain, Dreg every 16, the G EMA
with its ramp-up (parameters and buffers), and every 4 iterations ADA's move of p by the mean
sign of D on the reals. The reals are the train split in a fresh random order each epoch, not
flipped (the reference's --mirror=False, as :cpu). Samples: the EMA generator with constant noise
(the loop's snapshot images), truncation 1. Needs torch; the tree is obtained as
tests/scripts/make_stylegan_fixtures.py says; none of it is copied here.
"""

import json
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent.parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from stylegan2_peer import build, common_args, run_phases, update_ema  # noqa: E402

CONFIG = "configs/stylegan2.py:cpu"  # the data: the embedded shapes at 32 px


def main():
  p = common_args("Trains the official StyleGAN2-ADA on the embedded shapes and scores it.")
  p.set_defaults(augpipe="bgc", p=0.0)
  p.add_argument("--gamma", type=float, default=1.0, help="R1 weight (:cpu's 1)")
  p.add_argument("--ada_target", type=float, default=0.6, help="0: p stays at --p")
  p.add_argument("--ada_kimg", type=float, default=500.0)
  p.add_argument("--steps", type=int, default=8000)
  p.add_argument("--every", type=int, default=500, help="score the EMA G every this many steps")
  p.add_argument("--num", type=int, default=1024, help="samples and test images per score")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--grids", default="", help="a folder for an 8x8 sample grid per score")
  args = p.parse_args()

  from learn_dcgan import palette_fraction, split_images  # noqa: PLC0415

  from gan_jax import samples  # noqa: PLC0415
  from gan_jax.data import shapes  # noqa: PLC0415
  from gan_jax.metrics import swd  # noqa: PLC0415

  official = build(args, gamma=args.gamma)
  torch = official.torch
  ada_stats = None
  if official.pipe is not None and args.ada_target > 0:
    ada_stats = official.training_stats.Collector(regex="Loss/signs/real")
  train = split_images(CONFIG, "train")
  reals = split_images(CONFIG, "test", args.num)
  order_rng = np.random.default_rng(args.seed)
  z_eval = torch.from_numpy(np.random.default_rng(1234).standard_normal([args.num, args.zdim]))
  z_eval = z_eval.to(torch.float32)

  def batches():
    while True:
      for i in range(0, len(train) - args.batch + 1, args.batch):
        if i == 0:
          order = order_rng.permutation(len(train))
        yield train[order[i : i + args.batch]]

  def score(step, seconds):
    c = torch.zeros([256, 0])
    with torch.no_grad():
      images = torch.cat(
        [official.G_ema(z=z, c=c[: len(z)], noise_mode="const") for z in z_eval.split(256)]
      )
    images = images.permute(0, 2, 3, 1).numpy()
    if args.grids:
      grid = samples.tile(images[:64].reshape(8, 8, *images.shape[1:]))
      samples.save_png(pathlib.Path(args.grids) / f"official_{step:06d}.png", grid)
    images = samples.to_uint8(images)
    p_now = float(official.pipe.p) if official.pipe is not None else None
    line = {
      "peer": "NVlabs/stylegan2-ada-pytorch (CPU, reference ops)",
      "step": step,
      "train_minutes": round(seconds / 60, 2),
      "swd": round(swd.swd(reals, images)["swd_mean"], 2),
      "palette": round(palette_fraction(images, shapes.COLOURS), 4),
      "augment_p": None if p_now is None else round(p_now, 4),
    }
    print(json.dumps(line), flush=True)

  data = batches()
  seconds = 0.0
  score(0, seconds)
  for batch_idx in range(args.steps):
    start = time.perf_counter()
    real = torch.from_numpy(next(data)).permute(0, 3, 1, 2).to(torch.float32) / 127.5 - 1
    run_phases(official, batch_idx, real, args)
    update_ema(torch, official.G_ema, official.G, batch_idx, args, buffers=True)
    if ada_stats is not None and (batch_idx + 1) % 4 == 0:
      ada_stats.update()
      sign = ada_stats["Loss/signs/real"]
      adjust = np.sign(sign - args.ada_target) * (args.batch * 4) / (args.ada_kimg * 1000)
      official.pipe.p.copy_((official.pipe.p + adjust).clamp(min=0))
    seconds += time.perf_counter() - start
    if (batch_idx + 1) % args.every == 0:
      score(batch_idx + 1, seconds)


if __name__ == "__main__":
  main()
