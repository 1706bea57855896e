"""The train state and its two optimizers, as the original's `configure_optimizers`.

The original trains with two Adam optimizers over disjoint parameter sets:

  main: every parameter except the entropy bottlenecks' `quantiles`, driven by the RD
        loss, LR 1e-4 with MultiStepLR (gamma 0.1), gradients clipped to a global norm
        (`clip_grad_norm_` over all parameters, skipped when the max norm is 0);
  aux:  only the `quantiles`, driven by the aux loss (which stops gradients into the
        density), LR 1e-3, no schedule, no clipping.

The entropy bottlenecks are the model attributes of the factorized priors in its
latent codec tree (`LatentCodec.factorized_modules`: "entropy_bottleneck" in every
model here, but a model may name its priors and have several); the functions below
take their names as `bottlenecks`.

The RD loss does reach `quantiles` (z_hat = round(z - median) + median), but with a
straight-through round its gradient there is -g + g = 0 (exactly 0.0 here too, checked
on a small MLIC++), so the original's clipping
norm over all parameters equals the norm over the main ones, and the quantiles move by
the aux loss alone. Here the main optimizer is an `optax.multi_transform` over the
whole tree that zeroes the quantiles' updates, and the aux optimizer an Adam over the
quantiles array alone; a step keeps the original's order: main update, then the aux
loss at the updated density, then the aux update.
"""
import dataclasses
import math
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from lic_jax.entropy import factorized

MAIN, AUX = "main", "aux"
GAMMA = 0.1  # The original's MultiStepLR decay factor.


@flax.struct.dataclass
class TrainState:
  """Everything a step reads and writes; a checkpoint is this plus the data position.

  step: int32 scalar, steps done; rng: the PRNG key (uint32 (2,)) the next step splits;
  opt_state / aux_opt_state: the states of the main and aux optimizers (the main
  Adam moments are flat vectors over the main params, see `optimizers`).
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


def param_labels(params, bottlenecks):
  """AUX for the quantiles of the entropy bottlenecks, MAIN for every other leaf."""
  aux_paths = [[name, "quantiles"] for name in bottlenecks]

  def label(path, _):
    return AUX if [getattr(k, "key", None) for k in path] in aux_paths else MAIN
  return jax.tree_util.tree_map_with_path(label, params)


def learning_rate(config):
  """The main LR per step: multi-step decay by GAMMA after each milestone."""
  return optax.piecewise_constant_schedule(
      config.lr, {int(m): GAMMA for m in sorted(config.milestones)})


def optimizers(config, params, bottlenecks):
  """(main, aux) optax transforms: main over the whole param tree (the quantiles'
  updates zeroed), aux over the quantiles (`quantiles(params, bottlenecks)`)."""
  main = optax.adam(learning_rate(config))
  if config.clip_norm > 0:
    # Inside the MAIN branch: the norm is over main gradients only (see module doc).
    main = optax.chain(optax.clip_by_global_norm(config.clip_norm), main)
  # Adam on one flat vector instead of ~250 (MLIC++) leaves: the same elementwise
  # math, but a few large fused ops instead of thousands of tiny ones, which cut the
  # step's XLA compile time on CPU by more than half and launches fewer kernels.
  main = optax.flatten(main)
  main_tx = optax.multi_transform({MAIN: main, AUX: optax.set_to_zero()},
                                 param_labels(params, bottlenecks))
  return main_tx, optax.adam(config.aux_lr)


def quantiles(params, bottlenecks):
  """{bottleneck: its quantiles (N, 1, 3)}, the aux optimizer's parameters."""
  return {name: params[name]["quantiles"] for name in bottlenecks}


def with_quantiles(params, values):
  """`params` with the quantiles of each bottleneck in `values` replaced (a shallow
  copy)."""
  return {**params, **{name: dict(params[name], quantiles=q) for name, q in values.items()}}


def aux_loss(params, bottlenecks):
  """The sum of the bottlenecks' aux losses (`factorized.aux_loss`)."""
  return sum(factorized.aux_loss(params[name]) for name in bottlenecks)


def create(params, main_tx, aux_tx, rng, bottlenecks):
  """A fresh state at step 0 for `params` (a param tree without the 'params' key)."""
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    opt_state=main_tx.init(params),
                    aux_opt_state=aux_tx.init(quantiles(params, bottlenecks)),
                    rng=jnp.asarray(rng, jnp.uint32))


def num_params(params):
  """Number of scalars in a param tree (arrays or ShapeDtypeStructs)."""
  return int(sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(params)))
