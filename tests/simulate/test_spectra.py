"""Simulated spectra (pixlspec.simulate.spectra): bad compositions."""

from __future__ import annotations

import pytest

from pixlspec.errors import CompositionError, FitError, UnknownElementError
from pixlspec.quant.calibration import calibrate
from pixlspec.simulate import simulate_spectrum

from tests.helpers.quant import BASALT


# =========================================================================== bad input
def test_bad_compositions_raise():
    with pytest.raises(CompositionError):
        simulate_spectrum(composition={"SiO2": -5.0, "FeO": 10.0})
    with pytest.raises(UnknownElementError):
        simulate_spectrum(composition={"Xq2O3": 5.0})
    with pytest.raises(CompositionError):
        simulate_spectrum(composition="SiO2)(")
    with pytest.raises(CompositionError):
        simulate_spectrum(composition={"SiO2": 80.0, "FeO": 80.0})
    with pytest.raises(FitError):
        simulate_spectrum(areas={"Fe": 10.0}, composition=BASALT)
    with pytest.raises(CompositionError):
        calibrate([simulate_spectrum(composition=BASALT, live_time_s=1.0, seed=1)], [{"SiO2": "lots"}])


# =========================================================================== partial compositions
def test_partial_composition_is_simulated_normalised_and_says_so():
    """A thick sample of SiO2 5 + FeO 5 wt% and nothing else is the 50/50 sample: same expected counts."""
    with pytest.warns(UserWarning, match=r"sums to 10\.0 wt%.*normalised to 100 wt%"):
        part = simulate_spectrum(composition={"SiO2": 5.0, "FeO": 5.0}, seed=1)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        whole = simulate_spectrum(composition={"SiO2": 50.0, "FeO": 50.0}, seed=1)
    assert part.metadata["truth"]["composition"] == {"SiO2": 5.0, "FeO": 5.0}  # as given
    a, b = part.metadata["truth"]["expected"], whole.metadata["truth"]["expected"]
    assert abs(a.sum() / b.sum() - 1.0) < 1e-9 and float(abs(a - b).max()) <= 1e-9 * float(b.max())
