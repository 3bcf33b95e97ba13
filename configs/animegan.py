"""AnimeGANv2: photo -> anime (a light generator, grayscale adversarial and style losses, a colour
loss, VGG19 content features).

  python -m gan_jax.main --config=configs/animegan.py --workdir=runs/animegan_hayao
  python -m gan_jax.main --config=configs/animegan.py:shinkai --workdir=runs/animegan_shinkai \
      --config.data.folder=dataset/Shinkai --config.model.vgg_weights=vgg19.npy
  python -m gan_jax.main --config=configs/animegan.py:cpu --workdir=runs/animegan_cpu
  python -m gan_jax.main --config=configs/animegan.py:cpu --workdir=runs/animegan_cpu \
      --mode=translate --input=photos/ --output=anime/

Data: the reference's folders (data.folder=dataset/<style>, beside dataset/train_photo; see
gan_jax/data/style_folders.py), or any unpaired data: photos trainA, style images trainB. The
edge-smoothed style images the discriminator also sees come from <style>/smooth/ when it exists,
else are derived from the style images (gan_jax/data/smoothing.py). The offline default is the
embedded `toon` data, its photos as the photos and its cartoons as the style.
VGG19: config.model.vgg_weights names torchvision's vgg19 state dict (set vgg_input='imagenet_rgb')
or the reference's vgg19.npy ('caffe_bgr'); empty, a deterministic random VGG19 is used and the log
says so (random conv features are a weaker perceptual loss).

Sources: Chen et al. 2020, "AnimeGAN: A Novel Lightweight GAN for Photo Animation"; the official
TF code TachibanaYoshino/AnimeGANv2: main.py (argparse defaults and its per-style comments),
AnimeGANv2.py (losses, phases, optimizers), tools/ops.py (discriminator term weights per style).
"""

import ml_collections

from gan_jax.config import base_config, parse_preset

PRESETS = ("default", "hayao", "paprika", "shinkai", "v1", "cpu", "tiny")
# main.py: --epoch 101, --init_epoch 10, --batch_size 12; an epoch is max(photos, style images) /
# batch iterations, and the reference's dataset has 6,656 training photos: 554 per epoch.
ITERATIONS_PER_EPOCH = 6656 // 12

# Per style (main.py's comments; tools/ops.py's discriminator_loss comments): content, style,
# colour, tv weights of G; real, fake, gray, smooth weights of D's terms.
STYLES = {
  "hayao": dict(content=1.5, style=2.5, color=15.0, tv=1.0, d_terms=(1.2, 1.2, 1.2, 0.8)),
  "paprika": dict(content=2.0, style=0.6, color=50.0, tv=0.1, d_terms=(1.0, 1.0, 1.0, 0.005)),
  "shinkai": dict(content=1.2, style=2.0, color=10.0, tv=1.0, d_terms=(1.7, 1.7, 1.7, 1.0)),
}


def _style(c, name: str) -> None:
  s = STYLES[name]
  for key in ("content", "style", "color", "tv"):
    c.loss[key] = s[key]
  c.loss.d_real, c.loss.d_fake, c.loss.d_gray, c.loss.d_smooth = s["d_terms"]


def get_config(arg=None):
  preset = parse_preset(arg, PRESETS, "configs/animegan.py")
  c = base_config()
  c.family = "animegan"
  c.image_size = 256  # main.py --img_size [256, 256]
  c.batch_size = 12  # main.py --batch_size 12
  c.total_steps = 101 * ITERATIONS_PER_EPOCH  # --epoch 101
  c.log_every = 100
  c.sample_every = ITERATIONS_PER_EPOCH  # the reference writes val samples every epoch
  c.checkpoint_every = ITERATIONS_PER_EPOCH  # --save_freq 1 (epoch)

  c.data.name = "toon/unpaired"  # embedded photos (A) and cartoons (B) (gan_jax/data/toon.py)
  c.data.crop = "none"  # the reference reads its 256 px images as they are: no crop, no flip
  c.data.flip = False
  c.sample.num = 4

  c.model = model = ml_collections.ConfigDict()
  model.generator = "v2"  # AnimeGANv2's G; 'v1': the first AnimeGAN's (preset :v1)
  model.g_features = 32  # generator.py G_net: 32, 64, 128, 256 channels (2,143,552 params)
  model.g_blocks = 4  # four inverted residual blocks
  # Bilinear x2 before the D and E convs: 'half_pixel' (PyTorch's align_corners=False, the port's
  # recommended comparison) or 'align_corners' (the port's default forward).
  model.upsample = "half_pixel"
  model.d_features = 64  # main.py --ch 64 (the first D conv has 32)
  model.d_layers = 3  # main.py --n_dis 3
  model.spectral_norm = True  # main.py --sn True
  model.d_norm = "layer"  # discriminator.py: layer norm (v1's D: instance norm)
  model.vgg_weights = ""  # torchvision vgg19 .pth or the reference's vgg19.npy; '' = random VGG19
  model.vgg_input = "caffe_bgr"  # 'caffe_bgr' (vgg19.npy, random) or 'imagenet_rgb' (torchvision)
  model.conv_formulation = "auto"  # strided convs: picked per backend (nets/layers.py)
  model.dtype = "float32"

  c.optim = optim = ml_collections.ConfigDict()
  # main.py --init_lr 2e-4, --g_lr 2e-5, --d_lr 4e-5; AnimeGANv2.py: Adam(beta1 0.5, beta2 0.999)
  # for each (the init phase's optimizer is its own); --training_rate 1 (one D per G update).
  optim.init_lr = 2e-4
  optim.g_lr = 2e-5
  optim.d_lr = 4e-5
  optim.b1 = 0.5
  optim.b2 = 0.999
  optim.init_steps = 10 * ITERATIONS_PER_EPOCH  # --init_epoch 10: content loss only

  c.loss = loss = ml_collections.ConfigDict()
  loss.g_adversarial = 300.0  # main.py --g_adv_weight 300 (LSGAN, --gan_type lsgan)
  loss.d_adversarial = 300.0  # main.py --d_adv_weight 300
  loss.content, loss.style, loss.color, loss.tv = 0.0, 0.0, 0.0, 0.0
  loss.d_real, loss.d_fake, loss.d_gray, loss.d_smooth = 0.0, 0.0, 0.0, 0.0
  _style(c, "hayao")  # the default style: main.py's --dataset Hayao

  if preset in ("paprika", "shinkai"):
    _style(c, preset)
  elif preset == "v1":
    # The first AnimeGAN (TachibanaYoshino/AnimeGAN train.py defaults, AnimeGAN.py, net/*.py):
    # 64-channel G with 8 blocks and TF1 resizes (3,956,096 params), instance norm in D, batch 6,
    # 5 init epochs of 101, lrs 1e-4 / 8e-5 / 16e-5, weights content 1.5, style 3, colour 10,
    # no TV, D terms 1, 1, 1, 0.1 (tools/ops.py).
    per_epoch = 6656 // 6
    model.generator, model.g_features, model.g_blocks = "v1", 64, 8
    model.upsample = "tf_legacy"
    model.d_norm = "instance"
    c.batch_size = 6
    c.total_steps = 101 * per_epoch
    optim.init_steps = 5 * per_epoch
    c.sample_every = c.checkpoint_every = per_epoch
    optim.init_lr, optim.g_lr, optim.d_lr = 1e-4, 8e-5, 16e-5
    loss.content, loss.style, loss.color, loss.tv = 1.5, 3.0, 10.0, 0.0
    loss.d_real, loss.d_fake, loss.d_gray, loss.d_smooth = 1.0, 1.0, 1.0, 0.1
  elif preset == "cpu":
    # 2 CPU cores: 64 px toon photos -> cartoons, batch 4; the reference's nets and weights (Hayao),
    # an init phase of a tenth of the run as the reference's 10 of 101 epochs. Not tuned.
    c.image_size = 64
    c.batch_size = 4
    c.total_steps = 2000
    optim.init_steps = 200
    c.log_every = 50
    c.sample_every = 500
    c.checkpoint_every = 500
    c.eval.batch_size = 5
  elif preset == "tiny":
    # Seconds: 32 px, narrow nets (the random VGG19 keeps its widths), two init steps then two
    # adversarial ones. Direct convs compile fastest; the others are checked in test_layers.py.
    model.conv_formulation = "direct"
    c.image_size = 32
    c.batch_size = 2
    c.data.name = "toon/unpaired_small"
    model.g_features = 4
    model.g_blocks = 1
    model.d_features = 8
    model.d_layers = 2
    c.total_steps = 4
    optim.init_steps = 2
    c.log_every = 1
    c.sample_every = 2
    c.checkpoint_every = 2
    c.sample.num = 2
    c.eval.batch_size = 4
    c.eval.html_rows = 4
  return c
