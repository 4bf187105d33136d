"""Checked reading of HDF5 datasets: each read names the file and the dataset when it is not what was expected
(:class:`CheckedReader`), used by the results file (:mod:`pixlspec.io.results`)."""
from __future__ import annotations

import json
import os

import h5py
import numpy as np

from ..errors import HDF5FormatError, PixlspecError
from .files import check_input_file
from .h5guard import check_vlen_heap

__all__ = ["open_hdf5", "CheckedReader", "str_list"]


def open_hdf5(path) -> h5py.File:
    """``path`` opened read-only as HDF5, after the input checks; a missing or damaged file raises, naming it."""
    name = os.fspath(path)
    if not os.path.exists(name):
        raise PixlspecError("no such file", path=name)
    check_input_file(name, kind="hdf5", error_cls=HDF5FormatError)
    try:
        return h5py.File(name, "r")
    except OSError as e:
        raise HDF5FormatError(f"cannot open as HDF5 (truncated or damaged file?): {e}", path=name) from None


class CheckedReader:
    """Reads the datasets of a results file, remembering the one being read for error messages."""

    def __init__(self, f: h5py.File, name: str):
        self.f = f
        self.name = name
        self.where: str | None = None

    def ds(self, group, key: str) -> h5py.Dataset:
        base = group.name if isinstance(group, h5py.Group) else ""
        self.where = f"{base}/{key}".replace("//", "/")
        obj = group[key]
        if not isinstance(obj, h5py.Dataset):
            raise HDF5FormatError(f"is a {type(obj).__name__}, expected a dataset", path=self.name, where=self.where)
        return obj

    def array(self, group, key: str, shape: tuple | None = None, kind: str = "iuf") -> np.ndarray:
        ds = self.ds(group, key)
        if ds.dtype.kind not in kind:
            raise HDF5FormatError(f"has dtype {ds.dtype}, expected numbers", path=self.name, where=self.where)
        a = np.asarray(ds[()])
        if shape is not None and a.shape != shape:
            raise HDF5FormatError(f"has shape {a.shape}, expected {shape}", path=self.name, where=self.where)
        return a

    def finite(self, a: np.ndarray, what: str, mask=None) -> np.ndarray:
        b = np.asarray(a, dtype=float)
        bad = ~np.isfinite(b) if mask is None else (~np.isfinite(b) & mask)
        if np.any(bad):
            i = tuple(int(x) for x in np.argwhere(bad)[0])
            raise HDF5FormatError(f"{what} at index {i} is {b[i]}; expected a finite number", path=self.name,
                                  where=self.where)
        return a

    def text(self, group, key: str) -> str:
        ds = self.ds(group, key)
        check_vlen_heap(ds, path=self.name, where=self.where)
        v = ds[()]
        if isinstance(v, bytes):
            return v.decode("utf-8")
        if not isinstance(v, str):
            raise HDF5FormatError(f"holds {type(v).__name__}, expected a string", path=self.name, where=self.where)
        return v

    def json(self, group, key: str):
        return json.loads(self.text(group, key))

    def strings(self, group, key: str, n: int | None = None) -> list[str]:
        ds = self.ds(group, key)
        check_vlen_heap(ds, path=self.name, where=self.where)
        if h5py.check_string_dtype(ds.dtype) is None or ds.ndim != 1:
            raise HDF5FormatError(f"has dtype {ds.dtype} and shape {ds.shape}, expected a list of strings",
                                  path=self.name, where=self.where)
        out = str_list(ds)
        if n is not None and len(out) != n:
            raise HDF5FormatError(f"has {len(out)} names, expected {n}", path=self.name, where=self.where)
        return out


def str_list(ds) -> list[str]:
    """The strings of a 1-D string dataset (bytes decoded)."""
    return [v.decode() if isinstance(v, bytes) else str(v) for v in ds[()]]
