"""Reads the tensors of a `torch.save(state_dict)` file with pickle, zipfile and NumPy: no torch.

Files come in two layouts.
- Zip (torch >= 1.6): `<name>/data.pkl` pickles the dict, each tensor storage is the record
  `<name>/data/<key>`, and `<name>/byteorder` names the storages' byte order (little if absent).
- Legacy (older torch, or `_use_new_zipfile_serialization=False`): pickles one after another, a
  magic number, the format version 1001, system info (byte order), the dict, the list of storage
  keys; then each storage, in that list's order, as an int64 element count and its raw bytes.

In both, a tensor pickles as `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`,
the storage as a persistent id ('storage', torch.<Type>Storage, key, location, numel[, view]).
Offsets and strides count elements, so views and non-contiguous tensors come back as copies.

Unpickling calls whatever the file names, so the unpickler here resolves only the few names a state
dict needs and refuses any other.
"""

import collections
import io
import os
import pickle
import zipfile
from typing import NamedTuple

import numpy as np

from gan_jax import errors

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_VERSION = 1001

STORAGE_DTYPES = {
  "FloatStorage": np.float32,
  "DoubleStorage": np.float64,
  "HalfStorage": np.float16,
  "LongStorage": np.int64,
  "IntStorage": np.int32,
  "ShortStorage": np.int16,
  "CharStorage": np.int8,
  "ByteStorage": np.uint8,
  "BoolStorage": np.bool_,
}


class TorchFileError(errors.UserError, ValueError):
  """A file that is missing, not a PyTorch state dict, or holds what this reader cannot read."""


class _Storage(NamedTuple):
  key: str
  dtype: np.dtype
  offset: int = 0  # elements into the root storage (legacy views of a storage)


class _Tensor(NamedTuple):
  storage: _Storage
  offset: int
  shape: tuple
  strides: tuple


def _rebuild_tensor(storage, storage_offset, size, stride, *_):
  """Stands in for torch._utils._rebuild_tensor[_v2]; the rest (requires_grad, hooks) is unused."""
  return _Tensor(storage, storage_offset, tuple(size), tuple(stride))


def _rebuild_parameter(data, *_):
  return data


_ALLOWED = {
  ("collections", "OrderedDict"): collections.OrderedDict,
  ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
  ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
  ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
  ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
}


class _Unpickler(pickle.Unpickler):
  """Resolves only `_ALLOWED` and torch storage types (to NumPy dtypes); records the storages."""

  def __init__(self, file, path: str):
    super().__init__(file)
    self.path = path
    self.storages: dict[str, np.dtype] = {}

  def find_class(self, module, name):
    if (module, name) in _ALLOWED:
      return _ALLOWED[module, name]
    if module == "torch" and name.endswith("Storage"):
      if name in STORAGE_DTYPES:
        return np.dtype(STORAGE_DTYPES[name])
      supported = ", ".join(np.dtype(t).name for t in STORAGE_DTYPES.values())
      raise TorchFileError(
        f"{self.path}: unsupported tensor dtype {name.removesuffix('Storage')} "
        f"(supported: {supported})"
      )
    raise TorchFileError(
      f"{self.path}: refusing to unpickle {module}.{name}: only a state dict of tensors is read"
    )

  def persistent_load(self, pid):
    if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
      raise TorchFileError(f"{self.path}: unknown persistent id {pid!r:.80}")
    dtype, key = pid[1], str(pid[2])
    if not isinstance(dtype, np.dtype):
      raise TorchFileError(f"{self.path}: storage {key} has no tensor type")
    self.storages[key] = dtype
    view = pid[5] if len(pid) > 5 else None
    if view is not None:  # legacy: (view key, offset into this storage, view size)
      return _Storage(key, dtype, int(view[1]))
    return _Storage(key, dtype)


def _unpickle(file, path: str):
  """One pickle from `file` (left just after it) and the storages it refers to."""
  unpickler = _Unpickler(file, path)
  try:
    return unpickler.load(), unpickler.storages
  except TorchFileError:
    raise
  except Exception as e:
    raise TorchFileError(f"{path}: not a PyTorch file ({type(e).__name__}: {e})") from e


def _array(path: str, name: str, tensor: _Tensor, buffers: dict, byteorder: str) -> np.ndarray:
  storage = tensor.storage
  dtype = storage.dtype.newbyteorder("<" if byteorder == "little" else ">")
  flat = np.frombuffer(buffers[storage.key], dtype=dtype)
  start = storage.offset + tensor.offset
  if len(tensor.shape) != len(tensor.strides) or start < 0 or min(tensor.strides, default=0) < 0:
    raise TorchFileError(f"{path}: tensor {name} has a bad layout")
  if 0 in tensor.shape:
    return np.zeros(tensor.shape, storage.dtype)
  last = start + sum((n - 1) * s for n, s in zip(tensor.shape, tensor.strides, strict=True))
  if last >= flat.size:
    raise TorchFileError(f"{path}: tensor {name} reads past the end of its storage")
  view = np.lib.stride_tricks.as_strided(
    flat[start:], tensor.shape, [s * dtype.itemsize for s in tensor.strides], writeable=False
  )
  return np.array(view, dtype=storage.dtype, order="C")  # a copy, in native byte order


def _state_dict(path: str, obj, buffers: dict, byteorder: str) -> dict[str, np.ndarray]:
  if not isinstance(obj, dict):
    raise TorchFileError(f"{path}: holds a {type(obj).__name__}, not a state dict of tensors")
  arrays = {}
  for name, value in obj.items():
    if not isinstance(value, _Tensor):
      raise TorchFileError(f"{path}: {name!r} is a {type(value).__name__}, not a tensor")
    arrays[str(name)] = _array(path, name, value, buffers, byteorder)
  return arrays


def _load_zip(path: str) -> dict[str, np.ndarray]:
  with zipfile.ZipFile(path) as archive:
    pickles = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith("/data.pkl")]
    if len(pickles) != 1:
      raise TorchFileError(f"{path}: a zip archive, but not a PyTorch file (no <name>/data.pkl)")
    prefix = pickles[0].removesuffix("data.pkl")
    obj, storages = _unpickle(io.BytesIO(archive.read(pickles[0])), path)
    names = set(archive.namelist())
    byteorder = "little"
    if prefix + "byteorder" in names:
      byteorder = archive.read(prefix + "byteorder").decode().strip()
    buffers = {}
    for key in storages:
      record = f"{prefix}data/{key}"
      if record not in names:
        raise TorchFileError(f"{path}: storage record {record} is missing")
      buffers[key] = archive.read(record)
  return _state_dict(path, obj, buffers, byteorder)


def _load_legacy(path: str) -> dict[str, np.ndarray]:
  with open(path, "rb") as f:
    magic, _ = _unpickle(f, path)
    if magic != LEGACY_MAGIC:
      raise TorchFileError(f"{path}: not a PyTorch file (no zip archive, no legacy magic number)")
    version, _ = _unpickle(f, path)
    if version != LEGACY_VERSION:
      raise TorchFileError(f"{path}: legacy PyTorch format version {version}, expected 1001")
    sys_info, _ = _unpickle(f, path)
    if not isinstance(sys_info, dict):
      raise TorchFileError(f"{path}: not a PyTorch file (no system info after the magic number)")
    byteorder = "little" if sys_info.get("little_endian", True) else "big"
    obj, storages = _unpickle(f, path)
    keys, _ = _unpickle(f, path)
    buffers = {}
    for key in map(str, keys):
      if key not in storages:
        raise TorchFileError(f"{path}: storage {key} is listed but no tensor uses it")
      size = int.from_bytes(f.read(8), byteorder) * storages[key].itemsize
      buffers[key] = f.read(size)
      if len(buffers[key]) != size:
        raise TorchFileError(f"{path}: truncated in storage {key}")
  missing = set(storages) - set(buffers)
  if missing:
    raise TorchFileError(f"{path}: storage {sorted(missing)[0]} has no data")
  return _state_dict(path, obj, buffers, byteorder)


def load(path: str | os.PathLike) -> dict[str, np.ndarray]:
  """The tensors of a `torch.save(state_dict)` file, either layout, as NumPy arrays.

  Args:
    path: the file.

  Returns:
    {key: array} in the file's order; arrays are C-contiguous, in native byte order.

  Raises:
    TorchFileError: the file is missing, is not a PyTorch state dict, names a Python object outside
      a state dict's few, or holds a dtype NumPy lacks (bfloat16, complex, quantized).
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise TorchFileError(f"{path}: no such file")
  if zipfile.is_zipfile(path):
    return _load_zip(path)
  with open(path, "rb") as f:
    head = f.read(2)
  if head[:1] != b"\x80":  # every torch pickle starts with the PROTO opcode
    raise TorchFileError(f"{path}: not a PyTorch file (neither a zip archive nor a pickle)")
  return _load_legacy(path)
