"""The lines the FP model works with: its atomic data (:data:`FP_ATOMIC_DATA`), how an absorbed photon's
vacancy is shared among subshells, which group a fitted column names, and the merged lines of a group and
of the enhancers of secondary fluorescence."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError, UnknownElementError
from ..physics.edges import coster_kronig, edge
from ..physics.elements import atomic_number, check_element
from ..physics.lines import default_shell, line_group, parse_group_name

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["MIN_LINE_Z", "LINE_MERGE_EV", "ENHANCER_MIN_LINE_FRACTION", "FP_ATOMIC_DATA", "FPLine", "lines_of", "subshell_vacancy_shares", "resolve_group", "group_lines",
           "merge_lines", "enhancer_lines", "SUBSHELLS", "ALL_EDGES"]

#: Lines of one subshell closer than this (eV) are merged into one (Ka1+Ka2, Kb1+Kb3): they
#: share their production and differ in absorption by < 0.1 %.
LINE_MERGE_EV: float = 30.0
#: Enhancer lines weaker than this fraction of their subshell's emission are neglected in the
#: secondary fluorescence (they carry < 2 % of an already ~10 % correction).
ENHANCER_MIN_LINE_FRACTION: float = 0.01
#: Lightest element with lines (Na); lighter elements (H..Ne) only absorb.
MIN_LINE_Z: int = 11
SUBSHELLS = {"K": ("K",), "L": ("L1", "L2", "L3")}
ALL_EDGES = ("K", "L1", "L2", "L3", "M1", "M2", "M3", "M4", "M5")


# --------------------------------------------------------------------------- atomic data
#: Atomic data of the FP model (pixlspec.physics.edges.ATOMIC_DATA_SOURCES). The spectrum fit uses
#: xraylib's (issue 14); the FP keeps the Elam tables it was calibrated with until its absolute scale
#: and ECFs move to the reference data too (issue 15).
FP_ATOMIC_DATA = "elam"


@functools.lru_cache(maxsize=None)
def lines_of(element: str) -> dict:
    """The line table of an element (energies, intensities, levels), cached."""
    import xraydb  # lazy

    return {name: (float(ln.energy), float(ln.intensity), ln.initial_level)
            for name, ln in xraydb.xray_lines(element).items()}


def subshell_vacancy_shares(element: str, subshell: str, energy_eV: ArrayLike) -> np.ndarray:
    """Vacancies in ``subshell`` per photo-absorption event of ``element``, vectorised over energy.

    Jump-ratio peeling from the deepest excited edge outwards, then Coster–Kronig
    transfers towards shallower subshells of the same shell (physics.md §9, the
    vectorised form of :func:`pixlspec.physics.edges.subshell_vacancies`).

    Parameters
    ----------
    element : str
    subshell : {"K", "L1", "L2", "L3"}
    energy_eV : array_like
        Photon energies.

    Returns
    -------
    ndarray
        Share (0..1) at each energy; 0 below the subshell's edge.
    """
    el = check_element(element)
    e = np.atleast_1d(np.asarray(energy_eV, dtype=np.float64))
    remaining = np.ones_like(e)
    created = {}
    for name in ALL_EDGES:
        try:
            ed = edge(el, name, source=FP_ATOMIC_DATA)
        except UnknownElementError:
            created[name] = np.zeros_like(e)
            continue
        if ed.jump_ratio <= 1.0:
            created[name] = np.zeros_like(e)
            continue
        above = e > ed.energy_eV
        created[name] = np.where(above, remaining * (1.0 - 1.0 / ed.jump_ratio), 0.0)
        remaining = np.where(above, remaining / ed.jump_ratio, remaining)
    shell = subshell[0]
    subs = SUBSHELLS.get(shell)
    if subs is None or subshell not in subs:
        raise UnknownElementError(f"FP vacancies are modelled for K and L subshells, got {subshell!r}",
                                  where="fp")
    j = subs.index(subshell)
    out = created[subshell].copy()
    for initial in subs[:j]:
        out += coster_kronig(el, initial, subshell, source=FP_ATOMIC_DATA) * created[initial]
    return out


def resolve_group(name: str, tube_kV: float) -> tuple[str, str, str]:
    """(group name, element, shell) for an element ("Fe": default shell) or group name ("Pb_L").

    Raises
    ------
    UnknownElementError
        Unknown element or group.
    ConfigError
        The group has no lines excited at ``tube_kV`` or is an M group (not modelled).
    """
    if not isinstance(name, str) or not name.strip():
        raise UnknownElementError(f"element or group names are strings like 'Fe' or 'Pb_L', got {name!r}",
                                  where="fp")
    if "_" in name:
        el, shell = parse_group_name(name)
    else:
        el = check_element(name)
        if atomic_number(el) < MIN_LINE_Z:
            raise ConfigError(f"{el} (Z={atomic_number(el)}) has no lines PIXL can measure; elements "
                              f"lighter than Na only absorb", where="fp")
        shell = default_shell(el, tube_kV=tube_kV)
    if shell not in SUBSHELLS:
        raise ConfigError(f"{el} {shell} lines are not modelled by the FP model (K and L only)", where="fp")
    grp = line_group(el, shell, excitation_eV=tube_kV * 1000.0, source=FP_ATOMIC_DATA)
    if grp.edge_eV >= tube_kV * 1000.0:
        raise ConfigError(f"{grp.name}: the {shell} edge ({grp.edge_eV:.0f} eV) is not excited at "
                          f"{tube_kV:g} kV", where="fp")
    return grp.name, el, shell


@dataclass(frozen=True)
class FPLine:
    """One (merged) line of the FP model: element, subshell, energy (eV) and its share of the subshell."""
    element: str
    subshell: str
    energy_eV: float
    fraction: float     # emission probability of the line per vacancy in its subshell
    name: str


def group_lines(el: str, shell: str, tube_kV: float, min_fraction: float) -> list[FPLine]:
    """Lines of a group as the fit models them, with their per-vacancy emission probabilities."""
    grp = line_group(el, shell, excitation_eV=tube_kV * 1000.0, source=FP_ATOMIC_DATA).lines_above(min_fraction)
    table = lines_of(el)
    out = []
    for name, level in zip(grp.line_names, grp.initial_levels):
        energy, p, lv = table[name]
        sub = lv if shell == "K" else lv
        if sub not in SUBSHELLS[shell]:
            continue  # e.g. "M4,5" never happens for K/L groups
        out.append(FPLine(el, sub, energy, p, name))
    return merge_lines(out)


def merge_lines(lines: list[FPLine]) -> list[FPLine]:
    """Merge lines of the same element and subshell within :data:`LINE_MERGE_EV` (intensity-weighted energy)."""
    out: list[FPLine] = []
    for ln in sorted(lines, key=lambda x: (x.element, x.subshell, x.energy_eV)):
        last = out[-1] if out else None
        if (last is not None and last.element == ln.element and last.subshell == ln.subshell
                and abs(ln.energy_eV - last.energy_eV) <= LINE_MERGE_EV):
            f = last.fraction + ln.fraction
            e = (last.energy_eV * last.fraction + ln.energy_eV * ln.fraction) / f
            out[-1] = FPLine(ln.element, ln.subshell, e, f, f"{last.name}+{ln.name}")
        else:
            out.append(ln)
    return sorted(out, key=lambda x: x.energy_eV)


def enhancer_lines(el: str, tube_kV: float) -> list[FPLine]:
    """K and L lines of an element that can enhance others (relative intensity >= 1 %)."""
    out = []
    e0 = tube_kV * 1000.0
    for shell in ("K", "L"):
        try:
            grp = line_group(el, shell, excitation_eV=e0, source=FP_ATOMIC_DATA)
        except (UnknownElementError, ConfigError):
            continue
        if grp.edge_eV >= e0:
            continue
        table = lines_of(el)
        for name, level in zip(grp.line_names, grp.initial_levels):
            energy, p, lv = table[name]
            if lv in SUBSHELLS[shell] and p >= ENHANCER_MIN_LINE_FRACTION:
                out.append(FPLine(el, lv, energy, p, name))
    return merge_lines(out)
