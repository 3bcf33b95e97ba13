"""Fréchet Inception Distance and Kernel Inception Distance of two feature sets.

FID (Heusel et al. 2017): the Fréchet distance between Gaussians fitted to the two sets,
|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)), in float64 with the matrix square root taken as
pytorch-fid takes it (scipy's `sqrtm`; retried with 1e-6 added to both diagonals when the product
is singular; an imaginary part of the diagonal above 1e-3 is an error, below it is dropped).

KID (Binkowski et al. 2018): the unbiased MMD^2 estimate with the polynomial kernel
k(x, y) = (x.y / d + 1)^3, averaged over random subsets of both sets, as torch-fidelity computes it
(100 subsets of 1000, drawn without replacement by numpy's RandomState(2020)); its mean and standard
deviation over the subsets. Sets smaller than the subset size use subsets of the smaller set's size.
"""

import numpy as np
import scipy.linalg

FID_EPS = 1e-6
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
KID_DEGREE = 3
KID_COEF0 = 1.0
KID_SEED = 2020


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Mean and (unbiased) covariance of [N, D] features, in float64."""
  features = np.asarray(features, np.float64)
  if features.ndim != 2 or len(features) < 2:
    raise ValueError(f"need [N >= 2, D] features for FID statistics, got shape {features.shape}")
  return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = FID_EPS) -> float:
  """The Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2)."""
  mu1, mu2 = np.atleast_1d(np.float64(mu1)), np.atleast_1d(np.float64(mu2))
  sigma1, sigma2 = np.atleast_2d(np.float64(sigma1)), np.atleast_2d(np.float64(sigma2))
  if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
    raise ValueError(
      f"FID statistics differ in shape: mean {mu1.shape} vs {mu2.shape}, "
      f"covariance {sigma1.shape} vs {sigma2.shape}"
    )
  root = scipy.linalg.sqrtm(sigma1 @ sigma2)
  if not np.isfinite(root).all():
    offset = np.eye(len(sigma1)) * eps
    root = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
  if np.iscomplexobj(root):
    if not np.allclose(np.diagonal(root).imag, 0, atol=1e-3):
      raise ValueError(
        f"FID: the matrix square root has an imaginary part up to {np.max(np.abs(root.imag)):.3g}"
      )
    root = root.real
  diff = mu1 - mu2
  return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(root))


def fid(features1: np.ndarray, features2: np.ndarray) -> float:
  """FID between two [N, D] feature sets."""
  return frechet_distance(*statistics(features1), *statistics(features2))


def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  return (x @ y.T / x.shape[1] + KID_COEF0) ** KID_DEGREE


def _unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
  m = len(x)
  k_xx, k_yy, k_xy = _polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y)
  within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
  return float(within - 2 * k_xy.sum() / (m * m))


def kid(
  features1: np.ndarray,
  features2: np.ndarray,
  subsets: int = KID_SUBSETS,
  subset_size: int = KID_SUBSET_SIZE,
  seed: int = KID_SEED,
) -> dict[str, float]:
  """KID between two [N, D] feature sets: {'kid': mean, 'kid_std': std, 'kid_subset_size': m}."""
  features1, features2 = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
  size = min(subset_size, len(features1), len(features2))
  if size < 2:
    raise ValueError(
      f"KID needs at least 2 features per set, got {len(features1)} and {len(features2)}"
    )
  rng = np.random.RandomState(seed)
  mmds = np.zeros(subsets)
  for i in range(subsets):
    x = features1[rng.choice(len(features1), size, replace=False)]
    y = features2[rng.choice(len(features2), size, replace=False)]
    mmds[i] = _unbiased_mmd2(x, y)
  return {"kid": float(mmds.mean()), "kid_std": float(mmds.std()), "kid_subset_size": size}
