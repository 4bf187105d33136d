"""Element symbols, atomic numbers and atomic masses.

Symbols are case-sensitive ("Fe" is iron; "FE" and "fe" are rejected with a
suggestion), because PIXL standards files and composition tables are
case-sensitive too (pixl-formats.md §4). Surrounding blanks are stripped
("Al " occurs in real standards files).

Atomic masses come from xraydb (Elam et al. 2002 tables, the same database
as every other number in :mod:`pixlspec.physics`); xraydb is imported on
first use only.
"""
from __future__ import annotations

import difflib
import functools

from ..errors import UnknownElementError

__all__ = ["ELEMENT_SYMBOLS", "MAX_Z", "atomic_number", "element_symbol", "atomic_mass",
           "check_element"]

# Element symbols in order of atomic number (index + 1 = Z), H (1) .. Cf (98):
# the elements xraydb 4.5.8 tabulates (IUPAC symbols).
ELEMENT_SYMBOLS: tuple[str, ...] = (
    "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne",
    "Na", "Mg", "Al", "Si", "P", "S", "Cl", "Ar", "K", "Ca",
    "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn",
    "Ga", "Ge", "As", "Se", "Br", "Kr", "Rb", "Sr", "Y", "Zr",
    "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd", "In", "Sn",
    "Sb", "Te", "I", "Xe", "Cs", "Ba", "La", "Ce", "Pr", "Nd",
    "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb",
    "Lu", "Hf", "Ta", "W", "Re", "Os", "Ir", "Pt", "Au", "Hg",
    "Tl", "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac", "Th",
    "Pa", "U", "Np", "Pu", "Am", "Cm", "Bk", "Cf",
)
#: Highest atomic number known to this module (Cf, the last element in xraydb).
MAX_Z: int = len(ELEMENT_SYMBOLS)

_Z_OF: dict[str, int] = {sym: i + 1 for i, sym in enumerate(ELEMENT_SYMBOLS)}
_LOWER_TO_SYMBOL: dict[str, str] = {sym.lower(): sym for sym in ELEMENT_SYMBOLS}


def _suggestion(text: str) -> str:
    """Return a ' (did you mean ...?)' hint for a mistyped element symbol."""
    if text.lower() in _LOWER_TO_SYMBOL:
        return f"; did you mean {_LOWER_TO_SYMBOL[text.lower()]!r}? (symbols are case-sensitive)"
    close = difflib.get_close_matches(text, ELEMENT_SYMBOLS, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_element(symbol: str) -> str:
    """Validate an element symbol and return it in canonical form.

    Parameters
    ----------
    symbol : str
        Element symbol with correct case ("Fe", "Si"); surrounding blanks
        are ignored.

    Returns
    -------
    str
        The symbol without surrounding blanks.

    Raises
    ------
    UnknownElementError
        If the symbol is not an element (wrong case included: "FE" raises
        with the hint "did you mean 'Fe'?").
    """
    if not isinstance(symbol, str):
        raise UnknownElementError(f"element symbol must be a string, got {symbol!r}", where="elements")
    text = symbol.strip()
    if text in _Z_OF:
        return text
    raise UnknownElementError(f"unknown element symbol {symbol!r}{_suggestion(text)}", where="elements")


def atomic_number(symbol: str) -> int:
    """Atomic number Z of an element.

    Parameters
    ----------
    symbol : str
        Element symbol ("Fe").

    Returns
    -------
    int
        Z (Fe -> 26).

    Raises
    ------
    UnknownElementError
        For an unknown or wrongly cased symbol.
    """
    return _Z_OF[check_element(symbol)]


def element_symbol(z: int) -> str:
    """Element symbol for atomic number ``z`` (1 .. :data:`MAX_Z`).

    Raises
    ------
    UnknownElementError
        If ``z`` is not an integer in 1 .. MAX_Z.
    """
    try:
        zi = int(z)
    except (TypeError, ValueError):
        raise UnknownElementError(f"atomic number must be an integer, got {z!r}", where="elements") from None
    if zi != z or not 1 <= zi <= MAX_Z:
        raise UnknownElementError(f"atomic number {z!r} out of range 1..{MAX_Z}", where="elements")
    return ELEMENT_SYMBOLS[zi - 1]


def atomic_mass(symbol: str) -> float:
    """Standard atomic weight (g/mol) from xraydb.

    Parameters
    ----------
    symbol : str
        Element symbol.

    Returns
    -------
    float
        Atomic mass in g/mol (Fe -> 55.845, O -> 15.999).
    """
    return _atomic_mass(check_element(symbol))


@functools.lru_cache(maxsize=None)
def _atomic_mass(sym: str) -> float:
    import xraydb  # lazy: xraydb takes ~0.6 s to import

    return float(xraydb.atomic_mass(sym))
