"""The Flax FID Inception against pytorch-fid's own InceptionV3, and the torch-free file reader
against torch.save.

pytorch-fid builds its network in `fid_inception_v3()` and then downloads the weights; here that
download is replaced by the network's own (random) state dict, so the network compared is
pytorch-fid's, built by pytorch-fid. Its batch norms get random statistics, calibrated on a batch
first so that activations stay near unit scale through all 94 layers (with PyTorch's default
init and untouched statistics they would shrink towards zero and any port would "match").
"""

import collections
import json
import os
import pickle
import subprocess
import sys

import jax
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gan_jax.metrics import features, inception, torch_file
from tests import torch_reference
from tests.conftest import ROOT


def _randomise_batch_norms(net, seed=0):
  """Random scales and offsets, running statistics measured on a batch and jittered by 10%.

  Offsets spread as N(0, 2) keep this random net well conditioned: a channel is mostly on or mostly
  off, rather than near the kink of its ReLU for most pixels. With N(0, 0.5), float32 rounding
  (torch against torch in float64) alone moved features by ~1e-3.
  """
  torch.manual_seed(seed)
  batch_norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
  assert len(batch_norms) == 94
  upsampled, downsampled = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 300, 200)
  batch = torch.cat(
    [F.interpolate(x, (299, 299), mode="bilinear") for x in (upsampled, downsampled)]
  )
  with torch.no_grad():
    for bn in batch_norms:
      bn.weight.uniform_(0.8, 1.2)
      bn.bias.normal_(0.0, 2.0)
      bn.momentum = 1.0  # one training-mode batch sets the running statistics to its own
    net.train()
    net(batch)
    net.eval()
    for bn in batch_norms:
      n = bn.num_features
      bn.running_mean.add_(0.1 * bn.running_var.sqrt() * torch.empty(n).uniform_(-1, 1))
      bn.running_var.mul_(torch.empty(n).uniform_(0.9, 1.1))


@pytest.fixture(scope="module")
def torch_nets():
  torch.set_num_threads(2)
  net, inception3 = torch_reference.pytorch_fid_inception()
  _randomise_batch_norms(net)
  return net, inception3


@pytest.fixture(scope="module")
def torch_net(torch_nets):
  return torch_nets[0]


@pytest.fixture(scope="module")
def state_dict(torch_nets):
  """As in the FID weights file: the FID Inception's keys, its unused fc layer included."""
  state = torch_nets[1].state_dict()
  assert state["fc.weight"].shape == (1008, 2048)
  return state


@pytest.fixture(scope="module")
def weights(state_dict, tmp_path_factory):
  """{layout: path} of the state dict saved in both of torch.save's layouts."""
  folder = tmp_path_factory.mktemp("weights")
  paths = {"zip": folder / "zip.pth", "legacy": folder / "legacy.pth"}
  torch.save(state_dict, paths["zip"])
  torch.save(state_dict, paths["legacy"], _use_new_zipfile_serialization=False)
  return paths


@pytest.fixture(scope="module")
def params(weights):
  return inception.load_params(weights["zip"])


@pytest.fixture(scope="module")
def jit_features():
  return jax.jit(inception.features)


def _torch_features(net, images):
  with torch.no_grad():
    (out,) = net(torch.from_numpy(images.transpose(0, 3, 1, 2)))
  return out[:, :, 0, 0].numpy()


@pytest.mark.parametrize("height, width", [(64, 64), (300, 200)])
def test_features_match_pytorch_fid(torch_net, params, jit_features, height, width):
  images = np.random.default_rng(height).random((2, height, width, 3), dtype=np.float32)
  reference = _torch_features(torch_net, images)
  ours = np.asarray(jit_features(params, images))
  assert ours.shape == (2, inception.FEATURES) and ours.dtype == np.float32
  # Features of unit scale: the check means something (not every feature is a dead ReLU).
  assert 0.1 < np.abs(reference).mean() < 10 and (reference > 0).mean() > 0.3
  difference = np.abs(ours - reference).max()
  assert difference <= 1e-4, f"{height}x{width}: max |difference| {difference:.2e}"


def test_legacy_file_gives_the_same_params(weights, params):
  legacy = inception.load_params(weights["legacy"])
  jax.tree.map(np.testing.assert_array_equal, legacy, params)


@pytest.mark.parametrize(
  "shape, size",
  [((64, 64), (299, 299)), ((300, 200), (299, 299)), ((7, 5), (3, 11)), ((299, 299), (299, 299))],
)
def test_resize_matches_torch_interpolate(shape, size):
  images = np.random.default_rng(1).random((2, *shape, 3), dtype=np.float32)
  reference = F.interpolate(
    torch.from_numpy(images.transpose(0, 3, 1, 2)), size, mode="bilinear", align_corners=False
  )
  ours = np.asarray(jax.jit(inception.resize_bilinear, static_argnums=(1, 2))(images, *size))
  np.testing.assert_allclose(ours, reference.numpy().transpose(0, 2, 3, 1), rtol=0, atol=1e-6)


def test_features_reject_images_without_three_channels(params):
  with pytest.raises(ValueError, match=r"\[B, H, W, 3\]"):
    inception.features(params, np.zeros((1, 32, 32, 1), np.float32))


def test_load_params_names_a_missing_or_misshapen_weight(state_dict, tmp_path):
  missing = collections.OrderedDict(state_dict)
  del missing["Mixed_6c.branch7x7dbl_3.bn.running_var"]
  torch.save(missing, tmp_path / "missing.pth")
  with pytest.raises(torch_file.TorchFileError, match=r"missing\.pth: no Mixed_6c\.branch7x7dbl_3"):
    inception.load_params(tmp_path / "missing.pth")
  misshapen = collections.OrderedDict(state_dict)
  misshapen["Mixed_7c.branch_pool.conv.weight"] = torch.zeros(192, 2048, 3, 3)
  torch.save(misshapen, tmp_path / "misshapen.pth")
  with pytest.raises(
    torch_file.TorchFileError, match=r"\[192, 2048, 3, 3\], expected \[192, 2048, 1, 1\]"
  ):
    inception.load_params(tmp_path / "misshapen.pth")


@pytest.mark.parametrize("layout", ["zip", "legacy"])
def test_reader_returns_what_torch_saved(layout, tmp_path):
  base = torch.randn(40)
  state = collections.OrderedDict(
    transposed=torch.randn(4, 5).t(),
    strided=torch.randn(10, 10, dtype=torch.float64)[2:8:2, 1::3],
    offset_view=base[5:15].view(2, 5),  # shares its storage with `shared`, from element 5
    shared=base[1:3],
    int64=torch.arange(-3, 4),
    scalar=torch.tensor(7),
    empty=torch.zeros(0, 3),
    half=torch.randn(3).half(),
  )
  path = tmp_path / "state.pth"
  torch.save(state, path, _use_new_zipfile_serialization=layout == "zip")
  arrays = torch_file.load(path)
  assert list(arrays) == list(state)
  for key, tensor in state.items():
    expected = tensor.numpy()
    assert arrays[key].dtype == expected.dtype and arrays[key].shape == expected.shape, key
    np.testing.assert_array_equal(arrays[key], expected)
    assert arrays[key].flags.c_contiguous and arrays[key].flags.writeable


@pytest.mark.parametrize("layout", ["zip", "legacy"])
def test_reader_refuses_what_it_cannot_read(layout, tmp_path):
  zip_layout = layout == "zip"
  torch.save(
    {"x": torch.ones(2, dtype=torch.bfloat16)},
    tmp_path / "bf16.pth",
    _use_new_zipfile_serialization=zip_layout,
  )
  with pytest.raises(
    torch_file.TorchFileError, match=r"bf16\.pth: unsupported tensor dtype BFloat16"
  ):
    torch_file.load(tmp_path / "bf16.pth")
  # A whole module pickles its class: the reader calls nothing that is not a tensor's rebuild.
  torch.save(
    torch.nn.Linear(2, 2), tmp_path / "module.pth", _use_new_zipfile_serialization=zip_layout
  )
  with pytest.raises(torch_file.TorchFileError, match=r"refusing to unpickle torch\.nn\.modules"):
    torch_file.load(tmp_path / "module.pth")
  torch.save([torch.ones(1)], tmp_path / "list.pth", _use_new_zipfile_serialization=zip_layout)
  with pytest.raises(torch_file.TorchFileError, match="holds a list, not a state dict"):
    torch_file.load(tmp_path / "list.pth")


def test_reader_names_a_file_that_is_missing_or_not_from_torch(tmp_path):
  with pytest.raises(torch_file.TorchFileError, match=r"nothing\.pth: no such file"):
    torch_file.load(tmp_path / "nothing.pth")
  (tmp_path / "text.pth").write_text("not weights")
  with pytest.raises(torch_file.TorchFileError, match=r"text\.pth: not a PyTorch file"):
    torch_file.load(tmp_path / "text.pth")
  (tmp_path / "plain.pkl").write_bytes(pickle.dumps({"weight": [1.0]}, protocol=2))
  with pytest.raises(torch_file.TorchFileError, match=r"plain\.pkl: not a PyTorch file"):
    torch_file.load(tmp_path / "plain.pkl")
  (tmp_path / "evil.pkl").write_bytes(pickle.dumps(print, protocol=2))
  with pytest.raises(
    torch_file.TorchFileError, match=r"refusing to unpickle (__builtin__|builtins)\.print"
  ):
    torch_file.load(tmp_path / "evil.pkl")


# 8 images give a singular covariance: FID retries with an offset, as pytorch-fid does.
@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")
def test_eval_scores_fid_and_kid_during_training(weights, tmp_path, tfds_data_dir):
  """pix2pix :tiny with eval_every: FID/KID of the outputs and of the inputs (identity) against the
  targets, from the weights file; nothing about them listed as skipped."""
  from gan_jax import config as config_lib
  from gan_jax import train

  workdir = tmp_path / "run"
  overrides = [
    f"data.data_dir={tfds_data_dir}",
    "eval_every=4",
    f"eval.inception_weights={weights['legacy']}",
    f"eval.feature_cache={tmp_path / 'cache'}",
  ]
  train.train_and_evaluate(
    config_lib.load_config(str(ROOT / "configs/pix2pix.py") + ":tiny", overrides), workdir
  )
  result = json.loads((workdir / "eval" / "step_0000004.json").read_text())
  assert not {"fid", "kid", "identity_fid"} & set(result["skipped"])
  assert result["fid"] > 0 and result["identity_fid"] > 0
  assert result["fid"] != result["identity_fid"]
  assert np.isfinite([result["kid"], result["kid_std"], result["identity_kid"]]).all()
  assert result["kid_subset_size"] == result["num_images"] == 8
  assert len(list((tmp_path / "cache").glob("*.npy"))) == 1  # the targets' features


def test_real_features_are_cached_by_weights_and_images(weights, tmp_path):
  from gan_jax import config as config_lib
  from gan_jax import parallel

  # eval.batch_size 4, :tiny pix2pix's: 32 px images in batches of 4 are the program the test
  # above compiled, and each call below runs one batch of 4 (at :tiny dcgan's 16, three of 16).
  config = config_lib.load_config(
    str(ROOT / "configs/dcgan.py") + ":tiny",
    [
      f"eval.inception_weights={weights['zip']}",
      f"eval.feature_cache={tmp_path}",
      "eval.batch_size=4",
    ],
  )
  extractor = features.InceptionFeatures(config, parallel.make_mesh())
  images = np.random.RandomState(0).randint(0, 256, (3, 32, 32, 3), np.uint8)
  first = extractor.cached(images)
  assert first.shape == (3, 2048) and len(list(tmp_path.glob("*.npy"))) == 1
  np.save(next(tmp_path.glob("*.npy")), first + 1)  # a cache hit returns the file as it is
  np.testing.assert_array_equal(extractor.cached(images), first + 1)
  np.testing.assert_allclose(extractor(images), first, rtol=1e-6)
  extractor.cached(images[:2])  # other images: another entry
  assert len(list(tmp_path.glob("*.npy"))) == 2


def test_features_split_over_an_eight_device_mesh_match_one_device(weights, tmp_path):
  result = subprocess.run(
    [sys.executable, str(ROOT / "tests/scripts/inception_mesh.py"), weights["zip"], tmp_path],
    cwd=ROOT,
    env={
      **os.environ,
      "PYTHONPATH": str(ROOT),
      "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
    },
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert result.returncode == 0, result.stderr[-3000:]
  out = json.loads(result.stdout.strip().splitlines()[-1])
  assert out["devices"] == 8 and out["batch_size"] == 16  # eval.batch_size 12, rounded up to 8s
  assert out["shape"] == [5, 2048]
  assert out["max_abs_diff"] < 1e-4, out
