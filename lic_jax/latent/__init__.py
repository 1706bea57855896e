"""Composable latent codecs: the entropy side of a model.

    FactorizedPrior      a learned per-channel density (index = channel)
    GaussianConditional  Gaussian with model-computed scales (and means)
    Hyperprior           z = h_a(y) first, then y given h_s(z_hat)
    ChannelGroups        channel slices, each with the earlier ones as context
    Checkerboard         anchor then non-anchor half (Gaussian)
    RasterAutoregressive position by position with a masked context model, decoded
                         by wavefronts (Gaussian)

MLIC++ and ELIC are Hyperprior(ChannelGroups(Checkerboard)); bmshj2018-hyperprior
is Hyperprior(GaussianConditional), mbt2018 and cheng2020
Hyperprior(RasterAutoregressive); bmshj2018-factorized is FactorizedPrior over y.
Each codec computes its parameters once and hands them to a mode: the likelihoods
of training and evaluation (`base`), or the coder's encode and decode (`coding`).
`tables`: each stream's CDF tables, from the latent codecs and the weights.
"""
from lic_jax.latent.base import (ALL, ANCHOR, NONANCHOR, Factorized, Gaussian, LatentCodec,
                                 Likelihoods, Positions, average_blocks)
from lic_jax.latent.coding import Decode, Encode
from lic_jax.latent.tables import StreamTables
from lic_jax.latent.autoregressive import RasterAutoregressive
from lic_jax.latent.channel_groups import ChannelGroups
from lic_jax.latent.checkerboard import Checkerboard
from lic_jax.latent.factorized import FactorizedPrior
from lic_jax.latent.gaussian import GaussianConditional
from lic_jax.latent.hyperprior import Hyperprior

__all__ = ["ALL", "ANCHOR", "NONANCHOR", "ChannelGroups", "Checkerboard", "Decode", "Encode",
           "Factorized", "FactorizedPrior", "Gaussian", "GaussianConditional", "Hyperprior",
           "LatentCodec", "Likelihoods", "Positions", "RasterAutoregressive", "StreamTables",
           "average_blocks"]
