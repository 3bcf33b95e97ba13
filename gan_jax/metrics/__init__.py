"""Image-quality metrics: SWD now; FID/KID (Inception weights from a file) and PSNR/SSIM to come."""
