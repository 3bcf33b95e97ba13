"""Golden fixture for tests/test_ugatit_nets.py: what the official U-GAT-IT nets compute.

Writes tests/fixtures/ugatit_nets.npz with
- per case (a light and a full generator, two discriminators, at tiny widths): the official
  module's state dict with every parameter and buffer drawn at random (rho uniform in [0, 1]
  per channel, not its init constant; spectral norm's u and v random unit vectors), a random
  NHWC input, the three outputs of a train-mode forward, the gradients of a random linear
  functional of all three with respect to the input and every parameter, and the spectral norms'
  u and v after that forward;
- the parameter counts of the official nets at the paper's sizes (ngf = ndf = 64, 256 px, 4
  residual blocks; global D 7 layers, local D 5), counted on the meta device (no memory).
Numbers only, in gan_jax's layouts for activations (NHWC) and the official ones for weights (the
test converts them with ugatit.convert_reference_state): the official code is MIT-licensed, and
keeping none of it here means no code or licence notice of it travels with gan_jax.

Get the official tree, at the commit the fixture was made from:

  git clone https://github.com/znxlwm/UGATIT-pytorch
  git -C UGATIT-pytorch checkout b8c4251823673189999484d07e97fdcb9300e9e0

Regenerate the fixture (CPU PyTorch, a few seconds), from the repository root:

  UGATIT_SRC=path/to/UGATIT-pytorch python tests/scripts/make_ugatit_fixtures.py

With UGATIT_SRC set, tests/test_ugatit_nets.py also compares against the tree live.
"""

import importlib.util
import os
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from tests.scripts import make_stylegan_fixtures as stylegan_fixtures  # noqa: E402
from tests.scripts.make_stylegan_fixtures import _seed  # noqa: E402

COMMIT = "b8c4251823673189999484d07e97fdcb9300e9e0"
FIXTURE = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "ugatit_nets.npz"

# kind G: networks.ResnetGenerator(**init); D: networks.Discriminator(**init). size: the input's
# (height, width); batch: samples. No global D (7 layers): it needs 128 px before its last pad has
# two pixels to reflect, and its layers are the local one's with two more turns of the same loop;
# the 3-layer D is the other end of that loop (no middle stride-2 conv).
CASES = [
  dict(
    name="G_light",
    kind="G",
    init=dict(input_nc=3, output_nc=3, ngf=2, n_blocks=4, img_size=16, light=True),
    size=(16, 24),  # light: any multiple of 4, not only img_size
    batch=2,
  ),
  dict(
    name="G_full",
    kind="G",
    init=dict(input_nc=3, output_nc=3, ngf=2, n_blocks=2, img_size=16, light=False),
    size=(16, 16),
    batch=2,
  ),
  dict(name="D_local", kind="D", init=dict(input_nc=3, ndf=2, n_layers=5), size=(32, 32), batch=2),
  dict(
    name="D_3_layers", kind="D", init=dict(input_nc=3, ndf=4, n_layers=3), size=(16, 24), batch=2
  ),
]
BY_NAME = {case["name"]: case for case in CASES}

# The paper's nets (UGATIT.py builds them from main.py's defaults: ch 64, n_res 4, img_size 256).
PAPER_NETS = {
  "G_full": ("G", dict(input_nc=3, output_nc=3, ngf=64, n_blocks=4, img_size=256, light=False)),
  "G_light": ("G", dict(input_nc=3, output_nc=3, ngf=64, n_blocks=4, img_size=256, light=True)),
  "D_global": ("D", dict(input_nc=3, ndf=64, n_layers=7)),
  "D_local": ("D", dict(input_nc=3, ndf=64, n_layers=5)),
}


def load_official(src: str):
  """The official networks.py at `src`, imported as a module of its own name."""
  path = pathlib.Path(src) / "networks.py"
  if not path.is_file():
    raise FileNotFoundError(f"{src} is not a UGATIT-pytorch checkout (no networks.py)")
  spec = importlib.util.spec_from_file_location("ugatit_official_networks", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def make_input(case) -> np.ndarray:
  """The case's input images, NHWC, from a RandomState seeded by its name."""
  rng = np.random.RandomState(_seed(case["name"]))
  h, w = case["size"]
  return rng.randn(case["batch"], h, w, case["init"]["input_nc"]).astype(np.float32)


def make_cotangents(case, shapes) -> list[np.ndarray]:
  """Weights of the random linear functional sum_i sum(out_i * cot_i) of the three outputs."""
  rng = np.random.RandomState(_seed(case["name"]) + 1)
  return [rng.randn(*shape).astype(np.float32) for shape in shapes]


def _randomize(module, seed: int) -> None:
  """Draws every parameter and buffer of `module` in place (torch's generator seeded)."""
  import torch

  torch.manual_seed(seed)
  with torch.no_grad():
    for name, tensor in module.state_dict().items():
      leaf = name.rsplit(".", 1)[-1]
      if leaf == "rho":
        tensor.uniform_(0.0, 1.0)
      elif leaf in ("weight_u", "weight_v"):
        tensor.copy_(torch.nn.functional.normalize(torch.randn_like(tensor), dim=0))
      elif leaf == "gamma" and tensor.ndim == 4:  # ILN's (the generator's `gamma` is a Linear)
        tensor.copy_(1.0 + 0.5 * torch.randn_like(tensor))
      elif leaf == "beta" and tensor.ndim == 4:
        tensor.copy_(0.5 * torch.randn_like(tensor))
      else:  # weights and biases: N(0, 1 / fan_in), a little wider than torch's default init
        fan_in = tensor[0].numel() if tensor.ndim > 1 else tensor.numel()
        tensor.copy_(torch.randn_like(tensor) / np.sqrt(fan_in))


def _build(networks, kind: str, init: dict):
  return networks.ResnetGenerator(**init) if kind == "G" else networks.Discriminator(**init)


def run_official(networks, case) -> dict[str, np.ndarray]:
  """state/<name>, out/<i> (image or logits, cam_logit, heatmap), cot/<i>, grad/x,
  grad_state/<param>, and after/<buffer>: spectral norm's u and v after the forward, of the
  official module in train mode."""
  import torch

  module = _build(networks, case["kind"], case["init"])
  _randomize(module, _seed(case["name"]))
  module.train()
  result = {f"state/{k}": v.detach().numpy().copy() for k, v in module.state_dict().items()}
  x = torch.from_numpy(make_input(case)).requires_grad_(True)
  outs = module(x.permute(0, 3, 1, 2))
  outs = [outs[0].permute(0, 2, 3, 1), outs[1], outs[2].permute(0, 2, 3, 1)]  # NHWC
  cots = make_cotangents(case, [tuple(o.shape) for o in outs])
  sum(torch.sum(o * torch.from_numpy(c)) for o, c in zip(outs, cots, strict=True)).backward()
  for i, (o, c) in enumerate(zip(outs, cots, strict=True)):
    result[f"out/{i}"], result[f"cot/{i}"] = o.detach().numpy().copy(), c
  result["grad/x"] = x.grad.numpy().copy()
  for k, p in module.named_parameters():
    result[f"grad_state/{k}"] = p.grad.numpy().copy()
  for k, v in module.state_dict().items():
    if k.endswith(("weight_u", "weight_v")):
      result[f"after/{k}"] = v.numpy().copy()
  return result


def paper_parameter_counts(networks) -> dict[str, int]:
  """Parameters of each official net at the paper's sizes, built on the meta device."""
  import torch

  with torch.device("meta"):
    return {
      name: sum(p.numel() for p in _build(networks, kind, init).parameters())
      for name, (kind, init) in PAPER_NETS.items()
    }


def main():
  src = os.environ.get("UGATIT_SRC")
  if not src:
    sys.exit("set UGATIT_SRC to a checkout of znxlwm/UGATIT-pytorch")

  networks = load_official(src)
  arrays = stylegan_fixtures.provenance(src, COMMIT)
  for name, count in paper_parameter_counts(networks).items():
    arrays[f"count/{name}"] = np.array(count, np.int64)
  for case in CASES:
    arrays[f"{case['name']}/x"] = make_input(case)
    arrays.update({f"{case['name']}/{k}": v for k, v in run_official(networks, case).items()})
  stylegan_fixtures.save(FIXTURE, arrays, f"{len(CASES)} cases, ")


if __name__ == "__main__":
  main()
