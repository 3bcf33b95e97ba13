"""The family contract: what a family module declares, and the one check of it.

A family module defines `FAMILY = Family(...)`; the loop and the modes (train, sample, translate,
eval) use nothing else of it. What every family gives:
  layout                                  the batches it trains on (a name in data/layouts.py)
  validate_config(config)                 ConfigError before anything is built
  create_state(config, rng, example_batch)   a State pytree with a `step` field; example_batch
                                          only lends shapes
  steps(config) -> {name: step}           named train steps, each
                                          step(config, state, batch, frozen) -> (state, metrics),
                                          pure; the loop compiles each once
  schedule(config, step) -> names         host side: the named steps that iteration `step` runs, in
                                          order. The step counter alone decides, so a resumed run
                                          runs what an uninterrupted one would.
  sample_inputs(config, rng, batch)       fixed inputs for the periodic sample grids
  sample_images(config, state, inputs)    -> [rows, cols, H, W, 3] in [-1, 1] for the grid
and, by what it is:
  generate(config, state, z, rng)         unconditional: images from latents
  translate(config, state, images, rng, direction)   translation: source images -> target domain
  stride_multiple(config)                 translation: image sides must be multiples of this
  directions(config)                      translation: what --direction may ask for (the first is
                                          the default)
  samples_from_data                       sample grids show fixed eval examples, not latents
  frozen(config) -> pytree                nets that never train (a feature net, loaded from a file
                                          or built deterministically): passed to every step as a
                                          replicated, non-donated argument, never checkpointed
  truncation                              generate honours config.sample.truncation_psi
  advice(config) -> [str]                 warnings about a valid config that trains poorly, logged
                                          once when training starts (not in the other modes)
  model_parallel_leaves(config) -> {path suffix: axis}   state leaves (params and their
                                          optimizer moments) to split along that axis over the
                                          `model` mesh axis when config.model_parallel > 1
  layout_for(config) -> layout name       when the config picks the layout (StyleGAN2's
                                          model.num_classes: 'labelled'); `data_layout` reads it
  num_classes(config) -> int              conditional generators: the classes of
                                          config.sample.class_idx (0: unconditional)
  w_space                                 generators from an intermediate latent w (StyleGAN): a
                                          WSpace, what --mode=project optimises through

The loop owns `state.step`: a step reads it (the iterations done before this one, the same for
every named step of an iteration) and what it writes there is replaced by step + 1.
"""

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import jax

from gan_jax import samples
from gan_jax.data.layouts import LAYOUTS

StepFn = Callable[..., tuple[Any, dict]]  # (config, state, batch, frozen) -> (state, metrics)
MAIN = "main"


def one_step(step: StepFn) -> Callable[[Any], Mapping[str, StepFn]]:
  """`steps` for a family with a single step, run every iteration under the name 'main'."""
  return lambda config: {MAIN: step}


def every_iteration(config, step: int) -> tuple[str, ...]:
  """The schedule of a family with a single step."""
  del config, step
  return (MAIN,)


def latent_sample_inputs(config, rng, batch):
  """sample_inputs of an unconditional family: N(0, 1) latents [sample.num, model.z_dim]."""
  del batch  # nothing from the data
  return jax.random.normal(rng, (config.sample.num, config.model.z_dim))


def generated_grid(generate):
  """sample_images of an unconditional family: its `generate` of the latents, as a grid."""
  return lambda config, state, z: samples.as_grid(generate(config, state, z))


@dataclasses.dataclass(frozen=True)
class WSpace:
  """A generator's W space, as --mode=project (NVlabs' projector.py) needs it.

  num_ws(config) -> int                   ws per image (one per synthesis layer input)
  mapping(config, state, z, labels) -> w [N, w_dim]: the deployed (EMA) mapping, untruncated;
                                          labels int32 [N] (ignored when unconditional)
  synthesis(config, state, ws, noise) -> images [N, R, R, 3] in about [-1, 1]: the deployed
                                          synthesis of ws [N, num_ws, w_dim] with `noise` as its
                                          constant per-layer noise images
  noise(config, state) -> pytree of [H, W] arrays: the noise images `synthesis` takes, as trained
                                          ({} for a generator without noise inputs)
  """

  num_ws: Callable[[Any], int]
  mapping: Callable[..., Any]
  synthesis: Callable[..., Any]
  noise: Callable[..., Any] = lambda config, state: {}


@dataclasses.dataclass(frozen=True)
class Family:
  name: str
  layout: str
  validate_config: Callable[[Any], None]
  create_state: Callable[..., Any]
  steps: Callable[[Any], Mapping[str, StepFn]]
  sample_inputs: Callable[..., Any]
  sample_images: Callable[..., Any]
  schedule: Callable[[Any, int], tuple[str, ...]] = every_iteration
  generate: Callable[..., Any] | None = None
  translate: Callable[..., Any] | None = None
  stride_multiple: Callable[[Any], int] | None = None
  directions: Callable[[Any], tuple[str, ...]] = lambda config: ()
  samples_from_data: bool = False
  frozen: Callable[[Any], Any] | None = None
  advice: Callable[[Any], list[str]] = lambda config: []
  model_parallel_leaves: Callable[[Any], Mapping[str, int]] = lambda config: {}
  truncation: bool = False  # generate honours config.sample.truncation_psi
  # style_mix(config, state, z_rows, z_cols, styles) -> (row images [R], column images [C],
  # mixed [R, C]): each row latent's ws with the given style layers taken from each column's.
  style_mix: Callable[..., Any] | None = None
  layout_for: Callable[[Any], str] | None = None  # the config picks the layout (see above)
  num_classes: Callable[[Any], int] = lambda config: 0
  w_space: WSpace | None = None
  # (config, state, z, transform) -> images: the deployed G with an input transform (3x3, the
  # inverse of the image's), for the equivariance metrics of --mode=eval (StyleGAN3).
  equivariance: Callable[..., Any] | None = None

  @property
  def translates(self) -> bool:
    return self.translate is not None

  def data_layout(self, config) -> str:
    """The layout of this config's batches: `layout`, or what `layout_for` picks."""
    return self.layout_for(config) if self.layout_for is not None else self.layout


def check(family: Family) -> list[str]:
  """What is missing or inconsistent in a family's declaration ([] when it is sound)."""
  problems = []
  if not isinstance(family, Family):
    return [f"FAMILY is a {type(family).__name__}, not a families.base.Family"]
  if family.layout not in LAYOUTS:
    problems.append(f"layout {family.layout!r} is not one of {', '.join(LAYOUTS)}")
  required = ("validate_config", "create_state", "steps", "schedule", "sample_inputs")
  for name in (*required, "sample_images", "directions", "advice"):
    if not callable(getattr(family, name)):
      problems.append(f"{name} is not callable")
  if (family.generate is None) == (family.translate is None):
    problems.append("gives neither or both of generate (unconditional) and translate")
  if family.translate is not None and family.stride_multiple is None:
    problems.append("translates but gives no stride_multiple")
  if family.frozen is not None and not callable(family.frozen):
    problems.append("frozen is not callable")
  for name in ("layout_for", "num_classes"):
    value = getattr(family, name)
    if value is not None and not callable(value):
      problems.append(f"{name} is not callable")
  if family.w_space is not None and not isinstance(family.w_space, WSpace):
    problems.append(f"w_space is a {type(family.w_space).__name__}, not a families.base.WSpace")
  if family.w_space is not None and family.generate is None:
    problems.append("gives a w_space but no generate")
  return problems


def check_steps(family: Family, config, iterations: int = 64) -> list[str]:
  """What is wrong with a family's named steps under `config`: a scheduled name that `steps`
  does not give, an iteration that runs nothing, a step that is never scheduled."""
  steps = family.steps(config)
  problems, used = [], set()
  for step in range(iterations):
    names = family.schedule(config, step)
    if not names:
      problems.append(f"schedule runs no step at iteration {step}")
    for name in names:
      if name not in steps:
        problems.append(f"schedule names {name!r} at iteration {step}; steps: {', '.join(steps)}")
      used.add(name)
  problems += [f"step {name!r} is never scheduled" for name in steps if name not in used]
  return sorted(set(problems))
