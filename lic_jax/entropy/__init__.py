"""Entropy models: pure likelihood math, CDF tables and the range coder.

Only `range_coder` imports TensorFlow, and only when a symbol is coded.
"""
