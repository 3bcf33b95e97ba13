"""Golden fixtures for tests/test_stylegan_ops.py: what the official StyleGAN2-ADA ops compute.

The cases (the resampling, bias + activation and conv set-ups the StyleGAN2 nets use, plus a few
general ones), their deterministic random inputs, and a runner that feeds them to the official
PyTorch ops (their pure-PyTorch reference paths, on the CPU) live here; the test imports them.
The fixture holds numbers only (inputs, cotangents, outputs, gradients) in gan_jax's layouts
(NHWC activations, HWIO conv weights, [in, out] dense weights): NVlabs' licence does not allow
copying their code, and none is copied.

Get the official tree, at the commit the fixture was made from:

  git clone https://github.com/NVlabs/stylegan2-ada-pytorch
  git -C stylegan2-ada-pytorch checkout d72cc7d041b42ec8e806021a205ed9349f87c6a4

Regenerate tests/fixtures/stylegan_ops.npz (CPU PyTorch, a few seconds), from the repository root:

  STYLEGAN2_ADA_SRC=path/to/stylegan2-ada-pytorch python tests/scripts/make_stylegan_fixtures.py

With STYLEGAN2_ADA_SRC set, tests/test_stylegan_ops.py also compares against the tree live.
"""

import importlib.util
import math
import os
import pathlib
import subprocess
import sys
import types
import warnings

import numpy as np

COMMIT = "d72cc7d041b42ec8e806021a205ed9349f87c6a4"
FIXTURE = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "stylegan_ops.npz"
F1331 = {"f": [1, 3, 3, 1]}  # the StyleGAN2 resampling filter (a 4x4 2-D filter once set up)
SQRT2, SQRT_HALF = math.sqrt(2), math.sqrt(0.5)


def _case(name, op, shapes=None, grads=(), filter=None, scales=None, **kwargs):
  """shapes: input name -> shape in gan_jax's layout; grads: the inputs differentiated; filter:
  setup_filter's arguments (None: f=None); scales: input name -> factor on its N(0, 1) numbers
  (x to reach the clamps, weights to the size they have under an lr multiplier)."""
  return {
    "name": name,
    "op": op,
    "shapes": shapes or {},
    "grads": tuple(grads),
    "filter": filter,
    "scales": scales or {},
    "kwargs": kwargs,
  }


def _bias_act(name, act, x=(2, 6, 6, 5), scale=1.0, **kwargs):
  shapes = {"x": x, "b": x[-1:]}
  return _case(name, "bias_act", shapes, ("x", "b"), scales={"x": scale}, act=act, **kwargs)


def _conv(name, x, w, filter=None, **kwargs):
  return _case(name, "conv2d_resample", {"x": x, "w": w}, ("x", "w"), filter, **kwargs)


def _modconv(name, x, w, noise=True, filter=None, **kwargs):
  out = x[1] * kwargs.get("up", 1) // kwargs.get("down", 1)
  shapes = {"x": x, "w": w, "styles": (x[0], x[-1])}
  if noise:
    shapes["noise"] = (x[0], out, out, 1)
  return _case(name, "modulated_conv2d", shapes, tuple(shapes), filter, **kwargs)


def _fir(name, op, x, filter=F1331, **kwargs):
  return _case(name, op, {"x": x}, ("x",), filter, **kwargs)


CASES = [
  # setup_filter
  _case("setup_filter_1331", "setup_filter", filter=F1331),
  _case(
    "setup_filter_8tap_flip_gain",
    "setup_filter",
    filter={"f": [1, 2, 3, 4, 4, 3, 2, 1.5], "flip_filter": True, "gain": 3},
  ),
  _case(
    "setup_filter_2d_raw_flip",
    "setup_filter",
    filter={"f": [[1, 2, 0], [3, 5, 1]], "normalize": False, "flip_filter": True, "gain": 2},
  ),
  _case(
    "setup_filter_121_separable",
    "setup_filter",
    filter={"f": [1, 2, 1], "separable": True, "gain": 4},
  ),
  _case("setup_filter_scalar", "setup_filter", filter={"f": 2.0, "normalize": False}),
  # FIR resampling: the skip architectures' image up/downsampling, the filter alone, the FIR of
  # conv2d_resample's paths, and general up / down / pad / crop / flip / gain combinations.
  _fir("upsample2d_1331", "upsample2d", (2, 8, 8, 3)),
  _fir("downsample2d_1331", "downsample2d", (2, 8, 8, 3)),
  _fir("filter2d_1331", "filter2d", (2, 8, 8, 4)),
  _fir("filter2d_1331_padded", "filter2d", (2, 8, 9, 4), padding=(1, -1, 2, 0)),
  _fir("upsample2d_no_filter", "upsample2d", (2, 5, 6, 3), filter=None),
  _fir("downsample2d_121_down3", "downsample2d", (2, 12, 9, 3), {"f": [1, 2, 1]}, down=3, gain=2),
  _fir("downsample2d_121_down2_odd", "downsample2d", (2, 7, 8, 3), {"f": [1, 2, 1]}),
  _fir("upfirdn2d_up2_pad_gain4", "upfirdn2d", (2, 8, 8, 4), up=2, padding=(2, 1, 2, 1), gain=4),
  _fir("upfirdn2d_down2_pad1", "upfirdn2d", (2, 8, 8, 4), down=2, padding=1),
  _fir(
    "upfirdn2d_separable_up2_down3",
    "upfirdn2d",
    (2, 9, 8, 3),
    {"f": [1, 2, 3, 4, 4, 3, 2, 1.5]},
    up=2,
    down=3,
    padding=(3, -2, 1, 4),
    flip_filter=True,
    gain=3,
  ),
  _fir(
    "upfirdn2d_separable_anisotropic",
    "upfirdn2d",
    (2, 6, 7, 3),
    {"f": [1, 2, 3, 4, 4, 3, 2, 1.5]},
    up=(1, 2),
    down=(2, 1),
    padding=(2, -1, 0, 3),
  ),
  _fir(
    "upfirdn2d_2d_anisotropic",
    "upfirdn2d",
    (2, 8, 10, 3),
    {"f": [[1, 2, 3], [0, 1, 4]], "normalize": False},
    up=(2, 1),
    down=(1, 2),
    padding=(-1, 2, 0, 1),
    gain=0.5,
  ),
  # bias_act: linear (ToRGB, dense), lrelu gain sqrt(2) (every conv), conv_clamp 256 (times the
  # resnet gain sqrt(0.5) on the last conv of a resnet block), the dense layers' [N, F], the rest.
  _bias_act("bias_act_linear", "linear"),
  _bias_act("bias_act_lrelu", "lrelu"),
  _bias_act("bias_act_lrelu_clamp256", "lrelu", scale=300.0, clamp=256),
  _bias_act(
    "bias_act_lrelu_clamp256_resnet_gain",
    "lrelu",
    scale=300.0,
    gain=SQRT2 * SQRT_HALF,
    clamp=256 * SQRT_HALF,
  ),
  _bias_act("bias_act_linear_clamp256", "linear", scale=300.0, clamp=256),
  _bias_act("bias_act_dense_lrelu", "lrelu", x=(2, 7)),
  _bias_act("bias_act_lrelu_alpha_gain", "lrelu", alpha=0.1, gain=2.0),
  *[
    _bias_act(f"bias_act_{act}", act, x=(2, 4, 4, 3))
    for act in ("relu", "tanh", "sigmoid", "elu", "selu", "softplus", "swish")
  ],
  _case("bias_act_no_bias", "bias_act", {"x": (2, 4, 4, 3)}, ("x",), act="lrelu", clamp=0.5),
  # conv2d_resample: SynthesisLayer conv0 (3x3 up 2, flip_weight False) and conv1 (3x3), D's 3x3
  # down 2, FromRGB / ToRGB 1x1, the resnet skips (1x1 down 2 in D, 1x1 up 2 in G), and the
  # general / grouped paths.
  _conv("conv_3x3", (2, 8, 8, 4), (3, 3, 4, 5), padding=1),
  _conv("conv_3x3_up2", (2, 8, 8, 4), (3, 3, 4, 5), F1331, up=2, padding=1, flip_weight=False),
  _conv("conv_3x3_down2", (2, 8, 8, 4), (3, 3, 4, 5), F1331, down=2, padding=1),
  _conv("conv_1x1", (2, 8, 8, 3), (1, 1, 3, 6)),
  _conv("conv_1x1_down2", (2, 8, 8, 4), (1, 1, 4, 5), F1331, down=2),
  _conv("conv_1x1_up2", (2, 8, 8, 4), (1, 1, 4, 5), F1331, up=2, flip_weight=False),
  _conv("conv_3x3_true_conv", (2, 8, 8, 4), (3, 3, 4, 5), padding=1, flip_weight=False),
  _conv("conv_3x3_up2_correlation", (2, 8, 8, 4), (3, 3, 4, 5), F1331, up=2, padding=1),
  _conv("conv_3x3_grouped_asym_pad", (2, 8, 8, 4), (3, 3, 2, 6), groups=2, padding=(2, 0, -1, 1)),
  _conv(
    "conv_3x3_up2_down2_grouped",
    (2, 8, 8, 4),
    (3, 3, 2, 4),
    F1331,
    up=2,
    down=2,
    groups=2,
    padding=1,
  ),
  _conv(
    "conv_4x4_down2_124_asym_pad",
    (2, 9, 9, 3),
    (4, 4, 3, 4),
    {"f": [1, 2, 4]},
    down=2,
    padding=(1, 2, 0, 1),
    flip_filter=True,
  ),
  # modulated_conv2d: SynthesisLayer conv0 / conv1 with noise, ToRGB (1x1, no demodulation), fused
  # (grouped conv) and per-sample; a down 2 one for completeness.
  *[
    case
    for fused in (True, False)
    for tag in ["fused" if fused else "nonfused"]
    for case in (
      _modconv(
        f"modconv_up2_{tag}",
        (2, 8, 8, 4),
        (3, 3, 4, 5),
        filter=F1331,
        up=2,
        padding=1,
        flip_weight=False,
        fused_modconv=fused,
      ),
      _modconv(f"modconv_3x3_{tag}", (2, 8, 8, 4), (3, 3, 4, 5), padding=1, fused_modconv=fused),
      _modconv(
        f"modconv_torgb_{tag}",
        (2, 8, 8, 5),
        (1, 1, 5, 3),
        noise=False,
        demodulate=False,
        fused_modconv=fused,
      ),
      _modconv(
        f"modconv_down2_{tag}",
        (2, 8, 8, 3),
        (3, 3, 3, 4),
        noise=False,
        filter=F1331,
        down=2,
        padding=1,
        fused_modconv=fused,
      ),
    )
  ],
  # Equalized-learning-rate dense layers (the mapping net's lr multiplier 0.01).
  _case(
    "fully_connected_linear",
    "fully_connected",
    {"x": (2, 6), "weight": (6, 4), "bias": (4,)},
    ("x", "weight", "bias"),
    scales={"weight": 100.0, "bias": 100.0},  # stored as N(0, 1) / lr_multiplier
    activation="linear",
    lr_multiplier=0.01,
  ),
  _case(
    "fully_connected_lrelu",
    "fully_connected",
    {"x": (2, 6), "weight": (6, 4), "bias": (4,)},
    ("x", "weight", "bias"),
    scales={"weight": 100.0, "bias": 100.0},  # stored as N(0, 1) / lr_multiplier
    activation="lrelu",
    lr_multiplier=0.01,
  ),
]
BY_NAME = {case["name"]: case for case in CASES}
assert len(BY_NAME) == len(CASES), "case names must be unique"


def _seed(name: str) -> int:
  return sum((i + 1) * ord(c) for i, c in enumerate(name)) % (2**31)


def make_inputs(case) -> dict[str, np.ndarray]:
  """The case's inputs (float32, gan_jax's layouts), from a RandomState seeded by its name."""
  rng = np.random.RandomState(_seed(case["name"]))
  inputs = {k: rng.randn(*shape).astype(np.float32) for k, shape in case["shapes"].items()}
  for k, scale in case["scales"].items():
    inputs[k] *= np.float32(scale)
  if "styles" in inputs:  # the affine layers' bias_init is 1
    inputs["styles"] += np.float32(1)
  return inputs


def make_cotangent(case, shape) -> np.ndarray:
  """The weights of the random linear functional sum(out * cot) whose gradients are compared."""
  return np.random.RandomState(_seed(case["name"]) + 1).randn(*shape).astype(np.float32)


# ------------------------------------------------------------------------------------------------
# The official tree.


def stub_missing_modules():
  """Stub the modules the official tree imports but never uses here, where the environment lacks
  them (newer Pythons and setuptools dropped distutils and pkg_resources). The official-code
  peers under benchmarks/peer/ call it too."""
  for name in ("pkg_resources", "requests"):
    # a stub from an earlier call has no spec, which find_spec refuses
    if name not in sys.modules and importlib.util.find_spec(name) is None:
      sys.modules[name] = types.ModuleType(name)
      if name == "pkg_resources":  # StyleGAN3's conv2d_gradfix calls parse_version
        from packaging.version import parse

        sys.modules[name].parse_version = parse
  try:
    import distutils.util  # noqa: F401
  except ImportError:
    distutils = types.ModuleType("distutils")
    distutils.util = types.ModuleType("distutils.util")
    distutils.util.strtobool = lambda v: str(v).lower() in ("y", "yes", "t", "true", "on", "1")
    sys.modules["distutils"], sys.modules["distutils.util"] = distutils, distutils.util


def load_official(src: str) -> types.SimpleNamespace:
  """The official ops modules from the tree at `src`, their custom CUDA plugins switched off (the
  ops then take their pure-PyTorch reference paths; everything runs on CPU tensors anyway)."""
  src = str(pathlib.Path(src).resolve())
  if not (pathlib.Path(src) / "torch_utils" / "ops" / "upfirdn2d.py").is_file():
    raise FileNotFoundError(f"{src} is not a stylegan2-ada-pytorch checkout")
  stub_missing_modules()
  if src not in sys.path:
    sys.path.insert(0, src)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from torch_utils.ops import bias_act, conv2d_resample, upfirdn2d
    from training import networks
  for module in (bias_act, upfirdn2d):
    module._init = lambda: False
  return types.SimpleNamespace(
    upfirdn2d=upfirdn2d, bias_act=bias_act, conv2d_resample=conv2d_resample, networks=networks
  )


def _to_torch(name, a):
  import torch

  t = torch.from_numpy(np.ascontiguousarray(a))
  if name in ("w",):
    return t.permute(3, 2, 0, 1).contiguous()  # HWIO -> OIHW
  if name == "weight":
    return t.t().contiguous()  # [in, out] -> [out, in]
  if t.ndim == 4:
    return t.permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW
  return t


def _from_torch(name, t) -> np.ndarray:
  if name == "w":
    t = t.permute(2, 3, 1, 0)
  elif name == "weight":
    t = t.t()
  elif t.ndim == 4:
    t = t.permute(0, 2, 3, 1)
  return np.ascontiguousarray(t.detach().numpy(), dtype=np.float32)


def run_official(official, case, inputs) -> dict[str, np.ndarray]:
  """{'out', 'cot', 'grad_<input>' ...} from the official op, in gan_jax's layouts."""
  import torch

  op, kw, spec = case["op"], dict(case["kwargs"]), case["filter"]
  f = None if spec is None else official.upfirdn2d.setup_filter(**spec)
  if op == "setup_filter":
    return {"out": f.numpy()}
  t = {k: _to_torch(k, v).requires_grad_(k in case["grads"]) for k, v in inputs.items()}
  if op in ("upfirdn2d", "upsample2d", "downsample2d", "filter2d"):
    out = getattr(official.upfirdn2d, op)(t["x"], f, impl="ref", **kw)
  elif op == "bias_act":
    out = official.bias_act.bias_act(t["x"], t.get("b"), dim=1, impl="ref", **kw)
  elif op == "conv2d_resample":
    out = official.conv2d_resample.conv2d_resample(t["x"], t["w"], f, **kw)
  elif op == "modulated_conv2d":
    out = official.networks.modulated_conv2d(
      t["x"], t["w"], t["styles"], noise=t.get("noise"), resample_filter=f, **kw
    )
  elif op == "fully_connected":
    layer = official.networks.FullyConnectedLayer(*inputs["weight"].shape, **kw)
    with torch.no_grad():
      layer.weight.copy_(t["weight"])
      layer.bias.copy_(t["bias"])
    out = layer(t["x"])
    grads = torch.autograd.grad(
      (out * torch.from_numpy(make_cotangent(case, out.shape))).sum(),
      [t["x"], layer.weight, layer.bias],
    )
    result = {"out": _from_torch("out", out), "cot": make_cotangent(case, out.shape)}
    for name, g in zip(("x", "weight", "bias"), grads, strict=True):
      result[f"grad_{name}"] = _from_torch(name, g)
    return result
  else:
    raise ValueError(f"unknown op {op!r}")
  result = {"out": _from_torch("out", out)}
  result["cot"] = make_cotangent(case, result["out"].shape)
  names = list(case["grads"])
  grads = torch.autograd.grad((out * _to_torch("out", result["cot"])).sum(), [t[k] for k in names])
  for name, g in zip(names, grads, strict=True):
    result[f"grad_{name}"] = _from_torch(name, g)
  return result


def provenance(src: str, commit: str) -> dict[str, np.ndarray]:
  """The fixture's meta arrays: the official tree's commit (warned about when it is not `commit`,
  the one the fixture documents) and torch's version."""
  import torch  # noqa: PLC0415

  try:
    head = subprocess.run(
      ["git", "-C", src, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    head = "unknown"
  if head != commit:
    print(f"warning: the tree is at {head}, the fixture documents {commit}", file=sys.stderr)
  return {"meta/commit": np.array(head), "meta/torch": np.array(torch.__version__)}


def save(path: pathlib.Path, arrays: dict[str, np.ndarray], what: str = "") -> None:
  """Writes a fixture's arrays to `path` (compressed) and says what it wrote; every fixture
  script ends with it."""
  path.parent.mkdir(parents=True, exist_ok=True)
  np.savez_compressed(path, **arrays)
  print(f"{path}: {what}{len(arrays)} arrays, {path.stat().st_size} bytes")


def main():
  src = os.environ.get("STYLEGAN2_ADA_SRC")
  if not src:
    sys.exit("set STYLEGAN2_ADA_SRC to a checkout of NVlabs/stylegan2-ada-pytorch (see the top)")
  import torch

  torch.set_grad_enabled(True)
  official = load_official(src)
  arrays = provenance(src, COMMIT)
  for case in CASES:
    inputs = make_inputs(case)
    arrays.update({f"{case['name']}/{k}": v for k, v in inputs.items()})
    for k, v in run_official(official, case, inputs).items():
      arrays[f"{case['name']}/{k}"] = v
  save(FIXTURE, arrays, f"{len(CASES)} cases, ")


if __name__ == "__main__":
  main()
