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


def test_own_kbeta_columns():
    """``own_kbeta`` gives the named K groups (the valence-band emitters Mg, Al, Si) a Kβ column; the
    others keep the atomic ratio. Mg, which has no free-atom Kβ, gets xraydb's (Elam) Kβ energy."""
    import xraydb

    import pixlspec as px
    from pixlspec.model.spectrum_model import VALENCE_KBETA_ELEMENTS, ShapeParams, SpectrumModel

    inst = px.Instrument.pixl()
    els = ["Na", "Mg", "Al", "Si", "P", "S", "Cl", "K", "Ca", "Fe", "Ar"]
    m = SpectrumModel(els, inst, "A", own_kbeta=VALENCE_KBETA_ELEMENTS)
    assert [n for n in m.column_names if n.endswith("_Kb")] == ["Mg_Kb", "Al_Kb", "Si_Kb"]
    assert not any(n.endswith("_Kb") for n in SpectrumModel(els, inst, "A").column_names)
    # the Mg Kβ column holds Mg Kβ1/Kβ3 at their xraydb energy, nothing else
    energy, _, column = m.line_table(ShapeParams.from_instrument(inst, "A"))[:3]
    rows = energy[column == m.index("Mg_Kb")]
    assert rows.size >= 1
    assert np.allclose(rows, xraydb.xray_lines("Mg")["Kb1"].energy, atol=1.0)
    # the Kα column of Si keeps only Kα lines
    si = energy[column == m.index("Si")]
    assert si.max() < 1750.0


def test_kbeta_share_holds_the_kbeta_of_a_group_at_a_given_share():
    """``kbeta_share``: one column per group, its Kβ lines weighted to the share and its Kα lines to the rest
    (Mg with xraydb's Elam Kβ); a group with no Kβ line keeps a unit column; a share outside [0, 1) is refused."""
    import pytest

    import pixlspec as px
    from pixlspec.errors import FitError
    from pixlspec.model.spectrum_model import ShapeParams, SpectrumModel

    inst = px.Instrument.pixl()
    shares = {"Na": 0.02, "Mg": 0.05, "Si": 0.045, "Fe": 0.2}
    m = SpectrumModel(["Na", "Mg", "Si", "Fe"], inst, "A", kbeta_share=shares, own_kbeta=("Si",))
    assert not any(n.endswith("_Kb") for n in m.column_names)
    energy, weight, column = m.line_table(ShapeParams.from_instrument(inst, "A"))[:3]
    for g, share in shares.items():
        sel = column == m.index(g)
        kb = sel & (energy > {"Na": 1060.0, "Mg": 1290.0, "Si": 1800.0, "Fe": 7000.0}[g])
        assert weight[sel].sum() == pytest.approx(1.0, rel=1e-12)
        assert weight[kb].sum() == pytest.approx(0.0 if g == "Na" else share, abs=1e-12), g
    for bad in (1.0, -0.1, float("nan")):
        with pytest.raises(FitError, match="share"):
            SpectrumModel(["Si"], inst, "A", kbeta_share={"Si": bad})
