"""Context models of MLIC++ (Jiang & Wang, arXiv 2307.15421), NHWC.

- `LocalContext`: 5x5 window attention over the decoded anchors, with a Swin-style
  relative-position bias and a checkerboard mask, giving the non-anchors' local context.
- `LinearGlobalInterContext`: linear attention (Shen et al. 2021) over all earlier
  slices: global context across channels.
- `LinearGlobalIntraContext`: linear attention from the previous slice's non-anchors
  to its anchors, applied to the current slice's anchors: global spatial context.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lic_jax.entropy import checkerboard
from lic_jax.nn.layers import Conv2d, gelu

# Additive mask value of the original: large but finite, so fully masked rows
# still give a (uniform-ish) softmax rather than NaN.
MASK_VALUE = -100.0


def relative_position_index(window):
  """(w*w, w*w) index into the (2w-1)^2-row bias table (Swin Transformer's layout)."""
  rows, cols = np.meshgrid(np.arange(window), np.arange(window), indexing="ij")
  rows, cols = rows.reshape(-1), cols.reshape(-1)
  d_row = rows[:, None] - rows[None, :] + window - 1
  d_col = cols[:, None] - cols[None, :] + window - 1
  return d_row * (2 * window - 1) + d_col


def window_patches(x, window):
  """All window x window neighbourhoods, zero padded: (B, H, W, C) -> (B, H, W, w*w, C).

  Patch position p = di * window + dj, the order of torch's nn.Unfold.
  """
  pad = window // 2
  h, w = x.shape[1], x.shape[2]
  padded = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  return jnp.stack([padded[:, di:di + h, dj:dj + w]
                    for di in range(window) for dj in range(window)], axis=3)


def checkerboard_attention_mask(height, width, window):
  """(H, W, w*w, w*w) additive mask: 0 where query and key are both anchors.

  Everything else, including the zero padding outside the latent, is masked. Which
  window positions are anchors is a small numpy constant; the (H, W, w*w, w*w) mask
  is made from it at run time, fused into its use: XLA would otherwise fold it into
  a constant of a million entries, a third of the window attention's compile time.
  """
  rows, cols = np.arange(height)[:, None], np.arange(width)[None, :]
  pad = window // 2
  anchors = np.pad(((rows + cols) % 2 == 1).astype(np.float32), pad)
  in_window = jax.lax.optimization_barrier(jnp.asarray(np.stack(
      [anchors[di:di + height, dj:dj + width] for di in range(window) for dj in range(window)],
      axis=-1)))
  both = in_window[..., :, None] * in_window[..., None, :]
  return jnp.where(both == 1, 0.0, MASK_VALUE)


class MLP(nn.Module):
  """Linear, GELU, Linear."""
  hidden: int
  features: int

  @nn.compact
  def __call__(self, x):
    return nn.Dense(self.features, name="fc2")(gelu(nn.Dense(self.hidden, name="fc1")(x)))


class LocalContext(nn.Module):
  """Checkerboard-masked window attention over anchors: (B,H,W,C) -> (B,H,W,2C).

  Every latent position attends within its window, anchors to anchors only; the
  w*w attended vectors are then fused by an unpadded w x w conv into one.
  """
  window: int = 5
  num_heads: int = 2
  mlp_ratio: float = 2.0

  @nn.compact
  def __call__(self, x):
    b, h, w, c = x.shape
    area = self.window ** 2
    head_dim = c // self.num_heads
    table = self.param("relative_position_table", nn.initializers.truncated_normal(0.02),
                       ((2 * self.window - 1) ** 2, self.num_heads))
    ln = lambda name: nn.LayerNorm(epsilon=1e-5, use_fast_variance=False, name=name)

    qkv = nn.Dense(3 * c, name="qkv_proj")(ln("norm1")(x))
    # Channel d * num_heads + head belongs to head `head` (the original's reshape).
    # q, k, v and heads move to the batch axis before the window expansion (25x the
    # data), where the move is cheap: (B*3*heads, H, W, head_dim).
    qkv = qkv.reshape(b, h, w, 3, head_dim, self.num_heads).transpose(0, 3, 5, 1, 2, 4)
    patches = window_patches(qkv.reshape(-1, h, w, head_dim), self.window)
    patches = patches.reshape(b, 3, self.num_heads, h * w, area, head_dim)
    q, k, v = patches[:, 0] * head_dim ** -0.5, patches[:, 1], patches[:, 2]

    logits = jnp.einsum("bnlpd,bnlqd->bnlpq", q, k)             # (B, heads, HW, area, area)
    bias = table[relative_position_index(self.window)]            # (area, area, heads)
    logits = logits + bias.transpose(2, 0, 1)[:, None]
    logits = logits + checkerboard_attention_mask(h, w, self.window).reshape(h * w, area, area)
    out = jnp.einsum("bnlpq,bnlqd->blpnd", jax.nn.softmax(logits, axis=-1), v)

    # Fuse the window: (B*H*W, w, w, C) -> (B*H*W, 1, 1, 2C); channel = head*hd + d.
    out = out.reshape(b * h * w, self.window, self.window, c)
    out = Conv2d(2 * c, self.window, padding=0, name="fusion")(out).reshape(b, h, w, 2 * c)
    out = nn.Dense(2 * c, name="proj")(out)
    return out + MLP(int(2 * c * self.mlp_ratio), 2 * c, name="mlp")(ln("norm2")(out))


def _pointwise_then_depthwise(x, name):
  """1x1 conv then depthwise 3x3: the key/query/value maps of the linear attention."""
  c = x.shape[-1]
  x = Conv2d(c, 1, name=f"{name}_0")(x)
  return Conv2d(c, 3, groups=c, name=f"{name}_1")(x)


def linear_attention(queries, keys, values, num_heads):
  """Efficient attention (Shen et al. 2021): softmax keys over positions, queries
  over channels, then Q (K^T V). Inputs (B, L, C) -> (B, L, C), heads are
  contiguous channel blocks."""
  b, l, c = queries.shape
  split = lambda t: t.reshape(b, l, num_heads, c // num_heads)
  keys = jax.nn.softmax(split(keys), axis=1)
  queries = jax.nn.softmax(split(queries), axis=-1)
  context = jnp.einsum("blnd,blne->bnde", keys, split(values))
  return jnp.einsum("bnde,blnd->blne", context, queries).reshape(b, l, c)


def _mlp_block(x, hidden, features):
  """1x1 conv, GELU, depthwise 3x3, GELU, 1x1 conv, named mlp_0/2/4."""
  x = gelu(Conv2d(hidden, 1, name="mlp_0")(x))
  x = gelu(Conv2d(hidden, 3, groups=hidden, name="mlp_2")(x))
  return Conv2d(features, 1, name="mlp_4")(x)


class LinearGlobalInterContext(nn.Module):
  """Linear attention over the earlier slices: (B,H,W,i*C_s) -> (B,H,W,features)."""
  features: int
  num_heads: int

  @nn.compact
  def __call__(self, x):
    b, h, w, c = x.shape
    flat = lambda t: t.reshape(b, h * w, c)
    attended = linear_attention(flat(_pointwise_then_depthwise(x, "queries")),
                                flat(_pointwise_then_depthwise(x, "keys")),
                                flat(_pointwise_then_depthwise(x, "values")),
                                self.num_heads).reshape(b, h, w, c)
    att = Conv2d(self.features * 3 // 2, 5, name="reprojection")(attended)
    skip = Conv2d(self.features, 1, name="skip")(att)
    return skip + _mlp_block(att, 2 * self.features, self.features)


class LinearGlobalIntraContext(nn.Module):
  """Global spatial context for the non-anchors of slice i.

  In the previous slice (fully decoded), non-anchors attend to anchors; the same
  attention weights then gather the current slice's anchors.
  previous: (B,H,W,C), anchors: (B,H,W,C) -> (B,H,W,2C), non-zero at non-anchors
  before the final convs spread it.
  """
  num_heads: int = 2

  @nn.compact
  def __call__(self, previous, anchors):
    b, h, w, c = previous.shape
    flat = lambda t: t.reshape(b, h * w // 2, c)
    queries = checkerboard.squeeze_nonanchor(
        _pointwise_then_depthwise(checkerboard.nonanchor(previous), "queries"))
    keys = checkerboard.squeeze_anchor(
        _pointwise_then_depthwise(checkerboard.anchor(previous), "keys"))
    values = checkerboard.squeeze_anchor(_pointwise_then_depthwise(anchors, "values"))
    attended = linear_attention(flat(queries), flat(keys), flat(values), self.num_heads)
    attended = checkerboard.unsqueeze_nonanchor(attended.reshape(b, h, w // 2, c))
    att = Conv2d(2 * c, 5, name="reprojection")(attended)
    return att + _mlp_block(att, 4 * c, 2 * c)
