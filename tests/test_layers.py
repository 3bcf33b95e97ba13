"""The CPU formulations of strided and transposed convs compute the direct forms' function."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.nets import layers

# (input size, kernel, stride, padding): the shapes the nets use, odd sizes, asymmetric pads.
CONVS = [
  (8, 4, 2, ((1, 1), (1, 1))),  # DCGAN D, PatchGAN
  (9, 3, 2, ((1, 1), (1, 1))),  # ResNet G downsampling, odd input
  (7, 4, 2, ((1, 1), (1, 1))),
  (8, 4, 2, ((0, 0), (0, 0))),
  (8, 4, 3, ((2, 1), (0, 2))),
  (8, 3, 2, ((0, 1), (0, 1))),  # DualGAN: TensorFlow SAME, 3x3
  (8, 5, 2, ((1, 2), (1, 2))),  # DualGAN: TensorFlow SAME, 5x5
]
UPCONVS = [
  (4, 4, 2, ((2, 2), (2, 2))),  # DCGAN G, U-Net up (PyTorch k4 s2 p1)
  (5, 3, 2, ((1, 2), (1, 2))),  # ResNet G up (PyTorch k3 s2 p1 output_padding 1)
  (4, 4, 2, ((1, 1), (1, 1))),
  (3, 5, 3, ((0, 3), (4, 1))),
  (4, 3, 2, ((2, 1), (2, 1))),  # DualGAN: TensorFlow SAME transposed, 3x3
  (4, 5, 2, ((3, 2), (3, 2))),  # DualGAN: TensorFlow SAME transposed, 5x5
]


def _inputs(h, k, channels=3, out_channels=5, seed=0):
  rng = np.random.RandomState(seed)
  x = jnp.asarray(rng.randn(2, h, h + 1, channels), jnp.float32)  # non-square on purpose
  w = jnp.asarray(rng.randn(k, k, channels, out_channels), jnp.float32)
  return x, w


def _check(direct, phase, x, w, stride, padding):
  """Both forms' outputs, and their gradients w.r.t. input and kernel through a loss that weighs
  every output differently, agree. Jitted as one program: one compile per check."""
  shape = jax.eval_shape(lambda x, w: direct(x, w, stride, padding), x, w).shape
  weights = jnp.asarray(np.random.RandomState(1).randn(*shape), jnp.float32)

  @jax.jit
  def outputs_and_gradients(x, w):
    def run(fn):
      loss = lambda x, w: jnp.sum(fn(x, w, stride, padding) * weights)
      return fn(x, w, stride, padding), jax.grad(loss, argnums=(0, 1))(x, w)

    return run(direct), run(phase)

  (a, grads_a), (b, grads_b) = outputs_and_gradients(x, w)
  assert a.shape == b.shape
  np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)
  for ga, gb in zip(grads_a, grads_b, strict=True):
    np.testing.assert_allclose(ga, gb, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("h,k,stride,padding", CONVS)
@pytest.mark.parametrize("form", [layers.conv_phase, layers.conv_patches])
def test_strided_conv_phase_matches_direct(h, k, stride, padding, form):
  x, w = _inputs(h, k)
  _check(layers.conv_direct, form, x, w, stride, padding)


@pytest.mark.parametrize("h,k,stride,padding", UPCONVS)
@pytest.mark.parametrize("out_channels", [5, 16])  # packed below 16 outputs, per phase from 16
def test_transposed_conv_phase_matches_direct(h, k, stride, padding, out_channels):
  x, w = _inputs(h, k, out_channels=out_channels)
  # conv_transpose_phase is the packed form at 5 outputs and per phase at 16, so the second
  # check covers the other two forms: taps at 5, packed at 16.
  _check(layers.conv_transpose_direct, layers.conv_transpose_phase, x, w, stride, padding)
  other = layers.conv_transpose_taps if out_channels < 16 else layers.conv_transpose_phase_packed
  _check(layers.conv_transpose_direct, other, x, w, stride, padding)


def test_tiny_inputs_take_the_matmul_path_and_agree():
  # 2x2 inputs padded to 4x4 (<= 36 pixels) go through patches + matmul inside the phase forms.
  x, w = _inputs(2, 4, channels=32, out_channels=24)
  _check(layers.conv_direct, layers.conv_phase, x, w, 2, ((1, 1), (1, 1)))
  _check(layers.conv_transpose_direct, layers.conv_transpose_phase, x, w, 2, ((2, 2), (2, 2)))
  # One output pixel: conv_patches' matmul backward takes its one-row branch.
  _check(layers.conv_direct, layers.conv_patches, x[:1, :, :2], w, 2, ((1, 1), (1, 1)))


def _count_convs(fn, *args) -> int:
  return str(jax.make_jaxpr(fn)(*args)).count("conv_general_dilated")


@pytest.mark.parametrize("cls,stride,padding", [(layers.StridedConv, 2, 1), (layers.UpConv, 2, 2)])
def test_few_pixels_take_matmuls_on_the_kernel_in_its_own_layout(cls, stride, padding):
  # The U-Net's inner levels: up to FEW_PIXELS output (strided) or input (transposed) pixels over
  # the batch go through conv_patches / conv_transpose_taps: no conv, and no transposed or sliced
  # copy of the kernel. Twice that, and the space-to-depth / phase forms take over.
  side = 16 if cls is layers.StridedConv else 8  # 8x8 outputs from 16x16, or 8x8 inputs
  assert layers.FEW_PIXELS == 64
  x = jnp.asarray(np.random.RandomState(0).randn(1, side, side, 40), jnp.float32)
  module = cls(16, 4, stride, padding, formulation="phase")
  params = jax.jit(module.init)(jax.random.key(0), x)
  jaxpr = str(jax.make_jaxpr(lambda p: module.apply(p, x))(params))
  assert "conv_general_dilated" not in jaxpr and "transpose" not in jaxpr
  direct = cls(16, 4, stride, padding, formulation="direct")
  apply = lambda module: jax.jit(module.apply)(params, x)
  np.testing.assert_allclose(apply(module), apply(direct), atol=1e-5)
  more = jnp.concatenate([x, x])
  assert _count_convs(lambda x: module.apply(params, x), more) > 0


def test_upconv_packs_its_phases_into_one_conv_on_large_inputs():
  # U-Net up conv (k4 s2, PyTorch p1): each output pixel pair reads the same 2 inputs, so one
  # conv to 4x the channels does no extra taps; it is chosen from 4096 input pixels (batch x H x W).
  pad = ((2, 2), (2, 2))
  conv_t = lambda x, w: layers.conv_transpose_phase(x, w, 2, pad)
  small, w = _inputs(8, 4, channels=40, out_channels=16)  # big enough for convs, not patches
  assert _count_convs(conv_t, small, w) == 4
  large, w = _inputs(45, 4, channels=40, out_channels=16)  # 2 x 45 x 46 pixels
  assert _count_convs(conv_t, large, w) == 1
  # Scaled so that float32 summation order over 4,140 pixels stays inside _check's tolerance.
  _check(layers.conv_transpose_direct, layers.conv_transpose_phase, large * 0.1, w * 0.1, 2, pad)
  # ResNet G's k3 up conv: packing would add zero taps (9 -> 16 per pixel), so it stays per phase.
  large3, w3 = _inputs(45, 3, channels=40, out_channels=16)
  assert (
    _count_convs(lambda x, w: layers.conv_transpose_phase(x, w, 2, ((1, 2), (1, 2))), large3, w3)
    == 4
  )


@pytest.mark.parametrize(
  "h,k,padding",
  [(6, 4, ((1, 1), (1, 1))), (4, 4, ((0, 0), (0, 0))), (5, 3, ((2, 0), (1, 2)))],
)  # PatchGAN's last conv, DCGAN D's last, asymmetric
def test_single_output_conv_as_taps_matches_direct(h, k, padding):
  x, w = _inputs(h, k, channels=8, out_channels=1)
  taps = lambda x, w, stride, padding: layers.conv_taps(x, w, padding)
  _check(layers.conv_direct, taps, x, w, 1, padding)
  module = layers.StridedConv(1, k, 1, padding, formulation="phase")
  params = jax.jit(module.init)(jax.random.key(0), x)
  assert _count_convs(lambda x: module.apply(params, x), x) == 0
  direct = layers.StridedConv(1, k, 1, padding, formulation="direct")
  apply = lambda module: jax.jit(module.apply)(params, x)
  np.testing.assert_allclose(apply(module), apply(direct), atol=1e-5)


@pytest.mark.parametrize(
  "h,k,padding,s",
  [
    (9, 7, ((0, 0), (0, 0)), 2),  # ResNet G's last conv (after its reflect pad), odd size
    (8, 7, ((3, 3), (3, 3)), 2),
    (7, 3, ((1, 2), (0, 1)), 2),  # asymmetric
    (10, 4, ((1, 1), (1, 1)), 3),
  ],
)
def test_few_output_conv_packed_matches_direct(h, k, padding, s):
  x, w = _inputs(h, k, channels=6, out_channels=3)
  packed = lambda x, w, stride, padding: layers.conv_packed(x, w, padding, s)
  _check(layers.conv_direct, packed, x, w, 1, padding)


def test_few_output_conv_packs_on_large_inputs_only():
  # From 4096 pixels over the batch, a stride-1 conv to <= 4 channels is one conv on
  # space_to_depth (which transposes); below that, and with more outputs, a plain conv.
  routes = {}
  for side, features in [(64 + 6, 3), (32 + 6, 3), (64 + 6, 5)]:
    x = jnp.zeros((1, side, side, 4))
    module = layers.StridedConv(features, 7, 1, 0, formulation="phase")
    params = jax.eval_shape(module.init, jax.random.key(0), x)
    routes[side, features] = "transpose" in str(jax.make_jaxpr(module.apply)(params, x))
  assert routes == {(70, 3): True, (38, 3): False, (70, 5): False}


def test_upconv_doubles_size_like_pytorch_convtranspose():
  # PyTorch ConvTranspose2d(k=4, s=2, p=1): out = 2 * in; here padding k - 1 - p = 2.
  x = jnp.ones((1, 5, 6, 4))
  module = layers.UpConv(7, 4, 2, ((2, 2), (2, 2)))
  params = jax.eval_shape(module.init, jax.random.key(0), x)
  assert jax.eval_shape(module.apply, params, x).shape == (1, 10, 12, 7)


def test_modules_same_params_same_function_for_each_formulation():
  x = jnp.asarray(np.random.RandomState(0).randn(2, 8, 8, 3), jnp.float32)
  for cls in (layers.StridedConv, layers.UpConv):
    direct = cls(6, 4, 2, ((1, 1), (1, 1)), formulation="direct")
    phase = cls(6, 4, 2, ((1, 1), (1, 1)), formulation="phase")
    params = jax.jit(direct.init)(jax.random.key(0), x)
    assert jax.tree.map(jnp.shape, params) == jax.tree.map(
      jnp.shape, jax.eval_shape(phase.init, jax.random.key(0), x)
    )
    apply = jax.jit(lambda params, x, module: module.apply(params, x), static_argnums=2)
    np.testing.assert_allclose(apply(params, x, direct), apply(params, x, phase), atol=1e-5)


def test_unknown_formulation_names_choices():
  with pytest.raises(ValueError, match="direct, phase"):
    layers.resolve("im2col")


def test_space_to_depth_round_trip():
  x = jnp.arange(2 * 4 * 6 * 3, dtype=jnp.float32).reshape(2, 4, 6, 3)
  y = layers.space_to_depth(x, 2)
  assert y.shape == (2, 2, 3, 12)
  np.testing.assert_array_equal(layers.depth_to_space(y, 2), x)
  # Channel order (dy, dx, c): the pixel at (1, 0) of the first 2x2 block, channel 2.
  assert y[0, 0, 0, 2 * 3 + 2] == x[0, 1, 0, 2]
