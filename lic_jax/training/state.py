"""The train state and its two optimizers, as the original's `configure_optimizers`.

The original trains with two Adam optimizers over disjoint parameter sets:

  main: every parameter except the entropy bottleneck's `quantiles`, driven by the RD
        loss, LR 1e-4 with MultiStepLR (gamma 0.1), gradients clipped to a global norm
        (`clip_grad_norm_` over all parameters, skipped when the max norm is 0);
  aux:  only the `quantiles`, driven by the aux loss (which stops gradients into the
        density), LR 1e-3, no schedule, no clipping.

The RD loss does reach `quantiles` (z_hat = round(z - median) + median), but with a
straight-through round its gradient there is -g + g = 0, so the original's clipping
norm over all parameters equals the norm over the main ones, and the quantiles move by
the aux loss alone. Here each optimizer is an `optax.multi_transform` over the same
labels that zeroes the other set, which keeps the original's order in a step: main
update, then the aux loss at the updated density, then the aux update.
"""
import dataclasses
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

MAIN, AUX = "main", "aux"
GAMMA = 0.1  # The original's MultiStepLR decay factor.


@flax.struct.dataclass
class TrainState:
  """Everything a step reads and writes; a checkpoint is this plus the data position.

  step: int32 scalar, steps done; rng: the PRNG key (uint32 (2,)) the next step splits;
  opt_state / aux_opt_state: the states of the main and aux optimizers.
  """
  step: jax.Array
  params: Any
  opt_state: Any
  aux_opt_state: Any
  rng: jax.Array


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
  """lr: main Adam LR before decay; milestones: steps after which it is multiplied
  by GAMMA; clip_norm: global gradient-norm bound of the main update (0 = none);
  aux_lr: Adam LR of the quantiles."""
  lr: float = 1e-4
  milestones: tuple = ()
  clip_norm: float = 1.0
  aux_lr: float = 1e-3


def param_labels(params):
  """AUX for the entropy bottleneck's quantiles, MAIN for every other leaf."""
  def label(path, _):
    names = [getattr(k, "key", None) for k in path]
    return AUX if names[-1] == "quantiles" and "entropy_bottleneck" in names else MAIN
  return jax.tree_util.tree_map_with_path(label, params)


def learning_rate(config):
  """The main LR per step: multi-step decay by GAMMA after each milestone."""
  return optax.piecewise_constant_schedule(
      config.lr, {int(m): GAMMA for m in sorted(config.milestones)})


def optimizers(config, params):
  """(main, aux) optax transforms over the whole param tree, each zeroing the
  updates of the other's parameters."""
  main = optax.adam(learning_rate(config))
  if config.clip_norm > 0:
    # Inside the MAIN branch: the norm is over main gradients only (see module doc).
    main = optax.chain(optax.clip_by_global_norm(config.clip_norm), main)
  labels = param_labels(params)
  main_tx = optax.multi_transform({MAIN: main, AUX: optax.set_to_zero()}, labels)
  aux_tx = optax.multi_transform({MAIN: optax.set_to_zero(), AUX: optax.adam(config.aux_lr)},
                                 labels)
  return main_tx, aux_tx


def create(params, main_tx, aux_tx, rng):
  """A fresh state at step 0 for `params` (a param tree without the 'params' key)."""
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    opt_state=main_tx.init(params), aux_opt_state=aux_tx.init(params),
                    rng=jnp.asarray(rng, jnp.uint32))


def num_params(params):
  return int(sum(x.size for x in jax.tree_util.tree_leaves(params)))
