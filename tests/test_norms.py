"""Batch and instance norm (hand-written backward) against PyTorch's BatchNorm2d and
InstanceNorm2d: outputs, input and parameter gradients, running statistics, eval mode."""

import flax.linen
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from gan_jax.nets import norms


def _data(shape, seed=0):
  rng = np.random.RandomState(seed)
  x = (rng.randn(*shape) * 2 + 0.5).astype(np.float32)  # NHWC, off-centre, not unit scale
  weights = rng.randn(*shape).astype(np.float32)  # the loss sum(sin(y) * weights)
  return x, weights


def _torch_nchw(a):
  return torch.tensor(np.ascontiguousarray(a.transpose(0, 3, 1, 2)), requires_grad=True)


def _to_nhwc(t):
  return t.detach().numpy().transpose(0, 2, 3, 1)


@pytest.mark.parametrize("shape", [(3, 5, 4, 6), (1, 2, 2, 8)])
def test_batch_norm_train_step_matches_pytorch(shape):
  x, weights = _data(shape)
  module = norms.BatchNorm(scale_init=norms.normal_around_one(0.5))
  variables = jax.jit(module.init)(jax.random.PRNGKey(0), jnp.asarray(x))
  params = variables["params"]

  def loss(params, x):
    y, updated = module.apply(
      {"params": params, "batch_stats": variables["batch_stats"]}, x, mutable=["batch_stats"]
    )
    return jnp.sum(jnp.sin(y) * weights), (y, updated["batch_stats"])

  (_, (y, stats)), (g_params, g_x) = jax.jit(jax.value_and_grad(loss, (0, 1), has_aux=True))(
    params, jnp.asarray(x)
  )

  reference = torch.nn.BatchNorm2d(shape[-1], eps=1e-5, momentum=0.1)
  with torch.no_grad():
    reference.weight.copy_(torch.tensor(np.asarray(params["scale"])))
  tx = _torch_nchw(x)
  ty = reference(tx)
  (torch.sin(ty) * _torch_nchw(weights).detach()).sum().backward()

  np.testing.assert_allclose(y, _to_nhwc(ty), atol=1e-5)
  np.testing.assert_allclose(g_x, _to_nhwc(tx.grad), atol=1e-5)
  np.testing.assert_allclose(g_params["scale"], reference.weight.grad.numpy(), atol=1e-4)
  np.testing.assert_allclose(g_params["bias"], reference.bias.grad.numpy(), atol=1e-4)
  # Running statistics: PyTorch's momentum 0.1 and its unbiased variance.
  np.testing.assert_allclose(stats["mean"], reference.running_mean.numpy(), atol=1e-6)
  np.testing.assert_allclose(stats["var"], reference.running_var.numpy(), rtol=1e-5)

  # Eval mode normalises with the running statistics, as reference.eval() does.
  reference.eval()
  eval_module = norms.BatchNorm(use_running_average=True)
  y_eval = jax.jit(eval_module.apply)({"params": params, "batch_stats": stats}, jnp.asarray(x))
  np.testing.assert_allclose(y_eval, _to_nhwc(reference(_torch_nchw(x))), atol=1e-5)


def test_instance_norm_matches_pytorch():
  x, weights = _data((2, 6, 5, 4), seed=1)
  g_x = jax.jit(jax.grad(lambda x: jnp.sum(jnp.sin(norms.instance_norm(x)) * weights)))(
    jnp.asarray(x)
  )
  tx = _torch_nchw(x)
  ty = torch.nn.InstanceNorm2d(4, eps=1e-5)(tx)
  (torch.sin(ty) * _torch_nchw(weights).detach()).sum().backward()
  np.testing.assert_allclose(jax.jit(norms.instance_norm)(jnp.asarray(x)), _to_nhwc(ty), atol=1e-5)
  np.testing.assert_allclose(g_x, _to_nhwc(tx.grad), atol=1e-5)


def test_standardize_gradients_match_autodiff_of_the_formula():
  """Scale and bias broadcast per example and channel (the shape U-GAT-IT's AdaLIN needs)."""
  x, weights = _data((2, 4, 3, 5), seed=2)
  rng = np.random.RandomState(3)
  scale = jnp.asarray(rng.randn(2, 1, 1, 5), jnp.float32)
  bias = jnp.asarray(rng.randn(2, 1, 1, 5), jnp.float32)

  def formula(x, scale, bias):
    mean = jnp.mean(x, (1, 2), keepdims=True)
    var = jnp.var(x, (1, 2), keepdims=True)
    return (x - mean) / jnp.sqrt(var + 1e-5) * scale + bias

  ours = lambda x, s, b: norms.standardize(x, s, b, (1, 2), 1e-5)[0]
  loss = lambda fn: lambda *a: jnp.sum(jnp.sin(fn(*a)) * weights)
  args = (jnp.asarray(x), scale, bias)
  grad = lambda fn: jax.jit(jax.grad(loss(fn), (0, 1, 2)))(*args)
  for a, b in zip(grad(ours), grad(formula), strict=True):
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, atol=2e-5)
  _, mean, var = jax.jit(lambda *a: norms.standardize(*a, (1, 2), 1e-5))(*args)
  np.testing.assert_allclose(mean, jnp.mean(args[0], (1, 2), keepdims=True), atol=1e-6)
  np.testing.assert_allclose(var, jnp.var(args[0], (1, 2), keepdims=True), rtol=1e-5)


def test_bfloat16_inputs_keep_their_dtype():
  x = jnp.asarray(_data((2, 4, 4, 3))[0], jnp.bfloat16)
  g = jax.jit(jax.grad(lambda x: jnp.sum(norms.instance_norm(x).astype(jnp.float32) ** 3)))(x)
  assert jax.eval_shape(norms.instance_norm, x).dtype == jnp.bfloat16
  assert g.dtype == jnp.bfloat16


def test_affine_instance_norm_matches_pytorch_and_keeps_flax_names():
  x, weights = _data((2, 5, 6, 3), seed=4)
  module = norms.InstanceNorm(epsilon=1e-6, scale_init=norms.normal_around_one(0.5))
  params = jax.jit(module.init)(jax.random.PRNGKey(0), jnp.asarray(x))["params"]
  # The names and shapes of flax.linen.InstanceNorm's params: checkpoints carry over.
  flax_params = jax.eval_shape(flax.linen.InstanceNorm().init, jax.random.PRNGKey(0), x)["params"]
  assert jax.tree.map(jnp.shape, params) == jax.tree.map(jnp.shape, flax_params)

  loss = lambda p, x: jnp.sum(jnp.sin(module.apply({"params": p}, x)) * weights)
  g_params, g_x = jax.jit(jax.grad(loss, (0, 1)))(params, jnp.asarray(x))
  reference = torch.nn.InstanceNorm2d(3, eps=1e-6, affine=True)
  with torch.no_grad():
    reference.weight.copy_(torch.tensor(np.asarray(params["scale"])))
  tx = _torch_nchw(x)
  ty = reference(tx)
  (torch.sin(ty) * _torch_nchw(weights).detach()).sum().backward()
  y = jax.jit(module.apply)({"params": params}, jnp.asarray(x))
  np.testing.assert_allclose(y, _to_nhwc(ty), atol=1e-5)
  np.testing.assert_allclose(g_x, _to_nhwc(tx.grad), atol=1e-5)
  np.testing.assert_allclose(g_params["scale"], reference.weight.grad.numpy(), atol=1e-4)
  np.testing.assert_allclose(g_params["bias"], reference.bias.grad.numpy(), atol=1e-4)
