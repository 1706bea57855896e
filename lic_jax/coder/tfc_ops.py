"""tensorflow-compression's range coder ops, the `tfc` implementation.

The only module of lic_jax that imports TensorFlow, lazily, when the first
encoder or decoder is made, with TensorFlow's GPUs hidden (JAX owns the accelerator)
and its logging quieted. The same `RangeEncoder` / `RangeDecoder` as
`lic_jax.coder.numba_ops`, over the ops create_range_encoder, entropy_encode_index,
entropy_encode_finalize, create_range_decoder, entropy_decode_index and
entropy_decode_finalize (`lic_jax.coder.range_coder` builds the lookup).
"""
import functools
import os

from lic_jax.errors import CoderUnavailableError

INSTALL_HINT = "pip install 'lic_jax[coder]'"


@functools.cache
def _tf():
  """(tensorflow, tensorflow_compression_ops), imported on first use.

  Raises CoderUnavailableError (saying what to install) where they are not
  installed or do not import: they are the optional `coder` extra."""
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  try:
    import tensorflow as tf
    import tensorflow_compression_ops as tfc_ops
  except ImportError as e:
    raise CoderUnavailableError(
        "the 'tfc' coder is tensorflow-compression's op (TensorFlow 2.17 and "
        f"tensorflow-compression-ops 2.17.0), which does not import ({e}): install it "
        f"with {INSTALL_HINT} (from a checkout: pip install -e '.[coder]'), which pins "
        "JAX to 0.5.3 and numpy to 1.26, or use the 'numba' coder, which writes the "
        "same bytes") from e
  tf.get_logger().setLevel("ERROR")
  try:
    tf.config.set_visible_devices([], "GPU")
  except RuntimeError:  # TF already initialized its devices elsewhere in the process
    pass
  return tf, tfc_ops


class RangeDecodeError(ValueError):
  """The op refused to decode (its decode-error checks)."""


class RangeEncoder:
  """One string over several `encode_index` calls, as the ops code it."""

  def __init__(self, lookup):
    tf, ops = _tf()
    self._lookup = tf.constant(lookup, tf.int32)
    self._handle = ops.create_range_encoder([], self._lookup)

  def encode_index(self, indexes, values):
    tf, ops = _tf()
    self._handle = ops.entropy_encode_index(
        self._handle, tf.constant(indexes, tf.int32), tf.constant(values, tf.int32))

  def finalize(self):
    _, ops = _tf()
    return bytes(ops.entropy_encode_finalize(self._handle).numpy())


class RangeDecoder:
  """Reads back what `RangeEncoder` coded, call by call."""

  def __init__(self, data, lookup):
    tf, ops = _tf()
    self._handle = ops.create_range_decoder(tf.constant(bytes(data)),
                                            tf.constant(lookup, tf.int32))

  def decode_index(self, indexes):
    tf, ops = _tf()
    try:
      self._handle, values = ops.entropy_decode_index(
          self._handle, tf.constant(indexes, tf.int32),
          tf.constant([len(indexes)], tf.int32), tf.int32)
    except tf.errors.OpError as e:
      raise RangeDecodeError(e.message) from e
    return values.numpy()

  def finalize(self):
    _, ops = _tf()
    return bool(ops.entropy_decode_finalize(self._handle).numpy())
