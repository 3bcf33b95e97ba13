"""FID Inception features over the mesh, with real-image features cached on disk."""

import hashlib
import os
import pathlib

import jax
import numpy as np

from gan_jax import backend, parallel

DEFAULT_FEATURE_CACHE = backend.DEFAULT_CACHE_DIR.parent / "inception_features"


def run_batched(fn, images: np.ndarray, batch_size: int) -> np.ndarray:
  """fn over `images` in fixed-size batches (the last one padded), so fn compiles once."""
  outputs = []
  for start in range(0, len(images), batch_size):
    chunk = images[start : start + batch_size]
    pad = batch_size - len(chunk)
    if pad:
      chunk = np.concatenate([chunk, np.repeat(chunk[-1:], pad, axis=0)])
    outputs.append(np.asarray(fn(chunk))[: batch_size - pad])
  return np.concatenate(outputs)


class InceptionFeatures:
  """The FID Inception over the mesh: 2048-d features of uint8 images; real sets cached on disk,
  keyed by the weights file and the images' bytes (so a changed dataset is never served stale)."""

  def __init__(self, config, mesh):
    from gan_jax.metrics import inception  # noqa: PLC0415 - only where FID/KID run

    path = pathlib.Path(config.eval.inception_weights).expanduser()
    self._params = jax.device_put(inception.load_params(path), parallel.replicated(mesh))
    self._weights = hashlib.sha256(path.read_bytes()).digest()
    self._cache = pathlib.Path(config.eval.feature_cache or DEFAULT_FEATURE_CACHE).expanduser()
    devices = mesh.devices.size
    self._batch_size = -(-config.eval.batch_size // devices) * devices  # a multiple of devices
    self._sharding = parallel.batch_sharding(mesh)
    self._features = jax.jit(inception.features, out_shardings=parallel.replicated(mesh))

  def _run(self, chunk: np.ndarray):
    floats = chunk.astype(np.float32) / 255
    x = jax.make_array_from_callback(floats.shape, self._sharding, lambda index: floats[index])
    return self._features(self._params, x)

  def __call__(self, images: np.ndarray) -> np.ndarray:
    """uint8 [N, H, W, 3] -> float32 [N, 2048]."""
    return run_batched(self._run, images, self._batch_size)

  def cached(self, images: np.ndarray) -> np.ndarray:
    """As __call__, for the real images: read from or written to the feature cache."""
    key = hashlib.sha256(self._weights + str(images.shape).encode() + images.tobytes())
    file = self._cache / f"{key.hexdigest()[:32]}.npy"
    if file.is_file():
      return np.load(file)
    features = self(images)
    if parallel.is_lead_process():
      self._cache.mkdir(parents=True, exist_ok=True)
      partial = file.with_suffix(f".{os.getpid()}.tmp")
      with open(partial, "wb") as f:
        np.save(f, features)
      partial.replace(file)  # atomic: a reader never sees half a file
    return features
