"""CompressAI's zoo conventions that several model families share: the (N, M)
config, the configs per zoo quality, and the converter's tests of the zoo's key
structure (`lic_jax.models.balle`, `minnen`, `cheng2020` and the variable-rate
models). Infrastructure, not a model family: the registry does not import it as one.
"""
import dataclasses

import numpy as np

from lic_jax.entropy import raster
from lic_jax.models import registry
from lic_jax.nn.variable_rate import Z_STEP_MIN


@dataclasses.dataclass(frozen=True)
class BalleConfig:
  """N: channels of the transforms (and of z); M: channels of y."""
  N: int = 192
  M: int = 320


@dataclasses.dataclass(frozen=True)
class VariableRateConfig(BalleConfig):
  """A variable-rate model's (N, M), its number of gains (one per training lambda),
  and whether a network gives z's quantization step from the gain (CompressAI's
  `vr_entbttlnck`, as its zoo files are loaded)."""
  levels: int = 8
  z_step: bool = True


# The keys only a variable-rate model has (Kamisli et al. 2024).
VARIABLE_RATE_KEYS = ("Gain", "QuantABCD.0.weight")
# The z step network's lower bound (checked, not converted).
Z_STEP_BOUND = "lower_bound_zqstep.bound"


def is_variable_rate(sd):
  return all(k in sd for k in VARIABLE_RATE_KEYS)


def infer_variable_rate_config(sd):
  """N, M as `infer_config`; the gains' count; a z step network if its keys are there."""
  return VariableRateConfig(**dataclasses.asdict(infer_config(sd)), levels=int(sd["Gain"].shape[0]),
                            z_step="gayn2zqstep.0.weight" in sd)


def variable_rate_hyperprior_converter(outputs):
  """The converter of a variable-rate model on Ballé et al.'s transforms whose h_s
  gives `outputs` times M channels (1: scales, 2: scales and means); the z step
  network's bound is checked, not converted (the bottleneck's tables are stored empty
  with a z step: they depend on the rate)."""
  return registry.Converter(
      recognize=lambda sd: hyper_outputs(sd) == outputs and is_variable_rate(sd),
      infer_config=infer_variable_rate_config,
      signature=VARIABLE_RATE_KEYS + ("h_a.0.weight", "h_s.4.weight"),
      constants=lambda key, config: np.array([Z_STEP_MIN]) if key == Z_STEP_BOUND else None)


# The key structure of Ballé et al.'s transforms: convs at 0, 2, 4, 6 and GDNs between
# (cheng2020's g_a also has a `g_a.6.weight`, but residual blocks elsewhere).
TRANSFORM_KEYS = tuple(f"{t}.{k}.{name}" for t in ("g_a", "g_s")
                       for k, name in enumerate(("weight", "gamma") * 3 + ("weight",)))
# Key prefixes of the models with a hyperprior and of the autoregressive ones
# (mbt2018, cheng2020).
HYPER_PREFIXES = ("h_a.", "h_s.", "gaussian_conditional.")
CONTEXT_PREFIXES = ("context_prediction.", "entropy_parameters.")

# A factorized prior over y keeps its tables in the bottleneck's buffers.
FACTORIZED_TABLE_ARRAYS = {
    "entropy_bottleneck._quantized_cdf": "y_quantized_cdf",
    "entropy_bottleneck._cdf_length": "y_cdf_length",
    "entropy_bottleneck._offset": "y_offset",
}


def has_prefix(sd, prefixes):
  return any(k.startswith(prefixes) for k in sd)


def hyper_outputs(sd):
  """Output channels of h_s's last conv, as multiples of M (1: scales; 2: scales and
  means); None if the keys are not Ballé et al.'s transforms with a hyperprior."""
  keys = TRANSFORM_KEYS + ("h_a.0.weight", "h_s.4.weight")
  if not all(k in sd for k in keys) or has_prefix(sd, CONTEXT_PREFIXES):
    return None
  outputs, M = sd["h_s.4.weight"].shape[0], sd["g_a.6.weight"].shape[0]
  return outputs // M if outputs % M == 0 else None


def infer_config(sd):
  """N from g_a's first conv, M from its last (PyTorch OIHW: out channels first)."""
  return BalleConfig(N=int(sd["g_a.0.weight"].shape[0]), M=int(sd["g_a.6.weight"].shape[0]))


def presets(qualities_by_size):
  """{"q<k>": {"N": n, "M": m}} from {(N, M): qualities} (compressai/zoo/image.py)."""
  return {f"q{q}": {"N": N, "M": M} for (N, M), qs in qualities_by_size.items() for q in qs}


def mask_constant(key, M):
  """The mask compressai stores beside the context model's weight (OIHW, type A),
  for `key` "context_prediction.mask" (else None): checked, not converted."""
  if key != "context_prediction.mask":
    return None
  return np.broadcast_to(raster.mask(5), (2 * M, M, 5, 5))


def mask_context_weight(sd):
  """The converter's `prepare`: the context weight masked, as compressai masks it on
  every forward (its 1.2.0b3 decompress used the stored weight as it was)."""
  weight = sd["context_prediction.weight"]
  return {**sd, "context_prediction.weight": weight * raster.mask(weight.shape[-1])}
