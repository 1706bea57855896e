"""The train state's two optimizers (`lic_jax.training.state`): which parameters
each one drives, the LR schedule, and entropy bottlenecks found through the latent
codec tree whatever the model calls them, one or several."""
import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from lic_jax import models
from lic_jax.entropy.factorized import EntropyBottleneck
from lic_jax.latent import EMPTY, FactorizedPrior, GaussianConditional, Hyperprior, LatentCodec
from lic_jax.latent.base import split_channels
from lic_jax.models.base import CompressionModel
from lic_jax.training import state, trainer

TINY = {"N": 32, "M": 64, "slice_num": 2}


@dataclasses.dataclass(frozen=True)
class SplitPriors(LatentCodec):
  """y's channels in two halves, each with a factorized prior of its own."""
  first: LatentCodec = FactorizedPrior("prior_a", "a")
  second: LatentCodec = FactorizedPrior("prior_b", "b")

  def code(self, model, mode, y, context=EMPTY, latents=None):
    half = y.shape[-1] // 2
    y_a, y_b = split_channels(y, (half, half))
    a_hat, a = self.first.code(model, mode, y_a)
    b_hat, b = self.second.code(model, mode, y_b)
    return jnp.concatenate([a_hat, b_hat], axis=-1), {**a, **b}


@dataclasses.dataclass(frozen=True)
class TwoPriorsConfig:
  channels: int = 2


class TwoPriors(CompressionModel):
  """x (B, H, W, 3) -> y (B, H/4, W/4, 2C), coded by `SplitPriors`."""
  config: TwoPriorsConfig
  pad_multiple = 4
  latent_codec = SplitPriors()

  def setup(self):
    c = self.config.channels
    self.g_a = nn.Conv(2 * c, (4, 4), (4, 4))
    self.g_s = nn.ConvTranspose(3, (4, 4), (4, 4))
    self.prior_a, self.prior_b = EntropyBottleneck(c), EntropyBottleneck(c)


def aux_leaves(params, bottlenecks):
  labels = jax.tree_util.tree_leaves_with_path(state.param_labels(params, bottlenecks))
  return [jax.tree_util.keystr(p) for p, label in labels if label == state.AUX]


def test_bottlenecks_come_from_the_latent_codec_tree():
  for name in models.names():
    codec = models.get(name).build(models.get(name).make_config("test-small")).latent_codec
    assert codec.factorized_modules() == ("entropy_bottleneck",), name
  renamed = Hyperprior(GaussianConditional(), z=FactorizedPrior("hyper_prior"))
  assert renamed.factorized_modules() == ("hyper_prior",)
  assert SplitPriors().factorized_modules() == ("prior_a", "prior_b")


def test_optimizers_split_quantiles_and_decay_at_milestones():
  shapes = trainer.param_shapes(models.build("mlicpp", TINY))
  assert aux_leaves(shapes, ("entropy_bottleneck",)) == ["['entropy_bottleneck']['quantiles']"]
  assert len(jax.tree_util.tree_leaves(shapes)) > 100
  schedule = state.learning_rate(state.OptimizerConfig(lr=1e-4, milestones=(3, 5)))
  np.testing.assert_allclose([schedule(s) for s in range(7)],
                             [1e-4] * 3 + [1e-5] * 2 + [1e-6] * 2, rtol=1e-5)
  # The main optimizer leaves the quantiles alone; the aux one is Adam on them.
  params = {"entropy_bottleneck": {"quantiles": jnp.ones((2, 1, 3)), "bias_0": jnp.ones(2)},
            "g": jnp.ones(3)}
  main, _ = state.optimizers(state.OptimizerConfig(), params, ("entropy_bottleneck",))
  grads = jax.tree_util.tree_map(jnp.ones_like, params)
  updates, _ = main.update(grads, main.init(params), params)
  assert float(jnp.abs(updates["entropy_bottleneck"]["quantiles"]).max()) == 0
  assert float(jnp.abs(updates["g"]).min()) > 0


def test_two_renamed_priors_train_each_with_the_aux_loss():
  """A model whose factorized priors are `prior_a` and `prior_b`: both quantiles go
  to the aux optimizer alone, the step's aux loss is the sum of both, and a step
  moves both the way plain Adam on that sum does."""
  model = TwoPriors(TwoPriorsConfig())
  bottlenecks = model.latent_codec.factorized_modules()
  x = jax.random.uniform(jax.random.PRNGKey(0), (2, 16, 16, 3))
  params = model.init(jax.random.PRNGKey(1), x)["params"]
  assert aux_leaves(params, bottlenecks) == ["['prior_a']['quantiles']",
                                             "['prior_b']['quantiles']"]
  config = state.OptimizerConfig(lr=1e-3, aux_lr=1e-2)
  main_tx, aux_tx = state.optimizers(config, params, bottlenecks)
  start = state.create(params, main_tx, aux_tx, jax.random.PRNGKey(2), bottlenecks)
  step = jax.jit(trainer.make_train_step(model, main_tx, aux_tx, state.learning_rate(config),
                                         0.01, "mse"))
  images = jnp.asarray(np.asarray(x) * 255, jnp.uint8)
  after, metrics = step(start, images)

  # The aux step: Adam on the sum of both aux losses at the density after the main
  # step, whose quantiles the main step left as they were.
  quantiles = state.quantiles(params, bottlenecks)
  main_params = state.with_quantiles(after.params, quantiles)
  aux, grads = jax.value_and_grad(
      lambda q: state.aux_loss(state.with_quantiles(main_params, q), bottlenecks))(quantiles)
  np.testing.assert_allclose(metrics["aux_loss"], aux, rtol=1e-5)
  expected = optax.apply_updates(quantiles, aux_tx.update(grads, aux_tx.init(quantiles))[0])
  for name in bottlenecks:
    moved = after.params[name]["quantiles"]
    assert float(jnp.abs(moved - params[name]["quantiles"]).max()) > 1e-4, name
    np.testing.assert_allclose(moved, expected[name], rtol=1e-6, atol=1e-7)
    # The density itself is the main optimizer's.
    assert float(jnp.abs(after.params[name]["bias_0"] - params[name]["bias_0"]).max()) > 0
  assert metrics["a_bpp"] > 0 and metrics["b_bpp"] > 0
