"""Channel groups ("slices", Minnen & Singh 2020; He et al. 2022): y is cut into
channel groups coded one after another, each with the decoded earlier groups as
context.
"""
import dataclasses

import jax.numpy as jnp

from lic_jax.latent.base import LatentCodec, average_blocks, predicted, split_channels


@dataclasses.dataclass(frozen=True)
class ChannelGroups(LatentCodec):
  """widths: the groups' channel counts (summing to y's); group: the codec of each
  group, given context (i, *context, previous) with `previous` the decoded groups
  < i concatenated on channels ((B, h, w, 0) for group 0)."""
  widths: tuple
  group: LatentCodec

  @property
  def decodes_forward(self):
    return self.group.decodes_forward

  def code(self, stages, mode, y, context=(), latents=None):
    previous = jnp.zeros(tuple(y.shape[:-1]) + (0,), y.dtype)
    likelihoods, scale = [], 1
    for i, y_group in enumerate(split_channels(y, self.widths)):
      if scale == 1 and predicted(mode, self.group.name):
        # A preview: the groups from here on are predicted, not decoded, on a coarser
        # grid (the synthesis runs on it too), from the block means of their context.
        scale = mode.coarse
        context, previous = average_blocks((context, previous), scale)
      if scale > 1:
        y_group = average_blocks(y_group, scale)
      y_hat, group_likelihoods = self.group.code(stages, mode, y_group, (i, *context, previous))
      previous = jnp.concatenate([previous, y_hat], axis=-1)
      likelihoods.append(group_likelihoods)
    merged = {name: None if likelihoods[0][name] is None else
              jnp.concatenate([group[name] for group in likelihoods], axis=-1)
              for name in likelihoods[0]}
    return previous, merged

  def tables(self, params):
    return self.group.tables(params)

  def prefix_units(self):
    # Each group's calls (one, or a checkerboard's two halves) code its stream: with
    # the groups before it as context, every one decodes without the ones after it.
    return self.group.name, len(self.widths)
