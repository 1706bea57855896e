"""The exceptions that cross layers: below everything, imports nothing.

The file format (`lic_jax.bitstream`), the coders (`lic_jax.coder`) and the latent
codecs' coding modes (`lic_jax.latent.modes`, `lic_jax.latent.checks`) all raise
them; each of those modules re-exports the ones it raises.
"""


class BitstreamError(ValueError):
  """A stream that is not a valid lic_jax stream (or not one for this model)."""


class DecoderMismatchError(BitstreamError):
  """An intact stream whose symbols this decoder does not decode as they were coded:
  its entropy parameters differ from the encoder's."""


class CoderUnavailableError(RuntimeError):
  """An entropy coder's libraries are not installed, or do not import. The message,
  one line, says what to install."""
