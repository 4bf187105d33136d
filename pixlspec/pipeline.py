"""The scan → element maps → compositions → minerals path, with one policy for every front end.

``pixlspec salts``, ``pixlspec candidates`` and ``pixlspec demo`` all go from
element maps to compositions and from compositions to the minerals package;
the choices made on the way live here, once, so that the same scan gives the
same answer whichever command reads it:

* :func:`quantify_maps`: the invisible balance of a composition map. An
  invisible CO2 balance (:data:`pixlspec.quant.quantify.MAP_DEFAULT_BALANCE`)
  gives volatile-rich points (carbonates, hydrated salts) the matrix they have,
  but only when the absolute intensities can be trusted: with a calibration, or
  without one when the analytical totals come out plausible
  (:data:`~pixlspec.quant.quantify.TOTAL_RANGE_WT`). Otherwise the balance
  would fill most of the matrix with CO2, and the map is quantified without one.
* :func:`minerals_input`: compositions whose totals are far from 100 % without
  a calibration are normalised to 100 % per point before classifying, and the
  note says so.
* :func:`stored_composition`: the composition a results file holds, if any.
* :func:`element_maps_of`, :func:`composition_of`, :func:`salts_of`: the same path
  from a file name (a scan is fitted, a results file read, a stored composition
  preferred), as the command line walks it; progress goes to a callback.
* :func:`detected_elements`: the elements a map shows above its noise.
"""
from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .composition import CompositionMap
from .errors import PixlspecError
from .quant.quantify import MAP_DEFAULT_BALANCE, TOTAL_RANGE_WT, quantify_map

if TYPE_CHECKING:
    from .element_maps import ElementMaps
    from .instrument import Instrument
    from .minerals.salts import SaltDetections
    from .minerals.table import CompositionLike, CompositionTable
    from .quant.calibration import Calibration

__all__ = ["quantify_maps", "totals_plausible", "minerals_input", "stored_composition", "AUTO_BALANCE",
           "element_maps_of", "composition_of", "salts_of", "SaltsOf", "detected_elements", "Progress",
           "DETECTED_SIGMAS", "DETECTED_FRACTION", "export_results"]

log = logging.getLogger("pixlspec")

#: ``balance=`` of :func:`quantify_maps` that applies the policy of this module.
AUTO_BALANCE = "auto"
#: :func:`detected_elements`: an element whose area exceeds this many σ on at least this fraction of the
#: valid points (what ``pixlspec map`` draws by default).
DETECTED_SIGMAS, DETECTED_FRACTION = 3.0, 0.05
#: Progress callback of the file-level functions: ``progress(stage, advance, total)``. ``stage`` names
#: the step ("fitting", "reading", "quantifying", "classifying"); ``advance`` is the work done since
#: the last call (points when fitting, else 0 or 1); ``total`` the step's work, None when
#: unknown.
Progress = Callable[[str, int, "int | None"], None]


def _no_progress(stage: str, advance: int, total: int | None) -> None:
    return None


def totals_plausible(composition: CompositionMap) -> bool:
    """Whether the median analytical total of the valid points lies in ``TOTAL_RANGE_WT``."""
    t = np.asarray(composition.point_total, dtype=float)[np.asarray(composition.valid, dtype=bool)]
    t = t[np.isfinite(t)]
    lo, hi = TOTAL_RANGE_WT
    return bool(t.size) and lo <= float(np.median(t)) <= hi


def quantify_maps(maps: ElementMaps, *, instrument: Instrument | None = None,
                  calibration: Calibration | None = None, balance: str | None = AUTO_BALANCE) -> CompositionMap:
    """The composition map of element maps, with the invisible balance chosen as the module says.

    Parameters
    ----------
    maps : ElementMaps
    instrument, calibration
        As :func:`pixlspec.quantify_map`.
    balance : str or None
        ``"auto"`` (default): :data:`MAP_DEFAULT_BALANCE` where absolute intensities can be trusted
        (a calibration, or plausible uncalibrated totals), none otherwise. Any other value is used
        as given (None: no balance).

    Returns
    -------
    CompositionMap
        Its ``balance`` says which balance was used.
    """
    if balance != AUTO_BALANCE:
        return quantify_map(maps, instrument=instrument, calibration=calibration, balance=balance)
    comp = quantify_map(maps, instrument=instrument, calibration=calibration, balance=MAP_DEFAULT_BALANCE)
    if calibration is None and comp.balance and not totals_plausible(comp):
        comp = quantify_map(maps, instrument=instrument, calibration=calibration, balance=None)
    return comp


def minerals_input(composition: CompositionLike, *, normalise: bool | None = None,
                   name: str | None = None) -> tuple[CompositionTable, str | None]:
    """The composition map the minerals package should read, and a note when it was normalised.

    Quantification without a calibration uses the instrument constants; when its
    median analytical total is outside ``TOTAL_RANGE_WT`` (or with
    ``normalise=True``) the oxides are scaled to 100 % per point: phases are
    judged on oxide ratios, and the rules that need the deficit (carbonate,
    perchlorate) are not evaluated — the minerals package says so. A
    composition that does not say whether it is calibrated is taken as
    calibrated (left alone).

    Returns
    -------
    (table, note)
        ``table``: a :class:`pixlspec.minerals.CompositionTable`; ``note`` is
        None when nothing was changed.
    """
    from .minerals.table import CompositionTable, as_table

    t = as_table(composition)
    if name is not None:
        t = CompositionTable(t.oxide_wt, t.sigma, t.total, t.positions_mm, t.valid, t.point_ids, name)
    total = np.asarray(t.total, dtype=float)
    ok = np.isfinite(total) & (total > 0) & (t.valid if t.valid is not None else True)
    med = float(np.median(total[ok])) if np.any(ok) else math.nan
    lo, hi = TOTAL_RANGE_WT
    calibrated = bool(getattr(composition, "calibrated", True))
    if normalise is None:
        normalise = (not calibrated) and math.isfinite(med) and not (lo <= med <= hi)
    if not normalise:
        return t, None
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(ok, 100.0 / total, np.nan)
    table = CompositionTable.from_dict({
        "oxide_wt": {k: np.asarray(v) * scale for k, v in t.oxide_wt.items()},
        "sigma": {k: np.asarray(v) * scale for k, v in (t.sigma or {}).items()},
        "total": np.where(ok, 100.0, np.nan), "positions_mm": t.positions_mm,
        "valid": (np.asarray(t.valid) if t.valid is not None else np.ones(total.size, bool)) & ok,
        "point_ids": t.point_ids, "name": t.name})
    why = (f"the median analytical total is {med:.1f} wt% ({'uncalibrated FP' if not calibrated else 'calibrated'})"
           if math.isfinite(med) else "no finite total")
    note = (f"{why}, so the oxides were normalised to 100 % per point before classifying: phases are judged "
            "on oxide ratios and the rules that need the deficit (carbonate, perchlorate) are not evaluated")
    return table, note


def stored_composition(path: str | os.PathLike) -> CompositionMap | None:
    """The composition map a results file holds (``/entry/composition``), or None when it holds none.

    Raises
    ------
    HDF5FormatError
        The file cannot be read as a results file, or its composition is damaged.
    """
    from .io.results import read_composition_map

    return read_composition_map(path, missing_ok=True)


def element_maps_of(path: str | os.PathLike, *, instrument: Instrument | None = None, detector: str | None = None,
                    elements: list[str] | None = None,
                    progress: Progress | None = None) -> tuple[ElementMaps, bool]:
    """Element maps of a scan file (fitted here) or of a results file (read back).

    Parameters
    ----------
    path : str or path-like
        A scan any reader of :func:`pixlspec.io.convert.read_scan` takes, or a results file.
    instrument, elements
        As :func:`pixlspec.fit_map` (a results file keeps its own).
    detector : str, optional
        "A", "B" or None/"auto"/"A+B" for every detector, areas summed.
    progress : callable, optional
        :data:`Progress` callback.

    Returns
    -------
    (maps, fitted)
        ``fitted`` is False when the maps were read from a results file.
    """
    from .fit.maps import fit_map
    from .io.convert import read_scan
    from .io.results import is_results_file, read_maps

    progress = progress or _no_progress
    if is_results_file(path):
        progress("reading", 0, None)
        maps = read_maps(path)
        progress("reading", 1, 1)
        return maps, False
    scan = read_scan(path, instrument=instrument)
    try:
        total = scan.n_points      # fit_map reports the points fitted (every detector of a point)
        progress("fitting", 0, total)
        maps = fit_map(scan, elements=elements, instrument=instrument,
                       detector=None if detector in (None, "auto", "A+B") else detector,
                       progress=lambda n: progress("fitting", n, total))
    finally:
        scan.close()
    return maps, True


def composition_of(path: str | os.PathLike, *, instrument: Instrument | None = None,
                   calibration: Calibration | None = None, balance: str | None = AUTO_BALANCE,
                   detector: str | None = None,
                   progress: Progress | None = None) -> tuple[ElementMaps | None, CompositionMap, bool]:
    """The composition map of a scan or results file.

    A results file that holds a composition gives it back unchanged when no
    calibration is asked for and the balance is :data:`AUTO_BALANCE`; otherwise
    the element maps are fitted (a scan) or read (a results file) and quantified
    with :func:`quantify_maps`.

    Returns
    -------
    (maps or None, composition, fitted)
        ``maps`` is None when the stored composition was used.
    """
    from .io.results import is_results_file

    progress = progress or _no_progress
    if is_results_file(path) and calibration is None and balance == AUTO_BALANCE:
        comp = stored_composition(path)
        if comp is not None:
            return None, comp, False
    maps, fitted = element_maps_of(path, instrument=instrument, detector=detector, progress=progress)
    progress("quantifying", 0, None)
    comp = quantify_maps(maps, calibration=calibration, balance=balance)
    if balance == AUTO_BALANCE and calibration is None and comp.balance is None:
        log.info("%s: uncalibrated totals far from 100 %%; quantified without an invisible balance",
                 os.path.basename(os.fspath(path)))
    progress("quantifying", 1, 1)
    return maps, comp, fitted


class SaltsOf(NamedTuple):
    """What :func:`salts_of` returns."""

    #: The salt detections (with the phase map of every point).
    detections: SaltDetections
    #: The normalisation note and the warnings of the classification, each once (the rules the
    #: detections already list as not evaluated are left out).
    notes: list[str]
    #: The note of :func:`minerals_input` when the oxides were normalised before classifying, else None.
    normalisation_note: str | None


def salts_of(composition: CompositionLike, *, normalise: bool | None = None, name: str | None = None) -> SaltsOf:
    """Salt detections of a composition map (:func:`minerals_input`, then ``identify_salts``).

    The one way every front end (``pixlspec salts``, ``pixlspec rank``, ``pixlspec demo``) classifies
    a composition map, so the same composition gives the same detections.
    """
    from .minerals.salts import identify_salts

    table, note = minerals_input(composition, normalise=normalise, name=name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = identify_salts(table)
    notes = [note] if note else []
    for text in list(found.notes) + [str(w.message) for w in caught]:
        text = " ".join(str(text).split())
        if "not evaluated" in text or (note and "normalised" in text) or any(text in n for n in notes):
            continue
        notes.append(text)
    return SaltsOf(found, list(dict.fromkeys(notes)), note)


def detected_elements(maps: ElementMaps, sigmas: float = DETECTED_SIGMAS,
                      fraction: float = DETECTED_FRACTION) -> list[str]:
    """Elements whose area exceeds ``sigmas`` × its 1σ on at least ``fraction`` of the valid points."""
    out = []
    for el in maps.elements:
        a, s = maps.point_areas[el][maps.valid], maps.point_sigma[el][maps.valid]
        ok = np.isfinite(a) & np.isfinite(s) & (s > 0)
        if ok.any() and np.mean(a[ok] / s[ok] >= sigmas) >= fraction:
            out.append(el)
    return out


def export_results(results_path, fmt: str, out, *, units: str = "cps", per_detector: bool = False) -> list[str]:
    """Export a results file for PIXLISE, PyMca/PyXRF, image programs or spreadsheets (``pixlspec export``).

    Returns the files written. The writers are :mod:`pixlspec.io.export`'s; with ``per_detector`` each
    detector's maps are quantified here as the stored composition was (same balance, Fe oxide and
    normalisation).

    Parameters
    ----------
    results_path : str or os.PathLike
        A results file (``ElementMaps.to_hdf5``; a stored ``/entry/composition``
        for ``piquant-csv``).
    fmt : {"piquant-csv", "csv", "tiff", "msa"}
    out : str or os.PathLike
        A file (``piquant-csv``, ``csv``) or a directory (``tiff``, ``msa``).
    units : {"cps", "counts"}
        Of the element maps (``csv``, ``tiff``).
    per_detector : bool
        ``piquant-csv``: quantify each detector's maps too and write its rows
        after the stored composition's (needs the maps of both detectors).
    """
    from .io.export import (EXPORT_FORMATS, write_maps_csv, write_maps_tiff, write_piquant_csv,
                            write_sum_msa)
    from .io.results import read_composition_map, read_maps
    from .quant.quantify import quantify_map

    if fmt not in EXPORT_FORMATS:
        raise PixlspecError(f"unknown export format {fmt!r}; expected one of {', '.join(EXPORT_FORMATS)}")
    out = os.fspath(out)
    if fmt == "msa":
        return write_sum_msa(results_path, out)
    maps = read_maps(results_path)
    if fmt == "csv":
        write_maps_csv(maps, out, units=units)
        return [out]
    if fmt == "tiff":
        return write_maps_tiff(maps, out, units=units)
    comp = read_composition_map(results_path)
    comps = [comp]
    if per_detector:
        for det, m in (maps.per_detector or {}).items():
            if det != comp.detector:
                comps.append(quantify_map(m, fe_oxide=comp.fe_oxide, normalise=comp.normalised,
                                          balance=comp.balance))
        for c in comps[1:]:
            c.point_oxide_wt = {o: c.point_oxide_wt.get(o, np.full(c.n_points, np.nan)) for o in comp.oxides}
            c.point_sigma = {o: c.point_sigma.get(o, np.full(c.n_points, np.nan)) for o in comp.oxides}
    write_piquant_csv(comps, out, maps=maps)
    return [out]
