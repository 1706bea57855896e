"""The base class of every model: analysis and synthesis transforms and a latent codec.

A model subclasses `CompressionModel` (a Flax module with a frozen `config`), defines
its submodules in `setup`, and provides

  analysis(x)   (B, H, W, 3) -> y
  synthesis(y_hat) -> x_hat (B, H, W, 3), not clipped
  latent_codec  a `lic_jax.latent` codec tree (a property: it may read the config)
  and the methods its latent codec names (hyper_analysis, gaussian_params, ...).

The forward pass, the likelihoods and (through `lic_jax.codec`) compress and
decompress then all follow from the latent codec.
"""
import flax.linen as nn

from lic_jax.latent import Likelihoods


def forward_from_latents(stages, latents, rng=None):
  """latents {"y": y, side latents (e.g. "z")} -> dict of x_hat, y_hat and
  `<name>_likelihoods` for every stream. Evaluation mode without `rng`; with it,
  training mode (noise for the likelihoods, rounding per the config's `quant`).

  stages: the bound model, or the codec's jitted stages (same methods)."""
  mode = Likelihoods(rng, getattr(stages.config, "quant", "ste"))
  y_hat, likelihoods = stages.latent_codec.code(stages, mode, latents["y"], latents=latents)
  out = {f"{name}_likelihoods": value for name, value in likelihoods.items()}
  return {"x_hat": stages.synthesis(y_hat), **out, "y_hat": y_hat}


def analyze(stages, x):
  """x -> {"y": analysis(x), plus the side latents the latent codec derives}."""
  y = stages.analysis(x)
  return {"y": y, **stages.latent_codec.side_latents(stages, y)}


class CompressionModel(nn.Module):
  """A learned image codec; NHWC. See the module doc for what a subclass defines."""
  # Images are padded to a multiple of this (the total stride of the transforms).
  pad_multiple = 64

  def __call__(self, x, rng=None):
    """x (B, H, W, 3) in [0, 1], H and W multiples of `pad_multiple` -> dict of
    x_hat, y_hat and the likelihoods of each stream (y, and z with a hyperprior)."""
    return forward_from_latents(self, analyze(self, x), rng)

  def forward_latents(self, latents, rng=None):
    """The forward pass from given latents (the encoder's refinement passes its own)."""
    return forward_from_latents(self, latents, rng)

  def latents(self, x):
    """x -> the latents the encoder codes, see `analyze`."""
    return analyze(self, x)


class HyperpriorModel(CompressionModel):
  """A model whose submodules g_a, g_s, h_a, h_s (compressai's names) are the
  analysis, synthesis and hyper transforms."""

  def analysis(self, x):
    """(B, H, W, 3) -> y (B, H/16, W/16, M)."""
    return self.g_a(x)

  def synthesis(self, y_hat):
    """y_hat (B, h, w, M) -> x_hat (B, 16h, 16w, 3), not clipped."""
    return self.g_s(y_hat)

  def hyper_analysis(self, y):
    """y (B, h, w, M) -> z (B, h/4, w/4, N)."""
    return self.h_a(y)

  def hyper_synthesis(self, z_hat):
    """z_hat (B, h/4, w/4, N) -> the hyper parameters (B, h, w, ...)."""
    return self.h_s(z_hat)
