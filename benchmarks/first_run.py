"""What a new user waits for: the README's first command, timed from the moment it starts.

  python benchmarks/first_run.py [--config=configs/dcgan.py:cpu] [--interrupt_after=60]

Runs `python -m gan_jax.main --config=CONFIG --workdir=<fresh>` with a fresh TFDS data dir (so
the embedded data is built, as on a fresh machine) and prints one JSON line: seconds to the first
progress line, to the first sample grid, and, with --interrupt_after=S, how long the run took to
exit after a Ctrl-C sent S seconds in (and the step it saved). --log=FILE keeps the output with
each line's time since start; --keep=DIR keeps the run.
"""

import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from absl import app, flags

ROOT = pathlib.Path(__file__).resolve().parent.parent
flags.DEFINE_string("config", "configs/dcgan.py:cpu", "Config file with preset.")
flags.DEFINE_float("interrupt_after", 0, "Send Ctrl-C (SIGINT) this many seconds in; 0 = never.")
flags.DEFINE_float("timeout", 3600, "Give up after this many seconds.")
flags.DEFINE_string("log", "", "Write the run's output here, each line with its time.")
flags.DEFINE_string("keep", "", "Copy the run's folder (samples, checkpoints) here at the end.")
FLAGS = flags.FLAGS


def first_run(
  config: str, interrupt_after: float, timeout: float, log_file: str = "", keep: str = ""
) -> dict:
  with tempfile.TemporaryDirectory() as scratch:
    workdir, data_dir = pathlib.Path(scratch) / "run", pathlib.Path(scratch) / "tfds"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TFDS_DATA_DIR": str(data_dir)}
    start = time.perf_counter()
    proc = subprocess.Popen(
      [sys.executable, "-m", "gan_jax.main", f"--config={config}", f"--workdir={workdir}"],
      cwd=ROOT,
      env=env,
      stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT,
      text=True,
    )
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    sent = None
    if interrupt_after:

      def interrupt():
        nonlocal sent
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)

      threading.Timer(interrupt_after, interrupt).start()
    result, lines = {"config": config}, []
    for line in proc.stdout:
      now = time.perf_counter() - start
      lines.append(f"{now:8.2f} {line}")
      if "first_progress_s" not in result and re.search(r"\] step \d+/\d+ \|", line):
        result["first_progress_s"] = round(now, 1)
      if "first_grid_s" not in result and "sample grid" in line:
        result["first_grid_s"] = round(now, 1)
      if "compiled the train step" in line:
        result["compiled_s"] = round(now, 1)
      if m := re.search(r"stopped at step (\d+)", line):
        result["saved_step"] = int(m[1])
    result["exit_code"] = proc.wait()
    timer.cancel()
    result["total_s"] = round(time.perf_counter() - start, 1)
    if sent is not None:
      result["exit_after_ctrl_c_s"] = round(time.perf_counter() - sent, 1)
    if log_file:
      pathlib.Path(log_file).write_text("".join(lines))
    if keep:
      shutil.copytree(workdir, keep, dirs_exist_ok=True)
  return result


def main(argv):
  del argv
  result = first_run(FLAGS.config, FLAGS.interrupt_after, FLAGS.timeout, FLAGS.log, FLAGS.keep)
  print(json.dumps(result))


if __name__ == "__main__":
  app.run(main)
