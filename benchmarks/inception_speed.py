"""FID Inception speed: the Flax port against pytorch-fid's InceptionV3 on CPU, one JSON line.

  python benchmarks/inception_speed.py [--batch=32] [--image_size=64] [--repeats=3]

Needs torch and pytorch-fid (requirements-test.txt). Both networks get the same random weights
(pytorch-fid's network, built by pytorch-fid with its weights download replaced by its own state
dict, saved to a temporary file that `inception.load_params` reads) and the same batch of images
in [0, 1]. Fields: backend and device_kind (JAX's), batch, image_size, compile_sec (jit of
`inception.features`), flax_images_per_sec (jitted, after a warm-up call), torch_images_per_sec
(pytorch-fid in torch's eager mode on CPU, torch_threads threads, after a warm-up call),
and flax_vs_torch (the ratio of the two). tests/test_inception.py checks that the two agree.
"""

import json
import pathlib
import sys
import tempfile
import time

import jax
import numpy as np
import torch
from absl import app, flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from gan_jax import backend  # noqa: E402
from gan_jax.metrics import inception  # noqa: E402
from tests import torch_reference  # noqa: E402

flags.DEFINE_integer("batch", 32, "Images per call.")
flags.DEFINE_integer("image_size", 64, "Side of the square input images (resized to 299).")
flags.DEFINE_integer("repeats", 3, "Timed calls per network, after one warm-up call.")
FLAGS = flags.FLAGS


def images_per_second(run, images: np.ndarray, repeats: int) -> float:
  run(images)  # warm-up
  start = time.perf_counter()
  for _ in range(repeats):
    run(images)
  return repeats * len(images) / (time.perf_counter() - start)


def main(argv):
  del argv
  backend.setup()  # the CPU flags gan_jax runs with, before JAX starts its backend
  torch.manual_seed(0)
  net, inception_v3 = torch_reference.pytorch_fid_inception()
  net.eval()
  state_dict = inception_v3.state_dict()
  with tempfile.TemporaryDirectory() as folder:
    torch.save(state_dict, f"{folder}/weights.pth")
    params = jax.device_put(inception.load_params(f"{folder}/weights.pth"))
  size = FLAGS.image_size
  images = np.random.default_rng(0).random((FLAGS.batch, size, size, 3), dtype=np.float32)

  start = time.perf_counter()
  compiled = jax.jit(inception.features).lower(params, images).compile()
  compile_sec = time.perf_counter() - start
  run_flax = lambda x: np.asarray(compiled(params, x))

  def run_torch(x):
    with torch.no_grad():
      return net(torch.from_numpy(x.transpose(0, 3, 1, 2)))[0][:, :, 0, 0].numpy()

  flax_rate = images_per_second(run_flax, images, FLAGS.repeats)
  torch_rate = images_per_second(run_torch, images, FLAGS.repeats)
  print(
    json.dumps(
      {
        "backend": jax.default_backend(),
        "device_kind": jax.devices()[0].device_kind,
        "batch": FLAGS.batch,
        "image_size": size,
        "compile_sec": round(compile_sec, 2),
        "flax_images_per_sec": round(flax_rate, 2),
        "torch_images_per_sec": round(torch_rate, 2),
        "flax_vs_torch": round(flax_rate / torch_rate, 3),
        "torch_threads": torch.get_num_threads(),
      }
    )
  )


if __name__ == "__main__":
  app.run(main)
