"""The two-direction machinery every unpaired translation family shares (CycleGAN, DualGAN).

Two generators, `a2b` (A -> B; the CycleGAN reference's G_A, DualGAN's G_A) and `b2a`, and two
discriminators, `b` (judges domain B: the references' D_A) and `a` (judges domain A: D_B). Nets that
share an optimizer live in one NetState whose params are {name: params}, as the references chain
both nets' parameters into one optimizer; each name may be its own module (a global and a local
discriminator per domain), with its own mutable collections (batch statistics; flax's spectral
norm keeps its power-iteration vectors in the same `batch_stats` collection). A family module
supplies its nets and step; this module gives it the state, translation in both directions and the
sample grids.
"""

from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

from gan_jax.errors import ConfigError
from gan_jax.families import base, common

DIRECTIONS = ("AtoB", "BtoA")
GENERATORS = ("a2b", "b2a")
DISCRIMINATORS = ("a", "b")


@flax.struct.dataclass
class State:
  step: jax.Array  # int32 scalar
  rng: jax.Array  # step t draws from fold_in(rng, t)
  g: common.NetState  # params {"a2b": ..., "b2a": ...}
  d: common.NetState  # params {"a": ..., "b": ...}
  pools: Any  # CycleGAN's image pools of past fakes, per domain ({} for DualGAN)


def validate_config(config, stride_multiple: int) -> None:
  """The check every unpaired family shares: image sides against the generator's stride."""
  for key, value in (("image_size", config.image_size), ("data.eval_size", config.data.eval_size)):
    if value % stride_multiple:
      raise ConfigError(
        f"config.{key}={value} is not a multiple of {stride_multiple}, the stride of "
        f"config.model.generator={config.model.generator!r}"
      )


def init_nets(modules, names, tx: optax.GradientTransformation, rng: jax.Array, *inputs):
  """One NetState holding a net per name, as {name: params}, under one optimizer.

  Args:
    modules: one Flax module for every name, or {name: module}.
    names: the nets' names.
    tx: the optimizer of them all.
    rng: initialisation randomness (split per name).
    *inputs: example inputs (shapes only matter), the same for every net.
  """
  params, stats = {}, {}
  for name, key in zip(names, jax.random.split(rng, len(names)), strict=True):
    module = modules[name] if isinstance(modules, dict) else modules
    variables = module.init({"params": key, "dropout": key}, *inputs)
    params[name] = variables["params"]
    stats[name] = variables.get("batch_stats", {})
  return common.NetState(params=params, batch_stats=stats, opt_state=tx.init(params))


class NetRunner:
  """Applies nets by name in train mode, threading each one's batch statistics.

  Use inside a traced function: `run("a2b", x)`; `stats` then holds every net's updated
  statistics (unchanged, empty dicts for nets without batch norm). `modules`: one Flax module for
  every name, or {name: module}.
  """

  def __init__(self, modules, params, batch_stats, rng: jax.Array | None = None):
    self.modules, self.params, self.stats = modules, params, dict(batch_stats)
    self.rng, self.calls = rng, 0

  def __call__(self, name: str, x):
    rngs = None
    if self.rng is not None:
      rngs = {"dropout": jax.random.fold_in(self.rng, self.calls)}
    self.calls += 1
    module = self.modules[name] if isinstance(self.modules, dict) else self.modules
    out, self.stats[name] = common.apply_net(
      module, self.params[name], self.stats[name], x, rngs=rngs
    )
    return out


def images(batch):
  """The batch's (real A, real B) in [-1, 1]."""
  return common.to_float_images(batch["image_a"]), common.to_float_images(batch["image_b"])


def translation_functions(generator):
  """The family contract's `translate` and `sample_images` for a family whose generator module is
  `generator(config)`.

  translate(config, state, images, rng, direction): A -> B with `a2b` (AtoB, the default) or
  B -> A with `b2a`, with the norms in train mode as the references test (unless
  config.model.eval_mode; instance norm is the same either way) and dropout only where the net has
  it. sample_images: rows of real A | A->B | A->B->A | real B | B->A | B->A->B.
  """

  def translate(config, state: State, images_, rng, direction=None):
    name = "b2a" if direction == "BtoA" else "a2b"
    return common.translate_images(
      generator(config),
      state.g.params[name],
      state.g.batch_stats[name],
      images_,
      rng,
      train=not config.model.eval_mode,
    )

  def sample_images(config, state: State, inputs):
    rng = inputs["rng"]
    fake_b = translate(config, state, inputs["a"], rng, "AtoB")
    fake_a = translate(config, state, inputs["b"], rng, "BtoA")
    rec_a = translate(config, state, fake_b, rng, "BtoA")
    rec_b = translate(config, state, fake_a, rng, "AtoB")
    return jnp.stack([inputs["a"], fake_b, rec_a, inputs["b"], fake_a, rec_b], axis=1)

  return translate, sample_images


def sample_inputs(config, rng, batch):
  del config
  real_a, real_b = images(batch)
  return {"a": real_a, "b": real_b, "rng": rng}


def family(name: str, validate_config, create_state, steps, generator, **more):
  """The Family of an unpaired translation family whose generator module is `generator(config)`:
  both directions, sample grids of fixed eval examples."""
  translate, sample_images = translation_functions(generator)
  return base.Family(
    name=name,
    layout="unpaired",
    validate_config=validate_config,
    create_state=create_state,
    steps=steps,
    translate=translate,
    directions=lambda config: DIRECTIONS,
    samples_from_data=True,  # sample grids translate fixed eval images both ways
    sample_inputs=sample_inputs,
    sample_images=sample_images,
    **more,
  )
