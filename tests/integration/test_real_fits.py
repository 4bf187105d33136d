"""Fits of real PIXL spectra: breadboard glasses (~1e8 counts) and single flight points (~15 s).

They read ../shared/data/real in place and skip when it is absent. The reduced χ² values are printed
(run with -s) and bounded: the PIXL team's quantifier reaches χ²ᵣ ≈ 270 on BHVO-2G.
"""
from __future__ import annotations

import numpy as np
import pytest

import pixlspec as px
from pixlspec.config import FitConfig

#: PIQUANT's reduced χ² on the BHVO-2G breadboard spectrum (issue 4): the bar to beat.
PIQUANT_CHI2R_BHVO2G = 270.0
#: Lines seen in the breadboard glass spectra beyond the rock elements: Ar of residual air in the
#: He path, Cu and Ga (instrument/trace), found by find_elements.
GLASS_EXTRA_ELEMENTS = ["Ar", "Cu", "Ga"]


@pytest.fixture(scope="module")
def breadboard(real_data):
    folder = real_data / "breadboard_glasses"
    inst = px.Instrument.from_piquant_config(folder / "Breadboard_Configuration_2019_01_14_2020.msa")
    spectra = {name: px.read_msa(next(folder.glob(f"Calibration_box_{name}_*.msa")), instrument=inst)
               for name in ("BHVO-2G", "BCR-2G")}
    return inst, spectra


@pytest.mark.parametrize("name", ["BHVO-2G", "BCR-2G"])
def test_breadboard_glass_fit(breadboard, name):
    inst, spectra = breadboard
    spec = spectra[name]
    assert spec.total_counts > 1e8
    r = px.fit_spectrum(spec, elements=list(px.ROCK_ELEMENTS) + GLASS_EXTRA_ELEMENTS, instrument=inst,
                        config=FitConfig(free_kbeta=True))
    print(f"\n{name}: chi2_reduced = {r.chi2_reduced:.1f} (PIQUANT ~{PIQUANT_CHI2R_BHVO2G:.0f} on BHVO-2G), "
          f"FWHM(Mn Ka) = {r.fwhm_MnKa_eV:.1f} eV, offset {r.params.offset_eV:.2f} eV, "
          f"gain {r.params.gain_eV_per_channel:.5f} eV/ch")
    assert r.chi2_reduced < 0.5 * PIQUANT_CHI2R_BHVO2G
    # the breadboard detector is specified at 130 eV at Mn Kα
    assert 120 < r.fwhm_MnKa_eV < 145
    # the file's own calibration is good to a few eV for these spectra
    for e_keV in (1.74, 6.4, 20.2):
        ch = spec.channel_of(e_keV * 1000)
        assert abs(r.params.offset_eV + r.params.gain_eV_per_channel * ch - e_keV * 1000) < 15
    for el in ("Si", "Ca", "Ti", "Fe", "K", "Al", "Mn", "Sr", "Zr", "Ar"):
        assert r.detected[el], el
    # every visible peak is accounted for: the residual holds no peak-shaped excess away from the modelled
    # lines (peak-shape imperfections at 1e8 counts sit on the lines themselves)
    missing = _unmodelled_peaks(r, min_sigma=25.0)
    assert not missing, f"peaks in the residual of {name} away from modelled lines: {missing}"


def _unmodelled_peaks(r, min_sigma):
    """Energies (keV) of residual peaks (matched filter, significance > min_sigma) > 1.5 FWHM from any model line."""
    model = r.spectrum_model
    lines = []
    for i in range(model.n_columns):
        e, w = model.group_lines(i, r.params)
        lines.extend(e[w > 0.01])
    # escape and pile-up peaks of the strong lines are modelled too
    from pixlspec.physics.detector import SI_KA_ESCAPE_EV

    strong = [model.main_energy_eV(i) for i in range(model.n_columns)
              if model.column_names[i] in r.areas and r.areas[model.column_names[i]] > 1e6]
    lines += [e - SI_KA_ESCAPE_EV for e in strong] + [a + b for a in strong for b in strong]
    lines = np.array(lines)
    resid = r.counts - r.model
    gain = r.params.gain_eV_per_channel
    out = []
    s = r.params.fwhm_eV(6000.0) / 2.3548 / gain
    x = np.arange(-int(3 * s), int(3 * s) + 1, dtype=float)
    k = (1 - (x / s) ** 2) * np.exp(-0.5 * (x / s) ** 2)
    k -= k.mean()
    filt = np.convolve(resid, k[::-1], mode="same")
    sig = filt / np.sqrt(np.maximum(np.convolve(r.model, (k * k)[::-1], mode="same"), 1.0))
    for i in range(1, sig.size - 1):
        if sig[i] > min_sigma and sig[i] >= sig[i - 1] and sig[i] > sig[i + 1]:
            e = r.energy_eV[i]
            if np.min(np.abs(lines - e)) > 1.5 * r.params.fwhm_eV(e):
                out.append(round(e / 1000, 3))
    return out


@pytest.fixture(scope="module")
def flight(real_data):
    inst = px.Instrument.from_piquant_config(
        real_data / "pixl_fm_config" / "Config_PIXL_FM_SurfaceOps_Rev2_Sept2021.msa")
    files = sorted((real_data / "pixl_flight_sol0125" / "RFS_MSA_per_PMC").glob("*.MSA"))
    return inst, files


@pytest.mark.parametrize("detector", ["A", "B"])
def test_flight_point_fits(flight, detector):
    inst, files = flight
    chi2 = []
    for f in files[:4]:
        spec = px.read_msa(f, detector=detector, instrument=inst)
        r = px.fit_spectrum(spec, instrument=inst)
        chi2.append(r.chi2_reduced)
        assert r.detected["Fe"] and r.detected["Ca"] and r.detected["Si"]
        assert r.areas["Fe"] > 1e4
        # 170 eV at Mn Kα in the configuration; the fits find 165-185 eV
        assert 150 < r.fwhm_MnKa_eV < 200
    print(f"\nflight points, detector {detector}: chi2_reduced {np.round(chi2, 2).tolist()}")
    assert max(chi2) < 2.0


#: A user's own rock list: without the beam-path gas (Ar) and without the default list's Ge, Br, Y
#: (the lines under Ti Kα/Kβ, Ba L and V, stay: leaving them out moves TiO2 by ~3 %, a different matter).
USER_ROCK_LIST = ["Na", "Mg", "Al", "Si", "P", "S", "Cl", "K", "Ca", "Ti", "V", "Cr", "Mn", "Fe", "Ni", "Zn",
                  "Rb", "Sr", "Zr", "Ba"]
GLASS_MAJORS = ("SiO2", "TiO2", "Al2O3", "FeO", "MgO", "CaO", "Na2O", "K2O")


def test_gas_line_fitted_whatever_the_element_list(breadboard):
    """Calibrated on BHVO-2G + BCR-2G (default fits), each glass quantified from a fit with a user's
    element list that omits Ar gives the oxides of the default list within 2 % relative (issue 14):
    the path gas belongs to the instrument, so Ar is fitted either way."""
    from pixlspec.quant.calibration import calibrate
    from pixlspec.quant.quantify import quantify

    inst, spectra = breadboard
    default = {g: px.fit_spectrum(s, instrument=inst) for g, s in spectra.items()}
    cal = calibrate(list(default.values()), list(default), inst, names=list(default))
    for g, s in spectra.items():
        user = px.fit_spectrum(s, elements=USER_ROCK_LIST, instrument=inst)
        assert "Ar" in user.elements and user.detected["Ar"]
        q_default = quantify(default[g], calibration=cal)
        q_user = quantify(user, calibration=cal)
        for ox in GLASS_MAJORS:
            a, b = q_default.oxide_wt[ox], q_user.oxide_wt[ox]
            print(f"{g} {ox}: default {a:.3f} user {b:.3f} ({100 * (b / a - 1):+.2f} %)")
            assert b == pytest.approx(a, rel=0.02), (g, ox)
