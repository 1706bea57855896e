"""Building blocks shared by the models. All tensors are NHWC."""
