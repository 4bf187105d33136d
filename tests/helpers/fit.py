"""The simulated PIXL basalt the fit tests use: instrument, detector, true areas, and noisy spectra of it."""

from __future__ import annotations

import pixlspec as px
from pixlspec.simulate import basalt_areas


INST = px.Instrument.pixl()
DET = INST.detectors[0]
AREAS = basalt_areas(1e6)
ELEMENTS = [k for k in AREAS if not k.startswith("Rh")]


def noisy_spectrum(expected, rng, offset=DET.offset_eV, gain=DET.gain_eV_per_channel):
    return px.Spectrum(rng.poisson(expected).astype(float), offset, gain, 10.0, instrument=INST)
