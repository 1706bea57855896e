"""lic_jax.latent: a model's tables computed through its latent codec tree equal the
ones PyTorch stored, survive a model directory's flat arrays, and the decoding check
that travels with each coded stream finds the first difference."""
import numpy as np
import pytest

from conftest import FIXTURES, converted, stored_tables
from lic_jax import bitstream, models
from lic_jax.latent import coding
from lic_jax.latent import tables as latent_tables

# stream -> the PyTorch module whose buffers hold its tables
PYTORCH_TABLES = {"z": "entropy_bottleneck", "y": "gaussian_conditional"}


@pytest.mark.parametrize("name", FIXTURES)
def test_model_tables_equal_pytorchs_and_survive_the_flat_arrays(name):
  arch, config, params, _ = converted(name)
  model = models.build(arch, config)
  arrays = latent_tables.model_tables(model, params)
  streams = latent_tables.from_arrays(arrays)
  assert list(streams) == ["z", "y"]  # the hyperprior's coding order
  for stream, table in streams.items():
    stored = stored_tables(name, PYTORCH_TABLES[stream])
    for field in ("quantized_cdf", "cdf_length", "offset"):
      np.testing.assert_array_equal(getattr(table.cdf, field), getattr(stored, field))
  assert streams["z"].scale_table is None
  assert streams["y"].scale_table.dtype == np.float32 and streams["y"].scale_table.shape == (64,)
  assert set(latent_tables.to_arrays(streams)) == set(arrays)


def test_missing_tables_are_named():
  arrays = {"y_quantized_cdf": np.zeros((1, 3), np.int32), "y_offset": np.zeros(1, np.int32)}
  with pytest.raises(ValueError, match="stream 'y'.*cdf_length"):
    latent_tables.from_arrays(arrays)


def test_the_decoding_check_finds_the_first_difference():
  """CodingCheck: a check byte after every INTERVAL symbols, the CRC at the end;
  another index or symbol is found at the next check byte."""
  interval = coding.CodingCheck.INTERVAL
  calls = [(np.arange(n) % 7, np.arange(n) % 5 - 2) for n in (interval // 2, interval, 10)]
  encoder = coding.CodingCheck()
  for indexes, symbols in calls:
    encoder.update(indexes, symbols)
  digest = encoder.digest()
  assert len(digest) == 1 + 4  # One check byte (after 1.5 intervals), the CRC.
  decoder = coding.CodingCheck(digest)
  for indexes, symbols in calls:
    if decoder.update(indexes, symbols) is not None:
      decoder.verify("y")
  decoder.verify("y", final=True)
  bad = coding.CodingCheck(digest)
  bad.update(*calls[0])
  indexes, symbols = calls[1]
  assert bad.update(indexes, symbols + (np.arange(len(symbols)) == 3)) is not None
  with pytest.raises(bitstream.DecoderMismatchError, match=r"stream 'y', after 24576 "):
    bad.verify("y")
