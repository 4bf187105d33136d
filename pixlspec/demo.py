"""``pixlspec demo``: the whole path on the shipped example data, with a report.

Two targets:

* **Naltsos** (sol 125): the real Mars scan ``example_data/sol0125_naltsos.h5``
  (121 points along a 30 mm line);
* **simulated salts**: a basalt with a Ca-sulfate vein, halite grains and a
  Mg–Fe carbonate patch, with the truth at every point —
  ``example_data/simulated_salts.h5`` when it is shipped, else made here with
  :func:`pixlspec.simulate.scenes.make_scan` (``sim_shape`` points) and
  written beside the results.

For each: fit the sum spectra and every point (:func:`pixlspec.fit_map`),
quantify the sum spectrum and every point (:mod:`pixlspec.quant`), classify the
points and find salts (:func:`pixlspec.identify_salts`); then rank the two
targets as sample candidates (:func:`pixlspec.rank_sample_candidates`). The
output folder gets a results HDF5 file per target (element maps and
composition), the salt detections and the ranking as JSON, PNG figures and a
short report (``report.md``, ``report.html`` with the figures embedded).

Everything is written into a temporary folder beside the output folder and
moved into place at the end, so a failure leaves no partial output.

From Python::

    from pixlspec.demo import run_demo
    result = run_demo("pixlspec-demo", sim_shape=(16, 16))
    print(result.summary())
"""
from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import PixlspecError
from .io.jsontext import strict_json

__all__ = ["run_demo", "DemoResult", "DemoTarget", "find_example_data", "REAL_SCAN", "SIM_SCAN", "SIM_TRUTH",
           "DEFAULT_OUT", "DEFAULT_SIM_SHAPE"]

#: The shipped real scan, the shipped simulated scan and its truth (file names in example_data/).
REAL_SCAN = "sol0125_naltsos.h5"
#: Folder (in example_data/) of the real scan's MCC context image and its point → pixel table.
REAL_CONTEXT = "sol0125_context"
#: The flight model's PIQUANT configuration (Rev2, Sept 2021, optic 8) and its ECF table (detector B,
#: Jul 2021), copied unchanged from pixlise/piquant (example_data/README.md): the real scan is fitted
#: and quantified with them.
FLIGHT_CONFIG = "pixl_fm_config/Config_PIXL_FM_SurfaceOps_Rev2_Sept2021.msa"
FLIGHT_CALIBRATION = "pixl_fm_config/Calibration_PIXL_FM_SurfaceOps_5minECFs_Rev1_Jul2021.csv"
SIM_SCAN = "simulated_salts.h5"
SIM_TRUTH = "simulated_salts_truth.csv"
#: Default output folder of ``pixlspec demo``.
DEFAULT_OUT = "pixlspec-demo"
#: Size (ny, nx) of the simulated scan made when none is shipped (576 points, ~3 s to simulate).
DEFAULT_SIM_SHAPE = (24, 24)
#: Seed of the simulated scan made when none is shipped (the same as the scene's default).
DEFAULT_SIM_SEED = 125
#: Resolution of every figure written.
FIG_DPI = 110
#: Element panels drawn per target (those present in the maps, in this order).
PANEL_ELEMENTS = ("Si", "Fe", "Ca", "S", "Cl", "Mg")
#: Truth phase of the simulated scan → salt family that should find it.
TRUTH_FAMILY = {"Ca-sulfate": "Ca-sulfate", "halite": "chloride", "carbonate": "carbonate"}
#: Oxides compared with the truth per simulated phase (pure points).
TRUTH_OXIDES = {"basalt": ("SiO2", "FeO", "CaO", "MgO"), "Ca-sulfate": ("CaO", "SO3"),
                "halite": ("Na2O", "Cl"), "carbonate": ("MgO", "FeO")}
#: A point is "pure" for the truth comparison at this phase fraction, "mostly" at the second.
PURE_FRACTION, MAJOR_FRACTION = 0.99, 0.5

Progress = Callable[[str, int, int], None]


# =========================================================================================
# results
# =========================================================================================
@dataclass
class DemoTarget:
    """One target of the demo and everything computed on it.

    Attributes
    ----------
    name : str
        Display name ("Naltsos (sol 125)").
    key : str
        File-name stem of its outputs ("naltsos").
    path : str
        The scan file read.
    kind : {"real", "simulated"}
    maps : ElementMaps
    bulk : Composition
        Quantification of the sum spectrum of detector A.
    composition : CompositionMap
        Quantification of every point (as computed, not normalised).
    salts : SaltDetections
    normalised_for_minerals : bool
        True when the minerals saw oxides normalised to 100 % (uncalibrated
        totals out of range); the note says why.
    truth : dict or None
        Simulated scan: ``fraction_<phase>`` and ``wt_<oxide>`` per point.
    notes : list of str
    files : dict of str to str
        Role → path relative to the output folder.
    context_dir : str
        Folder of the scan's MCC context image (``RCM/`` and ``RXL/``), if shipped.
    instrument : Instrument or None
        Instrument the scan is fitted and quantified with (None: the scan's own).
    calibration : Calibration or None
        Calibration of its quantification (None: uncalibrated).
    """

    name: str
    key: str
    path: str
    kind: str
    rgb: tuple[str, str, str]
    maps: Any = None
    bulk: Any = None
    composition: Any = None
    instrument: Any = None
    calibration: Any = None
    salts: Any = None
    normalised_for_minerals: bool = False
    truth: dict | None = None
    notes: list = field(default_factory=list)
    files: dict = field(default_factory=dict)
    generated: bool = False
    balance: str | None = None
    context_dir: str = ""
    diffraction: Any = None


@dataclass
class DemoResult:
    """What :func:`run_demo` did: the targets, the ranking, the files and the time spent."""

    out_dir: str
    targets: list[DemoTarget]
    ranking: Any
    timings: dict[str, float]
    files: list[str]
    report_md: str
    report_html: str

    def summary(self) -> str:
        lines = [f"pixlspec demo: {len(self.targets)} targets in {self.timings.get('total', math.nan):.1f} s "
                 f"-> {self.out_dir}"]
        for t in self.targets:
            found = ", ".join(f"{len(v)} {k}" for k, v in t.salts.by_phase().items()) or "no salts"
            lines.append(f"  {t.name}: {t.maps.n_points} points, {found}")
        for c in self.ranking:
            lines.append(f"  #{c.rank} {c.name}: score {c.score:.2f}")
        lines.append(f"  report: {self.report_html}")
        return "\n".join(lines)


# =========================================================================================
# inputs
# =========================================================================================
def find_example_data(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding the example scans.

    ``data_dir`` if given; else the example data installed with the package
    (``pixlspec/example_data`` of a wheel install), else the ``example_data``
    folder of the source tree the package runs from (a checkout or an editable
    install). The current directory plays no part, so the demo runs the same
    from anywhere.

    Raises
    ------
    PixlspecError
        No folder with ``sol0125_naltsos.h5`` was found.
    """
    if data_dir is not None:
        p = Path(data_dir)
        if not p.is_dir():
            raise PixlspecError("no such folder (give the folder that holds the example scans)", path=p)
        if not (p / REAL_SCAN).is_file():
            raise PixlspecError(f"{REAL_SCAN} is not in this folder", path=p)
        return p
    package = Path(__file__).resolve().parent
    for p in (package / "example_data", package.parent / "example_data"):
        if (p / REAL_SCAN).is_file():
            return p
    raise PixlspecError(f"example data ({REAL_SCAN}) is not installed with this copy of pixlspec "
                        f"(looked in {package / 'example_data'} and {package.parent / 'example_data'}): "
                        "reinstall it, or give the folder with --data DIR")


def _read_truth_csv(path: Path) -> dict[str, np.ndarray]:
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out: dict[str, np.ndarray] = {}
    if not rows:
        return out
    for key in rows[0]:
        if key in ("point", "x_mm", "y_mm"):
            continue
        vals = [r[key] for r in rows]
        if key == "phase":
            out["phase"] = np.asarray(vals)
            continue
        name = f"fraction_{key[2:]}" if key.startswith("f_") else f"wt_{key}"
        out[name] = np.asarray([float(v) if v not in ("", None) else np.nan for v in vals])
    return out


def _truth_of(scan, truth_csv: Path | None) -> dict[str, np.ndarray] | None:
    """Per-point truth of a simulated scan: from its point metadata, else from the truth CSV."""
    pm = getattr(scan, "point_metadata", {}) or {}
    out = {}
    for k, v in pm.items():
        if k.startswith("truth_fraction_"):
            out["fraction_" + k[len("truth_fraction_"):]] = np.asarray(v, dtype=float)
        elif k.startswith("truth_wt_"):
            out["wt_" + k[len("truth_wt_"):]] = np.asarray(v, dtype=float)
    if not any(k.startswith("fraction_") for k in out) and truth_csv is not None and truth_csv.is_file():
        out = _read_truth_csv(truth_csv)
    return out or None


# =========================================================================================
# figures
# =========================================================================================
def _save(fig, path: str) -> None:
    import matplotlib.pyplot as plt

    try:
        fig.savefig(path, dpi=FIG_DPI, bbox_inches="tight", format="png")
    finally:
        plt.close(fig)


def _element_panel(maps, elements: Sequence[str], title: str):
    """Several element maps side by side (raster) or stacked profiles (line scan)."""
    from .plot import pyplot

    plt = pyplot()
    els = list(elements)
    if maps.grid.kind in ("line", "point"):
        fig, axes = plt.subplots(len(els), 1, figsize=(8.5, 1.75 * len(els) + 0.6), sharex=True,
                                 layout="constrained")
        axes = np.atleast_1d(axes)
        for ax, el in zip(axes, els):
            maps.plot(el, ax=ax, title="")
            ax.set_title("")
            ax.set_ylabel(f"{el} (cts/s)")
            if ax.get_legend() is not None:
                ax.get_legend().remove()
            if ax is not axes[-1]:
                ax.set_xlabel("")
        fig.suptitle(title, fontsize=11)
        return fig
    ncol = 3 if len(els) > 4 else 2
    nrow = int(math.ceil(len(els) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.3 * ncol, 3.7 * nrow), layout="constrained")
    axes = np.atleast_1d(axes).ravel()
    for ax, el in zip(axes, els):
        maps.plot(el, ax=ax, title=f"{el} (counts/s)")
    for ax in axes[len(els):]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=11)
    return fig


def _candidates_figure(ranking):
    from .plot import pyplot

    plt = pyplot()
    subs = list(ranking[0].subscores)
    n = len(ranking)
    fig, ax = plt.subplots(figsize=(8.0, 0.9 + 0.55 * len(subs) * max(n, 1) / 1.6), layout="constrained")
    height = 0.8 / max(n, 1)
    y = np.arange(len(subs))
    for i, c in enumerate(ranking):
        vals = [c.subscores[k] for k in subs]
        yy = y + (i - (n - 1) / 2) * height
        ax.barh(yy, vals, height=height * 0.95, color=f"C{i}", label=f"#{c.rank} {c.name} (score {c.score:.2f})")
        for yv, v in zip(yy, vals):
            ax.text(v + 0.01, yv, f"{v:.2f}", va="center", ha="left", fontsize=8)
    ax.set_yticks(y, [f"{k.replace('_', ' ')} (w {ranking[0].weights[k]:.2f})" for k in subs])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("sub-score (0–1)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=min(n, 2), fontsize=9, frameon=False)
    ax.set_title("Sample candidates: sub-scores (score = weighted mean)", fontsize=10)
    return fig


# =========================================================================================
# the pipeline
# =========================================================================================
def _display_path(path: str) -> str:
    """``path`` relative to the working folder when inside it, else absolute."""
    rel = os.path.relpath(os.path.abspath(path))
    return rel if not rel.startswith("..") else os.path.abspath(path)


def _fmt(v: float, nd: int = 2) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{v:.{nd}f}"


class _Clock:
    def __init__(self):
        self.t: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, key: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.t[key] = self.t.get(key, 0.0) + time.perf_counter() - t0


def _truth_check(t: DemoTarget) -> tuple[list[list[str]], list[list[str]]]:
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
        salt_rows.append([phase, family, str(n), str(int(flagged.sum())), _fmt(rec, 0) + " %" if n else "–"])
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
            comp_rows.append([phase, ox, str(int(sel.sum())), _fmt(float(np.median(true[sel])), 2),
                              _fmt(float(np.median(got[sel])), 2), f"{100 * float(np.median(rel)):+.1f} %",
                              f"{100 * float(np.std(rel)):.1f} %"])
        tot = cm.point_total[pure]
        ttrue = sum(v for k, v in tr.items() if k.startswith("wt_") and k not in ("wt_CO2", "wt_H2O"))
        if np.ndim(ttrue):
            comp_rows.append([phase, "total", str(int(pure.sum())), _fmt(float(np.median(ttrue[pure])), 1),
                              _fmt(float(np.nanmedian(tot)), 1), "", ""])
    return salt_rows, comp_rows


def run_demo(out_dir: str | os.PathLike = DEFAULT_OUT, *, data_dir: str | os.PathLike | None = None,
             sim_shape: tuple[int, int] = DEFAULT_SIM_SHAPE, seed: int = DEFAULT_SIM_SEED, calibration=None,
             use_shipped_simulation: bool = True, progress: Progress | None = None) -> DemoResult:
    """Run the demo: fit, map, quantify, classify, find salts, rank; write results, figures and a report.

    Parameters
    ----------
    out_dir : str or path
        Output folder (created; files of the same names are replaced).
    data_dir : str or path, optional
        Folder with ``sol0125_naltsos.h5`` (and optionally ``simulated_salts.h5``);
        default: the example data installed with the package (see :func:`find_example_data`).
    sim_shape : (int, int)
        Size of the simulated scan made when none is shipped (or when
        ``use_shipped_simulation`` is False).
    seed : int
        Seed of that simulated scan.
    calibration : Calibration or str, optional
        Element calibration factors for the quantification (a
        :class:`pixlspec.quant.calibration.Calibration` or its JSON file).
    use_shipped_simulation : bool
        Use ``simulated_salts.h5`` from the data folder when present.
    progress : callable, optional
        ``progress(description, step, n_steps)`` before each step.

    Returns
    -------
    DemoResult
    """
    from .io.convert import read_scan
    from .io.hdf5 import write_scan

    t_start = time.perf_counter()
    out_dir = os.fspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise PixlspecError("exists and is not a folder", path=out_dir)
    ny, nx = (int(v) for v in sim_shape)
    if ny < 4 or nx < 4:
        raise PixlspecError(f"the simulated scan needs at least 4x4 points, got {ny}x{nx}", where="sim_shape")
    data = find_example_data(data_dir)
    if isinstance(calibration, (str, os.PathLike)):
        from .quant.calibration import Calibration

        calibration = Calibration.load(calibration)

    sim_path = data / SIM_SCAN
    shipped_sim = use_shipped_simulation and sim_path.is_file()
    targets = [DemoTarget("Naltsos (sol 125, Mars)", "naltsos", str(data / REAL_SCAN), "real", ("Fe", "Ca", "S")),
               DemoTarget("Simulated salts", "simulated_salts", str(sim_path) if shipped_sim else "", "simulated",
                          ("S", "Cl", "Mg"), generated=not shipped_sim)]
    if (data / REAL_CONTEXT).is_dir():
        targets[0].context_dir = str(data / REAL_CONTEXT)
    for t in targets:
        t.calibration = calibration
    if calibration is None and (data / FLIGHT_CONFIG).is_file() and (data / FLIGHT_CALIBRATION).is_file():
        from .instrument import Instrument
        from .quant.piquant_calibration import read_piquant_calibration

        targets[0].instrument = Instrument.from_piquant_config(data / FLIGHT_CONFIG)
        targets[0].calibration = read_piquant_calibration(data / FLIGHT_CALIBRATION, targets[0].instrument)
    n_steps = 2 + 5 * len(targets) + (0 if shipped_sim else 1)
    step = [0]

    def say(desc: str) -> None:
        if progress is not None:
            progress(desc, step[0], n_steps)
        step[0] += 1

    clock = _Clock()
    from .report import staged_dir

    with staged_dir(out_dir) as tmp:
        figdir = os.path.join(tmp, "figures")
        os.makedirs(figdir)
        if not shipped_sim:
            say(f"simulating a {ny}x{nx} scan with known truth")
            with clock("simulate"):
                from .simulate.scenes import make_scan, write_truth_csv

                scan, truth = make_scan(ny, nx, seed=seed)
                rel = SIM_SCAN
                write_scan(scan, os.path.join(tmp, rel), provenance={
                    "generator": "pixlspec.simulate.scenes.make_scan (pixlspec demo)",
                    "arguments": {"ny": ny, "nx": nx, "seed": seed}})
                write_truth_csv(os.path.join(tmp, SIM_TRUTH), scan, truth)
                targets[1].path = os.path.join(tmp, rel)
                targets[1].files["simulated scan"] = rel
                targets[1].files["simulated truth"] = SIM_TRUTH
                scan.close() if hasattr(scan, "close") else None

        from .fit.maps import fit_map
        from .pipeline import quantify_maps, salts_of
        from .quant.quantify import TOTAL_RANGE_WT, quantify

        for t in targets:
            say(f"{t.name}: fitting the sum spectra and every point")
            scan = read_scan(t.path)
            try:
                if t.kind == "simulated":
                    truth_csv = data / SIM_TRUTH if shipped_sim else Path(tmp) / SIM_TRUTH
                    t.truth = _truth_of(scan, truth_csv)
                with clock("fit_map"):
                    t.maps = fit_map(scan, instrument=t.instrument)
                if t.kind == "real" and len(scan.detectors) >= 2:
                    say(f"{t.name}: diffraction peaks (A vs B)")
                    with clock("diffraction"):
                        from .fit.diffraction import find_diffraction_peaks

                        t.diffraction = find_diffraction_peaks(scan)
                        rel = f"figures/{t.key}_diffraction.png"
                        _save(t.diffraction.plot(scan), os.path.join(tmp, rel))
                        t.files["diffraction peaks"] = rel
            finally:
                scan.close()
            t.maps.source = t.path if not t.generated else SIM_SCAN
            say(f"{t.name}: quantifying the sum spectrum and every point")
            # the invisible balance as every front end chooses it (pixlspec.pipeline.quantify_maps): CO2
            # where absolute intensities can be trusted (a calibration, or plausible uncalibrated totals)
            cal = t.calibration
            with clock("quantify_map"):
                t.composition = quantify_maps(t.maps, instrument=t.instrument, calibration=cal)
            t.balance = t.composition.balance
            with clock("quantify_sum"):
                sum_fit = t.maps.sum_fit.get("A") or next(iter(t.maps.sum_fit.values()))
                t.bulk = quantify(sum_fit, t.instrument, calibration=cal, balance=t.balance)
                lo, hi = TOTAL_RANGE_WT
                if cal is None and not (lo <= t.bulk.total <= hi):
                    total = t.bulk.total
                    t.bulk = quantify(sum_fit, t.instrument, calibration=cal, balance=t.balance, normalise=True)
                    t.notes.append(f"The sum spectrum's analytical total is {total:.1f} wt% without a "
                                   "calibration, so its oxides are shown normalised to 100 %.")
            if cal is not None and cal is not calibration:
                t.notes.append(f"Fitted with the flight-model configuration `{Path(FLIGHT_CONFIG).name}` and "
                               f"quantified with PIXL's flight ECF table `{Path(FLIGHT_CALIBRATION).name}` "
                               "(PIQUANT's calibration of detector B, applied to both detectors; "
                               "docs/accuracy.md gives its figures on this scan).")
            say(f"{t.name}: classifying points and finding salts")
            with clock("salts"):
                # as 'pixlspec salts' classifies (pixlspec.pipeline.salts_of): the same detections
                t.salts, _, note = salts_of(t.composition, name=t.name)
                if note:
                    t.normalised_for_minerals = True
                    t.notes.append(note[0].upper() + note[1:] + ".")
            say(f"{t.name}: writing the results file")
            with clock("files"):
                res = f"{t.key}_results.h5"
                t.maps.to_hdf5(os.path.join(tmp, res), provenance={"made_by": "pixlspec demo"})
                t.composition.to_hdf5(os.path.join(tmp, res))
                t.files["results (maps + composition)"] = res
                sj = f"{t.key}_salts.json"
                from .io.atomic import atomic_write_text

                atomic_write_text(os.path.join(tmp, sj), strict_json(t.salts.to_dict()) + "\n")
                t.files["salt detections"] = sj
            say(f"{t.name}: drawing the figures")
            with clock("figures"):
                _target_figures(t, figdir)

        say("ranking the targets as sample candidates")
        from .minerals.candidates import rank_sample_candidates

        with clock("rank"):
            ranking = rank_sample_candidates({t.name: t.salts for t in targets})
            from .io.atomic import atomic_write_text

            atomic_write_text(os.path.join(tmp, "candidates.json"), strict_json(ranking.to_dict()) + "\n")
        with clock("figures"):
            _save(_candidates_figure(ranking), os.path.join(figdir, "candidates.png"))

        say("writing the report")
        timings = dict(clock.t)
        timings["total"] = time.perf_counter() - t_start
        with clock("report"):
            report = _build_report(targets, ranking, timings, data, shipped_sim, calibration)
            report.write(tmp)
        timings["report"] = clock.t["report"]
        timings["total"] = time.perf_counter() - t_start

        files = sorted(os.path.relpath(os.path.join(root, nm), tmp)
                       for root, _, names in os.walk(tmp) for nm in names)
    for t in targets:
        if t.generated:
            t.path = os.path.join(out_dir, SIM_SCAN)
    return DemoResult(out_dir=out_dir, targets=targets, ranking=ranking, timings=timings, files=files,
                      report_md=os.path.join(out_dir, "report.md"), report_html=os.path.join(out_dir, "report.html"))


def _target_figures(t: DemoTarget, figdir: str) -> None:
    import warnings

    from .plot_minerals import plot_correlation, plot_phase_map

    m = t.maps
    rel = f"figures/{t.key}_sum_fit.png"
    sum_fit = m.sum_fit.get("A") or next(iter(m.sum_fit.values()))
    fig = sum_fit.plot()
    fig.axes[0].set_title(f"{t.name}: sum of {m.n_points} spectra, detector {sum_fit.spectrum.detector} "
                          f"(χ²ᵣ {sum_fit.chi2_reduced:.2f})", fontsize=10)
    _save(fig, os.path.join(figdir, os.path.basename(rel)))
    t.files["sum fit"] = rel

    els = [e for e in PANEL_ELEMENTS if e in m.point_areas]
    rel = f"figures/{t.key}_elements.png"
    _save(_element_panel(m, els, f"{t.name}: element maps (detectors {m.detector})"),
          os.path.join(figdir, os.path.basename(rel)))
    t.files["element maps"] = rel

    if t.context_dir:
        from .io.context import read_context_image
        from .plot_maps import plot_context_maps

        context = read_context_image(t.context_dir, point_ids=m.point_ids)
        rel = f"figures/{t.key}_context_maps.png"
        _save(plot_context_maps(m, els[:4], context, title=f"{t.name}: element maps over the MCC context "
                                f"image (PMC {context.pmc})"), os.path.join(figdir, os.path.basename(rel)))
        t.files["maps on context image"] = rel

    rgb = [e for e in t.rgb if e in m.point_areas]
    if len(rgb) == 3:
        rel = f"figures/{t.key}_rgb_{'_'.join(rgb)}.png"
        _save(m.plot_rgb(rgb, title=t.name if m.grid.kind == "raster" else f"{t.name}: {' / '.join(rgb)}"),
              os.path.join(figdir, os.path.basename(rel)))
        t.files["RGB composite"] = rel

    rel = f"figures/{t.key}_phases.png"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig = plot_phase_map(t.salts, title=f"{t.name}: phases (salt detections numbered)")
    _save(fig, os.path.join(figdir, os.path.basename(rel)))
    t.files["phase map"] = rel

    if t.kind == "simulated":
        rel = f"figures/{t.key}_CaO_SO3.png"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fig = plot_correlation(t.salts.phase_map, "CaO", "SO3",
                                   title=f"{t.name}: CaO vs SO3 with mixing lines to Ca-sulfates")
        _save(fig, os.path.join(figdir, os.path.basename(rel)))
        t.files["CaO–SO3 correlation"] = rel


# =========================================================================================
# the report
# =========================================================================================
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


def _build_report(targets, ranking, timings, data: Path, shipped_sim: bool, calibration):
    from . import __version__
    from .quant.quantify import MAP_DEFAULT_BALANCE
    from .report import Report

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
              _fmt(t.maps.median_chi2_reduced)] for t in targets], align="llrllr")
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
            r.paragraph(f"`{_display_path(t.path)}`: {m.n_points} points along a "
                        f"{np.ptp(m.grid.x):.1f} mm line, both detectors, ~14 s live per point. "
                        "Composition unknown (no reference values).")
        else:
            src = (f"`{_display_path(t.path)}`" if not t.generated
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
            salt_rows, comp_rows = _truth_check(t)
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
