"""The official PyTorch train step on a CUDA GPU, timed the way benchmarks/peer/torch_peer.py times
it on CPU (which it only supports).

  python benchmarks/torch_peer_cuda.py PEER_DIR --src SRC --model pix2pix --size 256 --batch 1 \
      [--iters 20] [--warmup 5]

PEER_DIR holds torch_peer.py. Its option parser builds the official defaults (the upstream
TrainOptions + the model's own options) and its batches; this script puts the nets on cuda:0 (the
upstream `init_net` already does when CUDA is present), moves the batches there before timing, turns
on cuDNN's autotuner (the faster choice for fixed shapes) and synchronises around every timed
`set_input` + `optimize_parameters`. TF32 is left at PyTorch's defaults (on for convolutions).
Prints one JSON line with the same keys as torch_peer.py.
"""

import contextlib
import json
import random
import statistics
import sys
import time

peer_dir, sys.argv = sys.argv[1], ["torch_peer.py", *sys.argv[2:]]
sys.path.insert(0, peer_dir)

# isort: off
import torch_peer as peer  # noqa: E402 - parses sys.argv, puts the official tree on sys.path
import models  # noqa: E402 - the official models package, importable only after that
import torch  # noqa: E402
# isort: on


def main():
  if not torch.cuda.is_available():
    sys.exit("torch_peer_cuda.py: torch sees no CUDA device")
  torch.backends.cudnn.benchmark = True
  args = peer.args
  torch.manual_seed(args.seed)
  random.seed(args.seed)  # the official image pool draws from Python's random
  opt = peer.build_opt()
  opt.gpu_ids = [0]
  opt.device = torch.device("cuda:0")
  with contextlib.redirect_stdout(sys.stderr):
    model = models.create_model(opt)
    model.setup(opt)
  gen = torch.Generator().manual_seed(args.seed)
  n = args.warmup + args.iters
  batches = []
  for _ in range(n):
    batch = peer.make_batch(opt, gen)
    batches.append({k: v.to(opt.device) if torch.is_tensor(v) else v for k, v in batch.items()})
  times = []
  for i, batch in enumerate(batches):
    torch.cuda.synchronize()
    start = time.perf_counter()
    model.set_input(batch)
    model.optimize_parameters()
    torch.cuda.synchronize()
    if i >= args.warmup:
      times.append(time.perf_counter() - start)
  mean = statistics.mean(times)
  print(
    json.dumps(
      {
        "model": args.model,
        "size": args.size,
        "batch": args.batch,
        "device": torch.cuda.get_device_name(0),
        "sec_per_iter": round(mean, 5),
        "img_per_s": round(args.batch / mean, 2),
        "torch_version": torch.__version__,
        "sec_per_iter_min": round(min(times), 5),
        "sec_per_iter_median": round(statistics.median(times), 5),
        "timed_iters": len(times),
        "netG": opt.netG,
        "netD": opt.netD,
        "norm": opt.norm,
        "gan_mode": opt.gan_mode,
      }
    ),
    flush=True,
  )


if __name__ == "__main__":
  main()
