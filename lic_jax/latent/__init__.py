"""Composable latent codecs: the entropy side of a model.

    FactorizedPrior      a learned per-channel density (index = channel)
    GaussianConditional  Gaussian with model-computed scales (and means)
    Hyperprior           z = h_a(y) first, then y given `hyper` = h_s(z_hat)
    ChannelGroups        channel slices, each with the earlier ones as context
    Checkerboard         anchor then non-anchor half (Gaussian)
    RasterAutoregressive position by position with a masked context model, decoded
                         by wavefronts (Gaussian)
    VariableRate         the codec inside at a gain the caller chooses: every rate
                         from one model (Kamisli et al. 2024)

MLIC++ and ELIC are Hyperprior(ChannelGroups(Checkerboard)); bmshj2018-hyperprior
is Hyperprior(GaussianConditional), mbt2018 and cheng2020
Hyperprior(RasterAutoregressive); bmshj2018-factorized is FactorizedPrior over y.

`base`: positions, distributions and the `LatentCodec` base; `context`: the named
values codecs hand the model methods (`call`) and the build-time check of a model's
methods;
`modes`: the coding modes every codec calls alike (likelihoods, encode, decode, a
part of a stream, a preview); `checks`: the decoding checks each string carries;
`layout`: which strings a stream holds and what a prefix of them decodes;
`tables`: each stream's CDF tables, from the latent codecs and the weights.
"""
from lic_jax.latent.base import (ALL, ANCHOR, NONANCHOR, Factorized, Gaussian, LatentCodec,
                                 Positions, average_blocks)
from lic_jax.latent.context import EMPTY, Context, ModelDefinitionError, call, check_methods
from lic_jax.latent.layout import StreamLayout
from lic_jax.latent.modes import (CodingMode, Decode, Encode, Likelihoods, PartialDecode,
                                  Preview)
from lic_jax.latent.tables import StreamTables
from lic_jax.latent.autoregressive import RasterAutoregressive
from lic_jax.latent.channel_groups import ChannelGroups
from lic_jax.latent.checkerboard import Checkerboard
from lic_jax.latent.factorized import FactorizedPrior
from lic_jax.latent.gaussian import GaussianConditional
from lic_jax.latent.hyperprior import Hyperprior
from lic_jax.latent.variable_rate import VariableRate

__all__ = ["ALL", "ANCHOR", "EMPTY", "NONANCHOR", "ChannelGroups", "Checkerboard",
           "CodingMode", "Context", "Decode", "Encode", "Factorized", "FactorizedPrior",
           "Gaussian", "GaussianConditional", "Hyperprior", "LatentCodec", "Likelihoods",
           "ModelDefinitionError", "PartialDecode", "Positions", "Preview",
           "RasterAutoregressive", "StreamLayout", "StreamTables", "VariableRate",
           "average_blocks", "call", "check_methods"]
