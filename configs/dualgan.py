"""DualGAN: unpaired translation with two U-Nets, two Wasserstein critics and reconstruction loss.

  python -m gan_jax.main --config=configs/dualgan.py --workdir=runs/dualgan
  python -m gan_jax.main --config=configs/dualgan.py:cpu --workdir=runs/dualgan_cpu
  python -m gan_jax.main --config=configs/dualgan.py:cpu --workdir=runs/dualgan_cpu --mode=eval

Sources: Yi et al. 2017, "DualGAN: Unsupervised Dual Learning for Image-to-Image Translation"; the
reference implementation duxingren14/DualGAN (main.py flags, model.py, ops.py give every default
below; its README's examples use lambda 1000 and 100 epochs).
"""

import ml_collections

from gan_jax.config import base_config, parse_preset

PRESETS = ("default", "cpu", "tiny")


def get_config(arg=None):
  preset = parse_preset(arg, PRESETS, "configs/dualgan.py")
  c = base_config()
  c.family = "dualgan"
  c.image_size = 256  # reference --image_size 256
  c.batch_size = 1  # reference --batch_size 1
  # Reference: --epoch 50 of min(|A|, |B|) pairs; 400 per epoch on the embedded toon data.
  c.total_steps = 20_000
  c.log_every = 100
  c.sample_every = 2000
  c.checkpoint_every = 5000

  c.data.name = "toon/unpaired"  # embedded photo / cartoon domains (gan_jax/data/toon.py)
  c.data.crop = "none"  # the reference resizes straight to image_size, no crop
  # The reference declares --flip True, but compares the flag to the string 'True', so it never
  # flips in training; we follow what it does.
  c.data.flip = False
  c.sample.num = 4

  c.model = model = ml_collections.ConfigDict()
  model.generator = "unet_256"  # the reference's fcn: 8 down steps at 256 px
  model.g_features = 64  # reference --gcn
  model.d_features = 64  # reference --dcn
  model.discriminator = "global"  # reference --disc_type globalgan; or 'patch' (patchgan)
  # Reference --dropout_rate 0: off (its three innermost up steps when on). Here it is the drop
  # probability; the reference hands its value to TF1's tf.nn.dropout as keep_prob, so its
  # --dropout_rate r drops 1 - r (model.dropout = 1 - r gives the same).
  model.dropout = 0.0
  model.eval_mode = False  # no batch statistics anywhere; kept for the shared translate
  model.conv_formulation = "auto"  # strided/transposed convs: picked per backend (nets/layers.py)
  model.dtype = "float32"  # compute dtype; "bfloat16" on TPU/GPU (params stay float32)

  c.optim = optim = ml_collections.ConfigDict()
  optim.g_lr = 5e-5  # reference --lr 0.00005, RMSProp for both
  optim.d_lr = 5e-5
  optim.decay = 0.9  # reference: tf.train.RMSPropOptimizer(lr, decay=0.9)
  optim.n_critic = 1  # reference --n_critic 1: G updates every n_critic critic updates

  c.loss = loss = ml_collections.ConfigDict()
  loss.adversarial = "wgan-gp"  # reference --GAN_type wgan-gp; 'wgan' (clipping), 'non_saturating'
  loss.gp_weight = 10.0  # reference: self.gamma = 10
  loss.clip_value = 0.01  # reference --clip_value 0.01 (used by 'wgan' only)
  loss.lambda_a = 500.0  # reference --lambda_A 500 (its examples: 1000): |b2a(a2b(A)) - A|
  loss.lambda_b = 500.0  # reference --lambda_B 500
  loss.reconstruction = "l1"  # reference --loss_metric L1; or 'l2'

  if preset == "cpu":
    # 2 CPU cores: 64 px crops of the 256 px images at their own scale, scored on whole 256 px test
    # images (the generator is fully convolutional); unet_64 and half the reference's channels.
    c.image_size = 64
    c.batch_size = 1
    c.data.load_size = 256
    c.data.crop = "random"
    c.data.eval_size = 256
    model.generator = "unet_64"
    model.g_features = 32
    model.d_features = 32
    c.total_steps = 3000
    c.log_every = 50
    c.sample_every = 500
    c.checkpoint_every = 500
    c.eval.batch_size = 5
  elif preset == "tiny":
    # Compile time is all there is at these sizes, and the direct convs compile fastest; the CPU
    # formulations "auto" picks are checked against them in tests/test_layers.py.
    model.conv_formulation = "direct"
    c.image_size = 64
    c.batch_size = 2
    c.data.name = "toon/unpaired_small"
    model.generator = "unet_64"
    model.g_features = 4
    model.d_features = 4
    c.total_steps = 4
    c.log_every = 1
    c.sample_every = 2
    c.checkpoint_every = 2
    c.sample.num = 2
    c.eval.batch_size = 4
    c.eval.html_rows = 4
  return c
