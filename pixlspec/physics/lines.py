"""Characteristic X-ray line groups (K, L, M) per element.

A *line group* is what the fit treats as one unknown: all lines of one shell
of one element, with fixed relative intensities. Names follow the public API:
the K group of iron is ``"Fe"``, the L group of lead ``"Pb_L"``, the M group
of uranium ``"U_M"``.

Line energies come from xraydb 4.5.8 (Elam et al. 2002); the branching ratios
within a subshell are xraylib's radiative rates (Schoonjans et al. 2011,
Spectrochim. Acta B 66:776; K shell after Krause/Scofield). The Elam K rates
give every element from Mg to Ar a Kβ/Kα of ~0.12-0.13 (Si: 0.127 against
0.028 measured, Mg a Kβ line that does not exist: no 3p electron in the
ground state of Mg), which moved counts from Kα into a phantom Kβ. A line
xraylib does not tabulate is not emitted; M lines, which xraylib tabulates
sparsely, keep the Elam rates. Groups built from several subshells (L, M) weight each
subshell by its vacancies at the excitation energy (jump ratios and
Coster-Kronig transfers, physics.md §9) times its fluorescence yield, so the
relative intensities inside an L group are physical. Groups are built once per
process (``functools.lru_cache``); their arrays are read-only.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, UnknownElementError
from .edges import ATOMIC_DATA_SOURCES, edge, subshell_vacancies
from .elements import atomic_number, check_element

__all__ = ["LineGroup", "line_group", "parse_group_name", "group_name", "default_shell", "tube_lines",
           "LINE_INTENSITY_MIN", "K_LINE_NAMES", "MIN_Z_LINES", "MAX_Z_LINES", "K_OVERVOLTAGE_MIN",
           "DEFAULT_EXCITATION_EV", "radiative_rate"]

#: Lines weaker than this fraction of their group are dropped (then the rest is renormalised).
LINE_INTENSITY_MIN: float = 1e-4
#: K lines kept in a K group (the diagram lines an SDD resolves; Ka3/Kb4 are < 1e-3 and
#: hidden under Ka/Kb). Kb2 only exists in xraydb from Z ~ 31 on.
K_LINE_NAMES: tuple[str, ...] = ("Ka1", "Ka2", "Kb1", "Kb3", "Kb5", "Kb2")
#: Range of atomic numbers with line groups: Na (PIXL's lightest analysed element) .. U.
MIN_Z_LINES: int = 11
MAX_Z_LINES: int = 92
#: Minimum overvoltage U0 = E0/E_edge for :func:`default_shell` to choose a shell.
#: Fluorescence excited by the continuum between E_edge and E0 vanishes as U0 -> 1;
#: with U0 >= 1.1 at least ~10 % of the tube spectrum above the edge is available
#: (engineering choice; Pd K (24.35 keV) is the heaviest K group at 28 kV, Ag uses L).
K_OVERVOLTAGE_MIN: float = 1.1
#: Default excitation energy for L/M group weights (eV): a representative energy
#: of PIXL's Rh tube spectrum at 28 kV (the Rh K lines at 20.2 keV dominate it).
DEFAULT_EXCITATION_EV: float = 20000.0

_SHELLS = ("K", "L", "M")


@dataclass(frozen=True, eq=False)
class LineGroup:
    """All lines of one shell of one element, with fixed relative intensities.

    Attributes
    ----------
    name : str
        Group name: "Fe" (K), "Pb_L", "U_M".
    element : str
        Element symbol.
    z : int
        Atomic number.
    shell : str
        "K", "L" or "M".
    line_names : tuple of str
        Siegbahn names as xraydb gives them ("Ka1", "Lb2,15"), sorted by energy.
    energies_eV : ndarray
        Line energies (eV), float64, read-only.
    intensities : ndarray
        Relative intensities, sum to 1, read-only.
    edge_eV : float
        Lowest excitation edge of the group (K; L3 for L; M5 for M).
    edges_eV : ndarray
        All subshell edges of the group (eV), ascending, read-only.
    edge_names : tuple of str
        Subshell names matching ``edges_eV`` ("L3", "L2", "L1").
    initial_levels : tuple of str
        Subshell whose vacancy emits each line ("K", "L3", "M4,5").
    """

    name: str
    element: str
    z: int
    shell: str
    line_names: tuple[str, ...]
    energies_eV: np.ndarray
    intensities: np.ndarray
    edge_eV: float
    edges_eV: np.ndarray
    edge_names: tuple[str, ...] = ()
    initial_levels: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.line_names)

    @property
    def families(self) -> tuple[str, ...]:
        """Line family of each line ("Ka", "Kb", "La", "Lb", "Lg", ...)."""
        return tuple(n[:2] for n in self.line_names)

    @property
    def main_family(self) -> str:
        """Family of the strongest single line ("Ka" for K groups, "La" for most L groups)."""
        return self.families[int(np.argmax(self.intensities))]

    @property
    def main_energy_eV(self) -> float:
        """Intensity-weighted energy of the main family (Fe: Ka1/Ka2 mean 6400.8 eV)."""
        sel = np.array([f == self.main_family for f in self.families])
        w = self.intensities[sel]
        return float(np.sum(w * self.energies_eV[sel]) / np.sum(w))

    def lines_above(self, fraction: float) -> "LineGroup":
        """The group restricted to lines with relative intensity >= ``fraction``.

        Parameters
        ----------
        fraction : float
            Threshold on the relative intensity (intensities sum to 1), in [0, 1).

        Returns
        -------
        LineGroup
            Same name, kept lines only, intensities renormalised to sum 1. The
            strongest line is always kept.
        """
        if not 0.0 <= fraction < 1.0:
            raise ConfigError(f"fraction must be in [0, 1), got {fraction!r}", where=f"line group {self.name}")
        keep = self.intensities >= fraction
        keep[int(np.argmax(self.intensities))] = True
        return _make_group(self.name, self.element, self.shell,
                           [n for n, k in zip(self.line_names, keep) if k],
                           self.energies_eV[keep], self.intensities[keep],
                           [lv for lv, k in zip(self.initial_levels, keep) if k] if self.initial_levels else (),
                           self.edge_eV, self.edges_eV, self.edge_names, threshold=0.0)

    def __repr__(self) -> str:
        lines = ", ".join(f"{n} {e:.1f} eV {i:.4f}"
                          for n, e, i in zip(self.line_names, self.energies_eV, self.intensities))
        return f"LineGroup({self.name!r}, edge {self.edge_eV:.1f} eV: {lines})"


def _readonly(values) -> np.ndarray:
    arr = np.array(values, dtype=np.float64)
    arr.setflags(write=False)
    return arr


def _make_group(name, element, shell, names, energies, intensities, levels, edge_eV, edges_eV, edge_names,
                threshold=LINE_INTENSITY_MIN) -> LineGroup:
    """Drop weak lines, normalise, sort by energy, freeze the arrays."""
    energies = np.asarray(energies, dtype=np.float64)
    intens = np.asarray(intensities, dtype=np.float64)
    total = intens.sum()
    if not total > 0:
        raise UnknownElementError(f"no emitted lines for {name}", where="lines")
    intens = intens / total
    keep = intens >= threshold
    names = [n for n, k in zip(names, keep) if k]
    levels = [lv for lv, k in zip(levels, keep) if k] if len(levels) else []
    energies, intens = energies[keep], intens[keep]
    order = np.argsort(energies, kind="stable")
    intens = intens[order] / intens.sum()
    return LineGroup(name=name, element=element, z=atomic_number(element), shell=shell,
                     line_names=tuple(names[i] for i in order), energies_eV=_readonly(energies[order]),
                     intensities=_readonly(intens), edge_eV=float(edge_eV), edges_eV=_readonly(edges_eV),
                     edge_names=tuple(edge_names),
                     initial_levels=tuple(levels[i] for i in order) if levels else ())


def group_name(element: str, shell: str) -> str:
    """Group name for ``element`` and ``shell``: ("Fe", "K") -> "Fe", ("Pb", "L") -> "Pb_L"."""
    el = check_element(element)
    if shell not in _SHELLS:
        raise UnknownElementError(f"unknown shell {shell!r}; expected 'K', 'L' or 'M'", where="lines")
    return el if shell == "K" else f"{el}_{shell}"


def parse_group_name(name: str) -> tuple[str, str]:
    """Split a group name into (element, shell).

    "Pb_L" -> ("Pb", "L"); "Fe" and "Fe_K" -> ("Fe", "K").

    Raises
    ------
    UnknownElementError
        Unknown element symbol or shell.
    """
    if not isinstance(name, str):
        raise UnknownElementError(f"line group name must be a string, got {name!r}", where="lines")
    text = name.strip()
    el, sep, shell = text.partition("_")
    if not sep:
        shell = "K"
    if shell not in _SHELLS:
        raise UnknownElementError(f"unknown line group {name!r}: shell must be K, L or M "
                                  "(names look like 'Fe', 'Pb_L', 'U_M')", where="lines")
    return check_element(el), shell


def _resolve(name_or_element, shell) -> tuple[str, str]:
    if isinstance(name_or_element, tuple):
        if len(name_or_element) != 2 or shell is not None:
            raise UnknownElementError(f"expected (element, shell), got {name_or_element!r}", where="lines")
        name_or_element, shell = name_or_element
        el = check_element(name_or_element)
    elif shell is None:
        el, shell = parse_group_name(name_or_element)
    else:
        if isinstance(name_or_element, str) and "_" in name_or_element:
            el, named_shell = parse_group_name(name_or_element)
            if named_shell != shell:
                raise UnknownElementError(f"group {name_or_element!r} conflicts with shell={shell!r}",
                                          where="lines")
        else:
            el = check_element(name_or_element)
    if shell not in _SHELLS:
        raise UnknownElementError(f"unknown shell {shell!r}; expected 'K', 'L' or 'M'", where="lines")
    z = atomic_number(el)
    if not MIN_Z_LINES <= z <= MAX_Z_LINES:
        raise UnknownElementError(f"no line groups for {el} (Z={z}); supported Z {MIN_Z_LINES}..{MAX_Z_LINES}",
                                  where="lines")
    return el, shell


def line_group(name_or_element, shell: str | None = None,
               excitation_eV: float = DEFAULT_EXCITATION_EV, source: str = "xraylib") -> LineGroup:
    """The line group of an element and shell (cached).

    Parameters
    ----------
    name_or_element : str or tuple
        "Fe" (K group), "Fe_K", "Pb_L", "U_M", an element with ``shell``, or
        a tuple ("Pb", "L").
    shell : {"K", "L", "M"}, optional
        Shell, if not part of the name. Default "K".
    excitation_eV : float
        Photon energy used to weight the subshells of L and M groups
        (vacancies from jump ratios and Coster-Kronig transfers, physics.md
        §9). Irrelevant for K groups.
    source : {"xraylib", "elam"}
        Radiative rates, yields and Coster-Kronig of xraylib (default) or of
        xraydb's Elam tables (:data:`pixlspec.physics.edges.ATOMIC_DATA_SOURCES`).

    Returns
    -------
    LineGroup

    Raises
    ------
    UnknownElementError
        Unknown element, shell or group; Z outside 11..92; no lines of that
        shell in xraydb.
    ConfigError
        ``excitation_eV`` does not excite the group (below its lowest edge)
        or is not a positive finite number.
    """
    el, sh = _resolve(name_or_element, shell)
    try:
        exc = float(excitation_eV)
    except (TypeError, ValueError):
        raise ConfigError(f"excitation_eV must be a number, got {excitation_eV!r}", where="lines") from None
    if not np.isfinite(exc) or exc <= 0:
        raise ConfigError(f"excitation_eV must be positive and finite, got {excitation_eV!r}", where="lines")
    if sh == "K":
        exc = 0.0  # K group intensities do not depend on the excitation; share one cache entry
    if source not in ATOMIC_DATA_SOURCES:
        raise ConfigError(f"unknown atomic data source {source!r}; expected one of {ATOMIC_DATA_SOURCES}",
                          where="lines")
    return _line_group(el, sh, exc, source)


def radiative_rate(element: str, initial: str, final: str) -> float:
    """xraylib radiative rate of the transition ``initial`` <- ``final`` ("K", "M3" -> Kβ1).

    ``final`` may name several subshells as xraydb does ("N4,5"): the rates are summed.
    0 where xraylib has no such line.
    """
    import xraylib  # lazy

    z = atomic_number(check_element(element))
    letter, digits = final[:1], final[1:].split(",")
    total = 0.0
    for d in digits:
        code = getattr(xraylib, f"{initial}{letter}{d}_LINE", None)
        if code is None:
            continue
        try:
            total += float(xraylib.RadRate(z, code))
        except ValueError:  # not tabulated for this Z
            pass
    return total


@functools.lru_cache(maxsize=None)
def raw_xray_lines(element: str, source: str = "xraylib"):
    """name -> (energy eV, relative rate within the initial subshell, initial level)."""
    import xraydb  # lazy

    out = {}
    for name, ln in xraydb.xray_lines(element).items():
        rate = float(ln.intensity)
        if ln.initial_level[:1] in ("K", "L") and source == "xraylib":
            rate = radiative_rate(element, ln.initial_level, ln.final_level)
        if rate > 0:
            out[name] = (float(ln.energy), rate, ln.initial_level)
    return out


@functools.lru_cache(maxsize=None)
def _line_group(el: str, shell: str, excitation_eV: float, source: str = "xraylib") -> LineGroup:
    name = group_name(el, shell)
    lines = raw_xray_lines(el, source)
    if shell == "K":
        picked = [(n, e, i, "K") for n, (e, i, lv) in lines.items() if lv == "K" and n in K_LINE_NAMES]
        if not picked:
            raise UnknownElementError(f"xraydb has no K lines for {el}", where="lines")
        k = edge(el, "K", source).energy_eV
        return _make_group(name, el, "K", [p[0] for p in picked], [p[1] for p in picked],
                           [p[2] for p in picked], [p[3] for p in picked], k, [k], ["K"])

    subs = ("L1", "L2", "L3") if shell == "L" else ("M1", "M2", "M3", "M4", "M5")
    edges = {}
    for s in subs:
        try:
            edges[s] = edge(el, s, source)
        except UnknownElementError:
            pass
    if not edges:
        raise UnknownElementError(f"xraydb has no {shell} edges for {el}", where="lines")
    lowest = subs[-1] if subs[-1] in edges else min(edges, key=lambda s: edges[s].energy_eV)
    if excitation_eV <= edges[lowest].energy_eV:
        raise ConfigError(f"excitation {excitation_eV:.0f} eV is below the {el} {lowest} edge "
                          f"({edges[lowest].energy_eV:.0f} eV): group {name} is not excited", where="lines")
    vac = subshell_vacancies(el, shell, excitation_eV, source)
    weight = {s: vac.get(s, 0.0) * edges[s].fluorescence_yield for s in edges}
    picked = []
    for n, (e, i, lv) in lines.items():
        levels = [f"{shell}{d}" for d in lv[1:].split(",")] if lv[:1] == shell else []
        if not levels or any(s not in subs for s in levels):
            continue
        w = float(np.mean([weight.get(s, 0.0) for s in levels]))  # "M4,5": mean of the two subshells
        if w * i > 0:
            picked.append((n, e, w * i, lv))
    if not picked:
        raise UnknownElementError(f"xraydb has no emitted {shell} lines for {el}", where="lines")
    order = sorted(edges, key=lambda s: edges[s].energy_eV)
    return _make_group(name, el, shell, [p[0] for p in picked], [p[1] for p in picked],
                       [p[2] for p in picked], [p[3] for p in picked], edges[lowest].energy_eV,
                       [edges[s].energy_eV for s in order], order)


def default_shell(element: str, tube_kV: float = 28.0, max_energy_eV: float | None = None) -> str:
    """The shell to fit for ``element`` with a tube at ``tube_kV``.

    K if the K edge is excited with overvoltage >= :data:`K_OVERVOLTAGE_MIN`
    (and, if ``max_energy_eV`` is given, the main K family lies below it);
    otherwise L under the same conditions with the L3 edge; otherwise M.
    At 28 kV: Fe, Sr, Zr -> "K"; Ba, Pb, U -> "L".

    Raises
    ------
    UnknownElementError
        Unknown element or Z outside 11..92.
    ConfigError
        No shell of the element is excited or none lies below ``max_energy_eV``.
    """
    el, _ = _resolve(element, "K")
    if not tube_kV > 0:
        raise ConfigError(f"tube_kV must be positive, got {tube_kV!r}", where="lines")
    e0_eV = float(tube_kV) * 1000.0
    for shell in _SHELLS:
        try:
            grp = line_group(el, shell, excitation_eV=e0_eV)
        except (UnknownElementError, ConfigError):
            continue
        if grp.edge_eV * K_OVERVOLTAGE_MIN > e0_eV:
            continue
        if max_energy_eV is not None and grp.main_energy_eV > max_energy_eV:
            continue
        return shell
    raise ConfigError(f"no K, L or M lines of {el} are excited at {tube_kV} kV"
                      + (f" below {max_energy_eV} eV" if max_energy_eV is not None else ""), where="lines")


def tube_lines(anode: str = "Rh", kV: float = 28.0, *, electron_incidence_deg: float = 60.0,
               takeoff_deg: float = 30.0, window_Be_um: float = 152.4) -> list[LineGroup]:
    """Characteristic line groups emitted by the tube anode (for scatter peaks).

    Relative intensities inside each group are those of the Ebel tube model
    (:func:`pixlspec.physics.tube.tube_spectrum` with this geometry and Be
    window; the defaults are the PIXL flight model's), i.e. what leaves the tube.

    Parameters
    ----------
    anode : str
        Anode element ("Rh").
    kV : float
        Tube voltage.
    electron_incidence_deg, takeoff_deg, window_Be_um : float
        Tube geometry and window (negative take-off: transmission anode).

    Returns
    -------
    list of LineGroup
        The K group (named like the anode, "Rh") if the K edge is below
        ``kV``, then the L group ("Rh_L").
    """
    el, _ = _resolve(anode, "K")
    try:
        kv = float(kV)
    except (TypeError, ValueError):
        raise ConfigError(f"kV must be a number, got {kV!r}", where="tube") from None
    return list(_tube_lines(el, kv, float(electron_incidence_deg), float(takeoff_deg), float(window_Be_um)))


@functools.lru_cache(maxsize=None)
def _tube_lines(el: str, kV: float, incidence_deg: float, takeoff_deg: float,
                window_Be_um: float) -> tuple[LineGroup, ...]:
    from .tube import tube_spectrum  # lazy: tube imports this module

    spec = tube_spectrum(voltage_kV=kV, anode=el, electron_incidence_deg=incidence_deg, takeoff_deg=takeoff_deg,
                         window_Be_um=window_Be_um)
    groups = []
    for shell in _SHELLS:
        sel = np.array([s == shell for s in spec.line_shells], dtype=bool)
        if not sel.any() or not spec.line_intensities[sel].sum() > 0:
            continue
        ref = line_group(el, shell, excitation_eV=kV * 1000.0)
        names = [n for n, k in zip(spec.line_names, sel) if k]
        levels = [lv for lv, k in zip(spec.line_levels, sel) if k]
        groups.append(_make_group(ref.name, el, shell, names, spec.line_energies_eV[sel],
                                  spec.line_intensities[sel], levels, ref.edge_eV, ref.edges_eV, ref.edge_names))
    return tuple(groups)
