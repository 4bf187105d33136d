"""Scan files: NeXus-style HDF5 holding every spectrum of a scan.

:func:`write_scan` writes a :class:`~pixlspec.spectrum.Scan` atomically,
:func:`open_scan` opens one lazily (the spectra stay on disk and only the
points asked for are read), :func:`read_process` returns the provenance a
file records.

Layout (see DESIGN.md, "HDF5 layout")::

    /                                  @default="entry"
    /entry                             NXentry, @default="data"
      title, scan_metadata             Scan.metadata as JSON
      instrument/                      NXinstrument, @pixlspec_detectors=["A", "B"]
        name                           Instrument.name
        detector_A/                    NXdetector (one per detector)
          spectra      [n_points, n_channels]  uint16/uint32 (exact integer counts) or float64,
                                       chunked along points, compressed (Blosc LZ4 + shuffle)
          energy_calibration [3]       offset, gain, quadratic; E(ch) = c0 + c1*ch + c2*ch**2 (eV)
          live_time_s, real_time_s [n_points]  @units="s"
      sample/                          NXsample
        positions      [n_points, 3]   @units="mm" (x, y, z)
        point_ids      [n_points]      PIXL Motor Counts (PMC)
        point_metadata/                NXcollection: one [n_points] dataset per key
      process/                         NXprocess
        program, version, date, xraydb_version, h5py_version, hdf5_version
        instrument                     Instrument JSON
        provenance                     JSON: source files, attribution, ...
      data/                            NXdata for viewers: hard link to detector_A/spectra, energy

The spectra are compressed with Blosc (LZ4, byte shuffle) from ``hdf5plugin``
by default; viewers need that plugin too (silx and h5web ship it). Measured
with ``benchmarks/bench_io.py`` (4096 PIXL-like points x 4096 uint16
channels, 128-point chunks, one core, file in the page cache): Blosc-LZ4
decompresses ~380,000 spectra/s, LZF ~52,000/s and gzip ~49,000/s;
uncompressed chunks read ~1,100,000/s but the file is 3-6x larger (real PIXL
spectra: 2.0 MB -> 0.65 MB). Converting to float64 in :meth:`Scan.counts` caps
reads through a Scan at ~130,000-170,000 spectra/s. Pass
``compression="none"`` or ``"lzf"`` for files that tools without
``hdf5plugin`` must open.
"""
from __future__ import annotations

import contextvars
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

from ..errors import ConfigError, HDF5FormatError, PixlspecError
from ..instrument import Instrument
from ..spectrum import Scan, check_calibration, check_real_time, validate_counts
from .atomic import atomic_path
from .files import check_input_file
from .h5guard import check_vlen_heap

__all__ = ["write_scan", "open_scan", "read_process", "COMPRESSIONS", "DEFAULT_COMPRESSION",
           "CHUNK_CACHE_BYTES", "SCAN_FILE_SUFFIXES"]

log = logging.getLogger(__name__)

#: File name suffixes of scan files.
SCAN_FILE_SUFFIXES = (".h5", ".hdf5", ".nxs")
#: Compression used by :func:`write_scan` unless told otherwise (see module docstring).
DEFAULT_COMPRESSION = "blosc-lz4"
#: Aimed-for uncompressed size of one chunk of spectra: big enough that
#: per-chunk overhead is negligible when streaming, small enough that reading
#: one point decompresses little (128 points of 4096 uint16 channels).
TARGET_CHUNK_BYTES = 1 << 20
#: Bounds of the number of points per chunk chosen from TARGET_CHUNK_BYTES.
MIN_CHUNK_POINTS = 16
MAX_CHUNK_POINTS = 1024
#: Points converted and written per block (multiple chunks) when writing.
WRITE_BLOCK_CHUNKS = 8
#: Per-dataset chunk cache when reading: holds 16 default chunks, so reading
#: the points of a scan one at a time decompresses each chunk once.
CHUNK_CACHE_BYTES = 16 << 20
#: Hash-table slots of the chunk cache (a prime ~100x the chunks it holds).
CHUNK_CACHE_SLOTS = 1601
#: Largest count that the unsigned integer dtypes hold exactly.
UINT16_MAX = np.iinfo(np.uint16).max
UINT32_MAX = np.iinfo(np.uint32).max
#: Level of the deflate (gzip) filter when that compression is chosen.
GZIP_LEVEL = 4
#: Compression level of the Blosc codecs.
BLOSC_LEVEL = 5

#: Permissions of a new file before the umask is applied (as ``open()`` creates files).
NEW_FILE_MODE = 0o666
JSON_CONTENT_TYPE = "application/json"
ENTRY = "/entry"
INSTRUMENT = "/entry/instrument"
SAMPLE = "/entry/sample"
PROCESS = "/entry/process"
DETECTOR_PREFIX = "detector_"


def _blosc(cname: str, shuffle_name: str) -> dict:
    import hdf5plugin

    shuffle = {"byte": hdf5plugin.Blosc.SHUFFLE, "bit": hdf5plugin.Blosc.BITSHUFFLE}[shuffle_name]
    return dict(hdf5plugin.Blosc(cname=cname, clevel=BLOSC_LEVEL, shuffle=shuffle))


def _bitshuffle_lz4() -> dict:
    import hdf5plugin

    return dict(hdf5plugin.Bitshuffle(cname="lz4"))


#: Compression name -> function returning the h5py ``create_dataset`` keywords.
COMPRESSIONS = {
    "none": lambda: {},
    "lzf": lambda: {"compression": "lzf", "shuffle": True},
    "gzip": lambda: {"compression": "gzip", "compression_opts": GZIP_LEVEL, "shuffle": True},
    "blosc-lz4": lambda: _blosc("lz4", "byte"),
    "blosc-lz4-bitshuffle": lambda: _blosc("lz4", "bit"),
    "blosc-zstd": lambda: _blosc("zstd", "byte"),
    "bitshuffle-lz4": _bitshuffle_lz4,
}


# --- writing -----------------------------------------------------------------
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
    filters = _compression_kwargs(compression)
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


def _compression_kwargs(compression: str | None) -> dict:
    name = "none" if compression is None else str(compression).lower()
    if name not in COMPRESSIONS:
        raise ConfigError(f"unknown compression {compression!r}; expected one of {sorted(COMPRESSIONS)}",
                          where="compression")
    return COMPRESSIONS[name]()


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


def _detector_group_name(det: str) -> str:
    return DETECTOR_PREFIX + str(det).replace("/", "_")


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
    g = f[INSTRUMENT].create_group(_detector_group_name(det))
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


def _escape(key: str) -> str:
    return str(key).replace("%", "%25").replace("/", "%2F")


def _unescape(name: str) -> str:
    return name.replace("%2F", "/").replace("%25", "%")


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
        ds = _write_array(pm, _escape(key), values)
        ds.attrs["key"] = str(key)


def _package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def _write_process(f: h5py.File, scan: Scan, provenance: dict) -> None:
    from .. import __version__

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
    d["spectra"] = f[f"{INSTRUMENT}/{_detector_group_name(det)}/spectra"]  # hard link, no copy
    e = d.create_dataset("energy", data=scan.energy_eV(det))
    e.attrs["units"] = "eV"
    e.attrs["long_name"] = f"energy, detector {det} (eV)"


# --- reading -----------------------------------------------------------------
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


def _blosc_rows_readable(ds: h5py.Dataset):
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
    blosc2 = _blosc_rows_readable(ds)

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
            where = f"{INSTRUMENT}/{_detector_group_name(det)}"
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


def _times(values: np.ndarray, check, where: str, name: str) -> np.ndarray:
    """Per-point live or real times as float64, each checked by ``check`` (finite, >= 0, bounded)."""
    if values.dtype.kind not in "iuf":
        raise HDF5FormatError(f"has dtype {values.dtype}, expected times in s", path=name, where=where)
    a = np.asarray(values, dtype=np.float64)
    if a.size:
        finite = np.isfinite(a)
        # any bad value is the smallest or the largest one (a non-finite one counts as both)
        for i in sorted({int(np.argmin(np.where(finite, a, -np.inf))), int(np.argmax(np.where(finite, a, np.inf)))}):
            check(a[i], what=f"value of point {i}", path=name, where=where, error_cls=HDF5FormatError)
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
        # per-point live times may be 0 (a point without data, flagged by the map fit), not < 0
        live[det] = _times(_per_point(f, f"{gpath}/live_time_s", name, n_points), check_real_time,
                           f"{gpath}/live_time_s", name)
        rt = _per_point(f, f"{gpath}/real_time_s", name, n_points, required=False)
        if rt is not None:
            real[det] = _times(rt, check_real_time, f"{gpath}/real_time_s", name)
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
    point_metadata = {}
    pm = f.get(f"{SAMPLE}/point_metadata")
    if isinstance(pm, h5py.Group):
        # the key of a column is its unescaped name (what write_scan stores in its "key"
        # attribute); members are typed without being opened, datasets read on first use
        for member in pm:
            if pm.get(member, getclass=True) is h5py.Dataset:
                point_metadata[_unescape(member)] = _lazy_column(pm, member, name, n_points)

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
