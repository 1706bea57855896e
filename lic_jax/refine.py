"""Encoder-side refinement of the latents, for one image.

g_a and h_a are amortized: one network guesses the latents of every image, and for a
given image they are not the latents that code it best. Gradient descent on that
image's own rate-distortion loss, over y and z, finds better ones (Campos et al.,
"Content Adaptive Optimization for Neural Image Compression", 2019; Yang, Bamler and
Mandt, "Improving Inference for Neural Image Compression", NeurIPS 2020). Only the
encoder changes: the refined latents are coded as g_a's would be, through the same
slice steps, so the stream format and the decoder are untouched, and a decoder
cannot tell. The price is `steps` forward and backward passes at encode time.
"""
import functools

import jax
import jax.numpy as jnp
import optax

from lic_jax import losses

# Adam's step size on the latents, cosine-decayed to 0 over the steps. On the bundled
# (stage-3) model and photo, 200 steps: 0.05 decayed beat 0.01 and 0.03 held constant.
LEARNING_RATE = 0.05


def refine_latents(model, params, x, latents, *, height, width, steps, lmbda, metric="mse",
                   seed=0, quality=None):
  """Latents that lower this image's rate-distortion loss; same dict and shapes.

  model, params: the model and its weights; x (1, H, W, 3) the padded image in
  [0, 1]; latents: {"y": ..., "z": ...} to start from (the analysis transforms');
  height, width: the image's size before padding, the pixels that
  count. The loss is training's (`lic_jax.losses`, with `lmbda` and
  `metric`): uniform noise for the rates, straight-through rounding for the
  reconstruction. quality: a variable-rate model's, which the latents are coded at.
  """
  quality = None if quality is None else jnp.asarray([quality], jnp.float32)
  opt_state = _optimizer(steps).init(latents)
  rng = jax.random.PRNGKey(seed)
  for _ in range(steps):  # one compiled step in a Python loop: XLA's CPU backend
    # runs this body about 3x slower inside a fori_loop
    rng, step_rng = jax.random.split(rng)
    latents, opt_state = _step(model, params, x, latents, opt_state, step_rng, quality,
                               height=height, width=width, steps=steps, lmbda=lmbda,
                               metric=metric)
  return latents


def _optimizer(steps):
  return optax.adam(optax.cosine_decay_schedule(LEARNING_RATE, steps))


@functools.partial(jax.jit, static_argnames=("model", "height", "width", "steps", "metric"),
                   donate_argnames=("latents", "opt_state"))
def _step(model, params, x, latents, opt_state, rng, quality, *, height, width, steps, lmbda,
          metric):
  def loss(latents):
    out = model.apply({"params": params}, latents, rng, quality,
                      method=type(model).forward_latents)
    out = dict(out, x_hat=out["x_hat"][:, :height, :width])
    return losses.per_image_terms(out, x[:, :height, :width], lmbda, metric)["loss"].sum()

  updates, opt_state = _optimizer(steps).update(jax.grad(loss)(latents), opt_state)
  return optax.apply_updates(latents, updates), opt_state
