"""Writing scan files atomically (:func:`write_scan`)."""
from __future__ import annotations

import datetime
import importlib.metadata
import json
import logging
import os
import pathlib
from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np

from ...errors import ConfigError, HDF5FormatError
from ...spectrum import Scan, validate_counts
from ..atomic import atomic_path
from .layout import (DEFAULT_COMPRESSION, ENTRY, INSTRUMENT, JSON_CONTENT_TYPE, MAX_CHUNK_POINTS, MIN_CHUNK_POINTS,
                     NEW_FILE_MODE, TARGET_CHUNK_BYTES, UINT16_MAX, UINT32_MAX, WRITE_BLOCK_CHUNKS, compression_kwargs,
                     detector_group_name, escape_key)

__all__ = ["write_scan"]

log = logging.getLogger("pixlspec.io.hdf5")


def write_scan(scan: Scan, path: str | os.PathLike, *, compression: str | None = DEFAULT_COMPRESSION,
               chunk_points: int | None = None, provenance: Mapping[str, Any] | None = None) -> None:
    """Write ``scan`` to a NeXus-style HDF5 scan file, atomically.

    Parameters
    ----------
    scan : Scan
        The scan; in memory or file-backed (then streamed chunk by chunk).
        It is not modified.
    path : str or os.PathLike
        Target file (``.h5``, ``.hdf5`` or ``.nxs`` by convention). The file is
        written to a temporary file beside it and renamed into place only when
        complete; on any error nothing is left at ``path`` (an existing file
        there is left untouched).
    compression : str or None
        One of :data:`COMPRESSIONS` (``"blosc-lz4"``, ``"lzf"``, ``"gzip"``,
        ``"none"``, ...); ``None`` means ``"none"``.
    chunk_points : int, optional
        Points per chunk of ``spectra``; by default about 1 MiB per chunk
        (128 points of 4096 uint16 channels).
    provenance : mapping, optional
        JSON-serialisable description of where the data came from (source
        files, attribution, licence, ...), stored in ``/entry/process/provenance``.
        ``{"source": scan.source}`` is added when the scan has a source and
        the mapping has no ``"source"``.

    Notes
    -----
    Counts are stored as ``uint16`` when they are all integers <= 65535,
    ``uint32`` when integers <= 4294967295, and ``float64`` otherwise, so the
    values read back are exactly those written.

    Raises
    ------
    ConfigError
        Unknown ``compression`` or ``chunk_points`` < 1.
    """
    filters = compression_kwargs(compression)
    if chunk_points is not None and int(chunk_points) < 1:
        raise ConfigError(f"chunk_points must be >= 1, got {chunk_points}", where="chunk_points")
    prov = dict(provenance or {})
    if scan.source is not None and "source" not in prov:
        prov["source"] = str(scan.source)
    comp_name = "none" if compression is None else compression
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", track_order=True) as f:
            _write_root(f, scan)
            for det in scan.detectors:
                _write_detector(f, scan, det, filters, comp_name, chunk_points)
            _write_sample(f, scan)
            _write_process(f, scan, prov)
            _write_default_plot(f, scan)
        os.chmod(tmp, _new_file_mode())  # the temporary file is private (0600); give the usual mode


def _new_file_mode() -> int:
    """Permissions of a newly created file under the current umask (e.g. 0644)."""
    umask = os.umask(0)
    os.umask(umask)
    return NEW_FILE_MODE & ~umask


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (pathlib.PurePath, os.PathLike)):
        return os.fspath(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=str)
    if isinstance(obj, (datetime.date, datetime.datetime)):
        return obj.isoformat()
    log.warning("a %s in the metadata is not JSON-serialisable; stored as its text %.60r",
                type(obj).__name__, str(obj))
    return str(obj)


def _to_json(obj) -> str:
    return json.dumps(obj, default=_json_default, ensure_ascii=False, allow_nan=True)


def _json_dataset(group: h5py.Group, name: str, obj) -> None:
    ds = group.create_dataset(name, data=_to_json(obj))
    ds.attrs["content_type"] = JSON_CONTENT_TYPE


def _write_root(f: h5py.File, scan: Scan) -> None:
    f.attrs["default"] = "entry"
    f.attrs["NX_class"] = "NXroot"
    f.attrs["creator"] = "pixlspec"
    f.attrs["file_time"] = _now_iso()
    f.attrs["HDF5_Version"] = h5py.version.hdf5_version
    f.attrs["h5py_version"] = h5py.version.version
    entry = f.create_group("entry")
    entry.attrs["NX_class"] = "NXentry"
    entry.attrs["default"] = "data"
    title = scan.metadata.get("target") or (os.path.basename(str(scan.source)) if scan.source
                                            else "pixlspec scan")
    entry.create_dataset("title", data=str(title))
    _json_dataset(entry, "scan_metadata", scan.metadata)
    inst = entry.create_group("instrument")
    inst.attrs["NX_class"] = "NXinstrument"
    inst.attrs["pixlspec_detectors"] = list(scan.detectors)
    inst.create_dataset("name", data=scan.instrument.name)


def _chunk_points_for(n_points: int, n_channels: int, itemsize: int, chunk_points: int | None) -> int:
    if chunk_points is None:
        chunk_points = TARGET_CHUNK_BYTES // max(1, n_channels * itemsize)
        chunk_points = min(max(chunk_points, MIN_CHUNK_POINTS), MAX_CHUNK_POINTS)
    return max(1, min(int(chunk_points), n_points))


def _source_rows(scan: Scan, det: str, src, start: int, stop: int) -> np.ndarray:
    """Counts ``start:stop`` of the scan being written, read and checked (finite, >= 0, bounded):
    a scan file never receives counts that no reader would accept."""
    where = getattr(src, "name", None) or f"counts of detector {det}"
    try:
        block = np.asarray(src[start:stop])
    except (OSError, RuntimeError, ValueError, KeyError, TypeError) as e:
        raise HDF5FormatError(f"cannot read points {start}-{stop} (truncated or damaged file?): {e}",
                              path=scan.source, where=where) from None
    if block.dtype.kind == "f" or (block.dtype.kind == "i" and block.size and block.min() < 0):
        validate_counts(block, where=f"{where}, points {start}-{stop}", path=scan.source,
                        error_cls=HDF5FormatError)
    return block


def _storage_dtype(scan: Scan, det: str, block_points: int) -> np.dtype:
    """Smallest dtype that holds the counts of ``det`` exactly."""
    src = scan.raw_counts(det)
    src_dtype = np.dtype(src.dtype)
    if src_dtype.kind == "u" and src_dtype.itemsize <= 2:
        return np.dtype(np.uint16)
    integer = src_dtype.kind in "iub"
    max_count = 0.0
    for start in range(0, scan.n_points, block_points):
        block = _source_rows(scan, det, src, start, start + block_points)
        if block.size == 0:
            continue
        if not integer and not np.array_equal(block, np.floor(block)):
            return np.dtype(np.float64)
        max_count = max(max_count, float(block.max()))
    if max_count <= UINT16_MAX:
        return np.dtype(np.uint16)
    if max_count <= UINT32_MAX:
        return np.dtype(np.uint32)
    return np.dtype(np.float64)


def _write_detector(f: h5py.File, scan: Scan, det: str, filters: dict, comp_name: str,
                    chunk_points: int | None) -> None:
    n, nch = scan.n_points, scan.n_channels
    g = f[INSTRUMENT].create_group(detector_group_name(det))
    g.attrs["NX_class"] = "NXdetector"
    g.create_dataset("local_name", data=str(det))
    # first pass (block-wise, bounded memory) decides the dtype
    probe_points = _chunk_points_for(n, nch, 8, chunk_points) * WRITE_BLOCK_CHUNKS
    dtype = _storage_dtype(scan, det, max(1, probe_points))
    cp = _chunk_points_for(n, nch, dtype.itemsize, chunk_points)
    if n == 0:
        ds = g.create_dataset("spectra", shape=(0, nch), dtype=dtype)
    else:
        ds = g.create_dataset("spectra", shape=(n, nch), dtype=dtype, chunks=(cp, nch), **filters)
    ds.attrs["units"] = "counts"
    ds.attrs["interpretation"] = "spectrum"
    ds.attrs["pixlspec_compression"] = comp_name
    src = scan.raw_counts(det)
    block = cp * WRITE_BLOCK_CHUNKS
    for start in range(0, n, block):
        stop = min(start + block, n)
        data = _source_rows(scan, det, src, start, stop)
        ds[start:stop] = data if data.dtype == dtype else data.astype(dtype)

    off, gain, quad = scan.calibration[det]
    cal = g.create_dataset("energy_calibration", data=np.array([off, gain, quad], dtype=np.float64))
    cal.attrs["units"] = "eV"
    cal.attrs["coefficients"] = ["offset_eV", "gain_eV_per_channel", "quadratic_eV"]
    cal.attrs["description"] = "E(ch) = c0 + c1*ch + c2*ch**2 in eV, ch = 0-based channel"
    for name, value in (("offset_eV", off), ("gain_eV_per_channel", gain), ("quadratic_eV", quad)):
        cal.attrs[name] = float(value)
    lt = g.create_dataset("live_time_s", data=np.asarray(scan.live_time_s[det], dtype=np.float64))
    lt.attrs["units"] = "s"
    if det in scan.real_time_s:
        rt = g.create_dataset("real_time_s", data=np.asarray(scan.real_time_s[det], dtype=np.float64))
        rt.attrs["units"] = "s"


def _write_array(group: h5py.Group, name: str, values) -> h5py.Dataset:
    a = np.asarray(values)
    if a.dtype.kind in "UO":
        return group.create_dataset(name, data=a.astype(str).astype(object),
                                    dtype=h5py.string_dtype())
    return group.create_dataset(name, data=a)


def _write_sample(f: h5py.File, scan: Scan) -> None:
    s = f[ENTRY].create_group("sample")
    s.attrs["NX_class"] = "NXsample"
    pos = s.create_dataset("positions", data=np.asarray(scan.positions_mm, dtype=np.float64))
    pos.attrs["units"] = "mm"
    pos.attrs["columns"] = ["x", "y", "z"]
    ids = _write_array(s, "point_ids", scan.point_ids)
    ids.attrs["description"] = "point identifiers (PIXL Motor Count, PMC)"
    pm = s.create_group("point_metadata")
    pm.attrs["NX_class"] = "NXcollection"
    for key, values in scan.point_metadata.items():
        ds = _write_array(pm, escape_key(key), values)
        ds.attrs["key"] = str(key)


def _package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def _write_process(f: h5py.File, scan: Scan, provenance: dict) -> None:
    from ... import __version__

    p = f[ENTRY].create_group("process")
    p.attrs["NX_class"] = "NXprocess"
    p.create_dataset("program", data="pixlspec")
    p.create_dataset("version", data=__version__)
    p.create_dataset("date", data=_now_iso())
    for pkg in ("xraydb", "h5py", "hdf5plugin", "numpy"):
        v = _package_version(pkg)
        if v is not None:
            p.create_dataset(f"{pkg}_version", data=v)
    p.create_dataset("hdf5_version", data=h5py.version.hdf5_version)
    inst = p.create_dataset("instrument", data=scan.instrument.to_json())
    inst.attrs["content_type"] = JSON_CONTENT_TYPE
    _json_dataset(p, "provenance", provenance)


def _write_default_plot(f: h5py.File, scan: Scan) -> None:
    det = scan.detectors[0]
    d = f[ENTRY].create_group("data")
    d.attrs["NX_class"] = "NXdata"
    d.attrs["signal"] = "spectra"
    d.attrs["axes"] = [".", "energy"]
    d["spectra"] = f[f"{INSTRUMENT}/{detector_group_name(det)}/spectra"]  # hard link, no copy
    e = d.create_dataset("energy", data=scan.energy_eV(det))
    e.attrs["units"] = "eV"
    e.attrs["long_name"] = f"energy, detector {det} (eV)"


# --- reading -----------------------------------------------------------------
