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
  # toon data (400 training pairs, batch 1) an epoch is 400 steps. Results: docs/results.md.
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
    # Learns the toon task on 2 CPU cores: 64 px crops of the 256 px images at their own scale (the
    # reference's --preprocess crop), scored on whole 256 px test images (the U-Net is fully
    # convolutional). Results, and the runs behind each setting below: see docs/results.md.
    c.image_size = 64
    c.batch_size = 16
    c.data.load_size = 256
    c.data.eval_size = 256
    model.generator = "unet_64"  # 6 downs, at half the reference's channels
    model.g_features = 32
    model.d_features = 32
    # 16x16 PatchGAN: on a 64 px crop the 70x70 one sees the whole crop, the paper's "ImageGAN"
    # that scored below the 70x70 PatchGAN (Isola Table 3); 16 of 64 px is the share 70 of 256 is.
    model.d_layers = 1
    model.eval_mode = True  # trained on batches of 16: running statistics fit, one image's do not
    optim.g_lr = 1e-3  # 5x the reference's (for batch 1): at batch 16 and 2e-4, G's L1 stalled
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
