"""DCGAN nets trained with the original GAN objective.

  python -m gan_jax.main --config=configs/dcgan.py --workdir=runs/dcgan
  python -m gan_jax.main --config=configs/dcgan.py:cpu --workdir=runs/dcgan_cpu
  python -m gan_jax.main --config=configs/dcgan.py:tiny --workdir=runs/dcgan_tiny

Sources: Goodfellow et al. 2014, "Generative Adversarial Nets" (the objective, eq. 1, and the
non-saturating generator loss of Sec. 3); Radford et al. 2015, "Unsupervised Representation
Learning with Deep Convolutional GANs" (nets and training details, Sec. 3-4).
"""

import ml_collections

from gan_jax.config import base_config, parse_preset

PRESETS = ("default", "cpu", "tiny")


def get_config(arg=None):
  preset = parse_preset(arg, PRESETS, "configs/dcgan.py")
  c = base_config()
  c.family = "dcgan"
  c.image_size = 64  # Radford Sec. 4: 64x64 training images; 32 and 128 also supported
  c.batch_size = 128  # Radford Sec. 4: mini-batch SGD with batch size 128
  c.total_steps = 20_000
  c.log_every = 100
  c.sample_every = 1000
  c.checkpoint_every = 2000

  c.data.name = "shapes"  # embedded, offline, known ground truth (gan_jax/data/shapes.py)
  c.data.crop = "center"  # Radford: no pre-processing beyond scaling to tanh's range [-1, 1]
  c.data.flip = False

  c.model = model = ml_collections.ConfigDict()
  model.z_dim = 100  # Radford Fig. 1: 100-d uniform z; we draw N(0, 1) like the PyTorch example
  model.g_features = 64  # channels of G's last hidden layer (x2 per layer towards 4x4)
  model.d_features = 64  # channels of D's first layer (x2 per layer towards 4x4)
  model.d_norm = "batch"  # Radford Sec. 3: batchnorm in G and D (not on D's input layer); or
  #                         'layer' / 'none' (use one of these with wgan-gp, Gulrajani et al. 2017)
  model.init_std = 0.02  # Radford Sec. 4: all weights from N(0, 0.02)
  model.conv_formulation = (
    "auto"  # strided/transposed convs: 'auto' picks per backend (nets/layers.py)
  )
  model.dtype = "float32"  # compute dtype; "bfloat16" on TPU/GPU (params stay float32)

  c.optim = optim = ml_collections.ConfigDict()
  optim.g_lr = 2e-4  # Radford Sec. 4: Adam, learning rate 0.0002 (0.001 was too high)
  optim.d_lr = 2e-4
  optim.b1 = 0.5  # Radford Sec. 4: beta1 0.5 (0.9 oscillated)
  optim.b2 = 0.999  # Adam's default, kept by Radford

  c.loss = loss = ml_collections.ConfigDict()
  # 'non_saturating': Goodfellow Sec. 3, G maximises log D(G(z)) (the form used in practice);
  # 'minimax': eq. 1 as written, G minimises log(1 - D(G(z))); also 'lsgan', 'hinge', 'wgan-gp'.
  loss.adversarial = "non_saturating"
  loss.gp_weight = 10.0  # Gulrajani et al. 2017: lambda = 10; used only with 'wgan-gp'

  if preset == "cpu":
    # The README's first command: shapes learnt on 2 CPU cores in minutes, a grid every 250 steps.
    # It ends where SWD was lowest; later it collapses (docs/results.md, benchmarks/learn_dcgan.py).
    c.image_size = 32
    c.batch_size = 64
    c.total_steps = 1500
    c.log_every = 50
    c.sample_every = 250
    c.checkpoint_every = 500
    model.g_features = 32
    model.d_features = 32
  elif preset == "tiny":
    # Compile time is all there is at these sizes, and the direct convs compile fastest; the CPU
    # formulations "auto" picks are checked against them in tests/test_layers.py.
    model.conv_formulation = "direct"
    # Seconds per run: tests and CI.
    c.image_size = 32
    c.batch_size = 8
    c.total_steps = 4
    c.log_every = 1
    c.sample_every = 2
    c.checkpoint_every = 2
    c.data.name = "shapes/small"
    c.sample.num = 16
    model.z_dim = 16
    model.g_features = 8
    model.d_features = 8
  return c
