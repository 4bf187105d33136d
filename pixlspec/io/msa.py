"""EMSA/MSA spectrum files, including PIXL's dialect (``#VERSION : TC202v2.0 PIXL``).

The grammar follows ``shared/science/pixl-formats.md`` §1 (ISO 22029 plus the
PIXL/PIQUANT extensions):

* a header of ``#KEYWORD : value [comment]`` lines (the keyword runs up to
  the first ``:``, compared case-insensitively; ``#`` and ``##`` keywords are
  told apart only by their name), ended by ``#SPECTRUM``;
* NPOINTS data lines of NCOLUMNS values each (``Y``: one detector, ``YY``:
  detectors A and B), then ``#ENDOFDATA``.

The same header tokenizer, :func:`parse_msa_header`, reads PIQUANT
configuration files (:mod:`pixlspec.io.piquant`).

Conventions of this reader
--------------------------
* Energies: ``E(ch) = OFFSET + XPERCHAN*ch (+ QUADRATIC*ch²)`` in eV; with
  ``#XUNITS : keV`` the calibration is multiplied by 1000 (as an exact decimal
  shift). A missing or zero ``#XPERCHAN`` (ground files) takes the calibration
  of the instrument (``metadata["calibration_source"] == "instrument"``).
* Live time: when ``##TRIGGERS`` is present the live time is dead-time
  corrected, ``LIVETIME × (EVENTS + OVERFLOWS + UNDERFLOWS) / TRIGGERS``
  (§1.4); the file's value is kept in ``metadata["live_time_raw_s"]``.
* Positions: ``#X/Y/ZPOSITION`` are metres in PIXL files (mm in standard
  EMSA 1.0 files) and become ``Spectrum.position_mm``.
* Instrument: an explicit ``instrument=`` is attached as is; otherwise the
  spectrum carries :meth:`Instrument.pixl` with any PIQUANT configuration
  keyword found in the spectrum header (``#BEAMKV``, ``##DETRES``, ...)
  applied on top, as PIQUANT does. Per-point values (calibration, live time,
  ``##GEOMETRY``) stay with the spectrum and its metadata.
* Metadata keys: ``pmc`` (int), ``rtt``, ``mars_sol`` (raw strings),
  ``rover_sclk`` (int), ``geometry``, ``yellow_piece_temp_C``, ``beam_kV``
  (floats), ``date``, ``time``, ``owner``, ``detector_id`` (raw strings),
  ``title``/``comment`` (lists; the unset values ``N/A``/``<tbd>`` dropped), the
  per-detector pulse counters ``events``, ``triggers``, ``overflows``,
  ``underflows``, ``base_events``, ``resets``, ``over_adcmax``,
  ``live_time_raw_s``, ``calibration_source`` and ``header`` (every raw
  keyword value, a list where a keyword repeats).

Any departure from the grammar raises :class:`~pixlspec.errors.MSAFormatError`
naming the file, the line and what was expected.
"""
from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, MSAFormatError, SpectrumError
from ..instrument import Instrument
from ..spectrum import Spectrum, check_calibration, check_live_time, check_real_time
from .atomic import atomic_path
from .msa_header import (COUNTER_KEYWORDS, DETECTOR_NAMES, FORMAT_MAGIC, KEV_TO_EV_EXP, M_TO_MM_EXP,
                         MAX_EXACT_INT, PIXL_VERSION, QUADRATIC_KEYWORD, TOKEN_SEPARATOR, MSAHeader, check_magic,
                         is_number, norm_keyword, parse_msa_header, read_lines, shifted_repr, snippet,
                         split_keyword, unset_value)

__all__ = ["MSAHeader", "parse_msa_header", "read_msa", "read_msa_detectors", "write_msa",
           "FORMAT_MAGIC", "PIXL_VERSION"]



# --------------------------------------------------------------------------- data
class _ParsedMSA:
    """Header and data of one MSA spectrum file (internal)."""

    def __init__(self, path: str, header: MSAHeader, dialect: str, counts: np.ndarray,
                 names: list[str], end_line: int):
        self.path = path
        self.header = header
        self.dialect = dialect
        self.counts = counts            # (npoints, ncolumns)
        self.names = names
        self.end_line = end_line
        self._implied: Instrument | None = None

    @property
    def ncolumns(self) -> int:
        return self.counts.shape[1]


def _parse_file(path: str | os.PathLike) -> _ParsedMSA:
    p = os.fspath(path)
    lines = read_lines(p, MSAFormatError)
    header = parse_msa_header(lines, p)
    dialect = check_magic(header)
    if header.spectrum_line is None:
        npts = header.integer("NPOINTS") if "NPOINTS" in header else None
        hint = " (a PIQUANT configuration file: read it with read_piquant_config)" if npts == 0 else ""
        raise MSAFormatError("missing #SPECTRUM line; expected the header to end with #SPECTRUM followed "
                             f"by the data{hint}", path=p, where=header.last_line)
    npoints = header.integer("NPOINTS", required=True)
    if npoints < 1:
        raise MSAFormatError(f"#NPOINTS is {npoints}; a spectrum needs >= 1 channel", path=p,
                             where=header.line("NPOINTS"))
    ncols = header.integer("NCOLUMNS")
    dtype_toks = header.tokens("DATATYPE")
    datatype = dtype_toks[0].upper() if dtype_toks else None
    if dialect == "pixl":
        if ncols is None:
            ncols = {"Y": 1, "YY": 2}.get(datatype or "", None)
            if ncols is None:
                raise MSAFormatError("missing #NCOLUMNS keyword (1 or 2 detectors)", path=p,
                                     where=header.spectrum_line)
        if ncols not in (1, 2):
            raise MSAFormatError(f"#NCOLUMNS is {ncols}; expected 1 or 2 (detectors)", path=p,
                                 where=header.line("NCOLUMNS"))
        expect_dt = "Y" * ncols
        if datatype is not None and datatype != expect_dt:
            raise MSAFormatError(f"#DATATYPE is {datatype!r} but #NCOLUMNS is {ncols}; expected "
                                 f"{expect_dt!r} (XY is not part of the PIXL dialect)", path=p,
                                 where=header.line("DATATYPE"))
        per_line, n_out, mode = ncols, ncols, "rows"
    else:
        if datatype not in (None, "Y", "XY"):
            raise MSAFormatError(f"#DATATYPE is {datatype!r}; expected 'Y' or 'XY'", path=p,
                                 where=header.line("DATATYPE"))
        if datatype == "XY":
            per_line, n_out, mode = 2, 1, "xy"
        else:
            per_line = ncols if ncols is not None else 1
            if not 1 <= per_line <= 5:
                raise MSAFormatError(f"#NCOLUMNS is {per_line}; expected 1 to 5 values per line", path=p,
                                     where=header.line("NCOLUMNS"))
            n_out, mode = 1, "flat"
    counts, end_line = _parse_data(lines, header, npoints, per_line, n_out, mode, p)
    if n_out == 2:
        names = list(DETECTOR_NAMES)
    else:
        did = header.text("DETECTOR_ID")
        names = [DETECTOR_NAMES[0] if unset_value(did) else did.split()[0]]
    return _ParsedMSA(p, header, dialect, counts, names, end_line)


def _bad_value(tok: str, path: str, lineno: int, col: int, n_cols: int) -> MSAFormatError:
    where_col = f" in column {col + 1}" + (f" (detector {DETECTOR_NAMES[col]})" if n_cols == 2 else "")
    low = tok.lower().lstrip("+-")
    if low in ("nan", "inf", "infinity") or (is_number(tok) and not math.isfinite(float(tok))):
        return MSAFormatError(f"non-finite count {tok!r}{where_col}; expected a finite number >= 0",
                              path=path, where=lineno)
    if is_number(tok) and float(tok) < 0:
        return MSAFormatError(f"negative count {tok!r}{where_col}; counts must be >= 0", path=path,
                              where=lineno)
    return MSAFormatError(f"invalid count {snippet(tok)!r}{where_col}; expected a number", path=path,
                          where=lineno)


def _parse_data(lines: list[str], header: MSAHeader, npoints: int, per_line: int, n_out: int, mode: str,
                path: str) -> tuple[np.ndarray, int]:
    """Data lines after #SPECTRUM -> (npoints, n_out) array and the #ENDOFDATA line number.

    ``mode`` is "rows" (PIXL: one channel per line, ``per_line`` detectors),
    "flat" (EMSA 1.0 Y: up to ``per_line`` channels per line) or "xy"
    (EMSA 1.0 XY: one ``x, y`` pair per line, x ignored).
    """
    values: list[float] = []
    n_items = 0                      # channels read so far
    n_lines = 0
    end_line = None
    np_line = header.line("NPOINTS")
    n_cols_named = per_line if mode == "rows" else 1
    for i in range(header.data_index, len(lines)):
        lineno = i + 1
        s = lines[i].strip()
        if s.startswith("#"):
            if norm_keyword(split_keyword(s)[0]) == "ENDOFDATA":
                end_line = lineno
                break
            raise MSAFormatError(f"unexpected header line {snippet(s)!r} inside the data; expected a data "
                                 "line or #ENDOFDATA", path=path, where=lineno)
        if n_items >= npoints:
            if not s:                # blank lines between the last channel and #ENDOFDATA
                continue
            raise MSAFormatError(f"more data than #NPOINTS = {npoints} (line {np_line}); expected "
                                 "#ENDOFDATA here", path=path, where=lineno)
        toks = [t for t in TOKEN_SEPARATOR.split(s) if t] if s else []
        if mode == "flat":
            ok = 1 <= len(toks) <= min(per_line, npoints - n_items)
        else:
            ok = len(toks) == per_line
        if not ok:
            if mode == "flat":
                what = f"1 to {min(per_line, npoints - n_items)} values"
            else:
                what = f"{per_line} value{'s' if per_line > 1 else ''}"
            got = "a blank line" if not toks else f"{len(toks)} values"
            raise MSAFormatError(f"expected {what} on this data line (#NCOLUMNS/#DATATYPE/#NPOINTS), got "
                                 f"{got}", path=path, where=lineno)
        try:
            row = [float(t) for t in toks]
        except ValueError:
            row = None
        if row is None or any("_" in t for t in toks) or not all(0 <= v < math.inf for v in row):
            for c, tok in enumerate(toks):
                if mode == "xy" and c == 0:
                    if not is_number(tok) or not math.isfinite(float(tok)):
                        raise MSAFormatError(f"invalid x value {snippet(tok)!r}; expected a finite number",
                                             path=path, where=lineno)
                    continue
                if not is_number(tok) or not math.isfinite(float(tok)) or float(tok) < 0:
                    raise _bad_value(tok, path, lineno, c, n_cols_named)
        if mode == "xy":
            values.append(row[1])
            n_items += 1
        elif mode == "flat":
            values.extend(row)
            n_items += len(row)
        else:
            values.extend(row)
            n_items += 1
        n_lines += 1
    if end_line is None:
        last = max((j + 1 for j in range(header.data_index, len(lines)) if lines[j].strip()),
                   default=header.spectrum_line)
        if n_items < npoints:
            raise MSAFormatError(f"file ends after {n_lines} data lines; #NPOINTS (line {np_line}) says "
                                 f"{npoints} channels and #ENDOFDATA is missing (truncated file?)", path=path,
                                 where=last)
        raise MSAFormatError(f"missing #ENDOFDATA after the {n_lines} data lines", path=path, where=last)
    if n_items < npoints:
        raise MSAFormatError(f"found {n_items} channels ({n_lines} data lines) before #ENDOFDATA; #NPOINTS "
                             f"(line {np_line}) says {npoints}", path=path, where=end_line)
    for j in range(end_line, len(lines)):
        if lines[j].strip():
            raise MSAFormatError(f"unexpected content {snippet(lines[j].strip())!r} after #ENDOFDATA "
                                 f"(line {end_line}); expected the end of the file", path=path,
                                 where=j + 1)
    arr = np.asarray(values, dtype=np.float64).reshape(npoints, n_out)
    return arr, end_line


# --------------------------------------------------------------------------- spectra
def unit_exponent(header: MSAHeader) -> int:
    toks = header.tokens("XUNITS")
    unit = toks[0] if toks else "eV"
    if unit.lower() == "ev":
        return 0
    if unit.lower() == "kev":
        return KEV_TO_EV_EXP
    raise MSAFormatError(f"#XUNITS is {snippet(unit)!r}; expected 'eV' or 'keV'", path=header.path,
                         where=header.line("XUNITS"))


def _fallback_detector(instrument: Instrument, name: str):
    """Detector of ``instrument`` for column ``name``: by name, then A=0/B=1, then the first."""
    try:
        return instrument.detector(name)
    except ConfigError:
        pass
    if name in DETECTOR_NAMES and DETECTOR_NAMES.index(name) < len(instrument.detectors):
        return instrument.detectors[DETECTOR_NAMES.index(name)]
    return instrument.detectors[0]


def _int_or_float(v: float) -> int | float:
    return int(v) if v == int(v) and abs(v) < MAX_EXACT_INT else v


def _implied_instrument(parsed: _ParsedMSA) -> Instrument:
    if parsed._implied is None:
        from .piquant import instrument_from_header

        parsed._implied = instrument_from_header(parsed.header, base=Instrument.pixl(), spectrum=True)
    return parsed._implied


def _build_spectrum(parsed: _ParsedMSA, col: int, instrument: Instrument | None) -> Spectrum:
    h = parsed.header
    path = parsed.path
    n = parsed.ncolumns
    name = parsed.names[col]
    exp = unit_exponent(h)
    meta: dict[str, Any] = {}

    # --- calibration --------------------------------------------------------
    gains = h.numbers("XPERCHAN", n, exp10=exp)
    offsets = h.numbers("OFFSET", n, exp10=exp)
    quads = h.numbers(QUADRATIC_KEYWORD, n, exp10=exp)
    gain = gains[col] if gains is not None else None
    if gain is not None and gain != 0.0:             # PIQUANT: zero means "not given"
        if gain < 0:
            raise MSAFormatError(f"#XPERCHAN of detector {name} is {gain}; expected > 0 eV/channel",
                                 path=path, where=h.line("XPERCHAN"))
        if offsets is None:
            raise MSAFormatError("#XPERCHAN is given but #OFFSET is missing; expected both", path=path,
                                 where=h.line("XPERCHAN"))
        offset = offsets[col]
        quad = quads[col] if quads is not None else 0.0
        meta["calibration_source"] = "file"
    else:
        det = _fallback_detector(instrument if instrument is not None else Instrument.pixl(), name)
        gain, offset, quad = det.gain_eV_per_channel, det.offset_eV, det.quadratic_eV
        meta["calibration_source"] = "instrument"

    # --- live time (pixl-formats.md §1.4) ------------------------------------
    lts = h.numbers("LIVETIME", n)
    if lts is None:
        raise MSAFormatError("missing #LIVETIME keyword; expected the live time in s", path=path,
                             where=h.spectrum_line)
    lt_raw = lts[col]
    if lt_raw <= 0:
        raise MSAFormatError(f"#LIVETIME of detector {name} is {lt_raw}; expected > 0 s", path=path,
                             where=h.line("LIVETIME"))
    counters = {}
    for kw, key in COUNTER_KEYWORDS.items():
        vals = h.numbers(kw, n)
        if vals is not None:
            if vals[col] < 0:
                raise MSAFormatError(f"##{kw} of detector {name} is {vals[col]}; expected >= 0", path=path,
                                     where=h.line(kw))
            counters[kw] = vals[col]
            meta[key] = _int_or_float(vals[col])
    live = lt_raw
    if "TRIGGERS" in counters:
        trig = counters["TRIGGERS"]
        if "EVENTS" not in counters:
            raise MSAFormatError("##TRIGGERS is given without ##EVENTS; the dead-time correction needs "
                                 "both", path=path, where=h.line("TRIGGERS"))
        if trig == 0:
            raise MSAFormatError(f"##TRIGGERS of detector {name} is 0 while #LIVETIME is {lt_raw}; "
                                 "expected > 0 triggers", path=path, where=h.line("TRIGGERS"))
        out = counters["EVENTS"] + counters.get("OVERFLOWS", 0.0) + counters.get("UNDERFLOWS", 0.0)
        live = lt_raw * out / trig
        if not live > 0:
            raise MSAFormatError(f"dead-time corrected live time of detector {name} is {live} "
                                 "(##EVENTS + ##OVERFLOWS + ##UNDERFLOWS = 0); expected > 0", path=path,
                                 where=h.line("EVENTS"))
    meta["live_time_raw_s"] = lt_raw
    rts = h.numbers("REALTIME", n)
    real = None
    if rts is not None:
        real = rts[col]
        if real < 0:
            raise MSAFormatError(f"#REALTIME of detector {name} is {real}; expected >= 0 s", path=path,
                                 where=h.line("REALTIME"))

    # --- position ------------------------------------------------------------
    pos_exp = M_TO_MM_EXP if parsed.dialect == "pixl" else 0   # PIXL: metres; EMSA 1.0: mm
    pos = [h.number(k, exp10=pos_exp) for k in ("XPOSITION", "YPOSITION", "ZPOSITION")]
    position = tuple(pos) if all(v is not None for v in pos) else None
    if position is None and any(v is not None for v in pos):
        meta["position_partial_mm"] = tuple(pos)

    # --- metadata ------------------------------------------------------------
    if "PMC" in h:
        meta["pmc"] = h.integer("PMC")
    for kw, key in (("RTT", "rtt"), ("MARS_SOL", "mars_sol"), ("DATE", "date"), ("TIME", "time"),
                    ("OWNER", "owner"), ("DETECTOR_ID", "detector_id")):
        toks = h.tokens(kw)
        if kw in ("DATE", "TIME", "OWNER"):
            val = h.text(kw)
            # raw text without a trailing comment (separated by 2+ blanks or a tab)
            val = None if unset_value(val) else re.split(r"\s{2,}|\t", val.strip())[0]
        else:
            val = toks[0] if toks and not unset_value(toks[0]) else None
        if val is not None:
            meta[key] = val
    if "ROVER_SCLK" in h:
        toks = h.tokens("ROVER_SCLK")
        meta["rover_sclk"] = int(toks[0]) if toks and toks[0].isdigit() else (toks[0] if toks else None)
    if "GEOMETRY" in h:
        g = h.number("GEOMETRY")
        if g < 0:
            raise MSAFormatError(f"##GEOMETRY is {g}; expected >= 0 (0 means 1)", path=path,
                                 where=h.line("GEOMETRY"))
        meta["geometry"] = g if g != 0 else 1.0
    if "YP_TEMP" in h:
        meta["yellow_piece_temp_C"] = h.number("YP_TEMP")
    if "BEAMKV" in h:
        meta["beam_kV"] = h.number("BEAMKV")
    for kw, key in (("TITLE", "title"), ("COMMENT", "comment")):
        vals = [v for v in (h[kw] if kw in h else []) if not unset_value(v)]
        if vals:
            meta[key] = vals
    meta["header"] = h.to_dict()

    # the physical ranges Spectrum enforces, checked here to name the keyword's line
    check_live_time(lt_raw, what=f"#LIVETIME of detector {name}", path=path, where=h.line("LIVETIME"),
                    error_cls=MSAFormatError)
    check_live_time(live, what=f"dead-time corrected live time of detector {name}", path=path,
                    where=h.line("TRIGGERS") or h.line("LIVETIME"), error_cls=MSAFormatError)
    if real is not None:
        check_real_time(real, what=f"#REALTIME of detector {name}", path=path, where=h.line("REALTIME"),
                        error_cls=MSAFormatError)
    if meta["calibration_source"] == "file":
        check_calibration(offset, gain, quad, parsed.counts.shape[0], what=f"calibration of detector {name}",
                          path=path, where=h.line("XPERCHAN"), error_cls=MSAFormatError)
    inst = instrument if instrument is not None else _implied_instrument(parsed)
    try:
        return Spectrum(counts=parsed.counts[:, col], offset_eV=offset, gain_eV_per_channel=gain,
                        quadratic_eV=quad, live_time_s=live, real_time_s=real, detector=name,
                        position_mm=position, instrument=inst, metadata=meta, source=path)
    except SpectrumError as e:
        raise MSAFormatError(e.message, path=path, where=h.spectrum_line) from None


def read_msa_detectors(path: str | os.PathLike, instrument: Instrument | None = None) -> dict[str, Spectrum]:
    """Read every detector column of an MSA file.

    Parameters
    ----------
    path : str or os.PathLike
        EMSA/MSA spectrum file.
    instrument : Instrument, optional
        Attached to every spectrum and used for the calibration when the file
        has none (default: :meth:`Instrument.pixl` with the file's configuration
        keywords applied).

    Returns
    -------
    dict of str to Spectrum
        ``{"A": ..., "B": ...}`` for a two-column (``YY``) file; the
        ``##DETECTOR_ID`` (or ``"A"``) for a one-column file.

    Raises
    ------
    MSAFormatError
        For any malformed file (naming the file and line).
    """
    parsed = _parse_file(path)
    return {name: _build_spectrum(parsed, j, instrument) for j, name in enumerate(parsed.names)}


def read_msa(path: str | os.PathLike, detector: str | None = None,
             instrument: Instrument | None = None) -> Spectrum:
    """Read one spectrum from an EMSA/MSA file (PIXL dialect or plain EMSA 1.0).

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    detector : str, optional
        ``"A"`` or ``"B"`` for a two-column PIXL file (default ``"A"``), or
        ``"A+B"`` for the two combined (:meth:`Spectrum.combine`: B rebinned onto
        A's calibration and added, mean live time). For a one-column file it
        must be None or the file's detector name.
    instrument : Instrument, optional
        See :func:`read_msa_detectors`.

    Returns
    -------
    Spectrum

    Raises
    ------
    MSAFormatError
        For a malformed file; :class:`SpectrumError` for a detector the file lacks.
    """
    parsed = _parse_file(path)
    names = parsed.names
    if detector is None:
        return _build_spectrum(parsed, 0, instrument)
    det = str(detector).strip()
    if det in names:
        return _build_spectrum(parsed, names.index(det), instrument)
    parts = [x.strip() for x in det.split("+")]
    if len(parts) > 1 and all(x in names for x in parts) and len(set(parts)) == len(parts):
        specs = [_build_spectrum(parsed, names.index(x), instrument) for x in parts]
        out = specs[0]
        for s in specs[1:]:
            out = out.combine(s)
        return out.replace(detector="+".join(parts))
    raise SpectrumError(f"no detector {detector!r} in this file; it has {names}"
                        + (" (or 'A+B')" if len(names) == 2 else ""), path=parsed.path)


# --------------------------------------------------------------------------- writing
def _fmt_value(v: Any) -> str:
    """Text of a metadata value on one line (floats with repr precision)."""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return " ".join(str(v).split())


def _fmt_count(x: float) -> str:
    return str(int(x)) if x.is_integer() and abs(x) < MAX_EXACT_INT else repr(x)


def _as_spectra(obj) -> list[Spectrum]:
    if isinstance(obj, Spectrum):
        return [obj]
    if isinstance(obj, Mapping):
        keys = list(obj)
        if set(keys) == set(DETECTOR_NAMES):
            keys = list(DETECTOR_NAMES)
        items = [obj[k] for k in keys]
    elif isinstance(obj, Sequence) and not isinstance(obj, (str, bytes)):
        items = list(obj)
    else:
        raise SpectrumError(f"write_msa needs a Spectrum or a sequence/dict of 2 Spectra, got "
                            f"{type(obj).__name__}")
    if not 1 <= len(items) <= 2 or not all(isinstance(s, Spectrum) for s in items):
        raise SpectrumError(f"write_msa needs 1 or 2 Spectrum objects (detectors A, B), got {len(items)} "
                            "items")
    return items


def _counters_reproduce(s: Spectrum) -> bool:
    """True when the raw live time and counters in ``s.metadata`` give ``s.live_time_s`` exactly."""
    m = s.metadata
    try:
        raw = float(m["live_time_raw_s"])
        ev = float(m["events"])
        trig = float(m["triggers"])
        out = ev + float(m.get("overflows", 0.0)) + float(m.get("underflows", 0.0))
    except (KeyError, TypeError, ValueError):
        return False
    return trig > 0 and raw > 0 and raw * out / trig == s.live_time_s


def write_msa(spectrum_or_spectra, path: str | os.PathLike) -> None:
    """Write one or two spectra as a PIXL-dialect EMSA/MSA file (atomically).

    Parameters
    ----------
    spectrum_or_spectra : Spectrum, or sequence/dict of 2 Spectrum
        One spectrum (``#DATATYPE : Y``, with ``##DETECTOR_ID``) or two
        (``YY``; detectors A and B in that order, per-detector values as
        comma lists). Both must have the same number of channels.
    path : str or os.PathLike
        Target file; written to a temporary file and renamed into place.

    Notes
    -----
    * Counts are written as integers when integral, otherwise with ``repr``
      precision; calibration in eV with ``repr`` precision; the quadratic term
      as the pixlspec extension ``##QUADRATIC`` when non-zero; positions in
      metres (exact decimal shift of the mm values).
    * Live time: when the metadata hold the raw live time and pulse counters
      (``live_time_raw_s``, ``events``, ``triggers``, ...) and the §1.4
      correction of them reproduces ``live_time_s`` exactly (every spectrum
      read from a PIXL file), the raw ``#LIVETIME`` and ``##TRIGGERS`` etc.
      are written, as in the original file. Otherwise the *corrected* live
      time is written and ``##TRIGGERS`` is omitted, so readers (pixlspec,
      PIQUANT) apply no correction. Either way :func:`read_msa` gives back
      ``live_time_s`` exactly.
    """
    spectra = _as_spectra(spectrum_or_spectra)
    n_ch = spectra[0].n_channels
    for s in spectra[1:]:
        if s.n_channels != n_ch:
            raise SpectrumError(f"spectra have {n_ch} and {s.n_channels} channels; a YY file needs equal "
                                "lengths", path=os.fspath(path))
    ncol = len(spectra)
    first = spectra[0]
    m0 = first.metadata
    out: list[str] = []

    def kw(name: str, value: Any) -> None:
        out.append(f"{name:<13}: {value}")

    def per_det(values: Iterable[Any]) -> str:
        return ", ".join(_fmt_value(v) for v in values)

    kw("#FORMAT", FORMAT_MAGIC)
    kw("#VERSION", PIXL_VERSION)
    titles = m0.get("title") or []
    for t in ([titles] if isinstance(titles, str) else titles) or ["N/A"]:
        kw("#TITLE", _fmt_value(t))
    for key, name in (("date", "#DATE"), ("time", "#TIME"), ("owner", "#OWNER")):
        if m0.get(key) is not None:
            kw(name, _fmt_value(m0[key]))
    comments = m0.get("comment") or []
    for c in [comments] if isinstance(comments, str) else comments:
        kw("#COMMENT", _fmt_value(c))
    kw("#NPOINTS", n_ch)
    kw("#NCOLUMNS", ncol)
    kw("#XUNITS", "eV")
    kw("#YUNITS", "COUNTS")
    kw("#DATATYPE", "Y" * ncol)
    kw("#XPERCHAN", per_det(s.gain_eV_per_channel for s in spectra))
    kw("#OFFSET", per_det(s.offset_eV for s in spectra))
    if any(s.quadratic_eV != 0.0 for s in spectra):
        kw("##" + QUADRATIC_KEYWORD, per_det(s.quadratic_eV for s in spectra))
    kw("#SIGNALTYPE", "XRF")
    if first.instrument is not None:
        kw("#BEAMKV", _fmt_value(first.instrument.tube.voltage_kV))
    if first.position_mm is not None:
        for axis, v in zip("XYZ", first.position_mm):
            kw(f"#{axis}POSITION", shifted_repr(v, -M_TO_MM_EXP))
    if m0.get("geometry") is not None:
        kw("##GEOMETRY", _fmt_value(float(m0["geometry"])))
    if m0.get("yellow_piece_temp_C") is not None:
        kw("#YP_TEMP", _fmt_value(float(m0["yellow_piece_temp_C"])))
    pmc = m0.get("pmc", m0.get("point_id"))
    if pmc is not None and isinstance(pmc, (int, np.integer)):
        kw("##PMC", int(pmc))
    for key, name in (("rtt", "##RTT"), ("mars_sol", "##MARS_SOL")):
        if m0.get(key) is not None:
            kw(name, _fmt_value(m0[key]))
    sclk = m0.get("rover_sclk", m0.get("sclk_A"))
    if sclk is not None:
        kw("##ROVER_SCLK", _fmt_value(sclk))
    if ncol == 1:
        kw("##DETECTOR_ID", _fmt_value(first.detector))
    raw_ok = all(_counters_reproduce(s) for s in spectra)
    for name, key in COUNTER_KEYWORDS.items():
        if name == "TRIGGERS" and not raw_ok:
            continue
        vals = [s.metadata.get(key) for s in spectra]
        if all(isinstance(v, (int, float, np.integer, np.floating)) and math.isfinite(v) for v in vals):
            kw("##" + name, per_det(_int_or_float(float(v)) for v in vals))
    if raw_ok:
        kw("#LIVETIME", per_det(float(s.metadata["live_time_raw_s"]) for s in spectra))
    else:
        kw("#LIVETIME", per_det(s.live_time_s for s in spectra))
    if all(s.real_time_s is not None for s in spectra):
        kw("#REALTIME", per_det(s.real_time_s for s in spectra))
    kw("#SPECTRUM", "start of spectrum data")
    columns = [[_fmt_count(x) for x in s.counts.tolist()] for s in spectra]
    out.extend(", ".join(row) for row in zip(*columns))
    kw("#ENDOFDATA", "end of spectrum data")
    text = "\r\n".join(out) + "\r\n"
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
