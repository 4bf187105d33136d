"""PIQUANT's standards and element-calibration (ECF) tables (CSV, ``shared/science/pixl-formats.md`` §2):
:func:`read_piquant_standards`, :func:`read_piquant_calibration` → :class:`StandardEntry` rows."""
from __future__ import annotations

import csv
import math
import os
import re
from dataclasses import dataclass

from ..errors import CSVFormatError, UnknownElementError
from .msa_header import is_number, read_lines

__all__ = ["StandardElement", "StandardEntry", "read_piquant_standards", "read_piquant_calibration",
           "QUALIFIERS", "LINE_SELECTORS", "TYPE_CODES", "PPM_PER_WT_PERCENT", "WT_PERCENT_PER_FRACTION"]

#: Qualifiers of an element line (pixl-formats.md §4): X exclude, M matrix, I ignore in composition, F reserved.
QUALIFIERS = ("", "X", "M", "I", "F")
#: Emission-line selectors ("" = all lines).
LINE_SELECTORS = ("", "K", "L", "M", "N")
#: Type codes -> canonical name.
TYPE_CODES = {"": "element", "e": "element", "el": "element", "inc": "compton", "com": "compton",
              "coh": "rayleigh", "ray": "rayleigh", "bkg": "background"}
#: ppm per wt% and wt% per mass fraction.
PPM_PER_WT_PERCENT = 1.0e4
#: Largest ECF (measured ÷ calculated intensity) a calibration table may hold. PIQUANT's ECFs for PIXL are
#: 0.75-1.13 (shared/science/absolute-scale.md); a factor beyond 100 is no calibration but a corrupt field.
#: 0 is PIQUANT's "not calibrated" (a line it could not measure, e.g. Ba K in the flight table).
MAX_ECF = 100.0
#: Fields of a calibration-table row that carries the calibration (fields 9-12: ECF, its 1σ, the
#: measured intensity, the atomic number); composition-only rows (matrix elements) stop at field 8.
CALIBRATION_FIELDS = 4
WT_PERCENT_PER_FRACTION = 100.0


@dataclass(frozen=True)
class StandardElement:
    """One element line of a PIQUANT standards or calibration CSV.

    Attributes
    ----------
    element : str
        Symbol (case-sensitive, blanks stripped).
    line : str
        "K", "L", "M", "N" or "" (all lines).
    qualifier : str
        "", "X" (exclude from fit), "M" (matrix), "I" (ignore in composition), "F".
    type : str
        "element", "compton", "rayleigh" or "background".
    wt_percent : float
        Element amount in wt% (ppm and mass fractions converted).
    uncertainty_wt_percent : float or None
        Absolute 1σ in wt% (relative % and absolute ``a`` values converted).
    uncertainty_raw : str
        The uncertainty field as written.
    oxide_ratio : float
        O atoms per cation (0 = element, -1 = default oxide).
    weight : float
        Weight of this standard's ECF when averaging (default 1).
    ecf, ecf_sigma_percent, intensity : float or None
        Calibration-file columns (ECF, its relative 1σ in %, net peak area).
    atomic_number : int or None
        Calibration-file column.
    line_number : int
        Line in the file.
    """

    element: str
    line: str = ""
    qualifier: str = ""
    type: str = "element"
    wt_percent: float = 0.0
    uncertainty_wt_percent: float | None = None
    uncertainty_raw: str = ""
    oxide_ratio: float = 0.0
    weight: float = 1.0
    ecf: float | None = None
    ecf_sigma_percent: float | None = None
    intensity: float | None = None
    atomic_number: int | None = None
    line_number: int = 0


@dataclass(frozen=True)
class StandardEntry:
    """A standard with the composition in force at one ``SPECTRUM`` line.

    Attributes
    ----------
    name, description : str
        From the ``Standard, <name>, <description...>`` line.
    elements : tuple of StandardElement
    spectrum_file : str or None
        The ``SPECTRUM`` field as written (None when the standard has no spectrum).
    density_g_cm3 : float or None
        ``Density`` line of calibration files.
    options : tuple of str
        Other one-word lines inside the block (e.g. "Carbonates").
    comments : tuple of str
    line_number : int
        Line of the ``Standard`` line.
    """

    name: str
    description: str = ""
    elements: tuple[StandardElement, ...] = ()
    spectrum_file: str | None = None
    density_g_cm3: float | None = None
    options: tuple[str, ...] = ()
    comments: tuple[str, ...] = ()
    line_number: int = 0

    @property
    def spectrum_basename(self) -> str | None:
        """File name of ``spectrum_file`` (Windows or POSIX path)."""
        return None if self.spectrum_file is None else re.split(r"[\\/]", self.spectrum_file)[-1]

    @property
    def composition_wt(self) -> dict[str, float]:
        """Element → wt% (first line of each element)."""
        out: dict[str, float] = {}
        for e in self.elements:
            out.setdefault(e.element, e.wt_percent)
        return out

    def element(self, symbol: str, line: str = "") -> StandardElement:
        """The element line for ``symbol`` (and emission ``line`` if given)."""
        for e in self.elements:
            if e.element == symbol and (not line or e.line == line):
                return e
        raise KeyError(symbol)


def _csv_number(tok: str, path: str, lineno: int, what: str) -> float:
    t = tok.strip().rstrip("%").strip()
    if not is_number(t):
        raise CSVFormatError(f"{what}: expected a number, got {tok.strip()!r}", path=path, where=lineno)
    v = float(t)
    if not math.isfinite(v):
        raise CSVFormatError(f"{what}: {tok.strip()!r} is not finite", path=path, where=lineno)
    return v


def _amount_wt(tok: str, path: str, lineno: int) -> tuple[float, float]:
    """Amount text -> (wt%, wt% per unit of the amount as written)."""
    t = tok.strip().lower().replace(" ", "")
    if t.endswith("ppm"):
        num, scale = t[:-3], 1.0 / PPM_PER_WT_PERCENT
    elif t.endswith("p"):
        num, scale = t[:-1], 1.0 / PPM_PER_WT_PERCENT
    elif t.endswith("f"):
        num, scale = t[:-1], WT_PERCENT_PER_FRACTION
    elif t.endswith("%"):
        num, scale = t[:-1], 1.0
    else:
        num, scale = t, 1.0
    if not is_number(num):
        raise CSVFormatError(f"amount: expected '7.17%', '683ppm', '0.5f' or a number, got {tok.strip()!r}",
                             path=path, where=lineno)
    v = float(num) * scale
    if not math.isfinite(v) or v < 0:
        raise CSVFormatError(f"amount {tok.strip()!r} must be finite and >= 0", path=path, where=lineno)
    return v, scale


def _element_line(fields: list[str], path: str, lineno: int, symbol: str, calibration: bool) -> StandardElement:
    from ..physics.elements import atomic_number

    f = [x.strip() for x in fields] + [""] * max(0, 12 - len(fields))
    line = f[1].upper()
    if line not in LINE_SELECTORS:
        raise CSVFormatError(f"{symbol}: emission line {f[1]!r}; expected K, L, M, N or blank", path=path,
                             where=lineno)
    qual = f[2].upper()
    if qual not in QUALIFIERS:
        raise CSVFormatError(f"{symbol}: qualifier {f[2]!r}; expected X, M, I, F or blank", path=path,
                             where=lineno)
    typ = TYPE_CODES.get(f[3].lower())
    if typ is None:
        raise CSVFormatError(f"{symbol}: type {f[3]!r}; expected blank, E/el, inc/Com, coh/Ray or bkg",
                             path=path, where=lineno)
    if not f[4]:
        raise CSVFormatError(f"{symbol}: missing amount (5th field)", path=path, where=lineno)
    wt, scale = _amount_wt(f[4], path, lineno)
    unc_raw = f[5]
    unc = None
    if unc_raw:
        u = unc_raw.lower().replace(" ", "")
        if u.endswith("a"):                      # absolute, in the amount's unit
            unc = _csv_number(u[:-1], path, lineno, f"{symbol} uncertainty") * scale
        else:                                    # relative percent ('2', '0.22%')
            unc = _csv_number(u, path, lineno, f"{symbol} uncertainty") / 100.0 * wt
        if unc < 0:
            raise CSVFormatError(f"{symbol}: uncertainty {unc_raw!r} must be >= 0", path=path, where=lineno)
    oxide = _csv_number(f[6], path, lineno, f"{symbol} oxide ratio") if f[6] else 0.0
    weight = _csv_number(f[7], path, lineno, f"{symbol} weight") if f[7] else 1.0
    ecf = sig = inten = None
    z = None
    if calibration:
        given = [bool(x) for x in f[8:8 + CALIBRATION_FIELDS]]
        if any(given) and not all(given):
            raise CSVFormatError(f"{symbol}: a calibration row holds ECF, ECF sigma, intensity and atomic number "
                                 f"(fields 9-12); this one has {sum(given)} of them (cut short?)", path=path,
                                 where=lineno)
        if all(given):
            ecf = _csv_number(f[8], path, lineno, f"{symbol} ECF")
            sig = _csv_number(f[9], path, lineno, f"{symbol} ECF sigma")
            inten = _csv_number(f[10], path, lineno, f"{symbol} intensity")
            zf = _csv_number(f[11], path, lineno, f"{symbol} atomic number")
            if not 0.0 <= ecf <= MAX_ECF:
                raise CSVFormatError(f"{symbol}: ECF {f[8]!r}; expected 0 (not calibrated) to {MAX_ECF:g}",
                                     path=path, where=lineno)
            if sig < 0 or inten < 0:
                raise CSVFormatError(f"{symbol}: ECF sigma {f[9]!r} and intensity {f[10]!r} must be >= 0",
                                     path=path, where=lineno)
            z = int(zf)
            if z != zf or z != atomic_number(symbol):
                raise CSVFormatError(f"{symbol}: atomic number {f[11]!r}; expected {atomic_number(symbol)}",
                                     path=path, where=lineno)
    return StandardElement(element=symbol, line=line, qualifier=qual, type=typ, wt_percent=wt,
                           uncertainty_wt_percent=unc, uncertainty_raw=unc_raw, oxide_ratio=oxide,
                           weight=weight, ecf=ecf, ecf_sigma_percent=sig, intensity=inten, atomic_number=z,
                           line_number=lineno)


def _parse_standards(rows: list[tuple[int, list[str]]], path: str, calibration: bool) -> list[StandardEntry]:
    from ..physics.elements import check_element

    entries: list[StandardEntry] = []
    cur: dict | None = None
    changed = False               # composition changed since the last SPECTRUM line

    def snapshot(spectrum: str | None) -> StandardEntry:
        return StandardEntry(name=cur["name"], description=cur["description"],
                             elements=tuple(cur["elements"].values()), spectrum_file=spectrum,
                             density_g_cm3=cur["density"], options=tuple(cur["options"]),
                             comments=tuple(cur["comments"]), line_number=cur["line"])

    def flush():
        if cur is not None and changed and calibration:
            # PIQUANT ends every standard of a calibration table with the SPECTRUM it was measured on
            raise CSVFormatError(f"standard {cur['name']!r} ends without its SPECTRUM line (a row lost, or the "
                                 "file cut short?)", path=path, where=cur["line"])
        if cur is not None and changed and cur["elements"]:
            entries.append(snapshot(None))

    for lineno, fields in rows:
        if not any(x.strip() for x in fields):
            continue
        first = fields[0].strip()
        key = first.lower()
        if key == "comment":
            if cur is not None:
                cur["comments"].append(", ".join(x.strip() for x in fields[1:]).strip(", "))
            continue
        if key == "standard":
            flush()
            rest = [x.strip() for x in fields[1:] if x.strip()]
            if not rest:
                raise CSVFormatError("Standard line without a name; expected 'Standard, <name>[, <description>]'",
                                     path=path, where=lineno)
            cur = {"name": rest[0], "description": ", ".join(rest[1:]), "elements": {}, "density": None,
                   "options": [], "comments": [], "line": lineno}
            changed = True
            continue
        if cur is None:
            raise CSVFormatError(f"{first!r} line before any 'Standard' line", path=path, where=lineno)
        if key == "spectrum":
            name = ",".join(fields[1:]).strip()
            if not name:
                raise CSVFormatError("SPECTRUM line without a file name", path=path, where=lineno)
            entries.append(snapshot(name))
            changed = False
            continue
        if key == "density":
            if len(fields) < 2:
                raise CSVFormatError("Density line without a value", path=path, where=lineno)
            cur["density"] = _csv_number(fields[1], path, lineno, "density")
            continue
        try:
            symbol = check_element(first)
        except UnknownElementError:
            symbol = None
        if symbol is not None and len(fields) >= 5:
            el = _element_line(fields, path, lineno, symbol, calibration)
            cur["elements"][(el.element, el.line)] = el
            changed = True
            continue
        if len([x for x in fields if x.strip()]) == 1 and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", first) \
                and symbol is None:
            cur["options"].append(first)
            continue
        raise CSVFormatError(f"unrecognised line starting {first!r}; expected Comment, Standard, SPECTRUM, "
                             "Density or an element line 'Symbol, Line, Qualifier, Type, Amount, ...'",
                             path=path, where=lineno)
    flush()
    return entries


def _csv_rows(path: str) -> list[tuple[int, list[str]]]:
    lines = read_lines(path, CSVFormatError)
    out = []
    for i, line in enumerate(lines):
        try:
            fields = next(csv.reader([line], skipinitialspace=False))
        except StopIteration:
            fields = []
        except csv.Error as e:
            raise CSVFormatError(f"malformed CSV: {e}", path=path, where=i + 1) from None
        out.append((i + 1, fields))
    return out


def read_piquant_standards(path: str | os.PathLike) -> list[StandardEntry]:
    """Read a PIQUANT standards input CSV (``Standards_Input_*.csv``, pixl-formats.md §4).

    Returns
    -------
    list of StandardEntry
        One entry per ``SPECTRUM`` line with the composition in force there
        (element lines after a SPECTRUM line modify the composition for the
        next one), plus one with ``spectrum_file=None`` for a standard whose
        composition is not followed by a SPECTRUM line.

    Raises
    ------
    CSVFormatError
        For unrecognised lines or malformed values (naming the line).
    """
    p = os.fspath(path)
    return _parse_standards(_csv_rows(p), p, calibration=False)


def read_piquant_calibration(path: str | os.PathLike) -> list[StandardEntry]:
    """Read a PIQUANT ECF calibration CSV (pixl-formats.md §2, end).

    Line 1 must be ``PIQUANT, Calibration File, ...``; line 2 is the column
    header. Each ``STANDARD`` block becomes a :class:`StandardEntry` whose
    elements carry ``ecf``, ``ecf_sigma_percent``, ``intensity`` and
    ``atomic_number`` (None where the line omits them, e.g. matrix elements).

    Raises
    ------
    CSVFormatError
        For a missing title line or malformed rows.
    """
    p = os.fspath(path)
    rows = _csv_rows(p)
    if not rows or [x.strip().lower() for x in rows[0][1][:2]] != ["piquant", "calibration file"]:
        raise CSVFormatError("expected the title line 'PIQUANT, Calibration File, ...'", path=p, where=1)
    body = rows[1:]
    if body and body[0][1] and body[0][1][0].strip().lower() == "element":
        body = body[1:]
    return _parse_standards(body, p, calibration=True)
