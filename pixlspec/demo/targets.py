"""The demo's targets, their results and the example data it reads."""
from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PixlspecError

__all__ = ["DemoTarget", "DemoResult", "find_example_data", "read_truth_csv", "truth_of", "REAL_SCAN", "REAL_CONTEXT",
           "FLIGHT_CONFIG", "FLIGHT_CALIBRATION", "SIM_SCAN", "SIM_TRUTH", "DEFAULT_OUT", "DEFAULT_SIM_SHAPE",
           "DEFAULT_SIM_SEED", "FIG_DPI", "PANEL_ELEMENTS", "TRUTH_FAMILY", "TRUTH_OXIDES", "PURE_FRACTION",
           "MAJOR_FRACTION", "Progress"]

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
    package = Path(__file__).resolve().parents[1]  # the pixlspec package (this is pixlspec/demo/targets.py)
    for p in (package / "example_data", package.parent / "example_data"):
        if (p / REAL_SCAN).is_file():
            return p
    raise PixlspecError(f"example data ({REAL_SCAN}) is not installed with this copy of pixlspec "
                        f"(looked in {package / 'example_data'} and {package.parent / 'example_data'}): "
                        "reinstall it, or give the folder with --data DIR")


def read_truth_csv(path: Path) -> dict[str, np.ndarray]:
    """The truth table of a simulated scan (``*_truth.csv``): column name → values per point."""
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


def truth_of(scan, truth_csv: Path | None) -> dict[str, np.ndarray] | None:
    """Per-point truth of a simulated scan: from its point metadata, else from the truth CSV."""
    pm = getattr(scan, "point_metadata", {}) or {}
    out = {}
    for k, v in pm.items():
        if k.startswith("truth_fraction_"):
            out["fraction_" + k[len("truth_fraction_"):]] = np.asarray(v, dtype=float)
        elif k.startswith("truth_wt_"):
            out["wt_" + k[len("truth_wt_"):]] = np.asarray(v, dtype=float)
    if not any(k.startswith("fraction_") for k in out) and truth_csv is not None and truth_csv.is_file():
        out = read_truth_csv(truth_csv)
    return out or None


# =========================================================================================
# figures
# =========================================================================================
