"""StyleGAN3's alias-free generator (Karras et al. 2021, "Alias-Free Generative Adversarial
Networks"), as NVlabs/stylegan3 (commit c233a91, training/networks_stylegan3.py) computes it, in
Flax on NHWC.

G: z -> the StyleGAN2 mapping network (`stylegan2.MappingNetwork`) -> w, one per layer -> synthesis:
Fourier features (fixed random frequencies and phases inside the first layer's band, rotated and
translated by an affine of w and by a user transform, damped near the band edge), then 14 layers
of modulated conv (3x3 for T, 1x1 for R) with an input gain from a tracked magnitude, each
followed by a filtered leaky ReLU (upsample 2x past the layer's sampling rate, lrelu, low-pass,
resample to the output rate), then ToRGB; the output times 0.25. The per-layer cutoffs, stopbands,
sampling rates, sizes (with a 10-pixel margin) and channels follow a geometric schedule
(`synthesis_schedule`); the last two layers are critically sampled.

Variable collections: 'params' (trained); 'stats' (the mapping net's w_avg and each layer's
magnitude_ema, updated in training's D phase); 'consts' (the input's random frequencies and
phases). Names follow the reference's module names (`convert_reference_state` maps its state dict).
"""

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.nets import filtered_lrelu as flrelu
from gan_jax.nets import stylegan2
from gan_jax.nets import stylegan_ops as ops

CONFIGS = ("t", "r")  # stylegan3-t (3x3 convs) and stylegan3-r (1x1 convs, radial filters)


def synthesis_schedule(
  img_resolution: int,
  img_channels: int = 3,
  channel_base: int = 32768,
  channel_max: int = 512,
  num_layers: int = 14,
  num_critical: int = 2,
  first_cutoff: float = 2,
  first_stopband: float = 2**2.1,
  last_stopband_rel: float = 2**0.3,
  margin_size: int = 10,
  num_fp16_res: int = 4,
) -> dict[str, np.ndarray]:
  """The per-layer arrays of the synthesis net (index 0: the Fourier input; num_layers: ToRGB):
  cutoffs f_c, stopbands f_t (geometric from the first layer's to the last's, the last
  num_critical layers at the image's Nyquist), sampling rates (the power of two at or above 2 f_t,
  at most the resolution), half-widths f_h, sizes (rate + 2 margins; the last two: the image),
  channels (min(channel_base / 2 / f_c, channel_max); ToRGB: img_channels), use_fp16 (rate x
  2^num_fp16_res > resolution). Reference: networks_stylegan3.py, SynthesisNetwork.__init__."""
  last_cutoff = img_resolution / 2
  last_stopband = last_cutoff * last_stopband_rel
  exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
  cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
  stopbands = first_stopband * (last_stopband / first_stopband) ** exponents
  rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
  half_widths = np.maximum(stopbands, rates / 2) - cutoffs
  sizes = rates + margin_size * 2
  sizes[-2:] = img_resolution
  channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
  channels[-1] = img_channels
  return dict(
    cutoffs=cutoffs,
    stopbands=stopbands,
    sampling_rates=rates,
    half_widths=half_widths,
    sizes=sizes.astype(np.int64),
    channels=channels.astype(np.int64),
    use_fp16=rates * 2**num_fp16_res > img_resolution,
  )


def layer_geometry(
  is_torgb: bool,
  is_critically_sampled: bool,
  in_size: int,
  out_size: int,
  in_sampling_rate: int,
  out_sampling_rate: int,
  in_cutoff: float,
  out_cutoff: float,
  in_half_width: float,
  out_half_width: float,
  conv_kernel: int = 3,
  filter_size: int = 6,
  lrelu_upsampling: int = 2,
  use_radial_filters: bool = False,
) -> dict[str, Any]:
  """A synthesis layer's resampling: the rate the lrelu runs at (the higher of in and out, x
  lrelu_upsampling unless ToRGB), up and down factors to and from it, their low-pass filters
  (filter_size x factor taps, cut at the input's and output's cutoffs; R's down filter radial
  except in critically sampled layers) and the padding that makes the output out_size, with
  sample locations shifted for the symmetric interpretation (the paper's Appendix C.3).
  Reference: networks_stylegan3.py, SynthesisLayer.__init__."""
  kernel = 1 if is_torgb else conv_kernel
  tmp_rate = max(in_sampling_rate, out_sampling_rate) * (1 if is_torgb else lrelu_upsampling)
  up = int(np.rint(tmp_rate / in_sampling_rate))
  down = int(np.rint(tmp_rate / out_sampling_rate))
  if in_sampling_rate * up != tmp_rate or out_sampling_rate * down != tmp_rate:
    raise ValueError(
      f"sampling rates {in_sampling_rate}, {out_sampling_rate} are not integer ratios"
    )
  up_taps = filter_size * up if up > 1 and not is_torgb else 1
  down_taps = filter_size * down if down > 1 and not is_torgb else 1
  down_radial = use_radial_filters and not is_critically_sampled
  up_filter = flrelu.design_lowpass_filter(up_taps, in_cutoff, in_half_width * 2, tmp_rate)
  down_filter = flrelu.design_lowpass_filter(
    down_taps, out_cutoff, out_half_width * 2, tmp_rate, radial=down_radial
  )
  pad_total = (out_size - 1) * down + 1 - (in_size + kernel - 1) * up + up_taps + down_taps - 2
  pad_lo = (pad_total + up) // 2
  pad_hi = pad_total - pad_lo
  return dict(
    conv_kernel=kernel,
    tmp_sampling_rate=tmp_rate,
    up_factor=up,
    down_factor=down,
    up_taps=up_taps,
    down_taps=down_taps,
    down_radial=down_radial,
    up_filter=up_filter,
    down_filter=down_filter,
    padding=(int(pad_lo), int(pad_hi), int(pad_lo), int(pad_hi)),  # x0, x1, y0, y1
  )


class Affine(nn.Module):
  """Equalized-lr dense layer with the reference's weight_init (std) and per-feature bias_init.
  Reference: networks_stylegan3.py, FullyConnectedLayer."""

  features: int
  weight_init: float = 1.0
  bias_init: tuple[float, ...] | float = 0.0

  @nn.compact
  def __call__(self, x):
    std = self.weight_init
    weight = self.param(
      "weight", lambda k, s: jax.random.normal(k, s) * std, (x.shape[-1], self.features)
    )
    init = np.broadcast_to(np.asarray(self.bias_init, np.float32), (self.features,))
    bias = self.param("bias", lambda k, s: jnp.asarray(init), (self.features,))
    return ops.fully_connected(x, weight, bias)


def _frequencies(key, channels: int, bandwidth: float):
  """Random 2-D frequencies inside the disc of radius `bandwidth`, denser at low radii (normal
  directions scaled by 1 / (r exp(r^2 / 4))), and uniform phases in [-0.5, 0.5)."""
  f_key, p_key = jax.random.split(key)
  freqs = jax.random.normal(f_key, (channels, 2))
  radii = jnp.sqrt(jnp.sum(jnp.square(freqs), axis=1, keepdims=True))
  freqs = freqs / (radii * jnp.exp(jnp.square(radii)) ** 0.25) * bandwidth
  return freqs, jax.random.uniform(p_key, (channels,)) - 0.5


class SynthesisInput(nn.Module):
  """w [N, w_dim] -> Fourier features [N, size, size, channels]. The affine of w gives a rotation
  (normalised (cos, sin)) and a translation applied to the features, then `transform` (a user's
  inverse 3x3 transform of the image, identity by default). Reference: networks_stylegan3.py,
  SynthesisInput."""

  channels: int
  size: int
  sampling_rate: float
  bandwidth: float

  @nn.compact
  def __call__(self, w, transform=None):
    c = self.channels
    init = lambda: dict(  # noqa: E731
      zip(
        ("freqs", "phases"), _frequencies(self.make_rng("params"), c, self.bandwidth), strict=True
      )
    )
    consts = self.variable("consts", "freqs_phases", init)
    freqs, phases = consts.value["freqs"], consts.value["phases"]
    weight = self.param("weight", lambda k, s: jax.random.normal(k, s), (c, c))  # [in, out]
    t = Affine(4, weight_init=0.0, bias_init=(1.0, 0.0, 0.0, 0.0), name="affine")(w)
    t = t / jnp.sqrt(jnp.sum(jnp.square(t[:, :2]), axis=1, keepdims=True))
    n = w.shape[0]
    zero, one = jnp.zeros((n,)), jnp.ones((n,))
    rotate = jnp.stack(
      [jnp.stack([t[:, 0], -t[:, 1], zero], 1), jnp.stack([t[:, 1], t[:, 0], zero], 1)], 1
    )
    rotate = jnp.concatenate([rotate, jnp.stack([zero, zero, one], 1)[:, None]], 1)
    translate = jnp.broadcast_to(jnp.eye(3), (n, 3, 3))
    translate = translate.at[:, 0, 2].set(-t[:, 2]).at[:, 1, 2].set(-t[:, 3])
    user = jnp.eye(3) if transform is None else jnp.asarray(transform, jnp.float32)
    m = rotate @ translate @ user  # [N, 3, 3]: rotate the image, translate it, then the user's
    phases = phases[None] + jnp.einsum("cj,nj->nc", freqs, m[:, :2, 2])
    freqs = jnp.einsum("cj,njk->nck", freqs, m[:, :2, :2])  # [N, C, 2]
    norm = jnp.sqrt(jnp.sum(jnp.square(freqs), axis=2))
    amplitudes = jnp.clip(
      1 - (norm - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth), 0, 1
    )
    # Pixel centres, in units of 1 / sampling_rate, centred on the image (affine_grid's).
    grid = (jnp.arange(self.size) + 0.5 - self.size / 2) / self.sampling_rate
    x = grid[None, None, :, None] * freqs[:, None, None, :, 0]
    x = x + grid[None, :, None, None] * freqs[:, None, None, :, 1]
    x = jnp.sin((x + phases[:, None, None, :]) * (2 * np.pi)) * amplitudes[:, None, None, :]
    return x @ (weight / np.sqrt(c))


def modulated_conv2d(x, weight, styles, demodulate: bool = True, input_gain=None):
  """StyleGAN3's modulated conv of NHWC x with HWIO weight, padded by kernel - 1 on each side (so
  it grows by kernel - 1). With demodulation the weight is first scaled by its RMS per output
  channel and the styles by their RMS over the whole batch, then each sample's modulated weight to
  unit L2 norm per output channel; then times input_gain. Formulation: x times styles x input gain,
  one conv with the shared weight, the output times the demodulation coefficients (the reference
  builds per-sample weights for a grouped conv: the same function). Reference:
  networks_stylegan3.py, modulated_conv2d."""
  kh, kw, in_channels, _ = weight.shape
  weight = weight.astype(jnp.float32)
  styles = styles.astype(jnp.float32)
  if demodulate:
    weight = weight * jax.lax.rsqrt(jnp.mean(jnp.square(weight), axis=(0, 1, 2), keepdims=True))
    styles = styles * jax.lax.rsqrt(jnp.mean(jnp.square(styles)))
  scale = styles if input_gain is None else styles * input_gain
  x = x * scale.astype(x.dtype)[:, None, None, :]
  # Padded first, then a 'VALID' conv: the same function, but XLA CPU's gradient of a conv padded
  # by more than kernel // 2 is slow (a 3x3, 64-channel conv of 16 x 52 x 52, forward and
  # backward: 1.9 s padded in the conv, 0.15 s padded before it).
  x = jnp.pad(x, ((0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1), (0, 0)))
  x = jax.lax.conv_general_dilated(
    x, weight.astype(x.dtype), (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
  )
  if demodulate:
    energy = jnp.square(styles) @ jnp.sum(jnp.square(weight), axis=(0, 1))  # [N, O]
    x = x * jax.lax.rsqrt(energy + 1e-8).astype(x.dtype)[:, None, None, :]
  return x


class SynthesisLayer(nn.Module):
  """Modulated conv (input gain 1 / sqrt(tracked mean square of x)) + filtered lrelu; ToRGB: a
  1x1 modulated conv without demodulation and a linear 'lrelu' (slope 1, gain 1). Tracks
  magnitude_ema (collection 'stats') with decay magnitude_ema_beta when update_emas.
  Reference: networks_stylegan3.py, SynthesisLayer."""

  is_torgb: bool
  is_critically_sampled: bool
  in_channels: int
  out_channels: int
  in_size: int
  out_size: int
  in_sampling_rate: int
  out_sampling_rate: int
  in_cutoff: float
  out_cutoff: float
  in_half_width: float
  out_half_width: float
  conv_kernel: int = 3
  filter_size: int = 6
  lrelu_upsampling: int = 2
  use_radial_filters: bool = False
  conv_clamp: float | None = 256
  magnitude_ema_beta: float = 0.999
  dtype: Any = jnp.float32

  def geometry(self) -> dict[str, Any]:
    return layer_geometry(
      self.is_torgb,
      self.is_critically_sampled,
      self.in_size,
      self.out_size,
      self.in_sampling_rate,
      self.out_sampling_rate,
      self.in_cutoff,
      self.out_cutoff,
      self.in_half_width,
      self.out_half_width,
      self.conv_kernel,
      self.filter_size,
      self.lrelu_upsampling,
      self.use_radial_filters,
    )

  @nn.compact
  def __call__(self, x, w, update_emas: bool = False):
    geo = self.geometry()
    k = geo["conv_kernel"]
    if x.shape[1:] != (self.in_size, self.in_size, self.in_channels):
      raise ValueError(
        f"{self.name}: input {x.shape}, expected [N, {self.in_size}, "
        f"{self.in_size}, {self.in_channels}]"
      )
    magnitude = self.variable("stats", "magnitude_ema", jnp.ones, (), jnp.float32)
    if update_emas and not self.is_initializing():
      current = jax.lax.stop_gradient(jnp.mean(jnp.square(x.astype(jnp.float32))))
      magnitude.value = current + (magnitude.value - current) * self.magnitude_ema_beta
    input_gain = jax.lax.rsqrt(magnitude.value)
    styles = Affine(self.in_channels, bias_init=1.0, name="affine")(w)
    if self.is_torgb:
      styles = styles * (1 / np.sqrt(self.in_channels * k * k))
    weight = self.param(
      "weight",
      lambda key, s: jax.random.normal(key, s),
      (k, k, self.in_channels, self.out_channels),
    )
    bias = self.param("bias", nn.initializers.zeros, (self.out_channels,))
    x = modulated_conv2d(x.astype(self.dtype), weight, styles, not self.is_torgb, input_gain)
    return flrelu.filtered_lrelu(
      x,
      geo["up_filter"],
      geo["down_filter"],
      bias.astype(x.dtype),
      geo["up_factor"],
      geo["down_factor"],
      geo["padding"],
      gain=1.0 if self.is_torgb else math.sqrt(2),
      slope=1.0 if self.is_torgb else 0.2,
      clamp=self.conv_clamp,
    )


def layer_name(index: int, size: int, channels: int) -> str:
  return f"L{index}_{size}_{channels}"


class SynthesisNetwork(nn.Module):
  """ws [N, num_layers + 2, w_dim] -> images [N, R, R, img_channels] (float32, times
  output_scale). conv_kernel 1 and use_radial_filters make StyleGAN3-R. Reference:
  networks_stylegan3.py, SynthesisNetwork."""

  img_resolution: int
  img_channels: int = 3
  channel_base: int = 32768
  channel_max: int = 512
  num_layers: int = 14
  num_critical: int = 2
  margin_size: int = 10
  output_scale: float = 0.25
  num_fp16_res: int = 4
  half_dtype: Any = jnp.bfloat16
  conv_kernel: int = 3
  use_radial_filters: bool = False
  conv_clamp: float | None = 256
  magnitude_ema_beta: float = 0.999

  @property
  def num_ws(self) -> int:
    return self.num_layers + 2

  def schedule(self) -> dict[str, np.ndarray]:
    r = self.img_resolution
    if r < 4 or r & (r - 1):
      raise ValueError(f"img_resolution must be a power of two >= 4, got {r}")
    return synthesis_schedule(
      r,
      self.img_channels,
      self.channel_base,
      self.channel_max,
      self.num_layers,
      self.num_critical,
      margin_size=self.margin_size,
      num_fp16_res=self.num_fp16_res,
    )

  def layers(self) -> list[SynthesisLayer]:
    """The layers, unbound: their fields and `geometry()` are the reference's attributes."""
    return [SynthesisLayer(**fields, parent=None) for fields in self.layer_fields()]

  def layer_fields(self) -> list[dict[str, Any]]:
    """Each layer's SynthesisLayer fields, its name among them."""
    s = self.schedule()
    out = []
    for idx in range(self.num_layers + 1):
      prev = max(idx - 1, 0)
      half = s["use_fp16"][idx] and self.num_fp16_res > 0
      layer = dict(
        is_torgb=idx == self.num_layers,
        is_critically_sampled=idx >= self.num_layers - self.num_critical,
        in_channels=int(s["channels"][prev]),
        out_channels=int(s["channels"][idx]),
        in_size=int(s["sizes"][prev]),
        out_size=int(s["sizes"][idx]),
        in_sampling_rate=int(s["sampling_rates"][prev]),
        out_sampling_rate=int(s["sampling_rates"][idx]),
        in_cutoff=float(s["cutoffs"][prev]),
        out_cutoff=float(s["cutoffs"][idx]),
        in_half_width=float(s["half_widths"][prev]),
        out_half_width=float(s["half_widths"][idx]),
        conv_kernel=self.conv_kernel,
        use_radial_filters=self.use_radial_filters,
        conv_clamp=self.conv_clamp,
        magnitude_ema_beta=self.magnitude_ema_beta,
        dtype=self.half_dtype if half else jnp.float32,
        name=layer_name(idx, int(s["sizes"][idx]), int(s["channels"][idx])),
      )
      out.append(layer)
    return out

  @nn.compact
  def __call__(self, ws, noise_mode="random", update_emas: bool = False, transform=None):
    del noise_mode  # StyleGAN3 has no noise inputs; accepted so samplers treat G alike
    if ws.shape[1] != self.num_ws:
      raise ValueError(f"ws has {ws.shape[1]} styles, the synthesis net takes {self.num_ws}")
    ws = ws.astype(jnp.float32)
    s = self.schedule()
    x = SynthesisInput(
      int(s["channels"][0]),
      int(s["sizes"][0]),
      float(s["sampling_rates"][0]),
      float(s["cutoffs"][0]),
      name="input",
    )(ws[:, 0], transform)
    for idx, fields in enumerate(self.layer_fields()):
      x = SynthesisLayer(**fields)(x, ws[:, idx + 1], update_emas)
    x = x.astype(jnp.float32)
    return x * self.output_scale if self.output_scale != 1 else x


class Generator(nn.Module):
  """z [N, z_dim], c [N, c_dim] -> images [N, R, R, img_channels]: StyleGAN2's mapping network
  (w_avg decay 0.998) and the alias-free synthesis net. Reference: networks_stylegan3.py,
  Generator."""

  z_dim: int
  c_dim: int
  w_dim: int
  img_resolution: int
  img_channels: int = 3
  mapping_kwargs: Any = None  # stylegan2.MappingNetwork's fields
  synthesis_kwargs: Any = None  # SynthesisNetwork's fields

  def setup(self):
    self.synthesis = SynthesisNetwork(
      self.img_resolution, self.img_channels, **(self.synthesis_kwargs or {})
    )
    mapping = {"num_layers": 2, "w_avg_beta": 0.998, **(self.mapping_kwargs or {})}
    self.mapping = stylegan2.MappingNetwork(
      self.z_dim, self.c_dim, self.w_dim, self.synthesis.num_ws, **mapping
    )

  def __call__(
    self,
    z,
    c,
    truncation_psi=1.0,
    truncation_cutoff=None,
    noise_mode="random",
    fused_modconv=False,
    update_w_avg=False,
    update_emas=False,
    transform=None,
  ):
    del fused_modconv  # the convs' form is fixed here (see modulated_conv2d)
    ws = self.mapping(z, c, truncation_psi, truncation_cutoff, update_w_avg or update_emas)
    return self.synthesis(ws, noise_mode, update_emas, transform)


def convert_reference_state(state: dict[str, np.ndarray]) -> dict[str, dict]:
  """A state dict of the reference's Generator or SynthesisNetwork (name -> array) -> Flax
  variables here: dense weights [out, in] -> [in, out] (the input's [C, C] mixing matrix too),
  conv weights OIHW -> HWIO, the input's freqs and phases into 'consts', w_avg and magnitude_ema
  into 'stats'; the filters and the identity user transform are dropped (compile-time here)."""
  variables: dict[str, dict] = {}
  for name, value in state.items():
    *path, leaf = name.split(".")
    value = np.asarray(value, np.float32)
    if leaf in ("up_filter", "down_filter"):
      continue
    if leaf == "transform":
      if not np.array_equal(value, np.eye(3)):
        raise ValueError(f"{name} is not the identity; pass it as `transform` instead")
      continue
    if leaf == "weight" and value.ndim == 2:
      value = value.T
    elif leaf == "weight" and value.ndim == 4:
      value = value.transpose(2, 3, 1, 0)
    if leaf in ("freqs", "phases"):
      node = variables.setdefault("consts", {})
      for part in path:
        node = node.setdefault(part, {})
      node.setdefault("freqs_phases", {})[leaf] = jnp.asarray(value)
      continue
    collection = "stats" if leaf in ("w_avg", "magnitude_ema") else "params"
    node = variables.setdefault(collection, {})
    for part in path:
      node = node.setdefault(part, {})
    node[leaf] = jnp.asarray(value)
  return variables
