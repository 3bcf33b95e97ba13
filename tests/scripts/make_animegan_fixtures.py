"""Golden fixture for tests/test_animegan_nets.py: what bryandlee/animegan2-pytorch's AnimeGANv2
generator computes.

The port's Generator has fixed widths (2,143,552 parameters), too many to store. So its weights are
not stored: `random_params` draws them from a fixed seed in gan_jax's layout (NumPy only, so the
test redraws them without torch), `to_port_state` converts them to the port's state dict, and the
fixture keeps only what the port computed with them:
- a random input [2, 32, 48, 3] (NHWC), the output of the port's forward with
  align_corners=False and with align_corners=True (its default);
- for align_corners=False, the gradients of a random linear functional of the output with respect
  to the input and to three parameters (the first conv, a depthwise bias, the output conv);
- the port's parameter count.
Numbers only: no code of the port is kept here (it is MIT-licensed; keeping none of it means no
licence notice travels with gan_jax).

Get the port at the commit the fixture was made from:

  git clone https://github.com/bryandlee/animegan2-pytorch
  git -C animegan2-pytorch checkout 25d7b017267208dfaf34026aa3425e518372aa2f

Regenerate the fixture (CPU PyTorch, a few seconds), from the repository root:

  ANIMEGAN2_PYTORCH_SRC=path/to/animegan2-pytorch python tests/scripts/make_animegan_fixtures.py

With ANIMEGAN2_PYTORCH_SRC set, tests/test_animegan_nets.py also compares against the tree live.
"""

import importlib.util
import os
import pathlib
import sys

import numpy as np

COMMIT = "25d7b017267208dfaf34026aa3425e518372aa2f"
FIXTURE = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "animegan_nets.npz"
INPUT_SHAPE = (2, 32, 48, 3)
SEED = 2026
GRAD_PARAMS = ("a_0/conv/kernel", "c_res_1/depthwise/bias", "out/kernel")
NUM_BLOCKS = 4

# gan_jax module -> the port's module, in the port's Generator.
_BLOCKS = {
  "a_0": "block_a.0",
  "a_1": "block_a.1",
  "a_2": "block_a.2",
  "b_0": "block_b.0",
  "b_1": "block_b.1",
  "c_0": "block_c.0",
  **{f"c_res_{i}": f"block_c.{1 + i}" for i in range(NUM_BLOCKS)},
  "c_1": f"block_c.{1 + NUM_BLOCKS}",
  "d_0": "block_d.0",
  "d_1": "block_d.1",
  "e_0": "block_e.0",
  "e_1": "block_e.1",
  "e_2": "block_e.2",
}
# A ConvNormLReLU's (conv, norm) inside a port module; an inverted residual block's parts.
_CONV_NORM = {"conv/kernel": "1.weight", "norm/scale": "2.weight", "norm/bias": "2.bias"}
_RESIDUAL = {
  **{f"expand/{k}": f"layers.0.{v}" for k, v in _CONV_NORM.items()},
  "depthwise/kernel": "layers.1.1.weight",
  "depthwise/bias": "layers.1.1.bias",
  "depthwise_norm/scale": "layers.1.2.weight",
  "depthwise_norm/bias": "layers.1.2.bias",
  "project/kernel": "layers.2.weight",
  "project_norm/scale": "layers.3.weight",
  "project_norm/bias": "layers.3.bias",
}


def _flat(params, prefix=""):
  for k in sorted(params):
    v = params[k]
    if isinstance(v, dict):
      yield from _flat(v, f"{prefix}{k}/")
    else:
      yield f"{prefix}{k}", v


def port_key(path: str) -> str:
  """The port's state-dict key of a gan_jax G param: 'a_0/conv/kernel' -> 'block_a.0.1.weight'."""
  module, rest = path.split("/", 1)
  if module == "out":
    return "out_layer.0.weight"
  parts = _RESIDUAL if module.startswith("c_res_") else _CONV_NORM
  return f"{_BLOCKS[module]}.{parts[rest]}"


def random_params(shapes: dict) -> dict:
  """Generator params drawn from SEED, in gan_jax's layout; `shapes` {path: shape} in any order.

  Kernels N(0, 2 / fan_in) (He, so the activations keep their scale), norm scales 1 + N(0, 0.2^2),
  norm offsets and the depthwise biases N(0, 0.2^2): not the init constants, so a swapped scale and
  offset or a lost bias shows.
  """
  rng = np.random.default_rng(SEED)
  params = {}
  for path in sorted(shapes):
    shape = shapes[path]
    if path.endswith("kernel"):
      fan_in = int(np.prod(shape[:-1]))
      value = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
    elif path.endswith("scale"):
      value = 1.0 + 0.2 * rng.standard_normal(shape)
    else:
      value = 0.2 * rng.standard_normal(shape)
    node = params
    *parents, leaf = path.split("/")
    for name in parents:
      node = node.setdefault(name, {})
    node[leaf] = value.astype(np.float32)
  return params


def to_port_state(params) -> dict[str, np.ndarray]:
  """gan_jax generator params -> the port's state dict (NumPy), kernels HWIO -> OIHW."""
  state = {}
  for path, value in _flat(params):
    value = np.asarray(value)
    state[port_key(path)] = value.transpose(3, 2, 0, 1) if value.ndim == 4 else value
  return state


def make_input_and_cotangent():
  rng = np.random.default_rng(SEED + 1)
  x = rng.uniform(-1, 1, INPUT_SHAPE).astype(np.float32)
  return x, rng.standard_normal(INPUT_SHAPE).astype(np.float32)


def load_port(src: str):
  path = pathlib.Path(src) / "model.py"
  if not path.is_file():
    raise FileNotFoundError(f"{src} is not an animegan2-pytorch checkout (no model.py)")
  spec = importlib.util.spec_from_file_location("animegan2_port_model", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def generator_shapes() -> dict:
  """{path: shape} of gan_jax's generator params (features 32, the port's widths)."""
  import jax
  import jax.numpy as jnp

  from gan_jax.nets import animegan

  abstract = jax.eval_shape(
    animegan.Generator().init, jax.random.key(0), jnp.zeros((1, *INPUT_SHAPE[1:]), jnp.float32)
  )
  return {path: leaf.shape for path, leaf in _flat(abstract["params"])}


def run_port(model_module, params) -> dict[str, np.ndarray]:
  """out/<mode> for both upsampling modes; grad/x and grad/<param> for half-pixel upsampling."""
  import torch

  net = model_module.Generator().eval()
  state = {k: torch.from_numpy(v) for k, v in to_port_state(params).items()}
  net.load_state_dict(state, strict=True)  # every port key is produced exactly once
  x, cot = make_input_and_cotangent()
  result = {"count": np.array(sum(p.numel() for p in net.parameters()), np.int64)}
  with torch.no_grad():
    out = net(torch.from_numpy(x).permute(0, 3, 1, 2), align_corners=True)
    result["out/align_corners"] = out.permute(0, 2, 3, 1).numpy().copy()
  xt = torch.from_numpy(x).permute(0, 3, 1, 2).requires_grad_(True)
  out = net(xt, align_corners=False)
  result["out/half_pixel"] = out.permute(0, 2, 3, 1).detach().numpy().copy()
  torch.sum(out.permute(0, 2, 3, 1) * torch.from_numpy(cot)).backward()
  result["grad/x"] = xt.grad.permute(0, 2, 3, 1).numpy().copy()
  named = dict(net.named_parameters())
  for path in GRAD_PARAMS:
    g = named[port_key(path)].grad.numpy()
    result[f"grad/{path}"] = g.transpose(2, 3, 1, 0).copy() if g.ndim == 4 else g.copy()
  return result


def main():
  src = os.environ.get("ANIMEGAN2_PYTORCH_SRC")
  if not src:
    sys.exit("set ANIMEGAN2_PYTORCH_SRC to a checkout of bryandlee/animegan2-pytorch (see the top)")
  import torch

  sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
  params = random_params(generator_shapes())
  arrays = run_port(load_port(src), params)
  arrays["meta/commit"] = np.array(COMMIT)
  arrays["meta/torch"] = np.array(torch.__version__)
  from tests.scripts import make_stylegan_fixtures  # noqa: PLC0415 - the root is on the path now

  make_stylegan_fixtures.save(FIXTURE, arrays)


if __name__ == "__main__":
  main()
