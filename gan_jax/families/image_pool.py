"""The history of generated images that CycleGAN's discriminators train on (Shrivastava et al.
2017; Zhu et al. 2017, Sec. 4), as a pure function over a fixed-size buffer in the train state.

The reference's rule (`ImagePool.query`), image by image through the batch: while fewer than `size`
images are stored, store the new image and return it; once full, with probability 1/2 return a
uniformly chosen stored image and store the new one in its place, else return the new image. A pool
of size 0 (the reference's --pool_size 0) holds no buffer and returns its input.
"""

import flax
import jax
import jax.numpy as jnp


@flax.struct.dataclass
class Pool:
  images: jax.Array | None  # [size, H, W, C]; slots at and past `count` are unused; None: size 0
  count: jax.Array  # int32 scalar: images stored so far (at most size)


def create(size: int, image_shape: tuple[int, ...], dtype=jnp.float32) -> Pool:
  # No zero-size buffer for size 0: checkpoints cannot hold zero-size arrays.
  images = jnp.zeros((size, *image_shape), dtype) if size else None
  return Pool(images=images, count=jnp.zeros((), jnp.int32))


def query(pool: Pool, images: jax.Array, rng: jax.Array) -> tuple[Pool, jax.Array]:
  """Returns (the updated pool, the images for the discriminator), both pure in `rng`.

  Args:
    pool: the current pool.
    images: [B, H, W, C] new fakes (the caller stops their gradient).
    rng: randomness of this query.

  Returns:
    The pool after storing, and [B, H, W, C] images: each either its input or an older fake.
  """
  if pool.images is None:
    return pool, images
  size = pool.images.shape[0]

  def one(pool: Pool, xs):
    image, key = xs
    coin_key, slot_key = jax.random.split(key)
    filling = pool.count < size
    swap = jax.random.uniform(coin_key) > 0.5
    slot = jnp.where(filling, pool.count, jax.random.randint(slot_key, (), 0, size))
    stored = pool.images[slot]
    keep_new = filling | swap  # the new image goes into the pool
    out = jnp.where(~filling & swap, stored, image)
    updated = pool.images.at[slot].set(jnp.where(keep_new, image.astype(stored.dtype), stored))
    return Pool(images=updated, count=pool.count + filling.astype(jnp.int32)), out

  keys = jax.random.split(rng, images.shape[0])
  pool, out = jax.lax.scan(one, pool, (images, keys))
  return pool, out.astype(images.dtype)
