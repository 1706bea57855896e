"""What MLIC++ and ELIC share: the hyperprior transforms and the forward pass.

A subclass defines `config` (with `slice_widths`), the submodules `g_a`, `g_s`,
`h_a`, `h_s` and `entropy_bottleneck` in `setup`, and the slice step
(`anchor_params`, `nonanchor_params`, `finish_slice`, see `lic_jax.models.slices`).
"""
import flax.linen as nn

from lic_jax.models import slices


class SlicedHyperpriorModel(nn.Module):
  """Hyperprior model with a channel-sliced, checkerboard context model. NHWC."""

  def __call__(self, x, rng=None):
    """Forward pass, see `lic_jax.models.slices.forward`."""
    return slices.forward(self, x, rng)

  def forward_latents(self, y, z, rng=None):
    """The forward pass from latents y and z, see `slices.forward_latents`."""
    return slices.forward_latents(self, y, z, rng)

  def analysis(self, x):
    """(B, H, W, 3) -> y (B, H/16, W/16, M)."""
    return self.g_a(x)

  def hyper_analysis(self, y):
    """y (B, h, w, M) -> z (B, h/4, w/4, N)."""
    return self.h_a(y)

  def hyper_synthesis(self, z_hat):
    """z_hat (B, h/4, w/4, N) -> hyper params (B, h, w, 2M): scales then means."""
    return self.h_s(z_hat)

  def synthesis(self, y_hat):
    """y_hat (B, h, w, M) -> x_hat (B, 16h, 16w, 3), not clipped."""
    return self.g_s(y_hat)

  def entropy_bottleneck_params(self):
    """The factorized prior's parameter dict (see lic_jax.entropy.factorized)."""
    return self.entropy_bottleneck()
