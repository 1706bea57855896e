"""Optional parts of lic_jax and what installs them.

The core install codes and decodes images and evaluates them; training, plots and
progress bars need more (`pyproject.toml`'s extras). The command lines check first,
so that a missing package is one clear line saying what to install, before any work
is done: an error where the command cannot do without it (`require`), a note where
it can (`missing`).
"""
import importlib.util

# extra -> the modules it brings
EXTRAS = {"train": ("grain", "tqdm", "tensorboard"), "plot": ("matplotlib",),
          "progress": ("tqdm",), "bdrate": ("bjontegaard",),
          "classic": ("pillow_heif", "pillow_jxl")}


class MissingExtraError(RuntimeError):
  """An optional package that a command needs is not installed."""


def missing(extra, purpose):
  """None if the modules of `extra` are installed, else a line saying that `purpose`
  ("train.py", "--plot") needs them and how to install them."""
  absent = [m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]
  if not absent:
    return None
  return (f"{purpose} need{'s' if not purpose.endswith('s') else ''} {', '.join(absent)}, "
          f"which {'is' if len(absent) == 1 else 'are'} not installed: pip install "
          f"'lic_jax[{extra}]' (from a checkout: pip install -e '.[{extra}]')")


def require(extra, purpose):
  """Raises MissingExtraError (see `missing`) unless the modules of `extra` are
  installed."""
  message = missing(extra, purpose)
  if message:
    raise MissingExtraError(message)


def progress_bar(iterable, enabled, **options):
  """`iterable` behind a tqdm bar (the `progress` extra) when `enabled`, else as is."""
  if not enabled:
    return iterable
  from tqdm import tqdm
  return tqdm(iterable, **options)
