"""gan_jax: GAN families for image generation and style transfer in JAX/Flax."""

__version__ = "0.1.0"
