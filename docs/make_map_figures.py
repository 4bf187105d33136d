"""Element maps of the real Mars scan (sol 125, "Naltsos"): figures and numbers for docs/maps.md.

Run from the repository root: ``python docs/make_map_figures.py``. Writes
docs/figures/sol0125_<element>.png (Si, Fe, Ca, S, Cl profiles), an RGB
composite and the χ² profile, and prints the reduced χ² per point and the
fitted energy calibration against the file's.
"""
from __future__ import annotations

import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

import pixlspec as px  # noqa: E402
from pixlspec.plot_maps import plot_chi2  # noqa: E402

SCAN = os.path.join(ROOT, "example_data", "sol0125_naltsos.h5")
FIG = os.path.join(ROOT, "docs", "figures")
#: Lines used to check the energy calibration: (name, energy eV of the intensity-weighted K-alpha).
LINES = (("Si Ka", 1740.0), ("Ca Ka", 3690.0), ("Fe Ka", 6400.0), ("Fe Kb", 7058.0))


def centroid_channel(counts: np.ndarray, guess: float) -> float:
    lo = int(guess) - 12
    peak = lo + int(np.argmax(counts[lo:lo + 25]))
    w = np.arange(peak - 4, peak + 5)
    return float((w * counts[w]).sum() / counts[w].sum())


def main() -> None:
    os.makedirs(FIG, exist_ok=True)
    maps = px.fit_map(SCAN, instrument=px.Instrument.pixl())
    print(maps)
    for det, m in maps.per_detector.items():
        c = m.chi2_reduced_points
        print(f"detector {det}: reduced chi2 per point median {np.median(c):.3f}, 5-95 % "
              f"{np.percentile(c, 5):.3f}-{np.percentile(c, 95):.3f}, max {c.max():.3f}")
    c = maps.chi2_reduced_points
    print(f"A+B: median {np.median(c):.3f}, 5-95 % {np.percentile(c, 5):.3f}-{np.percentile(c, 95):.3f}")
    with px.open_scan(SCAN) as scan:
        for det in scan.detectors:
            fit = maps.sum_fit[det]
            p = fit.params
            off, gain, quad = scan.calibration[det]
            s = scan.sum_spectrum(det)
            print(f"detector {det}: sum-fit reduced chi2 {fit.chi2_reduced:.2f}; calibration file "
                  f"{off:+.2f} eV + {gain:.5f} eV/ch, fitted {p.offset_eV:+.2f} eV + {p.gain_eV_per_channel:.5f} eV/ch")
            for name, e in LINES:
                ch = centroid_channel(s.counts, (e - off) / gain)
                e_file = off + gain * ch + quad * ch * ch
                e_fit = p.offset_eV + p.gain_eV_per_channel * ch + p.quadratic_eV * ch * ch
                print(f"   {name:6s} peak at channel {ch:7.2f}: file calibration {e_file:7.1f} eV "
                      f"({e_file - e:+5.1f}), fitted {e_fit:7.1f} eV ({e_fit - e:+5.1f}); fitted - file "
                      f"{e_fit - e_file:+6.1f} eV")
            for ch in (200, 500, 800, 1500, 2500):
                d = (p.offset_eV + p.gain_eV_per_channel * ch) - (off + gain * ch)
                print(f"   channel {ch}: fitted - file = {d:+.1f} eV")
    for el in ("Si", "Fe", "Ca", "S", "Cl"):
        fig = maps.plot(el)
        fig.savefig(os.path.join(FIG, f"sol0125_{el}.png"), dpi=110)
    maps.plot_rgb(("Fe", "Ca", "S")).savefig(os.path.join(FIG, "sol0125_rgb_Fe_Ca_S.png"), dpi=110)
    plot_chi2(maps).savefig(os.path.join(FIG, "sol0125_chi2.png"), dpi=110)
    print("figures in", os.path.abspath(FIG))


if __name__ == "__main__":
    main()
