"""The layout of a model's strings in a stream: the one place that knows which
strings a stream holds, what they are called, and what a prefix of them decodes.

The container (`lic_jax.bitstream`) stores named byte strings in file order; the
coding modes (`lic_jax.latent.modes`) write one string per stream, except for the
stream of a model's *prefix units*: a model with channel groups codes each call of
its y stream (a group's checkerboard halves, group by group) to a string of its own,
`y0`, `y1`, ... in coding order, after z. The strings up to any unit then decode
without the rest. The codec asks this module which strings to decode for a part of
a stream, and the progressive evaluation where in a file each group ends.
"""
import dataclasses

from lic_jax.errors import BitstreamError


@dataclasses.dataclass(frozen=True)
class PrefixPlan:
  """What to decode of a stream laid out in units.

  strings: the names of the strings to decode, in file order; decoded: the units
  among them; total: the units the stream declares; per_group: units per group.
  """
  strings: tuple
  decoded: int
  total: int
  per_group: int

  @property
  def groups(self):
    """The channel groups decoded whole."""
    return self.decoded // self.per_group


@dataclasses.dataclass(frozen=True)
class StreamLayout:
  """units: the stream whose every call is a string of its own (None: every stream
  is one string); groups: the channel groups those units make up."""
  units: str | None = None
  groups: int = 0

  def string_name(self, stream, call):
    """The name of the string that the call-th call (from 0) of `stream` codes to."""
    return f"{stream}{call}" if stream == self.units else stream

  def unit_names(self, count):
    return [self.string_name(self.units, k) for k in range(count)]

  def lays_out_units(self, names):
    """Whether a stream of these string names was written in units (format 4 of a
    model with channel groups); streams of formats 1-3 have one y string."""
    return self.units is not None and self.string_name(self.units, 0) in names

  def plan(self, names, complete, groups=None):
    """The strings to decode of a stream laid out in units.

    names: every string the stream declares, in file order; complete: those it holds
    whole (a file cut short lacks the last ones); groups: how many channel groups to
    decode (None: all it holds). Raises BitstreamError if a string other than a unit
    is missing or the units do not make up the groups."""
    expected = self.unit_names(len(names))
    declared = [n for n in names if n in expected]
    if declared != expected[:len(declared)] or not declared or len(declared) % self.groups:
      raise BitstreamError(f"the stream's strings {list(names)} are not the {self.groups} "
                           f"channel groups' units {self.units}0, {self.units}1, ... of "
                           "this model")
    per_group = len(declared) // self.groups
    missing = [n for n in names if n not in complete]
    if any(n not in declared for n in missing):
      raise BitstreamError(f"the file ends before its strings {missing} (a part of a stream "
                           f"decodes only once it holds every string before {self.units}0)")
    count = len(declared) - len(missing)
    if groups is not None:
      count = min(count, groups * per_group)
    skipped = set(declared[count:])
    return PrefixPlan(tuple(n for n in names if n in complete and n not in skipped), count,
                      len(declared), per_group)

  def strings_through_group(self, names, group):
    """How many strings, in file order from the first, hold everything up to the end
    of channel group `group` (0: the strings before the first unit, such as z)."""
    names = list(names)
    return names.index(self.plan(names, names, group).strings[-1]) + 1
