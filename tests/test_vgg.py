"""The Flax VGG16/VGG19 against torchvision's, built with random weights and saved with torch.save;
the TF ports' .npy form written here, read by the safe unpickler; input mappings; random init."""

import logging
import os

import jax
import numpy as np
import pytest
import torch
import torchvision

from gan_jax import errors
from gan_jax.nets import vgg

SIZE = 32  # even down to pool4


def _torchvision_vgg(arch: str, seed: int):
  """torchvision's net with its own random init; the classifier (102 M weights at 224 px) dropped
  from the saved file to keep it small: the reader uses only `features.*`."""
  torch.manual_seed(seed)
  net = getattr(torchvision.models, arch)(weights=None).eval()
  net.classifier = torch.nn.Identity()
  return net


def _torch_layers(net, arch: str, x_nchw: np.ndarray, outputs) -> dict[str, np.ndarray]:
  """torchvision's activations at `outputs`: `features[:index + 1]` (its ReLUs are in place, so a
  conv's output is read by cutting just after it)."""
  names = vgg.layer_names(arch)
  found = {}
  with torch.no_grad():
    for name in outputs:
      y = net.features[: names.index(name) + 1](torch.from_numpy(x_nchw))
      found[name] = y.numpy().transpose(0, 2, 3, 1)
  return found


def _images(seed=0, n=2):
  return np.random.default_rng(seed).uniform(-1, 1, (n, SIZE, SIZE, 3)).astype(np.float32)


def _compare(ours, theirs, label):
  for name, want in theirs.items():
    got = np.asarray(ours[name])
    assert got.shape == want.shape, (label, name)
    diff = float(np.max(np.abs(got - want)))
    scale = float(np.max(np.abs(want)))
    print(f"{label} {name}: max abs diff {diff:.3g} (max |feature| {scale:.3g})")
    assert scale > 1e-3, (label, name, "features vanished: the comparison would be vacuous")
    assert diff <= 2e-5 * scale, (label, name, diff, scale)


@pytest.mark.parametrize(
  "arch, outputs",
  [
    ("vgg19", ("conv4_4",)),  # AnimeGAN's: before its ReLU
    ("vgg16", ("relu1_2", "relu2_2", "relu3_3", "pool3", "conv4_3")),  # several at once
  ],
)
def test_torchvision_state_dict_imagenet_rgb(tmp_path, arch, outputs):
  net = _torchvision_vgg(arch, seed=1)
  path = tmp_path / f"{arch}.pth"
  torch.save(net.state_dict(), path)
  params = vgg.load_params(path, arch, outputs)
  last_conv = vgg.conv_names(arch, outputs)[-1]
  assert list(params["params"]) == list(vgg.conv_names(arch, outputs))
  assert last_conv == ("conv4_4" if arch == "vgg19" else "conv4_3")

  images = _images()
  normalise = torchvision.transforms.Normalize(vgg.IMAGENET_MEAN, vgg.IMAGENET_STD)
  x = normalise(torch.from_numpy((images + 1) / 2).permute(0, 3, 1, 2)).numpy()
  ours = vgg.features(params, images, arch, outputs, "imagenet_rgb")
  assert list(ours) == list(outputs)
  _compare(ours, _torch_layers(net, arch, x, outputs), f"{arch} torchvision")


def test_npy_caffe_bgr(tmp_path):
  """A vgg19.npy as the TF ports write it ({name: [kernel HWIO, bias]}, np.save of a dict),
  holding torchvision's random weights; inputs mapped to BGR [0, 255] minus Caffe's mean."""
  arch, outputs = "vgg19", ("conv3_1", "conv4_4")
  net = _torchvision_vgg(arch, seed=2)
  names = vgg.layer_names(arch)
  layers = {
    name: [
      net.features[i].weight.detach().numpy().transpose(2, 3, 1, 0),
      net.features[i].bias.detach().numpy(),
    ]
    for i, name in enumerate(names)
    if name.startswith("conv")
  }
  layers["fc8"] = [np.zeros((4, 3), np.float32), np.zeros(3, np.float32)]  # unused, as in the file
  path = tmp_path / "vgg19.npy"
  np.save(path, layers, allow_pickle=True)

  params = vgg.load_params(path, arch, outputs)
  images = _images(seed=3)
  bgr = ((images + 1) / 2 * 255)[..., ::-1] - np.array([103.939, 116.779, 123.68], np.float32)
  ours = vgg.features(params, images, arch, outputs, "caffe_bgr")
  theirs = _torch_layers(net, arch, np.ascontiguousarray(bgr.transpose(0, 3, 1, 2)), outputs)
  _compare(ours, theirs, "vgg19 npy")


class _Hostile:
  def __reduce__(self):
    return (os.system, ("echo pwned > hostile_ran",))


def test_npy_refuses_code(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  path = tmp_path / "evil.npy"
  np.save(path, {"conv1_1": [_Hostile(), np.zeros(64)]}, allow_pickle=True)
  with pytest.raises(vgg.VGGWeightsError, match="refusing to unpickle"):
    vgg.load_params(path, "vgg19", ("conv1_1",))
  assert not (tmp_path / "hostile_ran").exists()


def test_bad_files(tmp_path):
  small = _torchvision_vgg("vgg16", seed=0)
  path = tmp_path / "vgg16.pth"
  torch.save(small.features.state_dict(), path)  # `<index>.weight` keys are read too
  vgg.load_params(path, "vgg16", ("conv5_3",))
  with pytest.raises(
    vgg.VGGWeightsError, match="no weights for conv3_4 kernel of vgg19"
  ):  # VGG16 file read as VGG19
    vgg.load_params(path, "vgg19", ("conv4_4",))
  with pytest.raises(vgg.VGGWeightsError, match="no such"):
    vgg.load_params(tmp_path / "missing.pth", "vgg19", ("conv4_4",))
  (tmp_path / "junk.pth").write_bytes(b"not weights")
  with pytest.raises(vgg.VGGWeightsError, match="junk.pth"):
    vgg.load_params(tmp_path / "junk.pth", "vgg19", ("conv4_4",))
  np.save(tmp_path / "plain.npy", np.zeros((3, 3)))
  with pytest.raises(vgg.VGGWeightsError, match="not a pickled"):
    vgg.load_params(tmp_path / "plain.npy", "vgg19", ("conv1_1",))
  with pytest.raises(errors.ConfigError, match="no layer 'conv4_4'"):
    vgg.check_outputs("vgg16", ("conv4_4",))
  with pytest.raises(errors.ConfigError, match="unknown VGG arch"):
    vgg.layer_names("vgg11")
  with pytest.raises(errors.ConfigError, match="input_mode"):
    vgg.preprocess(np.zeros((1, 8, 8, 3)), "bgr")


def test_random_vgg_is_deterministic_and_logged(caplog):
  outputs = ("conv4_4",)
  with caplog.at_level(logging.INFO):
    a = vgg.frozen_params(None, "vgg19", outputs)
  lines = [r.getMessage() for r in caplog.records if "randomly initialised vgg19" in r.getMessage()]
  assert len(lines) == 1, caplog.text
  b = vgg.random_params("vgg19", outputs)
  c = vgg.random_params("vgg19", outputs, seed=1)
  assert jax.tree.all(jax.tree.map(np.array_equal, a, b))
  assert not np.array_equal(a["params"]["conv1_1"]["kernel"], c["params"]["conv1_1"]["kernel"])
  assert set(a["params"]) == set(vgg.conv_names("vgg19", outputs))
  # torchvision's init keeps activations at scale through 12 convs (no vanishing features).
  y = vgg.features(a, _images(), "vgg19", outputs, "caffe_bgr")["conv4_4"]
  assert 1e-2 < float(np.std(y)) < 1e4
