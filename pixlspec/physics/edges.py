"""Absorption edges, fluorescence yields, jump ratios and Coster-Kronig transfers.

Edge energies come from xraydb 4.5.8 (Elam, Ravel & Sieber 2002, Radiat. Phys.
Chem. 63:121). Fluorescence yields, jump ratios and Coster-Kronig transfer
probabilities come from xraylib (Schoonjans et al. 2011, Spectrochim. Acta B
66:776; yields of Krause 1979, J. Phys. Chem. Ref. Data 8:307, K shell after
Hubbell et al. 1994, J. Phys. Chem. Ref. Data 23:339; Coster-Kronig of
Campbell 2003, At. Data Nucl. Data Tables 85:291): xraydb's K-shell yields of
Mg-Ca are 7-15 % below those references (Si: 0.0429 against 0.0504), which
made every light-element sensitivity and the Si escape peaks too small.
Values are looked up once per process and cached.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

from ..errors import ConfigError, UnknownElementError
from .elements import check_element

__all__ = ["Edge", "SHELLS", "ATOMIC_DATA_SOURCES", "edge", "edge_energies_eV", "fluorescence_yield", "jump_ratio",
           "coster_kronig", "subshell_vacancies"]

#: Sources of yields, jump ratios, Coster-Kronig and radiative rates: "xraylib" (the default, the
#: evaluated references) or "elam" (xraydb's Elam tables, the values used before; kept so that the FP
#: quantification can move to the reference data together with its calibration, issue 15).
ATOMIC_DATA_SOURCES: tuple[str, ...] = ("xraylib", "elam")


def _check_source(source: str) -> str:
    if source not in ATOMIC_DATA_SOURCES:
        raise ConfigError(f"unknown atomic data source {source!r}; expected one of {ATOMIC_DATA_SOURCES}",
                          where="edges")
    return source

#: Subshells this module knows (IUPAC notation, order of increasing binding depth reversed).
SHELLS: tuple[str, ...] = ("K", "L1", "L2", "L3", "M1", "M2", "M3", "M4", "M5")

# Subshells of each shell, innermost first (the order vacancies cascade in).
_SUBSHELLS = {"K": ("K",), "L": ("L1", "L2", "L3"), "M": ("M1", "M2", "M3", "M4", "M5")}


class Edge(NamedTuple):
    """One absorption edge of an element."""

    energy_eV: float
    """Edge (binding) energy in eV."""
    fluorescence_yield: float
    """Fluorescence yield omega of the subshell."""
    jump_ratio: float
    """Jump ratio J = mu(above edge)/mu(below edge); 1 - 1/J is the subshell fraction."""


def _check_shell(shell: str) -> str:
    if not isinstance(shell, str) or shell.strip() not in SHELLS:
        raise UnknownElementError(f"unknown shell {shell!r}; expected one of {', '.join(SHELLS)}",
                                  where="edges")
    return shell.strip()


#: xraylib shell codes of the subshells this module knows.
_XRAYLIB_SHELL = {"K": "K_SHELL", "L1": "L1_SHELL", "L2": "L2_SHELL", "L3": "L3_SHELL", "M1": "M1_SHELL",
                  "M2": "M2_SHELL", "M3": "M3_SHELL", "M4": "M4_SHELL", "M5": "M5_SHELL"}


def _xraylib_value(func, z: int, shell: str, fallback: float) -> float:
    """``func(z, shell)`` from xraylib, or ``fallback`` where xraylib has no value."""
    import xraylib  # lazy

    try:
        v = float(func(z, getattr(xraylib, _XRAYLIB_SHELL[shell])))
    except (ValueError, KeyError):
        return fallback
    return v if v > 0 else fallback


@functools.lru_cache(maxsize=None)
def _edges_of(element: str, source: str = "xraylib") -> dict[str, Edge]:
    import xraydb  # lazy
    import xraylib

    from .elements import atomic_number

    z = atomic_number(element)
    out = {}
    for name, e in xraydb.xray_edges(element).items():
        if name in _XRAYLIB_SHELL and source == "xraylib":
            omega = _xraylib_value(xraylib.FluorYield, z, name, float(e.fyield))
            jump = _xraylib_value(xraylib.JumpFactor, z, name, float(e.jump_ratio))
        else:
            omega, jump = float(e.fyield), float(e.jump_ratio)
        out[name] = Edge(float(e.energy), omega, jump)
    return out


@functools.lru_cache(maxsize=None)
def edge_energies_eV(element: str) -> tuple[float, ...]:
    """Energies (eV) of every absorption edge of ``element`` (K, L1-3, M1-5 and the outer shells xraydb
    lists), ascending: where its attenuation coefficient jumps.

    Raises
    ------
    UnknownElementError
        Unknown element.
    """
    import xraydb  # lazy

    el = check_element(element)
    return tuple(sorted(float(e.energy) for e in xraydb.xray_edges(el).values()))


def edge(element: str, shell: str, source: str = "xraylib") -> Edge:
    """Absorption edge of ``element`` for ``shell``.

    Parameters
    ----------
    element : str
        Element symbol ("Fe").
    shell : str
        "K", "L1", "L2", "L3", "M1" .. "M5".
    source : {"xraylib", "elam"}
        Yields and jump ratios from xraylib (default) or xraydb's Elam tables.

    Returns
    -------
    Edge
        ``(energy_eV, fluorescence_yield, jump_ratio)``. Fe K -> (7112.0,
        0.355, 7.89).

    Raises
    ------
    UnknownElementError
        Unknown element or shell, or a shell the element does not have.
    """
    el = check_element(element)
    sh = _check_shell(shell)
    try:
        return _edges_of(el, _check_source(source))[sh]
    except KeyError:
        raise UnknownElementError(f"{el} has no {sh} edge in xraydb", where="edges") from None


def fluorescence_yield(element: str, shell: str, source: str = "xraylib") -> float:
    """Fluorescence yield omega of ``element``'s ``shell`` (see :func:`edge`)."""
    return edge(element, shell, source).fluorescence_yield


def jump_ratio(element: str, shell: str, source: str = "xraylib") -> float:
    """Jump ratio J of ``element``'s ``shell`` (see :func:`edge`)."""
    return edge(element, shell, source).jump_ratio


def coster_kronig(element: str, initial: str, final: str, source: str = "xraylib") -> float:
    """Total Coster-Kronig transfer probability from subshell ``initial`` to ``final``.

    From xraylib's ``CosKronTransProb`` (Campbell 2003 for L, Krause 1979
    / Chauvin for M): the direct probabilities f_ij, with the two-step paths
    added, so L1 -> L3 is f13 + f12·f23 (and likewise for M); do not add the
    cascade again (physics.md §9).

    Parameters
    ----------
    element : str
        Element symbol.
    initial, final : str
        Subshells of the same shell, ``initial`` deeper than ``final``
        ("L1" -> "L3", "M3" -> "M5").

    Returns
    -------
    float
        Transfer probability (0 where xraylib has no value). Sr L1->L3 0.549.

    Raises
    ------
    UnknownElementError
        Unknown element or subshell, or subshells of different shells or in
        the wrong order.
    """
    el = check_element(element)
    ini, fin = _check_shell(initial), _check_shell(final)
    if _check_source(source) == "elam":
        return _coster_kronig_elam(el, ini, fin)
    if ini[0] != fin[0] or ini == "K" or not ini < fin:
        raise UnknownElementError(f"no Coster-Kronig transition {ini}->{fin}: need two subshells of "
                                  "the same shell, the first one deeper (e.g. L1->L3)", where="edges")
    return _coster_kronig(el, ini, fin)


@functools.lru_cache(maxsize=None)
def _coster_kronig_elam(el: str, ini: str, fin: str) -> float:
    import xraydb  # lazy

    try:
        return float(xraydb.ck_probability(el, ini, fin, total=True))
    except Exception:  # xraydb raises for levels it does not tabulate
        return 0.0


def _ck_direct(z: int, ini: str, fin: str) -> float:
    """Direct Coster-Kronig probability f_ij from xraylib (0 where it has none)."""
    import xraylib  # lazy

    code = getattr(xraylib, f"F{ini[0]}{ini[1:]}{fin[1:]}_TRANS", None)
    if code is None:
        return 0.0
    try:
        return float(xraylib.CosKronTransProb(z, code))
    except ValueError:  # xraylib raises for transitions it does not tabulate at this Z
        return 0.0


@functools.lru_cache(maxsize=None)
def _coster_kronig(el: str, ini: str, fin: str) -> float:
    from .elements import atomic_number

    z = atomic_number(el)
    subs = _SUBSHELLS[ini[0]]
    i, j = subs.index(ini), subs.index(fin)
    # total transfer i -> j: the direct step plus every path through intermediate subshells
    total = _ck_direct(z, ini, fin)
    for k in range(i + 1, j):
        total += _ck_direct(z, ini, subs[k]) * _coster_kronig(el, subs[k], fin)
    return total


def subshell_vacancies(element: str, shell: str, excitation_eV: float, source: str = "xraylib") -> dict[str, float]:
    """Relative vacancies per subshell after photo-ionisation and Coster-Kronig transfer.

    Vacancy creation uses the jump-ratio peeling of physics.md §9 ("L lines
    and Coster-Kronig"): a subshell whose edge lies above ``excitation_eV``
    gets no vacancies; each deeper edge that *is* excited takes its share
    (1 - 1/J) first. Coster-Kronig transfers then move vacancies towards
    shallower subshells, ``n_j = t_j + sum_{i<j} F_ij t_i`` with the total
    transfer probabilities F of :func:`coster_kronig`. Vacancies fed by
    radiative K (or L -> M) transitions are neglected (small for PIXL lines).

    Parameters
    ----------
    element : str
        Element symbol.
    shell : str
        "K", "L" or "M".
    excitation_eV : float
        Photon energy that ionises the atom.

    Returns
    -------
    dict
        subshell -> vacancies per photo-absorption event of the element
        (the common factor tau cancels).

    Raises
    ------
    UnknownElementError
        Unknown element or shell.
    ConfigError
        Non-numeric excitation energy.
    """
    el = check_element(element)
    if not isinstance(shell, str) or shell not in _SUBSHELLS:
        raise UnknownElementError(f"unknown shell {shell!r}; expected 'K', 'L' or 'M'", where="edges")
    try:
        exc = float(excitation_eV)
    except (TypeError, ValueError):
        raise ConfigError(f"excitation_eV must be a number, got {excitation_eV!r}", where="edges") from None
    return dict(_subshell_vacancies(el, shell, exc, _check_source(source)))


@functools.lru_cache(maxsize=None)
def _subshell_vacancies(el: str, shell: str, excitation_eV: float,
                        source: str = "xraylib") -> tuple[tuple[str, float], ...]:
    edges = _edges_of(el, source)
    # Peel shells from the inside out: fraction of absorption left for shallower subshells.
    remaining = 1.0
    created: dict[str, float] = {}
    for name in ("K", "L1", "L2", "L3", "M1", "M2", "M3", "M4", "M5"):
        e = edges.get(name)
        if e is None or e.energy_eV >= excitation_eV or e.jump_ratio <= 1.0:
            created[name] = 0.0
            continue
        share = 1.0 - 1.0 / e.jump_ratio
        created[name] = remaining * share
        remaining *= 1.0 / e.jump_ratio
    subs = _SUBSHELLS[shell]
    out = {}
    for j, final in enumerate(subs):
        n = created[final]
        for initial in subs[:j]:
            n += coster_kronig(el, initial, final, source) * created[initial]
        out[final] = n
    return tuple(out.items())
