"""FID and KID against the reference implementations' own functions (pytorch-fid, torch-fidelity)
on fixed feature sets."""

import numpy as np
import pytest
import torch
from pytorch_fid import fid_score
from torch_fidelity import metric_kid

from gan_jax.metrics import fid


def _features(seed, n, dim, shift=0.0, scale=1.0):
  rng = np.random.default_rng(seed)
  mixing = rng.normal(size=(dim, dim)) / np.sqrt(dim)
  return (rng.normal(size=(n, dim)) @ mixing) * scale + shift


@pytest.mark.parametrize("n, dim", [(300, 32), (120, 64)])
def test_fid_matches_pytorch_fid(n, dim):
  x, y = _features(0, n, dim), _features(1, n, dim, shift=0.3, scale=1.2)
  mu1, sigma1 = np.mean(x, axis=0), np.cov(x, rowvar=False)
  mu2, sigma2 = np.mean(y, axis=0), np.cov(y, rowvar=False)
  reference = fid_score.calculate_frechet_distance(mu1, sigma1, mu2, sigma2)
  ours = fid.fid(x, y)
  assert ours > 1.0
  assert abs(ours - reference) <= 1e-6 * abs(reference)


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_the_shift():
  x = _features(2, 400, 32)
  assert abs(fid.fid(x, x)) < 1e-6
  shifts = [fid.fid(x, x + s) for s in (0.1, 0.2, 0.4)]
  # A pure mean shift s in every one of 32 dimensions adds exactly 32 s^2.
  np.testing.assert_allclose(shifts, [32 * s * s for s in (0.1, 0.2, 0.4)], rtol=1e-6)


def test_fid_with_too_few_samples_is_a_clear_error():
  with pytest.raises(ValueError, match="N >= 2"):
    fid.statistics(np.zeros((1, 8)))
  with pytest.raises(ValueError, match="differ in shape"):
    fid.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_kid_matches_torch_fidelity():
  x, y = _features(3, 260, 48), _features(4, 240, 48, shift=0.2)
  kwargs = dict(kid_subsets=20, kid_subset_size=100, rng_seed=2020, verbose=False)
  reference = metric_kid.kid_features_to_metric(torch.from_numpy(x), torch.from_numpy(y), **kwargs)
  ours = fid.kid(x, y, subsets=20, subset_size=100, seed=2020)
  mean = reference[metric_kid.KEY_METRIC_KID_MEAN]
  std = reference[metric_kid.KEY_METRIC_KID_STD]
  assert ours["kid"] > 0
  assert abs(ours["kid"] - mean) <= 1e-6 * abs(mean)
  assert abs(ours["kid_std"] - std) <= 1e-6 * abs(std)
  assert ours["kid_subset_size"] == 100


def test_kid_is_near_zero_for_one_distribution_and_uses_smaller_sets_whole():
  both = _features(5, 140, 16)  # one distribution
  x, y = both[:80], both[80:]
  same = fid.kid(x, y, subsets=10)
  assert same["kid_subset_size"] == 60  # the smaller set's size, not the default 1000
  shifted = fid.kid(x, y + 0.5, subsets=10)
  assert abs(same["kid"]) < 0.1 * shifted["kid"]
