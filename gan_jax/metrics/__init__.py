"""Image-quality metrics: SWD, PSNR/SSIM, FID/KID (Inception weights from a file) and the Inception
features they use."""
