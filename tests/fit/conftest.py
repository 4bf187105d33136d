"""Fixtures of the fit tests: a simulated basalt spectrum and the expected counts of the PIXL basalt
(built once per session; never modified)."""

from __future__ import annotations

import pytest

import pixlspec as px
from pixlspec.simulate import expected_counts

from tests.helpers.fit import AREAS, INST


BASALT = {"SiO2": 49.9, "Al2O3": 13.5, "FeO": 11.1, "MgO": 7.2, "CaO": 11.4, "Na2O": 2.2, "K2O": 0.5,
          "TiO2": 2.7}


@pytest.fixture(scope="session")
def basalt_spectrum():
    """A simulated PIXL spectrum of ``BASALT`` (default live time, seed 3)."""
    return px.simulate_spectrum(composition=BASALT, seed=3)


@pytest.fixture(scope="session")
def basalt_truth():
    """Expected counts (no noise) of the PIXL basalt ``tests.helpers.fit.AREAS`` in 10 s."""
    return expected_counts(AREAS, INST, live_time_s=10.0)
