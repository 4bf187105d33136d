"""Acceptance figures of the spectrum physics on real PIXL spectra (issue 14).

Prints, for the BHVO-2G breadboard bulk sum (breadboard configuration) and the sol-125 Naltsos
bulk sums of detectors A and B (FM configuration Rev2, Sept 2021), fitted with the default settings:

* the reduced χ² (Pearson) of the full fit;
* runs of consecutive channels whose normalised residual (data − model)/√model lies beyond ±5σ
  (same sign, at least ``MIN_RUN`` channels) in 0.9–2.2 keV and around the Rh L scatter (2.6–2.95 keV);
* the Na, Mg, Al, P (and Si, K, Ca, Fe) areas, next to PyMca's (``--pymca``; PyMca5 McaAdvancedFit
  with a strip background and the same detector/resolution, see ``pymca_areas``);
* with ``--chi2-bands``, the energy bands that hold the χ²: the share of each 0.5-keV band holding at
  least ``CHI2_BAND_MIN_SHARE`` of it.

Run: ``python benchmarks/physics_check.py [--pymca] [--chi2-bands]``. The real data live in ../shared/data/real.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
import pixlspec as px  # noqa: E402

REAL = (REPO / ".." / "shared" / "data" / "real").resolve()
BB = REAL / "breadboard_glasses"
BB_CONFIG = BB / "Breadboard_Configuration_2019_01_14_2020.msa"
FM_CONFIG = REAL / "pixl_fm_config" / "Config_PIXL_FM_SurfaceOps_Rev2_Sept2021.msa"
SCAN = REPO / "example_data" / "sol0125_naltsos.h5"
#: Residual beyond this many σ counts toward a run.
RUN_SIGMA = 5.0
#: Consecutive channels (same sign) that make a run.
MIN_RUN = 3
#: Energy windows checked (keV): the light-element region and the Rh L scatter.
WINDOWS_KEV = {"0.9-2.2 keV": (0.9, 2.2), "Rh L 2.6-2.95 keV": (2.6, 2.95)}
LIGHT = ("Na", "Mg", "Al", "P", "Si", "K", "Ca", "Fe")
#: Width of the energy bands of ``--chi2-bands`` (keV), and the least share of the χ² a band printed holds.
CHI2_BAND_KEV = 0.5
CHI2_BAND_MIN_SHARE = 0.02
#: Kβ windows (eV) of ``--chi2-bands``: the group's counts there against its model (Fe: Kβ and the Fe K edge).
KBETA_WINDOWS_EV = {"Ca": (3900.0, 4150.0), "Ti": (4800.0, 5050.0), "Fe": (6750.0, 7350.0)}


def runs(energy_eV, resid, lo_keV, hi_keV, sigma=RUN_SIGMA, min_run=MIN_RUN):
    """(start keV, end keV, channels, extreme residual) of each run beyond ±sigma in the window."""
    sel = (energy_eV >= lo_keV * 1000) & (energy_eV <= hi_keV * 1000)
    e, r = energy_eV[sel], resid[sel]
    sign = np.where(r > sigma, 1, np.where(r < -sigma, -1, 0))
    out, i = [], 0
    while i < sign.size:
        if sign[i] == 0:
            i += 1
            continue
        j = i
        while j + 1 < sign.size and sign[j + 1] == sign[i]:
            j += 1
        if j - i + 1 >= min_run:
            k = i + int(np.argmax(np.abs(r[i:j + 1])))
            out.append((e[i] / 1000, e[j] / 1000, j - i + 1, float(r[k])))
        i = j + 1
    return out


def spectra():
    """(label, spectrum, instrument) of the acceptance spectra that are present."""
    out = []
    if BB_CONFIG.exists():
        inst = px.Instrument.from_piquant_config(BB_CONFIG)
        for name in ("BHVO-2G", "BCR-2G"):
            f = next(BB.glob(f"Calibration_box_{name}_*.msa"), None)
            if f is not None:
                out.append((name, px.read_msa(f, instrument=inst), inst))
    if FM_CONFIG.exists() and SCAN.exists():
        inst = px.Instrument.from_piquant_config(FM_CONFIG)
        with px.open_scan(SCAN, instrument=inst) as scan:
            for det in ("A", "B"):
                out.append((f"Naltsos sum {det}", scan.sum_spectrum(det), inst))
    return out


def chi2_bands(fit, width_keV=CHI2_BAND_KEV, min_share=CHI2_BAND_MIN_SHARE):
    """(start keV, end keV, share of the fit's χ², χ² per channel) of the bands holding ``min_share`` or more."""
    r2 = fit.residual ** 2
    total = float(r2.sum())
    band = np.floor(fit.energy_eV / 1000.0 / width_keV).astype(int)
    out = []
    for b in np.unique(band):
        sel = band == b
        share = float(r2[sel].sum()) / total
        if share >= min_share:
            out.append((b * width_keV, (b + 1) * width_keV, share, float(r2[sel].mean())))
    return out


def kbeta_windows(fit, windows=KBETA_WINDOWS_EV):
    """{group: (data/model, centroid data − model in eV)} in each Kβ window: the data less every other
    component of the fit (background included) against the group's own model."""
    comps = fit.components()
    e = fit.energy_eV
    out = {}
    for g, (lo, hi) in windows.items():
        if g not in comps:
            continue
        sel = (e > lo) & (e < hi)
        data = fit.counts[sel] - (fit.model[sel] - comps[g][sel])
        model = comps[g][sel]
        shift = (e[sel] @ data) / data.sum() - (e[sel] @ model) / model.sum()
        out[g] = (float(data.sum() / model.sum()), float(shift))
    return out


def report(label, fit, pymca=None):
    print(f"\n== {label}: chi2_red = {fit.chi2_reduced:.2f} (dof {fit.dof:.0f}), "
          f"FWHM(Mn Ka) {fit.fwhm_MnKa_eV:.1f} eV, {fit.elapsed_s:.2f} s")
    r = fit.residual
    for wname, (lo, hi) in WINDOWS_KEV.items():
        rr = runs(fit.energy_eV, r, lo, hi)
        sel = (fit.energy_eV >= lo * 1000) & (fit.energy_eV <= hi * 1000)
        print(f"   {wname}: max |resid| {np.max(np.abs(r[sel])):.1f} sigma; runs beyond ±{RUN_SIGMA:g}σ "
              f"(>= {MIN_RUN} ch): {len(rr)}" + "".join(f"\n      {a:.3f}-{b:.3f} keV, {n} ch, peak {m:+.1f}"
                                                      for a, b, n, m in rr))
    bg = fit.background
    print(f"   background min {bg.min():.3g} counts/ch (non-negative: {bool(bg.min() >= 0)})")
    print(f"   {'group':<6}{'area':>14}{'sigma':>10}" + (f"{'PyMca':>14}{'ratio':>8}" if pymca else ""))
    for el in LIGHT:
        if el in fit.areas:
            line = f"   {el:<6}{fit.areas[el]:>14.6g}{fit.sigma[el]:>10.3g}"
            if pymca and el in pymca:
                line += f"{pymca[el]:>14.6g}{fit.areas[el] / pymca[el]:>8.3f}"
            print(line)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pymca", action="store_true", help="also fit with PyMca5 and compare the areas")
    ap.add_argument("--only", default=None, help="substring of the spectrum label to run")
    ap.add_argument("--chi2-bands", action="store_true", help="the 0.5-keV bands that hold the chi-square")
    ap.add_argument("--pymca-backgrounds", action="store_true",
                    help="PyMca's Na, Mg, Al, P areas with its strip background and with SNIP of several widths")
    args = ap.parse_args(argv)
    for label, spec, inst in spectra():
        if args.only and args.only not in label:
            continue
        t0 = time.perf_counter()
        fit = px.fit_spectrum(spec, instrument=inst)
        pym = pymca_areas(fit) if args.pymca else None
        report(label, fit, pym)
        if args.chi2_bands:
            print(f"   chi2 by band (>= {CHI2_BAND_MIN_SHARE:.0%} of {fit.chi2:.4g}): "
                  + "; ".join(f"{a:.1f}-{b:.1f} keV {sh:.0%} ({m:.0f}/ch)" for a, b, sh, m in chi2_bands(fit)))
            print("   Kb windows, data/model and centroid shift: "
                  + "; ".join(f"{g} {r:.3f} {d:+.1f} eV" for g, (r, d) in kbeta_windows(fit).items()))
        if args.pymca_backgrounds:
            for bg, width in PYMCA_BACKGROUNDS:
                raw = pymca_areas(fit, bg, width)
                print(f"   PyMca {bg}{'' if width is None else f' {width} ch'}: "
                      + "  ".join(f"{g} {raw[g]:.0f} (pixlspec/PyMca {fit.areas[g] / raw[g]:.2f})"
                                  for g in ("Na", "Mg", "Al", "P") if g in raw and raw[g] > 0))
        print(f"   (wall {time.perf_counter() - t0:.1f} s)")


#: PyMca fit range (eV): the light elements and everything to the Rh K scatter.
PYMCA_RANGE_EV = (900.0, 25000.0)
#: PyMca gas names of the atmospheres (its attenuator "atmosphere" of the emerging path).
PYMCA_GAS = {"Mars": "C1O2", "He": "He1", "Air": "Air", "Vac": None}


#: PyMca background variants of ``--pymca-backgrounds``: its default strip, and SNIP with these widths
#: (channels: 10 eV on the breadboard glasses, 7.9 eV on the flight sums).
PYMCA_BACKGROUNDS = (("strip", None), ("snip", 10), ("snip", 20), ("snip", 30), ("snip", 50))


def pymca_areas(fit, background="strip", snip_width=None):
    """PyMca5 McaTheory areas (fitarea, no escape) on the same spectrum, elements and detector.

    Set-up of ``benchmarks/bench_single_fit.py`` (strip background or SNIP of ``snip_width`` channels, hypermet
    short tail + step,
    escape, pile-up, Rh K and L as Rayleigh groups, Compton of Rh Kα1), with this spectrum's
    range, detector, window and gas path. The light-element groups (Na-P) lie below the Si K edge
    and have no escape peaks, so PyMca's fitarea and pixlspec's area count the same photons.
    """
    import warnings

    import bench_single_fit as bsf
    from pixlspec.physics import detector as det_physics

    warnings.simplefilter("ignore")
    bsf.RANGE_EV = PYMCA_RANGE_EV
    spec = fit.spectrum
    k_groups = [g for g in fit.elements if "_" not in g]
    runner = bsf.PyMcaRunner(spec, k_groups, background, True)
    if snip_width is not None:
        runner.cfg["fit"]["snipwidth"] = int(snip_width)
    for g in fit.elements:
        if "_" in g:
            el, shell = g.split("_")
            runner.cfg["peaks"][el] = shell
    inst = fit.instrument
    gas = PYMCA_GAS.get(inst.atmosphere)
    rho = det_physics.gas_density_g_cm3(inst.atmosphere, inst.gas_pressure_Pa, inst.gas_temperature_K)
    runner.cfg["attenuators"]["atmosphere"] = ([1, gas, rho, inst.path_out_cm, 1.0] if gas and rho > 0
                                               else [0, "-", 0.0, 0.0, 1.0])
    runner.setup()
    _, _, digest = runner.fit()
    raw, _ = runner.areas(digest)
    return raw


if __name__ == "__main__":
    main()
