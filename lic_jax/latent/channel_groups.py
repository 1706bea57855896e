"""Channel groups ("slices", Minnen & Singh 2020; He et al. 2022): y is cut into
channel groups coded one after another, each with the decoded earlier groups as
context.
"""
import dataclasses

import jax.numpy as jnp

from lic_jax.latent.base import LatentCodec, average_blocks, split_channels
from lic_jax.latent.context import EMPTY
from lic_jax.latent.layout import StreamLayout


@dataclasses.dataclass(frozen=True)
class ChannelGroups(LatentCodec):
  """widths: the groups' channel counts (summing to y's); group: the codec of each
  group, given the context with `group` (its index, an int) and `previous` (the
  decoded groups before it, concatenated on channels; (B, h, w, 0) for group 0)."""
  widths: tuple
  group: LatentCodec

  def __post_init__(self):
    # A config read back from JSON holds a list; the codec stays hashable.
    object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))

  def code(self, model, mode, y, context=EMPTY, latents=None):
    previous = jnp.zeros(tuple(y.shape[:-1]) + (0,), y.dtype)
    stream = self.group.streams()[0]
    likelihoods, scale = [], 1
    for i, y_group in enumerate(split_channels(y, self.widths)):
      if scale == 1 and mode.predicts(stream):
        # A preview: the groups from here on are predicted, not decoded, on a coarser
        # grid (the synthesis runs on it too), from the block means of their context.
        scale = mode.preview_scale
        context = context.map(lambda value: average_blocks(value, scale))
        previous = average_blocks(previous, scale)
      if scale > 1:
        y_group = average_blocks(y_group, scale)
      y_hat, group_likelihoods = self.group.code(
          model, mode, y_group, context.add(group=i, previous=previous))
      previous = jnp.concatenate([previous, y_hat], axis=-1)
      likelihoods.append(group_likelihoods)
    merged = {name: None if likelihoods[0][name] is None else
              jnp.concatenate([group[name] for group in likelihoods], axis=-1)
              for name in likelihoods[0]}
    return previous, merged

  def layout(self):
    # Each group's calls (one, or a checkerboard's two halves) code its stream: with
    # the groups before it as context, every one decodes without the ones after it.
    return StreamLayout(units=self.group.streams()[0], groups=len(self.widths))
