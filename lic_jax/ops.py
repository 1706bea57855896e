"""Small differentiable ops shared by layers and entropy models.

Both follow compressai's gradients, so that training in JAX behaves like training
the original PyTorch models.
"""
import jax
import jax.numpy as jnp


@jax.custom_vjp
def lower_bound(x, bound):
  """max(x, bound), but the gradient still flows where it pushes x up past the bound.

  A plain max has zero gradient below the bound, which can leave a parameter stuck
  there forever (compressai's LowerBound; Ballé et al. 2018).
  """
  return jnp.maximum(x, bound)


def _lower_bound_fwd(x, bound):
  return jnp.maximum(x, bound), (x, bound)


def _lower_bound_bwd(res, g):
  x, bound = res
  pass_through = (x >= bound) | (g < 0)
  return g * pass_through.astype(g.dtype), jnp.zeros_like(bound)


lower_bound.defvjp(_lower_bound_fwd, _lower_bound_bwd)


def ste_round(x):
  """Rounds half to even (like torch.round) with an identity gradient."""
  return x + jax.lax.stop_gradient(jnp.round(x) - x)
