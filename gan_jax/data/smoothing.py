"""Edge-smoothed style images, as AnimeGAN's discriminator sees them (the reference's
edge_smooth.py, which it takes from CartoonGAN): the style image with its edges blurred, so that D
learns that clear edges are what makes an image a cartoon.

Per image, with scikit-image and SciPy (no OpenCV):
1. edges: Canny on the grey image in [0, 255] with hysteresis thresholds 100 and 200, no blur
   first (OpenCV's Canny, which the reference calls, does not blur; its gradient magnitude is
   |gx| + |gy|, scikit-image's the Euclidean one, so a few weak edges differ);
2. dilation of the edges by a 5x5 square;
3. at the dilated pixels only, a 5x5 Gaussian blur of each colour channel: OpenCV's
   getGaussianKernel(5, 0), the binomial [1, 4, 6, 4, 1] / 16 in each direction, with the
   image mirrored at its border (np.pad 'reflect'), the result truncated to uint8 as the
   reference's assignment into a uint8 image does.
The reference first resizes every image to the training size; here images are smoothed at the size
they are stored at and go through the same resize and crop as the style images.

`with_smooth_splits` adds the smoothed images of a dataset's style splits as splits of their own
(trainsmooth beside trainB), computed on reading: a dataset needs no `smooth/` folder.
"""

import numpy as np
import scipy.ndimage
import skimage.feature
import skimage.morphology

CANNY_THRESHOLDS = (100.0, 200.0)
DILATION = 5
GAUSSIAN_5 = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0  # OpenCV's getGaussianKernel(5, 0)
# ITU-R BT.601 luma, as OpenCV's BGR2GRAY (the reference reads its grey image that way).
GREY_WEIGHTS = np.array([0.299, 0.587, 0.114])
STYLE_DOMAIN = "B"
SMOOTH_DOMAIN = "smooth"


def edge_mask(image: np.ndarray) -> np.ndarray:
  """bool [H, W]: the dilated Canny edges of a uint8 RGB image [H, W, 3]."""
  grey = np.rint(image.astype(np.float64) @ GREY_WEIGHTS)
  edges = skimage.feature.canny(
    grey, sigma=0.0, low_threshold=CANNY_THRESHOLDS[0], high_threshold=CANNY_THRESHOLDS[1]
  )
  return skimage.morphology.dilation(edges, np.ones((DILATION, DILATION), bool))


def edge_smooth(image: np.ndarray) -> np.ndarray:
  """uint8 [H, W, 3] -> the same image with its (dilated) edges Gaussian-blurred."""
  if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
    raise ValueError(f"edge_smooth takes uint8 [H, W, 3] images, got {image.dtype} {image.shape}")
  mask = edge_mask(image)
  blurred = image.astype(np.float64)
  for axis in (0, 1):  # 'mirror' is np.pad's 'reflect': the border pixel is not repeated
    blurred = scipy.ndimage.correlate1d(blurred, GAUSSIAN_5, axis=axis, mode="mirror")
  out = image.copy()
  out[mask] = blurred[mask].astype(np.uint8)  # truncates, as the reference's assignment
  return out


class SmoothedSource:
  """A random-access split whose example i is example i of `source` with its image smoothed."""

  def __init__(self, source):
    self.source = source

  def __len__(self) -> int:
    return len(self.source)

  def __getitem__(self, index: int) -> dict:
    example = dict(self.source[index])
    example["image"] = edge_smooth(np.asarray(example["image"]))
    return example


def with_smooth_splits(splits: dict) -> dict:
  """`splits` plus '<split>smooth' for every '<split>B' (the style images) that lacks one."""
  more = dict(splits)
  for name, source in splits.items():
    if name.endswith(STYLE_DOMAIN):
      smooth = name.removesuffix(STYLE_DOMAIN) + SMOOTH_DOMAIN
      more.setdefault(smooth, SmoothedSource(source))
  return more
