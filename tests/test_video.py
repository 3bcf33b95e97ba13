"""--mode=video's clip round trip (PyAV): frame count, size, frame rate and audio kept; frames go
through the translation in batches; the temporal smoothing."""

import fractions

import numpy as np
import pytest

from gan_jax import video
from gan_jax.errors import UserError

av = pytest.importorskip("av")

FPS = 12
FRAMES = 11  # not a multiple of the batch: the last batch is padded
HEIGHT, WIDTH = 32, 48


def _frame(t: int) -> np.ndarray:
  """Smooth gradients that move with t (lossy codecs keep them close)."""
  y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
  r = 128 + 100 * np.sin((x + 2 * t) / 8)
  g = 128 + 100 * np.cos((y + t) / 6)
  b = np.full_like(r, 60.0 + 10 * t)
  return np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8)


def _write_clip(path, audio: bool = True):
  with av.open(str(path), "w") as out:
    stream = out.add_stream("libx264", rate=FPS)
    stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    stream.options = {"crf": "0"}  # lossless: the input frames are known exactly
    if audio:
      sound = out.add_stream("aac", rate=16000)
      sound.layout = "mono"
      tone = (0.3 * np.sin(np.arange(16000 * FRAMES // FPS) * 0.1)).astype(np.float32)
      frame = av.AudioFrame.from_ndarray(tone[None], format="fltp", layout="mono")
      frame.sample_rate = 16000
      frame.pts = 0
      frame.time_base = fractions.Fraction(1, 16000)
      for packet in sound.encode(frame):
        out.mux(packet)
      for packet in sound.encode():
        out.mux(packet)
    for t in range(FRAMES):
      for packet in stream.encode(av.VideoFrame.from_ndarray(_frame(t), format="rgb24")):
        out.mux(packet)
    for packet in stream.encode():
      out.mux(packet)


def _read(path):
  with av.open(str(path)) as clip:
    stream = clip.streams.video[0]
    frames = [f.to_ndarray(format="rgb24") for f in clip.decode(stream)]
    return frames, stream.average_rate, len(clip.streams.audio)


def test_a_clip_round_trips_through_the_translation(tmp_path):
  source, target = tmp_path / "in.mp4", tmp_path / "out.mp4"
  _write_clip(source)
  batches = []

  def invert(x):  # uint8 [B, H, W, 3] -> the negative in [-1, 1]
    batches.append(x.shape)
    return 1.0 - x.astype(np.float32) / 127.5

  report = video.translate_clip(source, target, invert, batch_size=4, multiple=4)
  assert report["frames"] == FRAMES and report["fps"] == FPS and report["frames_per_sec"] > 0
  assert batches == [(4, HEIGHT, WIDTH, 3)] * 3  # 11 frames: the last batch padded to 4
  frames, rate, audio_streams = _read(target)
  assert len(frames) == FRAMES and rate == FPS and audio_streams == 1
  assert frames[0].shape == (HEIGHT, WIDTH, 3)
  for t in (0, 5, FRAMES - 1):  # lossy yuv420p: close, not equal
    error = np.abs(frames[t].astype(int) - (255 - _frame(t).astype(int)))
    assert np.mean(error) < 8, (t, np.mean(error))


def test_temporal_smoothing_blends_each_frame_with_the_previous_output():
  frames = [np.full((1, 1, 3), v, np.float32) for v in (0.0, 100.0, 100.0)]
  out = [f[0, 0, 0] for f in video.temporal_smoothing(frames, 0.5)]
  assert out == [0.0, 50.0, 75.0]
  assert [f[0, 0, 0] for f in video.temporal_smoothing(frames, 0.0)] == [0.0, 100.0, 100.0]


def test_bad_arguments_are_named(tmp_path):
  source = tmp_path / "in.mp4"
  _write_clip(source, audio=False)
  ident = lambda x: x / 127.5 - 1
  with pytest.raises(UserError, match="--output"):
    video.translate_clip(source, tmp_path / "out.gif", ident, 2)
  with pytest.raises(UserError, match="smoothing"):
    video.translate_clip(source, tmp_path / "out.mp4", ident, 2, smoothing=1.0)
  (tmp_path / "junk.mp4").write_bytes(b"not a video")
  with pytest.raises(UserError, match="junk.mp4"):
    video.translate_clip(tmp_path / "junk.mp4", tmp_path / "out.mp4", ident, 2)


def test_frames_are_padded_to_the_stride_multiple_and_cropped_back(tmp_path):
  source, target = tmp_path / "in.mp4", tmp_path / "out.avi"
  _write_clip(source, audio=False)
  shapes = []

  def ident(x):
    shapes.append(x.shape)
    return x / 127.5 - 1

  report = video.translate_clip(source, target, ident, batch_size=8, multiple=5)
  assert set(shapes) == {(8, 35, 50, 3)} and report["frames"] == FRAMES
  frames, rate, audio = _read(target)
  assert frames[0].shape == (HEIGHT, WIDTH, 3) and len(frames) == FRAMES and audio == 0
