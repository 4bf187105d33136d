"""Regenerate every figure in docs/figures/ with pixlspec itself.

Run from anywhere (paths are relative to this file):

    python docs/make_figures.py

Figures whose inputs are absent (the real PIXL files live outside the
repository, in ``../shared/data/real/``) are skipped with a printed note.
The reduced chi-square of every fit is printed; docs/real-spectra.md quotes
these numbers.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))    # document this checkout's pixlspec, whatever is installed

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import pixlspec as px  # noqa: E402
from pixlspec.config import FitConfig  # noqa: E402
from pixlspec.simulate import basalt_areas, expected_counts  # noqa: E402

FIGURES = REPO / "docs" / "figures"
EXAMPLE_SCAN = REPO / "example_data" / "sol0125_naltsos.h5"
REAL = REPO / ".." / "shared" / "data" / "real"
FM_CONFIG = REAL / "pixl_fm_config" / "Config_PIXL_FM_SurfaceOps_Rev2_Sept2021.msa"
BREADBOARD = REAL / "breadboard_glasses"
BB_CONFIG = BREADBOARD / "Breadboard_Configuration_2019_01_14_2020.msa"
BHVO2G = BREADBOARD / "Calibration_box_BHVO-2G_28kV_230uA_03_28_2019_bulk_sum.msa"

DPI = 110
SEED = 2024


def save(fig, name: str) -> Path:
    """Write a figure at DPI with a tight bounding box (plot_fit's figure has wide margins)."""
    FIGURES.mkdir(parents=True, exist_ok=True)
    path = FIGURES / name
    fig.savefig(path, dpi=DPI, bbox_inches="tight", pad_inches=0.1)
    plt.close(fig)
    return path


def report(label: str, fit, path: Path, seconds: float) -> None:
    print(f"{label}: reduced chi-square {fit.chi2_reduced:.2f} ({fit.dof} dof), "
          f"FWHM at Mn Ka {fit.fwhm_MnKa_eV:.1f} eV, {seconds:.1f} s -> {path.relative_to(REPO)}")


def missing(*paths: Path) -> bool:
    absent = [p for p in paths if not p.exists()]
    for p in absent:
        print(f"skipped: {p.resolve()} is absent")
    return bool(absent)


def basalt_simulated() -> None:
    """(a) A simulated basalt spectrum (known truth) and its fit."""
    instrument = px.Instrument.pixl()
    areas = basalt_areas(1e6)                                # counts per line group, 1e6 in all
    truth = expected_counts(areas, instrument, live_time_s=10.0)
    sim = px.simulate_spectrum(areas, instrument, live_time_s=10.0, seed=SEED)
    elements = [k for k in areas if not k.startswith("Rh")]
    t0 = time.perf_counter()
    fit = px.fit_spectrum(sim, elements=elements)
    seconds = time.perf_counter() - t0
    fig = fit.plot()
    fig.axes[0].set_title(f"simulated basalt, 1e6 counts in peaks, 10 s, detector A (seed {SEED})", fontsize=10)
    report("simulated basalt", fit, save(fig, "basalt_simulated_fit.png"), seconds)
    print("  group      truth        fit      sigma   (fit-truth)/sigma")
    for k in ("Na", "Mg", "Si", "Ca", "Fe", "Ni", "Sr", "Zr"):
        t = truth["areas"][k]
        print(f"  {k:<5}{t:>11.0f}{fit.areas[k]:>11.0f}{fit.sigma[k]:>11.1f}{(fit.areas[k] - t) / fit.sigma[k]:>+10.2f}")


def naltsos_sum() -> None:
    """(b) Sum spectra of the sol-125 Mars scan, detectors A and B, flight-model configuration Rev2."""
    if missing(EXAMPLE_SCAN, FM_CONFIG):
        return
    instrument = px.Instrument.from_piquant_config(FM_CONFIG)
    with px.open_scan(EXAMPLE_SCAN, instrument=instrument) as scan:
        sums = {det: scan.sum_spectrum(det) for det in scan.detectors}
    for det, spec in sums.items():
        t0 = time.perf_counter()
        fit = px.fit_spectrum(spec)                          # ROCK_ELEMENTS, continuum background
        seconds = time.perf_counter() - t0
        fig = fit.plot()
        fig.axes[0].set_title(f"Naltsos, sol 125: sum of {scan.n_points} points, detector {det}, "
                              f"{spec.live_time_s:.0f} s live (config FM Rev2 Sept 2021)", fontsize=10)
        report(f"Naltsos sum, detector {det}", fit, save(fig, f"naltsos_sum_{det}.png"), seconds)


def bhvo2g() -> None:
    """(c) Breadboard bulk-sum spectrum of the BHVO-2G glass, breadboard configuration."""
    if missing(BB_CONFIG, BHVO2G):
        return
    instrument = px.Instrument.from_piquant_config(BB_CONFIG)
    spec = px.read_msa(BHVO2G, instrument=instrument)
    t0 = time.perf_counter()
    fit = px.fit_spectrum(spec)  # default settings: ROCK_ELEMENTS + the path gas (Ar), tied Kβ
    seconds = time.perf_counter() - t0
    fig = fit.plot()
    fig.axes[0].set_title(f"BHVO-2G glass, PIXL breadboard (He), bulk sum {spec.live_time_s:.0f} s live, "
                          "default settings", fontsize=10)
    report("BHVO-2G breadboard", fit, save(fig, "bhvo2g_breadboard.png"), seconds)


if __name__ == "__main__":
    basalt_simulated()
    naltsos_sum()
    bhvo2g()
