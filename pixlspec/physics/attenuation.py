"""Compositions, mass attenuation coefficients and transmission.

``mu/rho`` of a material is the mass-fraction weighted sum of the elemental
Elam coefficients from xraydb (``mu_elam``), physics.md conventions.
xraydb is slow per call (~36 ms for 4096 energies), so every elemental curve
is computed once per (element, kind, energy grid) and cached; repeated calls
on the same grid cost a hash of the grid. Returned arrays are read-only.
"""
from __future__ import annotations

import functools
import math
import re
import warnings
from collections.abc import Mapping

import numpy as np

from ..errors import CompositionError, ConfigError, UnknownElementError
from .elements import ELEMENT_SYMBOLS, atomic_mass, check_element

__all__ = ["parse_composition", "parse_formula", "mass_attenuation", "photo_absorption", "transmission",
           "density", "MU_KINDS", "ELAM_MIN_ENERGY_EV", "ELAM_MAX_ENERGY_EV", "COMPOSITION_MAX_TOTAL_WT"]

#: Kinds of cross section xraydb's ``mu_elam`` provides.
MU_KINDS: tuple[str, ...] = ("total", "photo", "coh", "incoh")
#: Energy range of the Elam tables (xraydb warns outside it, xraydb 4.5.8 ``cross_section_elam``);
#: energies outside are clamped to it (a detector grid may start below 0 eV).
ELAM_MIN_ENERGY_EV: float = 100.0
ELAM_MAX_ENERGY_EV: float = 800_000.0
#: wt% dictionaries summing above this are rejected as unphysical (analytical totals of real
#: analyses lie within ~95-102 wt%; 110 leaves room for unnormalised data with volatiles).
COMPOSITION_MAX_TOTAL_WT: float = 110.0
_PERCENT = 100.0  # wt% -> mass fraction
_LOWER_SYMBOLS = frozenset(sym.lower() for sym in ELEMENT_SYMBOLS)

# Formula tokens: element, '(', ')', number (integer or decimal), hydrate separator ('·' or '*';
# an ASCII '.' is not accepted as separator because "CaSO4.2H2O" would be ambiguous with 4.2).
_TOKEN = re.compile(r"\s*(?:([A-Z][a-z]?)|(\()|(\))|(\d+(?:\.\d+)?|\.\d+)|([·*]))")


# --------------------------------------------------------------------------- formulas
def parse_formula(formula: str) -> dict[str, float]:
    """Atom counts of a chemical formula.

    Supports nested parentheses and hydrate dots: "SiO2", "CaSO4(H2O)2",
    "CaSO4·2H2O", "Mg0.5Fe0.5SiO3". Element symbols are case-sensitive.

    Parameters
    ----------
    formula : str

    Returns
    -------
    dict
        element -> number of atoms per formula unit.

    Raises
    ------
    CompositionError
        Unparsable formula.
    UnknownElementError
        Unknown element symbol in the formula.
    """
    return dict(_parse_formula(formula))


@functools.lru_cache(maxsize=4096)
def _parse_formula(formula: str) -> tuple[tuple[str, float], ...]:
    if not isinstance(formula, str) or not formula.strip():
        raise CompositionError(f"empty or non-string formula {formula!r}", where="composition")
    text = formula.strip()
    tokens = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            bad = text[pos:].strip()
            hint = ""
            if bad[:1].islower():
                hint = " (element symbols start with a capital letter)"
            raise CompositionError(f"cannot parse formula {formula!r} at {bad!r}{hint}", where="composition")
        tokens.append(m)
        pos = m.end()

    stack: list[dict[str, float]] = [{}]
    last: dict[str, float] | None = None  # the item a following number multiplies
    part_mult = 1.0
    part_start = True
    total: dict[str, float] = {}

    def flush_part():
        for el, n in stack[0].items():
            total[el] = total.get(el, 0.0) + n * part_mult

    for m in tokens:
        sym, lpar, rpar, num, dot = m.groups()
        if sym:
            if sym not in ELEMENT_SYMBOLS:
                raise UnknownElementError(f"unknown element symbol {sym!r} in formula {formula!r}",
                                          where="composition")
            last = {sym: 1.0}
            _add(stack[-1], last)
            part_start = False
        elif lpar:
            stack.append({})
            last = None
            part_start = False
        elif rpar:
            if len(stack) < 2:
                raise CompositionError(f"unbalanced ')' in formula {formula!r}", where="composition")
            group = stack.pop()
            last = group
            _add(stack[-1], group)
        elif num:
            value = float(num)
            if part_start:
                part_mult = value
                part_start = False
            elif last is None:
                raise CompositionError(f"misplaced number {num!r} in formula {formula!r}", where="composition")
            else:
                _add(stack[-1], {k: v * (value - 1.0) for k, v in last.items()})
                last = None
        elif dot:
            if len(stack) != 1:
                raise CompositionError(f"unbalanced '(' in formula {formula!r}", where="composition")
            flush_part()
            stack[0] = {}
            part_mult, part_start, last = 1.0, True, None
    if len(stack) != 1:
        raise CompositionError(f"unbalanced '(' in formula {formula!r}", where="composition")
    flush_part()
    counts = {el: n for el, n in total.items() if n != 0}
    if not counts or any(n < 0 for n in counts.values()):
        raise CompositionError(f"formula {formula!r} contains no atoms", where="composition")
    return tuple(counts.items())


def _add(target: dict[str, float], items: Mapping[str, float]) -> None:
    for k, v in items.items():
        target[k] = target.get(k, 0.0) + v


@functools.lru_cache(maxsize=4096)
def _formula_mass_fractions(formula: str) -> tuple[tuple[str, float], ...]:
    """Element mass fractions of a formula or of an xraydb material name ("quartz")."""
    text = formula.strip() if isinstance(formula, str) else formula
    if isinstance(text, str) and text in ELEMENT_SYMBOLS:
        return ((text, 1.0),)
    try:
        counts = _parse_formula(formula)
    except (CompositionError, UnknownElementError):
        named = _xraydb_material(text) if isinstance(text, str) else None
        if named is None:
            if isinstance(text, str) and text.lower() in _LOWER_SYMBOLS:
                check_element(text)  # "FE", "fe": raise with "did you mean 'Fe'?"
            raise
        counts = _parse_formula(named[0])
    masses = {el: n * atomic_mass(el) for el, n in counts}
    total = sum(masses.values())
    return tuple((el, m / total) for el, m in masses.items())


@functools.lru_cache(maxsize=None)
def _xraydb_material(name: str):
    """(formula, density) of a material in xraydb's database by name, or None."""
    import xraydb  # lazy

    try:
        mat = xraydb.find_material(name)
    except Exception:
        return None
    return (mat.formula, float(mat.density)) if mat is not None else None


# --------------------------------------------------------------------------- compositions
def _composition_key(material) -> tuple[tuple[str, float], ...]:
    """Hashable, validated composition: sorted (element, mass fraction) pairs."""
    if isinstance(material, str):
        return tuple(sorted(_formula_mass_fractions(material)))
    if isinstance(material, Mapping):
        if not material:
            raise CompositionError("empty composition dictionary", where="composition")
        out: dict[str, float] = {}
        total_wt = 0.0
        for key, amount in material.items():
            if not isinstance(key, str):
                raise CompositionError(f"composition key {key!r} is not an element or formula",
                                       where=f"composition[{key!r}]")
            wt = checked_wt(key, amount)
            try:
                fractions = _formula_mass_fractions(key)
            except UnknownElementError as exc:
                raise UnknownElementError(f"composition key {key!r}: {exc.message}",
                                          where=f"composition[{key!r}]") from None
            except CompositionError as exc:
                raise CompositionError(f"composition key {key!r}: {exc.message}",
                                       where=f"composition[{key!r}]") from None
            total_wt += wt
            for el, f in fractions:
                out[el] = out.get(el, 0.0) + f * wt / _PERCENT
        if not total_wt > 0:
            raise CompositionError("composition sums to zero", where="composition")
        if total_wt > COMPOSITION_MAX_TOTAL_WT:
            raise CompositionError(f"composition sums to {total_wt:.2f} wt% (> {COMPOSITION_MAX_TOTAL_WT}); "
                                   "amounts must be wt% (e.g. {'SiO2': 49.9}), not unphysical totals",
                                   where="composition")
        return tuple(sorted((el, f) for el, f in out.items() if f > 0))
    raise CompositionError(f"material must be an element, a formula or a dict of wt%, got {material!r}",
                           where="composition")


def checked_wt(key, amount) -> float:
    """``amount`` (wt%) of composition entry ``key`` as a float; a clear error unless finite and >= 0."""
    try:
        wt = float(amount)
    except (TypeError, ValueError):
        raise CompositionError(f"amount {amount!r} of {key!r} is not a number",
                               where=f"composition[{key!r}]") from None
    if not math.isfinite(wt) or wt < 0:
        raise CompositionError(f"amount of {key!r} must be a finite non-negative wt%, got {amount!r}",
                               where=f"composition[{key!r}]")
    return wt


def parse_composition(material) -> dict[str, float]:
    """Element mass fractions of a material.

    Parameters
    ----------
    material : str or dict
        An element ("Fe"), a formula ("SiO2", "CaSO4(H2O)2", "Fe2O3", "CO2"),
        an xraydb material name ("quartz"), or a dict of wt% of oxides,
        compounds or elements ({"SiO2": 49.9, "FeO": 11.1} or {"Si": 23.3}).

    Returns
    -------
    dict
        element -> mass fraction. Formulas give fractions summing to 1; wt%
        dictionaries are converted *as given* (not normalised), so the
        fractions sum to total wt% / 100 (physics.md §9 basalt: Si 0.23325,
        O 0.43437, ...).

    Raises
    ------
    CompositionError
        Unparsable formula, negative / non-numeric amount, empty or zero or
        unphysical (> 110 wt%) composition; the message names the key.
    UnknownElementError
        Unknown element symbol (names the key).
    """
    return dict(_composition_key(material))


# --------------------------------------------------------------------------- attenuation
def checked_energies(energy_eV, where: str) -> np.ndarray:
    """``energy_eV`` as a float64 array; a :class:`ConfigError` (at ``where``) unless numeric and finite."""
    try:
        energy = np.asarray(energy_eV, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"energy_eV must be numeric, got {energy_eV!r}", where=where) from None
    if not np.all(np.isfinite(energy)):
        raise ConfigError("energy_eV contains NaN or infinite values", where=where)
    return energy


def _energy_array(energy_eV) -> tuple[np.ndarray, bool]:
    energy = checked_energies(energy_eV, "attenuation")
    scalar = energy.ndim == 0
    energy = np.array(np.clip(energy, ELAM_MIN_ENERGY_EV, ELAM_MAX_ENERGY_EV), order="C")  # keeps 0-d
    return energy, scalar


def _check_kind(kind: str) -> str:
    if kind not in MU_KINDS:
        raise ConfigError(f"unknown cross-section kind {kind!r}; expected one of {MU_KINDS}", where="attenuation")
    return kind


@functools.lru_cache(maxsize=2048)
def _element_mu(element: str, kind: str, energy_bytes: bytes, shape: tuple[int, ...]) -> np.ndarray:
    import xraydb  # lazy

    energy = np.frombuffer(energy_bytes, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mu = np.asarray(xraydb.mu_elam(element, energy.ravel(), kind=kind), dtype=np.float64)
    mu = mu.reshape(shape).copy()
    mu.setflags(write=False)
    return mu


@functools.lru_cache(maxsize=1024)
def _material_mu(comp: tuple[tuple[str, float], ...], kind: str, energy_bytes: bytes,
                 shape: tuple[int, ...]) -> np.ndarray:
    if len(comp) == 1 and comp[0][1] == 1.0:
        return _element_mu(comp[0][0], kind, energy_bytes, shape)
    mu = np.zeros(shape)
    for el, frac in comp:
        mu += frac * _element_mu(el, kind, energy_bytes, shape)
    mu.setflags(write=False)
    return mu


def mass_attenuation(material, energy_eV, kind: str = "total"):
    """Mass attenuation coefficient mu/rho (cm²/g) of a material.

    Parameters
    ----------
    material : str or dict
        Anything :func:`parse_composition` accepts.
    energy_eV : float or array_like
        Photon energies (eV). Values outside 100 eV .. 800 keV (the Elam
        tables' range) are clamped to it.
    kind : {"total", "photo", "coh", "incoh"}
        Cross section: total, photo-absorption, coherent (Rayleigh),
        incoherent (Compton).

    Returns
    -------
    float or ndarray
        sum_k w_k (mu/rho)_k(E), same shape as ``energy_eV`` (read-only array).
        For wt% dictionaries the fractions are used as given (not normalised).

    Raises
    ------
    ConfigError
        Unknown ``kind`` or non-finite energies.
    CompositionError, UnknownElementError
        Bad ``material``.
    """
    comp = _composition_key(material)
    kind = _check_kind(kind)
    energy, scalar = _energy_array(energy_eV)
    mu = _material_mu(comp, kind, energy.tobytes(), energy.shape)
    return float(mu) if scalar else mu


def photo_absorption(element: str, energy_eV):
    """Photo-absorption coefficient tau (cm²/g) of an element (see :func:`mass_attenuation`)."""
    return mass_attenuation(check_element(element), energy_eV, kind="photo")


def density(material) -> float:
    """Default density (g/cm³) of an element or a material in xraydb's database.

    Parameters
    ----------
    material : str
        Element symbol ("Be" -> 1.85, "Si" -> 2.329), formula with an entry
        in xraydb's material list (the first entry with that composition; "CO2" -> gas at STP), or
        xraydb material name ("quartz").

    Raises
    ------
    CompositionError
        No default density is known: pass ``density_g_cm3`` explicitly.
    """
    if not isinstance(material, str):
        raise CompositionError(f"no default density for {material!r}; give density_g_cm3", where="density")
    return _density(material.strip())


@functools.lru_cache(maxsize=None)
def _density(text: str) -> float:
    import xraydb  # lazy

    if text in ELEMENT_SYMBOLS:
        return float(xraydb.atomic_density(text))
    named = _xraydb_material(text)
    if named is not None:
        return named[1]
    try:
        target = _composition_key(text)
    except (CompositionError, UnknownElementError):
        raise
    for mat in xraydb.get_materials().values():
        try:
            if _same_composition(_composition_key(mat.formula), target):
                return float(mat.density)
        except (CompositionError, UnknownElementError):
            continue
    raise CompositionError(f"no default density known for {text!r}; give density_g_cm3", where="density")


def _same_composition(a, b, rtol=1e-6) -> bool:
    return len(a) == len(b) and all(ea == eb and abs(fa - fb) <= rtol for (ea, fa), (eb, fb) in zip(a, b))


def transmission(material, thickness_cm, density_g_cm3=None, energy_eV=None):
    """Transmission exp(-mu/rho · rho · t) of a layer.

    Parameters
    ----------
    material : str or dict
        Layer material (see :func:`parse_composition`).
    thickness_cm : float
        Thickness (cm), >= 0.
    density_g_cm3 : float, optional
        Density; default :func:`density` of ``material``.
    energy_eV : float or array_like
        Photon energies (eV). Required.

    Returns
    -------
    float or ndarray

    Raises
    ------
    ConfigError
        Missing energies, negative thickness or density.
    """
    if energy_eV is None:
        raise ConfigError("transmission needs energy_eV", where="attenuation")
    t = float(thickness_cm)
    if not math.isfinite(t) or t < 0:
        raise ConfigError(f"thickness_cm must be finite and >= 0, got {thickness_cm!r}", where="attenuation")
    rho = density(material) if density_g_cm3 is None else float(density_g_cm3)
    if not math.isfinite(rho) or rho < 0:
        raise ConfigError(f"density_g_cm3 must be finite and >= 0, got {density_g_cm3!r}", where="attenuation")
    mu = mass_attenuation(material, energy_eV)
    result = np.exp(-np.asarray(mu) * rho * t)
    return float(result) if np.ndim(result) == 0 else result
