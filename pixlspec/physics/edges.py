"""Absorption edges, fluorescence yields, jump ratios and Coster-Kronig transfers.

All values come from xraydb 4.5.8 (Elam, Ravel & Sieber 2002, Radiat. Phys.
Chem. 63:121; Coster-Kronig probabilities after Krause 1979, J. Phys. Chem.
Ref. Data 8:307), looked up once per process and cached.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

from ..errors import ConfigError, UnknownElementError
from .elements import check_element

__all__ = ["Edge", "SHELLS", "edge", "fluorescence_yield", "jump_ratio", "coster_kronig",
           "subshell_vacancies"]

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


@functools.lru_cache(maxsize=None)
def _edges_of(element: str) -> dict[str, Edge]:
    import xraydb  # lazy

    return {name: Edge(float(e.energy), float(e.fyield), float(e.jump_ratio))
            for name, e in xraydb.xray_edges(element).items()}


def edge(element: str, shell: str) -> Edge:
    """Absorption edge of ``element`` for ``shell``.

    Parameters
    ----------
    element : str
        Element symbol ("Fe").
    shell : str
        "K", "L1", "L2", "L3", "M1" .. "M5".

    Returns
    -------
    Edge
        ``(energy_eV, fluorescence_yield, jump_ratio)``. Fe K -> (7112.0,
        0.351, 7.89).

    Raises
    ------
    UnknownElementError
        Unknown element or shell, or a shell the element does not have.
    """
    el = check_element(element)
    sh = _check_shell(shell)
    try:
        return _edges_of(el)[sh]
    except KeyError:
        raise UnknownElementError(f"{el} has no {sh} edge in xraydb", where="edges") from None


def fluorescence_yield(element: str, shell: str) -> float:
    """Fluorescence yield omega of ``element``'s ``shell`` (see :func:`edge`)."""
    return edge(element, shell).fluorescence_yield


def jump_ratio(element: str, shell: str) -> float:
    """Jump ratio J of ``element``'s ``shell`` (see :func:`edge`)."""
    return edge(element, shell).jump_ratio


def coster_kronig(element: str, initial: str, final: str) -> float:
    """Total Coster-Kronig transfer probability from subshell ``initial`` to ``final``.

    This is xraydb's ``ck_probability(..., total=True)``: for L1 -> L3 it
    already includes the two-step path (f13 + f12·f23), so do not add the
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
        Transfer probability (0 where xraydb has no value). Fe L1->L3 0.696.

    Raises
    ------
    UnknownElementError
        Unknown element or subshell, or subshells of different shells or in
        the wrong order.
    """
    el = check_element(element)
    ini, fin = _check_shell(initial), _check_shell(final)
    if ini[0] != fin[0] or ini == "K" or not ini < fin:
        raise UnknownElementError(f"no Coster-Kronig transition {ini}->{fin}: need two subshells of "
                                  "the same shell, the first one deeper (e.g. L1->L3)", where="edges")
    return _coster_kronig(el, ini, fin)


@functools.lru_cache(maxsize=None)
def _coster_kronig(el: str, ini: str, fin: str) -> float:
    import xraydb  # lazy

    try:
        return float(xraydb.ck_probability(el, ini, fin, total=True))
    except Exception:  # xraydb raises for levels it does not tabulate
        return 0.0


def subshell_vacancies(element: str, shell: str, excitation_eV: float) -> dict[str, float]:
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
    return dict(_subshell_vacancies(el, shell, exc))


@functools.lru_cache(maxsize=None)
def _subshell_vacancies(el: str, shell: str, excitation_eV: float) -> tuple[tuple[str, float], ...]:
    edges = _edges_of(el)
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
            n += coster_kronig(el, initial, final) * created[initial]
        out[final] = n
    return tuple(out.items())
