"""Quantification: FP forward model, inverse, calibration, detection limits, maps, bad input.

Accuracy shown here (printed with ``-s``):
- FP intensities against a first-principles xraydb calculation (physics.md §9 worked example)
  and against fisx (PyMca's FP library) when it is installed;
- round trip composition -> simulated spectrum (1e6 counts) -> fit -> quantify for a basalt,
  a sulfate-rich and a carbonate-rich composition;
- detection limits scale as 1/sqrt(live time).
"""
from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

import pixlspec as px
from pixlspec.errors import CompositionError, ConfigError, FitError, PixlspecError, UnknownElementError
from pixlspec.physics.attenuation import parse_composition
from pixlspec.quant.calibration import Calibration, calibrate
from pixlspec.physics.edges import edge_energies_eV
from pixlspec.quant.excitation import edge_aligned_bins, excitation_spectrum
from pixlspec.quant.fp import Excitation, FPModel, fp_intensities, resolve_group, subshell_vacancy_shares
from pixlspec.composition import reference_oxides
from pixlspec.quant.quantify import quantify, quantify_map
from pixlspec.quant.standards import reference_material, reference_materials
from pixlspec.simulate import composition_areas, simulate_spectrum

from lookalikes import AreaMaps

#: physics.md §9 basalt (oxide wt%, as given: sums to 98.94).
PHYSICS_BASALT = {"SiO2": 49.9, "TiO2": 2.7, "Al2O3": 13.5, "FeO": 11.1, "MnO": 0.17, "MgO": 7.2, "CaO": 11.4,
                  "Na2O": 2.2, "K2O": 0.5, "P2O5": 0.27}


def _norm100(d):
    s = sum(d.values())
    return {k: 100.0 * v / s for k, v in d.items()}


#: Round-trip compositions (wt%, summing to 100): a BHVO-2-like basalt, basalt + 40 % gypsum,
#: basalt + 50 % calcite.
BASALT = _norm100({"SiO2": 49.9, "TiO2": 2.73, "Al2O3": 13.5, "FeO": 11.07, "MnO": 0.17, "MgO": 7.23,
                   "CaO": 11.4, "Na2O": 2.22, "K2O": 0.52, "P2O5": 0.27})
SULFATE = {**{k: 0.6 * v for k, v in BASALT.items()}, "CaSO4·2H2O": 40.0}
CARBONATE = {**{k: 0.5 * v for k, v in BASALT.items()}, "CaCO3": 50.0}
#: Volatile wt% of each (H2O of gypsum, CO2 of calcite).
_H2O_IN_GYPSUM = 2 * 18.015 / 172.17 * 100
_CO2_IN_CALCITE = 44.009 / 100.086 * 100


def _ideal_instrument():
    """Vacuum path, a detector that absorbs everything (for comparisons of the emitted intensities)."""
    inst = px.Instrument.pixl()
    det = px.Detector("A", window_Be_um=0.0, dead_layer_um=0.0, si_thickness_um=1e5, solid_angle_sr=4 * math.pi)
    return replace(inst, atmosphere="Vac", detectors=(det,))


def _mass_fractions(comp, normalise=False):
    fr = parse_composition(comp)
    if normalise:
        s = sum(fr.values())
        fr = {k: v / s for k, v in fr.items()}
    return fr


# =========================================================================== FP forward model
def _first_principles_primary(fr, group, energy_eV, psi2_deg=70.0):
    """Emitted photons per incident photon of the K group of ``group`` (physics.md §9, xraydb only)."""
    import xraydb

    ed = xraydb.xray_edge(group, "K")
    tau = xraydb.mu_elam(group, energy_eV, kind="photo")
    mu0 = sum(w * xraydb.mu_elam(el, energy_eV) for el, w in fr.items())
    lines = {n: ln for n, ln in xraydb.xray_lines(group).items() if ln.initial_level == "K"}
    kept = px.line_group(group).lines_above(1e-3).line_names
    total = 0.0
    for name in kept:
        ln = lines[name]
        mu1 = sum(w * xraydb.mu_elam(el, ln.energy) for el, w in fr.items())
        total += ln.intensity * fr[group] * tau * ed.fyield * (1 - 1 / ed.jump_ratio) / (
            mu0 + mu1 / math.sin(math.radians(psi2_deg)))
    return total


def test_fp_matches_first_principles_at_17_keV():
    """FPModel (primary) = the hand formula with xraydb data, for Fe, Ca, Si, K in the physics.md basalt."""
    fr = _mass_fractions(PHYSICS_BASALT)
    model = FPModel(_ideal_instrument(), ["Si", "K", "Ca", "Fe"], elements=fr.keys(), secondary=False,
                    excitation=Excitation.monochromatic(17000.0))
    got = model.rates(model.mass_fractions(PHYSICS_BASALT))
    for g, v in zip(model.groups, got):
        ref = _first_principles_primary(fr, g, 17000.0)
        print(f"{g}: FPModel {v:.6e}  first principles {ref:.6e}  ratio {v / ref:.5f}")
        assert v == pytest.approx(ref, rel=2e-3), g


def test_fe_basalt_over_fe2o3_worked_example():
    """physics.md §9: I_Fe(basalt)/I_Fe(Fe2O3) = 0.10658 for Fe Ka at 6400.8 eV, 17 keV, 90/70 deg."""
    import xraydb

    def ka_intensity(comp):
        fr = _mass_fractions(comp)
        mu0 = sum(w * xraydb.mu_elam(el, 17000.0) for el, w in fr.items())
        mu1 = sum(w * xraydb.mu_elam(el, 6400.8) for el, w in fr.items())
        return fr["Fe"] / (mu0 + mu1 / math.sin(math.radians(70)))

    assert ka_intensity(PHYSICS_BASALT) / ka_intensity("Fe2O3") == pytest.approx(0.10658, rel=1e-3)
    # the FP model's Fe group (Ka + Kb) agrees with it within the Kb absorption difference
    inst = _ideal_instrument()
    exc = Excitation.monochromatic(17000.0)
    m = FPModel(inst, ["Fe"], elements=["Si", "Ti", "Al", "Mn", "Mg", "Ca", "Na", "K", "P"], secondary=False,
                excitation=exc)
    r = m.rates(m.mass_fractions(PHYSICS_BASALT))[0] / m.rates(m.mass_fractions({"Fe2O3": 100}))[0]
    print(f"I_Fe(basalt)/I_Fe(Fe2O3): FPModel (Ka+Kb) {r:.5f}, physics.md (Ka) 0.10658")
    assert r == pytest.approx(0.10658, rel=0.01)


def test_ratio_invariant_to_normalisation():
    """C and mu scale together: intensities of a composition and of its normalised version are equal
    per unit concentration (physics.md §9)."""
    m = FPModel(_ideal_instrument(), ["Fe", "Ca"], elements=parse_composition(PHYSICS_BASALT).keys(),
                excitation=Excitation.monochromatic(17000.0), secondary=False)
    c = m.mass_fractions(PHYSICS_BASALT)
    np.testing.assert_allclose(m.rates(c), m.rates(c / c.sum()) * 1.0, rtol=1e-12)


def test_secondary_ca_in_basalt():
    """physics.md §9: secondary/primary of Ca Ka in the (normalised) basalt at 17 keV = 0.139."""
    fr = _mass_fractions(PHYSICS_BASALT, normalise=True)
    m = FPModel(_ideal_instrument(), ["Ca"], elements=fr.keys(), excitation=Excitation.monochromatic(17000.0))
    C = np.array([fr.get(e, 0.0) for e in m.elements])
    p, s = m.rates(C, split=True)
    print(f"Ca S/P = {s[0] / p[0]:.4f} (physics.md 0.139)")
    assert s[0] / p[0] == pytest.approx(0.139, rel=0.03)


def test_fp_against_fisx():
    """Independent implementation: fisx (PyMca's FP library), primary + secondary at 17 keV.

    xraydb (Elam) and fisx (PyMca) differ in their K fluorescence yields by up to 17 % for light
    elements (Si 0.0429 vs 0.0504, Ca 0.147 vs 0.169) and in K jump ratios by ~2 %, so the
    intensities are compared per unit omega_K x tau_K(17 keV) of each code: what is left is the
    FP physics (matrix absorption, geometry, secondary fluorescence). Within 5 % for Fe, Ca, Si, K.
    """
    fisx = pytest.importorskip("fisx")
    import xraydb

    fr = _mass_fractions(PHYSICS_BASALT, normalise=True)
    groups = ["Si", "K", "Ca", "Fe"]
    m = FPModel(_ideal_instrument(), groups, elements=fr.keys(), excitation=Excitation.monochromatic(17000.0))
    ours = m.rates(np.array([fr.get(e, 0.0) for e in m.elements]))
    els = fisx.Elements()
    els.initializeAsPyMca()
    mat = fisx.Material("basalt", 2.9, 1.0)
    mat.setComposition({k: float(v) for k, v in fr.items()})
    els.addMaterial(mat)
    xrf = fisx.XRF()
    xrf.setBeam(17.0)
    xrf.setSample([["basalt", 2.9, 1.0]])
    xrf.setGeometry(90.0, 70.0)
    res = xrf.getMultilayerFluorescence([g + " K" for g in groups], els, secondary=2, useMassFractions=1)
    for g, v in zip(groups, ours):
        theirs = sum(d["rate"] for d in res[g + " K"][0].values() if isinstance(d, dict) and "rate" in d)
        ed = xraydb.xray_edge(g, "K")
        norm_ours = ed.fyield * (1 - 1 / ed.jump_ratio) * xraydb.mu_elam(g, 17000.0, kind="photo")
        norm_theirs = els.getShellConstants(g, "K")["omega"] * els.getMassAttenuationCoefficients(g, 17.0)["K"][0]
        ratio = (v / norm_ours) / (theirs / norm_theirs)
        print(f"{g}: pixlspec/fisx per unit omega*tauK = {ratio:.4f}; raw ratio {v / theirs:.4f}")
        assert ratio == pytest.approx(1.0, abs=0.05), g


def test_excitation_bins_converged():
    """The FP's excitation bins (at most 2 % wide, ending at every absorption edge of the sample's elements)
    give the primary and secondary intensities of ~1,700 bins of 0.2 % within 5e-4, where uniform 50 eV bins,
    whose edges fall anywhere, are off by up to 0.7 % (Ti, Mn, Fe: edges inside bins weighted by the flight
    optic's response, which changes fastest between 3 and 6 keV)."""
    inst = px.Instrument.pixl()
    groups = ["Na", "Mg", "Al", "Si", "K", "Ca", "Ti", "Mn", "Fe", "Sr"]
    comp = {**PHYSICS_BASALT, "SrO": 0.05}
    els = parse_composition(comp).keys()
    default = FPModel(inst, groups, elements=els)
    bounds = [e for el in default.elements for e in edge_energies_eV(el)]
    fine = FPModel(inst, groups, elements=els,
                   excitation=edge_aligned_bins(excitation_spectrum(inst, step_eV=2.0), bounds, 0.002))
    uniform = FPModel(inst, groups, elements=els, step_eV=50.0)
    assert default.excitation.energy_eV.size < 0.5 * uniform.excitation.energy_eV.size
    (p, s2), (p_ref, s_ref), (p_u, _) = (m.rates(m.mass_fractions(comp), split=True) for m in (default, fine, uniform))
    np.testing.assert_allclose(p, p_ref, rtol=5e-4)
    np.testing.assert_allclose(s2, s_ref, rtol=0, atol=5e-4 * p_ref.max())
    assert np.max(np.abs(p_u / p_ref - 1)) > 3e-3


def test_edge_aligned_bins_split_the_uniform_bins_exactly():
    """Rebinning a continuum of linear density: the photons are conserved, every new bin holds the integral
    of the density over its range at its mean energy, a bin ends at every given boundary in range, none is
    wider than asked, and tube lines pass through."""
    step, a, b = 10.0, 3.0, 1e-3
    centres = 1000.0 + step * (np.arange(500) + 0.5)
    # uniform bins of a linear density a + b E hold its integral over the bin
    photons = step * (a + b * centres)
    exc = Excitation(energy_eV=np.r_[centres, 2696.0], photons_per_s=np.r_[photons, 7.0], n_continuum=500,
                     step_eV=step)
    edges = [1839.0, 2472.0, 5500.0]  # the last one is outside the range
    out = edge_aligned_bins(exc, edges, 0.05)
    nc = out.n_continuum
    assert out.energy_eV[nc:].tolist() == [2696.0] and out.photons_per_s[nc:].tolist() == [7.0]
    assert np.sum(out.photons_per_s[:nc]) == pytest.approx(np.sum(photons), rel=1e-12)
    # reconstruct each bin's range from the cumulative photons and check it against the density
    cum = np.r_[0.0, np.cumsum(out.photons_per_s[:nc])]
    F = lambda e: a * (e - 1000.0) + 0.5 * b * (e ** 2 - 1000.0 ** 2)   # noqa: E731
    grid = np.linspace(1000.0, 6000.0, 500001)
    bounds = np.interp(cum, F(grid), grid)
    for e in edges[:2]:
        assert np.min(np.abs(bounds - e)) < 0.01   # a bin ends at each edge (bins are > 20 eV wide)
    assert np.all(np.diff(bounds) / bounds[:-1] <= 0.05 + 1e-4)
    mean = (a * 0.5 * (bounds[1:] ** 2 - bounds[:-1] ** 2) + b / 3 * (bounds[1:] ** 3 - bounds[:-1] ** 3)) / \
        np.diff(cum)
    # (each uniform bin is taken as evenly filled: against the linear density that is 1e-6 of E at most)
    np.testing.assert_allclose(out.energy_eV[:nc], mean, rtol=1e-5)


def test_subshell_vacancy_shares_match_physics_module():
    from pixlspec.physics.edges import subshell_vacancies
    from pixlspec.quant.fp import FP_ATOMIC_DATA

    for el, shell in (("Fe", "K"), ("Ba", "L"), ("Pb", "L")):
        for e in (9000.0, 16000.0, 20000.0, 27000.0):
            ref = subshell_vacancies(el, shell, e, source=FP_ATOMIC_DATA)  # the FP's atomic data (issue 14)
            for sub, v in ref.items():
                assert subshell_vacancy_shares(el, sub, [e])[0] == pytest.approx(v, rel=1e-12, abs=1e-15)


def test_fp_intensities_real_instrument_is_sane():
    r = fp_intensities(BASALT, px.Instrument.pixl(), live_time_s=10.0)
    assert set(r) >= {"Si", "Ca", "Fe", "K", "Ti", "Na"}
    assert all(v > 0 for v in r.values())
    assert r["Fe"] > r["Ca"] > r["Si"] > r["Na"]


# =========================================================================== round trip
# Live times of the simulated spectra: the absolute FP (PIQUANT's conventions, flight optic 8) predicts
# PIXL's real count rate, ~7.5 kcps on a basalt (it was ~25x higher before): the times below are 25x
# those the tests were written with, for the same counts.
def _round_trip(comp, seed, balance, counts=1e6):
    inst = px.Instrument.pixl()
    areas, cont, _ = composition_areas(comp, inst, 1.0)
    live = counts / (sum(v[0] for v in areas.values()) + cont[0])
    spec = simulate_spectrum(composition=comp, instrument=inst, live_time_s=live, seed=seed)
    fit = px.fit_spectrum(spec)
    return spec, quantify(fit, balance=balance)


@pytest.mark.parametrize("name,comp,volatile,balance", [("basalt", BASALT, 0.0, "CO2"),
                                                        ("sulfate-rich", SULFATE, 0.4 * _H2O_IN_GYPSUM, "H2O"),
                                                        ("carbonate-rich", CARBONATE, 0.5 * _CO2_IN_CALCITE, "CO2")])
def test_round_trip_composition_spectrum_fit_quantify(name, comp, volatile, balance):
    """1e6 counts: majors (> 5 wt%) within 2 %, minors (0.5-5 wt%) within 10 %, total low by the
    volatiles within 3 wt% (the invisible balance is the sample's own volatile: the water of gypsum
    absorbs less than CO2, and a CO2 balance on the sulfate biases Si and Al by ~0.5 σ more).

    Where counting statistics alone make the bound a coin toss (1σ > 2/3 % for a major, e.g.
    Al2O3 at 8 wt%: 1.2 %; 1σ > 10/3 % for a minor, e.g. Na2O: ~20 %) the bound is 3σ instead: the
    Al area of the sulfate-rich spectrum scatters by 1.46 % over 12 seeds (mean +0.03 %) while the fit
    reports 1.12 %, so 2.5 reported σ is ~1.9 σ of the real scatter.
    """
    spec, q = _round_trip(comp, seed=11, balance=balance)
    truth = reference_oxides(comp)
    print(f"\n{name}: {spec.total_counts:.3g} counts, total {q.total:.2f} (true {sum(truth.values()):.2f}, "
          f"volatiles {volatile:.1f} wt%), {q.iterations} iterations")
    assert q.converged and q.total == pytest.approx(100.0 - volatile, abs=3.0)
    for ox, t in sorted(truth.items(), key=lambda kv: -kv[1]):
        if t < 0.5:
            continue
        got, sig = q.oxide_wt[ox], q.sigma_counting[ox]
        rel = (got - t) / t
        print(f"   {ox:<6} true {t:7.3f}  got {got:7.3f} ± {sig:.3f}  {100 * rel:+6.2f} %")
        bound = 0.02 if t > 5.0 else 0.10
        assert abs(rel) < max(bound, 3.0 * sig / t), ox


def test_quantify_counts_the_geometry_factor():
    """A spectrum recorded at a stand-off with ##GEOMETRY g holds g times the nominal counts for its live
    time: with the factor in its metadata, the certified basalt comes back (total ~100 wt%)."""
    inst = px.Instrument.pixl()
    g = 0.85
    areas, cont, _ = composition_areas(BASALT, inst, 1.0)
    live = 1e6 / (sum(v[0] for v in areas.values()) + cont[0])
    spec = simulate_spectrum(composition=BASALT, instrument=inst, live_time_s=g * live, seed=5)
    spec = spec.replace(live_time_s=live, metadata={**spec.metadata, "geometry": g})
    q = quantify(px.fit_spectrum(spec), balance=None)
    assert q.geometry_factor == g and q.live_time_s == pytest.approx(live)
    assert "× geometry 0.85" in q.report() and q.to_dict()["geometry_factor"] == g
    assert q.total == pytest.approx(100.0, abs=3.0)
    truth = reference_oxides(BASALT)
    for ox in ("SiO2", "FeO", "CaO"):
        assert q.oxide_wt[ox] == pytest.approx(truth[ox], rel=0.02), ox


def test_round_trip_default_matrix_basalt():
    """Default (no balance): the basalt comes back within 2 % for majors and its total near 100."""
    _, q = _round_trip(BASALT, seed=5, balance=None)
    assert q.total == pytest.approx(100.0, abs=2.0)
    for ox, t in reference_oxides(BASALT).items():
        if t > 5:
            assert abs(q.oxide_wt[ox] - t) / t < max(0.02, 2.5 * q.sigma_counting[ox] / t), ox
    assert "Na2O" in q.report()
    d = q.to_dict()
    json.dumps(d)
    assert d["oxide_wt"]["SiO2"] == q.oxide_wt["SiO2"]
    qn = quantify(px.fit_spectrum(simulate_spectrum(composition=BASALT, live_time_s=100.0, seed=6)), normalise=True)
    o_eq_cl = 15.999 / (2 * 35.453) * qn.oxide_wt.get("Cl", 0.0) + 15.999 / (2 * 79.904) * qn.oxide_wt.get("Br", 0.0)
    assert sum(qn.oxide_wt.values()) - o_eq_cl == pytest.approx(100.0, rel=1e-6)


def test_fe2o3_option():
    spec = simulate_spectrum(composition=BASALT, live_time_s=100.0, seed=3)
    fit = px.fit_spectrum(spec)
    q1, q2 = quantify(fit), quantify(fit, fe_oxide="Fe2O3")
    assert "Fe2O3" in q2.oxide_wt and "FeO" not in q2.oxide_wt
    assert q2.element_wt["Fe"] == pytest.approx(q1.element_wt["Fe"], rel=0.02)


def test_lod_scales_with_inverse_sqrt_live_time():
    lods = []
    for live in (50.0, 200.0):
        spec = simulate_spectrum(composition=BASALT, live_time_s=live, seed=21)
        lods.append(quantify(px.fit_spectrum(spec)).lod)
    for ox in ("K2O", "TiO2", "MnO", "CaO", "SrO" if "SrO" in lods[0] else "FeO"):
        ratio = lods[0][ox] / lods[1][ox]
        print(f"LOD {ox}: {lods[0][ox]:.4f} (2 s) / {lods[1][ox]:.4f} (8 s) = {ratio:.3f} (expected 2)")
        assert ratio == pytest.approx(2.0, rel=0.1), ox


# =========================================================================== calibration
def test_calibration_recovers_a_wrong_instrument_and_round_trips(tmp_path):
    """Spectra simulated with the true instrument, quantified with a wrong one (solid angle -30 %,
    detector Be 25 µm instead of 17): uncalibrated results are off; calibrated on one standard,
    another is recovered."""
    true = px.Instrument.pixl()
    wrong = true.with_detector("A", solid_angle_sr=0.7 * true.detector("A").solid_angle_sr, window_Be_um=25.0)
    std = reference_material("BHVO-2").composition_wt
    s_std = simulate_spectrum(composition=std, instrument=true, live_time_s=750.0, seed=1)
    s_unk = simulate_spectrum(composition=reference_material("AGV-2").composition_wt, instrument=true,
                              live_time_s=750.0, seed=2)
    f_std = px.fit_spectrum(s_std, instrument=wrong)
    f_unk = px.fit_spectrum(s_unk, instrument=wrong)
    raw = quantify(f_unk, wrong)
    assert raw.total > 125  # the model expects 30 % fewer photons than the detector records
    cal = calibrate([f_std], ["BHVO-2"], wrong)
    assert cal.scale == pytest.approx(1 / 0.7, rel=0.03)
    assert cal.factors["Mg"] / cal.scale > 1.1  # the model's thicker Be window cuts Mg more than Fe
    q = quantify(f_unk, calibration=cal)
    truth = reference_material("AGV-2").oxide_wt()
    print(cal.report())
    print(q.report(reference_material("AGV-2").composition_wt))
    for ox in ("SiO2", "Al2O3", "CaO", "FeO", "K2O", "TiO2", "Na2O", "MgO"):
        # or 2.5 σ where the total 1σ (counting and the standard's certified uncertainty, which
        # the factor carries: Na2O in BHVO-2 ±7 %) makes the fixed bound a coin toss
        bound = max(0.03 if truth[ox] > 5 else 0.10, 2.5 * q.sigma[ox] / truth[ox])
        assert q.oxide_wt[ox] == pytest.approx(truth[ox], rel=bound), ox
    # save with the instrument, load back
    path = tmp_path / "cal.json"
    cal.save(path)
    back = Calibration.load(path)
    assert back.instrument == wrong and back.factors == cal.factors and back.scale == cal.scale
    q2 = quantify(f_unk, calibration=back)
    assert q2.oxide_wt == pytest.approx(q.oxide_wt)
    assert "BHVO-2" in back.report()


def test_calibrate_accepts_spectra_and_dicts():
    inst = px.Instrument.pixl()
    comp = {"SiO2": 60.0, "Al2O3": 15.0, "CaO": 10.0, "FeO": 10.0, "K2O": 5.0}
    spec = simulate_spectrum(composition=comp, instrument=inst, live_time_s=125.0, seed=4)
    cal = calibrate([spec], [comp], elements=["Si", "Al", "Ca", "Fe", "K", "Mg", "Na", "Ti"], names=["mix"])
    assert set(cal.factors) >= {"Si", "Al", "Ca", "Fe", "K"}
    for g in ("Si", "Ca", "Fe"):
        assert cal.factors[g] == pytest.approx(1.0, rel=0.03)
    assert cal.residuals["mix"]["SiO2"] == pytest.approx(0.0, abs=0.02)


# =========================================================================== standards
def test_reference_materials_are_shipped_with_citations():
    names = reference_materials()
    for n in ("BHVO-2", "BCR-2", "AGV-2", "GSP-2", "BHVO-2G", "BCR-2G", "gypsum", "calcite", "halite"):
        assert n in names
        rm = reference_material(n)
        assert rm.citation
    assert reference_material("bhvo-2").oxide_wt()["SiO2"] == pytest.approx(49.9, rel=1e-6)
    assert reference_material("BHVO-2").oxide_wt()["FeO"] == pytest.approx(12.3 / 1.11135, rel=1e-3)
    assert reference_material("halite").element_wt()["Cl"] == pytest.approx(60.66, abs=0.05)
    assert "USGS" in reference_material("GSP-2").citation
    with pytest.raises(CompositionError):
        reference_material("unobtainium")


# =========================================================================== He path: Ar line geometry
def _he_path_instrument(elevation_deg=70.0, pressure_Pa=100.0):
    """Breadboard-like He path (2.0 cm in, 3.2 cm out, normal incidence) at a low pressure, so that the
    He attenuation (< 1e-5 here) does not blur the geometry checks."""
    inst = px.Instrument.pixl()
    det = replace(inst.detectors[0], elevation_deg=elevation_deg, azimuth_deg=180.0)
    return replace(inst, atmosphere="He", path_in_cm=2.0, path_out_cm=3.2, incidence_deg=90.0,
                   gas_pressure_Pa=pressure_Pa, detectors=(det,))


def test_gas_column_view_length_hand_computation():
    """Detector 3.2 cm from the spot at 70° elevation, beam column 2.0 cm along the normal: the detector
    is 1.487 cm from the top of the column, so the column seen with the spot's solid angle is
    L d / rho(L) = 2.0 x 3.2 / 1.4873 = 4.3032 cm (not 2.0 cm)."""
    from pixlspec.quant.fp import detector_view_ratio, gas_column_view_length_cm, sample_gas_kernel_cm

    inst = _he_path_instrument()
    c = math.sin(math.radians(70.0))
    rho_top = math.sqrt(3.2 ** 2 - 2 * 2.0 * 3.2 * c + 2.0 ** 2)
    assert rho_top == pytest.approx(1.48725, abs=1e-5)
    assert gas_column_view_length_cm(inst) == pytest.approx(2.0 * 3.2 / rho_top, rel=1e-12)
    assert gas_column_view_length_cm(inst) == pytest.approx(4.3032, abs=1e-4)
    # solid angle ratios: 1 at the spot, 4 half way to the detector, 0 behind the detector plane
    u = np.array([-math.cos(math.radians(70.0)) * math.cos(math.pi), 0.0, c])
    got = detector_view_ratio(inst, np.array([[0.0, 0.0, 0.0], 1.6 * u, 4.0 * u]))
    assert got == pytest.approx([1.0, 4.0, 0.0], abs=1e-12)
    # kernel of the sample-excited gas line: detector at the zenith -> pi^2 d
    assert sample_gas_kernel_cm(_he_path_instrument(90.0)) == pytest.approx(math.pi ** 2 * 3.2, rel=1e-3)
    assert 0.9 * math.pi ** 2 * 3.2 < sample_gas_kernel_cm(inst) < math.pi ** 2 * 3.2


def test_gas_line_rate_hand_computation():
    """Ar K counts per unit air fraction, monochromatic 10 keV beam, x -> 0: rho_Ar N sum_l tau_Ar
    (1 - 1/J) omega p_l rec(E_l) x L d/rho(L), every factor from xraydb and the ideal gas law."""
    import xraydb

    from pixlspec.model.spectrum_model import MIN_LINE_FRACTION
    from pixlspec.quant.fp import recorded_fraction

    inst = _he_path_instrument()
    model = FPModel(inst, ["Fe"], excitation=Excitation.monochromatic(10000.0, 1.0))
    rho_air = 100.0 * 0.0289647 / (8.314462618 * 293.15) * 1e-3          # g/cm3, P M / (R T)
    rho_ar = rho_air * 1.2827 / 100.0                                    # Ar mass fraction of dry air
    ed = xraydb.xray_edge("Ar", "K")
    tau = xraydb.mu_elam("Ar", 10000.0, kind="photo")
    per_vacancy = 0.0
    for name in px.line_group("Ar").lines_above(MIN_LINE_FRACTION).line_names:
        ln = xraydb.xray_lines("Ar")[name]
        per_vacancy += ln.intensity * float(recorded_fraction(inst, None, ln.energy))
    c = math.sin(math.radians(70.0))
    view_cm = 2.0 * 3.2 / math.sqrt(3.2 ** 2 - 2 * 2.0 * 3.2 * c + 2.0 ** 2)
    hand = rho_ar * tau * (1 - 1 / ed.jump_ratio) * ed.fyield * per_vacancy * view_cm
    x = 1e-6
    assert model.gas_line_rate(x) / x == pytest.approx(hand, rel=1e-3)


def test_sample_excited_gas_line_is_small_and_linear():
    """Ar excited by the sample's own emission: proportional to the recorded spectrum above the Ar K
    edge, nothing from below it, a few % of the beam-excited line for a basalt."""
    inst = replace(_he_path_instrument(), gas_pressure_Pa=None)
    model = FPModel(inst, ["Fe"])
    e = np.linspace(1000.0, 20000.0, 2000)
    flat = np.ones_like(e)
    r1 = model.sample_gas_rate(e, flat)
    assert r1 > 0
    assert model.sample_gas_rate(e, 3.0 * flat) == pytest.approx(3.0 * r1, rel=1e-12)
    below = np.where(e < 3200.0, 1.0, 0.0)
    assert model.sample_gas_rate(e, below) == 0.0
    assert FPModel(replace(inst, atmosphere="Vac"), ["Fe"]).sample_gas_rate(e, flat) == 0.0


def test_reference_from_piquant_adds_oxygen_and_fills(tmp_path):
    """A PIQUANT standard (element wt% + oxide ratios) becomes a complete composition: O by the ratios,
    missing elements from a fallback material; calibrate uses the same O."""
    from pixlspec.io.piquant_tables import read_piquant_standards
    from pixlspec.quant.calibration import _composition_of
    from pixlspec.quant.standards import reference_from_piquant

    p = tmp_path / "std.csv"
    p.write_text("Standard,QC,quartz-corundum\r\nSi,,,,23.37%,1,2,1\r\nAl,,,,26.46%,2,1.5,1\r\n"
                 "Fe,,,,1000ppm,5a,0,1\r\nSPECTRUM,qc.msa\r\n", encoding="utf-8")
    entry = read_piquant_standards(p)[0]
    rm = reference_from_piquant(entry, source=str(p))
    o_hand = 23.37 * 2 * 15.999 / 28.0855 + 26.46 * 1.5 * 15.999 / 26.9815
    assert rm.composition_wt["O"] == pytest.approx(o_hand, rel=1e-3)
    ox = rm.oxide_wt()
    assert ox["SiO2"] == pytest.approx(50.0, rel=2e-3) and ox["Al2O3"] == pytest.approx(50.0, rel=2e-3)
    assert rm.element_relative_sigma()["Al"] == pytest.approx(0.02)
    assert "QC" in rm.citation and str(p) in rm.citation and rm.verify == ()
    filled = reference_from_piquant(entry, fill="BHVO-2G")
    assert "CaO" in filled.composition_wt and "SiO2" not in filled.composition_wt
    # filled values keep their source's marks: the GeoReM glass values carry none ("verify" lists
    # values of uncertain source)
    fallback = reference_material("BHVO-2G")
    assert set(filled.verify) == {k for k in filled.composition_wt if k in fallback.verify}
    assert "CaO" in filled.description
    name, comp, _ = _composition_of(entry)
    assert name == "QC" and parse_composition(comp)["O"] == pytest.approx(o_hand / 100.0, rel=1e-3)
    # an O line in the file is the total oxygen: not added to again
    p.write_text("Standard,QC,quartz-corundum\r\nSi,,,,23.37%,1,2,1\r\nAl,,,,26.46%,2,1.5,1\r\n"
                 "O,,,,50.17%,1,0,1\r\nSPECTRUM,qc.msa\r\n", encoding="utf-8")
    with_o = reference_from_piquant(read_piquant_standards(p)[0])
    assert with_o.composition_wt["O"] == pytest.approx(50.17)


# =========================================================================== maps
def test_quantify_map_minimal_protocol(tmp_path):
    inst = px.Instrument.pixl()
    comps = [BASALT, SULFATE, CARBONATE, BASALT]
    # ~1e6 counts per point at PIXL's absolute count rate (~7.5 kcps on a basalt; see the round trips)
    live = np.array([125.0, 125.0, 125.0, 500.0])
    areas, _, groups = composition_areas(comps, inst, live)
    rng = np.random.default_rng(0)
    noisy = {g: rng.poisson(areas[g]).astype(float) for g in groups}
    sigma = {g: np.sqrt(np.maximum(areas[g], 1.0)) for g in groups}
    cm = quantify_map(AreaMaps(noisy, live, inst, sigma=sigma), balance="CO2")
    assert cm.valid.all() and cm.converged.all()
    for i, c in enumerate(comps):
        t = reference_oxides(c)
        for ox in ("SiO2", "CaO", "FeO"):
            assert cm.point_oxide_wt[ox][i] == pytest.approx(t[ox], rel=0.02), (i, ox)
    assert cm.point_total[2] == pytest.approx(100 - 0.5 * _CO2_IN_CALCITE, abs=3)
    # the longer dwell has the lower LOD
    assert cm.point_lod["K2O"][3] < cm.point_lod["K2O"][0]
    print(cm.report())
    path = tmp_path / "comp.h5"
    cm.to_hdf5(path)
    import h5py

    with h5py.File(path) as f:
        g = f["entry/composition"]
        names = [n.decode() if isinstance(n, bytes) else n for n in g["oxide_names"][()]]
        assert g["oxide_wt"].shape == (len(names), 4)
        np.testing.assert_allclose(g["total_wt"][()], cm.point_total)
    json.dumps(cm.to_dict())


def test_quantify_map_geometry_factor_scales_the_exposure():
    """A point at a stand-off whose ##GEOMETRY factor is g records g times the nominal counts (the
    factor multiplies PIQUANT's emergent beam): with the factor given, the certified composition comes
    back; without it, the analytical total is off by about g."""
    inst = px.Instrument.pixl()
    comps = [BASALT, BASALT]
    live = np.array([125.0, 125.0])
    areas, _, groups = composition_areas(comps, inst, live)
    g = np.array([0.8, 1.15])
    scaled = {k: v * g for k, v in areas.items()}
    sigma = {k: np.sqrt(np.maximum(v, 1.0)) for k, v in scaled.items()}
    maps = AreaMaps(scaled, live, inst, sigma=sigma)
    maps.geometry_factor = g
    cm = quantify_map(maps, balance="CO2")
    for i, c in enumerate(comps):
        t = reference_oxides(c)
        for ox in ("SiO2", "CaO", "FeO"):
            assert cm.point_oxide_wt[ox][i] == pytest.approx(t[ox], rel=0.01), (i, ox)
    np.testing.assert_array_equal(cm.live_time_s, live)   # the live time reported is the live time
    plain = quantify_map(AreaMaps(scaled, live, inst, sigma=sigma), balance=None)
    assert plain.point_total[0] < 0.85 * 100 and plain.point_total[1] > 1.1 * 100


def test_quantify_map_shared_jacobian_reaches_the_fixed_point_of_every_point(monkeypatch):
    """The quasi-Newton steps (one Jacobian for the whole chunk, at its median) converge to the same
    compositions as the plain fixed point and as each point solved alone, also for points whose matrix
    is unlike the median (sulfate, carbonate and halite among basalts); the chunk is large enough for the
    pilot start (one point solved first gives the others their start)."""
    from pixlspec.quant import solver as qmod

    inst = px.Instrument.pixl()
    halite = {"NaCl": 100.0}
    comps = [BASALT] * (qmod.PILOT_MIN_POINTS - 3) + [SULFATE, CARBONATE, halite]
    live = np.full(len(comps), 125.0)
    areas, _, groups = composition_areas(comps, inst, live)
    sigma = {g: np.sqrt(np.maximum(areas[g], 1.0)) for g in groups}
    maps = AreaMaps(areas, live, inst, sigma=sigma)
    fast = quantify_map(maps, balance="CO2")
    alone = quantify_map(maps, balance="CO2", chunk_points=1)
    monkeypatch.setattr(qmod, "QN_START_RESIDUAL", 0.0)  # never leaves the fixed point
    monkeypatch.setattr(qmod, "PILOT_MIN_POINTS", 10 ** 9)  # ... nor starts from a pilot
    plain = quantify_map(maps, balance="CO2")
    assert fast.converged.all() and plain.converged.all() and alone.converged.all()
    for ox in fast.oxides:
        a, b, c = fast.point_oxide_wt[ox], plain.point_oxide_wt[ox], alone.point_oxide_wt[ox]
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=ox)
        np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-6, err_msg=ox)
    np.testing.assert_allclose(fast.point_total, plain.point_total, rtol=1e-6)
    # and the noise-free areas give back the compositions that made them
    for i, comp in enumerate(comps):
        t = reference_oxides(comp)
        for ox in ("SiO2", "CaO", "FeO"):
            if t.get(ox, 0) > 1:
                assert fast.point_oxide_wt[ox][i] == pytest.approx(t[ox], rel=0.01), (i, ox)


def test_quantify_map_on_fit_map(tmp_path):
    """A small simulated composition scan (pixlspec.simulate.scenes) through fit_map and quantify_map."""
    from pixlspec.simulate.scenes import make_scan

    scan, truth = make_scan(ny=6, nx=6, seed=3, live_time_s=17.5)
    maps = px.fit_map(scan)
    cm = quantify_map(maps, balance="CO2")
    assert cm.n_points == 36 and cm.valid.all()
    bas = np.asarray(truth["f_basalt"]) > 0.999
    if bas.any():
        err = (cm.point_oxide_wt["SiO2"][bas] - truth["SiO2"][bas]) / truth["SiO2"][bas]
        assert abs(np.median(err)) < 0.03
    assert cm.oxide_wt["SiO2"].shape == maps.areas["Si"].shape


def test_example_scene_writes_scan_and_truth(tmp_path):
    from pixlspec.cli import main

    out = tmp_path / "sim.h5"
    with pytest.raises(SystemExit) as e:
        main(["-q", "simulate", str(out), "--scene", "salts", "--shape", "4x5", "--seed", "2"])
    assert e.value.code == 0
    scan = px.open_scan(out)
    assert len(scan) == 20 and set(scan.detectors) == {"A", "B"}
    assert "truth_wt_SiO2" in scan.point_metadata and "phase" in scan.point_metadata
    text = (tmp_path / "sim_truth.csv").read_text().splitlines()
    assert text[0].startswith("point,x_mm,y_mm,phase") and len(text) == 21


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


def test_groups_without_usable_lines_raise():
    with pytest.raises(ConfigError):
        resolve_group("C", 28.0)  # no lines PIXL can measure
    with pytest.raises(ConfigError):
        resolve_group("U_M", 28.0)  # M groups are not modelled
    with pytest.raises(ConfigError):
        resolve_group("Ba_K", 28.0)  # Ba K edge 37.4 keV is not excited at 28 kV
    with pytest.raises(UnknownElementError):
        resolve_group("Qq", 28.0)


def test_quantify_bad_input_and_open_matrix():
    with pytest.raises(FitError):
        quantify({"Fe": 1.0})
    spec = simulate_spectrum(composition=BASALT, live_time_s=75.0, seed=9)
    fit = px.fit_spectrum(spec, elements=["Ca", "Fe", "Ti"])
    q = quantify(fit)
    assert not q.ok and any("matrix not closed" in f for f in q.flags)
    with pytest.raises(FitError):
        quantify(fit, strict=True)
    with pytest.raises(CompositionError):
        quantify(px.fit_spectrum(spec), fe_oxide="Fe3O4")
    with pytest.raises(PixlspecError):
        Calibration.from_json("{not json")
    with pytest.raises(ConfigError):
        Calibration.from_json(json.dumps({"format": "something else"}))
    with pytest.raises(FitError):
        calibrate([spec], [BASALT, BASALT])
    with pytest.raises(FitError):
        quantify_map(AreaMaps({}, np.ones(3), px.Instrument.pixl(), sigma={}))


def test_uncalibrated_result_is_flagged():
    q = quantify(px.fit_spectrum(simulate_spectrum(composition=BASALT, live_time_s=75.0, seed=2)))
    assert any("uncalibrated" in f for f in q.flags)
    assert not q.calibrated


def test_public_api_names():
    assert px.quantify is quantify and px.quantify_map is quantify_map and px.calibrate is calibrate
    assert px.Calibration is Calibration and px.FPModel is FPModel
    assert px.reference_material("BHVO-2G").kind == "glass"


def test_primary_jacobian_matches_finite_differences_of_the_model():
    """FPModel.primary_jacobian (analytic) against central differences of FPModel.rates, in a He path with air
    (the gas attenuation enters the excitation and detection tables)."""
    from pixlspec.quant.fp import fp_model

    inst = px.Instrument.pixl()
    model = fp_model(inst, ["Na", "Mg", "Al", "Si", "P", "S", "Cl", "K", "Ca", "Ti", "Mn", "Fe"], elements=("H",))
    rng = np.random.default_rng(4)
    C = np.stack([model.mass_fractions(BASALT), model.mass_fractions(SULFATE)])
    n_dir = 3
    dC = rng.normal(0.0, 1.0, (C.shape[0], C.shape[1], n_dir)) * C[:, :, None]  # directions within the sample
    prim, jac = model.primary_jacobian(C, dC, air_fraction=0.02)
    np.testing.assert_allclose(prim, model.rates(C, secondary=False, air_fraction=0.02), rtol=1e-10)
    h = 1e-5
    for j in range(n_dir):
        up = model.rates(C + h * dC[:, :, j], secondary=False, air_fraction=0.02)
        down = model.rates(C - h * dC[:, :, j], secondary=False, air_fraction=0.02)
        fd = (up - down) / (2 * h)
        np.testing.assert_allclose(jac[:, :, j], fd, rtol=1e-6, atol=1e-9 * np.abs(prim).max())


def test_quantify_map_air_fraction_of_a_he_path_from_the_ar_area():
    """A He path holding air: quantify_map finds the air fraction back from the map's total Ar area
    (A_Ar = Σ live × Ar rate(x), the rate from the FP gas line) and quantifies with it."""
    from pixlspec.quant.fp import fp_model

    inst = replace(_he_path_instrument(), gas_pressure_Pa=None)
    comps = [BASALT] * 3
    live = np.full(3, 100.0)
    areas, _, groups = composition_areas(comps, inst, live)
    sample = [g for g in groups if g != "Ar"]
    x_true = 0.03
    model = fp_model(inst, sample)
    if not model.gas_correctable:
        pytest.skip("this path holds no correctable gas")
    areas = {g: areas[g] for g in sample}
    areas["Ar"] = live * model.gas_line_rate(x_true)
    sigma = {g: np.sqrt(np.maximum(v, 1.0)) for g, v in areas.items()}
    cm = quantify_map(AreaMaps(areas, live, inst, sigma=sigma), balance="CO2")
    assert cm.air_fraction == pytest.approx(x_true, rel=1e-6)
    assert cm.valid.all() and cm.converged.all() and np.all(np.isfinite(cm.point_total))


def test_quantify_map_equals_quantify_point_by_point():
    """Each point of a map is quantified exactly as its spectrum alone: the areas of three fitted spectra
    (basalt, sulfate-rich, carbonate-rich) as a three-point map give the oxides, element wt% and totals that
    ``quantify`` gives on each fit (same balance), to the solver's tolerance."""
    inst = px.Instrument.pixl()
    fits, lives = [], []
    for seed, comp in enumerate((BASALT, SULFATE, CARBONATE)):
        spec = simulate_spectrum(composition=comp, instrument=inst, live_time_s=60.0, seed=40 + seed)
        fits.append(px.fit_spectrum(spec))
        lives.append(spec.live_time_s)
    groups = [g for g in fits[0].areas if g in fits[1].areas and g in fits[2].areas]
    areas = {g: np.array([f.areas[g] for f in fits]) for g in groups}
    sigma = {g: np.array([f.sigma.get(g, np.nan) for f in fits]) for g in groups}
    cm = quantify_map(AreaMaps(areas, np.array(lives), inst, sigma=sigma), balance="CO2")
    assert cm.converged.all()
    for i, fit in enumerate(fits):
        q = quantify(fit, balance="CO2")
        assert q.converged
        for ox, v in q.oxide_wt.items():
            assert cm.point_oxide_wt[ox][i] == pytest.approx(v, rel=1e-5, abs=1e-7), (i, ox)
        assert cm.point_total[i] == pytest.approx(q.total, rel=1e-6)
