"""A run's model, optimizers, train state and compiled steps on a mesh.

One jitted step does what one iteration of the original's `train_one_epoch` does:
the training forward (uniform noise for the likelihoods, straight-through rounding
for the latents), the RD loss, a clipped Adam update of the main parameters, then
the aux loss at the updated density and an Adam update of the entropy bottleneck's
quantiles. Steps are compiled once ahead of time for a (global batch, patch) shape,
sharded over a Mesh of all devices (batch split, state replicated), the state donated.
"""
import collections
import json
import time

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optax

from lic_jax import losses
from lic_jax.models import registry
from lic_jax.models.base import VariableRateModel
from lic_jax.nn import variable_rate
from lic_jax.training import config as config_lib
from lic_jax.training import sharding, validation
from lic_jax.training import state as state_lib

# Shape of the dummy input params are created with (params do not depend on it).
INIT_SHAPE = (1, 64, 64, 3)


def _init_fn(model):
  """key -> a fresh param tree of `model`."""
  return lambda key: model.init(key, jnp.zeros(INIT_SHAPE))["params"]


def param_shapes(model):
  """The param tree of `model` as ShapeDtypeStructs (nothing computed)."""
  return jax.eval_shape(_init_fn(model), jax.random.PRNGKey(0))


def init_params(model, mesh, seed, loaded=None, partial=False, say=print):
  """Replicated params: fresh from `model.init`, or `loaded` (host arrays) after
  checking they have exactly the model's tree, shapes and dtypes. partial: `loaded`
  may lack some of the model's params (another arch started from it), which start
  fresh; the others must fit."""
  if loaded is None:
    init = jax.jit(_init_fn(model), out_shardings=sharding.replicated(mesh))
    return init(jax.random.PRNGKey(seed))
  expected = param_shapes(model)
  paths = lambda tree: {jax.tree_util.keystr(p): x
                        for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]}
  want, have = paths(expected), paths(loaded)
  misfit = sorted(k for k in set(want) & set(have) if (want[k].shape, want[k].dtype)
                  != (np.shape(have[k]), np.asarray(have[k]).dtype))
  extra, fresh = sorted(set(have) - set(want)), sorted(set(want) - set(have))
  if misfit or extra or (fresh and not partial):
    raise config_lib.TrainingError(
        f"--init-from params do not fit the model: shapes differ at {misfit[:5]}, the model "
        f"has none of {extra[:5]}, the init model none of {fresh[:5]}")
  leaves = dict(have)
  if fresh:
    say(f"starting {len(fresh)} params the --init-from model lacks fresh: {', '.join(fresh)}")
    leaves.update({k: v for k, v in paths(jax.device_get(_init_fn(model)(
        jax.random.PRNGKey(seed)))).items() if k in fresh})
  return sharding.replicate(jax.tree_util.tree_unflatten(
      jax.tree_util.tree_structure(expected),
      [np.asarray(leaves[k]) for k in paths(expected)]), mesh)


def rate_of_each_image(rng, batch, lambdas):
  """A variable-rate batch: each image's quality, uniform over [1, levels] (the whole
  range the quality knob offers, not only the trained levels), and its lambda
  between the levels' lambdas as the gain is between the gains."""
  quality = jax.random.uniform(rng, (batch,), minval=1.0, maxval=float(len(lambdas)))
  return quality, variable_rate.log_interpolate(jnp.asarray(lambdas, jnp.float32), quality)


def level_weights(image_lmbda, lambdas, balance):
  """Each image's weight in a variable-rate batch's loss: (lambda_mid / its lambda) ^
  balance, lambda_mid the ladder's geometric middle. The loss lambda*D + R of a high
  level is many times a low level's (about 20x over a factor 80 of lambda), so under a
  plain sum the high rates steer the shared weights; balance ~0.7 makes the levels'
  losses about equal in size (0: the plain sum)."""
  middle = np.exp(np.mean(np.log(np.asarray(lambdas, np.float64))))
  return (jnp.float32(middle) / image_lmbda) ** balance


def make_train_step(model, main_tx, aux_tx, schedule, lmbda, metric, lambdas=None,
                    balance=0.0):
  """(state, uint8 images (B, P, P, 3)) -> (new state, dict of scalar metrics).
  lambdas: a variable-rate model's, one per level: each image at a rate of its own
  (`rate_of_each_image`), instead of all at `lmbda`, its loss weighted by
  `level_weights(..., balance)` (the metrics are the unweighted terms)."""

  def train_step(state, images):
    x = images.astype(jnp.float32) / 255.0
    rng, key = jax.random.split(state.rng)
    quality, image_lmbda, weights = None, lmbda, 1.0
    if lambdas is not None:
      rng, rate_key = jax.random.split(rng)
      quality, image_lmbda = rate_of_each_image(rate_key, x.shape[0], lambdas)
      weights = level_weights(image_lmbda, lambdas, balance)

    def loss_fn(params):
      out = model.apply({"params": params}, x, key, quality)
      per_image = losses.per_image_terms(out, x, image_lmbda, metric)
      return jnp.mean(weights * per_image["loss"]), losses.batch_means(per_image)

    (_, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = main_tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    # As the original: the aux loss is taken after the main step, at the new density
    # (aux_loss stops gradients into the density, so only the quantiles get one).
    bottlenecks = model.latent_codec.factorized_modules()
    quantiles = state_lib.quantiles(params, bottlenecks)
    aux, aux_grad = jax.value_and_grad(lambda q: state_lib.aux_loss(
        state_lib.with_quantiles(params, q), bottlenecks))(quantiles)
    aux_update, aux_opt_state = aux_tx.update(aux_grad, state.aux_opt_state, quantiles)
    params = state_lib.with_quantiles(params, optax.apply_updates(quantiles, aux_update))
    grad_norm = jnp.linalg.norm(jax.flatten_util.ravel_pytree(grads)[0])
    metrics = dict(terms, aux_loss=aux, grad_norm=grad_norm, lr=schedule(state.step))
    new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                              aux_opt_state=aux_opt_state, rng=rng)
    return new_state, metrics

  return train_step


def compile_step(fn, args, in_shardings, out_shardings, donate, name, say):
  """Ahead-of-time compiled `fn` for the shapes of `args` (which may be abstract);
  calling it with other shapes is an error instead of a silent recompile."""
  start = time.perf_counter()
  compiled = jax.jit(fn, in_shardings=in_shardings, out_shardings=out_shardings,
                     donate_argnums=donate).lower(*args).compile()
  seconds = time.perf_counter() - start
  batch = args[-1]
  say(f"compiled {name} for {tuple(batch.shape)} {batch.dtype} in {seconds:.1f} s")
  return compiled, seconds


# Compiled steps of this process by everything their program depends on, so that a
# second run with the same settings (a resume in a notebook, the tests) reuses them;
# the newest few only, as each holds a compiled program.
_COMPILED = collections.OrderedDict()
_COMPILED_KEEP = 4


class Trainer:
  """A run's model, optimizers, train state and compiled steps on a mesh.

  params: host params to start from (default: --init-from, else a fresh init).
  abstract: only the state's shapes (`state` holds ShapeDtypeStructs), for a state
  that a checkpoint restore will fill; saves compiling the init.
  """

  def __init__(self, config, mesh, params=None, say=print, abstract=False):
    if config.metric not in losses.METRICS:
      raise config_lib.TrainingError(f"--metric must be one of {losses.METRICS}")
    self.config, self.mesh, self.say = config, mesh, say
    resolved = config_lib.resolve_model(config)
    self.arch, self.model_config = resolved.arch, resolved.config
    self.model = registry.build(self.arch, self.model_config)
    self._check_rates()
    if config.patch_size % self.model.pad_multiple:
      raise config_lib.TrainingError(
          f"--patch-size must be a multiple of {self.model.pad_multiple} (the total "
          f"stride of {self.arch}), not {config.patch_size}")
    self.opt_config = state_lib.OptimizerConfig(
        lr=config.lr, milestones=config.milestones(), clip_norm=config.clip_norm,
        aux_lr=config.aux_lr)
    self.replicated = sharding.replicated(mesh)
    self.batch_sharding = sharding.batch_sharded(mesh)
    if abstract:
      params = param_shapes(self.model)
    elif params is None:
      params = init_params(self.model, mesh, config.seed, resolved.params,
                           partial=bool(config.init_from and config.arch), say=say)
      params = self._start_gains(params, resolved)
    else:
      params = sharding.replicate(params, mesh)
    bottlenecks = self.model.latent_codec.factorized_modules()
    self.main_tx, self.aux_tx = state_lib.optimizers(self.opt_config, params, bottlenecks)
    create = jax.jit(lambda p, key: state_lib.create(p, self.main_tx, self.aux_tx, key,
                                                     bottlenecks),
                     out_shardings=self.replicated)
    key = jax.random.PRNGKey(config.seed + 1)
    self.state = jax.eval_shape(create, params, key) if abstract else create(params, key)
    self.train_fn = self.eval_fn = None
    self.compile_seconds = {}

  def _check_rates(self):
    """--lambdas for a variable-rate model (one per level), --lambda for the others."""
    levels = getattr(self.model.config, "levels", None) if isinstance(
        self.model, VariableRateModel) else None
    lambdas = self.config.lambdas
    if levels is None and lambdas is not None:
      raise config_lib.TrainingError(f"--lambdas trains a variable-rate model, and {self.arch} "
                                     "is not one (e.g. elic-vbr is); use --lambda")
    if levels is not None and (lambdas is None or len(lambdas) != levels):
      raise config_lib.TrainingError(
          f"{self.arch} codes {levels} levels of rate: give --lambdas, {levels} lambdas "
          f"from low to high (e.g. a factor 1.7 apart), not {lambdas}")
    if lambdas is not None and any(b <= a for a, b in zip(lambdas, lambdas[1:])):
      raise config_lib.TrainingError(f"--lambdas must rise from low to high rate: {lambdas}")
    if self.config.level_balance and lambdas is None:
      raise config_lib.TrainingError("--level-balance weights the levels of --lambdas, and "
                                     "this run trains one rate: drop it or give --lambdas")

  def _start_gains(self, params, resolved):
    """A variable-rate model started from a fixed-rate one trained at lambda L (its
    quantizer is gain 1 there): each level's gain starts at sqrt(lambda / L), the
    step size that lambda calls for at high rate (distortion ~ step^2 / 12)."""
    if (self.config.lambdas is None or not isinstance(resolved.lmbda, (int, float))
        or resolved.params is None or "Gain" in resolved.params):
      return params
    gains = np.sqrt(np.asarray(self.config.lambdas, np.float32) / np.float32(resolved.lmbda))
    self.say(f"gains start at sqrt(lambda / {resolved.lmbda}): "
             + " ".join(f"{g:.3f}" for g in gains))
    return {**params, "Gain": sharding.replicate(gains, self.mesh)}

  def batch_spec(self):
    """The global uint8 batch the steps take (shape, dtype, sharding)."""
    c = self.config
    return jax.ShapeDtypeStruct((c.batch_size, c.patch_size, c.patch_size, 3), jnp.uint8,
                                sharding=self.batch_sharding)

  def _compile(self, name, make, args, out_shardings, donate):
    c = self.config
    key = (name, self.arch, json.dumps(self.model_config, sort_keys=True, default=list),
           self.opt_config, c.lmbda, c.lambdas, c.level_balance, c.metric, c.batch_size,
           c.patch_size, tuple(d.id for d in self.mesh.devices.flat), jax.process_count())
    if key in _COMPILED:
      self.say(f"reusing the compiled {name}")
      self.compile_seconds[name] = 0.0
      _COMPILED.move_to_end(key)
      return _COMPILED[key]
    compiled, self.compile_seconds[name] = compile_step(
        make(), args, (self.replicated, self.batch_sharding), out_shardings, donate,
        name.replace("_", " "), self.say)
    _COMPILED[key] = compiled
    while len(_COMPILED) > _COMPILED_KEEP:
      _COMPILED.popitem(last=False)
    return compiled

  def compile_train(self):
    """Compiles the train step; `self.train_fn(state, batch) -> (state, metrics)`
    then donates the state it is given."""
    self.train_fn = self._compile(
        "train_step", lambda: make_train_step(
            self.model, self.main_tx, self.aux_tx, state_lib.learning_rate(self.opt_config),
            self.config.lmbda, self.config.metric, self.config.lambdas,
            self.config.level_balance),
        (self.state, self.batch_spec()), (self.replicated, self.replicated), 0)

  def compile_eval(self):
    self.eval_fn = self._compile(
        "eval_step", lambda: validation.make_eval_step(self.model, self.config.lmbda,
                                                       self.config.metric, self.config.lambdas),
        (self.state.params, self.batch_spec()), self.replicated, ())

  def step(self, local_images):
    """One training step on this process's rows; returns the metrics (on device)."""
    self.state, metrics = self.train_fn(self.state, sharding.global_batch(local_images,
                                                                          self.mesh))
    return metrics
