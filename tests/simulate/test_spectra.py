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
