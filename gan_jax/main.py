"""Command-line entry point: train; sample, translate with or evaluate a trained run.

  python -m gan_jax.main --config=configs/dcgan.py[:preset] --workdir=DIR \
      [--mode=train|sample|translate|eval|export|project|video] [--config.<key>=<value> ...]
  ... --mode=translate --input=PATH --output=PATH [--direction=AtoB|BtoA]
  ... --mode=export --format=onnx [--output=FILE.onnx] [--config.export.quantize=int8|bf16]
  ... --mode=project --target=IMAGE [--output=DIR] [--config.project.vgg16_weights=FILE]
  ... --mode=video --input=CLIP --output=CLIP [--video_smoothing=0.5] [--direction=AtoB|BtoA]

Running the same command again in the same workdir resumes from the newest checkpoint.
Multi-process: `--multihost` on Cloud TPU pods, Slurm or Open MPI (JAX finds its peers), or
`--coordinator_address` with `--num_processes` and `--process_id` elsewhere (see launch/).
"""

import pathlib
import sys

from absl import app, flags, logging

from gan_jax import backend, logs
from gan_jax import config as config_lib
from gan_jax.errors import NonFiniteLossError, UserError

MODES = ("train", "sample", "translate", "eval", "export", "project", "video")
CONFIGS = pathlib.Path(__file__).resolve().parent.parent / "configs"

flags.DEFINE_string(
  "config",
  None,
  "Config file, optionally with a preset: configs/dcgan.py:tiny. Train needs it; the other modes "
  "read the run's own DIR/config.json.",
)
flags.DEFINE_string("workdir", None, "Folder for checkpoints, samples, logs and config.json.")
flags.DEFINE_enum("mode", "train", MODES, "What to do with the config and workdir.")
flags.DEFINE_bool(
  "allow_config_change",
  False,
  "Resume a run with a config that differs from its config.json in more than run length, "
  "logging, saving and scoring keys (the change is recorded in config_history.jsonl).",
)
flags.DEFINE_string(
  "input", "", "--mode=translate: an image or a folder of images; --mode=video: a clip."
)
flags.DEFINE_integer(
  "step",
  None,
  "The modes other than train: use the checkpoint saved at this step (default: the newest).",
  lower_bound=0,
)
flags.DEFINE_string("target", "", "--mode=project: the image to find a w for.")
flags.DEFINE_string(
  "output",
  "",
  "--mode=translate: the output image or folder (never the input); --mode=export: the file "
  "(default DIR/export/<family>_..._<quantize>.onnx); --mode=project: the folder (default "
  "DIR/projections/<target>_seed<seed>_step<step>).",
)
flags.DEFINE_string(
  "direction", "", "--mode=translate and export: AtoB or BtoA (default: the trained one)."
)
flags.DEFINE_enum("format", "onnx", ("onnx",), "--mode=export: the file format.")
flags.DEFINE_float(
  "video_smoothing",
  0.0,
  "--mode=video: blend each output frame with the previous one by this much, in [0, 1) (0: off).",
)
flags.DEFINE_bool(
  "multihost",
  False,
  "Join a multi-process run whose peers JAX detects (Cloud TPU pod, Slurm, Open MPI).",
)
flags.DEFINE_string(
  "coordinator_address",
  "",
  "host:port of process 0, for a multi-process run without a cluster JAX detects.",
)
flags.DEFINE_integer("num_processes", 0, "Processes in the run, with --coordinator_address.")
flags.DEFINE_integer("process_id", -1, "This process's index, with --coordinator_address.")
FLAGS = flags.FLAGS
HELP_FLAGS = ("-h", "--help", "-help", "--helpshort", "--helpfull", "-?")


def _load(overrides):
  """The config of this command: the --config file for train; the run's own config.json (with
  the overrides) for the other modes. Returns (config, lines for the log)."""
  if not FLAGS.workdir:
    raise UserError("--workdir is required: the run's folder (see --help)")
  if FLAGS.mode == "train":
    if FLAGS.step is not None:
      raise UserError(
        "--step is for the modes that read a trained run; train resumes from the newest checkpoint"
      )
    if not FLAGS.config:
      raise UserError("--config is required to train, e.g. --config=configs/dcgan.py:cpu")
    return config_lib.load_config(FLAGS.config, overrides), []
  return config_lib.load_run_config(FLAGS.workdir, FLAGS.config, overrides)


def main(argv, overrides=()):
  if len(argv) > 1:
    _fail(UserError(f"unexpected arguments: {' '.join(argv[1:])} (see --help)"), exit_code=2)
  try:
    config, notes = _load(overrides)
    logs.setup()
    for note in notes:
      logging.info("%s", note)
    backend.setup()
    from gan_jax import parallel  # noqa: PLC0415 - imports JAX

    parallel.initialize_distributed(
      FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id, FLAGS.multihost
    )
    # Each mode is its own module; only the one asked for is imported.
    if FLAGS.mode == "train":
      from gan_jax import train  # noqa: PLC0415

      train.train_and_evaluate(config, FLAGS.workdir, FLAGS.allow_config_change)
    elif FLAGS.mode == "sample":
      from gan_jax import sample  # noqa: PLC0415

      sample.sample(config, FLAGS.workdir, FLAGS.step)
    elif FLAGS.mode == "translate":
      from gan_jax import translate  # noqa: PLC0415

      translate.translate_path(
        config, FLAGS.workdir, FLAGS.input, FLAGS.output, FLAGS.direction, FLAGS.step
      )
    elif FLAGS.mode == "export":
      from gan_jax import export  # noqa: PLC0415

      export.export(config, FLAGS.workdir, FLAGS.format, FLAGS.output, FLAGS.direction, FLAGS.step)
    elif FLAGS.mode == "project":
      from gan_jax import project  # noqa: PLC0415

      project.project_mode(config, FLAGS.workdir, FLAGS.target, FLAGS.output, FLAGS.step)
    elif FLAGS.mode == "video":
      from gan_jax import video  # noqa: PLC0415

      video.translate_video(
        config,
        FLAGS.workdir,
        FLAGS.input,
        FLAGS.output,
        FLAGS.direction,
        FLAGS.video_smoothing,
        FLAGS.step,
      )
    else:
      from gan_jax import evaluate  # noqa: PLC0415

      evaluate.evaluate(config, FLAGS.workdir, FLAGS.step)
  except UserError as e:
    _fail(e, exit_code=2)
  except NonFiniteLossError as e:
    _fail(e, exit_code=1)
  except KeyboardInterrupt:
    _fail("interrupted: nothing was saved after the newest checkpoint", exit_code=130)


def _fail(error, exit_code: int):
  """One line on stderr, no traceback: the message names the bad thing."""
  sys.stderr.flush()
  print(f"error: {error}", file=sys.stderr, flush=True)
  sys.exit(exit_code)


def help_text() -> str:
  """--help: the families and their presets, the modes with an example each, then the flags."""
  rows = []
  for file in sorted(CONFIGS.glob("*.py")):
    try:
      presets = ", ".join(getattr(config_lib.import_config_file(file), "PRESETS", ("default",)))
    except UserError as e:
      presets = f"(cannot load: {e})"
    rows.append(f"  configs/{file.name:<14} presets: {presets}")
  run = "python -m gan_jax.main"
  return "\n".join(
    [
      f"usage: {run} --config=configs/<family>.py[:preset] --workdir=DIR "
      "[--mode=train|sample|translate|eval|export|project|video] [--config.<key>=<value> ...]",
      "",
      "Families (one config file each; the preset follows a colon, 'default' when none):",
      *rows,
      "",
      "Modes:",
      f"  train      {run} --config=configs/dcgan.py:cpu --workdir=runs/dcgan",
      "             (again with the same command to resume)",
      f"  sample     {run} --workdir=runs/dcgan --mode=sample",
      f"  translate  {run} --workdir=runs/p2p --mode=translate --input=photo.jpg "
      "--output=out.png [--direction=BtoA]",
      f"  eval       {run} --workdir=runs/dcgan --mode=eval [--step=N] "
      "[--config.eval.inception_weights=FILE]",
      f"  export     {run} --workdir=runs/p2p --mode=export --format=onnx [--output=g.onnx] "
      "[--config.export.quantize=int8|bf16]",
      f"  project    {run} --workdir=runs/sg2 --mode=project --target=photo.png "
      "[--config.project.vgg16_weights=FILE]",
      f"  video      {run} --workdir=runs/anime --mode=video --input=clip.mp4 "
      "--output=anime.mp4 [--video_smoothing=0.5]",
      "The modes other than train read the run's own DIR/config.json and its newest checkpoint "
      "(--step=N: the one of step N); --config.<key>=<value> changes one key.",
      "",
      "Flags:",
      # absl heads them with the module's name, a line of its own
      *(line for line in FLAGS.module_help(sys.modules[__name__]).splitlines() if line[:1] == " "),
    ]
  )


def run():
  argv, overrides = config_lib.split_overrides(sys.argv)
  if any(arg in HELP_FLAGS for arg in argv[1:]):
    print(help_text())
    sys.exit(0)
  try:
    FLAGS(argv)  # a bad flag is one line here, not absl's two
  except flags.Error as e:
    print(f"error: {e} (see --help)", file=sys.stderr)
    sys.exit(2)
  app.run(lambda a: main(a, overrides), argv=argv)


if __name__ == "__main__":
  run()
