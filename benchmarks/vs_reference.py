"""gan_jax's pix2pix and CycleGAN train steps against the official PyTorch step, side by side.

  python benchmarks/vs_reference.py --peer_python=PEER_VENV/bin/python --peer_src=SRC \
      [--settings=pix2pix_256_b1,pix2pix_256_b4,cyclegan_128_b1,cyclegan_256_b1] [--rounds=2]

For each setting (the official defaults at that size and batch: pix2pix unet_256 + 70x70 PatchGAN
with batch norm; CycleGAN resnet_9blocks + PatchGAN with instance norm, the official default netG at
128 px too), rounds alternate: the official step timed by the peer script (benchmarks/peer/
torch_peer.py: `set_input` + `optimize_parameters` on the upstream tree in --peer_src, --iters
timed iterations after 2 warm-up ones), then gan_jax's jitted step on a batch already on the device
for as many iterations. One JSON line per setting: the minimum seconds per iteration of each,
ratio = torch / gan_jax (above 1: gan_jax is faster), compile seconds, gan_jax's FLOPs per step
(XLA's cost analysis) and MFU against the measured fp32 matmul peak (benchmarks/peer/peak.py, run
once with --peer_python; CPU only). Without --peer_python only gan_jax is timed.

On a GPU the official step runs through benchmarks/torch_peer_cuda.py (the same options and batches
on cuda:0, synchronised around each iteration); give --peer_python the Python that has CUDA torch,
and --peer_dir the folder of the peer scripts where benchmarks/peer is not at hand.
"""

import json
import pathlib
import subprocess
import sys
import time

from absl import app, flags, logging

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gan_jax import backend, logs  # noqa: E402
from gan_jax import config as config_lib  # noqa: E402

PEER = ROOT / "benchmarks" / "peer"
SETTINGS = {  # name -> (family, size, batch, gan_jax config overrides)
  "pix2pix_256_b1": ("pix2pix", 256, 1, []),
  "pix2pix_256_b4": ("pix2pix", 256, 4, ["batch_size=4"]),
  "cyclegan_128_b1": ("cyclegan", 128, 1, ["image_size=128", "data.load_size=143"]),
  "cyclegan_256_b1": ("cyclegan", 256, 1, []),
}

flags.DEFINE_list("settings", list(SETTINGS), "Which settings to time.")
flags.DEFINE_integer("rounds", 2, "Alternations of (official step, gan_jax step) per setting.")
flags.DEFINE_integer("iters", 3, "Timed iterations per round and side.")
flags.DEFINE_integer("threads", 2, "CPU threads for the official step.")
flags.DEFINE_string("peer_python", "", "Python with torch for the peer scripts ('' = skip them).")
flags.DEFINE_string("peer_src", "", "The extracted official tree (see benchmarks/peer/README.md).")
flags.DEFINE_string("peer_dir", str(PEER), "Folder holding torch_peer.py and peak.py.")
FLAGS = flags.FLAGS


def _peer(script: str, *args: str) -> dict:
  result = subprocess.run([FLAGS.peer_python, script, *args], capture_output=True, text=True)
  if result.returncode:
    raise RuntimeError(f"{script} failed: {result.stderr[-2000:]}")
  return json.loads(result.stdout.strip().splitlines()[-1])


def _torch_step_sec(platform: str, family: str, size: int, batch: int) -> float:
  """The official step's seconds per iteration: on CPU with torch_peer.py's threads, on a GPU
  through torch_peer_cuda.py (the same options and batches on cuda:0)."""
  peer_dir = pathlib.Path(FLAGS.peer_dir)
  script = [str(peer_dir / "torch_peer.py")]
  if platform == "gpu":
    script = [str(ROOT / "benchmarks" / "torch_peer_cuda.py"), str(peer_dir)]
  out = _peer(
    *script,
    *("--src", FLAGS.peer_src, "--model", family, "--size", str(size), "--batch", str(batch)),
    *("--iters", str(FLAGS.iters), "--threads", str(FLAGS.threads)),
  )
  return out["sec_per_iter_min"]


class GanJaxStep:
  """One setting's jitted train step, compiled once, on a fixed random batch."""

  def __init__(self, family: str, overrides: list[str]):
    import numpy as np  # noqa: PLC0415

    from gan_jax import parallel, run  # noqa: PLC0415
    from gan_jax.data import layouts  # noqa: PLC0415

    config = config_lib.load_config(str(ROOT / f"configs/{family}.py"), overrides)
    setup = run.RunSetup(config)
    start = time.perf_counter()
    compiled = setup.compile_steps()["main"]  # the one step of pix2pix and CycleGAN
    self.compile_sec = time.perf_counter() - start
    counter = setup.step_counter(0)
    self.step = lambda state, batch: compiled(state, batch, setup.frozen, counter)
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    self.flops = float(cost.get("flops", float("nan")))
    spec = layouts.batch_spec(
      setup.family.data_layout(config), config.batch_size, config.image_size
    )
    rng = np.random.default_rng(0)
    local = {k: rng.integers(0, 256, v.shape, np.uint8) for k, v in spec.items()}
    self.batch = parallel.to_global(local, setup.batch_sharding)
    self.state = setup.init_state(config.seed)
    self.time(2)  # warm-up

  def time(self, iters: int) -> float:
    """Seconds per step, the minimum over `iters` steps."""
    times = []
    for _ in range(iters):
      start = time.perf_counter()
      self.state, metrics = self.step(self.state, self.batch)
      metrics["d_loss"].block_until_ready()
      times.append(time.perf_counter() - start)
    return min(times)


def main(argv):
  del argv
  logs.setup()
  backend.setup()
  unknown = set(FLAGS.settings) - set(SETTINGS)
  if unknown:
    raise app.UsageError(f"unknown --settings {sorted(unknown)}; choices: {', '.join(SETTINGS)}")
  import jax  # noqa: PLC0415 - after backend.setup()

  platform = jax.default_backend()
  device = jax.devices()[0].device_kind
  peak = {}
  if FLAGS.peer_python and platform == "cpu":  # peak.py measures the CPU's matmul peak only
    peak = _peer(str(pathlib.Path(FLAGS.peer_dir) / "peak.py"), "--threads", str(FLAGS.threads))
  peak_gflops = peak.get("torch_f32_gflops")
  for name in FLAGS.settings:
    family, size, batch, overrides = SETTINGS[name]
    ours = GanJaxStep(family, overrides)
    torch_times, our_times = [], []
    logging.info("%s: gan_jax step compiled in %.1f s", name, ours.compile_sec)
    for r in range(FLAGS.rounds):
      if FLAGS.peer_python:
        torch_times.append(_torch_step_sec(platform, family, size, batch))
      our_times.append(ours.time(FLAGS.iters))
      logging.info("%s round %d: official %s, ours %.4f", name, r, torch_times[-1:], our_times[-1])
    our_sec = min(our_times)
    torch_sec = min(torch_times) if torch_times else None
    print(
      json.dumps(
        {
          "setting": name,
          "platform": platform,
          "device": device,
          "gan_jax_sec_per_iter": round(our_sec, 5),
          "torch_sec_per_iter": torch_sec,
          "gan_jax_images_per_sec": round(batch / our_sec, 2),
          "torch_images_per_sec": round(batch / torch_sec, 2) if torch_sec else None,
          "ratio": round(torch_sec / our_sec, 3) if torch_sec else None,
          "compile_sec": round(ours.compile_sec, 1),
          # XLA's GPU cost analysis leaves out the convolutions (library calls): CPU only.
          "gan_jax_gflops_per_iter": round(ours.flops / 1e9, 1) if platform == "cpu" else None,
          "mfu": round(ours.flops / our_sec / 1e9 / peak_gflops, 3) if peak_gflops else None,
          "peak_gflops": peak_gflops,
          "rounds": FLAGS.rounds,
          "iters": FLAGS.iters,
        }
      ),
      flush=True,
    )


if __name__ == "__main__":
  app.run(main)
