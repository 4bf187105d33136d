"""Diffraction peaks of the real flight scan: the figure and the numbers of docs/diffraction.md.

    python docs/make_diffraction.py      # writes docs/figures/diffraction_sol0125.png, prints the tables
"""
import os

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402

import pixlspec as px  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
scan = px.read_scan(os.path.join(HERE, "..", "example_data", "sol0125_naltsos.h5")).load()
peaks = px.find_diffraction_peaks(scan)
print(peaks.report(max_rows=25))
peaks.plot(scan).savefig(os.path.join(HERE, "figures", "diffraction_sol0125.png"), dpi=110)

plain = px.fit_map(scan)
masked = px.fit_map(scan, diffraction="exclude")
print("\n| element | points with the line masked | rms A−B pull, all points: unmasked → masked "
      "| rms A−B pull, those points: unmasked → masked |")
print("|---|---:|---|---|")


def pull(m, el):
    a, b = m.per_detector["A"], m.per_detector["B"]
    ra, rb = a.point_areas[el] / a.live_time_s, b.point_areas[el] / b.live_time_s
    k = np.nanmedian(ra / rb)  # the detectors' response ratio for this line, from the scan
    s = np.hypot(a.point_sigma[el] / a.live_time_s, k * b.point_sigma[el] / b.live_time_s)
    return (ra - k * rb) / s


def rms(x):
    return float(np.sqrt(np.nanmean(x ** 2))) if np.isfinite(x).any() else float("nan")


for el in ("Si", "K", "Ca", "Ti", "Cr", "Mn", "Fe"):
    fl = masked.point_flags.get(f"masked: {el}", np.zeros(scan.n_points, bool))
    p0, p1 = pull(plain, el), pull(masked, el)
    print(f"| {el} | {int(fl.sum())} | {rms(p0):.1f} → {rms(p1):.1f} | "
          + (f"{rms(p0[fl]):.1f} → {rms(p1[fl]):.1f} |" if fl.any() else "– |"))
