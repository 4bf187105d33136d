"""The simulated PIXL basalt the fit tests use: instrument, detector, true areas, and noisy spectra of it."""

from __future__ import annotations

import numpy as np

import pixlspec as px
from pixlspec.simulate import basalt_areas, expected_counts


INST = px.Instrument.pixl()
DET = INST.detectors[0]
AREAS = basalt_areas(1e6)
ELEMENTS = [k for k in AREAS if not k.startswith("Rh")]


def noisy_spectrum(expected, rng, offset=DET.offset_eV, gain=DET.gain_eV_per_channel):
    return px.Spectrum(rng.poisson(expected).astype(float), offset, gain, 10.0, instrument=INST)


def silicate_kbeta_counts(kbeta_ratio: dict[str, float]) -> np.ndarray:
    """Expected counts of the basalt (:data:`AREAS`, 10 s) whose groups in ``kbeta_ratio`` emit that Kβ/Kα
    (a silicate's valence Kβ) instead of the free-atom ratio: each group's area spread over its Kα and its
    own Kβ column (``own_kbeta``) in the ratio given."""
    from pixlspec.model.spectrum_model import ROCK_MATRIX_WT, SpectrumModel

    truth = expected_counts(AREAS, INST, live_time_s=10.0)
    groups = [k for k in AREAS if k in ELEMENTS]
    kw = dict(scatter=True, pileup=True, matrix=ROCK_MATRIX_WT)
    tied = SpectrumModel(groups, INST, DET.name, **kw)
    apart = SpectrumModel(groups, INST, DET.name, own_kbeta=tuple(kbeta_ratio), **kw)
    p = truth["params"]
    e, w = tied.channel_energies(np.arange(DET.n_channels), p)
    a_tied, a_apart = tied.design(e, p, channel_width_eV=w), apart.design(e, p, channel_width_eV=w)
    total = truth["total"].copy()
    for g, r in kbeta_ratio.items():
        silicate = (a_apart[:, apart.index(g)] + r * a_apart[:, apart.index(g + "_Kb")]) / (1 + r)
        total += AREAS[g] * (silicate - a_tied[:, tied.index(g)])
    return total
