"""What a scan file holds, as a JSON-friendly summary (``pixlspec info``)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..spectrum import Scan

__all__ = ["describe_scan", "summary_stats"]


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
