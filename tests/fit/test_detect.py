"""Finding the elements of a spectrum (pixlspec.fit.detect)."""

from __future__ import annotations

import numpy as np

import pixlspec as px

from tests.helpers.fit import noisy_spectrum


def test_find_elements_on_simulated_basalt(basalt_truth):
    rng = np.random.default_rng(4)
    found = px.find_elements(noisy_spectrum(basalt_truth["total"], rng))
    names = {s.group for s in found}
    for el in ("Fe", "Ca", "Si", "Ti", "K", "Mn", "Al"):
        assert el in names, el
    fe = next(s for s in found if s.group == "Fe")
    assert "Ka peak" in fe.reasons[0]
