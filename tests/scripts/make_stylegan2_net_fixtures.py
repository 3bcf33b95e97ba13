"""Golden fixtures for tests/test_stylegan2_nets.py: what the official StyleGAN2-ADA generator,
mapping network and discriminator compute, at tiny widths.

Each case builds an official module (training/networks.py of NVlabs/stylegan2-ada-pytorch) with
every parameter and buffer drawn at random (their initial zeros and ones would hide mistakes; each
at least as spread as its own init, which is N(0, 1) / lr_multiplier for the mapping's), runs
it on deterministic random inputs, and records its state dict, inputs, output, and the gradients of
a random linear functional of the output with respect to the inputs and to every parameter. Numbers
only, in the official layouts (the test converts them with stylegan2.convert_reference_state).

Get the tree as tests/scripts/make_stylegan_fixtures.py says, then, from the repository root:

  STYLEGAN2_ADA_SRC=path/to/tree python tests/scripts/make_stylegan2_net_fixtures.py

With STYLEGAN2_ADA_SRC set, tests/test_stylegan2_nets.py also compares against the tree live.
"""

import os
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from tests.scripts import make_stylegan_fixtures as ops_fixtures  # noqa: E402

FIXTURE = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "stylegan2_nets.npz"
TINY = dict(channel_base=64, channel_max=8)  # 4x4: 8, 8x8: 8, 16x16: 4 channels

# kind: G (Generator forward), mapping (a training-mode mapping forward: w_avg moves), D.
# call: keyword arguments of the forward; batch: samples.
CASES = [
  dict(
    name="G_skip",
    kind="G",
    init=dict(
      z_dim=8,
      c_dim=0,
      w_dim=8,
      img_resolution=16,
      img_channels=3,
      mapping_kwargs=dict(num_layers=2),
      synthesis_kwargs=dict(**TINY, architecture="skip"),
    ),
    call=dict(truncation_psi=0.7, noise_mode="const", fused_modconv=False),
    batch=2,
  ),
  dict(
    name="G_resnet_label_fused_clamped",
    kind="G",
    init=dict(
      z_dim=8,
      c_dim=3,
      w_dim=8,
      img_resolution=16,
      img_channels=3,
      mapping_kwargs=dict(num_layers=3),
      synthesis_kwargs=dict(**TINY, architecture="resnet", conv_clamp=0.5),
    ),
    call=dict(truncation_psi=0.5, truncation_cutoff=2, noise_mode="const", fused_modconv=True),
    batch=3,
  ),
  dict(
    name="G_orig_8px",
    kind="G",
    init=dict(
      z_dim=4,
      c_dim=0,
      w_dim=6,
      img_resolution=8,
      img_channels=3,
      mapping_kwargs=dict(num_layers=1),
      synthesis_kwargs=dict(**TINY, architecture="orig"),
    ),
    call=dict(noise_mode="none", fused_modconv=False),
    batch=2,
  ),
  dict(
    name="mapping_w_avg",
    kind="mapping",
    init=dict(z_dim=8, c_dim=3, w_dim=8, num_ws=5, num_layers=2, w_avg_beta=0.9),
    call=dict(),
    batch=4,
  ),
  dict(
    name="D_resnet",
    kind="D",
    init=dict(
      c_dim=0, img_resolution=16, img_channels=3, **TINY, epilogue_kwargs=dict(mbstd_group_size=2)
    ),
    call=dict(),
    batch=4,
  ),
  dict(
    name="D_skip_label_clamped",
    kind="D",
    init=dict(
      c_dim=3,
      img_resolution=16,
      img_channels=3,
      architecture="skip",
      conv_clamp=2.0,
      **TINY,
      epilogue_kwargs=dict(mbstd_group_size=4, mbstd_num_channels=2),
    ),
    call=dict(),
    batch=4,
  ),
]
BY_NAME = {case["name"]: case for case in CASES}


def make_inputs(case) -> dict[str, np.ndarray]:
  """z, c (one-hot labels) or images, from a RandomState seeded by the case's name."""
  rng = np.random.RandomState(ops_fixtures._seed(case["name"]))
  init, n = case["init"], case["batch"]
  inputs = {}
  if case["kind"] in ("G", "mapping"):
    inputs["z"] = rng.randn(n, init["z_dim"]).astype(np.float32)
  else:
    r, ch = init["img_resolution"], init["img_channels"]
    inputs["img"] = rng.randn(n, r, r, ch).astype(np.float32)  # NHWC
  if init["c_dim"]:
    inputs["c"] = np.eye(init["c_dim"], dtype=np.float32)[rng.randint(0, init["c_dim"], n)]
  return inputs


def run_official(official, case) -> dict[str, np.ndarray]:
  """state/<name>, the output, grad/<input> and grad_state/<param> of the official module."""
  import torch

  networks = official.networks
  torch.manual_seed(ops_fixtures._seed(case["name"]))
  kind, init = case["kind"], case["init"]
  module = {
    "G": networks.Generator,
    "mapping": networks.MappingNetwork,
    "D": networks.Discriminator,
  }[kind](**init)
  with torch.no_grad():
    for name, tensor in module.state_dict().items():
      if not name.endswith("resample_filter"):  # at least the spread of its own init
        spread = max(float(tensor.std()) if tensor.numel() > 1 else 0.0, 0.5)
        shift = 1.0 if name.endswith("affine.bias") else 0.0
        tensor.copy_(torch.randn_like(tensor) * spread + shift)
  state = {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}
  inputs = make_inputs(case)
  t = {k: torch.from_numpy(v).requires_grad_(k != "c") for k, v in inputs.items()}
  c = t.get("c", torch.zeros([case["batch"], 0]))
  result = {f"state/{k}": v for k, v in state.items() if not k.endswith("resample_filter")}
  if kind == "mapping":
    module.train()
    out = module(t["z"], c, truncation_psi=0.6)  # w_avg moves first, then truncation uses it
    result["w_avg"] = module.w_avg.detach().numpy().copy()
  elif kind == "G":
    module.eval()
    out = module(t["z"], c, **case["call"]).permute(0, 2, 3, 1)  # NHWC
  else:
    out = module(t["img"].permute(0, 3, 1, 2), c)
  cot = ops_fixtures.make_cotangent(case, tuple(out.shape))
  (out * torch.from_numpy(cot)).sum().backward()
  result["out"] = out.detach().numpy().copy()
  result["cot"] = cot
  for k, v in t.items():
    if v.requires_grad:
      result[f"grad/{k}"] = v.grad.numpy().copy()
  for k, p in module.named_parameters():
    if p.grad is not None:
      result[f"grad_state/{k}"] = p.grad.numpy().copy()
  if kind in ("G", "D"):
    result.update(_second_order(module, case, inputs, c))
  return result


def _second_order(module, case, inputs, c) -> dict[str, np.ndarray]:
  """The regularizers' double backward, as training/loss.py computes them, without its random
  draws: G's path lengths for a fixed noise image (constant noise inputs, no style mixing) and
  D's R1 penalty; each with the gradient of its batch mean with respect to every parameter."""
  import torch

  module.zero_grad(set_to_none=True)
  rng = np.random.RandomState(ops_fixtures._seed(case["name"]) + 2)
  if case["kind"] == "G":
    z = torch.from_numpy(inputs["z"])
    ws = module.mapping(z, c).detach().requires_grad_(True)
    img = module.synthesis(ws, noise_mode="const")
    noise = (rng.randn(*img.shape) / np.sqrt(img.shape[2] * img.shape[3])).astype(np.float32)
    grads = torch.autograd.grad((img * torch.from_numpy(noise)).sum(), ws, create_graph=True)[0]
    value = grads.square().sum(2).mean(1).sqrt()  # path lengths [N]
    extra = {"reg/noise": noise.transpose(0, 2, 3, 1), "reg/ws": ws.detach().numpy().copy()}
  else:
    real = torch.from_numpy(inputs["img"]).permute(0, 3, 1, 2).requires_grad_(True)
    grads = torch.autograd.grad(module(real, c).sum(), real, create_graph=True)[0]
    value = grads.square().sum([1, 2, 3])  # R1 penalty [N]
    extra = {}
  value.mean().backward()
  extra["reg/value"] = value.detach().numpy().copy()
  for k, p in module.named_parameters():
    if p.grad is not None:
      extra[f"reg_grad_state/{k}"] = p.grad.numpy().copy()
  return extra


def main():
  src = os.environ.get("STYLEGAN2_ADA_SRC")
  if not src:
    sys.exit("set STYLEGAN2_ADA_SRC to a checkout of NVlabs/stylegan2-ada-pytorch")
  import torch

  official = ops_fixtures.load_official(src)
  arrays = {"meta/torch": np.array(torch.__version__), "meta/commit": np.array(ops_fixtures.COMMIT)}
  for case in CASES:
    arrays.update({f"{case['name']}/{k}": v for k, v in make_inputs(case).items()})
    arrays.update({f"{case['name']}/{k}": v for k, v in run_official(official, case).items()})
  ops_fixtures.save(FIXTURE, arrays, f"{len(CASES)} cases, ")


if __name__ == "__main__":
  main()
