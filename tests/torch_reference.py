"""pytorch-fid's FID InceptionV3 built by pytorch-fid itself, with random weights: its weights
download is replaced by the network's own state dict. For tests/test_inception.py and
benchmarks/inception_speed.py (torch, torchvision and pytorch-fid are test requirements)."""

import pytest
import pytorch_fid.inception
import torchvision


def pytorch_fid_inception():
  """pytorch_fid.inception.InceptionV3() (block 3, resize and normalise on) with random weights,
  and the torchvision network inside it, whose state dict has the weights file's keys."""
  built = []
  original = torchvision.models.inception_v3

  def recording_inception_v3(*args, **kwargs):
    built.append(original(*args, **kwargs))
    return built[-1]

  def no_download(url, *args, **kwargs):
    assert url == pytorch_fid.inception.FID_WEIGHTS_URL
    return built[-1].state_dict()  # by now pytorch-fid has put its FID blocks into the network

  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(torchvision.models, "inception_v3", recording_inception_v3)
    patch.setattr(pytorch_fid.inception, "load_state_dict_from_url", no_download)
    net = pytorch_fid.inception.InceptionV3([3], resize_input=True, normalize_input=True)
  assert isinstance(built[-1].Mixed_7c, pytorch_fid.inception.FIDInceptionE_2)
  return net, built[-1]
