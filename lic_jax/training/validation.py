"""Validation: the eval step (rounding, as the decoder sees y_hat) over centre crops."""
import jax
import jax.numpy as jnp
import numpy as np

from lic_jax import losses, metrics
from lic_jax.training import sharding, state


def make_eval_step(model, lmbda, metric, lambdas=None):
  """(params, uint8 images) -> per-image metrics (B,) in eval mode (rounding), and
  the aux loss. psnr is of the 8-bit reconstruction, as a decoded image. lambdas: a
  variable-rate model's; it is scored at each level (`<metric>_q<k>`), and `loss`,
  `bpp` and `psnr` are their means over the levels."""

  def scores(params, x, quality, lmbda):
    out = model.apply({"params": params}, x, None, quality)
    terms = losses.per_image_terms(out, x, lmbda, metric)
    x8 = jnp.round(jnp.clip(out["x_hat"], 0.0, 1.0) * 255.0) / 255.0
    terms["psnr"] = metrics.psnr(jnp.mean(jnp.square(x8 - x), axis=(1, 2, 3)))
    return terms

  def eval_step(params, images):
    x = images.astype(jnp.float32) / 255.0
    aux = state.aux_loss(params, model.latent_codec.factorized_modules())
    if lambdas is None:
      return scores(params, x, None, lmbda), aux
    levels = [scores(params, x, jnp.full((x.shape[0],), k + 1.0), level_lmbda)
              for k, level_lmbda in enumerate(lambdas)]
    terms = {name: sum(level[name] for level in levels) / len(levels) for name in levels[0]}
    for k, level in enumerate(levels):
      terms.update({f"{name}_q{k + 1}": level[name] for name in ("bpp", "psnr")})
    return terms, aux

  return eval_step


class Validation:
  """The validation crops in global batches padded to the training batch size."""

  def __init__(self, images, paths, batch_size, mesh):
    self.paths = paths
    self.mesh = mesh
    self.batches = []
    for start in range(0, len(images), batch_size):
      chunk = images[start:start + batch_size]
      weight = np.zeros(batch_size, np.float32)
      weight[:len(chunk)] = 1
      pad = np.repeat(chunk[-1:], batch_size - len(chunk), axis=0)
      self.batches.append((np.concatenate([chunk, pad]), weight))

  def run(self, eval_fn, params):
    """Mean of each per-image metric over the set, and the aux loss."""
    sums, total, aux = {}, 0.0, 0.0
    sharded = sharding.batch_sharded(self.mesh)
    for images, weight in self.batches:
      batch = jax.make_array_from_callback(images.shape, sharded, lambda i: images[i])
      terms, aux = eval_fn(params, batch)
      for name, values in sharding.host_copy(terms).items():
        sums[name] = sums.get(name, 0.0) + float(np.sum(values * weight))
      total += float(weight.sum())
    means = {name: value / total for name, value in sums.items()}
    means["aux_loss"] = float(sharding.host_copy(aux))
    return means
