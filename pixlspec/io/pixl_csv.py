"""PIXL PDS-style CSV products (RFS spectra, RXL beam locations) and folders of per-point MSA files.

Formats: ``shared/science/pixl-formats.md`` §3. All of them are plain
comma-separated text (CRLF, no quoting); a table starts at a header row,
recognised by a first cell that is not a number.

Scan conventions (both :func:`read_rfs` and :func:`read_msa_folder`)
-------------------------------------------------------------------
* ``point_ids`` are the PMCs; ``positions_mm`` are the x, y, z of the file in
  metres converted to mm (exact decimal shift, so they equal the MSA values).
* ``live_time_s`` is the dead-time corrected live time (the RFS CSV holds it
  already corrected; MSA files are corrected on reading, §1.4).
* ``point_metadata`` keys: ``sclk_A``, ``sclk_B`` (spacecraft clock, s),
  ``yellow_piece_temp_C`` (°C), ``geometry`` (RXL ``geom_corr`` / MSA
  ``##GEOMETRY``; NaN where unknown) and, for MSA folders,
  ``live_time_raw_s_<det>`` and ``source_file``.
"""
from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..errors import CSVFormatError, MSAFormatError
from ..instrument import Instrument
from ..spectrum import Scan, check_calibration, check_live_time, check_real_time
from .msa import read_msa_detectors
from .msa_header import M_TO_MM_EXP, is_number, read_lines, scaled_number

__all__ = ["read_rfs", "read_rxl", "read_msa_folder"]

#: Columns of the RFS per-point table (pixl-formats.md §3, table 1); yellow_piece_temp is optional.
RFS_REQUIRED_COLUMNS = ("PMC",)
#: Header of the RFS positions table (table 2).
RFS_POSITION_HEADER = ("PMC", "x", "y", "z")
#: Integer columns (PMC, SCLK, counts) are read as int64: a value at or beyond 2**63 cannot be one.
INT64_LIMIT = 2.0 ** 63
_SPECTRUM_HEADER = re.compile(r"([A-Za-z]+)_1")
_IMAGE_COLUMN = re.compile(r"PMC_\d+_MCC_[ij]")


class _Table:
    """One table of a stacked CSV: header, header line number, rows with their line numbers."""

    def __init__(self, header: list[str], line: int):
        self.header = header
        self.line = line
        self.rows: list[list[str]] = []
        self.row_lines: list[int] = []

    def column(self, name: str, path: str) -> int:
        try:
            return self.header.index(name)
        except ValueError:
            raise CSVFormatError(f"table has no column {name!r}; its header is "
                                 f"{','.join(self.header[:12])}{'...' if len(self.header) > 12 else ''}",
                                 path=path, where=self.line) from None

    def floats(self, name: str, path: str, *, positive: bool = False, nonneg: bool = False) -> np.ndarray:
        j = self.column(name, path)
        out = np.empty(len(self.rows))
        for k, (row, ln) in enumerate(zip(self.rows, self.row_lines)):
            tok = row[j].strip()
            if not is_number(tok):
                raise CSVFormatError(f"column {name!r}: expected a number, got {tok[:30]!r}", path=path, where=ln)
            v = float(tok)
            if not np.isfinite(v) or (positive and v <= 0) or (nonneg and v < 0):
                need = "> 0" if positive else (">= 0" if nonneg else "finite")
                raise CSVFormatError(f"column {name!r}: value {tok!r}; expected {need}", path=path, where=ln)
            out[k] = v
        return out

    def ints(self, name: str, path: str) -> np.ndarray:
        v = self.floats(name, path)
        bad = np.flatnonzero((v != np.round(v)) | (np.abs(v) >= INT64_LIMIT))
        if bad.size:
            tok = self.rows[bad[0]][self.column(name, path)]
            raise CSVFormatError(f"column {name!r}: expected an integer (|n| < 2**63), got {tok!r}", path=path,
                                 where=self.row_lines[bad[0]])
        return v.astype(np.int64)

    def metres_to_mm(self, name: str, path: str) -> np.ndarray:
        j = self.column(name, path)
        self.floats(name, path)                       # validates
        return np.array([scaled_number(row[j].strip(), M_TO_MM_EXP) for row in self.rows])


def _tables(path: str) -> list[_Table]:
    """Split a stacked CSV into tables (header row = first cell not numeric); check row lengths."""
    lines = read_lines(path, CSVFormatError)
    tables: list[_Table] = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        fields = line.split(",")
        first = fields[0].strip()
        if not is_number(first):
            if len(fields) == 1 and not tables:
                raise CSVFormatError(f"expected a CSV header row, got {first[:40]!r}", path=path, where=i + 1)
            tables.append(_Table([f.strip() for f in fields], i + 1))
            continue
        if not tables:
            raise CSVFormatError("data row before any header row", path=path, where=i + 1)
        t = tables[-1]
        if len(fields) != len(t.header):
            raise CSVFormatError(f"row has {len(fields)} fields, the header (line {t.line}) has {len(t.header)}",
                                 path=path, where=i + 1)
        t.rows.append(fields)
        t.row_lines.append(i + 1)
    if not tables:
        raise CSVFormatError("no table found", path=path, where=1)
    return tables


def _counts_table(t: _Table, path: str) -> np.ndarray:
    """Counts of a spectra table -> (n_rows, n_channels) float array; strictly validated."""
    if not t.rows:
        return np.zeros((0, len(t.header)))
    try:
        arr = np.array(t.rows, dtype=np.float64)
    except ValueError:
        arr = None
    if arr is None or not np.all(np.isfinite(arr)) or (arr.size and arr.min() < 0):
        for row, ln in zip(t.rows, t.row_lines):
            for j, tok in enumerate(row):
                tok = tok.strip()
                if not is_number(tok):
                    raise CSVFormatError(f"column {t.header[j]!r}: invalid count {tok[:30]!r}; expected a "
                                         "number", path=path, where=ln)
                v = float(tok)
                if not np.isfinite(v) or v < 0:
                    raise CSVFormatError(f"column {t.header[j]!r}: count {tok!r}; expected a finite number >= 0",
                                         path=path, where=ln)
    return arr


def _find_rxl(rfs_path: str) -> str | None:
    """The RXL product of the standard product tree next to ``rfs_path`` (``../RXL/*RXL*.CSV``)."""
    folder = Path(rfs_path).resolve().parent.parent / "RXL"
    if not folder.is_dir():
        return None
    cands = sorted(p for p in folder.iterdir() if p.is_file() and "RXL" in p.name.upper()
                   and p.suffix.lower() == ".csv")
    if len(cands) == 1:
        return str(cands[0])
    m = re.search(r"_(\d{4})_(\d{10})_", Path(rfs_path).name)     # sol and SCLK of the product name
    if m:
        same = [p for p in cands if f"_{m.group(1)}_{m.group(2)}_" in p.name]
        if len(same) == 1:
            return str(same[0])
    return None


def read_rxl(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read an RXL beam-location product.

    Returns
    -------
    dict of str to ndarray
        ``pmc`` (int), ``x_mm``, ``y_mm``, ``z_mm`` (converted from m),
        ``geom_corr`` (the ##GEOMETRY factor), and each image coordinate
        column under its own name (``PMC_0091_MCC_i``, ``PMC_0091_MCC_j``, ...:
        pixel column/row of the beam in the MCC image taken at that PMC).

    Raises
    ------
    CSVFormatError
        For a missing column, ragged or non-numeric rows.
    """
    p = os.fspath(path)
    tables = _tables(p)
    t = tables[0]
    if t.header[0] != "PMC":
        raise CSVFormatError(f"expected an RXL header starting 'PMC,x,y,z,geom_corr', got {t.header[0]!r}",
                             path=p, where=t.line)
    if len(tables) > 1:
        raise CSVFormatError("unexpected second header row in an RXL file", path=p, where=tables[1].line)
    out = {"pmc": t.ints("PMC", p)}
    for axis in "xyz":
        out[f"{axis}_mm"] = t.metres_to_mm(axis, p)
    out["geom_corr"] = t.floats("geom_corr", p)
    for name in t.header:
        if _IMAGE_COLUMN.fullmatch(name):
            out[name] = t.floats(name, p)
    return out


def _rfs_set(meta: _Table, pos: _Table | None, spectra: list[_Table], path: str, instrument: Instrument | None,
             rxl: dict | None) -> Scan:
    n = len(meta.rows)
    if n == 0:
        raise CSVFormatError("the per-point table has no rows", path=path, where=meta.line)
    pmc = meta.ints("PMC", path)
    dup = np.flatnonzero(np.diff(np.sort(pmc)) == 0)
    if dup.size:
        v = np.sort(pmc)[dup[0]]
        raise CSVFormatError(f"PMC {v} occurs twice in the per-point table", path=path,
                             where=meta.row_lines[int(np.flatnonzero(pmc == v)[1])])
    counts, live, real, cal = {}, {}, {}, {}
    notes = []
    point_meta: dict[str, np.ndarray] = {}
    for t in spectra:
        det = _SPECTRUM_HEADER.fullmatch(t.header[0]).group(1)
        expected = [f"{det}_{k}" for k in range(1, len(t.header) + 1)]
        if t.header != expected:
            bad = next(k for k, (a, b) in enumerate(zip(t.header, expected)) if a != b)
            raise CSVFormatError(f"spectra header column {bad + 1} is {t.header[bad]!r}; expected {expected[bad]!r}",
                                 path=path, where=t.line)
        if det in counts:
            raise CSVFormatError(f"a second table for detector {det}", path=path, where=t.line)
        if len(t.rows) != n:
            raise CSVFormatError(f"detector {det} table has {len(t.rows)} rows; the per-point table (line "
                                 f"{meta.line}) has {n}", path=path, where=t.line)
        counts[det] = _counts_table(t, path)
        live[det] = meta.floats(f"live_time_{det}", path, positive=True)
        for v, ln in zip(live[det], meta.row_lines):
            check_live_time(v, what=f"column 'live_time_{det}': live time", path=path, where=ln,
                            error_cls=CSVFormatError)
        if f"real_time_{det}" in meta.header:
            real[det] = meta.floats(f"real_time_{det}", path, nonneg=True)
            for v, ln in zip(real[det], meta.row_lines):
                check_real_time(v, what=f"column 'real_time_{det}': real time", path=path, where=ln,
                                error_cls=CSVFormatError)
        gain = meta.floats(f"XPERCHAN_{det}", path, positive=True)
        off = meta.floats(f"OFFSET_{det}", path)
        for g_, o_, ln in zip(gain, off, meta.row_lines):
            check_calibration(o_, g_, 0.0, counts[det].shape[1], what=f"columns 'OFFSET_{det}', 'XPERCHAN_{det}': "
                              "calibration", path=path, where=ln, error_cls=CSVFormatError)
        g, o = float(np.median(gain)), float(np.median(off))
        if np.ptp(gain) or np.ptp(off):
            notes.append(f"detector {det}: XPERCHAN/OFFSET vary over points "
                         f"({gain.min()}..{gain.max()} eV/ch, {off.min()}..{off.max()} eV); median used")
            point_meta[f"gain_eV_per_channel_{det}"] = gain
            point_meta[f"offset_eV_{det}"] = off
        cal[det] = (o, g, 0.0)
    if not counts:
        raise CSVFormatError("no spectra table (header A_1,...) follows the per-point table", path=path,
                             where=meta.line)
    for col, key in (("SCLK_A", "sclk_A"), ("SCLK_B", "sclk_B")):
        if col in meta.header:
            point_meta[key] = meta.ints(col, path)
    if "yellow_piece_temp" in meta.header:
        point_meta["yellow_piece_temp_C"] = meta.floats("yellow_piece_temp", path)
    positions = None
    position_source = "none"
    if pos is not None:
        ppmc = pos.ints("PMC", path)
        xyz = np.column_stack([pos.metres_to_mm(a, path) for a in "xyz"])
        index = {int(v): k for k, v in enumerate(ppmc)}
        missing = [int(v) for v in pmc if int(v) not in index]
        if missing:
            raise CSVFormatError(f"the positions table has no row for PMC {missing[0]}", path=path, where=pos.line)
        positions = xyz[[index[int(v)] for v in pmc]]
        position_source = "RFS"
    metadata = {"product": "RFS"}
    if rxl is not None:
        index = {int(v): k for k, v in enumerate(rxl["pmc"])}
        rows = np.array([index.get(int(v), -1) for v in pmc])
        have = rows >= 0
        geom = np.full(n, np.nan)
        geom[have] = rxl["geom_corr"][rows[have]]
        point_meta["geometry"] = geom
        if positions is None:
            positions = np.full((n, 3), np.nan)
            for a, name in enumerate(("x_mm", "y_mm", "z_mm")):
                positions[have, a] = rxl[name][rows[have]]
            position_source = "RXL"
        if not have.all():
            notes.append(f"{int((~have).sum())} PMCs are not in the RXL file; geometry NaN there")
    metadata["positions_source"] = position_source
    if notes:
        metadata["calibration_note" if any("XPERCHAN" in x for x in notes) else "note"] = "; ".join(notes)
    return Scan(counts, live, positions_mm=positions, point_ids=pmc, real_time_s=real or None, calibration=cal,
                instrument=instrument, metadata=metadata, source=path, point_metadata=point_meta)


def read_rfs(path: str | os.PathLike, rxl: str | os.PathLike | bool | None = None,
             instrument: Instrument | None = None) -> Scan:
    """Read an RFS spectra product (PDS-style CSV) into a :class:`Scan`.

    Parameters
    ----------
    path : str or os.PathLike
        The RFS CSV: a per-point table (SCLK_A, SCLK_B, PMC, real/live time,
        yellow_piece_temp, XPERCHAN/OFFSET per detector), a PMC,x,y,z table
        and one A_1..A_n and one B_1..B_n table, stacked; row k of the spectra
        tables belongs to the k-th PMC of the per-point table.
    rxl : path, None or False
        RXL beam-location file to attach ``geom_corr`` per point as
        ``point_metadata["geometry"]``. None (default) looks for
        ``../RXL/*RXL*.CSV`` of a standard product tree; False disables it.
    instrument : Instrument, optional
        Default :meth:`Instrument.pixl`.

    Returns
    -------
    Scan
        Detectors "A" and "B", PMCs as ``point_ids``, positions in mm,
        corrected live times, per-detector calibration (constant over points;
        if not, the median, noted in ``metadata["calibration_note"]`` with the
        per-point values in ``point_metadata``). A second stacked set of tables
        (dwell spectra) is returned as ``metadata["dwell"]`` (a Scan).

    Raises
    ------
    CSVFormatError
        Ragged rows, missing columns, non-numeric or negative counts, zero
        live time, or spectra tables whose row count differs from the
        per-point table — naming the line.
    """
    p = os.fspath(path)
    tables = _tables(p)
    if rxl is None:
        rxl_path = _find_rxl(p)
    elif rxl is False:
        rxl_path = None
    else:
        rxl_path = os.fspath(rxl)
    rxl_data = read_rxl(rxl_path) if rxl_path else None

    sets: list[tuple[_Table, _Table | None, list[_Table]]] = []
    for t in tables:
        first = t.header[0]
        if "PMC" in t.header and any(h.startswith("live_time_") for h in t.header):
            sets.append((t, None, []))
        elif not sets:
            raise CSVFormatError(f"expected the RFS per-point table header (SCLK_A,SCLK_B,PMC,...,live_time_A,...) "
                                 f"first, got {','.join(t.header[:4])!r}", path=p, where=t.line)
        elif tuple(t.header) == RFS_POSITION_HEADER:
            meta, pos, spec = sets[-1]
            if pos is not None or spec:
                raise CSVFormatError("unexpected PMC,x,y,z table", path=p, where=t.line)
            sets[-1] = (meta, t, spec)
        elif _SPECTRUM_HEADER.fullmatch(first):
            sets[-1][2].append(t)
        else:
            raise CSVFormatError(f"unrecognised table header {','.join(t.header[:4])!r}; expected the per-point, "
                                 "PMC,x,y,z or A_1.../B_1... table", path=p, where=t.line)
    scans = [_rfs_set(meta, pos, spec, p, instrument, rxl_data) for meta, pos, spec in sets]
    scan = scans[0]
    if rxl_path:
        scan.metadata["rxl_file"] = rxl_path
    if len(scans) > 1:
        scan.metadata["dwell"] = scans[1] if len(scans) == 2 else scans[1:]
    return scan


def _msa_files(folder_or_files) -> list[str]:
    if isinstance(folder_or_files, (str, os.PathLike)):
        p = os.fspath(folder_or_files)
        if os.path.isdir(p):
            files = sorted(f for f in glob.glob(os.path.join(p, "*")) if f.lower().endswith(".msa")
                           and os.path.isfile(f))
            if not files:
                raise MSAFormatError("no .msa files in folder", path=p)
            return files
        return [p]
    files = [os.fspath(f) for f in folder_or_files]
    if not files:
        raise MSAFormatError("no MSA files given")
    return files


def read_msa_folder(folder_or_files: str | os.PathLike | Iterable[str | os.PathLike],
                    instrument: Instrument | None = None) -> Scan:
    """Read a folder (or list) of per-point MSA files into one :class:`Scan`.

    Files with the same ``##PMC`` are one point (single-detector ground files
    ``Normal_A_...`` and ``Normal_B_...`` of one PMC are joined); points are
    sorted by PMC, or by file name when the files have no PMC.

    Parameters
    ----------
    folder_or_files : path or iterable of paths
        A folder (every ``*.msa``/``*.MSA`` in it) or the files.
    instrument : Instrument, optional
        Passed to :func:`read_msa_detectors` (calibration of uncalibrated files)
        and attached to the scan (default: the first file's instrument).

    Returns
    -------
    Scan
        Every point must have the same detectors and channel count. The
        calibration comes from the first file; files whose calibration differs
        raise :class:`MSAFormatError` (pixlspec never rebins silently: rebin with
        :meth:`Spectrum.rebin_to` and build the Scan yourself if you mean to).

    Raises
    ------
    MSAFormatError
        For a malformed file, a detector or channel count that differs, a
        differing calibration, or a (PMC, detector) pair given twice.
    """
    files = _msa_files(folder_or_files)
    points: dict = {}
    order: list = []
    for f in files:
        dets = read_msa_detectors(f, instrument=instrument)
        first = next(iter(dets.values()))
        pmc = first.metadata.get("pmc")
        key = ("pmc", pmc) if pmc is not None else ("file", os.path.basename(f))
        if key not in points:
            points[key] = {}
            order.append(key)
        for name, s in dets.items():
            if name in points[key]:
                raise MSAFormatError(f"detector {name} of PMC {pmc} is also in {points[key][name].source}",
                                     path=f)
            points[key][name] = s
    if all(k[0] == "pmc" for k in order):
        order.sort(key=lambda k: k[1])
    else:
        order.sort(key=lambda k: (k[0] != "pmc", str(k[1]) if k[0] == "file" else f"{k[1]:012d}"))
    ref = points[order[0]]
    det_names = tuple(sorted(ref))
    ref_spec = ref[det_names[0]]
    n_ch = ref_spec.n_channels
    counts = {d: np.empty((len(order), n_ch)) for d in det_names}
    live = {d: np.empty(len(order)) for d in det_names}
    live_raw = {d: np.full(len(order), np.nan) for d in det_names}
    real = {d: np.full(len(order), np.nan) for d in det_names}
    cal = {d: (ref[d].offset_eV, ref[d].gain_eV_per_channel, ref[d].quadratic_eV) for d in det_names}
    positions = np.full((len(order), 3), np.nan)
    pmcs = np.zeros(len(order), dtype=np.int64)
    sclk = np.full(len(order), -1, dtype=np.int64)
    temp = np.full(len(order), np.nan)
    geom = np.full(len(order), np.nan)
    sources = []
    for k, key in enumerate(order):
        pt = points[key]
        first = pt[sorted(pt)[0]]
        if tuple(sorted(pt)) != det_names:
            raise MSAFormatError(f"point has detectors {sorted(pt)}, the first point {list(det_names)}",
                                 path=first.source)
        for d in det_names:
            s = pt[d]
            if s.n_channels != n_ch:
                raise MSAFormatError(f"detector {d} has {s.n_channels} channels, {ref[d].source} has {n_ch}",
                                     path=s.source)
            if (s.offset_eV, s.gain_eV_per_channel, s.quadratic_eV) != cal[d]:
                raise MSAFormatError(f"detector {d} calibration {s.offset_eV:+g} eV + {s.gain_eV_per_channel:g} "
                                     f"eV/ch differs from {ref[d].source} ({cal[d][0]:+g} eV + {cal[d][1]:g} "
                                     "eV/ch); rebin before combining", path=s.source)
            counts[d][k] = s.counts
            live[d][k] = s.live_time_s
            live_raw[d][k] = s.metadata.get("live_time_raw_s", np.nan)
            if s.real_time_s is not None:
                real[d][k] = s.real_time_s
        m = first.metadata
        pmcs[k] = key[1] if key[0] == "pmc" else k
        if first.position_mm is not None:
            positions[k] = first.position_mm
        if isinstance(m.get("rover_sclk"), int):
            sclk[k] = m["rover_sclk"]
        temp[k] = m.get("yellow_piece_temp_C", np.nan)
        geom[k] = m.get("geometry", np.nan)
        sources.append(os.path.basename(first.source or ""))
    has_pmc = all(k[0] == "pmc" for k in order)
    point_meta: dict[str, np.ndarray] = {"source_file": np.array(sources)}
    if (sclk >= 0).any():
        point_meta["sclk_A"] = sclk
    if np.isfinite(temp).any():
        point_meta["yellow_piece_temp_C"] = temp
    if np.isfinite(geom).any():
        point_meta["geometry"] = geom
    for d in det_names:
        point_meta[f"live_time_raw_s_{d}"] = live_raw[d]
    metadata = {"product": "MSA folder", "source_files": [os.fspath(f) for f in files],
                "calibration_source": ref_spec.metadata.get("calibration_source", "file"),
                "positions_source": "MSA" if np.isfinite(positions).any() else "none"}
    if not np.isfinite(positions).any():
        positions = np.zeros_like(positions)
    real_out = {d: real[d] for d in det_names if np.isfinite(real[d]).all()}
    source = os.fspath(folder_or_files) if isinstance(folder_or_files, (str, os.PathLike)) else None
    return Scan(counts, live, positions_mm=positions, point_ids=pmcs if has_pmc else None,
                real_time_s=real_out or None, calibration=cal,
                instrument=instrument if instrument is not None else ref_spec.instrument,
                metadata=metadata, source=source, point_metadata=point_meta)
