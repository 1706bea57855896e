"""lic_jax.latent: a model's tables computed through its latent codec tree equal the
ones PyTorch stored, survive a model directory's table arrays, and the decoding check
that travels with each coded stream finds the first difference; the seam between the
codecs and the model methods is by name (how the codecs nest changes nothing a method
sees) and checked when a model is built."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import FIXTURES, converted, stored_tables
from test_custom_model import TinyChannelGroups, TinyConfig
from lic_jax import bitstream, latent, models
from lic_jax.latent import checks
from lic_jax.latent import tables as latent_tables

# stream -> the PyTorch module whose buffers hold its tables
PYTORCH_TABLES = {"z": "entropy_bottleneck", "y": "gaussian_conditional"}


@pytest.mark.parametrize("name", FIXTURES)
def test_model_tables_equal_pytorchs_and_survive_the_flat_arrays(name):
  arch, config, params, _ = converted(name)
  model = models.build(arch, config)
  arrays = latent_tables.model_table_arrays(model, params)
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
  interval = checks.CodingCheck.INTERVAL
  calls = [(np.arange(n) % 7, np.arange(n) % 5 - 2) for n in (interval // 2, interval, 10)]
  encoder = checks.CodingCheck()
  for indexes, symbols in calls:
    encoder.update(indexes, symbols)
  digest = encoder.digest()
  assert len(digest) == 1 + 4  # One check byte (after 1.5 intervals), the CRC.
  decoder = checks.CodingCheck(digest)
  for indexes, symbols in calls:
    if decoder.update(indexes, symbols) is not None:
      decoder.verify("y")
  decoder.verify("y", final=True)
  bad = checks.CodingCheck(digest)
  bad.update(*calls[0])
  indexes, symbols = calls[1]
  assert bad.update(indexes, symbols + (np.arange(len(symbols)) == 3)) is not None
  with pytest.raises(bitstream.DecoderMismatchError, match=r"stream 'y', after 24576 "):
    bad.verify("y")


# ----- the seam between latent codecs and model methods --------------------------------

@dataclasses.dataclass(frozen=True)
class Given(latent.LatentCodec):
  """A latent codec of one's own: adds `name` = the model method `method` (given the
  context) to the context of the codec inside it."""
  inner: latent.LatentCodec
  name: str = "strength"
  method: str = "strength"
  METHODS = ("method",)

  def code(self, model, mode, y, context=latent.EMPTY, latents=None):
    value = latent.call(model, self.method, context=context)
    return self.inner.code(model, mode, y, context.add(**{self.name: value}), latents)


class Recording(TinyChannelGroups):
  """tests/test_custom_model.py's model, whose group methods also ask for `strength`
  and record what they are handed, by name."""
  seen = []

  def strength(self):
    return jnp.full((1,), 0.5)

  def anchor_params(self, group, hyper, previous, strength):
    Recording.seen.append(("anchor", group, {"hyper": hyper, "previous": previous,
                                             "strength": strength}))
    return super().anchor_params(group, hyper * strength, previous)

  def nonanchor_params(self, group, hyper, anchor_hat, strength):
    Recording.seen.append(("nonanchor", group, {"hyper": hyper, "anchor_hat": anchor_hat,
                                                "strength": strength}))
    return super().nonanchor_params(group, hyper * strength, anchor_hat)


class OutsideHyperprior(Recording):
  @property
  def latent_codec(self):
    return Given(latent.Hyperprior(latent.ChannelGroups(self.config.groups, latent.Checkerboard())))


class InsideHyperprior(Recording):
  @property
  def latent_codec(self):
    return latent.Hyperprior(Given(latent.ChannelGroups(self.config.groups, latent.Checkerboard())))


def test_how_the_codecs_nest_changes_nothing_a_model_method_sees():
  """`strength` provided before `hyper` (outside the hyperprior) or after it: with
  positional contexts the methods would get the two swapped; by name they see the
  same values, and the likelihoods are the same."""
  x = jnp.asarray(np.random.default_rng(0).uniform(size=(1, 64, 64, 3)), jnp.float32)
  params = OutsideHyperprior(TinyConfig()).init(jax.random.PRNGKey(0), x)["params"]
  runs = []
  for model_class in (OutsideHyperprior, InsideHyperprior):
    Recording.seen = []
    out = model_class(TinyConfig()).apply({"params": params}, x)
    runs.append((Recording.seen, out))
  (seen_a, out_a), (seen_b, out_b) = runs
  assert [(kind, group, sorted(values)) for kind, group, values in seen_a] == [
      (kind, group, sorted(values)) for kind, group, values in seen_b]
  assert len(seen_a) == 4  # two groups, two halves each
  for (_, _, values_a), (_, _, values_b) in zip(seen_a, seen_b):
    for name in values_a:
      np.testing.assert_array_equal(values_a[name], values_b[name], err_msg=name)
  for key in ("y_likelihoods", "z_likelihoods", "x_hat"):
    np.testing.assert_array_equal(out_a[key], out_b[key], err_msg=key)


def test_a_misspelt_model_method_is_an_error_when_the_model_is_built():
  class Misspelt(TinyChannelGroups):
    @property
    def latent_codec(self):
      return latent.Hyperprior(latent.ChannelGroups(
          self.config.groups, latent.Checkerboard(anchor="anchor_parms")))

  with pytest.raises(latent.ModelDefinitionError,
                     match=r"Misspelt does not define the method 'anchor_parms', which "
                     r"Checkerboard calls; did you mean 'anchor_params'\?"):
    Misspelt(TinyConfig())


def test_a_method_asking_for_a_value_no_codec_provides_is_named():
  class AsksTooMuch(TinyChannelGroups):
    def nonanchor_params(self, group, hyper, anchor_hat, quality):
      return super().nonanchor_params(group, hyper, anchor_hat)

  x = jnp.zeros((1, 64, 64, 3))
  with pytest.raises(latent.ModelDefinitionError,
                     match=r"AsksTooMuch.nonanchor_params asks for 'quality', which its "
                     r"latent codec does not provide there \(it provides anchor_hat, group, "
                     r"hyper, previous\)"):
    AsksTooMuch(TinyConfig()).init(jax.random.PRNGKey(0), x)


def test_two_codecs_providing_one_name_are_refused():
  """Channel groups inside channel groups would both provide `group` and `previous`."""
  inner = latent.ChannelGroups((2, 2), latent.Checkerboard())
  outer_context = latent.EMPTY.add(group=0, previous=jnp.zeros((1, 4, 4, 0)))
  with pytest.raises(latent.ModelDefinitionError, match=r"provide \['group', 'previous'\] twice"):
    inner.code(None, latent.Likelihoods(), jnp.zeros((1, 4, 4, 4)), outer_context)
