"""Entropy models as pure math: the factorized prior, the Gaussian conditional,
checkerboard layouts and the CompressAI-compatible CDF tables. No coder here: symbols
are coded by `lic_jax.coder`, in the order the latent codecs (`lic_jax.latent`) set.
"""
