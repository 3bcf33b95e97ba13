"""CycleGAN: unpaired translation with cycle consistency (two ResNet generators, two PatchGANs).

  python -m gan_jax.main --config=configs/cyclegan.py --workdir=runs/cyclegan
  python -m gan_jax.main --config=configs/cyclegan.py:cpu --workdir=runs/cyclegan_cpu
  python -m gan_jax.main --config=configs/cyclegan.py:cpu --workdir=runs/cyclegan_cpu --mode=eval
  python -m gan_jax.main --config=configs/cyclegan.py:cpu --workdir=runs/cyclegan_cpu \
      --mode=translate --direction=BtoA --input=cartoons/ --output=photos/

Sources: Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial
Networks" (Sec. 4, App. 7); the reference implementation junyanz/pytorch-CycleGAN-and-pix2pix
(options/base_options.py, options/train_options.py, models/cycle_gan_model.py, models/networks.py
give every default below).
"""

import ml_collections

from gan_jax.config import base_config, parse_preset

PRESETS = ("default", "cpu", "tiny")


def get_config(arg=None):
  preset = parse_preset(arg, PRESETS, "configs/cyclegan.py")
  c = base_config()
  c.family = "cyclegan"
  c.image_size = 256  # reference --crop_size 256
  c.batch_size = 1  # reference --batch_size 1
  # Reference: --n_epochs 100 at the initial lr, then --n_epochs_decay 100 to 0; an epoch is
  # max(|trainA|, |trainB|) images, 400 on the embedded toon data at batch 1.
  c.total_steps = 80_000
  c.log_every = 100
  c.sample_every = 2000
  c.checkpoint_every = 5000

  c.data.name = "toon/unpaired"  # embedded photo / cartoon domains (gan_jax/data/toon.py)
  c.data.load_size = 286  # reference --load_size 286, --preprocess resize_and_crop
  c.data.crop = "random"
  c.data.flip = True  # reference: flips unless --no_flip
  c.sample.num = 4

  c.model = model = ml_collections.ConfigDict()
  model.generator = "resnet_9blocks"  # reference --netG; the paper: 6 blocks at 128 px, 9 at 256
  model.g_features = 64  # reference --ngf
  model.d_layers = 3  # reference --netD basic: the 70x70 PatchGAN (n_layers 3); or 'pixel'
  model.d_features = 64  # reference --ndf
  model.g_norm = "instance"  # reference --norm instance (no affine, no running stats)
  model.d_norm = "instance"
  model.dropout = 0.0  # the reference's CycleGAN sets --no_dropout
  model.init_std = 0.02  # reference --init_type normal --init_gain 0.02
  model.pool_size = 50  # reference --pool_size 50: D's see a history of fakes
  model.eval_mode = False  # as pix2pix; instance norm behaves the same either way
  model.conv_formulation = "auto"  # strided/transposed convs: picked per backend (nets/layers.py)
  model.dtype = "float32"  # compute dtype; "bfloat16" on TPU/GPU (params stay float32)

  c.optim = optim = ml_collections.ConfigDict()
  optim.g_lr = 2e-4  # reference --lr 0.0002, one Adam over both G's and one over both D's
  optim.d_lr = 2e-4
  optim.b1 = 0.5  # reference --beta1 0.5
  optim.b2 = 0.999
  optim.constant_steps = 40_000  # n_epochs
  optim.decay_steps = 40_000  # n_epochs_decay (linear to 0)

  c.loss = loss = ml_collections.ConfigDict()
  loss.adversarial = "lsgan"  # reference --gan_mode lsgan
  loss.lambda_a = 10.0  # reference --lambda_A: weight of |b2a(a2b(A)) - A|
  loss.lambda_b = 10.0  # reference --lambda_B: weight of |a2b(b2a(B)) - B|
  loss.identity = 0.5  # reference --lambda_identity, relative to lambda_A / lambda_B

  if preset == "cpu":
    # 2 CPU cores: 64 px crops of the 256 px images at their own scale (the reference's --preprocess
    # crop), whole 256 px test images (--preprocess none, as the reference tests); half the
    # reference's channels. Results, and the runs behind these settings: see docs/results.md.
    c.image_size = 64
    c.batch_size = 8
    c.data.load_size = 256
    c.data.eval_size = 256
    # The reference's other generator, the U-Net (--netG unet_128/unet_256; here 6 downs): the
    # ResNet one's instance norm after its first conv makes it blind to the input's mean colour
    # (tests/test_unpaired.py), which the cartoon keeps.
    model.generator = "unet_64"
    model.g_features = 32
    model.d_features = 32
    model.d_layers = 1  # 16x16 PatchGAN, as configs/pix2pix.py:cpu: 70x70 sees all of a 64 px crop
    optim.g_lr = 1e-3  # 5x the reference's, as pix2pix:cpu; D's at 5x took D_b's loss to chance
    c.total_steps = 10_000
    optim.constant_steps = 5000
    optim.decay_steps = 5000
    c.log_every = 50
    c.sample_every = 1000
    c.checkpoint_every = 1000
    c.eval.batch_size = 5
  elif preset == "tiny":
    # Compile time is all there is at these sizes, and the direct convs compile fastest; the CPU
    # formulations "auto" picks are checked against them in tests/test_layers.py.
    model.conv_formulation = "direct"
    c.image_size = 32
    c.batch_size = 2
    c.data.name = "toon/unpaired_small"
    c.data.load_size = 36
    model.generator = "resnet_2blocks"
    model.g_features = 8
    model.d_features = 8
    model.pool_size = 3
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
