"""The layout of scan files: paths, chunking, compressions and names (:mod:`pixlspec.io.hdf5`)."""
from __future__ import annotations

import numpy as np

from ...errors import ConfigError

__all__ = ["SCAN_FILE_SUFFIXES", "DEFAULT_COMPRESSION", "COMPRESSIONS", "CHUNK_CACHE_BYTES", "CHUNK_CACHE_SLOTS",
           "TARGET_CHUNK_BYTES", "MIN_CHUNK_POINTS", "MAX_CHUNK_POINTS", "WRITE_BLOCK_CHUNKS", "UINT16_MAX",
           "UINT32_MAX", "GZIP_LEVEL", "BLOSC_LEVEL", "NEW_FILE_MODE", "JSON_CONTENT_TYPE", "ENTRY", "INSTRUMENT",
           "SAMPLE", "PROCESS", "DETECTOR_PREFIX", "compression_kwargs", "escape_key", "unescape_key", "detector_group_name"]

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


def compression_kwargs(compression: str | None) -> dict:
    """The h5py ``create_dataset`` keywords of a compression name (:data:`COMPRESSIONS`)."""
    name = "none" if compression is None else str(compression).lower()
    if name not in COMPRESSIONS:
        raise ConfigError(f"unknown compression {compression!r}; expected one of {sorted(COMPRESSIONS)}",
                          where="compression")
    return COMPRESSIONS[name]()


def escape_key(key: str) -> str:
    """A point-metadata key as an HDF5 member name (``/`` and ``%`` percent-encoded)."""
    return str(key).replace("%", "%25").replace("/", "%2F")


def unescape_key(name: str) -> str:
    """Inverse of :func:`escape_key`."""
    return name.replace("%2F", "/").replace("%25", "%")


def detector_group_name(det: str) -> str:
    """HDF5 group name of a detector (``detector_A``)."""
    return DETECTOR_PREFIX + str(det).replace("/", "_")
