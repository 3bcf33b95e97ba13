"""Golden fixtures for tests/test_stylegan3_nets.py: what the official StyleGAN3 ops and generator
compute (NVlabs/stylegan3, commit c233a91; its pure-PyTorch reference paths on the CPU).

Cases: the filtered leaky ReLU for every distinct (up, down, up filter, down filter) of the 256 px
T and R synthesis nets, at small spatial sizes (the padding those sizes need, from the same
arithmetic; the full-size paddings are compared with the official modules' attributes by the
tests, and the full-size ops live where the tree is present); and whole tiny generators (T and
R, 16 px) with every parameter and buffer drawn at random, a user transform, truncation, and a
training-mode forward that moves the magnitude EMAs. Numbers only (inputs, state dicts, outputs,
gradients of a random linear functional), in the official layouts for state dicts and gan_jax's
(NHWC) for activations. NVlabs' licence does not allow copying their code, and none is copied.

Regenerate tests/fixtures/stylegan3_nets.npz from the repository root (CPU PyTorch, seconds):

  STYLEGAN3_SRC=path/to/stylegan3 python tests/scripts/make_stylegan3_fixtures.py

With STYLEGAN3_SRC set, tests/test_stylegan3_nets.py also compares against the tree live.
"""

import contextlib
import os
import pathlib
import sys
import types
import warnings

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from gan_jax.nets import stylegan3  # noqa: E402
from tests.scripts import make_stylegan_fixtures as ops_fixtures  # noqa: E402

COMMIT = "c233a91"  # the short commit the issue names; the tree here has no .git
FIXTURE = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "stylegan3_nets.npz"
_OFFICIAL_PACKAGES = ("torch_utils", "training", "dnnlib", "metrics")


def net_layers(resolution: int, config: str, **kwargs) -> list[dict]:
  """gan_jax's layer fields and geometry of a full-width synthesis net ('t' or 'r')."""
  net = stylegan3.SynthesisNetwork(resolution, **synthesis_kwargs(config), **kwargs)
  return [
    {**fields, **layer.geometry()}
    for fields, layer in zip(net.layer_fields(), net.layers(), strict=True)
  ]


def synthesis_kwargs(config: str) -> dict:
  return dict(conv_kernel=1, use_radial_filters=True) if config == "r" else {}


def flrelu_cases() -> list[dict]:
  """One case per distinct (up, down, taps, cutoffs, radial) of the 256 px T and R nets, at an
  input of 8 + kernel - 1 pixels and the output the 8-pixel grid's rates give."""
  cases, seen = [], set()
  for config in ("t", "r"):
    for layer in net_layers(256, config):
      key = (
        layer["up_factor"],
        layer["down_factor"],
        layer["up_taps"],
        layer["down_taps"],
        layer["in_cutoff"],
        layer["out_cutoff"],
        layer["down_radial"],
        layer["is_torgb"],
      )
      if key in seen:
        continue
      seen.add(key)
      in_size = 8
      out_size = max(in_size * layer["out_sampling_rate"] // layer["in_sampling_rate"], 4)
      small = stylegan3.layer_geometry(
        layer["is_torgb"],
        layer["is_critically_sampled"],
        in_size,
        out_size,
        layer["in_sampling_rate"],
        layer["out_sampling_rate"],
        layer["in_cutoff"],
        layer["out_cutoff"],
        layer["in_half_width"],
        layer["out_half_width"],
        layer["conv_kernel"],
        use_radial_filters=config == "r",
      )
      k = small["conv_kernel"]
      cases.append(
        dict(
          name=f"flrelu_{config}_{layer['name']}",
          x_shape=(2, in_size + k - 1, in_size + k - 1, 3),
          up=small["up_factor"],
          down=small["down_factor"],
          padding=small["padding"],
          fu=small["up_filter"],
          fd=small["down_filter"],
          gain=1.0 if layer["is_torgb"] else float(np.sqrt(2)),
          slope=1.0 if layer["is_torgb"] else 0.2,
          clamp=256.0 if config == "t" else 0.5,  # R's cases also exercise the clamp
        )
      )
  return cases


TINY = dict(channel_base=128, channel_max=8)
G_CASES = [
  dict(name="G_t16", config="t", resolution=16, batch=2, psi=0.7, transform=True, train=False),
  dict(
    name="G_r16_train", config="r", resolution=16, batch=3, psi=1.0, transform=False, train=True
  ),
]


def g_init(case) -> dict:
  return dict(
    z_dim=8,
    c_dim=0,
    w_dim=8,
    img_resolution=case["resolution"],
    img_channels=3,
    mapping_kwargs=dict(num_layers=2),
    **TINY,
    num_fp16_res=0,
    magnitude_ema_beta=0.9,
    **synthesis_kwargs(case["config"]),
  )


def user_transform() -> np.ndarray:
  """A rotation by 0.3 rad and a translation by (0.1, -0.05): the inverse transform of the image."""
  a = 0.3
  m = np.array([[np.cos(a), np.sin(a), 0.1], [-np.sin(a), np.cos(a), -0.05], [0, 0, 1]])
  return m.astype(np.float32)


@contextlib.contextmanager
def official_modules(modules: dict | None = None):
  """The StyleGAN3 tree's packages in sys.modules (`modules`, or none), the ones there before (a
  StyleGAN2-ADA tree's have the same names) set aside meanwhile and put back after. Its
  persistent classes re-import their module by name while they are built, so calls into the tree
  run inside this; yields the dict of the tree's modules."""
  owned = lambda k: k.split(".")[0] in _OFFICIAL_PACKAGES  # noqa: E731
  saved = {k: v for k, v in sys.modules.items() if owned(k)}
  for k in saved:
    del sys.modules[k]
  sys.modules.update(modules or {})
  try:
    yield modules
  finally:
    current = {k: v for k, v in sys.modules.items() if owned(k)}
    for k in current:
      del sys.modules[k]
    if modules is not None:
      modules.update(current)
    sys.modules.update(saved)


def load_official(src: str) -> types.SimpleNamespace:
  src = str(pathlib.Path(src).resolve())
  if not (pathlib.Path(src) / "training" / "networks_stylegan3.py").is_file():
    raise FileNotFoundError(f"{src} is not a stylegan3 checkout")
  ops_fixtures.stub_missing_modules()
  modules: dict = {}
  with official_modules(modules):
    sys.path.insert(0, src)
    try:
      with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch_utils.ops import filtered_lrelu
        from training import networks_stylegan3
    finally:
      sys.path.remove(src)
  return types.SimpleNamespace(
    filtered_lrelu=filtered_lrelu, networks=networks_stylegan3, modules=modules
  )


def _nchw(a):
  import torch

  return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).contiguous()


def run_flrelu(official, case) -> dict[str, np.ndarray]:
  import torch

  rng = np.random.RandomState(ops_fixtures._seed(case["name"]))
  x = (rng.randn(*case["x_shape"]) * 2).astype(np.float32)
  b = rng.randn(case["x_shape"][-1]).astype(np.float32)
  tx, tb = _nchw(x).requires_grad_(True), torch.from_numpy(b).requires_grad_(True)
  f = lambda a: None if a is None else torch.from_numpy(a)  # noqa: E731
  out = official.filtered_lrelu._filtered_lrelu_ref(
    tx,
    fu=f(case["fu"]),
    fd=f(case["fd"]),
    b=tb,
    up=case["up"],
    down=case["down"],
    padding=list(case["padding"]),
    gain=case["gain"],
    slope=case["slope"],
    clamp=case["clamp"],
  ).permute(0, 2, 3, 1)
  cot = rng.randn(*out.shape).astype(np.float32)
  gx, gb = torch.autograd.grad((out * torch.from_numpy(cot)).sum(), [tx, tb])
  return {
    "x": x,
    "b": b,
    "out": out.detach().numpy(),
    "cot": cot,
    "grad_x": gx.permute(0, 2, 3, 1).numpy(),
    "grad_b": gb.numpy(),
  }


def run_generator(official, case) -> dict[str, np.ndarray]:
  import torch

  torch.manual_seed(ops_fixtures._seed(case["name"]))
  g = official.networks.Generator(**g_init(case))
  with torch.no_grad():
    for name, t in g.state_dict().items():
      if name.endswith(("_filter", "freqs", "phases", "transform")):
        continue  # the schedule's filters; the input's random frequencies as drawn
      if name.endswith("magnitude_ema"):
        t.copy_(torch.rand_like(t) * 1.5 + 0.5)
      else:
        shift = 1.0 if name.endswith("affine.bias") else 0.0
        t.copy_(torch.randn_like(t) * max(float(t.std()) if t.numel() > 1 else 0.0, 0.5) + shift)
    if case["transform"]:
      g.synthesis.input.transform.copy_(torch.from_numpy(user_transform()))
  state = {k: v.detach().numpy().copy() for k, v in g.state_dict().items()}
  rng = np.random.RandomState(ops_fixtures._seed(case["name"]) + 1)
  z = rng.randn(case["batch"], 8).astype(np.float32)
  tz = torch.from_numpy(z).requires_grad_(True)
  g.train(case["train"])
  out = g(
    tz, torch.zeros([case["batch"], 0]), truncation_psi=case["psi"], update_emas=case["train"]
  ).permute(0, 2, 3, 1)
  cot = rng.randn(*out.shape).astype(np.float32)
  (out * torch.from_numpy(cot)).sum().backward()
  result = {"z": z, "out": out.detach().numpy().copy(), "cot": cot, "grad/z": tz.grad.numpy()}
  result.update({f"state/{k}": v for k, v in state.items() if not k.endswith("_filter")})
  result.update(
    {
      f"grad_state/{k}": p.grad.numpy().copy()
      for k, p in g.named_parameters()
      if p.grad is not None
    }
  )
  if case["train"]:
    result.update(
      {
        f"after/{k}": v.detach().numpy().copy()
        for k, v in g.state_dict().items()
        if k.endswith(("magnitude_ema", "w_avg"))
      }
    )
  return result


SCHEDULE_KEYS = (
  "in_channels",
  "out_channels",
  "in_size",
  "out_size",
  "in_sampling_rate",
  "out_sampling_rate",
  "in_cutoff",
  "out_cutoff",
  "in_half_width",
  "out_half_width",
  "up_factor",
  "down_factor",
  "up_taps",
  "down_taps",
  "padding",
  "is_torgb",
  "is_critically_sampled",
  "use_fp16",
)
SCHEDULE_NETS = [("t", 256), ("r", 256), ("t", 1024), ("r", 64)]


def run_schedule(official, config: str, resolution: int) -> dict[str, np.ndarray]:
  """The official full-width synthesis net's per-layer attributes and filters (no forward)."""
  net = official.networks.SynthesisNetwork(
    w_dim=512, img_resolution=resolution, img_channels=3, **synthesis_kwargs(config)
  )
  out = {
    f"input/{k}": np.asarray(getattr(net.input, k), np.float64)
    for k in ("channels", "size", "sampling_rate", "bandwidth")
  }
  for idx, name in enumerate(net.layer_names):
    layer = getattr(net, name)
    out[f"{idx}/name"] = np.array(name)
    for k in SCHEDULE_KEYS:
      out[f"{idx}/{k}"] = np.asarray(getattr(layer, k), np.float64)
    for k in ("up_filter", "down_filter"):
      f = getattr(layer, k)
      out[f"{idx}/{k}"] = np.zeros(0, np.float32) if f is None else f.numpy()
  return out


def reference(official, name) -> dict[str, np.ndarray]:
  """The official numbers of the case `name` (flrelu_*, G_*, schedule_<config>_<resolution>)."""
  with official_modules(official.modules):
    if name.startswith("schedule_"):
      config, resolution = name.split("_")[1:]
      return run_schedule(official, config, int(resolution))
    case = {c["name"]: c for c in [*flrelu_cases(), *G_CASES]}[name]
    if name.startswith("flrelu"):
      return run_flrelu(official, case)
    return run_generator(official, case)


def write_fixture(path: pathlib.Path, arrays: dict, names, compute) -> None:
  """Writes `arrays` (the provenance) and every `compute(name)` array as NAME/KEY to `path`."""
  for name in names:
    for k, v in compute(name).items():
      arrays[f"{name}/{k}"] = v
  ops_fixtures.save(path, arrays)


def main():
  src = os.environ.get("STYLEGAN3_SRC")
  if not src:
    sys.exit("set STYLEGAN3_SRC to a checkout of NVlabs/stylegan3")
  official = load_official(src)
  arrays = ops_fixtures.provenance(src, COMMIT)
  names = [c["name"] for c in [*flrelu_cases(), *G_CASES]]
  names += [f"schedule_{config}_{res}" for config, res in SCHEDULE_NETS]
  write_fixture(FIXTURE, arrays, names, lambda name: reference(official, name))


if __name__ == "__main__":
  main()
