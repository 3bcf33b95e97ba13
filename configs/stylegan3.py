"""StyleGAN3 (Karras et al. 2021) as NVlabs/stylegan3 trains it (train.py, training/loss.py,
training/training_loop.py at commit c233a91; settings from its docs/configs.md).

  python -m gan_jax.main --config=configs/stylegan3.py --workdir=runs/sg3 --config.data.folder=DIR
  python -m gan_jax.main --config=configs/stylegan3.py:r --workdir=runs/r --config.data.folder=DIR
  python -m gan_jax.main --config=configs/stylegan3.py:cpu --workdir=runs/sg3_cpu
  python -m gan_jax.main --config=configs/stylegan3.py:tiny --workdir=runs/sg3_tiny

Presets: 't' (default; stylegan3-t at 256 px, docs/configs.md's recommendation for one GPU:
--batch=32 --gamma=2), 'r' (stylegan3-r, the same), 't512' / 'r512' (--gamma=8) and 't1024' /
'r1024' (--gamma=32), the paper's resolutions with the gammas docs/configs.md gives for them;
'cpu' (the embedded shapes at 32 px on a CPU) and 'tiny' (tests).
"""

import ml_collections

from gan_jax.config import base_config, parse_preset

PRESETS = ("t", "r", "t512", "r512", "t1024", "r1024", "cpu", "tiny")
GAMMA = {256: 2.0, 512: 8.0, 1024: 32.0}  # docs/configs.md: gamma grows with resolution squared


def get_config(arg=None):
  preset = parse_preset(arg, ("default", *PRESETS), "configs/stylegan3.py")
  preset = "t" if preset == "default" else preset
  c = base_config()
  c.family = "stylegan3"
  c.image_size = int(preset[1:]) if preset[1:].isdigit() else 256
  c.batch_size = 32  # --batch=32
  c.total_steps = 25_000_000 // 32  # --kimg=25000
  c.log_every = 100
  c.sample_every = 2000
  c.checkpoint_every = 5000
  c.data.name = "shapes"
  c.data.flip = False  # --mirror=False
  # --mode=sample: with config.sample.video, a clip of the config.sample.seeds' grid as the input's
  # user transform moves (as viz/equivariance_widget.py animates it; gen_video.py has no such
  # clip): 'translate' along a circle of video_shift image widths through the origin, or 'rotate'
  # through a full turn; one loop of video_frames frames at video_fps ('' = no clip).
  c.sample.video = ""
  c.sample.video_frames = 120
  c.sample.video_fps = 30
  c.sample.video_shift = 0.25

  c.model = model = ml_collections.ConfigDict()
  model.config = "r" if preset.startswith("r") else "t"  # --cfg=stylegan3-t | stylegan3-r
  model.z_dim = 512
  model.w_dim = 512
  model.mapping_layers = 2  # --map-depth: 2 for the stylegan3 configs
  model.mapping_lr = 0.01  # MappingNetwork lr_multiplier
  # --cbase, --cmax (G and D; R doubles both for G, as train.py does for stylegan3-r)
  model.channel_base = 32768
  model.channel_max = 512
  # The reference's use_fp16 rule: G layers whose sampling rate x 2^4 exceeds the resolution and
  # D's 4 highest resolutions compute in 16 bits ...
  model.num_fp16_res = 4
  model.half_dtype = "bfloat16"  # ... bfloat16 (TPU, CPU, GPU) or float16 (GPU)
  model.conv_clamp = 256.0  # conv_clamp=256 for G and D
  model.magnitude_ema_kimg = 20.0  # magnitude_ema_beta = 0.5 ** (batch / (20 * 1e3))
  model.mbstd_group = 4  # --mbstd-group
  model.d_architecture = "resnet"  # networks_stylegan2.Discriminator's default
  model.num_classes = 0  # --cond: unconditional

  c.optim = optim = ml_collections.ConfigDict()
  optim.lr = 0.0025  # --glr: 0.0025 for the stylegan3 configs
  optim.d_lr = 0.002  # --dlr
  optim.b1 = 0.0  # Adam betas (0, 0.99), eps 1e-8
  optim.b2 = 0.99
  optim.eps = 1e-8
  optim.ema_kimg = -1.0  # G EMA half-life in kimg; -1: batch * 10 / 32, as train.py sets it
  optim.ema_rampup = 0.05  # training_loop.py's default
  optim.batch_gpu = 0  # --batch-gpu (accumulation rounds; 0: the whole batch at once)

  c.loss = loss = ml_collections.ConfigDict()
  loss.r1_gamma = GAMMA.get(c.image_size, 2.0)  # --gamma
  loss.d_reg_interval = 16  # lazy R1 every 16 iterations
  loss.g_reg_interval = 0  # stylegan3: no path-length regularization ...
  loss.pl_weight = 0.0
  loss.pl_decay = 0.01
  loss.pl_batch_shrink = 2
  loss.style_mixing = 0.0  # ... and no style mixing
  # D's inputs blurred by a Gaussian whose sigma fades to 0 (loss.py's run_D). -1: train.py's
  # rules, sigma 10 for R (none for T) fading over batch * 200 / 32 kimg.
  loss.blur_sigma = -1.0
  loss.blur_fade_kimg = -1.0

  # ADA as StyleGAN2's (train.py --aug=ada, --target=0.6, the bgc pipe; ada_kimg 500).
  c.aug = aug = ml_collections.ConfigDict()
  aug.mode = "ada"
  aug.pipe = "bgc"
  aug.p = 0.0
  aug.target = 0.6
  aug.interval = 4
  aug.kimg = 500.0

  if preset == "cpu":
    # Small widths on the embedded shapes at 32 px, for a CPU (as configs/stylegan2.py:cpu).
    c.image_size, c.batch_size, c.total_steps = 32, 16, 3000
    c.log_every, c.sample_every, c.checkpoint_every = 50, 500, 500
    model.z_dim = model.w_dim = 64
    model.channel_base, model.channel_max, model.num_fp16_res = 1024, 64, 0
    loss.r1_gamma = 1.0  # StyleGAN2 :cpu's finding (docs/results.md): weight 1 at 32 px
  elif preset == "tiny":
    c.image_size, c.batch_size, c.total_steps = 16, 4, 4
    c.log_every, c.sample_every, c.checkpoint_every = 1, 2, 2
    c.data.name = "shapes/small"
    c.sample.num = 4
    model.z_dim = model.w_dim = 8
    model.channel_base, model.channel_max, model.num_fp16_res = 64, 8, 0
    model.mbstd_group = 2
    loss.d_reg_interval = 2
  if preset not in ("cpu", "tiny"):
    c.total_steps = 25_000_000 // c.batch_size
  return c
