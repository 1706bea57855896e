"""Models: one file per family, found through `lic_jax.models.registry`."""
from lic_jax.models.registry import ModelSpec, build, get, names, register

__all__ = ["ModelSpec", "build", "get", "names", "register"]
