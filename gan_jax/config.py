"""Config files, presets and `--config.<key>=<value>` overrides, with one-line errors.

A config file is a Python module with `get_config(arg)` returning an `ml_collections.ConfigDict`;
`arg` is the preset named after a colon (`configs/dcgan.py:tiny`). We load it ourselves rather than
through `ml_collections.config_flags`, which prints tracebacks (or carries on) for a missing file, a
bad preset or an unknown key; here every such mistake is one `ConfigError` naming the bad thing.
"""

import ast
import importlib.util
import json
import pathlib

import ml_collections

from gan_jax.errors import ConfigError

# Keys every config must have, whatever the family; `validate_common` checks them.
REQUIRED_KEYS = (
  "family",
  "seed",
  "total_steps",
  "batch_size",
  "image_size",
  "log_every",
  "sample_every",
  "checkpoint_every",
  "data.name",
  "data.folder",
  "data.data_dir",
)
ALIGNED_TEST = ("auto", "yes", "no")  # config.eval.aligned_test
# What a resumed run may change: how long it runs, how often it logs, samples, saves and scores,
# and where and how fast it reads its data. Any other change (batch size, model, optimizer, data,
# seed) would make the run's record untrue, so resuming with one needs --allow_config_change.
# A name ending in "." is a whole section.
RESUMABLE_KEYS = (
  "total_steps",
  "fsdp_min_size",
  "model_parallel",
  "model.remat",
  "log_every",
  "progress_secs",
  "sample_every",
  "checkpoint_every",
  "eval_every",
  "ckpt.",
  "eval.",
  "sample.",
  "project.",
  "export.",
  "data.data_dir",
  "data.read_threads",
  "data.prefetch",
  "data.eval_split",
  "data.eval_size",
)
_POSITIVE_INTS = ("total_steps", "batch_size", "image_size", "log_every", "checkpoint_every")


def load_config(spec: str, overrides: list[str] = ()) -> ml_collections.ConfigDict:
  """Loads `path/to/config.py[:preset]` and applies `key=value` overrides.

  Args:
    spec: the config file, optionally followed by `:preset`.
    overrides: strings `dotted.key=value`; the value is parsed to the type of the existing value.

  Returns:
    The resolved, unlocked ConfigDict.
  """
  path, _, preset = spec.partition(":")
  file = pathlib.Path(path)
  if not file.is_file():
    configs_dir = pathlib.Path(__file__).resolve().parent.parent / "configs"
    known = sorted(p.name for p in configs_dir.glob("*.py") if not p.name.startswith("_"))
    raise ConfigError(f"config file {path!r} does not exist; configs shipped: {', '.join(known)}")
  config = import_config_file(file).get_config(preset or None)
  for override in overrides:
    apply_override(config, override)
  return config


def load_run_config(workdir, spec: str, overrides: list[str] = ()):
  """The config of the run in `workdir` (its config.json) with `overrides` applied, for the modes
  that use a trained run (sample, translate, eval).

  Returns:
    (config, notes): notes are lines for the log: each override's change, and how the config file
    `spec` (when given) differs from the run's, which it does not replace.
  """
  saved = pathlib.Path(workdir) / "config.json"
  if not saved.is_file():
    if not spec:
      raise ConfigError(f"no {saved}: give --config=FILE[:preset], or train in {workdir} first")
    return load_config(spec, overrides), [f"no {saved}: using --config={spec}"]
  try:
    config = config_from_json(saved.read_text())
  except ValueError as e:
    raise ConfigError(f"{saved} is not a config gan_jax wrote ({e})") from None
  before = json_dict(config)
  for override in overrides:
    apply_override(config, override)
  notes = [f"using the run's own config, {saved}"]
  notes += [f"override {d}" for d in differences(before, json_dict(config))]
  if spec:
    given = differences(json_dict(config), json_dict(load_config(spec, overrides)))
    if given:
      notes.append(
        f"--config={spec} differs from the run's config in {'; '.join(given[:8])}; the run's "
        "config is used (change a key with --config.<key>=<value>)"
      )
  return config, notes


def config_from_json(text: str) -> ml_collections.ConfigDict:
  """A ConfigDict from a config.json that train wrote; keys gan_jax added since are filled in
  with their defaults, and JSON lists become the tuples they were."""

  def tuples(value):
    if isinstance(value, dict):
      return {k: tuples(v) for k, v in value.items()}
    if isinstance(value, list):
      return tuple(tuples(v) for v in value)
    return value

  values = json.loads(text)
  if not isinstance(values, dict) or "family" not in values:
    raise ValueError("no family key")
  config = base_config()
  config.update(ml_collections.ConfigDict(tuples(values)))
  return config


def json_dict(config) -> dict:
  """The config as config.json holds it."""
  return json.loads(config.to_json_best_effort())


def differences(saved: dict, now: dict, prefix: str = "") -> list[str]:
  """`key: saved -> now` for each leaf where two configs (as json_dict gives them) differ."""
  diffs = []
  for key in sorted(set(saved) | set(now)):
    a, b = saved.get(key, "(absent)"), now.get(key, "(absent)")
    if isinstance(a, dict) and isinstance(b, dict):
      diffs += differences(a, b, f"{prefix}{key}.")
    elif a != b:
      diffs.append(f"{prefix}{key}: {a} -> {b}")
  return diffs


def resume_refusals(saved: dict, now: dict) -> list[str]:
  """The differences between a run's saved config and the config resuming it that RESUMABLE_KEYS
  does not allow. A key the saved config lacks is a setting added to gan_jax since the run began
  (load_run_config fills it the same way): a run goes on across an upgrade."""

  def allowed(diff: str) -> bool:
    if diff.split(": ", 1)[1].startswith("(absent) ->"):
      return True
    return any(
      diff.startswith(key) if key.endswith(".") else diff.startswith(key + ":")
      for key in RESUMABLE_KEYS
    )

  return [d for d in differences(saved, now) if not allowed(d)]


def import_config_file(file: pathlib.Path):
  """The module of config file `file`, which must define get_config(arg)."""
  module_spec = importlib.util.spec_from_file_location(f"_gan_jax_config_{file.stem}", file)
  module = importlib.util.module_from_spec(module_spec)
  try:
    module_spec.loader.exec_module(module)
  except ConfigError:
    raise
  except Exception as e:
    raise ConfigError(f"config file {file} failed to load: {type(e).__name__}: {e}") from e
  if not hasattr(module, "get_config"):
    raise ConfigError(f"config file {file} has no get_config(arg) function")
  return module


def split_overrides(argv: list[str]) -> tuple[list[str], list[str]]:
  """Separates `--config.<key>=<value>` overrides (ours to parse) from absl's flags."""
  rest, overrides = [], []
  for arg in argv:
    if arg.startswith("--config."):
      overrides.append(arg[len("--config.") :])
    else:
      rest.append(arg)
  return rest, overrides


def apply_override(config: ml_collections.ConfigDict, override: str) -> None:
  """Sets `dotted.key=value` in `config`, parsing value to the existing value's type."""
  key, sep, text = override.partition("=")
  if not sep or not key:
    raise ConfigError(f"config override {override!r} must look like --config.<key>=<value>")
  *parents, leaf = key.split(".")
  node = config
  for depth, name in enumerate(parents):
    if name not in node or not isinstance(node[name], ml_collections.ConfigDict):
      where = ".".join(parents[:depth]) or "the config"
      raise ConfigError(
        f"unknown config key {key!r}: {where} has no section {name!r}; "
        f"sections: {_keys(node, sections=True)}"
      )
    node = node[name]
  if leaf not in node:
    raise ConfigError(f"unknown config key {key!r}; keys here: {_keys(node)}")
  node[leaf] = _parse_value(key, text, node[leaf])


def _keys(node: ml_collections.ConfigDict, sections: bool = False) -> str:
  names = [k for k, v in node.items() if isinstance(v, ml_collections.ConfigDict) == sections]
  return ", ".join(sorted(names)) or "(none)"


def _parse_value(key: str, text: str, current):
  if isinstance(current, ml_collections.ConfigDict):
    raise ConfigError(f"config key {key!r} is a section; set one of its keys: {_keys(current)}")
  try:
    if isinstance(current, bool):
      lowered = text.lower()
      if lowered not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError("expected true or false")
      return lowered in ("true", "1", "yes")
    if isinstance(current, int):
      return int(text)
    if isinstance(current, float):
      return float(text)
    if isinstance(current, str):
      return text
    value = ast.literal_eval(text)
    if isinstance(current, (tuple, list)):
      return type(current)(value if isinstance(value, (tuple, list)) else (value,))
    return value
  except (ValueError, SyntaxError) as e:
    expected = type(current).__name__
    raise ConfigError(f"config key {key!r}: cannot use {text!r} as a {expected} ({e})") from None


def get_path(config: ml_collections.ConfigDict, dotted: str):
  """Returns config[a][b]... for `a.b`, or raises KeyError."""
  node = config
  for name in dotted.split("."):
    if not isinstance(node, ml_collections.ConfigDict) or name not in node:
      raise KeyError(dotted)
    node = node[name]
  return node


def validate_common(config: ml_collections.ConfigDict) -> None:
  """Checks the keys the training loop needs, before anything is compiled or written."""
  missing = []
  for key in REQUIRED_KEYS:
    try:
      get_path(config, key)
    except KeyError:
      missing.append(key)
  if missing:
    raise ConfigError(f"config is missing required keys: {', '.join(missing)}")
  for key in _POSITIVE_INTS:
    value = config[key]
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
      raise ConfigError(f"config.{key} must be a positive integer, got {value!r}")
  progress = config.get("progress_secs", 0)
  if not isinstance(progress, (int, float)) or isinstance(progress, bool) or progress < 0:
    raise ConfigError(f"config.progress_secs must be >= 0 (0 = only log_every), got {progress!r}")
  for key in ("sample_every", "eval_every"):
    value = config.get(key, 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
      raise ConfigError(f"config.{key} must be >= 0 (0 = never), got {value!r}")
  fsdp = config.get("fsdp_min_size", 0)
  if not isinstance(fsdp, int) or isinstance(fsdp, bool) or fsdp < 0:
    raise ConfigError(f"config.fsdp_min_size must be >= 0 (0 = replicate every leaf), got {fsdp!r}")
  model_parallel = config.get("model_parallel", 1)
  if not isinstance(model_parallel, int) or isinstance(model_parallel, bool) or model_parallel < 1:
    raise ConfigError(f"config.model_parallel must be an integer >= 1, got {model_parallel!r}")
  if "eval" in config and "aligned_test" in config.eval:
    check_choice(config, "eval.aligned_test", ALIGNED_TEST)
  sample_cfg = config.get("sample", {})
  for key in ("seeds", "mix_rows", "mix_cols", "mix_styles"):
    parse_seeds(sample_cfg.get(key, ""), f"config.sample.{key}")
  class_idx = sample_cfg.get("class_idx", -1)
  if not isinstance(class_idx, int) or isinstance(class_idx, bool) or class_idx < -1:
    raise ConfigError(
      f"config.sample.class_idx must be a class index or -1 (none), got {class_idx!r}"
    )
  if bool(sample_cfg.get("mix_rows", "")) != bool(sample_cfg.get("mix_cols", "")):
    raise ConfigError("config.sample.mix_rows and config.sample.mix_cols go together: give both")
  weights = config.get("eval", {}).get("inception_weights", "")
  if weights and not pathlib.Path(weights).expanduser().is_file():
    raise ConfigError(f"config.eval.inception_weights: no such file {weights}")


def parse_seeds(text: str, key: str = "config.sample.seeds") -> list[int]:
  """'0-3,42' -> [0, 1, 2, 3, 42]; '' -> []. `key` names the setting in errors."""
  seeds = []
  for part in filter(None, (p.strip() for p in str(text).split(","))):
    first, dash, last = part.partition("-")
    try:
      low, high = int(first), int(last) if dash else int(first)
    except ValueError:
      low = high = -1
    if low < 0 or high < low or high >= 2**32:
      raise ConfigError(f"{key}: {part!r} is not a number or a range like 0-7 (0 to 2**32 - 1)")
    seeds += range(low, high + 1)
  return seeds


def check_choice(config, key: str, choices) -> None:
  """Raises a ConfigError naming `config.<key>` and its choices unless its value is one of them."""
  value = get_path(config, key)
  if value not in choices:
    raise ConfigError(f"unknown config.{key} {value!r}; choices: {', '.join(map(str, choices))}")


def parse_preset(arg: str | None, presets: tuple[str, ...], config_file: str) -> str:
  """Returns the preset named by `get_config(arg)`'s arg ('default' when empty)."""
  name = arg or "default"
  if name not in presets:
    raise ConfigError(f"unknown preset {name!r} for {config_file}; presets: {', '.join(presets)}")
  return name


def base_config() -> ml_collections.ConfigDict:
  """Keys every family shares; a family config fills in and overrides the rest."""
  c = ml_collections.ConfigDict()
  c.family = ""  # the family module in gan_jax/families (see families.FAMILIES)
  c.seed = 0  # everything random (init, noise, data order, augmentation) derives from it
  c.total_steps = 1  # optimisation steps (one D and one G update each)
  c.batch_size = 1  # global batch, split over all devices of all processes
  # State leaves (params, optimizer moments) of at least this many elements are split over the
  # devices instead of replicated (FSDP); 0: every leaf replicated. Same numbers either way.
  c.fsdp_min_size = 0
  # Devices per `model` mesh axis row (the rest form `data`): the leaves a family names for it
  # (U-GAT-IT's full MLP) are split over them, with their optimizer moments. 1: no model axis.
  c.model_parallel = 1
  c.image_size = 64  # training resolution (square)
  c.log_every = 100  # console + TensorBoard scalars
  c.progress_secs = 10.0  # also a console line at least this often (seconds; 0 = only log_every)
  c.sample_every = 1000  # PNG + TensorBoard sample grid; 0 = never
  c.checkpoint_every = 1000  # async Orbax checkpoint; one is always written at the end
  c.eval_every = 0  # run --mode=eval's scoring on the training state every N steps; 0 = never

  c.data = ml_collections.ConfigDict()
  c.data.name = ""  # embedded ('shapes', 'toon', ...) or TFDS catalogue name
  c.data.folder = ""  # a local folder of images; wins over data.name
  c.data.data_dir = ""  # TFDS data dir; '' = TFDS default ($TFDS_DATA_DIR or ~/tensorflow_datasets)
  c.data.train_split = "train"
  c.data.eval_split = "test"
  c.data.label_key = "label"  # labelled layouts: the dataset's integer class feature
  c.data.load_size = 0  # resize to this before cropping; 0 = image_size (no jitter)
  c.data.crop = "center"  # 'random' (jitter), 'center' or 'none' (resize straight to image_size)
  # Eval and sample grids see images of this side; 0 = image_size. Translation nets are fully
  # convolutional, so they may train on crops and be scored on whole images (the reference tests
  # with --preprocess none for the same reason).
  c.data.eval_size = 0
  c.data.flip = False  # random horizontal flip
  c.data.skip_bad_images = False  # skip (and count) unreadable images instead of stopping
  # grain threads reading and augmenting batches (one batch each); 0 = one per CPU core, up to 16.
  # pix2pix at 256 px, batch 16, one H100 (16 cores): 2 threads read 221 img/s, 16 threads 630,
  # and the step alone takes 737.
  c.data.read_threads = 0
  c.data.prefetch = 4  # batches read ahead (raised to read_threads: each thread fills one)
  # Training batches read by this many worker processes (grain), each with its own read_threads
  # (0: the cores shared out among them); the batches stay the same. Threads share Python's lock
  # (above: 8x the threads, 2.85x the images); processes do not. 0 = threads in this process only.
  c.data.workers = 0

  c.ckpt = ml_collections.ConfigDict()
  c.ckpt.max_to_keep = 3
  c.ckpt.async_save = True  # save while training continues

  c.sample = ml_collections.ConfigDict()
  c.sample.num = 64  # images in a sample grid (and in --mode=sample)
  # --mode=sample of unconditional families: one image per seed ('0-7,42'), z drawn as NVlabs'
  # generate.py draws it (numpy RandomState(seed).randn(z_dim)), so seeds name the same latents.
  c.sample.seeds = ""
  c.sample.truncation_psi = 1.0  # families with a mapping net: w -> w_avg + psi * (w - w_avg)
  # A style-mixing grid (NVlabs' style_mixing.py) instead: seeds of the rows and the columns, and
  # the style layers (ws indices) each cell takes from its column's latent. Families that can.
  c.sample.mix_rows = ""
  c.sample.mix_cols = ""
  c.sample.mix_styles = "0-6"
  # Conditional generators: the class of --mode=sample's seeds, mixing grid and --mode=project
  # (NVlabs' generate.py --class); -1: none given (the sample grid shows one row per class).
  c.sample.class_idx = -1

  # --mode=project (families that generate from w; NVlabs' projector.py and its defaults): find the
  # w whose image is closest to --target. The seed is config.sample.seeds' one seed (default 303).
  c.project = ml_collections.ConfigDict()
  c.project.num_steps = 1000
  c.project.w_avg_samples = 10000  # w's start (mean) and noise scale (std) from this many z
  c.project.lr = 0.1  # Adam (0.9, 0.999) on w and the noise images, at lr x the ramp below
  c.project.lr_rampdown = 0.25  # cosine ramp-down over the last quarter of the steps
  c.project.lr_rampup = 0.05  # linear ramp-up over the first 5% of the steps
  c.project.noise_factor = 0.05  # w jitter: w_std x this, ramped down quadratically ...
  c.project.noise_ramp = 0.75  # ... to 0 at this fraction of the steps
  c.project.noise_weight = 1e5  # the noise images' autocorrelation penalty
  # torchvision's vgg16 state dict (vgg16-397923af.pth, supplied by the user): the distance is
  # LPIPS-style on its features (unit-normalised, unweighted). Empty: mean squared error on pixels
  # in [-1, 1].
  c.project.vgg16_weights = ""
  c.project.frame_every = 10  # a frames/ PNG (target | projection) every this many steps; 0: none

  c.eval = ml_collections.ConfigDict()
  c.eval.batch_size = 16  # images per forward pass in --mode=eval and --mode=translate
  c.eval.num_samples = 1024  # unconditional families: samples scored against as many real images
  c.eval.html_rows = 50  # translation families: input | output | target rows in results/index.html
  # Unpaired translation: are testA[i] and testB[i] the same scene (ground truth for PSNR/SSIM)?
  # "auto": as the dataset declares (the embedded toon data's test split: yes; folders: no);
  # "yes" / "no" to say so.
  c.eval.aligned_test = "auto"
  # FID and KID need the FID Inception weights file that pytorch-fid uses
  # (pt_inception-2015-12-05-6726825d.pth), supplied by the user: nothing is downloaded. Empty: the
  # eval lists FID and KID as skipped. Real-image features are cached (keyed by the weights and the
  # images' bytes) in eval.feature_cache ('' = ~/.cache/gan_jax/inception_features).
  c.eval.inception_weights = ""
  c.eval.feature_cache = ""

  # --mode=export (gan_jax/export.py) and smaller generators (gan_jax/quantize.py).
  c.export = ml_collections.ConfigDict()
  # Weights as stored: 'none' (float32), 'bf16', or 'int8' (weight-only, per output channel,
  # symmetric). Also read by --mode=translate and --mode=sample, which then compute what the
  # exported file computes.
  c.export.quantize = "none"
  c.export.image_size = 0  # translation: the exported input side; 0 = data.eval_size or image_size
  c.export.batch_size = 1  # the exported batch (shapes are static)
  return c
