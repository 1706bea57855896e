"""The seam between latent codecs and model methods, by name (docs/design.md).

A codec passes the codec inside it a `Context` of named values (the hyperprior's
`hyper`, a channel group's `group` and `previous`, ...) and calls a model method
through `call`, which hands the method exactly the values its signature asks for, by
parameter name. Methods return their outputs by name too (a dict: `scales`,
`means`, and whatever a later method of the same codec asks for). So nesting the
codecs another way never hands a method other tensors, and a model is checked when
it is built (`check_methods`): every method its codec tree names must exist, or a
`ModelDefinitionError` names it.
"""
import collections.abc
import difflib
import functools
import inspect


class ModelDefinitionError(ValueError):
  """A model and its latent codec do not fit: a method the codec names is missing, a
  method asks for a value the codec does not provide, or two codecs provide one name."""


class Context(collections.abc.Mapping):
  """The named values a latent codec hands to the model methods it calls and to the
  codecs inside it, e.g. {"hyper": h_s(z_hat), "group": 2, "previous": ...}.

  Immutable: `add` returns a new context, and refuses a name that is already there
  (two codecs providing one name would otherwise shadow each other silently).
  """

  def __init__(self, values=()):
    self._values = dict(values)

  def __getitem__(self, name):
    return self._values[name]

  def __iter__(self):
    return iter(self._values)

  def __len__(self):
    return len(self._values)

  def add(self, **values):
    clash = sorted(set(values) & set(self._values))
    if clash:
      raise ModelDefinitionError(f"the latent codecs provide {clash} twice: a codec inside "
                                 "another one names its values like the outer one's")
    return Context({**self._values, **values})

  def map(self, fn):
    """A context of fn(value) for every value."""
    return Context({name: fn(value) for name, value in self._values.items()})

  def __repr__(self):
    describe = lambda v: (f"{tuple(v.shape)} {v.dtype}" if hasattr(v, "shape") else repr(v))
    return "Context(" + ", ".join(f"{k}: {describe(v)}" for k, v in self._values.items()) + ")"


EMPTY = Context()


@functools.lru_cache(maxsize=None)
def method_parameters(model_class, method):
  """((name, has a default) for each parameter of `model_class.method`, self excluded)."""
  signature = inspect.signature(getattr(model_class, method))
  kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
  return tuple((p.name, p.default is not inspect.Parameter.empty)
               for p in list(signature.parameters.values())[1:] if p.kind in kinds)


def call(model, method, *args, context=EMPTY, **values):
  """model.<method>(*args, and by name each further parameter its signature has,
  from `values` or else from `context`).

  model: the bound Flax model, or `lic_jax.stages.Stages` (its methods jitted); both
  have `model_class` and `stage(name)`. A parameter found in neither is a
  ModelDefinitionError naming it, unless it has a default.
  """
  kwargs = {}
  for name, has_default in method_parameters(model.model_class, method)[len(args):]:
    if name in values:
      kwargs[name] = values[name]
    elif name in context:
      kwargs[name] = context[name]
    elif not has_default:
      given = sorted({*values, *context})
      raise ModelDefinitionError(
          f"{model.model_class.__name__}.{method} asks for {name!r}, which its latent codec "
          f"does not provide there (it provides {', '.join(given) or 'nothing'}); rename "
          "the parameter or give it a default")
  return model.stage(method)(*args, **kwargs)


def check_methods(model_class, codec):
  """Raises ModelDefinitionError unless `model_class` defines every method that
  `codec` (a LatentCodec tree) calls, and the transforms every model has."""
  defined = [n for n in dir(model_class) if not n.startswith("_")]
  for owner, method in [("every model", "analysis"), ("every model", "synthesis"),
                        *codec.methods()]:
    if not callable(getattr(model_class, method, None)):
      close = difflib.get_close_matches(method, defined, n=1)
      raise ModelDefinitionError(
          f"{model_class.__name__} does not define the method {method!r}, which {owner} "
          f"calls" + (f"; did you mean {close[0]!r}?" if close else "")
          + f" (its latent codec: {codec!r})")
