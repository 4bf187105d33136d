"""Read a scan from whatever PIXL data the user points at.

:func:`read_scan` looks at its input and hands it to the right reader:

==========================================  ==============================================
input                                       reader
==========================================  ==============================================
``*.h5`` / ``*.hdf5`` / ``*.nxs`` (or any   :func:`pixlspec.io.hdf5.open_scan` (lazy)
HDF5 file)
``*.csv`` RFS spectra product               :func:`pixlspec.io.pixl_csv.read_rfs` (with
                                            the RXL of the same product tree when present)
folder with an ``RFS/`` subfolder           the same, on the RFS CSV inside
(PDS product tree)
folder of ``*.msa`` files, or a list of     :func:`pixlspec.io.pixl_csv.read_msa_folder`
``*.msa`` files (one file per point)
one ``*.msa`` file                          :func:`pixlspec.io.msa.read_msa_detectors`,
                                            as a one-point scan
==========================================  ==============================================

:func:`input_kind` tells which of these an input is, :func:`source_files`
which files a read consumes (for provenance).
"""
from __future__ import annotations

import os
import numpy as np

from ..errors import PixlspecError
from .files import check_input_file
from ..instrument import Instrument
from ..spectrum import Scan

__all__ = ["read_scan", "input_kind", "source_files", "INPUT_KINDS"]

HDF5_SUFFIXES = (".h5", ".hdf5", ".nxs")
CSV_SUFFIX = ".csv"
MSA_SUFFIX = ".msa"
#: Names of the PDS product-tree subfolders holding the spectra and beam locations.
RFS_FOLDER = "RFS"
RXL_FOLDER = "RXL"

#: Input kind -> human-readable description.
INPUT_KINDS = {
    "hdf5": "pixlspec HDF5 scan file",
    "rfs-csv": "PIXL RFS spectra CSV",
    "pds-product": "PIXL PDS product folder (RFS + RXL)",
    "msa-folder": "folder of MSA spectra (one per point)",
    "msa-files": "MSA spectra (one per point)",
    "msa": "MSA spectrum file",
}


def _suffix(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def _files_with_suffix(folder: str, suffix: str) -> list[str]:
    try:
        names = sorted(os.listdir(folder))
    except OSError as e:
        raise PixlspecError(f"cannot list folder: {e.strerror}", path=folder) from None
    return [os.path.join(folder, n) for n in names
            if _suffix(n) == suffix and os.path.isfile(os.path.join(folder, n))]


def _subfolder(folder: str, name: str) -> str | None:
    """The subfolder ``name`` of ``folder``, matched case-insensitively."""
    try:
        entries = os.listdir(folder)
    except OSError:
        return None
    for entry in sorted(entries):
        p = os.path.join(folder, entry)
        if entry.lower() == name.lower() and os.path.isdir(p):
            return p
    return None


def _one_csv(folder: str, what: str) -> str:
    csvs = _files_with_suffix(folder, CSV_SUFFIX)
    if len(csvs) != 1:
        found = ", ".join(os.path.basename(c) for c in csvs) or "none"
        raise PixlspecError(f"expected exactly one {what} CSV file, found {len(csvs)} ({found})",
                            path=folder)
    return csvs[0]


def _sibling_rxl(rfs_csv: str) -> str | None:
    """The RXL CSV of the PDS product tree an RFS CSV sits in (``../RXL/*.CSV``), if unique."""
    parent = os.path.dirname(os.path.abspath(rfs_csv))
    if os.path.basename(parent).lower() != RFS_FOLDER.lower():
        return None
    rxl_dir = _subfolder(os.path.dirname(parent), RXL_FOLDER)
    if rxl_dir is None:
        return None
    csvs = _files_with_suffix(rxl_dir, CSV_SUFFIX)
    return csvs[0] if len(csvs) == 1 else None


def _is_hdf5(path: str) -> bool:
    import h5py

    try:
        return bool(h5py.is_hdf5(path))
    except OSError:
        return False


def input_kind(path_or_files) -> str:
    """Which kind of PIXL input ``path_or_files`` is.

    Parameters
    ----------
    path_or_files : str, os.PathLike or sequence of them
        A file, a folder, or several ``.msa`` files.

    Returns
    -------
    str
        A key of :data:`INPUT_KINDS`: ``"hdf5"``, ``"rfs-csv"``,
        ``"pds-product"``, ``"msa-folder"``, ``"msa-files"`` or ``"msa"``.

    Raises
    ------
    PixlspecError
        The input does not exist or is none of these.
    """
    if not isinstance(path_or_files, (str, os.PathLike)):
        files = [os.fspath(p) for p in path_or_files]
        if len(files) == 1:
            return input_kind(files[0])
        if not files:
            raise PixlspecError("no input given")
        for p in files:
            if not os.path.isfile(p):
                raise PixlspecError("no such file" if not os.path.exists(p) else
                                    "expected an .msa file (several inputs are read as one scan of "
                                    "per-point MSA files)", path=p)
            if _suffix(p) != MSA_SUFFIX:
                raise PixlspecError("several inputs are read as one scan of per-point MSA files, but "
                                    "this is not an .msa file; convert other inputs one at a time",
                                    path=p)
        return "msa-files"
    path = os.fspath(path_or_files)
    if not os.path.exists(path):
        raise PixlspecError("no such file or folder", path=path)
    if not os.path.isdir(path):
        check_input_file(path, kind="hdf5", error_cls=PixlspecError)   # regular files only: no FIFO
    if os.path.isdir(path):
        rfs_dir = _subfolder(path, RFS_FOLDER)
        if rfs_dir is not None and _files_with_suffix(rfs_dir, CSV_SUFFIX):
            return "pds-product"
        if _files_with_suffix(path, MSA_SUFFIX):
            return "msa-folder"
        raise PixlspecError("folder holds neither .msa spectra nor an RFS/ product subfolder; expected "
                            "a folder of per-point .msa files or a PIXL PDS product folder", path=path)
    suffix = _suffix(path)
    if suffix in HDF5_SUFFIXES:
        return "hdf5"
    if suffix == CSV_SUFFIX:
        return "rfs-csv"
    if suffix == MSA_SUFFIX:
        return "msa"
    if _is_hdf5(path):
        return "hdf5"
    raise PixlspecError("unknown kind of input; expected an HDF5 scan (.h5/.hdf5/.nxs), a PIXL RFS "
                        "CSV, an .msa spectrum, a folder of .msa files or a PIXL PDS product folder",
                        path=path)


def source_files(path_or_files) -> list[str]:
    """The files :func:`read_scan` reads for ``path_or_files`` (for provenance).

    Parameters
    ----------
    path_or_files : str, os.PathLike or sequence of them

    Returns
    -------
    list of str
    """
    kind = input_kind(path_or_files)
    if kind == "msa-files":
        return [os.fspath(p) for p in path_or_files]
    if not isinstance(path_or_files, (str, os.PathLike)):
        (path_or_files,) = path_or_files
    path = os.fspath(path_or_files)
    if kind == "msa-folder":
        return _files_with_suffix(path, MSA_SUFFIX)
    if kind == "pds-product":
        rfs = _one_csv(_subfolder(path, RFS_FOLDER), "RFS")
        rxl = _sibling_rxl(rfs)
        return [rfs] + ([rxl] if rxl else [])
    if kind == "rfs-csv":
        rxl = _sibling_rxl(path)
        return [path] + ([rxl] if rxl else [])
    return [path]


def read_scan(path_or_folder, instrument: Instrument | None = None) -> Scan:
    """Read a scan from an HDF5 scan file, an RFS CSV, MSA file(s) or a PDS product folder.

    Parameters
    ----------
    path_or_folder : str, os.PathLike or sequence of .msa paths
        See the module docstring for what is accepted.
    instrument : Instrument, optional
        Overrides the instrument the input implies.

    Returns
    -------
    Scan
        Lazy (file kept open; close it or use ``with``) for HDF5 input,
        in memory otherwise.

    Raises
    ------
    PixlspecError
        Unknown or missing input (and the readers' format errors).
    """
    kind = input_kind(path_or_folder)
    if kind == "msa-files":
        from .pixl_csv import read_msa_folder

        return read_msa_folder([os.fspath(p) for p in path_or_folder], instrument=instrument)
    if not isinstance(path_or_folder, (str, os.PathLike)):
        (path_or_folder,) = path_or_folder
    path = os.fspath(path_or_folder)
    if kind == "hdf5":
        from .hdf5 import open_scan

        return open_scan(path, instrument=instrument)
    if kind in ("rfs-csv", "pds-product"):
        from .pixl_csv import read_rfs

        rfs = path if kind == "rfs-csv" else _one_csv(_subfolder(path, RFS_FOLDER), "RFS")
        rxl = _sibling_rxl(rfs)
        return read_rfs(rfs, rxl=rxl, instrument=instrument)
    if kind == "msa-folder":
        from .pixl_csv import read_msa_folder

        return read_msa_folder(path, instrument=instrument)
    return _scan_from_msa(path, instrument)


#: Spectrum.metadata keys that may hold the point id (PMC) of an MSA file.
_POINT_ID_KEYS = ("pmc", "PMC", "point_id")


def _scan_from_msa(path: str, instrument: Instrument | None) -> Scan:
    """One-point Scan from one (multi-detector) MSA file."""
    from .msa import read_msa_detectors

    spectra = read_msa_detectors(path, instrument=instrument)
    if not spectra:
        raise PixlspecError("the file holds no spectrum", path=path)
    dets = list(spectra)
    first = spectra[dets[0]]
    n_channels = {s.n_channels for s in spectra.values()}
    if len(n_channels) != 1:
        raise PixlspecError(f"detectors have different numbers of channels {sorted(n_channels)}", path=path)
    point_id = next((first.metadata[k] for k in _POINT_ID_KEYS if k in first.metadata), 0)
    try:
        point_ids = np.array([int(point_id)])
    except (TypeError, ValueError):
        point_ids = np.array([str(point_id)])
    real = ({d: [s.real_time_s] for d, s in spectra.items()}
            if all(s.real_time_s is not None for s in spectra.values()) else None)
    return Scan({d: s.counts[None, :] for d, s in spectra.items()},
                {d: [s.live_time_s] for d, s in spectra.items()},
                positions_mm=[first.position_mm] if first.position_mm is not None else None,
                point_ids=point_ids, real_time_s=real,
                calibration={d: (s.offset_eV, s.gain_eV_per_channel, s.quadratic_eV)
                             for d, s in spectra.items()},
                instrument=instrument if instrument is not None else first.instrument,
                metadata=_merge_detector_metadata(spectra), source=path)


def _merge_detector_metadata(spectra: dict) -> dict:
    """Metadata shared by all detectors as is; values that differ as ``{key: {detector: value}}``."""
    merged: dict = {}
    keys = dict.fromkeys(k for s in spectra.values() for k in s.metadata)
    for key in keys:
        values = {d: s.metadata.get(key) for d, s in spectra.items()}
        distinct = list(values.values())
        same = all(_same(v, distinct[0]) for v in distinct[1:])
        merged[key] = distinct[0] if same else values
    return merged


def _same(a, b) -> bool:
    try:
        return bool(np.all(a == b)) and type(a) is type(b)
    except (TypeError, ValueError):
        return False

