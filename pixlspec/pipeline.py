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
"""
from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

import numpy as np

from .quant.quantify import MAP_DEFAULT_BALANCE, TOTAL_RANGE_WT, CompositionMap, quantify_map

if TYPE_CHECKING:
    from .fit.maps import ElementMaps
    from .instrument import Instrument
    from .minerals.table import CompositionLike, CompositionTable
    from .quant.calibration import Calibration

__all__ = ["quantify_maps", "totals_plausible", "minerals_input", "stored_composition", "AUTO_BALANCE"]

#: ``balance=`` of :func:`quantify_maps` that applies the policy of this module.
AUTO_BALANCE = "auto"


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
