"""What a scan file holds, as a JSON-friendly summary (``pixlspec info``)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..spectrum import Scan

__all__ = ["describe_scan", "describe_results", "summary_stats"]


def summary_stats(values) -> dict[str, float]:
    """``{"min", "median", "max"}`` of ``values`` (NaN for an empty array)."""
    a = np.asarray(values, dtype=float)
    if a.size == 0:
        return {"min": float("nan"), "median": float("nan"), "max": float("nan")}
    return {"min": float(a.min()), "median": float(np.median(a)), "max": float(a.max())}


def describe_scan(scan: Scan, path: str, kind: str) -> dict[str, Any]:
    """Summary of a scan: points, detectors (calibration, live/real time and counts per point:
    min/median/max), position extent, instrument, point ids, metadata and, for HDF5 files, what
    :func:`pixlspec.io.hdf5.read_process` says about the file.

    Reads every spectrum once, chunk by chunk, for the counts per point.
    """
    from .convert import INPUT_KINDS
    from .jsontext import jsonable

    dets = {}
    for det in scan.detectors:
        totals = np.empty(scan.n_points)
        for start, stop, counts in scan.iter_chunks(det):
            totals[start:stop] = counts.sum(axis=1)
        off, gain, quad = scan.calibration[det]
        d = {"calibration": {"offset_eV": off, "gain_eV_per_channel": gain, "quadratic_eV": quad},
             "live_time_s": summary_stats(scan.live_time_s[det]),
             "total_counts_per_point": summary_stats(totals)}
        if det in scan.real_time_s:
            d["real_time_s"] = summary_stats(scan.real_time_s[det])
        dets[det] = d
    pos = np.asarray(scan.positions_mm, dtype=float)
    extent = {axis: ([float(pos[:, i].min()), float(pos[:, i].max())] if scan.n_points else None)
              for i, axis in enumerate("xyz")}
    out = {"file": path, "type": kind, "type_description": INPUT_KINDS.get(kind, kind),
           "points": scan.n_points, "channels": scan.n_channels, "detectors": dets,
           "position_extent_mm": extent, "instrument": scan.instrument.name,
           "point_ids": ([jsonable(scan.point_ids[0]), jsonable(scan.point_ids[-1])]
                         if scan.n_points else None),
           "metadata": jsonable(scan.metadata)}
    if kind == "hdf5":
        from .hdf5 import read_process

        out["file_info"] = jsonable(read_process(path))
    return out


def describe_results(path: str) -> dict[str, Any]:
    """Summary of a pixlspec results file: points and grid, the element maps (columns, valid points, χ²ᵣ
    per point: min/median/max), each detector's sum fit (live time, χ²ᵣ), the stored composition (how it
    was made, the analytical total and each oxide's median wt% over the valid points) and the provenance.

    Reads the file with :func:`pixlspec.io.results.read_results`, so a damaged file raises
    :class:`~pixlspec.errors.HDF5FormatError` naming the dataset.
    """
    from .jsontext import jsonable
    from .results import read_results, read_results_info

    res = read_results(path)
    maps, comp = res.maps, res.composition
    valid = np.asarray(maps.valid, dtype=bool)
    grid = maps.grid
    out: dict[str, Any] = {
        "file": path, "type": "results",
        "type_description": "pixlspec results file (element maps" + (" and composition)" if comp else ")"),
        "points": maps.n_points, "valid_points": int(valid.sum()),
        "point_ids": ([jsonable(maps.point_ids[0]), jsonable(maps.point_ids[-1])] if maps.n_points else None),
        "grid": {"kind": grid.kind, "shape": list(grid.shape), "step_mm": float(grid.step_mm)} if grid else None,
        "detector": maps.detector, "detectors_separately": sorted(maps.per_detector or {}),
        "columns": list(maps.columns), "elements": list(maps.elements),
        "instrument": maps.instrument.name if maps.instrument else None,
        "chi2_reduced_points": summary_stats(np.asarray(maps.chi2_reduced_points)[valid]),
        "sum_fits": {det: {"live_time_s": float(r.summary.get("live_time_s", float("nan"))),
                           "chi2_reduced": float(r.chi2_reduced)} for det, r in (maps.sum_fit or {}).items()},
        "composition": None, "source": maps.source}
    if comp is not None:
        ok = np.asarray(comp.valid, dtype=bool)
        out["composition"] = {
            "detector": comp.detector, "calibrated": bool(comp.calibrated), "normalised": bool(comp.normalised),
            "balance": comp.balance, "valid_points": int(ok.sum()),
            "total_wt": summary_stats(np.asarray(comp.point_total, dtype=float)[ok]),
            "median_wt": {ox: float(np.median(np.asarray(v, dtype=float)[ok])) if ok.any() else float("nan")
                          for ox, v in comp.point_oxide_wt.items()},
            "flags": list(comp.flags)}
    info = read_results_info(path)
    out["file_info"] = jsonable({k: info[k] for k in ("program", "version", "date", "provenance") if k in info})
    return out
