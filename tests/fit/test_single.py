"""Single-spectrum fit (pixlspec.fit.single) against simulated truth: accuracy, honest uncertainties,
calibration, overlaps, plain arrays, excluded channels, bad input."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import pixlspec as px
from pixlspec.config import FitConfig
from pixlspec.model.spectrum_model import ShapeParams
from pixlspec.simulate import basalt_areas, expected_counts
from pixlspec.spectrum import as_spectrum

from tests.helpers.fit import AREAS, DET, ELEMENTS, INST, noisy_spectrum, silicate_kbeta_counts


def test_fit_spectrum_array_equals_spectrum(basalt_spectrum):
    s = basalt_spectrum
    from_array = px.fit_spectrum(np.asarray(s.counts), energy_offset_eV=s.offset_eV,
                                 energy_gain_eV=s.gain_eV_per_channel, live_time_s=s.live_time_s)
    from_spectrum = px.fit_spectrum(s)
    for el in ("Si", "Ca", "Fe", "Ti"):
        assert from_array.areas[el] == pytest.approx(from_spectrum.areas[el], rel=1e-9)


def test_array_calibration_defaults_to_the_instrument():
    inst = px.Instrument.pixl()
    s = as_spectrum(np.ones(inst.detectors[0].n_channels or 4096))
    assert s.offset_eV == inst.detectors[0].offset_eV
    assert s.gain_eV_per_channel == inst.detectors[0].gain_eV_per_channel
    assert as_spectrum(np.ones(100), energy_gain_eV=10.0).gain_eV_per_channel == 10.0


@pytest.mark.parametrize("bad", ["counts.msa", {"A": 1}, 3.0, None, np.ones((2, 2, 2)),
                                 [[1, 2], [3]], np.array(["a", "b"]), np.array([1.0, np.nan, 2.0]),
                                 np.array([1.0, -1.0, 2.0])])
def test_fit_spectrum_rejects_what_is_not_a_spectrum(bad):
    with pytest.raises(px.PixlspecError):
        px.fit_spectrum(bad)


def test_keywords_with_a_spectrum_are_refused(basalt_spectrum):
    with pytest.raises(px.SpectrumError, match="counts array"):
        px.fit_spectrum(basalt_spectrum, energy_gain_eV=8.0)


def test_areas_within_3_sigma(basalt_truth):
    rng = np.random.default_rng(11)
    r = px.fit_spectrum(noisy_spectrum(basalt_truth["total"], rng), elements=ELEMENTS)
    truth = basalt_truth["areas"]
    big = [k for k, v in truth.items() if v > 1e4 and k != "pileup"]
    assert len(big) >= 8
    for k in big:
        assert abs(r.areas[k] - truth[k]) < 3 * r.sigma[k], (k, r.areas[k], truth[k], r.sigma[k])
    assert 0.9 < r.chi2_reduced < 1.1
    # the Mars atmosphere's Ar is fitted whatever the element list (issue 14)
    assert set(r.elements) == set(ELEMENTS) | {"Ar"}
    assert r.detected["Fe"] and r.detected["Si"]


#: Bound on the mean pull of a line group (see test_pulls_are_honest).
MAX_MEAN_PULL = 0.35


def test_pulls_are_honest(basalt_truth):
    """200 noise realisations: pulls (fit - truth)/sigma have mean ~0 and std ~1 for line groups > 1e4 counts.

    With 200 realisations the standard error of a mean pull is 0.07. Every column is non-negative,
    the continuum included (issue 14), and the simulated truth holds zero-area columns (V, Ba, the
    path gas) and a continuum near zero below the optic table: where noise makes a constraint bind, the
    estimate is biased. Measured with 120 realisations of this fixture: Si
    -0.04 with a free continuum against -0.22 with a non-negative one, Ti and Fe -0.2 either way (V, Ba
    and Co beside them held >= 0). The bound is therefore 0.35 (5 SE), not 0.2; the pile-up column is
    not a line group.
    """
    rng = np.random.default_rng(1)
    truth = basalt_truth["areas"]
    big = [k for k, v in truth.items() if v > 1e4 and k != "pileup"]
    pulls = {k: [] for k in big}
    for _ in range(200):
        r = px.fit_spectrum(noisy_spectrum(basalt_truth["total"], rng), elements=ELEMENTS)
        for k in big:
            pulls[k].append((r.areas[k] - truth[k]) / r.sigma[k])
    report = {k: (np.mean(v), np.std(v)) for k, v in pulls.items()}
    print("\npull mean/std per group:", {k: f"{m:+.2f}/{s:.2f}" for k, (m, s) in report.items()})
    for k, (m, s) in report.items():
        assert abs(m) < MAX_MEAN_PULL, (k, m)
        assert 0.8 <= s <= 1.25, (k, s)


def test_calibration_recovery():
    """Spectrum recorded 20 eV / 0.5 % off the nominal calibration is fitted back to 2 eV / 0.05 %."""
    true_offset = DET.offset_eV + 20.0
    true_gain = DET.gain_eV_per_channel * 1.005
    params = replace(ShapeParams.from_instrument(INST, "A"), offset_eV=true_offset, gain_eV_per_channel=true_gain)
    tr = expected_counts(AREAS, INST, params=params, live_time_s=10.0)
    rng = np.random.default_rng(7)
    spec = noisy_spectrum(tr["total"], rng)  # header carries the nominal calibration
    r = px.fit_spectrum(spec, elements=ELEMENTS)
    assert abs(r.params.offset_eV - true_offset) < 2.0
    assert abs(r.params.gain_eV_per_channel / true_gain - 1) < 5e-4
    assert abs(r.areas["Fe"] - AREAS["Fe"]) < 3 * r.sigma["Fe"]


@pytest.mark.parametrize("pair", [("Mn", "Fe"), ("Ti", "V"), ("Cr", "Mn"), ("S", "Cl")])
def test_overlaps_resolved(pair):
    """Kβ of the first element sits on Kα of the second (S/Cl: next to the Rh L scatter peaks)."""
    a, b = pair
    areas = {"Si": 5e4, "Ca": 5e4, a: 1.5e5, b: 4e4, "Rh_K_Compton": 5e4, "Rh_L_scatter": 3e4}
    tr = expected_counts(areas, INST, live_time_s=10.0)
    rng = np.random.default_rng(3)
    r = px.fit_spectrum(noisy_spectrum(tr["total"], rng), elements=["Si", "Ca", a, b])
    for el in (a, b):
        assert abs(r.areas[el] - areas[el]) < 3 * r.sigma[el], (el, r.areas[el], r.sigma[el])
        assert r.sigma[el] < 0.05 * areas[el]
    assert abs(r.area_correlation(a, b)) < 0.9


def test_free_kbeta_and_snip_background(basalt_truth):
    rng = np.random.default_rng(5)
    spec = noisy_spectrum(basalt_truth["total"], rng)
    r = px.fit_spectrum(spec, elements=ELEMENTS, config=FitConfig(free_kbeta=True))
    assert abs(r.areas["Fe"] - AREAS["Fe"]) < 3 * r.sigma["Fe"]
    assert "Fe_Kb" not in r.areas
    s = px.fit_spectrum(spec, elements=ELEMENTS, config=FitConfig(background="snip"))
    # SNIP clips a smooth background: it cannot follow the step of the rock's Fe K edge (7.11 keV, just
    # above Fe Kβ) in the simulated continuum, so the Fe area is good to a few %, not to its 0.1 % σ
    assert abs(s.areas["Fe"] / AREAS["Fe"] - 1) < 0.03


def test_valence_kbeta_of_a_silicate_is_fitted_not_assumed():
    """A basalt whose Al and Si emit the Kβ of a silicate (Kβ/Kα 0.05 and 0.045 against the free-atom 0.013
    and 0.028), 2.6e6 counts: the default fit (``valence_kbeta``) finds their areas within 3σ and Si's
    Kβ/Kα; tied to the free-atom ratio, both come out biased low. Mg (2.9e4 counts in its Kα window, below
    ``VALENCE_KBETA_MIN_COUNTS``) stays tied."""
    ratio = {"Al": 0.05, "Si": 0.045}
    scale = 2.0
    total = scale * silicate_kbeta_counts(ratio)
    z_tied = []
    for seed in range(3):
        spec = noisy_spectrum(total, np.random.default_rng(seed))
        r = px.fit_spectrum(spec, elements=ELEMENTS)
        assert set(r.kbeta_fraction) == set(ratio)
        for g in ratio:
            assert abs(r.areas[g] - scale * AREAS[g]) < 3 * r.sigma[g], (seed, g, r.areas[g], r.sigma[g])
        f = r.kbeta_fraction["Si"]
        assert f / (1 - f) == pytest.approx(ratio["Si"], abs=0.006)
        t = px.fit_spectrum(spec, elements=ELEMENTS, config=FitConfig(valence_kbeta=False))
        assert t.kbeta_fraction == {}
        z_tied.append([(t.areas[g] - scale * AREAS[g]) / t.sigma[g] for g in ratio])
    assert np.mean(z_tied, axis=0).max() < -2.0, z_tied


def test_kbeta_fitted_apart_in_components_report_and_dict(basalt_truth):
    """A group whose Kβ has a column of its own: its Kα and Kβ components carry its area split by
    ``kbeta_fraction`` (all components and the background add up to the model), the report lists the
    Kβ/Kα and ``to_dict`` the shares."""
    spec = noisy_spectrum(basalt_truth["total"] * 2.0, np.random.default_rng(4))
    r = px.fit_spectrum(spec, elements=ELEMENTS)
    assert {"Al", "Si"} <= set(r.kbeta_fraction)
    comps = r.components()
    np.testing.assert_allclose(sum(comps.values()) + r.background, r.model, rtol=1e-9, atol=1e-9)
    f = r.kbeta_fraction["Si"]
    assert comps["Si_Kb"].sum() / (comps["Si"].sum() + comps["Si_Kb"].sum()) == pytest.approx(f, rel=1e-3)
    assert "[[Kβ fitted apart]]" in r.report() and f"Si {f / (1 - f):.4f}" in r.report()
    assert r.to_dict()["kbeta_fraction"] == r.kbeta_fraction


def test_kbeta_fraction_held_at_a_given_share():
    """A point-like silicate spectrum (below the count threshold, Kβ not fitted apart) fitted with the Al and
    Si Kβ shares of the material held fixed (``kbeta_fraction=``, e.g. from a long-dwell standard) gives their
    areas without bias; held at a share from a free fit of a rich spectrum, the same areas as that fit."""
    ratio = {"Al": 0.05, "Si": 0.045}
    total = silicate_kbeta_counts(ratio)
    z = []
    for seed in range(4):
        spec = noisy_spectrum(0.3 * total, np.random.default_rng(seed))
        r = px.fit_spectrum(spec, elements=ELEMENTS, kbeta_fraction={g: q / (1 + q) for g, q in ratio.items()})
        assert r.kbeta_fraction == {}
        z.append([(r.areas[g] - 0.3 * AREAS[g]) / r.sigma[g] for g in ratio])
    assert np.all(np.abs(np.mean(z, axis=0)) < 1.5), z
    rich = noisy_spectrum(2.0 * total, np.random.default_rng(9))
    free = px.fit_spectrum(rich, elements=ELEMENTS)
    held = px.fit_spectrum(rich, elements=ELEMENTS, kbeta_fraction=free.kbeta_fraction)
    for g in ("Mg", "Al", "Si", "P", "Fe"):
        assert held.areas[g] == pytest.approx(free.areas[g], abs=0.3 * free.sigma[g]), g
    with pytest.raises(px.FitError, match="kbeta_fraction"):
        px.fit_spectrum(rich, elements=ELEMENTS, kbeta_fraction={"Si": "lots"})


def test_valence_kbeta_stays_tied_below_its_count_threshold(basalt_truth):
    """A point-like spectrum (Si Kα window < ``VALENCE_KBETA_MIN_COUNTS``) keeps every Kβ tied."""
    spec = noisy_spectrum(basalt_truth["total"] * 0.2, np.random.default_rng(3))
    r = px.fit_spectrum(spec, elements=ELEMENTS)
    assert r.kbeta_fraction == {}
    assert not any(n.endswith("_Kb") for n in r.column_names)


# --- bad input ---------------------------------------------------------------------------------
def test_all_zero_counts():
    s = px.Spectrum(np.zeros(4096), DET.offset_eV, DET.gain_eV_per_channel, 10.0)
    with pytest.raises(px.SpectrumError, match="zero"):
        px.fit_spectrum(s)


def test_calibration_too_small_for_fit_range():
    s = px.Spectrum(np.ones(4096), -32000.0, 8.0, 10.0)  # only ~300 eV above the minimum energy
    with pytest.raises(px.SpectrumError, match="fit range"):
        px.fit_spectrum(s)


def test_elements_as_one_string(basalt_spectrum):
    """ "Si,Ca,Fe" is three elements, as FitConfig(elements=...) and the CLI take them (not S, i, ...)."""
    listed = px.fit_spectrum(basalt_spectrum, elements=["Si", "Ca", "Fe"])
    for text in ("Si,Ca,Fe", "Si, Ca Fe"):
        one = px.fit_spectrum(basalt_spectrum, elements=text)
        assert one.elements == listed.elements and one.areas == listed.areas


def test_unknown_element():
    s = px.simulate_spectrum(basalt_areas(1e5), INST, seed=1)
    with pytest.raises(px.UnknownElementError):
        px.fit_spectrum(s, elements=["Fe", "Xx"])


def test_element_without_line_in_range_is_reported(basalt_truth):
    rng = np.random.default_rng(2)
    spec = noisy_spectrum(basalt_truth["total"], rng)
    r = px.fit_spectrum(spec, elements=["Si", "Ca", "Fe", "Zr"], config=FitConfig(max_energy_eV=12000.0))
    assert "Zr" in r.skipped and "no K line" in r.skipped["Zr"]
    assert "Zr" not in r.areas
    assert "Zr" in r.report()


def test_fit_spectrum_exclude_zero_weight():
    from pixlspec.simulate import simulate_spectrum

    spec = simulate_spectrum(basalt_areas(3e5), seed=1)
    e = spec.energy_eV
    mask = np.abs(e - 6400) < 150
    bumped = spec.replace(counts=spec.counts + 3000 * mask)
    f0 = px.fit_spectrum(spec)
    f1 = px.fit_spectrum(bumped, exclude=mask)
    assert abs(f1.areas["Fe"] - f0.areas["Fe"]) < 3 * f1.sigma["Fe"]
    assert f1.excluded is not None and f1.excluded.sum() == mask.sum()
    assert px.fit_spectrum(spec, exclude=np.zeros(spec.n_channels, bool)).areas["Fe"] == pytest.approx(
        f0.areas["Fe"], rel=1e-12)
