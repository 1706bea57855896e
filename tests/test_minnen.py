"""mbt2018-mean (Minnen et al. 2018's mean-scale hyperprior) against CompressAI 1.2.0b3.

The same checks as tests/test_balle.py (its `check_*` functions, see its doc for
what each covers and the tolerances) on the mbt2018-mean fixture (N=32, M=48): h_a
on y itself with LeakyReLUs, h_s to 2M channels split into (scales, means) in that
order, y coded as round(y - means). Plus the refusal that tells it apart from
bmshj2018-hyperprior, whose files differ only in the shapes of h_s.
"""
import pytest

import test_balle as zoo

NAME = "mbt2018_mean"


@pytest.fixture(autouse=True)
def needs_torch():
  pytest.importorskip("torch", reason="reading the PyTorch checkpoint needs torch")


def test_detection():
  zoo.check_detection(NAME)


def test_modules():
  zoo.check_modules(NAME)


def test_forward():
  zoo.check_forward(NAME)


def test_full_size_manifests():
  zoo.check_manifest("mbt2018-mean", NAME)


@pytest.mark.coder
def test_string_sizes():
  zoo.check_string_sizes(NAME)


@pytest.mark.coder
def test_symbols_and_indexes():
  zoo.check_symbols(NAME)


@pytest.mark.coder
def test_round_trip():
  zoo.check_round_trip(NAME)


def test_mixed_key_styles_refused():
  zoo.check_mixed_key_styles(NAME)


def test_wrong_arch_refused():
  # Same keys as bmshj2018-hyperprior's, h_s's shapes apart: each is refused as the
  # other, and the message says which it is.
  message = zoo.check_wrong_arch(NAME, "bmshj2018-hyperprior")
  assert "h_a, h_s" in message
  zoo.check_wrong_arch("bmshj2018_hyperprior", "mbt2018-mean")
  zoo.check_wrong_arch(NAME, "bmshj2018-factorized")
