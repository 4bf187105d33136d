"""Reading scan files lazily (:func:`open_scan`), rows of spectra (:func:`read_rows`) and provenance (:func:`read_process`)."""
from __future__ import annotations

import contextvars
import json
import logging
import os
from typing import Any

import h5py
import numpy as np

from ...checks import check_point_ids, check_point_times
from ...errors import ConfigError, HDF5FormatError, PixlspecError
from ...instrument import Instrument
from ...spectrum import Scan, check_calibration, check_real_time
from ..files import check_input_file
from ..h5guard import check_vlen_heap
from .layout import (CHUNK_CACHE_BYTES, CHUNK_CACHE_SLOTS, DETECTOR_PREFIX, ENTRY, INSTRUMENT, PROCESS, SAMPLE,
                     detector_group_name, unescape_key)

__all__ = ["open_scan", "read_rows", "read_process", "blosc_rows_readable", "BLOSC_FILTER_ID"]

log = logging.getLogger("pixlspec.io.hdf5")


def open_scan(path, instrument: Instrument | None = None) -> Scan:
    """Open a scan file lazily.

    The returned :class:`Scan` keeps the HDF5 file open and holds the
    ``spectra`` datasets themselves as its counts: nothing is read until
    points are asked for (``scan.counts(det, points)``, ``scan.spectrum(i)``,
    ``scan.iter_chunks()``), and then only the chunks holding those points.
    Live and real times, positions, point ids, point metadata and calibration
    are read at once (small). Close with ``scan.close()`` or use the scan as
    a context manager.

    Parameters
    ----------
    path : str, os.PathLike or binary file object
        A scan file written by :func:`write_scan` (or any file of that layout).
    instrument : Instrument, optional
        Overrides the instrument stored in the file.

    Returns
    -------
    Scan

    Raises
    ------
    PixlspecError
        The file does not exist.
    HDF5FormatError
        Not an HDF5 file, truncated, or lacking a dataset of the layout (the
        message names the file and the dataset path and what was expected).
    """
    is_fileobj = hasattr(path, "read") and hasattr(path, "seek")
    name = getattr(path, "name", "<file object>") if is_fileobj else os.fspath(path)
    name = os.fspath(name) if isinstance(name, (str, os.PathLike)) else str(name)
    if not is_fileobj:
        if not os.path.exists(name):
            raise PixlspecError("no such file", path=name)
        if os.path.isdir(name):
            raise HDF5FormatError("is a folder, expected an HDF5 scan file", path=name)
        check_input_file(name, kind="hdf5", error_cls=HDF5FormatError)
        if not h5py.is_hdf5(name):
            raise HDF5FormatError("not an HDF5 file (no HDF5 signature); expected a pixlspec scan "
                                  "file (.h5)", path=name)
    import hdf5plugin  # noqa: F401  (registers the Blosc/LZ4/... decompression filters)

    try:
        f = h5py.File(path, "r", rdcc_nbytes=CHUNK_CACHE_BYTES, rdcc_nslots=CHUNK_CACHE_SLOTS)
    except OSError as e:
        raise HDF5FormatError(f"cannot open as HDF5 (truncated or damaged file?): {e}", path=name) from None
    try:
        return _scan_from_file(f, name, instrument)
    except PixlspecError:
        f.close()
        raise
    except (OSError, RuntimeError, ValueError, KeyError, TypeError, IndexError, OverflowError) as e:
        # h5py on a damaged file: corrupt object headers, heaps, B-trees or chunks
        f.close()
        raise HDF5FormatError(f"cannot read (damaged file?): {type(e).__name__}: {e}", path=name,
                              where=_READING.get()) from None
    except BaseException:
        f.close()
        raise


#: HDF5 filter id of Blosc (registered by hdf5plugin).
BLOSC_FILTER_ID = 32001


def blosc_rows_readable(ds: h5py.Dataset):
    """The blosc2 module when ``ds`` can be read chunk by chunk without the HDF5 filter pipeline:
    2-D, Blosc its only filter, chunks spanning whole rows; else None."""
    if ds.ndim != 2 or ds.chunks is None or ds.chunks[1] != ds.shape[1]:
        return None
    plist = ds.id.get_create_plist()
    if plist.get_nfilters() != 1 or plist.get_filter(0)[0] != BLOSC_FILTER_ID:
        return None
    try:
        import blosc2
    except ImportError:  # pragma: no cover  (optional speed-up)
        return None
    return blosc2


def read_rows(ds: h5py.Dataset, start: int = 0, stop: int | None = None, *, on_rows=None,
              path: str | None = None) -> np.ndarray:
    """Rows ``start:stop`` of a 2-D dataset (a detector's spectra) into one array.

    Blosc-compressed datasets chunked by whole rows (what :func:`write_scan` writes) are
    read chunk by chunk with ``read_direct_chunk`` and decompressed by ``blosc2`` straight
    into the result: ~1.3x faster than the HDF5 filter pipeline, which decompresses into
    its chunk cache and copies. Anything else is read by h5py.

    Parameters
    ----------
    ds : h5py.Dataset
    start, stop : int
        Row range (default: every row).
    on_rows : callable, optional
        ``on_rows(start, stop, rows)`` is called with each block of rows as soon as it is in
        memory, while it is still in the CPU cache (e.g. to sum the spectra on the way).
        Row numbers are those of the dataset.
    path : str, optional
        File name for error messages.

    Returns
    -------
    ndarray
        ``(stop - start, n_channels)``.
    """
    n = ds.shape[0]
    stop = n if stop is None else min(int(stop), n)
    start = min(max(int(start), 0), n)
    stop = max(stop, start)
    if stop == start:
        return np.empty((0,) + ds.shape[1:], ds.dtype)
    blosc2 = blosc_rows_readable(ds)

    def hdf5_rows(lo: int, hi: int) -> np.ndarray:
        try:
            return np.asarray(ds[lo:hi])
        except (OSError, RuntimeError, ValueError) as e:
            raise HDF5FormatError(f"cannot read points {lo}-{hi} (truncated or damaged file?): {e}", path=path,
                                  where=ds.name) from None

    if blosc2 is None:
        out = hdf5_rows(start, stop)
        if on_rows is not None:
            on_rows(start, stop, out)
        return out
    # one thread: blosc's own threads gain nothing on chunks of this size, and their
    # spinning afterwards slows the numba threads that fit the spectra next
    if blosc2.nthreads != 1:
        blosc2.set_nthreads(1)
    out = np.empty((stop - start,) + ds.shape[1:], ds.dtype)
    rows = ds.chunks[0]
    dsid = ds.id
    spare = None
    for c0 in range((start // rows) * rows, stop, rows):
        lo, hi = max(c0, start), min(c0 + rows, stop)   # the rows wanted from this chunk
        dst = out[lo - start:hi - start]
        try:
            mask, raw = dsid.read_direct_chunk((c0, 0))
            if mask:  # the filter was skipped for this chunk (stored as is): let HDF5 read it
                raise ValueError("unfiltered chunk")
            if lo == c0 and hi == c0 + rows:
                blosc2.decompress(raw, dst=dst)
            else:  # part of a chunk (chunks are stored whole): decompress aside, keep the rows
                if spare is None:
                    spare = np.empty((rows,) + ds.shape[1:], ds.dtype)
                blosc2.decompress(raw, dst=spare)
                dst[...] = spare[lo - c0:hi - c0]
        except (OSError, RuntimeError, ValueError, TypeError):
            # whatever is not a stored Blosc chunk (never written: the fill value; skipped filter;
            # a frame blosc2 cannot take), the HDF5 filter pipeline reads, or reports
            dst[...] = hdf5_rows(lo, hi)
        if on_rows is not None:
            on_rows(lo, hi, dst)
    return out


#: The dataset or group being read (named by the error when h5py fails on a damaged file).
_READING: contextvars.ContextVar[str | None] = contextvars.ContextVar("pixlspec_hdf5_reading", default=None)


def _require(f: h5py.File | h5py.Group, where: str, kind: type, name: str, expected: str):
    _READING.set(where)
    obj = f.get(where)
    if obj is None:
        raise HDF5FormatError(f"missing; expected {expected}", path=name, where=where)
    if not isinstance(obj, kind):
        raise HDF5FormatError(f"is a {type(obj).__name__}, expected {expected}", path=name, where=where)
    return obj


def _read_str(ds: h5py.Dataset) -> str:
    check_vlen_heap(ds, path=ds.file.filename, where=ds.name)
    v = ds[()]
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def _read_json(f: h5py.File, where: str, name: str, default):
    ds = f.get(where)
    if ds is None:
        return default
    if not isinstance(ds, h5py.Dataset):
        raise HDF5FormatError("expected a JSON string dataset", path=name, where=where)
    try:
        return json.loads(_read_str(ds))
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as e:
        raise HDF5FormatError(f"invalid JSON ({e})", path=name, where=where) from None


def _read_array(ds: h5py.Dataset) -> np.ndarray:
    if h5py.check_string_dtype(ds.dtype) is not None:
        check_vlen_heap(ds, path=ds.file.filename, where=ds.name)
        return np.asarray(ds.asstr()[()], dtype=str)
    return np.asarray(ds[()])


def _detector_names(f: h5py.File, name: str) -> list[tuple[str, str]]:
    """``[(detector name, group path), ...]`` in the stored order."""
    inst = _require(f, INSTRUMENT, h5py.Group, name, "an NXinstrument group with detector_* groups")
    listed = inst.attrs.get("pixlspec_detectors")
    if listed is not None:
        names = [x.decode() if isinstance(x, bytes) else str(x) for x in np.atleast_1d(listed)]
        out = []
        for det in names:
            where = f"{INSTRUMENT}/{detector_group_name(det)}"
            _require(f, where, h5py.Group, name, f"an NXdetector group for detector {det!r} (listed in "
                     f"{INSTRUMENT}/@pixlspec_detectors)")
            out.append((det, where))
    else:
        out = []
        for key in sorted(inst):
            if key.startswith(DETECTOR_PREFIX) and isinstance(inst[key], h5py.Group):
                local = inst[key].get("local_name")
                det = _read_str(local) if isinstance(local, h5py.Dataset) else key[len(DETECTOR_PREFIX):]
                out.append((det, f"{INSTRUMENT}/{key}"))
    if not out:
        raise HDF5FormatError(f"no detector groups; expected {INSTRUMENT}/{DETECTOR_PREFIX}A, ...",
                              path=name, where=INSTRUMENT)
    return out


def _per_point(f, where: str, name: str, n_points: int, required: bool = True) -> np.ndarray | None:
    ds = f.get(where)
    if ds is None and not required:
        return None
    ds = _require(f, where, h5py.Dataset, name, f"a dataset of shape ({n_points},)")
    if ds.shape != (n_points,):
        raise HDF5FormatError(f"has shape {ds.shape}, expected ({n_points},) (one value per point)",
                              path=name, where=where)
    return _read_array(ds)


def _times(values: np.ndarray, where: str, name: str, *, live: bool) -> np.ndarray:
    """Per-point live or real times as float64: live times 0 (a point without data, flagged by the map fit)
    or within :func:`~pixlspec.checks.check_point_times`'s bounds, real times finite, >= 0 and bounded."""
    if values.dtype.kind not in "iuf":
        raise HDF5FormatError(f"has dtype {values.dtype}, expected times in s", path=name, where=where)
    a = np.asarray(values, dtype=np.float64)
    if live:
        check_point_times(a, what="live time", path=name, where=where, error_cls=HDF5FormatError)
    elif a.size:
        finite = np.isfinite(a)
        # any bad value is the smallest or the largest one (a non-finite one counts as both)
        for i in sorted({int(np.argmin(np.where(finite, a, -np.inf))), int(np.argmax(np.where(finite, a, np.inf)))}):
            check_real_time(a[i], what=f"value of point {i}", path=name, where=where, error_cls=HDF5FormatError)
    return a


def _lazy_column(group: h5py.Group, member: str, name: str, n_points: int):
    """A loader of one point-metadata column, read when first used (see :class:`PointMetadata`)."""
    where = f"{SAMPLE}/point_metadata/{member}"

    def load() -> np.ndarray:
        try:
            ds = group[member]
            if not isinstance(ds, h5py.Dataset):
                raise HDF5FormatError("is not a dataset; expected one value per point", path=name, where=where)
            if ds.shape[:1] != (n_points,):
                raise HDF5FormatError(f"has shape {ds.shape}, expected ({n_points},) (one value per point)",
                                      path=name, where=where)
            return _read_array(ds)
        except (OSError, ValueError, KeyError, RuntimeError, TypeError) as e:
            raise HDF5FormatError(f"cannot read this point-metadata column ({e}); was the scan closed "
                                  "before it was used?", path=name, where=where) from None
    return load


def _scan_from_file(f: h5py.File, name: str, instrument: Instrument | None) -> Scan:
    _require(f, ENTRY, h5py.Group, name, "an NXentry group (is this a pixlspec scan file?)")
    counts, live, real, calibration = {}, {}, {}, {}
    ref = None  # (detector, where, shape)
    for det, gpath in _detector_names(f, name):
        where = f"{gpath}/spectra"
        ds = _require(f, where, h5py.Dataset, name, "a 2-D dataset [n_points, n_channels] of counts")
        if ds.ndim != 2:
            raise HDF5FormatError(f"has shape {ds.shape}, expected 2-D [n_points, n_channels]",
                                  path=name, where=where)
        if ds.dtype.kind not in "uif":
            raise HDF5FormatError(f"has dtype {ds.dtype}, expected numeric counts", path=name, where=where)
        if ref is not None and ds.shape[0] != ref[2][0]:
            raise HDF5FormatError(f"has {ds.shape[0]} points, expected {ref[2][0]} like {ref[1]} (every "
                                  "detector must have the same points)", path=name, where=where)
        if ref is not None and ds.shape[1] != ref[2][1]:
            raise HDF5FormatError(f"has {ds.shape[1]} channels, expected {ref[2][1]} like {ref[1]} (every "
                                  "detector must have the same number of channels)", path=name, where=where)
        ref = ref or (det, where, ds.shape)
        n_points = ds.shape[0]
        counts[det] = ds
        live[det] = _times(_per_point(f, f"{gpath}/live_time_s", name, n_points), f"{gpath}/live_time_s", name,
                           live=True)
        rt = _per_point(f, f"{gpath}/real_time_s", name, n_points, required=False)
        if rt is not None:
            real[det] = _times(rt, f"{gpath}/real_time_s", name, live=False)
        cwhere = f"{gpath}/energy_calibration"
        cal = _require(f, cwhere, h5py.Dataset, name, "a dataset [offset_eV, gain_eV_per_channel, "
                       "quadratic_eV]")
        if cal.shape not in ((2,), (3,)):
            raise HDF5FormatError(f"has shape {cal.shape}, expected (3,) [offset_eV, gain_eV_per_channel, "
                                  "quadratic_eV]", path=name, where=cwhere)
        if cal.dtype.kind not in "iuf":
            raise HDF5FormatError(f"has dtype {cal.dtype}, expected numbers", path=name, where=cwhere)
        calibration[det] = check_calibration(*cal[()], ds.shape[1], what="energy calibration", path=name,
                                             where=cwhere, error_cls=HDF5FormatError)

    n_points = ref[2][0]
    pwhere = f"{SAMPLE}/positions"
    pos = _require(f, pwhere, h5py.Dataset, name, f"a dataset of shape ({n_points}, 3) in mm")
    if pos.shape != (n_points, 3):
        raise HDF5FormatError(f"has shape {pos.shape}, expected ({n_points}, 3) (x, y, z in mm per point)",
                              path=name, where=pwhere)
    if pos.dtype.kind not in "iuf":
        raise HDF5FormatError(f"has dtype {pos.dtype}, expected numbers (mm)", path=name, where=pwhere)
    positions = np.asarray(pos[()], dtype=np.float64)
    if np.any(np.isinf(positions)):          # NaN is allowed: a position not known
        bad = int(np.argwhere(np.isinf(positions))[0][0])
        raise HDF5FormatError(f"position of point {bad} is infinite ({positions[bad].tolist()}); expected "
                              "x, y, z in mm (NaN where unknown)", path=name, where=pwhere)
    point_ids = _per_point(f, f"{SAMPLE}/point_ids", name, n_points)
    check_point_ids(point_ids, what="point id", path=name, where=f"{SAMPLE}/point_ids", error_cls=HDF5FormatError)
    point_metadata = {}
    pm = f.get(f"{SAMPLE}/point_metadata")
    if isinstance(pm, h5py.Group):
        # the key of a column is its unescaped name (what write_scan stores in its "key"
        # attribute); members are typed without being opened, datasets read on first use
        for member in pm:
            if pm.get(member, getclass=True) is h5py.Dataset:
                point_metadata[unescape_key(member)] = _lazy_column(pm, member, name, n_points)

    if instrument is None:
        iwhere = f"{PROCESS}/instrument"
        ids = f.get(iwhere)
        if ids is None:
            instrument = Instrument.pixl()
        else:
            if not isinstance(ids, h5py.Dataset):
                raise HDF5FormatError("expected a dataset holding the Instrument as JSON", path=name,
                                      where=iwhere)
            try:
                instrument = Instrument.from_json(_read_str(ids))
            except ConfigError as e:
                raise HDF5FormatError(f"invalid instrument JSON: {e}", path=name, where=iwhere) from None
    metadata = _read_json(f, f"{ENTRY}/scan_metadata", name, {})
    if not isinstance(metadata, dict):
        raise HDF5FormatError(f"holds a JSON {type(metadata).__name__}, expected an object", path=name,
                              where=f"{ENTRY}/scan_metadata")
    return Scan(counts, live, positions_mm=positions, point_ids=point_ids, real_time_s=real or None,
                calibration=calibration, instrument=instrument, metadata=metadata, source=name,
                point_metadata=point_metadata, _file=f)


def read_process(path) -> dict[str, Any]:
    """What a scan file records about how it was made.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    dict
        ``program``, ``version``, ``date``, ``*_version`` of the libraries,
        ``provenance`` (dict) and ``compression`` (per detector); keys absent
        from the file are absent here.
    """
    name = os.fspath(path)
    if not os.path.exists(name):
        raise PixlspecError("no such file", path=name)
    check_input_file(name, kind="hdf5", error_cls=HDF5FormatError)
    if not h5py.is_hdf5(name):
        raise HDF5FormatError("not an HDF5 file", path=name)
    try:
        f = h5py.File(name, "r")
    except OSError as e:
        raise HDF5FormatError(f"cannot open as HDF5 (truncated or damaged file?): {e}", path=name) from None
    try:
        with f:
            return _read_process(f, name)
    except PixlspecError:
        raise
    except (OSError, RuntimeError, ValueError, KeyError, TypeError, IndexError) as e:
        raise HDF5FormatError(f"cannot read (damaged file?): {type(e).__name__}: {e}", path=name,
                              where=PROCESS) from None


def _read_process(f: h5py.File, name: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    p = f.get(PROCESS)
    if isinstance(p, h5py.Group):
        for key, ds in p.items():
            if key in ("instrument", "provenance") or not isinstance(ds, h5py.Dataset):
                continue
            if h5py.check_string_dtype(ds.dtype) is not None and ds.shape == ():
                out[key] = _read_str(ds)
        out["provenance"] = _read_json(f, f"{PROCESS}/provenance", name, {})
    inst = f.get(INSTRUMENT)
    if isinstance(inst, h5py.Group):
        comp = {}
        for key, g in inst.items():
            ds = g.get("spectra") if isinstance(g, h5py.Group) else None
            if isinstance(ds, h5py.Dataset):
                c = ds.attrs.get("pixlspec_compression")
                comp[key[len(DETECTOR_PREFIX):] if key.startswith(DETECTOR_PREFIX) else key] = {
                    "compression": str(c) if c is not None else (ds.compression or "unknown"),
                    "dtype": str(ds.dtype), "chunks": list(ds.chunks) if ds.chunks else None}
        out["storage"] = comp
    return out
