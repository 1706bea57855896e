"""Checkerboard context (He et al., CVPR 2021): the anchor half of the positions is
coded first, then the non-anchor half with the decoded anchors as spatial context.
Both halves are Gaussian; see `lic_jax.entropy.checkerboard` for the layout.
"""
import dataclasses

import jax.numpy as jnp

from lic_jax.entropy import checkerboard
from lic_jax.latent.base import ANCHOR, NONANCHOR, Gaussian, LatentCodec
from lic_jax.latent.context import EMPTY, call
from lic_jax.latent.tables import gaussian_stream_tables


@dataclasses.dataclass(frozen=True)
class Checkerboard(LatentCodec):
  """The model methods, each given the context values it asks for by name:

  anchor -> {"scales", "means"}: the anchors' Gaussian; any further outputs (e.g. a
    channel context) join the context of the two methods below;
  nonanchor -> {"scales", "means"}, and "anchor_hat" if the model corrects the
    decoded anchors (latent residual prediction): from `anchor_hat`, the decoded
    anchors (zero at non-anchors);
  finish -> y_hat, or None: a last correction of the whole group, from `y_hat`.
  """
  anchor: str = "anchor_params"
  nonanchor: str = "nonanchor_params"
  finish: str | None = None
  name: str = "y"
  METHODS = ("anchor", "nonanchor", "finish")

  def code(self, model, mode, y, context=EMPTY, latents=None):
    anchor = dict(call(model, self.anchor, context=context))
    dist = Gaussian.of(anchor)
    context = context.add(**{k: v for k, v in anchor.items() if k not in ("scales", "means")})
    if mode.predicts(self.name):
      # A preview: not decoded but predicted in one pass, from the anchor step's
      # parameters, which need no spatial context, at every position.
      return self._finish(model, context, jnp.broadcast_to(dist.center(), y.shape)), {
          self.name: None}
    anchor_hat, anchor_likelihoods = mode(self.name, y, dist, ANCHOR)
    nonanchor = call(model, self.nonanchor, context=context, anchor_hat=anchor_hat)
    anchor_hat = nonanchor.get("anchor_hat", anchor_hat)
    nonanchor_hat, likelihoods = mode(self.name, y, Gaussian.of(nonanchor), NONANCHOR)
    y_hat = self._finish(model, context, anchor_hat + nonanchor_hat)
    if likelihoods is not None:
      is_anchor = checkerboard.anchor_mask(y.shape[1], y.shape[2], jnp.bool_)
      likelihoods = jnp.where(is_anchor, anchor_likelihoods, likelihoods)
    return y_hat, {self.name: likelihoods}

  def _finish(self, model, context, y_hat):
    return call(model, self.finish, context=context, y_hat=y_hat) if self.finish else y_hat

  def streams(self):
    return (self.name,)

  def stream_tables(self, params):
    return {self.name: gaussian_stream_tables()}
