"""StyleGAN2 (Karras et al. 2020) with ADA as NVlabs/stylegan2-ada-pytorch trains it (train.py
cfg_specs and augpipe_specs, training/training_loop.py, training/loss.py at commit d72cc7d).

  python -m gan_jax.main --config=configs/stylegan2.py --workdir=runs/sg2 --config.data.folder=DIR
  python -m gan_jax.main --config=configs/stylegan2.py:cpu --workdir=runs/sg2_cpu
  python -m gan_jax.main --config=configs/stylegan2.py:tiny --workdir=runs/sg2_tiny

Presets: 'auto' (default; the reference's --cfg=auto for one accelerator at image_size),
'stylegan2', 'paper256' and 'cifar' (its named settings), 'cpu' (the embedded shapes on a CPU),
'tiny'.
"""

import ml_collections

from gan_jax.config import base_config, parse_preset

PRESETS = ("auto", "stylegan2", "paper256", "cifar", "cpu", "tiny")


def get_config(arg=None):
  preset = parse_preset(arg, ("default", *PRESETS), "configs/stylegan2.py")
  preset = "auto" if preset == "default" else preset
  c = base_config()
  c.family = "stylegan2"
  c.image_size = 256
  c.batch_size = 16  # auto: max(min(gpus * min(4096 // res, 32), 64), gpus) with one accelerator
  c.total_steps = 25_000_000 // 16  # kimg 25000
  c.log_every = 100
  c.sample_every = 2000
  c.checkpoint_every = 5000
  c.data.name = "shapes"
  c.data.flip = False  # the reference's --mirror=False

  c.model = model = ml_collections.ConfigDict()
  model.z_dim = 512
  model.w_dim = 512
  model.mapping_layers = 2  # auto: map=2; stylegan2 and paper configs: 8
  model.mapping_lr = 0.01  # MappingNetwork lr_multiplier
  model.channel_base = 16384  # auto: fmaps 0.5 below 512 px (x 32768), 1 from 512 px
  model.channel_max = 512
  model.num_fp16_res = 4  # the 4 highest resolutions compute in 16 bits ...
  model.half_dtype = "bfloat16"  # ... bfloat16 (TPU, CPU, GPU) or float16 (GPU)
  model.conv_clamp = 256.0  # clamp conv outputs to +-256 (the reference's, for 16 bits)
  model.mbstd_group = 4  # auto: min(batch per accelerator, 4)
  # Conditional on this many classes of the labelled data's config.data.label_key (the
  # reference's --cond; one-hot labels, G embeds them, D projects); 0: unconditional.
  model.num_classes = 0
  model.g_architecture = "skip"
  model.d_architecture = "resnet"

  c.optim = optim = ml_collections.ConfigDict()
  optim.lr = 0.0025  # auto: 0.0025 below 1024 px, else 0.002
  optim.b1 = 0.0  # Adam betas (0, 0.99), eps 1e-8
  optim.b2 = 0.99
  optim.eps = 1e-8
  optim.ema_kimg = -1.0  # G EMA half-life in kimg; -1: auto, batch * 10 / 32
  optim.ema_rampup = 0.05  # EMA half-life at most this x the images seen; 0: none
  # Samples per device per round (the reference's --batch-gpu): with fewer than batch / devices,
  # each phase accumulates gradients over batch / (batch_gpu x devices) rounds. 0: one round.
  optim.batch_gpu = 0

  c.loss = loss = ml_collections.ConfigDict()
  loss.r1_gamma = -1.0  # R1 weight; -1: auto, 0.0002 * res^2 / batch
  loss.d_reg_interval = 16  # lazy R1 every 16 iterations (0: never)
  loss.g_reg_interval = 4  # lazy path length every 4 iterations (0: never)
  loss.pl_weight = 2.0
  loss.pl_decay = 0.01
  loss.pl_batch_shrink = 2
  loss.style_mixing = 0.9

  # ADA (train.py --aug, --p, --target, --augpipe; training_loop.py ada_interval, ada_kimg)
  c.aug = aug = ml_collections.ConfigDict()
  aug.mode = "ada"  # noaug | fixed | ada (the reference's default)
  aug.pipe = "bgc"  # blit, geometric, colour: the reference's default --augpipe
  aug.p = 0.0  # the augment probability with mode fixed; ada starts at 0
  aug.target = 0.6  # ada: the mean sign of D on the reals that p steers toward
  aug.interval = 4  # ada: iterations between moves of p
  aug.kimg = 500.0  # ada: p moves at most from 0 to 1 in this many thousand images

  if preset == "stylegan2":
    c.image_size, c.batch_size = 1024, 32
    model.mapping_layers, model.channel_base, model.mbstd_group = 8, 32768, 4
    optim.lr, optim.ema_kimg, optim.ema_rampup, loss.r1_gamma = 0.002, 10.0, 0.0, 10.0
  elif preset == "paper256":
    c.batch_size = 64
    model.mapping_layers, model.channel_base, model.mbstd_group = 8, 16384, 8
    optim.lr, optim.ema_kimg, optim.ema_rampup, loss.r1_gamma = 0.0025, 20.0, 0.0, 1.0
  elif preset == "cifar":
    # --cfg=cifar (CIFAR-10 at 32 px; the reference trains it on 2 GPUs, 32 images each): no path
    # length, no style mixing, and D without residual skips ('orig'). The data is the user's
    # (--config.data.folder=DIR or a TFDS name); the default stays the embedded shapes.
    c.image_size, c.batch_size = 32, 64
    model.mapping_layers, model.channel_base, model.mbstd_group = 2, 32768, 32
    optim.lr, optim.ema_kimg, optim.ema_rampup, loss.r1_gamma = 0.0025, 500.0, 0.05, 0.01
    loss.pl_weight, loss.style_mixing = 0.0, 0.0
    model.d_architecture = "orig"
  elif preset == "cpu":
    # Small widths on the embedded shapes at 32 px, for a CPU.
    c.image_size, c.batch_size, c.total_steps = 32, 16, 3000
    c.log_every, c.sample_every, c.checkpoint_every = 50, 500, 500
    model.z_dim = model.w_dim = 64
    model.channel_base, model.channel_max, model.num_fp16_res = 1024, 64, 0
    # R1 weight 1, not the auto rule's 0.0128: with that, the shapes collapsed to black by 1,000
    # steps (docs/results.md, StyleGAN2).
    loss.r1_gamma = 1.0
  elif preset == "tiny":
    c.image_size, c.batch_size, c.total_steps = 16, 4, 4
    c.log_every, c.sample_every, c.checkpoint_every = 1, 2, 2
    c.data.name = "shapes/small"
    c.sample.num = 4
    model.z_dim = model.w_dim = 8
    model.channel_base, model.channel_max, model.num_fp16_res = 64, 8, 0
    model.mbstd_group = 2
    loss.d_reg_interval, loss.g_reg_interval = 2, 2
  kimg = 100_000 if preset == "cifar" else 25_000  # --kimg: cifar's spec trains 100,000
  c.total_steps = c.total_steps if preset in ("cpu", "tiny") else kimg * 1000 // c.batch_size
  return c
