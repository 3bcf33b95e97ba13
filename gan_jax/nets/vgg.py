"""VGG16 and VGG19 feature extractors (Simonyan & Zisserman 2015): frozen nets, weights from a file.

The layers are torchvision's `vgg16` / `vgg19` `features` (3x3 convs with zero padding 1 and bias,
ReLU, 2x2 stride-2 max pools), named as the papers and the TF ports name them: conv1_1, relu1_1,
conv1_2, relu1_2, pool1, conv2_1, ... (VGG16 blocks hold 2, 2, 3, 3, 3 convs; VGG19 2, 2, 4, 4, 4).
`VGG(arch, outputs)` returns {name: activation} for every requested layer and runs only up to the
deepest one, and its params hold only the convs up to there: AnimeGAN asks for ('conv4_4',), the
VGG19 features before the ReLU; a perceptual loss may ask for several layers at once.

Weights come from a user's file, in either of two forms (`load_params` tells them apart by content):
- torchvision's state dict (`torch.save(vgg19().state_dict())`, the `vgg19-dcbb9e9d.pth` download):
  `features.<index>.weight` [out, in, 3, 3] and `.bias`, read by `metrics.torch_file` (no torch).
  A `features` state dict alone (`<index>.weight`) is accepted too.
- the `vgg19.npy` / `vgg16.npy` of the TF ports that AnimeGAN uses: a pickled {layer name: [kernel
  [3, 3, in, out], bias]}. The file is a pickle, which can run code when loaded with
  `np.load(allow_pickle=True)`; it is read here by an unpickler that builds only NumPy arrays,
  dtypes, lists and dicts and refuses any other name, so a hostile file fails instead of running.
Those TF weights are Caffe's, trained on BGR images in [0, 255] minus the ImageNet mean;
torchvision's on RGB images in [0, 1] normalised by the ImageNet mean and std. `preprocess` maps
images in [-1, 1] to either (`input_mode` 'caffe_bgr' or 'imagenet_rgb'); the caller picks the one
its weights expect. Max pools drop an odd last row or column (torchvision); the TF ports pad instead
('SAME'), so the two agree on sides that stay even down to the deepest pool used (multiples of 8
for conv4_4).

Without a file, `random_params` gives a deterministic VGG with torchvision's initialisation (kaiming
normal, fan out, biases 0): random conv features make a known, weaker perceptual loss.
"""

import functools
import io
import os
import pickle
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from gan_jax import errors
from gan_jax.metrics import torch_file

# Convs per block; every block ends in a 2x2 max pool.
BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
WIDTHS = (64, 128, 256, 512, 512)
INPUT_MODES = ("caffe_bgr", "imagenet_rgb")
# Caffe's ImageNet mean in BGR order, [0, 255] (the TF ports' VGG_MEAN).
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
# torchvision's ImageNet statistics, RGB, [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NPY_MAGIC = b"\x93NUMPY"


class VGGWeightsError(errors.UserError, ValueError):
  """A VGG weights file that is missing, unreadable, or does not hold the layers asked for."""


def _check_arch(arch: str) -> None:
  if arch not in BLOCKS:
    raise errors.ConfigError(f"unknown VGG arch {arch!r}; choices: {', '.join(BLOCKS)}")


@functools.cache
def layer_names(arch: str) -> tuple[str, ...]:
  """Every layer of `arch` in order: conv1_1, relu1_1, ..., pool1, conv2_1, ..., pool5."""
  _check_arch(arch)
  names = []
  for block, convs in enumerate(BLOCKS[arch], start=1):
    for k in range(1, convs + 1):
      names += [f"conv{block}_{k}", f"relu{block}_{k}"]
    names.append(f"pool{block}")
  return tuple(names)


def conv_names(arch: str, outputs: Sequence[str]) -> tuple[str, ...]:
  """The convs that computing `outputs` needs, in order: the params `VGG(arch, outputs)` has."""
  names = layer_names(arch)
  last = max(_layer_index(arch, name) for name in outputs)
  return tuple(n for n in names[: last + 1] if n.startswith("conv"))


def _layer_index(arch: str, name: str) -> int:
  names = layer_names(arch)
  if name not in names:
    raise errors.ConfigError(
      f"{arch} has no layer {name!r}; layers: {names[0]} ... {names[-1]} (convN_K, reluN_K, poolN)"
    )
  return names.index(name)


def check_outputs(arch: str, outputs: Sequence[str]) -> None:
  """ConfigError unless `outputs` is a non-empty sequence of `arch`'s layer names."""
  if isinstance(outputs, str) or not outputs:
    raise errors.ConfigError(
      f"VGG outputs must be a non-empty list of layer names, got {outputs!r}"
    )
  for name in outputs:
    _layer_index(arch, name)


def _torchvision_init():
  # torchvision's VGG: kaiming_normal_(mode='fan_out', nonlinearity='relu'), biases 0.
  return nn.initializers.variance_scaling(2.0, "fan_out", "normal")


class VGG(nn.Module):
  """VGG `features` up to the deepest of `outputs`; input already mapped by `preprocess`.

  Attributes:
    arch: 'vgg16' or 'vgg19'.
    outputs: layer names (see `layer_names`) to return.
    precision: of the convs (None: the backend's default; `lax.Precision.HIGHEST` for full float32
      on TPU/GPU).
  """

  arch: str = "vgg19"
  outputs: tuple[str, ...] = ("conv4_4",)
  precision: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> dict[str, jax.Array]:
    check_outputs(self.arch, self.outputs)
    wanted = set(self.outputs)
    last = max(_layer_index(self.arch, n) for n in self.outputs)
    found = {}
    for name in layer_names(self.arch)[: last + 1]:
      if name.startswith("conv"):
        block = int(name[4])
        x = nn.Conv(
          WIDTHS[block - 1],
          (3, 3),
          padding=((1, 1), (1, 1)),
          kernel_init=_torchvision_init(),
          precision=self.precision,
          name=name,
        )(x)
      elif name.startswith("relu"):
        x = nn.relu(x)
      else:
        x = nn.max_pool(x, (2, 2), (2, 2))
      if name in wanted:
        found[name] = x
    return {name: found[name] for name in self.outputs}


def preprocess(images: jax.Array, input_mode: str) -> jax.Array:
  """Images in [-1, 1], RGB, NHWC -> what the weights were trained on.

  'caffe_bgr': [0, 255], channels reversed to BGR, Caffe's BGR mean subtracted (the TF ports,
  AnimeGAN's vgg19.npy). 'imagenet_rgb': [0, 1], minus torchvision's ImageNet mean, over its std.
  """
  x = (jnp.asarray(images, jnp.float32) + 1) / 2
  if input_mode == "caffe_bgr":
    return x[..., ::-1] * 255 - jnp.asarray(CAFFE_BGR_MEAN, jnp.float32)
  if input_mode == "imagenet_rgb":
    return (x - jnp.asarray(IMAGENET_MEAN, jnp.float32)) / jnp.asarray(IMAGENET_STD, jnp.float32)
  raise errors.ConfigError(
    f"unknown VGG input_mode {input_mode!r}; choices: {', '.join(INPUT_MODES)}"
  )


def features(
  params, images: jax.Array, arch: str, outputs: Sequence[str], input_mode: str, precision=None
) -> dict[str, jax.Array]:
  """{layer: activation [B, h, w, C]} of images [B, H, W, 3] in [-1, 1], RGB."""
  net = VGG(arch, tuple(outputs), precision)
  return net.apply(params, preprocess(images, input_mode))


def random_params(arch: str, outputs: Sequence[str], seed: int = 0):
  """A deterministic VGG's {'params': ...} (torchvision's initialisation from `seed`), as NumPy."""
  check_outputs(arch, outputs)
  net = VGG(arch, tuple(outputs))
  variables = jax.jit(net.init)(jax.random.key(seed), jnp.zeros((1, 16, 16, 3), jnp.float32))
  return jax.tree.map(np.asarray, {"params": variables["params"]})


# --- reading weight files --------------------------------------------------------------------


def _npy_reconstruct():
  """numpy's array unpickling function, wherever this numpy keeps it."""
  return np.zeros(1).__reduce__()[0]


class _ArrayUnpickler(pickle.Unpickler):
  """Builds NumPy arrays, dtypes, lists, dicts and strings; refuses every other name."""

  _ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
  }

  def __init__(self, file, path: str):
    super().__init__(file, encoding="latin1")  # the TF ports' files were written by Python 2
    self.path = path

  def find_class(self, module, name):
    if (module, name) in self._ALLOWED:
      return {"_reconstruct": _npy_reconstruct(), "ndarray": np.ndarray, "dtype": np.dtype}[name]
    raise VGGWeightsError(
      f"{self.path}: refusing to unpickle {module}.{name}: only arrays of VGG weights are read"
    )


def _load_npy(path: str) -> dict[str, np.ndarray]:
  """{'conv1_1.kernel': [3, 3, in, out], 'conv1_1.bias': [out], ...} from a TF port's .npy."""
  with open(path, "rb") as f:
    try:
      version = np.lib.format.read_magic(f)
      read_header = {(1, 0): np.lib.format.read_array_header_1_0}.get(
        version, np.lib.format.read_array_header_2_0
      )
      shape, _, dtype = read_header(f)
    except ValueError as e:
      raise VGGWeightsError(f"{path}: not a readable .npy file ({e})") from e
    if not dtype.hasobject or shape != ():
      raise VGGWeightsError(
        f"{path}: a .npy array {dtype} {list(shape)}, not a pickled {{layer: [kernel, bias]}} dict"
      )
    try:
      obj = _ArrayUnpickler(io.BytesIO(f.read()), path).load()
    except VGGWeightsError:
      raise
    except Exception as e:
      raise VGGWeightsError(f"{path}: unreadable pickle in .npy ({type(e).__name__}: {e})") from e
  layers = obj.item() if isinstance(obj, np.ndarray) and obj.shape == () else obj
  if not isinstance(layers, dict):
    raise VGGWeightsError(f"{path}: holds a {type(layers).__name__}, not a {{layer: [W, b]}} dict")
  arrays = {}
  for name, value in layers.items():
    if not (isinstance(value, list | tuple) and len(value) == 2):
      raise VGGWeightsError(f"{path}: layer {name!r} is not a [kernel, bias] pair")
    arrays[f"{name}.kernel"], arrays[f"{name}.bias"] = (np.asarray(v) for v in value)
  return arrays


def _from_torchvision(state: dict, arch: str, path: str) -> dict[str, np.ndarray]:
  """A torchvision state dict's `features.<index>` convs as 'convN_K.kernel' (HWIO) and '.bias'."""
  arrays = {}
  for index, name in enumerate(layer_names(arch)):  # the Sequential's indices are these layers'
    if not name.startswith("conv"):
      continue
    for prefix in (f"features.{index}.", f"{index}."):
      if prefix + "weight" in state and prefix + "bias" in state:
        weight = state[prefix + "weight"]
        if weight.ndim != 4:
          raise VGGWeightsError(f"{path}: {prefix}weight has shape {list(weight.shape)}, not 4-d")
        arrays[f"{name}.kernel"] = weight.transpose(2, 3, 1, 0)  # OIHW -> HWIO
        arrays[f"{name}.bias"] = state[prefix + "bias"]
        break
  return arrays


def _expected_shapes(arch: str, outputs: Sequence[str]) -> dict[str, tuple[int, ...]]:
  shapes, cin = {}, 3
  for name in conv_names(arch, outputs):
    cout = WIDTHS[int(name[4]) - 1]
    shapes[f"{name}.kernel"], shapes[f"{name}.bias"] = (3, 3, cin, cout), (cout,)
    cin = cout
  return shapes


def load_params(path: str | os.PathLike, arch: str, outputs: Sequence[str]):
  """{'params': ...} for `VGG(arch, outputs)` from a torchvision state dict or a TF port's .npy.

  Args:
    path: the weights file (torchvision's `vgg16/vgg19` .pth, or vgg16.npy / vgg19.npy).
    arch: 'vgg16' or 'vgg19'; must match the file.
    outputs: the layers the caller will ask for; only the convs up to the deepest are read.

  Returns:
    NumPy float32 arrays, to be put on devices as the caller shards them.

  Raises:
    VGGWeightsError: the file is missing or unreadable, or lacks a conv or has one of another shape
      (another arch).
  """
  check_outputs(arch, outputs)
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise VGGWeightsError(f"{path}: no such VGG weights file")
  with open(path, "rb") as f:
    head = f.read(len(NPY_MAGIC))
  if head == NPY_MAGIC:
    arrays = _load_npy(path)
  else:
    try:
      arrays = _from_torchvision(torch_file.load(path), arch, path)
    except torch_file.TorchFileError as e:
      raise VGGWeightsError(f"{e} (expected torchvision {arch} weights or a {arch}.npy)") from e
  params = {}
  for key, shape in _expected_shapes(arch, outputs).items():
    if key not in arrays:
      raise VGGWeightsError(
        f"{path}: no weights for {key.replace('.', ' ')} of {arch} (the weights of another net?)"
      )
    if arrays[key].shape != shape:
      raise VGGWeightsError(
        f"{path}: {key} has shape {list(arrays[key].shape)}, expected {list(shape)} for {arch}"
      )
    layer, leaf = key.split(".")
    params.setdefault(layer, {})[leaf] = np.ascontiguousarray(arrays[key], np.float32)
  return {"params": params}


def frozen_params(path: str | None, arch: str, outputs: Sequence[str], seed: int = 0):
  """The weights a run uses: `load_params(path, ...)`, or `random_params` when `path` is empty.

  Logs one line saying which, so a run's log tells a perceptual loss on trained features from one
  on random ones.
  """
  if path:
    params = load_params(path, arch, outputs)
    logging.info("%s weights read from %s (up to %s)", arch, path, conv_names(arch, outputs)[-1])
    return params
  logging.warning(
    "no %s weights file given: using a randomly initialised %s (seed %d); random features are a "
    "weaker perceptual loss",
    arch,
    arch,
    seed,
  )
  return random_params(arch, outputs, seed)
