"""Model registry: arch name -> (config class, module class)."""
from lic_jax.models.elic import ELIC, ELICConfig
from lic_jax.models.mlicpp import MLICPlusPlus, MLICPlusPlusConfig

ARCHS = {
    "mlicpp": (MLICPlusPlusConfig, MLICPlusPlus),
    "mlicpp-old": (MLICPlusPlusConfig, MLICPlusPlus),
    "elic": (ELICConfig, ELIC),
}


def build(arch, config):
  """The Flax module for `arch` with `config` (a dataclass or its dict)."""
  config_cls, model_cls = ARCHS[arch]
  if isinstance(config, dict):
    config = config_cls(**config)
  return model_cls(config)
