"""Results files of the map fit: NeXus ``/entry/maps`` plus the MAPS (XRF-Maps) layout.

Layout (DESIGN.md, "HDF5 layout")::

    /                                  @default="entry", @pixlspec_complete=True (written last)
    /entry                             NXentry, @default="maps"
      maps/                            NXdata, @signal="counts_per_sec", @axes=[".", "y", "x"]
        counts_per_sec     [n_columns, ny, nx]  areas / live time (NaN: no valid point)
        counts_per_sec_errors          1σ
        element_names      [n_columns] elements, then tube scatter and pile-up
        element_units      [n_columns] "cts/s"
        x [nx], y [ny]                 @units="mm" (line scans: distance along the line)
        chi2_reduced       [ny, nx]
      results/                         NXcollection, per point (acquisition order)
        areas, sigma       [n_columns, n_points]  counts
        chi2_reduced, dof, valid, live_time_s, grid_index [n_points]
        geometry_factor    [n_points]  stand-off factor (##GEOMETRY), when the scan had one
        positions          [n_points, 3] mm;  point_ids [n_points]
        grid               JSON (kind, shape, step_mm, line origin/direction)
        detector_<X>/      the same per detector when detectors were combined
      sum_fit/detector_<X>/            the sum-spectrum fit: energy_eV, counts, model,
                                       background [fit channels], summary (JSON), spectrum_counts
                                       [n_channels] @energy_calibration @live_time_s @detector
      process/                         NXprocess: program, version, date, source, config,
                                       instrument, provenance, timing (JSON), library versions
    /MAPS/XRF_Analyzed/NNLS/{Counts_Per_Sec, Channel_Names, Channel_Units}   hard links
    /MAPS/x_axis, /MAPS/y_axis                                               hard links

The file is written to a temporary file beside the target and renamed into
place only when complete; the root attribute ``pixlspec_complete`` is the
last thing written, so :func:`results_complete` tells a finished file from a
partial one (e.g. copied by hand or written by an older version).
"""
from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
from collections.abc import Mapping
from typing import Any, NamedTuple

import h5py
import numpy as np

from ..errors import HDF5FormatError, PixlspecError
from .atomic import atomic_path
from .h5guard import check_vlen_heap
from .h5read import CheckedReader, open_hdf5, str_list

__all__ = ["write_maps", "read_maps", "read_results", "Results", "results_complete", "is_results_file",
           "read_results_info", "read_composition_map", "read_sum_spectra", "write_composition", "COMPLETE_ATTR",
           "MAPS_VERSION"]

#: Largest |wt%| a stored composition may hold: uncalibrated totals of a few hundred wt% are real
#: diagnostics (docs/accuracy.md), 10^6 wt% is no composition but a corrupt field.
MAX_STORED_WT_PERCENT = 1e6
#: Root attribute written last: the file is complete.
COMPLETE_ATTR = "pixlspec_complete"
UNITS = "cts/s"
JSON_CONTENT_TYPE = "application/json"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def _version(pkg: str) -> str | None:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return None


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return str(obj)


def _json(group: h5py.Group, name: str, obj) -> None:
    ds = group.create_dataset(name, data=json.dumps(obj, default=_json_default, allow_nan=True))
    ds.attrs["content_type"] = JSON_CONTENT_TYPE


def _strings(group: h5py.Group, name: str, values) -> h5py.Dataset:
    return group.create_dataset(name, data=np.array([str(v) for v in values], dtype=object),
                                dtype=h5py.string_dtype())


def _per_point(group: h5py.Group, m) -> None:
    cols = list(m.columns)
    group.create_dataset("areas", data=np.array([m.point_areas[c] for c in cols]).reshape(len(cols), -1))
    group["areas"].attrs["units"] = "counts"
    group.create_dataset("sigma", data=np.array([m.point_sigma[c] for c in cols]).reshape(len(cols), -1))
    group["sigma"].attrs["units"] = "counts"
    _strings(group, "column_names", cols)
    _strings(group, "elements", m.elements)
    group.create_dataset("chi2_reduced", data=np.asarray(m.chi2_reduced_points, dtype=np.float64))
    group.create_dataset("dof", data=np.asarray(m.dof, dtype=np.float64))
    group.create_dataset("valid", data=np.asarray(m.valid, dtype=bool))
    lt = group.create_dataset("live_time_s", data=np.asarray(m.live_time_s, dtype=np.float64))
    lt.attrs["units"] = "s"
    if getattr(m, "geometry_factor", None) is not None:
        group.create_dataset("geometry_factor", data=np.asarray(m.geometry_factor, dtype=np.float64))
    group.attrs["detector"] = m.detector


def write_maps(maps, path, *, provenance: Mapping[str, Any] | None = None) -> None:
    """Write :class:`~pixlspec.element_maps.ElementMaps` to ``path`` atomically (see the module docstring)."""
    from .. import __version__

    cols = list(maps.columns)
    grid = maps.grid
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", track_order=True) as f:
            f.attrs["default"] = "entry"
            f.attrs["NX_class"] = "NXroot"
            f.attrs["creator"] = "pixlspec"
            f.attrs["file_time"] = _now()
            entry = f.create_group("entry")
            entry.attrs["NX_class"] = "NXentry"
            entry.attrs["default"] = "maps"
            entry.create_dataset("title", data=f"element maps of {os.path.basename(str(maps.source or 'scan'))}")

            g = entry.create_group("maps")
            g.attrs["NX_class"] = "NXdata"
            g.attrs["signal"] = "counts_per_sec"
            cps = np.array([maps.counts_per_sec(c) for c in cols]).reshape((len(cols),) + grid.shape)
            err = np.array([maps.counts_per_sec_sigma(c) for c in cols]).reshape((len(cols),) + grid.shape)
            line = _is_line(grid)
            if line:
                # a line scan is a set of profiles against the distance along the line, not a 1×n image
                g.attrs["axes"] = [".", "x"]
                g.attrs["x_indices"] = 1
                cps2, err2 = cps[:, 0, :], err[:, 0, :]
            else:
                g.attrs["axes"] = [".", "y", "x"]
                g.attrs["y_indices"] = 1
                g.attrs["x_indices"] = 2
                cps2, err2 = cps, err
            d = g.create_dataset("counts_per_sec", data=cps2)
            d.attrs["units"] = UNITS
            d.attrs["long_name"] = f"line-group counts per live second, detector {maps.detector}"
            d.attrs["interpretation"] = "spectrum" if line else "image"
            g.create_dataset("counts_per_sec_errors", data=err2).attrs["units"] = UNITS
            _strings(g, "element_names", cols)
            _strings(g, "element_units", [UNITS] * len(cols))
            x = g.create_dataset("x", data=np.asarray(grid.x, dtype=np.float64))
            x.attrs["units"] = "mm"
            x.attrs["long_name"] = "distance along the line (mm)" if grid.kind == "line" else "x (mm)"
            y = g.create_dataset("y", data=np.asarray(grid.y, dtype=np.float64))
            y.attrs["units"] = "mm"
            y.attrs["long_name"] = "y (mm)"
            c2 = g.create_dataset("chi2_reduced", data=maps.chi2_reduced[0] if line else maps.chi2_reduced)
            c2.attrs["long_name"] = "reduced chi-square of each point's fit"

            r = entry.create_group("results")
            r.attrs["NX_class"] = "NXcollection"
            _per_point(r, maps)
            pos = r.create_dataset("positions", data=np.asarray(maps.positions_mm, dtype=np.float64))
            pos.attrs["units"] = "mm"
            ids = np.asarray(maps.point_ids)
            if ids.dtype.kind in "UO":
                _strings(r, "point_ids", ids)
            else:
                r.create_dataset("point_ids", data=ids)
            r.create_dataset("grid_index", data=np.asarray(grid.index, dtype=np.int64))
            _json(r, "grid", grid.to_dict())
            for det, m in (maps.per_detector or {}).items():
                _per_point(r.create_group(f"detector_{det}"), m)

            s = entry.create_group("sum_fit")
            s.attrs["NX_class"] = "NXcollection"
            for det, fit in (maps.sum_fit or {}).items():
                sg = s.create_group(f"detector_{det}")
                # a FitResult, or the SumFitRecord of a results file read back: the same attributes
                for name in ("energy_eV", "counts", "model", "background"):
                    sg.create_dataset(name, data=np.asarray(getattr(fit, name), dtype=np.float64))
                sg["energy_eV"].attrs["units"] = "eV"
                _json(sg, "summary", fit.to_dict())
                spec = getattr(fit, "spectrum", None)
                if spec is not None:
                    # the whole sum spectrum: quantify_map reads the sample's emission above the Ar edge from it
                    ds = sg.create_dataset("spectrum_counts", data=np.asarray(spec.counts, dtype=np.float64))
                    ds.attrs["energy_calibration"] = np.array([spec.offset_eV, spec.gain_eV_per_channel,
                                                               spec.quadratic_eV], dtype=np.float64)
                    ds.attrs["live_time_s"] = float(spec.live_time_s)
                    ds.attrs["detector"] = str(spec.detector or det)

            p = entry.create_group("process")
            p.attrs["NX_class"] = "NXprocess"
            p.create_dataset("program", data="pixlspec")
            p.create_dataset("version", data=__version__)
            p.create_dataset("date", data=_now())
            p.create_dataset("source", data=str(maps.source or ""))
            p.create_dataset("detector", data=maps.detector)
            if maps.config is not None:
                _json(p, "config", maps.config.to_dict())
            if maps.instrument is not None:
                p.create_dataset("instrument", data=maps.instrument.to_json()).attrs["content_type"] = \
                    JSON_CONTENT_TYPE
            _json(p, "timing", maps.timing or {})
            _json(p, "provenance", dict(provenance or {}))
            for pkg in ("xraydb", "numpy", "numba", "h5py", "lmfit"):
                v = _version(pkg)
                if v is not None:
                    p.create_dataset(f"{pkg}_version", data=v)

            _maps_group(f, d, g, x, y, cps if line else None)
            f.attrs[COMPLETE_ATTR] = True               # last: the file is complete


#: Version of the MAPS (XRF-Maps) layout written under /MAPS.
MAPS_VERSION = 10.0


def _is_line(grid) -> bool:
    return grid.kind in ("line", "point") and grid.shape[0] == 1


def _maps_group(f: h5py.File, d, g, x, y, cps3) -> None:
    """The MAPS layout of XRF-Maps: v10 locations (``/MAPS/Scan/x_axis``, ``/MAPS/version``) and the v9
    ones (``/MAPS/x_axis``) for older readers, as hard links to the NeXus datasets. MAPS readers want a
    3-D ``Counts_Per_Sec`` [channels, y, x]: for a line scan (1-D NeXus profiles) it is stored once
    more with a y axis of length 1 (a line holds a few hundred points: a small copy)."""
    m = f.create_group("MAPS")
    m.create_dataset("version", data=MAPS_VERSION)
    nn = m.create_group("XRF_Analyzed/NNLS")
    if cps3 is None:
        nn["Counts_Per_Sec"] = d                        # hard links, no copies
    else:
        c = nn.create_dataset("Counts_Per_Sec", data=cps3)
        c.attrs["units"] = UNITS
    nn["Channel_Names"] = g["element_names"]
    nn["Channel_Units"] = g["element_units"]
    scan = m.create_group("Scan")
    scan["x_axis"] = x
    scan["y_axis"] = y
    m["x_axis"] = x                                     # v9 locations
    m["y_axis"] = y


def is_results_file(path: str | os.PathLike) -> bool:
    """True for an HDF5 results file of the map fit (``/entry/maps``), complete or not.

    A damaged or unreadable file gives False: the scan readers then report what is wrong with it.
    """
    path = os.fspath(path)
    if not (os.path.isfile(path) and path.lower().endswith((".h5", ".hdf5", ".nxs"))):
        return False
    try:
        with h5py.File(path, "r") as f:
            return "entry/maps" in f or "entry/results/areas" in f
    except (OSError, RuntimeError, ValueError, KeyError):
        return False


def results_complete(path) -> bool:
    """True when ``path`` is a complete pixlspec results file (written to the end)."""
    try:
        if not os.path.isfile(path) or not h5py.is_hdf5(path):
            return False
        with h5py.File(path, "r") as f:
            return bool(f.attrs.get(COMPLETE_ATTR, False)) and "entry/maps/counts_per_sec" in f \
                and "entry/results/areas" in f
    except (OSError, KeyError, RuntimeError, ValueError):
        return False


def read_results_info(path) -> dict[str, Any]:
    """The provenance of a results file (``source``, ``provenance``, ``timing``, ``date``, ...)."""
    name = os.fspath(path)
    with open_hdf5(name) as f:
        try:
            p = f.get("entry/process")
            out: dict[str, Any] = {}
            if isinstance(p, h5py.Group):
                for key, ds in p.items():
                    if not isinstance(ds, h5py.Dataset):
                        continue
                    check_vlen_heap(ds, path=name, where=ds.name)
                    v = ds[()]
                    v = v.decode() if isinstance(v, bytes) else v
                    if ds.attrs.get("content_type") == JSON_CONTENT_TYPE:
                        try:
                            v = json.loads(v)
                        except (TypeError, json.JSONDecodeError):
                            pass
                    out[key] = v
            return out
        except (OSError, RuntimeError, KeyError, ValueError, TypeError) as e:
            raise HDF5FormatError(f"cannot read (damaged file?): {type(e).__name__}: {e}", path=name,
                                  where="/entry/process") from None


def _maps_from_group(rd: CheckedReader, g: h5py.Group, common: dict, n_points: int):
    from ..element_maps import ElementMaps
    from ..instrument import MAX_GEOMETRY_FACTOR
    from ..checks import check_point_times

    cols = rd.strings(g, "column_names")
    elements = rd.strings(g, "elements")
    twice = sorted({c for c in cols if cols.count(c) > 1})
    if twice:
        raise HDF5FormatError(f"column_names names {', '.join(twice)} more than once; expected one column each",
                              path=rd.name, where=f"{g.name}/column_names")
    stray = [e for e in elements if e not in cols]
    if stray:
        raise HDF5FormatError(f"elements {', '.join(stray)} have no column; expected each of elements among "
                              f"column_names ({', '.join(cols)})", path=rd.name, where=f"{g.name}/elements")
    areas = rd.array(g, "areas", (len(cols), n_points))
    sigma = rd.array(g, "sigma", (len(cols), n_points))
    valid = rd.array(g, "valid", (n_points,), kind="biuf").astype(bool)
    rd.finite(areas, "area", mask=np.broadcast_to(valid, areas.shape))
    rd.finite(sigma, "sigma", mask=np.broadcast_to(valid, sigma.shape))
    chi2 = rd.array(g, "chi2_reduced", (n_points,))
    dof = rd.array(g, "dof", (n_points,))
    live = rd.array(g, "live_time_s", (n_points,)).astype(np.float64)
    # 0: a point without data, as in scans (flagged invalid)
    check_point_times(live, what="live time", path=rd.name, where=rd.where, error_cls=HDF5FormatError)
    geometry = None
    if "geometry_factor" in g:
        geometry = rd.array(g, "geometry_factor", (n_points,)).astype(np.float64)
        bad = ~(np.isfinite(geometry) & (geometry > 0) & (geometry <= MAX_GEOMETRY_FACTOR))
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            raise HDF5FormatError(f"geometry_factor of point {i} is {geometry[i]}; expected a number in "
                                  f"(0, {MAX_GEOMETRY_FACTOR:g}]", path=rd.name, where=rd.where)
    return ElementMaps(elements=elements, columns=cols, detector=str(g.attrs.get("detector", "")),
                       point_areas={c: areas[i].copy() for i, c in enumerate(cols)},
                       point_sigma={c: sigma[i].copy() for i, c in enumerate(cols)},
                       chi2_reduced_points=chi2, dof=dof, valid=valid, live_time_s=live,
                       geometry_factor=geometry, **common)


def read_maps(path):
    """Read a results file written by :func:`write_maps` back into :class:`ElementMaps`.

    ``sum_fit`` holds each detector's :class:`~pixlspec.element_maps.SumFitRecord` (the sum spectrum,
    the fitted channels and the fit's summary), ``config`` the
    :class:`FitConfig`, ``instrument`` the :class:`Instrument`.

    Every dataset is checked (shape, type, finite values where the fit was valid,
    live times in range); any departure, and any failure of h5py on a damaged
    file, raises :class:`HDF5FormatError` naming the file and the dataset.
    """
    name = os.fspath(path)
    with open_hdf5(name) as f:
        rd = CheckedReader(f, name)
        try:
            return _read_maps(rd)
        except PixlspecError as e:
            if e.path is None:
                raise HDF5FormatError(e.message, path=name, where=rd.where) from None
            raise
        except (KeyError, ValueError, TypeError, IndexError, OSError, RuntimeError, AttributeError,
                OverflowError) as e:
            raise HDF5FormatError(f"not a pixlspec results file or damaged: {type(e).__name__}: {e}", path=name,
                                  where=rd.where) from None


def _read_maps(rd: CheckedReader):
    from ..config import FitConfig
    from ..geometry import GRID_KINDS, Grid
    from ..instrument import Instrument

    f, name = rd.f, rd.name
    rd.where = "/"
    if not f.attrs.get(COMPLETE_ATTR, False):
        raise HDF5FormatError("not a complete pixlspec results file (the completion mark "
                              f"@{COMPLETE_ATTR} is missing: interrupted or foreign file)", path=name)
    rd.where = "/entry/results"
    r = f["entry/results"]
    rd.where = "/entry/maps"
    g = f["entry/maps"]
    positions = rd.array(r, "positions")
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise HDF5FormatError(f"has shape {positions.shape}, expected (n_points, 3)", path=name, where=rd.where)
    if np.any(np.isinf(positions)):             # NaN: a position not known, as in scans
        raise HDF5FormatError("holds infinite positions; expected mm (NaN where unknown)", path=name,
                              where=rd.where)
    n_points = positions.shape[0]
    gd = rd.json(r, "grid")
    if not isinstance(gd, dict):
        raise HDF5FormatError("expected a JSON object", path=name, where=rd.where)
    if gd.get("kind") not in GRID_KINDS:
        raise HDF5FormatError(f"grid kind {gd.get('kind')!r}; expected one of {', '.join(GRID_KINDS)}", path=name,
                              where=rd.where)
    shape = tuple(int(v) for v in gd["shape"])
    step = float(gd["step_mm"])
    if len(shape) != 2 or min(shape) < 1 or not (np.isfinite(step) and step > 0):
        raise HDF5FormatError(f"grid shape {shape} and step {step} mm; expected 2 sizes >= 1 and a step > 0",
                              path=name, where=rd.where)
    origin = None if gd.get("origin_mm") is None else rd.finite(np.asarray(gd["origin_mm"], float), "origin")
    direction = None if gd.get("direction") is None else rd.finite(np.asarray(gd["direction"], float),
                                                                    "direction")
    x = rd.finite(rd.array(g, "x", (shape[1],)), "x")
    y = rd.finite(rd.array(g, "y", (shape[0],)), "y")
    index = rd.array(r, "grid_index", (n_points,), kind="iu")
    if index.size and (index.min() < -1 or index.max() >= shape[0] * shape[1]):
        raise HDF5FormatError(f"grid index outside -1..{shape[0] * shape[1] - 1}", path=name, where=rd.where)
    grid = Grid(kind=str(gd["kind"]), shape=shape, x=x, y=y, index=index, step_mm=step, origin_mm=origin,
                direction=direction)
    ids = rd.ds(r, "point_ids")
    check_vlen_heap(ids, path=name, where=rd.where)
    point_ids = np.asarray(str_list(ids)) if h5py.check_string_dtype(ids.dtype) else ids[()]
    if np.shape(point_ids) != (n_points,):
        raise HDF5FormatError(f"has shape {np.shape(point_ids)}, expected ({n_points},)", path=name,
                              where=rd.where)
    rd.where = "/entry/process"
    p = f["entry/process"]
    config = FitConfig.from_dict(rd.json(p, "config")) if "config" in p else None
    inst = Instrument.from_json(rd.text(p, "instrument")) if "instrument" in p else None
    source = rd.text(p, "source") or None
    timing = rd.json(p, "timing") if "timing" in p else {}
    sum_fit = {}
    rd.where = "/entry/sum_fit"
    for key, sg in f.get("entry/sum_fit", {}).items():
        sum_fit[key.removeprefix("detector_")] = _sum_fit_record(rd, sg)
    common = dict(positions_mm=positions, point_ids=point_ids, grid=grid, config=config,
                  instrument=inst, source=source)
    maps = _maps_from_group(rd, r, common, n_points)
    maps.sum_fit = sum_fit
    maps.timing = timing
    for key, sub in r.items():
        if isinstance(sub, h5py.Group) and key.startswith("detector_"):
            m = _maps_from_group(rd, sub, common, n_points)
            m.sum_fit = {m.detector: sum_fit.get(m.detector)} if m.detector in sum_fit else {}
            maps.per_detector[m.detector] = m
    return maps


def _sum_fit_record(rd: CheckedReader, sg: h5py.Group):
    """The :class:`~pixlspec.element_maps.SumFitRecord` of one detector's ``sum_fit`` group."""
    from ..element_maps import SumFitRecord
    from ..spectrum import Spectrum

    summary = rd.json(sg, "summary")
    arrays = {name: (rd.array(sg, name).astype(np.float64) if name in sg else np.zeros(0))
              for name in ("energy_eV", "counts", "model", "background")}
    spectrum = None
    if "spectrum_counts" in sg:
        ds = sg["spectrum_counts"]
        counts = rd.array(sg, "spectrum_counts").astype(np.float64)
        try:
            off, gain, quad = (float(v) for v in ds.attrs["energy_calibration"])
            spectrum = Spectrum(counts=counts, offset_eV=off, gain_eV_per_channel=gain, quadratic_eV=quad,
                                live_time_s=float(ds.attrs["live_time_s"]), detector=str(ds.attrs.get("detector", "")))
        except (KeyError, TypeError, ValueError, PixlspecError) as e:
            raise HDF5FormatError(f"sum spectrum is unreadable ({e})", path=rd.name, where=sg.name) from None
    return SumFitRecord(summary=summary, spectrum=spectrum, **arrays)


def _grid_of(f: h5py.File):
    """The Grid stored in a results file (None when it has none)."""
    from ..geometry import Grid

    r = f.get("entry/results")
    g = f.get("entry/maps")
    if r is None or g is None or "grid" not in r:
        return None
    gd = json.loads(r["grid"][()])
    return Grid(kind=gd["kind"], shape=tuple(gd["shape"]), x=g["x"][()], y=g["y"][()],
                index=r["grid_index"][()], step_mm=float(gd["step_mm"]),
                origin_mm=None if gd.get("origin_mm") is None else np.asarray(gd["origin_mm"]),
                direction=None if gd.get("direction") is None else np.asarray(gd["direction"]))


class Results(NamedTuple):
    """What a results file holds (:func:`read_results`)."""

    #: The element maps, with each detector's sum-spectrum fit (:class:`~pixlspec.element_maps.ElementMaps`).
    maps: Any
    #: The composition map (:class:`~pixlspec.composition.CompositionMap`), None when the maps were not
    #: quantified.
    composition: Any


def read_results(path) -> Results:
    """Everything a results file holds: the element maps (:func:`read_maps`) and the composition
    (:func:`read_composition_map`, None when the file holds none), both checked on reading.

    Raises
    ------
    HDF5FormatError
        A file that is not a results file, or a damaged one (naming the file and the dataset).
    PixlspecError
        A file that does not exist.
    """
    return Results(read_maps(path), read_composition_map(path, missing_ok=True))


def read_composition_map(path, group: str = "entry/composition", *, missing_ok: bool = False):
    """The composition stored in a results file, as a :class:`~pixlspec.composition.CompositionMap`.

    Point ids, positions, live times and the grid come from ``/entry/results``
    of the same file. Per-point iteration counts, element wt% and the balance
    are not stored and come back empty/NaN. With ``missing_ok``, a file that
    holds no composition gives None.

    Raises
    ------
    HDF5FormatError
        When the file holds a damaged composition, or none (unless ``missing_ok``).
    """
    from ..composition import CompositionMap

    name = os.fspath(path)
    with open_hdf5(name) as f:
        g = f.get(group)
        if not isinstance(g, h5py.Group):
            if missing_ok:
                return None
            raise HDF5FormatError("the file holds no composition (quantify the maps first, e.g. "
                                  "`pixlspec salts --out` or CompositionMap.to_hdf5)", path=name, where=group)
        try:
            rd = CheckedReader(f, name)
            oxides = str_list(g["oxide_names"])
            twice = [o for i, o in enumerate(oxides) if not o or o in oxides[:i]]
            if twice:
                raise HDF5FormatError(f"oxide {twice[0]!r} is named twice (or empty); expected each oxide once",
                                      path=name, where=f"/{group}/oxide_names")
            total = np.asarray(rd.array(g, "total_wt"), dtype=np.float64)
            if total.ndim != 1:
                raise HDF5FormatError(f"has shape {total.shape}, expected (n_points,)", path=name, where=rd.where)
            n = total.shape[0]

            def per_point(key):
                if key not in g:
                    return {o: np.full(n, np.nan) for o in oxides}
                a = np.asarray(rd.array(g, key, (len(oxides), n)), dtype=np.float64)
                bad = np.isinf(a) | (np.abs(np.nan_to_num(a)) > MAX_STORED_WT_PERCENT)
                if np.any(bad):      # NaN: not quantified (an invalid point)
                    i, k = (int(x) for x in np.argwhere(bad)[0])
                    raise HDF5FormatError(f"{oxides[i]} of point {k} is {a[i, k]}; expected wt% within "
                                          f"±{MAX_STORED_WT_PERCENT:g} (NaN where not quantified)", path=name,
                                          where=rd.where)
                return {o: a[i] for i, o in enumerate(oxides)}

            for key in ("valid", "converged"):
                if key in g:
                    rd.array(g, key, (n,), kind="biuf")

            r = f.get("entry/results")
            ids = pos = live = None
            if isinstance(r, h5py.Group):
                if "point_ids" in r:
                    ids = r["point_ids"]
                    ids = np.asarray(str_list(ids)) if h5py.check_string_dtype(ids.dtype) else ids[()]
                pos = r["positions"][()] if "positions" in r else None
                live = rd.array(r, "live_time_s", (n,)) if "live_time_s" in r else None
            src = f["entry/process/source"][()] if "entry/process/source" in f else b""
            src = (src.decode() if isinstance(src, bytes) else str(src)) or None
            a = g.attrs
            flags = json.loads(a.get("flags", "[]"))
            comp = CompositionMap(
                point_oxide_wt=per_point("oxide_wt"), point_sigma=per_point("oxide_wt_errors"),
                point_lod=per_point("lod_wt"), point_element_wt={},
                point_total=total,
                valid=np.asarray(g["valid"][()], dtype=bool) if "valid" in g else np.ones(n, bool),
                normalised=bool(a.get("normalised", False)), balance=str(a.get("balance", "")) or None,
                point_balance_wt=np.full(n, np.nan), air_fraction=float(a.get("air_fraction", 0.0)),
                calibrated=bool(a.get("calibrated", False)), fe_oxide=str(a.get("fe_oxide", "FeO")),
                converged=np.asarray(g["converged"][()], dtype=bool) if "converged" in g else np.ones(n, bool),
                groups=[], flags=list(flags), point_flags={}, grid=_grid_of(f),
                detector=str(a.get("detector", "")), live_time_s=live, source=src, point_ids=ids,
                positions_mm=pos)
        except (KeyError, ValueError, TypeError) as e:
            raise HDF5FormatError(f"damaged composition: {e}", path=name, where=group) from None
    return comp


def read_sum_spectra(path) -> dict[str, dict[str, Any]]:
    """Each detector's sum-spectrum fit stored in a results file.

    Returns
    -------
    dict
        Detector → ``{"energy_eV", "counts", "model", "background"}`` (arrays over
        the fitted channels) and ``"summary"`` (the fit's JSON summary: live
        time, calibration, resolution). Detectors stored as a summary only are
        left out.
    """
    name = os.fspath(path)
    out: dict[str, dict[str, Any]] = {}
    with open_hdf5(name) as f:
        s = f.get("entry/sum_fit")
        if not isinstance(s, h5py.Group):
            return out
        for key, sg in s.items():
            if not isinstance(sg, h5py.Group) or "counts" not in sg:
                continue
            try:
                d = {k: np.asarray(sg[k][()], dtype=np.float64) for k in ("energy_eV", "counts", "model",
                                                                          "background")}
                d["summary"] = json.loads(sg["summary"][()]) if "summary" in sg else {}
            except (KeyError, ValueError) as e:
                raise HDF5FormatError(f"damaged sum-spectrum fit: {e}", path=name,
                                      where=f"entry/sum_fit/{key}") from None
            out[key.removeprefix("detector_")] = d
    return out


def write_composition(comp, path, group: str = "entry/composition") -> None:
    """Write a :class:`~pixlspec.composition.CompositionMap` as NeXus NXdata into ``path``, atomically.

    Layout of ``group`` (NXdata, @signal="oxide_wt_map")::

        oxide_wt_map          [n_oxides, ny, nx] wt% on the map grid (line scans: [n_oxides, n],
                              axes [".", "x"] with x the distance along the line); NaN: no point
        oxide_wt_map_errors   1σ, same shape
        total_wt_map          [ny, nx] (line: [n]) analytical total
        oxide_names, x, y     (@units="mm")
        oxide_wt, oxide_wt_errors, lod_wt  [n_oxides, n_points]  per point, acquisition order
        total_wt, valid, converged         [n_points]
        @normalised, @fe_oxide, @calibrated, @detector, @balance, @air_fraction, @flags (JSON)

    Without a grid the signal is the per-point ``oxide_wt`` against the point index.
    An existing file (e.g. the results file) is copied, extended and renamed
    into place; an existing group of that name is replaced.
    """
    import shutil

    name = os.fspath(path)
    names = list(comp.point_oxide_wt)
    wt = np.array([comp.point_oxide_wt[n] for n in names], dtype=np.float64).reshape(len(names), -1)
    sig = np.array([comp.point_sigma[n] for n in names], dtype=np.float64).reshape(len(names), -1)
    lod = np.array([comp.point_lod[n] for n in names], dtype=np.float64).reshape(len(names), -1)
    grid = comp.grid if comp.grid is not None and hasattr(comp.grid, "to_grid") else None
    with atomic_path(name) as tmp:
        if os.path.exists(name):
            shutil.copyfile(name, tmp)
            mode = "a"
        else:
            mode = "w"
        with h5py.File(tmp, mode) as f:
            if group in f:
                del f[group]
            g = f.require_group(group)
            if "entry" in f and "NX_class" not in f["entry"].attrs:
                f["entry"].attrs["NX_class"] = "NXentry"
            g.attrs["NX_class"] = "NXdata"
            _strings(g, "oxide_names", names)
            for key, a, what in (("oxide_wt", wt, "oxide wt%"), ("oxide_wt_errors", sig, "1 sigma"),
                                 ("lod_wt", lod, "3 sigma limit of detection")):
                ds = g.create_dataset(key, data=a)
                ds.attrs["units"] = "wt%"
                ds.attrs["long_name"] = f"{what} per point (acquisition order)"
            g.create_dataset("total_wt", data=np.asarray(comp.point_total, dtype=np.float64)).attrs["units"] = "wt%"
            g.create_dataset("valid", data=np.asarray(comp.valid, dtype=bool))
            g.create_dataset("converged", data=np.asarray(comp.converged, dtype=bool))
            if grid is not None:
                line = _is_line(grid)
                on_grid = np.moveaxis(grid.to_grid(wt.T), -1, 0)          # [n_ox, ny, nx]
                err_grid = np.moveaxis(grid.to_grid(sig.T), -1, 0)
                tot_grid = grid.to_grid(np.asarray(comp.point_total, dtype=np.float64))
                if line:
                    on_grid, err_grid, tot_grid = on_grid[:, 0, :], err_grid[:, 0, :], tot_grid[0]
                    g.attrs["axes"] = [".", "x"]
                    g.attrs["x_indices"] = 1
                else:
                    g.attrs["axes"] = [".", "y", "x"]
                    g.attrs["y_indices"] = 1
                    g.attrs["x_indices"] = 2
                d = g.create_dataset("oxide_wt_map", data=on_grid)
                d.attrs["units"] = "wt%"
                d.attrs["long_name"] = "oxide wt%"
                d.attrs["interpretation"] = "spectrum" if line else "image"
                g.create_dataset("oxide_wt_map_errors", data=err_grid).attrs["units"] = "wt%"
                t = g.create_dataset("total_wt_map", data=tot_grid)
                t.attrs["units"] = "wt%"
                t.attrs["long_name"] = "analytical total (wt%)"
                x = g.create_dataset("x", data=np.asarray(grid.x, dtype=np.float64))
                x.attrs["units"] = "mm"
                x.attrs["long_name"] = "distance along the line (mm)" if grid.kind == "line" else "x (mm)"
                y = g.create_dataset("y", data=np.asarray(grid.y, dtype=np.float64))
                y.attrs["units"] = "mm"
                y.attrs["long_name"] = "y (mm)"
                g.attrs["signal"] = "oxide_wt_map"
            else:
                g.attrs["signal"] = "oxide_wt"
                g.attrs["axes"] = [".", "point"]
                g.attrs["point_indices"] = 1
                g["oxide_wt"].attrs["interpretation"] = "spectrum"
                g.create_dataset("point", data=np.arange(wt.shape[1]))
            g.attrs["normalised"] = bool(comp.normalised)
            g.attrs["fe_oxide"] = comp.fe_oxide
            g.attrs["calibrated"] = bool(comp.calibrated)
            g.attrs["detector"] = comp.detector
            g.attrs["balance"] = comp.balance or ""
            g.attrs["air_fraction"] = float(comp.air_fraction)
            g.attrs["flags"] = json.dumps(list(comp.flags))
