"""U-GAT-IT's nets (Kim et al. 2020), as the official PyTorch implementation
(znxlwm/UGATIT-pytorch, networks.py) builds them; NHWC activations, HWIO conv kernels.

Generator (the paper's full model: ngf 64, 4 blocks, 256 px):
  encoder: reflect pad 3 -> 7x7 conv (ngf) -> IN -> ReLU; two reflect pad 1 -> 3x3 stride-2 convs
    (2ngf, 4ngf) -> IN -> ReLU; residual blocks (reflect pad 1 -> 3x3 conv -> IN -> ReLU ->
    reflect pad 1 -> 3x3 conv -> IN, plus the input);
  attention: the class activation map (ClassActivationMap, with ReLU);
  gamma, beta [B, 4ngf]: two Linear + ReLU on the flattened features (full: an
    (H/4 * W/4 * 4ngf) x 4ngf weight, 268 M at 256 px) or on their spatial mean (light), then one
    Linear each;
  decoder: residual blocks with AdaILN in place of IN (rho init 0.9); two nearest x2 upsamplings ->
    reflect pad 1 -> 3x3 conv -> ILN (rho 0, gamma 1, beta 0) -> ReLU; reflect pad 3 -> 7x7 conv ->
    tanh.
  IN is instance norm without affine params, eps 1e-5. Only the attention's 1x1 conv has a bias.
Discriminator (global: 7 layers, local: 5): reflect pad 1 -> 4x4 conv -> leaky ReLU 0.2, n - 2 of
  them stride 2 (ndf, 2ndf, ...) and one stride 1 (ndf * 2^(n-2)); the attention (leaky ReLU 0.2);
  reflect pad 1 -> 4x4 conv to one logit per patch, no bias. Spectral norm on every conv but the
  attention's 1x1, and on both attention linears.

Spectral norm is flax's nn.SpectralNorm: one power iteration per call from the stored u, as
torch.nn.utils.spectral_norm in train mode (the gradient treats u and v as constants in both).
u and sigma live in `batch_stats`; `train=True` stores the new u (apply with
mutable=['batch_stats']). In eval mode torch divides by its stored u, v without iterating, while
flax iterates once more from u without storing it: eval logits differ by that iteration.

AdaILN/ILN standardise with torch.var, the unbiased variance (`ddof=1`); the official TensorFlow
code uses the biased one (`ddof=0`). Weights start as PyTorch's defaults (U(+-1/sqrt(fan_in)) for
kernels and biases); `convert_reference_state` reads an official state dict.
"""

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.nets import layers, norms
from gan_jax.nets.resnet import reflect_pad

# PyTorch's default for conv and linear weights, kaiming_uniform(a=sqrt(5)): U(-b, b) with
# b = 1 / sqrt(fan_in), i.e. variance 1 / (3 fan_in).
_TORCH_KERNEL_INIT = nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform")


def _torch_bias_init(fan_in: int):
  """PyTorch's default bias init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) of the layer's fan-in."""
  bound = 1 / math.sqrt(fan_in)
  return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound, bound)


def _standardize(x, axes: tuple[int, ...], eps: float, ddof: int):
  """(x - mean) / sqrt(var + eps) over `axes` of x, var with `ddof` delta degrees of freedom.

  norms.standardize divides by the biased variance v; with n values the ddof one is c v,
  c = n / (n - ddof), and (x - m) / sqrt(c v + eps) = (x - m) / sqrt(v + eps / c) / sqrt(c).
  """
  n = math.prod(x.shape[a] for a in axes)
  c = n / (n - ddof)
  return norms.standardize(x, None, None, axes, eps / c)[0] / math.sqrt(c)


def instance_layer_norm(x, rho, eps: float = 1e-5, ddof: int = 1):
  """rho * IN(x) + (1 - rho) * LN(x) for NHWC x and per-channel rho [C]: IN standardises each
  channel of each example over H, W; LN each example over H, W and C."""
  x_in, x_ln = _standardize(x, (1, 2), eps, ddof), _standardize(x, (1, 2, 3), eps, ddof)
  return rho * x_in + (1 - rho) * x_ln


class AdaILN(nn.Module):
  """Adaptive instance-layer norm: the rho mix, scaled and shifted by per-example gamma, beta."""

  eps: float = 1e-5
  ddof: int = 1  # 1: torch.var, as the PyTorch reference; 0: the TensorFlow reference's
  rho_init: float = 0.9

  @nn.compact
  def __call__(self, x, gamma, beta):
    """x [B, H, W, C], gamma and beta [B, C] -> [B, H, W, C]."""
    rho = self.param("rho", nn.initializers.constant(self.rho_init), (x.shape[-1],))
    y = instance_layer_norm(x, rho, self.eps, self.ddof)
    return y * gamma[:, None, None, :] + beta[:, None, None, :]


class ILN(nn.Module):
  """Instance-layer norm with learned per-channel rho (init 0: layer norm), gamma and beta."""

  eps: float = 1e-5
  ddof: int = 1

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    rho = self.param("rho", nn.initializers.zeros, (c,))
    gamma = self.param("gamma", nn.initializers.ones, (c,))
    beta = self.param("beta", nn.initializers.zeros, (c,))
    return instance_layer_norm(x, rho, self.eps, self.ddof) * gamma + beta


def clip_rho(params, lo: float = 0.0, hi: float = 1.0):
  """`params` with every leaf named `rho` clipped to [lo, hi]. The reference clamps the
  generators' AdaILN and ILN rho to [0, 1] after each optimizer step (RhoClipper)."""

  def clip(path, leaf):
    return jnp.clip(leaf, lo, hi) if getattr(path[-1], "key", None) == "rho" else leaf

  return jax.tree_util.tree_map_with_path(clip, params)


def _conv(net, features: int, kernel: int, stride=1, use_bias=False, name=None, fan_in=1):
  """An unpadded conv with PyTorch's default init (`fan_in` sizes the bias's) and `net`'s
  formulation and dtype; callers reflect-pad its input. Call inside `net`'s compact method."""
  return layers.StridedConv(
    features,
    kernel,
    stride,
    0,
    use_bias=use_bias,
    kernel_init=_TORCH_KERNEL_INIT,
    bias_init=_torch_bias_init(fan_in),
    formulation=net.formulation,
    dtype=net.dtype,
    name=name,
  )


def _dense(net, features: int, name: str, use_bias: bool = False, fan_in: int = 1):
  """A linear layer with PyTorch's default init, `net`'s dtype; `fan_in` sizes the bias init."""
  return nn.Dense(
    features,
    use_bias=use_bias,
    dtype=net.dtype,
    kernel_init=_TORCH_KERNEL_INIT,
    bias_init=_torch_bias_init(fan_in),
    name=name,
  )


class ClassActivationMap(nn.Module):
  """The attention both nets share. The global average- and max-pooled features each go through a
  Linear(C -> 1) without bias, giving the CAM logits, and that weight rescales the features'
  channels; the two rescaled maps, concatenated, go through a 1x1 conv (with bias) and a (leaky)
  ReLU. With spectral norm (the discriminators) the logits use the normalised weight, the
  rescaling the raw one: the reference reads `parameters()[0]`, which spectral_norm makes
  `weight_orig`.

  Returns (features [B, H, W, C], cam_logit [B, 2] (average, max), heatmap [B, H, W, 1], the
  features' channel sum).
  """

  negative_slope: float = 0.0  # 0: ReLU (the generator); 0.2 (the discriminators)
  spectral_norm: bool = False
  update_stats: bool = True  # store the spectral norms' new u
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    logits, maps = [], []
    for name, pooled in (("gap_fc", jnp.mean(x, (1, 2))), ("gmp_fc", jnp.max(x, (1, 2)))):
      fc = _dense(self, 1, name)
      if self.spectral_norm:
        logits.append(
          nn.SpectralNorm(fc, name=f"{name}_sn")(pooled, update_stats=self.update_stats)
        )
      else:
        logits.append(fc(pooled))
      maps.append(x * self.get_variable("params", name)["kernel"][:, 0].astype(x.dtype))
    h = _dense(self, c, "conv1x1", use_bias=True, fan_in=2 * c)(jnp.concatenate(maps, -1))
    h = nn.leaky_relu(h, self.negative_slope)
    return h, jnp.concatenate(logits, -1), jnp.sum(h, -1, keepdims=True)


class ResnetBlock(nn.Module):
  """x + IN(conv(ReLU(IN(conv(x))))), 3x3 reflect-padded convs without bias."""

  features: int
  formulation: str = "auto"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    h = nn.relu(norms.instance_norm(_conv(self, self.features, 3, name="conv1")(reflect_pad(x, 1))))
    return x + norms.instance_norm(_conv(self, self.features, 3, name="conv2")(reflect_pad(h, 1)))


class AdaILNBlock(nn.Module):
  """ResnetBlock with AdaILN(gamma, beta) in place of each instance norm."""

  features: int
  ddof: int = 1
  formulation: str = "auto"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, gamma, beta):
    h = _conv(self, self.features, 3, name="conv1")(reflect_pad(x, 1))
    h = nn.relu(AdaILN(ddof=self.ddof, name="norm1")(h, gamma, beta))
    h = _conv(self, self.features, 3, name="conv2")(reflect_pad(h, 1))
    return x + AdaILN(ddof=self.ddof, name="norm2")(h, gamma, beta)


class Generator(nn.Module):
  """[B, H, W, C_in] -> (images [B, H, W, out_channels] in [-1, 1], cam_logit [B, 2],
  heatmap [B, H/4, W/4, 1]); H, W multiples of 4. The full (not light) model's first MLP weight
  is sized by the H, W it is initialised with, and takes only those."""

  num_blocks: int = 4  # the reference's n_res (its constructor's default is 6, its CLI's 4)
  features: int = 64  # ngf
  out_channels: int = 3
  light: bool = False  # gamma, beta from the pooled features (full: from the flattened ones)
  ddof: int = 1  # of AdaILN's and ILN's variance: 1 as the PyTorch reference, 0 as the TF one
  formulation: str = "auto"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = True):
    del train  # no dropout, no running statistics
    ngf, c = self.features, 4 * self.features
    h = x.astype(self.dtype)
    h = nn.relu(norms.instance_norm(_conv(self, ngf, 7, name="down_0")(reflect_pad(h, 3))))
    for i in (1, 2):
      h = _conv(self, ngf * 2**i, 3, stride=2, name=f"down_{i}")(reflect_pad(h, 1))
      h = nn.relu(norms.instance_norm(h))
    block = dict(formulation=self.formulation, dtype=self.dtype)
    for i in range(self.num_blocks):
      h = ResnetBlock(c, **block, name=f"res_{i}")(h)
    h, cam_logit, heatmap = ClassActivationMap(dtype=self.dtype, name="cam")(h)
    # NHWC flattening order (h, w, c); convert_reference_state permutes torch's (c, h, w).
    style = jnp.mean(h, (1, 2)) if self.light else h.reshape(h.shape[0], -1)
    for i in range(2):
      style = nn.relu(_dense(self, c, f"mlp_{i}")(style))
    gamma, beta = _dense(self, c, "gamma")(style), _dense(self, c, "beta")(style)
    for i in range(self.num_blocks):
      h = AdaILNBlock(c, self.ddof, **block, name=f"ada_{i}")(h, gamma, beta)
    for i in range(2):
      h = jnp.repeat(jnp.repeat(h, 2, axis=1), 2, axis=2)  # nearest x2
      h = _conv(self, c // 2 ** (i + 1), 3, name=f"up_{i}")(reflect_pad(h, 1))
      h = nn.relu(ILN(ddof=self.ddof, name=f"up_{i}_norm")(h))
    h = jnp.tanh(_conv(self, self.out_channels, 7, name="out")(reflect_pad(h, 3)))
    return tuple(t.astype(jnp.float32) for t in (h, cam_logit, heatmap))


def _spectral_conv(net, x, features: int, stride: int, use_bias: bool, name: str, train: bool):
  """Reflect pad 1 -> spectrally normalised 4x4 conv, its u stored when `train`."""
  conv = _conv(net, features, 4, stride, use_bias, name, fan_in=16 * x.shape[-1])
  return nn.SpectralNorm(conv, name=f"{name}_sn")(reflect_pad(x, 1), update_stats=train)


class Discriminator(nn.Module):
  """images [B, H, W, C] -> (logits [B, H', W', 1], cam_logit [B, 2], heatmap [B, H'+1, W'+1, 1]),
  H' = H / 2^(n_layers-2) - 2: at 256 px the global D (7 layers) gives 6x6 logits, the local
  one (5) 30x30. `train` stores the spectral norms' new u (apply with mutable=['batch_stats'])."""

  n_layers: int = 5
  features: int = 64  # ndf
  formulation: str = "auto"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = True):
    if self.n_layers < 3:
      raise ValueError(f"n_layers must be at least 3, got {self.n_layers}")
    h = x.astype(self.dtype)
    last = self.n_layers - 2
    for i in range(last + 1):
      stride = 2 if i < last else 1
      h = _spectral_conv(self, h, self.features * 2**i, stride, True, f"conv_{i}", train)
      h = nn.leaky_relu(h, 0.2)
    cam = ClassActivationMap(0.2, True, train, dtype=self.dtype, name="cam")
    h, cam_logit, heatmap = cam(h)
    logits = _spectral_conv(self, h, 1, 1, False, "out", train)
    return tuple(t.astype(jnp.float32) for t in (logits, cam_logit, heatmap))


# ------------------------------------------------------------------------------------------------
# The official state dict.

_UP_BLOCK = {2: "up_0", 3: "up_0_norm", 7: "up_1", 8: "up_1_norm", 11: "out"}


def _module_path(parts: list[str]) -> list[str]:
  """The Flax module path of an official module, given its state-dict name's parts (the leaf
  dropped). Sequential indices: the generator's DownBlock holds [pad, conv, IN, ReLU] x 3, then
  the residual blocks (each conv_block [pad, conv, IN, ReLU, pad, conv, IN]); its UpBlock2
  [upsample, pad, conv, ILN, ReLU] x 2, pad, conv, tanh; the discriminator's model [pad, conv,
  leaky ReLU] x (n_layers - 1)."""
  head, index = parts[0], int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
  if head == "DownBlock" and len(parts) == 2:
    return [f"down_{(index - 1) // 4}"]
  if head == "DownBlock":
    return [f"res_{index - 12}", "conv1" if parts[3] == "1" else "conv2"]
  if head.startswith("UpBlock1_"):
    return [f"ada_{int(head.removeprefix('UpBlock1_')) - 1}", parts[1]]
  if head == "UpBlock2":
    return [_UP_BLOCK[index]]
  if head == "FC":
    return [f"mlp_{index // 2}"]
  if head == "model":
    return [f"conv_{(index - 1) // 3}"]
  if head in ("gap_fc", "gmp_fc", "conv1x1"):
    return ["cam", head]
  return ["out" if head == "conv" else head]  # the discriminator's last conv; gamma, beta


def _kernel(path: list[str], w: np.ndarray) -> np.ndarray:
  """An official weight in the layout of the Flax kernel at `path`."""
  if path[-1] == "conv1x1":  # [C, 2C, 1, 1] -> Dense [2C, C]
    return w[:, :, 0, 0].T
  if w.ndim == 4:  # OIHW -> HWIO
    return w.transpose(2, 3, 1, 0)
  if path == ["mlp_0"]:  # the full model flattens (c, h, w); here (h, w, c)
    c = w.shape[0]  # its input channels equal its output features
    side = math.isqrt(w.shape[1] // c)
    return w.reshape(c, c, side, side).transpose(2, 3, 1, 0).reshape(-1, c)
  return w.T


def convert_reference_state(state: dict[str, np.ndarray]) -> dict[str, dict]:
  """An official generator's or discriminator's state dict (name -> array, as
  `{k: v.numpy() for k, v in module.state_dict().items()}` gives) -> Flax variables for the
  module here: {'params': ...} and, where spectral norm's `weight_u` is given,
  {'batch_stats': ...} with u and the sigma that torch's eval mode divides by (u . W v, W the
  weight as a [out, in * kh * kw] matrix; 1 without `weight_v`). Gradients with respect to the
  parameters convert the same way."""
  variables: dict[str, dict] = {}

  def put(collection, path, leaf, value):
    node = variables.setdefault(collection, {})
    for part in path:
      node = node.setdefault(part, {})
    node[leaf] = jnp.asarray(np.asarray(value, np.float32))

  for name, value in state.items():
    *parts, leaf = name.split(".")
    path, value = _module_path(parts), np.asarray(value, np.float32)
    if leaf in ("weight", "weight_orig"):
      put("params", path, "kernel", _kernel(path, value))
    elif leaf == "weight_u":
      stats = [*path[:-1], f"{path[-1]}_sn"]
      put("batch_stats", stats, f"{path[-1]}/kernel/u", value[None])
      w, v = state[f"{name[: -len(leaf)]}weight_orig"], state.get(f"{name[: -len(leaf)]}weight_v")
      sigma = 1.0 if v is None else value @ np.asarray(w).reshape(len(value), -1) @ v
      put("batch_stats", stats, f"{path[-1]}/kernel/sigma", sigma)
    elif leaf != "weight_v":  # bias; rho, gamma, beta of the norms ([1, C, 1, 1] -> [C])
      put("params", path, leaf, value.reshape(-1))
  return variables
