"""Checks made before h5py reads variable-length strings of a possibly damaged file.

Variable-length strings (the JSON and text datasets of scan and results files)
live in HDF5 *global heap collections*. The HDF5 library parses a whole
collection when it reads one string from it, and a collection whose object
headers were overwritten (zeroed, say) can make that parse loop for ever in C,
where no Python signal can stop it. :func:`check_vlen_heap` walks the
collections a dataset points to, by reading the file's bytes directly, and
raises :class:`HDF5FormatError` when one is not well-formed, before h5py
touches it. Layout (HDF5 File Format Specification 3.0, §III.E "Global Heap"):
a collection is ``"GCOL"``, version 1, 3 reserved bytes, its size (a "length",
8 bytes), then objects of a 16-byte header (index: 2 bytes, reference count: 2,
reserved: 4, size: 8) followed by the data padded to a multiple of 8 bytes;
object index 0 is the free space, which runs to the end of the collection. A
heap id (what a dataset element holds) is the string length (4 bytes), the
collection address (8) and the object index (4).
"""
from __future__ import annotations

import os
import struct

import h5py

from ..errors import HDF5FormatError

__all__ = ["check_vlen_heap"]

#: Size of a heap id with 8-byte addresses: length (4), collection address (8), index (4).
HEAP_ID_BYTES = 16
#: Size of a collection header and of an object header (8-byte lengths).
GCOL_HEADER_BYTES = 16
OBJECT_HEADER_BYTES = 16
#: Smallest collection HDF5 writes (H5HG_MINSIZE).
MIN_COLLECTION_BYTES = 4096
#: Largest number of heap ids checked per dataset (a longer contiguous string list is checked
#: through its first ids only; every collection is checked once whatever the count).
MAX_IDS_CHECKED = 1 << 16


def _collection_objects(fh, addr: int, file_size: int) -> dict[int, int] | str:
    """``{object index: size}`` of the collection at ``addr``, or what is wrong with it."""
    fh.seek(addr)
    head = fh.read(GCOL_HEADER_BYTES)
    if len(head) < GCOL_HEADER_BYTES or head[:4] != b"GCOL" or head[4] != 1:
        return f"no global heap collection at byte {addr}"
    size = struct.unpack_from("<Q", head, 8)[0]
    if size < MIN_COLLECTION_BYTES or addr + size > file_size:
        return f"global heap collection at byte {addr} has an impossible size {size}"
    body = fh.read(size - GCOL_HEADER_BYTES)
    if len(body) != size - GCOL_HEADER_BYTES:
        return f"global heap collection at byte {addr} is truncated"
    objects: dict[int, int] = {}
    p = 0
    while p + OBJECT_HEADER_BYTES <= len(body):
        idx = struct.unpack_from("<H", body, p)[0]
        obj_size = struct.unpack_from("<Q", body, p + 8)[0]
        remaining = len(body) - p
        if idx == 0:                                  # free space: the rest of the collection
            if obj_size != remaining:
                return (f"global heap collection at byte {addr}: free space of {obj_size} bytes where "
                        f"{remaining} remain (damaged)")
            break
        step = OBJECT_HEADER_BYTES + ((obj_size + 7) // 8) * 8
        if step > remaining or idx in objects:
            return f"global heap collection at byte {addr}: object {idx} is damaged"
        objects[idx] = obj_size
        p += step
    return objects


def check_vlen_heap(ds: h5py.Dataset, *, path: str, where: str | None = None) -> None:
    """Raise :class:`HDF5FormatError` if a variable-length string dataset points to a damaged heap.

    Does nothing for other datasets, for datasets not stored contiguously (their heap ids
    are behind a chunk index; h5py reads those) and for files with other than 8-byte
    addresses and lengths.
    """
    info = h5py.check_string_dtype(ds.dtype)
    if info is None or info.length is not None:
        return
    try:
        offset = ds.id.get_offset()
        n_bytes = ds.id.get_storage_size()
        sizes = ds.file.id.get_create_plist().get_sizes()
        filename = ds.file.filename
    except (OSError, RuntimeError, ValueError) as e:
        raise HDF5FormatError(f"cannot locate the data (damaged file?): {e}", path=path,
                              where=where or ds.name) from None
    if offset is None or tuple(sizes) != (8, 8) or not os.path.isfile(filename):
        return
    n_ids = min(int(n_bytes) // HEAP_ID_BYTES, MAX_IDS_CHECKED)
    file_size = os.path.getsize(filename)
    if offset + n_ids * HEAP_ID_BYTES > file_size:
        raise HDF5FormatError("the data lie beyond the end of the file (truncated?)", path=path,
                              where=where or ds.name)
    with open(filename, "rb") as fh:
        fh.seek(offset)
        ids = fh.read(n_ids * HEAP_ID_BYTES)
        collections: dict[int, dict[int, int]] = {}
        for k in range(n_ids):
            length, addr, index = struct.unpack_from("<IQI", ids, k * HEAP_ID_BYTES)
            if addr == 0 and length == 0:             # an empty or null string: no heap object
                continue
            if addr >= file_size:
                raise HDF5FormatError(f"string {k} points past the end of the file (damaged)", path=path,
                                      where=where or ds.name)
            if addr not in collections:
                objects = _collection_objects(fh, addr, file_size)
                if isinstance(objects, str):
                    raise HDF5FormatError(objects, path=path, where=where or ds.name)
                collections[addr] = objects
            if collections[addr].get(index, -1) < length:
                raise HDF5FormatError(f"string {k}: object {index} of {length} bytes is missing from the global "
                                      f"heap collection at byte {addr} (damaged)", path=path, where=where or ds.name)
