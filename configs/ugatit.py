"""U-GAT-IT: unpaired translation with CAM attention and AdaILN (full and light generators, a global
and a local discriminator per domain).

  python -m gan_jax.main --config=configs/ugatit.py --workdir=runs/ugatit
  python -m gan_jax.main --config=configs/ugatit.py:light --workdir=runs/ugatit_light
  python -m gan_jax.main --config=configs/ugatit.py:cpu --workdir=runs/ugatit_cpu
  python -m gan_jax.main --config=configs/ugatit.py:cpu --workdir=runs/ugatit_cpu \
      --mode=translate --direction=BtoA --input=cartoons/ --output=photos/

Sources: Kim et al. 2020, "U-GAT-IT: Unsupervised Generative Attentional Networks with Adaptive
Layer-Instance Normalization for Image-to-Image Translation"; the official PyTorch code
znxlwm/UGATIT-pytorch: main.py (its argparse defaults) and UGATIT.py (build_model: augmentation,
nets, optimizers; train: update order, losses, lr decay, rho clipping) give every default below.
"""

import ml_collections

from gan_jax.config import base_config, parse_preset

PRESETS = ("default", "light", "cpu", "tiny")


def _halves(c, total_steps: int) -> None:
  """total_steps, with the reference's decay_flag schedule: lr constant for the first half, then
  linear to 0. UGATIT.py train lowers the lr by lr / (N // 2) before each 1-based iteration past
  N // 2, so 0-based iteration t >= N/2 runs at lr (1 - (t + 1 - N/2) / (N/2)), the last at 0:
  constant for N/2 - 1 steps, then a linear part that starts at lr and takes N/2 steps to 0."""
  c.total_steps = total_steps
  c.optim.constant_steps = total_steps // 2 - 1
  c.optim.decay_steps = total_steps // 2


def get_config(arg=None):
  preset = parse_preset(arg, PRESETS, "configs/ugatit.py")
  c = base_config()
  c.family = "ugatit"
  c.image_size = 256  # main.py --img_size 256
  c.batch_size = 1  # main.py --batch_size 1
  c.log_every = 100
  c.sample_every = 1000  # main.py --print_freq 1000 (its sample images)
  # main.py --save_freq 100000; the state at 256 px is 7.5 GiB (558 M G and 113 M D weights, Adam).
  c.checkpoint_every = 10_000

  c.data.name = "toon/unpaired"  # embedded photo / cartoon domains (gan_jax/data/toon.py)
  c.data.load_size = 286  # UGATIT.py build_model: Resize(img_size + 30), RandomCrop(img_size)
  c.data.crop = "random"
  c.data.flip = True  # RandomHorizontalFlip
  c.sample.num = 4

  c.model = model = ml_collections.ConfigDict()
  # False: gamma, beta from the flattened features (the paper's model; an (H/4 W/4 4ch) x 4ch
  # weight, 268 M at 256 px, and the full model translates only at image_size); True: from their
  # spatial mean (main.py --light).
  model.light = False
  model.features = 64  # main.py --ch: ngf of the generators and ndf of the discriminators
  model.g_blocks = 4  # main.py --n_res 4 (residual blocks before and after the attention)
  # UGATIT.py build_model: disGA, disGB with n_layers=7 (6x6 patches at 256 px), disLA, disLB
  # with n_layers=5 (30x30); main.py's --n_dis is never read.
  model.global_layers = 7
  model.local_layers = 5
  model.ddof = 1  # AdaILN/ILN variance: torch.var's unbiased one (networks.py); 0 as the TF code
  model.conv_formulation = "auto"  # strided convs: picked per backend (nets/layers.py)
  model.dtype = "float32"  # compute dtype; "bfloat16" on TPU/GPU (params stay float32)
  # Recompute each generator application's forward in the backward pass instead of keeping its
  # activations (jax.checkpoint): less memory for one more G forward per application. Not in the
  # reference. With model_parallel (the MLP split over that many devices) the full model's peak
  # per device falls below 12 GB: benchmarks/memory_ugatit.py.
  model.remat = False

  c.optim = optim = ml_collections.ConfigDict()
  # UGATIT.py build_model: one Adam over both G's, one over the four D's, betas (0.5, 0.999),
  # weight_decay (coupled L2) as main.py --weight_decay 0.0001; main.py --lr 0.0001.
  optim.lr = 1e-4
  optim.b1 = 0.5
  optim.b2 = 0.999
  optim.weight_decay = 1e-4

  c.loss = loss = ml_collections.ConfigDict()
  # main.py --adv_weight 1, --cycle_weight 10, --identity_weight 10, --cam_weight 1000.
  loss.adversarial = 1.0  # LSGAN on the patch and CAM logits of all four D's
  loss.cycle = 10.0  # |b2a(a2b(A)) - A|_1 and the mirror
  loss.identity = 10.0  # |b2a(A) - A|_1 and the mirror
  loss.cam = 1000.0  # BCE of G's CAM logits: source domain -> 1, target domain -> 0

  _halves(c, 1_000_000)  # main.py --iteration 1000000, --decay_flag True

  if preset == "light":
    model.light = True  # main.py --light True: the model the authors' light results use
  elif preset == "cpu":
    # 2 CPU cores: the light model at 64 px, a quarter of the channels. 64 px crops of the 256 px
    # images at their own scale and whole 256 px test images, as configs/cyclegan.py:cpu, so the
    # unpaired families are scored alike (docs/results.md, "The unpaired families side by side").
    # Two fewer layers per D keep the reference's patch grids at a quarter of the side:
    # global 6x6, local 30x30. The reference's lr and weights (5x the lr: same table).
    c.image_size = 64
    c.batch_size = 4
    c.data.load_size = 256
    c.data.eval_size = 256
    model.light = True
    model.features = 16
    model.global_layers = 5
    model.local_layers = 3
    _halves(c, 5000)
    c.log_every = 50
    c.sample_every = 500
    c.checkpoint_every = 1000
    c.eval.batch_size = 5
  elif preset == "tiny":
    # Seconds: the full model (its flattened MLP is small at this size), one block, 4 channels.
    # Direct convs compile fastest; the others are checked against them in tests/test_layers.py.
    model.conv_formulation = "direct"
    c.image_size = 32
    c.batch_size = 2
    c.data.name = "toon/unpaired_small"
    c.data.load_size = 36
    model.features = 4
    model.g_blocks = 1
    model.global_layers = 4  # 6x6 patches at 32 px
    model.local_layers = 3  # 14x14
    _halves(c, 4)
    c.log_every = 1
    c.sample_every = 2
    c.checkpoint_every = 2
    c.sample.num = 2
    c.eval.batch_size = 4
    c.eval.html_rows = 4
  return c
