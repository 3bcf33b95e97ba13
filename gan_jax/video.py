"""--mode=video: a translation family's newest checkpoint over every frame of a clip.

  python -m gan_jax.main --config=configs/animegan.py:cpu --workdir=DIR --mode=video \
      --input=clip.mp4 --output=anime.mp4 [--video_smoothing=0.5] [--direction=AtoB]

Frames are decoded and encoded with PyAV (the `av` package; its wheels bundle FFmpeg), translated in
batches of config.eval.batch_size (the last one padded, so one compiled program serves the clip),
each frame reflect-padded to the generator's stride multiple and cropped back. The output keeps the
clip's frame rate and size, and its audio streams are copied packet for packet (not re-encoded).
`smoothing` a in [0, 1) blends each output frame with the previous blended one,
out_t = (1 - a) y_t + a out_{t-1}, a simple temporal filter against flicker (0: off).
The log reports frames per second.

Also here: `write_clip`, which encodes frames made here, and `transform_clip`, StyleGAN3's
--mode=sample clip of seeds as the generator's input transform translates or rotates
(config.sample.video).
"""

import fractions
import functools
import pathlib
import time

import jax
import numpy as np
from absl import logging

from gan_jax import quantize, run, samples
from gan_jax.errors import UserError
from gan_jax.families import common

DIRECTIONS = ("AtoB", "BtoA")

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm")
# Output codec by extension (FFmpeg encoder names in PyAV's wheels); pixel format yuv420p.
CODECS = {".mp4": "libx264", ".mov": "libx264", ".mkv": "libx264", ".avi": "mpeg4"}


def _av(what: str = "--mode=video"):
  try:
    import av  # noqa: PLC0415 - optional: only the clips need it
  except ImportError:
    raise UserError(f"{what} needs PyAV: pip install av (see requirements-video.txt)") from None
  return av


def _pad_to_multiple(image: np.ndarray, multiple: int) -> np.ndarray:
  """Reflect-pads the bottom and right of [H, W, 3] up to multiples of `multiple`."""
  ph, pw = -image.shape[0] % multiple, -image.shape[1] % multiple
  if not ph and not pw:
    return image
  return np.pad(
    image, ((0, ph), (0, pw), (0, 0)), mode="reflect" if min(image.shape[:2]) > 1 else "edge"
  )


def temporal_smoothing(frames, amount: float):
  """Yields out_t = (1 - amount) * frame_t + amount * out_{t-1} (float arrays, in order)."""
  previous = None
  for frame in frames:
    frame = np.asarray(frame, np.float32)
    previous = frame if previous is None else (1 - amount) * frame + amount * previous
    yield previous


def _batches(frames, size: int):
  batch = []
  for frame in frames:
    batch.append(frame)
    if len(batch) == size:
      yield batch
      batch = []
  if batch:
    yield batch


def _check_paths(input_path, output_path, smoothing: float):
  """(source, destination) paths, or a UserError naming what is wrong with them."""
  source, destination = pathlib.Path(input_path), pathlib.Path(output_path)
  if not source.is_file():
    raise UserError(f"--input {source} is not a file")
  if destination.suffix.lower() not in CODECS:
    raise UserError(f"--output {destination}: give one of {', '.join(CODECS)}")
  if destination.exists() and destination.resolve() == source.resolve():
    raise UserError(f"--output {destination} is the input clip; choose another file")
  if not 0.0 <= smoothing < 1.0:
    raise UserError(f"--video_smoothing must be in [0, 1), got {smoothing}")
  return source, destination


def translate_clip(
  input_path,
  output_path,
  translate_batch,
  batch_size: int,
  multiple: int = 1,
  smoothing: float = 0.0,
) -> dict:
  """Writes `output_path`: the clip at `input_path` with every frame through `translate_batch`.

  Args:
    translate_batch: uint8 [B, H, W, 3] -> float [B, H, W, 3] in [-1, 1] (B always batch_size).
    multiple: frames are reflect-padded to multiples of this and cropped back.
    smoothing: the temporal blend (see the module docstring); 0 = off.

  Returns:
    {'frames', 'fps' (the clip's, a float), 'seconds', 'frames_per_sec', 'width', 'height'}.
  """
  av = _av()
  source, destination = _check_paths(input_path, output_path, smoothing)
  try:
    reader = av.open(str(source))
  except av.error.FFmpegError as e:
    raise UserError(f"--input {source}: not a readable video ({e})") from None
  with reader:
    if not reader.streams.video:
      raise UserError(f"--input {source} has no video stream")
    video = reader.streams.video[0]
    rate = video.average_rate or video.guessed_rate
    width, height = video.codec_context.width, video.codec_context.height
    destination.parent.mkdir(parents=True, exist_ok=True)
    start, count = time.perf_counter(), 0
    with av.open(str(destination), "w") as writer:
      out = writer.add_stream(CODECS[destination.suffix.lower()], rate=rate)
      out.width, out.height = width + width % 2, height + height % 2  # yuv420p: even sides
      out.pix_fmt = "yuv420p"
      audio = {s.index: writer.add_stream_from_template(s) for s in reader.streams.audio}

      def frames():
        for packet in reader.demux(video, *reader.streams.audio):
          if packet.stream.index in audio:
            if packet.dts is not None:
              packet.stream = audio[packet.stream.index]
              writer.mux(packet)
            continue
          for frame in packet.decode():
            yield frame.to_ndarray(format="rgb24")

      def translated():
        for batch in _batches(frames(), batch_size):
          n = len(batch)
          x = np.stack([_pad_to_multiple(f, multiple) for f in batch])
          x = np.concatenate([x, np.repeat(x[-1:], batch_size - n, 0)]) if n < batch_size else x
          y = np.asarray(translate_batch(x))[:n, :height, :width]
          yield from ((y_i + 1) * 127.5 for y_i in y)

      for image in temporal_smoothing(translated(), smoothing):
        image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
        if image.shape[:2] != (out.height, out.width):
          image = np.pad(image, ((0, out.height - height), (0, out.width - width), (0, 0)), "edge")
        for packet in out.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
          writer.mux(packet)
        count += 1
      for packet in out.encode():
        writer.mux(packet)
  seconds = time.perf_counter() - start
  return {
    "frames": count,
    "fps": float(rate),
    "seconds": round(seconds, 2),
    "frames_per_sec": round(count / max(seconds, 1e-9), 2),
    "width": width,
    "height": height,
  }


def write_clip(path, frames, fps: int, what: str = "--mode=video") -> dict:
  """Writes the uint8 [H, W, 3] `frames` (all of one size) to `path` (a CODECS extension) at `fps`
  frames per second, yuv420p (odd sides padded by one edge pixel). Returns {'frames', 'width',
  'height', 'fps'}."""
  av = _av(what)
  path = pathlib.Path(path)
  if path.suffix.lower() not in CODECS:
    raise UserError(f"{path}: give one of {', '.join(CODECS)}")
  path.parent.mkdir(parents=True, exist_ok=True)
  count, out = 0, None
  with av.open(str(path), "w") as writer:
    for image in frames:
      if out is None:
        height, width = image.shape[:2]
        rate = fractions.Fraction(fps).limit_denominator(1001)
        out = writer.add_stream(CODECS[path.suffix.lower()], rate=rate)
        out.width, out.height, out.pix_fmt = width + width % 2, height + height % 2, "yuv420p"
      pad = ((0, out.height - height), (0, out.width - width), (0, 0))
      frame = av.VideoFrame.from_ndarray(np.pad(image, pad, "edge"), format="rgb24")
      for packet in out.encode(frame):
        writer.mux(packet)
      count += 1
    if out is not None:
      for packet in out.encode():
        writer.mux(packet)
  return {"frames": count, "width": width, "height": height, "fps": fps} if count else {}


def transform_path(kind: str, frames: int, shift: float) -> np.ndarray:
  """One loop of input transforms, [frames, 3, 3] float32: the inverses of the image transforms
  [[cos a, sin a, tx], [-sin a, cos a, ty], [0, 0, 1]] (gen_images.py's make_transform), for a
  from 0 through a full turn ('rotate'), or t = shift x (cos a - 1, sin a), a circle of radius
  `shift` image widths that starts and ends untransformed ('translate')."""
  out = []
  for a in 2 * np.pi * np.arange(frames) / frames:
    if kind == "rotate":
      angle, tx, ty = a, 0.0, 0.0
    else:
      angle, tx, ty = 0.0, shift * (np.cos(a) - 1), shift * np.sin(a)
    c, s = np.cos(angle), np.sin(angle)
    out.append(np.linalg.inv(np.array([[c, s, tx], [-s, c, ty], [0, 0, 1]])))
  return np.stack(out).astype(np.float32)


def transform_clip(config, family, state, latents, path, write: bool = True) -> dict:
  """Writes `path`: a frame per transform_path(config.sample.video, ...) step, each the grid of
  the latents' images (the deployed G at config.sample.truncation_psi, Family.equivariance) with
  that input transform, at config.sample.video_fps. write=False: computes the frames only (a
  process other than the lead). Returns write_clip's report."""
  sample = config.sample
  psi = sample.get("truncation_psi", 1.0)
  synthesize = jax.jit(functools.partial(family.equivariance, config, truncation_psi=psi))
  transforms = transform_path(sample.video, sample.video_frames, sample.video_shift)
  frames = (
    samples.tile(samples.as_grid(np.clip(np.asarray(synthesize(state, latents, t)), -1, 1)))
    for t in transforms
  )
  if not write:
    for _ in frames:
      pass
    return {}
  return write_clip(path, frames, sample.video_fps, "config.sample.video")


def translate_video(
  config,
  workdir,
  input_path: str,
  output_path: str,
  direction: str = "",
  smoothing: float = 0.0,
  step: int | None = None,
) -> dict:
  """--mode=video: the newest checkpoint in `workdir` (or the one of `step`) over the clip;
  returns translate_clip's report (also logged)."""
  if not input_path or not output_path:
    raise UserError("--mode=video needs --input=CLIP and --output=CLIP")
  if direction and direction not in DIRECTIONS:
    raise UserError(f"unknown --direction {direction!r}; choices: {', '.join(DIRECTIONS)}")
  _av()
  _check_paths(input_path, output_path, smoothing)  # before anything is restored
  family = run.validate(config)
  if not family.translates:
    raise UserError(
      f"config.family={config.family!r} does not translate images; --mode=video "
      "needs a translation family"
    )
  offered = family.directions(config)
  if direction and direction not in offered:
    raise UserError(f"{config.family} translates only {', '.join(offered)}")
  _, state, step = run.restore_newest(config, pathlib.Path(workdir), step)
  state = quantize.apply(config, state)
  rng = jax.random.fold_in(jax.random.key(config.seed), 0x7A5)
  direction = direction or offered[0]
  translate = jax.jit(
    lambda state, x: family.translate(config, state, common.to_float_images(x), rng, direction)
  )
  report = translate_clip(
    input_path,
    output_path,
    lambda x: translate(state, x),
    config.eval.batch_size,
    family.stride_multiple(config),
    smoothing,
  )
  logging.info(
    "translated %d frames (%.2f fps clip) with the step-%d checkpoint into %s: %.2f frames/s",
    report["frames"],
    report["fps"],
    step,
    output_path,
    report["frames_per_sec"],
  )
  return report
