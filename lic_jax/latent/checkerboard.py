"""Checkerboard context (He et al., CVPR 2021): the anchor half of the positions is
coded first, then the non-anchor half with the decoded anchors as spatial context.
Both halves are Gaussian; see `lic_jax.entropy.checkerboard` for the layout.
"""
import dataclasses

import jax.numpy as jnp

from lic_jax.entropy import checkerboard
from lic_jax.latent.base import ANCHOR, NONANCHOR, Gaussian, LatentCodec, predicted
from lic_jax.latent.tables import gaussian_stream_tables


@dataclasses.dataclass(frozen=True)
class Checkerboard(LatentCodec):
  """The model methods, given the enclosing codec's context:

  anchor(*context) -> (scales, means, carry): the anchors' parameters, and whatever
    the non-anchor step reuses (e.g. channel contexts);
  nonanchor(*context, anchor_hat, carry) -> (anchor_hat, scales, means): from the
    decoded anchors (zero at non-anchors), which it may correct (latent residual
    prediction);
  finish(*context, y_hat) -> y_hat, or None: a last correction of the whole latent.
  """
  anchor: str = "anchor_params"
  nonanchor: str = "nonanchor_params"
  finish: str | None = None
  name: str = "y"

  def code(self, stages, mode, y, context=(), latents=None):
    scales, means, carry = getattr(stages, self.anchor)(*context)
    if predicted(mode, self.name):
      # A preview: not decoded but predicted in one pass, from the anchor step's
      # parameters, which need no spatial context, at every position.
      y_hat = jnp.broadcast_to(Gaussian(scales, means).center(), y.shape)
      return (getattr(stages, self.finish)(*context, y_hat) if self.finish else y_hat), {
          self.name: None}
    anchor_hat, anchor_likelihoods = mode(self.name, y, Gaussian(scales, means), ANCHOR)
    anchor_hat, scales, means = getattr(stages, self.nonanchor)(*context, anchor_hat, carry)
    nonanchor_hat, likelihoods = mode(self.name, y, Gaussian(scales, means), NONANCHOR)
    y_hat = anchor_hat + nonanchor_hat
    if self.finish:
      y_hat = getattr(stages, self.finish)(*context, y_hat)
    if likelihoods is not None:
      is_anchor = checkerboard.anchor_mask(y.shape[1], y.shape[2], jnp.bool_)
      likelihoods = jnp.where(is_anchor, anchor_likelihoods, likelihoods)
    return y_hat, {self.name: likelihoods}

  def tables(self, params):
    return {self.name: gaussian_stream_tables()}
