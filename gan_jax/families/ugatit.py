"""U-GAT-IT: unpaired translation with CAM attention, AdaILN and a global and a local
discriminator per domain.

Kim et al. 2020, "U-GAT-IT: Unsupervised Generative Attentional Networks with Adaptive
Layer-Instance Normalization for Image-to-Image Translation"; the objective and update order of
the official PyTorch code (znxlwm/UGATIT-pytorch, UGATIT.py `train`), in this module's names
(families/unpaired.py: `a2b` is its genA2B; `global_a`, `local_a` judge domain A, its disGA, disLA):
  fake_B = a2b(A), rec_A = b2a(fake_B), idt_A = b2a(A), and the mirror images;
  every D gives patch logits and CAM logits; LSGAN on both (MSE toward 1 for real, 0 for fake);
  D loss = adv * sum over the four D's of LSGAN(D(real), D(fake)), patch and CAM;
  G loss = adv * sum over the four D's of MSE(D(fake), 1), patch and CAM
         + cycle * (|rec_A - A|_1 + |rec_B - B|_1) + identity * (|idt_A - A|_1 + |idt_B - B|_1)
         + cam * (BCE(cam of b2a(B), 1) + BCE(cam of b2a(A), 0) + the same for a2b),
the CAM terms with G's own attention logits: they tell the source domain from the target.
One iteration: the D update on the current G's fakes, then the G update against the updated D's
(the same fakes: G has no randomness and the D update does not touch it), then rho clipped to
[0, 1]. Both optimizers are Adam with coupled L2 weight decay (torch's `weight_decay`).

Spectral norm: every D call in training runs one power iteration and stores its u, as torch's
spectral_norm does in train mode; per D that is the real batch, then the fake one (D update),
then the fakes again with the updated weights (G update). The u's live in the D's `batch_stats`
and are checkpointed with the rest of the state.
"""

import jax
import jax.numpy as jnp
import optax

from gan_jax import losses
from gan_jax.config import check_choice
from gan_jax.errors import ConfigError
from gan_jax.families import base, common, translation, unpaired
from gan_jax.families.unpaired import State
from gan_jax.nets import layers
from gan_jax.nets import ugatit as nets

DOMAINS = ("a", "b")
SCALES = ("global", "local")
DISCRIMINATORS = tuple(f"{scale}_{domain}" for domain in DOMAINS for scale in SCALES)
STRIDE_MULTIPLE = 4  # the generator halves twice and doubles twice
LSGAN = losses.get_adversarial_loss("lsgan")


def validate_config(config) -> None:
  for key, value in (("image_size", config.image_size), ("data.eval_size", config.data.eval_size)):
    if value % STRIDE_MULTIPLE:
      raise ConfigError(
        f"config.{key}={value} is not a multiple of {STRIDE_MULTIPLE}, the generator's stride"
      )
  model = config.model
  for scale in SCALES:
    key = f"model.{scale}_layers"
    n = model[f"{scale}_layers"]
    if not isinstance(n, int) or n < 3:
      raise ConfigError(f"config.{key} must be an integer >= 3, got {n!r}")
    stride = 2 ** (n - 2)
    if config.image_size % stride or config.image_size // stride < 3:
      raise ConfigError(
        f"config.{key}={n} halves the image {n - 2} times and needs a side of 3 or more after "
        f"that; config.image_size={config.image_size} must be a multiple of {stride} and at "
        f"least {3 * stride}"
      )
  for key in ("features", "g_blocks"):
    if model[key] < 1:
      raise ConfigError(f"config.model.{key} must be >= 1, got {model[key]}")
  check_choice(config, "model.ddof", (1, 0))
  if not isinstance(model.get("remat", False), bool):
    raise ConfigError(f"config.model.remat must be True or False, got {model.remat!r}")
  check_choice(config, "model.conv_formulation", layers.FORMULATIONS)
  check_choice(config, "model.dtype", common.DTYPES)
  for key in ("adversarial", "cycle", "identity", "cam"):
    if config.loss[key] < 0:
      raise ConfigError(f"config.loss.{key} must be >= 0, got {config.loss[key]}")
  if config.optim.weight_decay < 0:
    raise ConfigError(f"config.optim.weight_decay must be >= 0, got {config.optim.weight_decay}")


def _generator(config) -> nets.Generator:
  m = config.model
  dtype = common.DTYPES[m.dtype]
  return nets.Generator(m.g_blocks, m.features, 3, m.light, m.ddof, m.conv_formulation, dtype)


def _discriminators(config) -> dict[str, nets.Discriminator]:
  m = config.model
  dtype = common.DTYPES[m.dtype]
  return {
    f"{scale}_{domain}": nets.Discriminator(
      m[f"{scale}_layers"], m.features, m.conv_formulation, dtype
    )
    for domain in DOMAINS
    for scale in SCALES
  }


def learning_rate(config) -> optax.Schedule:
  """The lr of iteration t (0-based): config.optim.lr for constant_steps, then linear to 0."""
  o = config.optim
  return translation.constant_then_linear_decay(o.lr, o.constant_steps, o.decay_steps)


def optimizer(config) -> optax.GradientTransformation:
  """torch.optim.Adam(lr, betas, weight_decay): the decay times the params joins the gradient
  before Adam's moments (coupled L2, not AdamW)."""
  o = config.optim
  decay = optax.add_decayed_weights(o.weight_decay)
  return optax.chain(decay, optax.adam(learning_rate(config), o.b1, o.b2))


def advice(config) -> list[str]:
  o = config.optim
  if o.decay_steps and o.constant_steps + o.decay_steps > config.total_steps:
    return [
      f"config.optim.constant_steps + decay_steps = {o.constant_steps + o.decay_steps} is more "
      f"than config.total_steps={config.total_steps}: the lr stops before it reaches 0 (the "
      f"reference decays over the second half: constant_steps = total_steps / 2 - 1, "
      f"decay_steps = total_steps / 2)"
    ]
  return []


def create_state(config, rng, example_batch) -> State:
  tx = optimizer(config)
  g_rng, d_rng, run_rng = jax.random.split(rng, 3)
  image = jnp.zeros((1, *example_batch["image_a"].shape[1:3], 3))
  return State(
    step=jnp.zeros((), jnp.int32),
    rng=run_rng,
    g=unpaired.init_nets(_generator(config), unpaired.GENERATORS, tx, g_rng, image),
    d=unpaired.init_nets(_discriminators(config), DISCRIMINATORS, tx, d_rng, image),
    pools={},
  )


def _bce_with_logits(logits, target: float):
  return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, target)))


def generator_forward(g, real_a, real_b) -> dict:
  """Every generator output the G loss needs; `g(name, x)` applies a2b or b2a. Keys: fake_<domain>
  (the translation into it), rec_<domain> (the cycle back to it), idt_<domain> (its images
  through the generator into it) and cam_<generator>_<domain> (that generator's CAM logits on that
  domain's real images)."""
  out = {}
  out["fake_b"], out["cam_a2b_a"], _ = g("a2b", real_a)
  out["fake_a"], out["cam_b2a_b"], _ = g("b2a", real_b)
  out["rec_a"] = g("b2a", out["fake_b"])[0]
  out["rec_b"] = g("a2b", out["fake_a"])[0]
  out["idt_a"], out["cam_b2a_a"], _ = g("b2a", real_a)
  out["idt_b"], out["cam_a2b_b"], _ = g("a2b", real_b)
  return out


def discriminator_terms(d, real_a, real_b, fake_a, fake_b) -> dict:
  """{d_<D>: LSGAN of its patch logits + LSGAN of its CAM logits} for the four D's, each called on
  the real images first, then the fakes, as the reference orders the power iterations."""
  terms = {}
  for domain, real, fake in (("a", real_a, fake_a), ("b", real_b, fake_b)):
    for scale in SCALES:
      name = f"{scale}_{domain}"
      real_logits, real_cam, _ = d(name, real)
      fake_logits, fake_cam, _ = d(name, fake)
      terms[f"d_{name}"] = LSGAN.d_loss(real_logits, fake_logits) + LSGAN.d_loss(real_cam, fake_cam)
  return terms


def generator_terms(config, d, out, real_a, real_b) -> dict:
  """The G loss's weighted terms, per generator: adversarial (the target domain's two D's, patch
  and CAM logits), cycle, identity, and CAM (its attention logits: source domain -> 1, target
  domain -> 0)."""
  w, real = config.loss, {"a": real_a, "b": real_b}
  l1 = lambda x, y: jnp.mean(jnp.abs(x - y))
  terms = {}
  for g, source, target in (("a2b", "a", "b"), ("b2a", "b", "a")):
    adversarial = 0.0
    for scale in SCALES:
      logits, cam, _ = d(f"{scale}_{target}", out[f"fake_{target}"])
      adversarial += LSGAN.g_loss(logits) + LSGAN.g_loss(cam)
    terms[f"g_adv_{g}"] = w.adversarial * adversarial
    terms[f"cycle_{source}"] = w.cycle * l1(out[f"rec_{source}"], real[source])
    terms[f"idt_{target}"] = w.identity * l1(out[f"idt_{target}"], real[target])
    cam = _bce_with_logits(out[f"cam_{g}_{source}"], 1.0)
    terms[f"cam_{g}"] = w.cam * (cam + _bce_with_logits(out[f"cam_{g}_{target}"], 0.0))
  return terms


def rematerialised(fn):
  """fn(params, x) that keeps only its inputs for the backward pass and runs its forward again
  there, as jax.checkpoint does, with the recomputation tied to the cotangent's arrival (an
  optimization barrier over both), so that no scheduler can run it early, beside the first
  forward. Same operations, same numbers. On XLA CPU's one-device compile of the full step it
  measured the same as jax.checkpoint (benchmarks/memory_ugatit.py)."""

  @jax.custom_vjp
  def wrapped(params, x):
    return fn(params, x)

  def forward(params, x):
    return fn(params, x), (params, x)

  def backward(inputs, cotangent):
    inputs, cotangent = jax.lax.optimization_barrier((inputs, cotangent))
    return jax.vjp(fn, *inputs)[1](cotangent)

  wrapped.defvjp(forward, backward)
  return wrapped


def train_step(config, state: State, batch, frozen=None):
  del frozen  # no frozen nets
  g_net, d_nets, tx = _generator(config), _discriminators(config), optimizer(config)
  real_a, real_b = unpaired.images(batch)

  # G has no mutable collections. Under model.remat each of its six applications keeps only its
  # input for the backward pass and runs its forward again there.
  apply = lambda params, x: g_net.apply({"params": params}, x, train=True)  # noqa: E731
  apply = rematerialised(apply) if config.model.get("remat", False) else apply

  def g_forward(g_params):
    return generator_forward(lambda name, x: apply(g_params[name], x), real_a, real_b)

  # One G forward serves both updates: the D update leaves G as it was.
  out, g_vjp = jax.vjp(g_forward, state.g.params)
  fake_a, fake_b = jax.lax.stop_gradient(out["fake_a"]), jax.lax.stop_gradient(out["fake_b"])

  def d_loss_fn(d_params):
    d = unpaired.NetRunner(d_nets, d_params, state.d.batch_stats)
    terms = discriminator_terms(d, real_a, real_b, fake_a, fake_b)
    terms = {k: config.loss.adversarial * v for k, v in terms.items()}
    return sum(terms.values()), (d.stats, terms)

  (d_loss, (d_stats, d_terms)), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(
    state.d.params
  )
  d_state = common.apply_updates(state.d, tx, d_grads, d_stats)

  def g_loss_fn(out):
    # The updated D's judge; their calls run power iterations too, and those u's are kept.
    d = unpaired.NetRunner(d_nets, d_state.params, d_state.batch_stats)
    terms = generator_terms(config, d, out, real_a, real_b)
    return sum(terms.values()), (d.stats, terms)

  (g_loss, (d_stats, g_terms)), out_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(out)
  (g_grads,) = g_vjp(out_grads)
  g_state = common.apply_updates(state.g, tx, g_grads, state.g.batch_stats)
  g_state = g_state.replace(params=nets.clip_rho(g_state.params))  # the reference's RhoClipper
  new_state = state.replace(g=g_state, d=d_state.replace(batch_stats=d_stats))
  return new_state, {"g_loss": g_loss, "d_loss": d_loss, **g_terms, **d_terms}


def _apply_generator(config, state: State, name: str, images):
  """(images, cam logits, heatmap) of generator `name`. The full model's MLP takes only the
  training size: other sizes are resized to it and the outputs back (the reference tests at its
  img_size the same way); the light model takes any multiple of 4."""
  size = config.image_size
  b, h, w, c = images.shape
  resize = not config.model.light and (h, w) != (size, size)
  if resize:
    images = jax.image.resize(images, (b, size, size, c), "bilinear")
  variables = {"params": state.g.params[name]}
  out, cam, heatmap = _generator(config).apply(variables, images, train=True)
  if resize:
    out = jax.image.resize(out, (b, h, w, out.shape[-1]), "bilinear")
  return out, cam, heatmap


def translate(config, state: State, images, rng, direction=None):
  """AtoB with `a2b` (the default) or BtoA with `b2a`; G has no randomness and no statistics,
  so `rng` is unused and each image's output is independent of its batch."""
  del rng
  return _apply_generator(config, state, "b2a" if direction == "BtoA" else "a2b", images)[0]


def heatmap_image(heatmap, size: tuple[int, int]):
  """[B, h, w, 1] attention maps -> [B, H, W, 3] in [-1, 1] for a grid: each map scaled to
  [0, 1], upsampled bilinearly and coloured with the jet map, as the reference's `cam` shows it."""
  lo = jnp.min(heatmap, (1, 2, 3), keepdims=True)
  hi = jnp.max(heatmap, (1, 2, 3), keepdims=True)
  x = (heatmap - lo) / jnp.maximum(hi - lo, 1e-12)
  x = jax.image.resize(x, (x.shape[0], *size, 1), "bilinear")
  # jet: blue -> cyan -> yellow -> red, each channel a clipped tent.
  rgb = [jnp.clip(1.5 - jnp.abs(4 * x - k), 0, 1) for k in (3, 2, 1)]
  return jnp.concatenate(rgb, -1) * 2 - 1


def sample_images(config, state: State, inputs):
  """Per example: real A | a2b's attention on A | A->B | A->B->A | real B | b2a's attention on
  B | B->A | B->A->B."""
  columns = []
  for source, g, back in (("a", "a2b", "b2a"), ("b", "b2a", "a2b")):
    real = inputs[source]
    fake, _, heatmap = _apply_generator(config, state, g, real)
    cycle = _apply_generator(config, state, back, fake)[0]
    columns += [real, heatmap_image(heatmap, real.shape[1:3]), fake, cycle]
  return jnp.stack(columns, axis=1)


FAMILY = base.Family(
  name="ugatit",
  layout="unpaired",
  validate_config=validate_config,
  create_state=create_state,
  steps=base.one_step(train_step),
  translate=translate,
  stride_multiple=lambda config: STRIDE_MULTIPLE,
  directions=lambda config: unpaired.DIRECTIONS,
  samples_from_data=True,  # sample grids translate fixed eval images both ways
  sample_inputs=unpaired.sample_inputs,
  sample_images=sample_images,
  advice=advice,
  # The gamma/beta MLP's first weight (268 M at 256 px in the full model) by output feature.
  model_parallel_leaves=lambda config: {"mlp_0/kernel": 1},
)
