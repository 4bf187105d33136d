"""Exports of results into the formats users exchange, and PIQUANT's map CSV read back.

* **PIQUANT map CSV** (:func:`write_piquant_csv`, :func:`read_piquant_maps`,
  :func:`read_piquant_map`): the per-point table PIQUANT writes for a map and
  PIXLISE loads (``shared/science/pixl-formats.md`` §5). Line 1 is a title,
  line 2 the header, then one row per point and detector::

      PMC, filename, SiO2_%, ..., SiO2_int, ..., SiO2_err, ..., sum_%, total_counts, livetime,
      chisq, eVstart, eV/ch, res, iter

  ``<oxide>_%`` is wt%, ``<oxide>_int`` the net fitted peak area (counts),
  ``<oxide>_err`` the *relative* 1σ in % of the value, ``sum_%`` the analytical
  total, ``eVstart``/``eV/ch``/``res`` the energy calibration and the FWHM at
  Mn Kα (eV) of the fit. The detector is carried by the ``filename`` column as
  PIXLISE names it: ``Normal_A``, ``Normal_B`` or ``Normal_Combined`` (A+B),
  followed by the scan name. Values pixlspec does not have (``total_counts``
  and ``iter`` of a map fit, ``_int`` without the element maps) are left empty;
  a relative error of a zero wt% is undefined and left empty too.
  Numbers are printed with :data:`CSV_SIGNIFICANT_DIGITS` significant digits,
  so a round trip gives the same numbers to that precision.
* **Element maps** as a per-point CSV table (:func:`write_maps_csv`) and as one
  32-bit float TIFF per element (:func:`write_maps_tiff`) with the pixel size
  in the TIFF resolution tags (pixels per centimetre).
* **Sum spectra** of the map fit (data and model) as EMSA/MSA (:func:`write_sum_msa`).
* :func:`compare_compositions`: per-oxide bias and scatter of two composition
  maps matched point by point (PMC).

The element-map and composition containers live in higher layers
(:mod:`pixlspec.element_maps`, :mod:`pixlspec.quant.quantify`); this module reads
their attributes only and imports :class:`CompositionMap` lazily to build one.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..checks import check_point_ids
from ..errors import CSVFormatError, PixlspecError
from .atomic import atomic_path, staged_dir
from .files import read_text_file

__all__ = ["write_piquant_csv", "read_piquant_maps", "read_piquant_map", "read_piquant_table", "PiquantTable",
           "write_maps_csv", "write_maps_tiff", "write_sum_msa", "compare_compositions", "ComparisonRow",
           "EXPORT_FORMATS", "detector_label", "CSV_SIGNIFICANT_DIGITS"]

#: Significant digits of the numbers in exported CSV tables (the round-trip precision).
CSV_SIGNIFICANT_DIGITS = 7
#: PIXLISE's names of the detectors in the ``filename`` column of a PIQUANT map CSV.
PIXLISE_DETECTOR_NAMES = {"A": "Normal_A", "B": "Normal_B", "A+B": "Normal_Combined"}
#: Trailing columns of a PIQUANT map CSV that pixlspec writes, in PIQUANT's order.
PIQUANT_TAIL_COLUMNS = ("sum_%", "total_counts", "livetime", "chisq", "eVstart", "eV/ch", "res", "iter")
#: Centimetres per millimetre (TIFF resolution unit is the centimetre).
MM_PER_CM = 10.0
EXPORT_FORMATS = ("piquant-csv", "csv", "tiff", "msa")


def detector_label(name: str) -> str:
    """pixlspec's detector name ("A", "B", "A+B") of a PIQUANT/PIXLISE name ("Normal_A", "Combined", ...)."""
    t = str(name).strip()
    low = t.lower()
    if low in ("a+b", "a,b", "ab", "combined", "normal_combined", "sum"):
        return "A+B"
    for prefix in ("normal_", "dwell_", "detector_", "det_"):
        if low.startswith(prefix):
            t = t[len(prefix):]
            break
    return t.upper() if t.upper() in ("A", "B") else t


def _detector_of_filename(value: str) -> str:
    v = str(value).strip()
    low = v.lower()
    if "combined" in low or "a+b" in low:
        return "A+B"
    for token in v.replace("-", "_").replace(".", "_").split("_"):
        if token in ("A", "B"):
            return token
    return ""


def _fmt(v) -> str:
    """A number as printed in the CSV tables (empty for NaN/None)."""
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "1" if v else "0"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    x = float(v)
    if not math.isfinite(x):
        return ""
    return f"{x:.{CSV_SIGNIFICANT_DIGITS}g}"


def _csv_bytes(rows: list[list[str]], title: str | None = None, sep: str = ",") -> str:
    buf = io.StringIO()
    if title is not None:
        buf.write(title.replace("\n", " ") + "\n")
    for r in rows:
        buf.write(sep.join(r) + "\n")
    return buf.getvalue()


def _write_text(path, text: str) -> None:
    with atomic_path(os.fspath(path)) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)


# ---------------------------------------------------------------------------------------------
# PIQUANT map CSV
# ---------------------------------------------------------------------------------------------
def _maps_for(maps, detector: str):
    """The ElementMaps of ``detector`` (the maps themselves or one of ``per_detector``)."""
    if maps is None:
        return None
    if str(getattr(maps, "detector", "")) == detector:
        return maps
    return (getattr(maps, "per_detector", None) or {}).get(detector)


def _fit_calibration(maps, detector: str) -> tuple[float, float, float]:
    """(eVstart, eV/ch, FWHM at Mn Kα) of the sum fit that fixed the map's shapes (NaN if unknown)."""
    nan = (math.nan, math.nan, math.nan)
    fits = getattr(maps, "sum_fit", None) or {}
    fit = fits.get(detector)
    if fit is None:
        return nan
    # a FitResult, or the SumFitRecord of a results file read back: the same attributes
    return float(fit.offset_eV), float(fit.gain_eV_per_channel), float(fit.fwhm_MnKa_eV)


def _scan_name(comp) -> str:
    src = getattr(comp, "source", None)
    return os.path.splitext(os.path.basename(str(src)))[0] if src else "scan"


def write_piquant_csv(compositions, path, *, maps=None, title: str | None = None) -> None:
    """Write composition maps as a PIQUANT map CSV (one row per point and detector), atomically.

    Parameters
    ----------
    compositions : CompositionMap or sequence of CompositionMap
        One per detector (``detector`` "A", "B" or "A+B"); all with the same oxides
        in the same points.
    path : str or os.PathLike
    maps : ElementMaps, optional
        The element maps the compositions came from: they fill ``<oxide>_int``
        (the fitted areas), ``chisq`` and the calibration columns.
    title : str, optional
        Line 1 (default: pixlspec, its version and the scan).
    """
    from .. import __version__

    comps = [compositions] if hasattr(compositions, "point_oxide_wt") else list(compositions)
    if not comps:
        raise PixlspecError("no composition map to write", path=path)
    oxides = list(comps[0].point_oxide_wt)
    header = (["PMC", "filename"] + [f"{o}_%" for o in oxides] + [f"{o}_int" for o in oxides]
              + [f"{o}_err" for o in oxides] + list(PIQUANT_TAIL_COLUMNS))
    rows = [header]
    for comp in comps:
        if list(comp.point_oxide_wt) != oxides:
            raise PixlspecError(f"composition maps hold different oxides: {oxides} vs {list(comp.point_oxide_wt)}",
                                path=path)
        det = str(comp.detector or "")
        n = comp.n_points
        ids = comp.point_ids if getattr(comp, "point_ids", None) is not None else np.arange(n)
        m = _maps_for(maps, det)
        ev0, evch, res = _fit_calibration(m if m is not None else maps, det) if maps is not None else \
            (math.nan,) * 3
        # the oxide of each quantified group, in the composition's order (areas are per group)
        group_of = {}
        for g in (getattr(comp, "groups", None) or (list(m.elements) if m is not None else [])):
            el = g.split("_")[0]
            for o in oxides:
                if o == el or (o.startswith(el) and not o[len(el):len(el) + 1].islower()):
                    group_of.setdefault(o, g)
        fname = f"{PIXLISE_DETECTOR_NAMES.get(det, 'Normal_' + det if det else 'Normal')}_{_scan_name(comp)}"
        live = comp.live_time_s if comp.live_time_s is not None else np.full(n, np.nan)
        chisq = m.chi2_reduced_points if m is not None else np.full(n, np.nan)
        for i in range(n):
            ok = bool(comp.valid[i])
            wt = [comp.point_oxide_wt[o][i] if ok else np.nan for o in oxides]
            area = [(m.point_areas[group_of[o]][i] if (m is not None and ok and o in group_of
                                                      and group_of[o] in m.point_areas) else np.nan)
                    for o in oxides]
            err = []
            for o, w in zip(oxides, wt):
                s = comp.point_sigma[o][i]
                err.append(100.0 * s / abs(w) if ok and np.isfinite(w) and w != 0 else np.nan)
            row = ([str(ids[i]), fname] + [_fmt(v) for v in wt] + [_fmt(v) for v in area] + [_fmt(v) for v in err]
                   + [_fmt(comp.point_total[i] if ok else np.nan), "", _fmt(live[i]), _fmt(chisq[i] if ok else np.nan),
                      _fmt(ev0), _fmt(evch), _fmt(res), ""])
            rows.append(row)
    title = title or (f"pixlspec {__version__} composition map of {_scan_name(comps[0])}, "
                      f"{'calibrated' if comps[0].calibrated else 'uncalibrated FP'}, "
                      f"{'normalised' if comps[0].normalised else 'not normalised'}, Fe as {comps[0].fe_oxide}")
    _write_text(path, _csv_bytes(rows, title, sep=", "))


@dataclass
class PiquantTable:
    """A PIQUANT map CSV as read: its title, header and columns (numbers as float, text as str)."""

    title: str
    header: list[str]
    columns: dict[str, np.ndarray]
    detectors: np.ndarray
    path: str = ""
    text_columns: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return int(self.detectors.size)


#: Columns that hold text (ids, file names), never converted to numbers.
TEXT_COLUMNS = ("PMC", "SCLK", "RTT", "filename", "Title", "USN", "DPC", "seq#", "detector", "Detector")


def _number(tok: str, path: str, lineno: int, column: str) -> float:
    t = tok.strip()
    if t == "" or t.lower() in ("nan", "-nan", "n/a", "inf", "-inf"):
        return math.nan if t.lower() not in ("inf", "-inf") else float(t)
    try:
        return float(t.rstrip("%"))
    except ValueError:
        raise CSVFormatError(f"column {column!r}: expected a number, got {tok!r}", path=path,
                             where=lineno) from None


def read_piquant_table(path) -> PiquantTable:
    """Read a PIQUANT map CSV (title line, header line, one row per point and detector).

    The detector of a row comes from a ``detector`` column when there is one,
    else from ``filename`` (``Normal_A``/``_A_``, ``Normal_B``, ``Combined``);
    rows without one are detector "".
    """
    name = os.fspath(path)
    # a folder, a missing or binary file: CSVFormatError naming it (and the line of an undecodable byte)
    lines = [ln.rstrip("\r") for ln in read_text_file(name, kind="text", error_cls=CSVFormatError).split("\n")]
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) < 2:
        raise CSVFormatError("expected a title line and a header line (PIQUANT map CSV)", path=name,
                             where=len(lines) + 1)
    title = lines[0].strip()
    rows = list(csv.reader(lines[1:], skipinitialspace=True))
    header = [h.strip() for h in rows[0]]
    if not any(h.endswith("_%") for h in header) or "PMC" not in header:
        raise CSVFormatError("line 2 is not a PIQUANT map header (expected PMC and <oxide>_% columns, e.g. "
                             f"'PMC, SiO2_%, ...'), got {', '.join(header[:6])}...", path=name, where=2)
    data = rows[1:]
    cols: dict[str, list] = {h: [] for h in header}
    for k, r in enumerate(data, start=3):
        if not any(c.strip() for c in r):
            continue
        if len(r) != len(header):
            raise CSVFormatError(f"expected {len(header)} fields (as the header), got {len(r)}", path=name, where=k)
        for h, tok in zip(header, r):
            cols[h].append(tok.strip() if h in TEXT_COLUMNS else _number(tok, name, k, h))
    text = {h: np.asarray(v, dtype=object) for h, v in cols.items() if h in TEXT_COLUMNS}
    num = {h: np.asarray(v, dtype=np.float64) for h, v in cols.items() if h not in TEXT_COLUMNS}
    n = len(cols["PMC"])
    if "detector" in text or "Detector" in text:
        dets = np.asarray([detector_label(d) for d in text.get("detector", text.get("Detector"))], dtype=object)
    elif "filename" in text:
        dets = np.asarray([_detector_of_filename(v) for v in text["filename"]], dtype=object)
    else:
        dets = np.full(n, "", dtype=object)
    return PiquantTable(title=title, header=header, columns=num, detectors=dets, path=name, text_columns=text)


def _pmc_values(ids: np.ndarray) -> np.ndarray:
    """PMCs as integers when they all are, else as strings."""
    try:
        return np.asarray([int(str(v).strip()) for v in ids], dtype=np.int64)
    except ValueError:
        return np.asarray([str(v).strip() for v in ids])


def read_piquant_maps(path) -> dict[str, Any]:
    """Every detector of a PIQUANT map CSV as a :class:`~pixlspec.composition.CompositionMap`.

    Returns
    -------
    dict
        Detector ("A", "B", "A+B" or "" when the file does not say) → CompositionMap
        with ``point_oxide_wt`` (from ``<oxide>_%``), ``point_sigma`` (``_err`` ×
        wt% / 100), ``point_total`` (``sum_%``, else the sum of the oxides),
        ``live_time_s`` (``livetime``), ``point_ids`` (PMC), and positions from
        ``X, Y, Z`` when present. LODs are not in the format (NaN). A point is
        valid when it has at least one finite wt%.
    """
    from ..composition import CompositionMap

    t = read_piquant_table(path)
    oxides = [h[:-2] for h in t.header if h.endswith("_%") and h != "sum_%"]
    out: dict[str, Any] = {}
    for det in dict.fromkeys(t.detectors.tolist()):
        rows = np.flatnonzero(t.detectors == det)
        n = rows.size
        wt = {o: t.columns[f"{o}_%"][rows] for o in oxides}
        sig = {}
        for o in oxides:
            e = t.columns.get(f"{o}_err")
            sig[o] = np.abs(wt[o]) * e[rows] / 100.0 if e is not None else np.full(n, np.nan)
        stack = np.column_stack([wt[o] for o in oxides]) if oxides else np.zeros((n, 0))
        valid = np.any(np.isfinite(stack), axis=1)
        total = t.columns["sum_%"][rows] if "sum_%" in t.columns else np.where(valid, np.nansum(stack, axis=1), np.nan)
        live = t.columns["livetime"][rows] if "livetime" in t.columns else None
        pos = None
        if all(k in t.columns for k in ("X", "Y", "Z")):
            pos = np.column_stack([t.columns[k][rows] for k in ("X", "Y", "Z")])
        title = t.title.lower()
        out[det] = CompositionMap(
            point_oxide_wt=wt, point_sigma=sig, point_lod={o: np.full(n, np.nan) for o in oxides},
            point_element_wt={}, point_total=total, valid=valid,
            normalised="not normalised" not in title and "normalised" in title, balance=None,
            point_balance_wt=np.full(n, np.nan), air_fraction=0.0,
            calibrated="uncalibrated" not in title, fe_oxide="Fe2O3" if "Fe2O3" in oxides else "FeO",
            converged=valid.copy(), groups=[], flags=[], point_flags={}, grid=None, detector=det,
            live_time_s=live, source=t.path, point_ids=_pmc_values(t.text_columns["PMC"][rows]), positions_mm=pos)
    return out


def read_piquant_map(path, detector: str | None = None):
    """One detector of a PIQUANT map CSV as a :class:`~pixlspec.composition.CompositionMap`.

    Parameters
    ----------
    path : str or os.PathLike
    detector : str, optional
        "A", "B" or "A+B" (PIXLISE's "Normal_A", "Combined" are understood too).
        Default: the only detector of the file; a file with several needs one.
    """
    maps = read_piquant_maps(path)
    if detector is None:
        if len(maps) == 1:
            return next(iter(maps.values()))
        raise PixlspecError(f"the file holds detectors {', '.join(repr(k) for k in maps)}; pass detector= "
                            "(or use read_piquant_maps)", path=path)
    key = detector_label(detector)
    if key not in maps:
        raise PixlspecError(f"no detector {detector!r} in the file (it holds {', '.join(repr(k) for k in maps)})",
                            path=path)
    return maps[key]


# ---------------------------------------------------------------------------------------------
# element maps: CSV table, TIFF images, MSA sum spectra
# ---------------------------------------------------------------------------------------------
def _cps(maps, col: str, units: str) -> tuple[np.ndarray, np.ndarray, str]:
    if units == "cps":
        return (np.asarray(maps.counts_per_sec(col, points=True), dtype=np.float64),
                np.asarray(maps.counts_per_sec_sigma(col, points=True), dtype=np.float64), "cts/s")
    if units == "counts":
        return (np.asarray(maps.point_areas[col], dtype=np.float64),
                np.asarray(maps.point_sigma[col], dtype=np.float64), "counts")
    raise PixlspecError(f"units must be 'cps' or 'counts', got {units!r}")


def _column(maps, name: str) -> str:
    if name not in maps.point_areas:
        raise PixlspecError(f"no map of {name!r}; the maps hold {', '.join(maps.columns)}")
    return name


def write_maps_csv(maps, path, *, units: str = "cps", columns: Sequence[str] | None = None) -> None:
    """Element maps as one CSV table, one row per point (acquisition order), atomically.

    Columns: ``PMC, x_mm, y_mm, z_mm, distance_mm`` (line scans), ``valid,
    live_time_s, chi2_reduced``, then ``<column>`` and ``<column>_sigma`` per map
    column in ``units`` (counts/s or counts). Line 1 is the header.
    """
    cols = list(columns) if columns is not None else list(maps.columns)
    n = maps.n_points
    pos = np.asarray(maps.positions_mm, dtype=np.float64).reshape(n, -1)
    g = maps.grid
    line = g.kind == "line"
    dist = np.full(n, np.nan)
    ok = g.index >= 0
    if line:
        dist[ok] = np.asarray(g.x)[g.index[ok]]
    unit = "cps" if units == "cps" else "counts"
    header = ["PMC", "x_mm", "y_mm", "z_mm"] + (["distance_mm"] if line else []) + \
        ["valid", "live_time_s", "chi2_reduced"]
    vals = []
    for c in cols:
        v, s, _ = _cps(maps, _column(maps, c), units)
        header += [f"{c}_{unit}", f"{c}_{unit}_sigma"]
        vals.append((v, s))
    rows = [header]
    for i in range(n):
        r = [str(maps.point_ids[i])] + [_fmt(pos[i, k]) if k < pos.shape[1] else "" for k in range(3)]
        if line:
            r.append(_fmt(dist[i]))
        r += [_fmt(bool(maps.valid[i])), _fmt(maps.live_time_s[i]), _fmt(maps.chi2_reduced_points[i])]
        for v, s in vals:
            r += [_fmt(v[i]), _fmt(s[i])]
        rows.append(r)
    _write_text(path, _csv_bytes(rows))


def _pixel_size_mm(grid) -> tuple[float, float]:
    """(x, y) size of one map cell in mm: the median spacing of the cell centres (the step otherwise)."""
    def step(a):
        a = np.asarray(a, dtype=np.float64)
        d = np.diff(a)
        d = d[np.isfinite(d) & (d > 0)]
        return float(np.median(d)) if d.size else float(grid.step_mm)
    sx = step(grid.x)
    sy = step(grid.y) if np.asarray(grid.y).size > 1 else sx
    return sx, sy


def write_maps_tiff(maps, directory, *, units: str = "cps", columns: Sequence[str] | None = None) -> list[str]:
    """One 32-bit float TIFF per map column in ``directory``; returns the paths written.

    The image is the map grid (``ny × nx``; a line scan is one row) with the
    largest y in the top row, as the maps are drawn; cells without a valid
    point are NaN. XResolution/YResolution hold the pixels per centimetre
    (ResolutionUnit = centimetre) of the cell size, so image programs show
    lengths in physical units; the JSON image description repeats it in mm
    with the column, units, origin and scan.
    """
    import tifffile

    directory = os.fspath(directory)
    cols = list(columns) if columns is not None else list(maps.columns)
    g = maps.grid
    sx, sy = _pixel_size_mm(g)
    stem = os.path.splitext(os.path.basename(str(maps.source)))[0] if maps.source else "maps"
    written = []
    with staged_dir(directory) as staging:  # all the images or none (a failure replaces no file)
        for c in cols:
            col = _column(maps, c)
            v, _, unit = _cps(maps, col, units)
            img = np.asarray(g.to_grid(v), dtype=np.float32)[::-1]       # top row = largest y
            safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in c)
            name = f"{stem}_{safe}.tif"
            meta = {"column": c, "units": unit, "detector": str(maps.detector), "scan": str(maps.source or ""),
                    "grid_kind": g.kind, "pixel_size_mm": [sx, sy],
                    "x0_mm": float(np.asarray(g.x)[0]) if np.asarray(g.x).size else 0.0,
                    "y_top_mm": float(np.asarray(g.y)[-1]) if np.asarray(g.y).size else 0.0,
                    "program": "pixlspec"}
            tifffile.imwrite(os.path.join(staging, name), img, photometric="minisblack",
                             resolution=(MM_PER_CM / sx, MM_PER_CM / sy), resolutionunit="CENTIMETER",
                             description=json.dumps(meta), metadata=None)
            written.append(os.path.join(directory, name))
    return written


def write_sum_msa(results_path, directory) -> list[str]:
    """The sum spectrum and the fitted model of each detector of a results file as EMSA/MSA files.

    Files ``<scan>_sum_<det>.msa`` (measured) and ``<scan>_sum_model_<det>.msa``
    (model: peaks + scatter + background) over the fitted channels, with the
    calibration of the sum fit and its live time.
    """
    from ..spectrum import Spectrum
    from .msa import write_msa
    from .results import read_results_info, read_sum_spectra

    sums = read_sum_spectra(results_path)
    if not sums:
        raise PixlspecError("the results file holds no sum-spectrum fit to export", path=results_path)
    src = read_results_info(results_path).get("source") or results_path
    stem = os.path.splitext(os.path.basename(str(src)))[0]
    directory = os.fspath(directory)
    written = []
    with staged_dir(directory) as staging:  # all the spectra or none (a failure replaces no file)
        for det, d in sums.items():
            e = d["energy_eV"]
            if e.size < 2:
                continue
            gain = float((e[-1] - e[0]) / (e.size - 1))
            live = float(d["summary"].get("live_time_s", 1.0) or 1.0)
            for what, key in (("sum", "counts"), ("sum_model", "model")):
                sp = Spectrum(counts=np.asarray(d[key], dtype=np.float64), offset_eV=float(e[0]),
                              gain_eV_per_channel=gain, live_time_s=live, detector=det if det in ("A", "B") else "A",
                              source=f"{stem} {what} detector {det}")
                name = f"{stem}_{what}_{det.replace('+', '')}.msa"
                write_msa(sp, os.path.join(staging, name))
                written.append(os.path.join(directory, name))
    return written


# ---------------------------------------------------------------------------------------------
# comparison
# ---------------------------------------------------------------------------------------------
@dataclass
class ComparisonRow:
    """Per-oxide agreement of two composition maps over the points they share.

    ``bias`` = mean(B − A), ``scatter`` = standard deviation of B − A (wt%),
    ``rel_bias`` = bias / mean(A) (fraction), ``n`` points compared, and the
    means of A and B.
    """

    oxide: str
    n: int
    mean_a: float
    mean_b: float
    bias: float
    scatter: float
    rel_bias: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _ids(comp) -> np.ndarray:
    ids = getattr(comp, "point_ids", None)
    if ids is None:
        return np.arange(comp.n_points)
    return _pmc_values(np.asarray(ids))


def compare_compositions(a, b) -> list[ComparisonRow]:
    """Bias and scatter of B − A per oxide, matching points by id (PMC).

    Only points valid in both with finite values count. Oxides only one side
    reports are left out.
    """
    ia, ib = _ids(a), _ids(b)
    for name, ids, comp in (("A", ia, a), ("B", ib, b)):
        check_point_ids(ids, what=f"point ids (PMC) of map {name}", path=getattr(comp, "source", None),
                        error_cls=PixlspecError)
    pos_b = {v.item() if hasattr(v, "item") else v: k for k, v in enumerate(ib)}
    pairs = [(k, pos_b[v.item() if hasattr(v, "item") else v]) for k, v in enumerate(ia)
             if (v.item() if hasattr(v, "item") else v) in pos_b]
    if not pairs:
        raise PixlspecError("the two composition maps share no point id (PMC)")
    ka = np.array([p[0] for p in pairs])
    kb = np.array([p[1] for p in pairs])
    ok = np.asarray(a.valid, bool)[ka] & np.asarray(b.valid, bool)[kb]
    rows = []
    for ox in a.point_oxide_wt:
        if ox not in b.point_oxide_wt:
            continue
        va = np.asarray(a.point_oxide_wt[ox], dtype=np.float64)[ka]
        vb = np.asarray(b.point_oxide_wt[ox], dtype=np.float64)[kb]
        m = ok & np.isfinite(va) & np.isfinite(vb)
        d = vb[m] - va[m]
        n = int(m.sum())
        mean_a = float(np.mean(va[m])) if n else math.nan
        bias = float(np.mean(d)) if n else math.nan
        rows.append(ComparisonRow(ox, n, mean_a, float(np.mean(vb[m])) if n else math.nan, bias,
                                  float(np.std(d, ddof=1)) if n > 1 else math.nan,
                                  bias / mean_a if n and mean_a != 0 else math.nan))
    return rows
