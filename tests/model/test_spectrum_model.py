"""The spectrum model's derivatives (pixlspec.model.spectrum_model)."""

from __future__ import annotations

import numpy as np


def test_model_derivatives_match_finite_differences():
    """SpectrumModel.derivatives (analytic) against central differences of the design matrix."""
    from dataclasses import replace

    import pixlspec as px
    from pixlspec.model.spectrum_model import ShapeParams, SpectrumModel

    inst = px.Instrument.pixl()
    m = SpectrumModel(["Mg", "Si", "S", "K", "Ca", "Ti", "Fe", "Sr"], inst, "A", pileup=False)
    p = ShapeParams.from_instrument(inst, "A", step_height=3e-4, tail_fraction=0.03, tail_slope=0.3,
                                    compton_tail_fraction=0.1, quadratic_eV=1e-6)
    ch = np.arange(100.0, 3560.0)
    c = np.random.default_rng(0).uniform(100, 1000, m.n_columns)

    def counts(q):
        e, w = m.channel_energies(ch, q)
        return m.design(e, q, channel_width_eV=w) @ c

    D = m.derivatives(ch, p, c)
    for i, name in enumerate(m.DERIVATIVE_NAMES):
        v = getattr(p, name)
        h = max(abs(v) * 1e-5, 1e-7)
        fd = (counts(replace(p, **{name: v + h})) - counts(replace(p, **{name: v - h}))) / (2 * h)
        err = np.max(np.abs(fd - D[:, i])) / np.max(np.abs(fd))
        assert err < 1e-4, (name, err)
