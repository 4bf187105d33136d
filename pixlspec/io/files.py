"""Checks every reader makes before it opens an input file.

Only regular files of a plausible size are read: a FIFO would block ``open()``
until a writer appears, and ``/dev/zero`` or ``/dev/urandom`` would be read
without end. :func:`check_input_file` looks at ``os.stat`` (which neither
blocks nor reads) and raises the reader's error class naming the file.
"""
from __future__ import annotations

import os
import stat

from ..errors import PixlspecError

__all__ = ["check_input_file", "read_input_bytes", "read_text_file", "MAX_INPUT_BYTES"]

#: Largest file each kind of reader accepts, in bytes. Text products are parsed in
#: memory: the largest PIXL text product (an RFS CSV of a ~3000-point scan, 4096
#: channels x 2 detectors x ~3 bytes per count) is ~100 MB, so 1 GiB is a factor ten
#: above it. JSON/TOML configuration and calibration files are a few kB (64 MiB: any
#: larger one is not a configuration). HDF5 files are read lazily, chunk by chunk, so
#: their limit (1 TiB) only refuses what cannot be a scan on a disk.
MAX_INPUT_BYTES = {
    "text": 1 << 30,
    "config": 64 << 20,
    "hdf5": 1 << 40,
}


def check_input_file(path: str | os.PathLike, *, kind: str = "text",
                     error_cls: type[PixlspecError] = PixlspecError) -> int:
    """Check that ``path`` is an existing regular file no larger than ``MAX_INPUT_BYTES[kind]``.

    Parameters
    ----------
    path : str or os.PathLike
    kind : {"text", "config", "hdf5"}
        Which size limit applies.
    error_cls : type
        The :class:`PixlspecError` subclass to raise (the reader's).

    Returns
    -------
    int
        The size of the file in bytes.

    Raises
    ------
    PixlspecError
        ``error_cls`` when the file is missing, unreadable, not a regular file
        (folder, FIFO, device, socket) or larger than the limit.
    """
    p = os.fspath(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise error_cls("cannot read file: no such file", path=p) from None
    except OSError as e:
        raise error_cls(f"cannot read file: {e.strerror or e}", path=p) from None
    if stat.S_ISDIR(st.st_mode):
        raise error_cls("is a folder; expected a file", path=p)
    if not stat.S_ISREG(st.st_mode):
        what = ("a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else
                "a character device" if stat.S_ISCHR(st.st_mode) else
                "a block device" if stat.S_ISBLK(st.st_mode) else
                "a socket" if stat.S_ISSOCK(st.st_mode) else "a special file")
        raise error_cls(f"not a regular file ({what}); expected a data file", path=p)
    limit = MAX_INPUT_BYTES[kind]
    if st.st_size > limit:
        raise error_cls(f"file of {st.st_size} bytes is larger than the {limit}-byte limit for a {kind} "
                        "input; is this the right file?", path=p)
    return int(st.st_size)


def read_input_bytes(path: str | os.PathLike, *, kind: str, error_cls: type[PixlspecError] = PixlspecError) -> bytes:
    """The bytes of an input file of ``kind``, checked (:func:`check_input_file`) and read up to its size
    limit (:data:`MAX_INPUT_BYTES`); an unreadable or larger file raises ``error_cls`` naming it."""
    p = os.fspath(path)
    check_input_file(p, kind=kind, error_cls=error_cls)
    limit = MAX_INPUT_BYTES[kind]
    try:
        with open(p, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as e:
        raise error_cls(f"cannot read file: {e.strerror or e}", path=p) from None
    if len(data) > limit:
        raise error_cls(f"file is larger than the {limit}-byte limit for a {kind} input", path=p)
    return data


def read_text_file(path: str | os.PathLike, *, kind: str = "config",
                   error_cls: type[PixlspecError] = PixlspecError) -> str:
    """The UTF-8 text of a small input file (JSON/TOML configuration, calibration).

    Checked with :func:`check_input_file` first; undecodable bytes raise ``error_cls``
    naming the line.
    """
    p = os.fspath(path)
    data = read_input_bytes(p, kind=kind, error_cls=error_cls)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise error_cls(f"undecodable byte 0x{data[e.start]:02x}; expected UTF-8 text", path=p,
                        where=line) from None
