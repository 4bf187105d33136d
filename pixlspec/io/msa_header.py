"""The text layer of EMSA/MAS files (ISO 22029, PIXL's dialect): lines, numbers and keywords, and the header
(:class:`MSAHeader`, :func:`parse_msa_header`) that spectra and PIQUANT configurations share. The data and
the spectra are :mod:`pixlspec.io.msa`; PIQUANT's keywords are :mod:`pixlspec.io.piquant`.
"""
from __future__ import annotations

import codecs
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal

from ..errors import MSAFormatError, PixlspecError
from .files import read_input_bytes

__all__ = ["MSAHeader", "parse_msa_header", "check_magic", "unset_value", "read_lines", "is_number",
           "scaled_number", "FORMAT_MAGIC", "PIXL_VERSION", "EMSA_VERSION", "DETECTOR_NAMES", "UNSET_VALUES",
           "M_TO_MM_EXP", "KEV_TO_EV_EXP", "KEYWORD_ALIASES", "COUNTER_KEYWORDS", "QUADRATIC_KEYWORD",
           "snippet", "norm_keyword", "split_keyword", "shifted_repr", "TOKEN_SEPARATOR", "MAX_EXACT_INT"]

#: ``#FORMAT`` value required by ISO 22029 / PIQUANT (the "MAS" spelling is the standard's).
FORMAT_MAGIC = "EMSA/MAS spectral data file"
#: ``#VERSION`` of PIXL's dialect (pixl-formats.md §1).
PIXL_VERSION = "TC202v2.0 PIXL"
#: ``#VERSION`` of a plain EMSA/MAS file (ISO 22029 / EMSA 1.0); read, never written.
EMSA_VERSION = "1.0"
#: Column names of PIXL's two detectors, in file order (pixl-formats.md §1.2: A first, then B).
DETECTOR_NAMES = ("A", "B")
#: Placeholder values that mean "not given" (pixl-formats.md §6 item 8).
UNSET_VALUES = frozenset({"n/a", "<tbd>", ""})
#: Decimal exponents of the unit conversions (applied as exact decimal shifts).
M_TO_MM_EXP = 3      # metres -> millimetres
KEV_TO_EV_EXP = 3    # keV -> eV
#: Keyword alias spellings -> canonical name (pixl-formats.md §1.2: flight files write ##BASE_EVENT).
KEYWORD_ALIASES = {"BASE_EVENT": "BASE_EVENTS", "SOLID_ANLGE": "SOLIDANGLE"}
#: Per-detector pulse-processor counters -> metadata key.
COUNTER_KEYWORDS = {"EVENTS": "events", "TRIGGERS": "triggers", "OVERFLOWS": "overflows",
                    "UNDERFLOWS": "underflows", "BASE_EVENTS": "base_events", "RESETS": "resets",
                    "OVER_ADCMAX": "over_adcmax"}
#: pixlspec extension keyword for the quadratic calibration term (eV per channel², per detector).
QUADRATIC_KEYWORD = "QUADRATIC"

TOKEN_SEPARATOR = re.compile(r"[,\s]+")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_KEYWORD = re.compile(r"[A-Za-z0-9_\-]+")
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_EXACT_INT = 2 ** 53


# --------------------------------------------------------------------------- text
def read_lines(path: str | os.PathLike, error_cls: type[PixlspecError] = MSAFormatError) -> list[str]:
    """Lines of a text file (CRLF, LF or CR endings; BOM stripped) without terminators.

    Raises ``error_cls`` (naming the file and line) for an unreadable, empty,
    undecodable or binary file. Shared by every text reader of :mod:`pixlspec.io`.
    """
    p = os.fspath(path)
    data = read_input_bytes(p, kind="text", error_cls=error_cls)
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    if not data.strip():
        raise error_cls("empty file; expected text", path=p, where=1)
    ctrl = _CONTROL_BYTES.search(data)
    try:
        text = data.decode("utf-8")
        bad_utf8 = None
    except UnicodeDecodeError as e:
        text, bad_utf8 = "", e.start
    if ctrl is not None and (bad_utf8 is None or ctrl.start() <= bad_utf8):
        line = _line_at(data, ctrl.start())
        raise error_cls(f"binary data (control byte 0x{data[ctrl.start()]:02x}); expected a text file",
                        path=p, where=line)
    if bad_utf8 is not None:
        line = _line_at(data, bad_utf8)
        raise error_cls(f"undecodable byte 0x{data[bad_utf8]:02x}; expected a text file (ASCII/UTF-8), "
                        "not binary data", path=p, where=line)
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _line_at(data: bytes, pos: int) -> int:
    """1-based line number of byte ``pos`` (CRLF, LF or CR endings)."""
    return len(re.split(rb"\r\n|\n|\r", data[:pos]))


def snippet(text: str, n: int = 40) -> str:
    """The start of ``text`` for an error message (``n`` characters, with "..." when cut)."""
    return text if len(text) <= n else text[:n] + "..."


def is_number(tok: str) -> bool:
    """Whether a token is a plain decimal number (as EMSA/MAS values are written)."""
    return _NUMBER.fullmatch(tok) is not None


def scaled_number(tok: str, exp10: int) -> float:
    """``tok * 10**exp10`` computed as an exact decimal shift of the text, rounded once.

    ``"0.1524"`` mm gives exactly ``152.4`` µm (not ``152.39999999999998``), and
    :func:`shifted_repr` writes text that this maps back to the same double.
    """
    if exp10 == 0:
        return float(tok)
    try:
        return float(Decimal(tok).scaleb(exp10))
    except (ArithmeticError, ValueError):          # overflow of a garbage exponent
        return float(tok) * 10.0 ** exp10


def shifted_repr(value: float, exp10: int) -> str:
    """Decimal text of ``value * 10**exp10`` that :func:`scaled_number` maps back to ``value`` exactly."""
    return str(Decimal(repr(float(value))).scaleb(exp10))


def split_keyword(text: str) -> tuple[str, str]:
    """Split a stripped ``#``-line into (keyword without hashes, value text)."""
    body = text.lstrip("#")
    head, sep, tail = body.partition(":")
    head = head.strip()
    if sep and head and not any(c.isspace() for c in head):
        return head, tail.strip()
    parts = body.split(None, 1)       # "#SPECTRUM", "#ENDOFDATA   end of spectrum data"
    if not parts:
        return "", ""
    kw = parts[0]
    value = parts[1].strip() if len(parts) > 1 else ""
    if kw.endswith(":"):
        kw = kw[:-1]
    return kw, value


def norm_keyword(key: str) -> str:
    """A keyword in its canonical spelling (upper case, aliases resolved)."""
    k = key.strip().lstrip("#").strip().upper()
    return KEYWORD_ALIASES.get(k, k)


# --------------------------------------------------------------------------- header
class MSAHeader(Mapping):
    """Keywords of an MSA header, in file order.

    A read-only mapping from the canonical keyword (upper case, without the
    leading ``#``/``##``; alias spellings such as ``BASE_EVENT`` folded into
    ``BASE_EVENTS``) to the list of its raw value strings (one per occurrence,
    trailing comments included). Line numbers are kept for error messages.

    Attributes
    ----------
    path : str or None
        File the header came from.
    lines : dict of str to list of int
        1-based line number of each occurrence.
    raw_keywords : dict of str to list of str
        Keywords as spelled in the file (``"##PMC"``).
    spectrum_line : int or None
        Line number of ``#SPECTRUM`` (None for configuration files).
    data_index : int or None
        0-based index (into the lines given) of the first line after ``#SPECTRUM``.
    last_line : int
        Line number of the last non-blank line read.
    """

    def __init__(self, path: str | None = None):
        self.path = path
        self._values: dict[str, list[str]] = {}
        self.lines: dict[str, list[int]] = {}
        self.raw_keywords: dict[str, list[str]] = {}
        self.spectrum_line: int | None = None
        self.data_index: int | None = None
        self.last_line = 0

    # --- Mapping ------------------------------------------------------------
    def __getitem__(self, key: str) -> list[str]:
        return list(self._values[norm_keyword(key)])

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and norm_keyword(key) in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"MSAHeader({len(self)} keywords, path={self.path!r})"

    def _add(self, raw_kw: str, value: str, line: int) -> None:
        key = norm_keyword(raw_kw)
        self._values.setdefault(key, []).append(value)
        self.lines.setdefault(key, []).append(line)
        self.raw_keywords.setdefault(key, []).append(raw_kw)

    # --- typed access -------------------------------------------------------
    def line(self, key: str) -> int | None:
        """Line number of the occurrence of ``key`` that counts (the last one)."""
        k = norm_keyword(key)
        return self.lines[k][-1] if k in self.lines else None

    def text(self, key: str) -> str | None:
        """Raw value of the last occurrence of ``key`` (later occurrences override, as in PIQUANT)."""
        k = norm_keyword(key)
        return self._values[k][-1] if k in self._values else None

    def tokens(self, key: str) -> list[str]:
        """Value of ``key`` split on commas and blanks (empty list when absent)."""
        t = self.text(key)
        return [x for x in TOKEN_SEPARATOR.split(t) if x] if t else []

    def _error(self, key: str, message: str, cls=MSAFormatError) -> PixlspecError:
        k = norm_keyword(key)
        return cls(f"#{k}: {message}", path=self.path, where=self.line(k))

    def number_tokens(self, key: str, n: int = 1) -> list[str] | None:
        """The first ``n`` tokens of ``key``, checked to be numbers (None when ``key`` is absent)."""
        if key not in self:
            return None
        toks = self.tokens(key)
        if len(toks) < n:
            what = "a number" if n == 1 else f"{n} numbers separated by commas (one per detector)"
            raise self._error(key, f"expected {what}, got {snippet(self.text(key) or '')!r}")
        for tok in toks[:n]:
            if not is_number(tok):
                raise self._error(key, f"expected a number, got {snippet(tok)!r}")
        return toks[:n]

    def number(self, key: str, *, required: bool = False, exp10: int = 0) -> float | None:
        """First token of ``key`` as a float, scaled by ``10**exp10`` (None when absent)."""
        toks = self.number_tokens(key, 1)
        if toks is None:
            if required:
                raise MSAFormatError(f"missing #{norm_keyword(key)} keyword", path=self.path,
                                     where=self.last_line or None)
            return None
        v = scaled_number(toks[0], exp10)
        if not math.isfinite(v):
            raise self._error(key, f"value {toks[0]!r} is not finite")
        return v

    def numbers(self, key: str, n: int, *, exp10: int = 0) -> list[float] | None:
        """The first ``n`` tokens of ``key`` as floats (per-detector lists); None when absent."""
        toks = self.number_tokens(key, n)
        if toks is None:
            return None
        out = [scaled_number(t, exp10) for t in toks]
        for t, v in zip(toks, out):
            if not math.isfinite(v):
                raise self._error(key, f"value {t!r} is not finite")
        return out

    def leading_numbers(self, key: str, *, exp10: int = 0) -> list[float]:
        """All leading numeric tokens of ``key`` (for lists whose length may disagree with NCOLUMNS)."""
        out = []
        for tok in self.tokens(key):
            if not is_number(tok):
                break
            out.append(scaled_number(tok, exp10))
        if key in self and not out:
            raise self._error(key, f"expected a number, got {snippet(self.text(key) or '')!r}")
        return out

    def integer(self, key: str, *, required: bool = False) -> int | None:
        """First token of ``key`` as an integer ("4096" or "4096." both accepted)."""
        v = self.number(key, required=required)
        if v is None:
            return None
        if v != int(v):
            raise self._error(key, f"expected an integer, got {self.tokens(key)[0]!r}")
        return int(v)

    def to_dict(self) -> dict[str, str | list[str]]:
        """Every keyword's raw value (a list where the keyword repeats)."""
        return {k: (v[0] if len(v) == 1 else list(v)) for k, v in self._values.items()}


def parse_msa_header(lines: Iterable[str], path: str | os.PathLike | None = None) -> MSAHeader:
    """Tokenize the header of an MSA spectrum or PIQUANT configuration file.

    Parameters
    ----------
    lines : iterable of str
        The file's lines (line terminators and a leading BOM are stripped).
    path : str or os.PathLike, optional
        File name used in error messages.

    Returns
    -------
    MSAHeader
        Keywords up to (and including) ``#SPECTRUM``, or to the end of the
        lines for configuration files.

    Raises
    ------
    MSAFormatError
        For a non-blank line that is not a ``#KEYWORD`` line, or an invalid keyword.
    """
    p = os.fspath(path) if path is not None else None
    header = MSAHeader(p)
    for i, raw in enumerate(lines):
        lineno = i + 1
        line = raw.rstrip("\r\n")
        if i == 0:
            line = line.lstrip("\ufeff")
        s = line.strip()
        if not s:
            continue
        header.last_line = lineno
        if not s.startswith("#"):
            raise MSAFormatError(f"expected a header line '#KEYWORD : value' (data may only follow "
                                 f"#SPECTRUM), got {snippet(s)!r}", path=p, where=lineno)
        kw, value = split_keyword(s)
        if not _KEYWORD.fullmatch(kw or ""):
            raise MSAFormatError(f"invalid keyword {snippet(kw)!r}; expected letters, digits and '_' "
                                 "after '#'", path=p, where=lineno)
        header._add(s[:len(s) - len(s.lstrip("#"))] + kw, value, lineno)
        if norm_keyword(kw) == "SPECTRUM":
            header.spectrum_line = lineno
            header.data_index = i + 1
            break
    return header


def check_magic(header: MSAHeader) -> str:
    """Check ``#FORMAT`` and ``#VERSION``; return the dialect ("pixl" or "emsa")."""
    fmt = header.text("FORMAT")
    if fmt is None:
        raise MSAFormatError(f"missing #FORMAT keyword; expected '#FORMAT : {FORMAT_MAGIC}' (first line)",
                             path=header.path, where=1)
    if not fmt.strip().lower().startswith(FORMAT_MAGIC.lower()):
        raise MSAFormatError(f"#FORMAT is {snippet(fmt)!r}; expected {FORMAT_MAGIC!r}", path=header.path,
                             where=header.line("FORMAT"))
    ver = header.text("VERSION")
    if ver is None:
        raise MSAFormatError(f"missing #VERSION keyword; expected '#VERSION : {PIXL_VERSION}'",
                             path=header.path, where=header.line("FORMAT"))
    v = " ".join(ver.split()).lower()
    if v.startswith(PIXL_VERSION.lower()):
        return "pixl"
    if v.split()[:1] == [EMSA_VERSION]:
        return "emsa"
    raise MSAFormatError(f"unsupported #VERSION {snippet(ver)!r}; expected {PIXL_VERSION!r} "
                         f"(or {EMSA_VERSION!r})", path=header.path, where=header.line("VERSION"))


def unset_value(value: str | None) -> bool:
    """Whether a header value means "not given" (``N/A``, ``<tbd>``, empty)."""
    return value is None or value.strip().lower() in UNSET_VALUES
