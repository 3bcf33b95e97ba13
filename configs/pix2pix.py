"""pix2pix: paired translation with a U-Net generator, a PatchGAN and an L1 loss.

  python -m gan_jax.main --config=configs/pix2pix.py --workdir=runs/pix2pix
  python -m gan_jax.main --config=configs/pix2pix.py:cpu --workdir=runs/pix2pix_cpu
  python -m gan_jax.main --config=configs/pix2pix.py:cpu --workdir=runs/pix2pix_cpu --mode=eval
  python -m gan_jax.main --config=configs/pix2pix.py:cpu --workdir=runs/pix2pix_cpu \
      --mode=translate --input=photos/ --output=cartoons/

Sources: Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks"
(Sec. 3-4, App. 6); the reference implementation junyanz/pytorch-CycleGAN-and-pix2pix (options/
base_options.py, train_options.py and models/pix2pix_model.py give every default below).
"""

import ml_collections

from gan_jax.config import base_config, parse_preset

PRESETS = ("default", "cpu", "tiny")


def get_config(arg=None):
  preset = parse_preset(arg, PRESETS, "configs/pix2pix.py")
  c = base_config()
  c.family = "pix2pix"
  c.image_size = 256  # reference --crop_size 256
  c.batch_size = 1  # reference --batch_size 1 (the paper: 1 to 10)
  # Reference: --n_epochs 100 at the initial lr, then --n_epochs_decay 100 to 0. On the embedded
  # toon data (400 training pairs, batch 1) an epoch is 400 steps.
  # Measured on one H100 (toon 1.1.0, identity 20.82 dB / 0.622): the same images in 5,000 steps of
  # batch 16 (batch_size=16 optim.g_lr=1e-3 total_steps=5000 optim.constant_steps=2500
  # optim.decay_steps=2500), 3.1 min: test PSNR 25.84 dB / SSIM 0.858 with model.eval_mode=True
  # (+5.02 dB); -1.75 dB tested as the reference tests, on each test image's own batch statistics,
  # which training on batches of 16 never saw. A 2,300-step run (1,150 + 1,150 steps): +3.72 dB.
  c.total_steps = 80_000
  c.log_every = 100
  c.sample_every = 2000
  c.checkpoint_every = 5000

  c.data.name = "toon"  # embedded paired photo -> cartoon data (gan_jax/data/toon.py)
  c.data.direction = "AtoB"  # reference --direction
  c.data.load_size = 286  # reference --load_size 286, --preprocess resize_and_crop
  c.data.crop = "random"
  c.data.flip = True  # reference: flips unless --no_flip
  c.sample.num = 8

  c.model = model = ml_collections.ConfigDict()
  model.generator = "unet_256"  # reference --netG unet_256 (8 downs); unet_128 has 7
  model.g_features = 64  # reference --ngf
  model.d_layers = 3  # reference --netD basic = n_layers 3: the 70x70 PatchGAN; or 'pixel'
  model.d_features = 64  # reference --ndf
  model.g_norm = "batch"  # reference --norm batch (pix2pix); 'instance' or 'none'
  model.d_norm = "batch"
  model.dropout = 0.5  # reference: dropout in the U-Net's middle decoder blocks (--no_dropout off)
  model.init_std = 0.02  # reference --init_type normal --init_gain 0.02
  # The reference tests one image at a time with dropout on and batch norm on that image's own
  # statistics (Isola Sec. 3.3: "noise in the form of dropout, applied ... at test time"); True
  # uses the running statistics and no dropout (the reference's --eval).
  model.eval_mode = False
  model.conv_formulation = "auto"  # strided/transposed convs: picked per backend (nets/layers.py)
  model.dtype = "float32"  # compute dtype; "bfloat16" on TPU/GPU (params stay float32)

  c.optim = optim = ml_collections.ConfigDict()
  optim.g_lr = 2e-4  # reference --lr 0.0002
  optim.d_lr = 2e-4
  optim.b1 = 0.5  # reference --beta1 0.5
  optim.b2 = 0.999
  optim.constant_steps = 40_000  # n_epochs
  optim.decay_steps = 40_000  # n_epochs_decay (linear to 0)

  c.loss = loss = ml_collections.ConfigDict()
  loss.adversarial = "non_saturating"  # reference --gan_mode vanilla: BCE with logits, G -> real
  loss.l1_weight = 100.0  # reference --lambda_L1 100
  loss.gan_weight = 1.0  # the paper's ablations (Table 1): 0 = "L1 alone"

  if preset == "cpu":
    # 2 CPU cores, ~3.5 steps/s: 64 px crops of the 256 px images at their own scale (the
    # reference's --preprocess crop), scored on whole 256 px test images (the U-Net is fully
    # convolutional); unet_64 (6 downs) at half the reference's channels. Batch 16 with G's lr at
    # 5x the reference's (which is for batch 1): at batch 16 and 2e-4 the G's L1 stalled near 0.10
    # (GPU run, 14,200 steps, +2.0 dB with eval_mode); with 1e-3 it reached 0.084 in 4,700 steps.
    # The 16x16 PatchGAN (d_layers=1): on a 64 px crop the reference's 70x70 one sees the whole
    # crop, the paper's "ImageGAN" that scored below the 70x70 PatchGAN (Isola Table 3); 16 of 64
    # px is the share of the image that 70 of 256 is. eval_mode: trained on batches of 16, batch
    # norm's running statistics fit, a single test image's own statistics do not.
    # Measured (toon 1.1.0, 4,800 steps, 26 CPU min, identity 20.82 dB / 0.622): test PSNR
    # 24.66 dB / SSIM 0.805 (+3.84 dB); 20.49 dB (-0.33) tested as the reference tests. Alone on
    # the 2 cores: 13 min, +3.75 dB. Longer (total_steps, with constant/decay_steps half each):
    # 14,400 steps, 37 min: 25.86 dB / 0.845 (+5.04); 33,600 steps, 90 min: 26.08 / 0.872 (+5.25).
    # The train split scores no better (+5.06, +6.03, +6.40 dB over its 19.36 dB identity, at
    # 24.42, 25.38, 25.76 dB): the model underfits, it does not fail to generalise. At the
    # reference's width (model.g_features=64, model.d_features=64; 2.7x the step time) 14,400
    # steps, 95 min: 26.73 dB / 0.886 (+5.91), train split 26.51 dB (+7.16); 24,000 steps
    # (12,000 + 12,000), about 170 min: 27.07 dB / 0.895 (+6.24), train split 26.84 dB (+7.48),
    # again no better than the test split. At 4,800 steps with the 70x70 (d_layers=3)
    # +3.06 dB, 34x34 (2) +3.25 dB; instance norm (g_norm, d_norm) +0.70 dB; the paper's "L1
    # alone" (loss.gan_weight=0, 70x70) +4.16 dB. On one H200 GPU (d_layers=3,
    # ~14,800 steps): +2.9 dB at these widths, +3.7 dB with the reference's (g/d_features=64).
    c.image_size = 64
    c.batch_size = 16
    c.data.load_size = 256
    c.data.eval_size = 256
    model.generator = "unet_64"
    model.g_features = 32
    model.d_features = 32
    model.d_layers = 1
    model.eval_mode = True
    optim.g_lr = 1e-3
    c.total_steps = 4800
    optim.constant_steps = 2400
    optim.decay_steps = 2400
    c.log_every = 50
    c.sample_every = 500
    c.checkpoint_every = 500
  elif preset == "tiny":
    # Compile time is all there is at these sizes, and the direct convs compile fastest; the CPU
    # formulations "auto" picks are checked against them in tests/test_layers.py.
    model.conv_formulation = "direct"
    c.image_size = 32
    c.batch_size = 2
    c.data.name = "toon/paired_small"
    c.data.load_size = 36
    model.generator = "unet_32"
    model.g_features = 8
    model.d_features = 8
    c.total_steps = 4
    optim.constant_steps = 2
    optim.decay_steps = 2
    c.log_every = 1
    c.sample_every = 2
    c.checkpoint_every = 2
    c.sample.num = 2
    c.eval.batch_size = 4
    c.eval.html_rows = 4
  return c
