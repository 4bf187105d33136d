"""The demo's report: the truth checks of the simulated target and the Markdown/HTML report."""
from __future__ import annotations

import contextlib
import math
import os
import time
from pathlib import Path

import numpy as np

from .targets import MAJOR_FRACTION, PURE_FRACTION, SIM_SCAN, SIM_TRUTH, TRUTH_FAMILY, TRUTH_OXIDES, DemoTarget

__all__ = ["truth_check", "build_report", "display_path", "fmt_number", "Clock"]


def display_path(path: str) -> str:
    """``path`` relative to the working folder when inside it, else absolute."""
    rel = os.path.relpath(os.path.abspath(path))
    return rel if not rel.startswith("..") else os.path.abspath(path)


def fmt_number(v: float, nd: int = 2) -> str:
    """``v`` with ``nd`` decimals for the report, "–" when missing or not finite."""
    return "–" if v is None or not np.isfinite(v) else f"{v:.{nd}f}"


class Clock:
    """Seconds spent per named step (``with clock("fit_map"): ...``)."""
    def __init__(self):
        self.t: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, key: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.t[key] = self.t.get(key, 0.0) + time.perf_counter() - t0


def truth_check(t: DemoTarget) -> tuple[list[list[str]], list[list[str]]]:
    """Rows of the salt-recall table and of the composition-accuracy table for a simulated target."""
    tr = t.truth or {}
    pm = t.salts.phase_map
    salt_rows = []
    for phase, family in TRUTH_FAMILY.items():
        f = tr.get(f"fraction_{phase}")
        if f is None:
            continue
        major = f >= MAJOR_FRACTION
        flagged = pm.mask(family) | t.salts.mask(family)
        n = int(major.sum())
        rec = 100.0 * (flagged & major).sum() / n if n else math.nan
        salt_rows.append([phase, family, str(n), str(int(flagged.sum())), fmt_number(rec, 0) + " %" if n else "–"])
    base = tr.get("fraction_basalt")
    if base is not None:
        pure = base >= PURE_FRACTION
        any_salt = np.zeros(pm.n_points, bool)
        for family in set(TRUTH_FAMILY.values()):
            any_salt |= pm.mask(family)
        fp = 100.0 * (any_salt & pure).sum() / max(int(pure.sum()), 1)
        salt_rows.append(["basalt (pure)", "none", str(int(pure.sum())), str(int((any_salt & pure).sum())),
                          f"false positives {fp:.1f} %"])
    comp_rows = []
    cm = t.composition
    for phase, oxides in TRUTH_OXIDES.items():
        f = tr.get(f"fraction_{phase}")
        if f is None:
            continue
        pure = (f >= PURE_FRACTION) & cm.valid
        if not pure.any():
            continue
        for ox in oxides:
            true = tr.get(f"wt_{ox}")
            got = cm.point_oxide_wt.get(ox)
            if true is None or got is None:
                continue
            sel = pure & (true > 0.5)
            if not sel.any():
                continue
            rel = (got[sel] - true[sel]) / true[sel]
            comp_rows.append([phase, ox, str(int(sel.sum())), fmt_number(float(np.median(true[sel])), 2),
                              fmt_number(float(np.median(got[sel])), 2), f"{100 * float(np.median(rel)):+.1f} %",
                              f"{100 * float(np.std(rel)):.1f} %"])
        tot = cm.point_total[pure]
        ttrue = sum(v for k, v in tr.items() if k.startswith("wt_") and k not in ("wt_CO2", "wt_H2O"))
        if np.ndim(ttrue):
            comp_rows.append([phase, "total", str(int(pure.sum())), fmt_number(float(np.median(ttrue[pure])), 1),
                              fmt_number(float(np.nanmedian(tot)), 1), "", ""])
    return salt_rows, comp_rows


def _small(v: float) -> str:
    """wt% with 2 decimals, small values with 2 significant digits."""
    if v is None or not np.isfinite(v):
        return "–"
    return f"{v:.2f}" if v == 0 or abs(v) >= 0.01 else f"{v:.1g}"


def _bulk_rows(comp) -> tuple[list[list[str]], list[str]]:
    """Rows of the oxides at >= 0.01 wt%, and the names of the others."""
    rows, minor = [], []
    for ox, v in comp.oxide_wt.items():
        if not (v >= 0.01):
            minor.append(ox)
            continue
        rows.append([ox, _small(v), _small(comp.sigma.get(ox, math.nan)), _small(comp.lod.get(ox, math.nan)),
                     "" if comp.detected.get(ox, True) else "< LOD"])
    return rows, minor


def build_report(targets, ranking, timings, data: Path, shipped_sim: bool, calibration):
    """The demo's report (Markdown and HTML) from its targets, ranking and timings."""
    from .. import __version__
    from ..quant.quantify import MAP_DEFAULT_BALANCE
    from ..report import Report

    r = Report("pixlspec demo: from spectra to sample candidates")
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime())
    r.paragraph(f"Made by `pixlspec demo` (pixlspec {__version__}) on {when} in {timings['total']:.0f} s. "
                "Two targets go the whole way: the spectra of every point are fitted, the line-group areas "
                "are turned into oxide wt%, every point is classified, salts are found and grouped in space, "
                "and the two targets are ranked as sample candidates. Every number below is in the files "
                "listed at the end.")
    r.table(["target", "data", "points", "grid", "detectors", "median χ²ᵣ of the point fits"],
            [[t.name, "real PIXL flight data" if t.kind == "real" else
              ("simulated with known truth" + (" (shipped)" if shipped_sim else " (made for this run)")),
              str(t.maps.n_points), f"{t.maps.grid.kind} {t.maps.shape[0]}×{t.maps.shape[1]}", t.maps.detector,
              fmt_number(t.maps.median_chi2_reduced)] for t in targets], align="llrllr")
    if calibration is None:
        r.note("The real scan is quantified with the fundamental-parameter model on PIQUANT's absolute "
               "conventions (flight-model configuration, optic 8) and PIXL's flight ECF table, when they are "
               "shipped in the example data; otherwise uncalibrated, as a first estimate whose total is a "
               "diagnostic. The simulated scan was made with the same instrument constants, so its absolute "
               "numbers are right uncalibrated; "
               f"it is quantified with an invisible {MAP_DEFAULT_BALANCE} balance (the mass PIXL cannot see — CO2 of "
               "carbonates, H2O of hydrated salts — fills the total up to 100 % in the matrix correction).")

    for i, t in enumerate(targets, start=1):
        r.heading(f"{i}. {t.name}")
        m = t.maps
        sf = m.sum_fit.get("A") or next(iter(m.sum_fit.values()))
        if t.kind == "real":
            r.paragraph(f"`{display_path(t.path)}`: {m.n_points} points along a "
                        f"{np.ptp(m.grid.x):.1f} mm line, both detectors, ~14 s live per point. "
                        "Composition unknown (no reference values).")
        else:
            src = (f"`{display_path(t.path)}`" if not t.generated
                   else f"`{SIM_SCAN}` (made by `pixlspec.simulate.scenes` for this run, truth in `{SIM_TRUTH}`)")
            r.paragraph(f"{src}: {m.n_points} points on a {m.shape[0]}×{m.shape[1]} raster 0.125 mm apart — "
                        "a basalt crossed by a Ca-sulfate (gypsum) vein, with halite grains and a Mg–Fe carbonate "
                        "patch. Spectra from the fundamental-parameter model with Poisson noise.")
        r.heading("Sum spectrum", 3)
        p = getattr(sf, "params", None)
        cal = (f"; fitted calibration {p.offset_eV:.2f} eV + {p.gain_eV_per_channel:.5f} eV/channel"
               if p is not None and hasattr(p, "offset_eV") else "")
        r.paragraph(f"Sum of the {m.n_points} spectra of detector {sf.spectrum.detector} "
                    f"({sf.spectrum.live_time_s:.0f} s live): reduced χ² {sf.chi2_reduced:.2f}{cal}. "
                    "Its fitted peak shapes and calibration are then fixed for the per-point fits.")
        r.figure(t.files["sum fit"], f"{t.name}: the sum spectrum (grey), model (red), background (dashed) and "
                                     "the largest components; normalised residual below.")
        if t.diffraction is not None:
            d = t.diffraction
            top = d.strongest()
            r.heading("Diffraction peaks", 3)
            r.paragraph(f"{len(d)} peaks seen by one detector and not the other (≥ {d.threshold_sigma:g}σ of the "
                        f"A−B difference), in {np.unique(d.peaks['point']).size} of {d.n_points} points"
                        + (f"; the strongest: point {int(top['point'])}, detector {top['detector']}, "
                           f"{top['energy_keV']:.3f} keV, {top['area']:.0f} counts ({top['significance']:.0f}σ)"
                           if top is not None else "")
                        + ". `fit_map(scan, diffraction=\"exclude\")` leaves them out of the element fits.")
            r.figure(t.files["diffraction peaks"], f"{t.name}: diffraction counts per point (left) and the "
                                                  "spectra of the strongest peak in both detectors with their "
                                                  "difference (right).")
        r.heading("Bulk composition (sum spectrum)", 3)
        for n in t.notes:
            if "sum spectrum's analytical total" in n or "flight ECF table" in n:
                r.note(n)
        b = t.bulk
        rows, minor = _bulk_rows(b)
        r.table(["oxide", "wt%", "1σ", "LOD (3σ)", ""], rows, align="lrrrl",
                caption=f"Analytical total {b.total:.1f} wt%"
                        + (f", invisible balance {b.balance} {b.balance_wt:.1f} wt%" if b.balance else "")
                        + (" (oxides normalised to 100 %)" if b.normalised else "")
                        + f"; {'calibrated' if b.calibrated else 'uncalibrated FP'}; detector {b.detector}; "
                          "Fe as FeO (total iron)."
                        + (f" Below 0.01 wt%: {', '.join(minor)}." if minor else ""))
        r.heading("Element maps", 3)
        r.paragraph(f"Every point fitted linearly with the sum spectrum's shapes (detectors {m.detector} summed); "
                    f"median reduced χ² {m.median_chi2_reduced:.2f}.")
        r.figure(t.files["element maps"], f"{t.name}: counts per live second of the main element groups"
                 + (" along the scan line (1σ error bars)." if m.grid.kind == "line" else "."))
        if "maps on context image" in t.files:
            r.figure(t.files["maps on context image"], f"{t.name}: the same maps drawn at each point's place on "
                     "the rock, over the image PIXL's Micro Context Camera took at the start of the scan "
                     "(point positions from the RXL product; scale bar in mm).")
        if "RGB composite" in t.files:
            r.figure(t.files["RGB composite"], f"{t.name}: {' / '.join(t.rgb)} as red / green / blue, each "
                                               "stretched between its 1st and 99th percentile.")
        r.heading("Phases and salts", 3)
        for n in t.notes:
            if "normalised to 100 % per point" in n:
                r.note(n)
        pm = t.salts.phase_map
        counts = pm.counts()
        r.paragraph("Points per phase: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + ".")
        if t.salts:
            rows = []
            for k, d in enumerate(t.salts, start=1):
                main = ", ".join(f"{ox} {v:.1f}" for ox, v in sorted(d.mean_composition.items(),
                                                                       key=lambda kv: -kv[1])
                                 if ox != "total" and v >= 5.0)
                rows.append([str(k), d.phase, d.endmember or "?", str(d.n_points), f"{d.area_mm2:.3f}",
                             f"({d.centroid_mm[0]:.2f}, {d.centroid_mm[1]:.2f})", f"{d.confidence:.2f}", main])
            r.table(["#", "salt", "end-member", "points", "area mm²", "centroid mm", "confidence",
                     "mean oxides ≥ 5 wt%"], rows, align="rllrrlrl")
            d0 = max(t.salts, key=lambda d: (d.n_points * d.confidence, d.confidence))
            k0 = list(t.salts).index(d0) + 1
            r.paragraph(f"Evidence behind detection {k0} ({d0.phase}, {d0.endmember}): {d0.evidence}")
        else:
            r.paragraph("No salt detected.")
        for fam, why in t.salts.not_evaluated.items():
            r.paragraph(f"*{fam}*: not evaluated — {why}.")
        r.figure(t.files["phase map"], f"{t.name}: phase of every point; numbers mark the salt detections "
                                       "of the table.")
        if t.kind == "simulated" and t.truth:
            salt_rows, comp_rows = truth_check(t)
            r.heading("Against the truth", 3)
            if salt_rows:
                r.table(["true phase", "found as", "points ≥ 50 % of it", "points flagged", "recall"], salt_rows,
                        align="llrrl")
            if comp_rows:
                r.table(["phase (pure points)", "oxide", "points", "true wt%", "found wt%", "median error",
                         "spread"], comp_rows, align="llrrrrr",
                        caption="Per-point quantification of the pure points against the simulated composition "
                                "(Fe as FeO; totals without the invisible CO2 and H2O).")
            if "CaO–SO3 correlation" in t.files:
                r.figure(t.files["CaO–SO3 correlation"], "CaO against SO3 per point, coloured by phase, with "
                         "mixing lines from the host basalt to gypsum, bassanite and anhydrite.")

    r.heading("Sample candidates")
    r.paragraph("Score = weighted mean of the sub-scores; the reasons are those of "
                "`pixlspec.rank_sample_candidates`. Diversity compares each target with the ones ranked above.")
    r.table(["rank", "target", "score"] + [k.replace("_", " ") for k in ranking[0].subscores],
            [[str(c.rank), c.name, f"{c.score:.3f}"] + [f"{v:.2f}" for v in c.subscores.values()] for c in ranking],
            align="rlr" + "r" * len(ranking[0].subscores))
    for c in ranking:
        r.paragraph(f"**#{c.rank} {c.name}**")
        r.bullets(c.reasons)
    r.figure("figures/candidates.png", "Sub-scores of the two targets.")

    r.heading("Files")
    rows = []
    for t in targets:
        for role, rel in t.files.items():
            rows.append([f"`{rel}`", f"{t.name}: {role}"])
    rows += [["`candidates.json`", "the ranking with sub-scores, weights and reasons"],
             ["`report.md`, `report.html`", "this report (the HTML has the figures embedded)"]]
    r.table(["file", "what"], rows)
    r.paragraph("Results files are HDF5 (NeXus): element maps in `/entry/maps` (counts per second on the grid), "
                "per-point areas and 1σ in `/entry/results`, the composition in `/entry/composition` "
                "(oxide wt%, 1σ, LOD, total per point); `pixlspec info`, `h5ls -r` or h5web open them.")

    r.heading("Do the same on your data")
    r.code("pixlspec info SCAN.h5                       # what the file holds\n"
           "pixlspec fit SCAN.h5 --out fit/             # sum spectrum fit\n"
           "pixlspec quant SCAN.h5                      # oxide wt% of the sum spectrum\n"
           "pixlspec map SCAN.h5 --out maps/ --rgb Fe,Ca,S\n"
           "pixlspec salts maps/SCAN_maps.h5 --out salts/\n"
           "pixlspec rank A.h5 B.h5 --weights diversity=0", "bash")
    r.heading("Time spent")
    keys = [("simulate", "simulating the scan"), ("fit_map", "sum fits + per-point fits (fit_map)"),
            ("quantify_map", "per-point quantification (quantify_map)"),
            ("quantify_sum", "sum-spectrum quantification"),
            ("salts", "classification and salts"), ("rank", "ranking"), ("files", "results files"),
            ("figures", "figures")]
    r.table(["step", "seconds"], [[label, f"{timings[k]:.1f}"] for k, label in keys if k in timings]
            + [["total (before writing this report)", f"{timings['total']:.1f}"]], align="lr")
    return r
