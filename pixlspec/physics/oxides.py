"""Oxide stoichiometry: element wt% <-> oxide wt% (physics.md §10).

For an oxide El_n O_m the element-to-oxide factor is
``F = (n M_el + m M_O) / (n M_el)``: oxide wt% = F x element wt%. Atomic
weights come from xraydb (O = 15.999). Everywhere in this module "factor"
means this F (element -> oxide); element wt% = oxide wt% / F.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping

from ..errors import CompositionError, UnknownElementError
from .attenuation import checked_wt, parse_composition, parse_formula
from .elements import atomic_mass, check_element

__all__ = ["OXIDES", "FE_OXIDES", "oxide_factor", "oxide_of", "element_of", "oxides_to_elements",
           "elements_to_oxides"]

# element -> (oxide formula, cations n, oxygens m) as reported for rocks. Major elements as in
# physics.md §10 (the PIXL/PIQUANT convention: Fe as FeO total, S as SO3, Cl and Br as elements);
# minor/trace oxides as usual in geochemical and microprobe tables (V2O3, Ce2O3, ...).
OXIDES: dict[str, tuple[str, int, int]] = {
    "Na": ("Na2O", 2, 1), "Mg": ("MgO", 1, 1), "Al": ("Al2O3", 2, 3), "Si": ("SiO2", 1, 2),
    "P": ("P2O5", 2, 5), "S": ("SO3", 1, 3), "Cl": ("Cl", 1, 0), "K": ("K2O", 2, 1),
    "Ca": ("CaO", 1, 1), "Sc": ("Sc2O3", 2, 3), "Ti": ("TiO2", 1, 2), "V": ("V2O3", 2, 3),
    "Cr": ("Cr2O3", 2, 3), "Mn": ("MnO", 1, 1), "Fe": ("FeO", 1, 1), "Co": ("CoO", 1, 1),
    "Ni": ("NiO", 1, 1), "Cu": ("CuO", 1, 1), "Zn": ("ZnO", 1, 1), "Ga": ("Ga2O3", 2, 3),
    "Ge": ("GeO2", 1, 2), "As": ("As2O3", 2, 3), "Se": ("Se", 1, 0), "Br": ("Br", 1, 0),
    "Rb": ("Rb2O", 2, 1), "Sr": ("SrO", 1, 1), "Y": ("Y2O3", 2, 3), "Zr": ("ZrO2", 1, 2),
    "Nb": ("Nb2O5", 2, 5), "Mo": ("MoO3", 1, 3), "Ba": ("BaO", 1, 1), "La": ("La2O3", 2, 3),
    "Ce": ("Ce2O3", 2, 3), "Pb": ("PbO", 1, 1), "Th": ("ThO2", 1, 2), "U": ("UO2", 1, 2),
}
#: Allowed iron oxides for reporting total iron.
FE_OXIDES: tuple[str, ...] = ("FeO", "Fe2O3")


@functools.lru_cache(maxsize=None)
def _parse_oxide(oxide: str) -> tuple[str, float, float]:
    """(element, n, m) of an oxide formula El_nO_m (or a bare element)."""
    if not isinstance(oxide, str):
        raise CompositionError(f"oxide must be a formula string, got {oxide!r}", where="oxides")
    counts = parse_formula(oxide)
    cations = [el for el in counts if el != "O"]
    if len(cations) != 1:
        if counts.keys() == {"O"}:
            return "O", counts["O"], 0.0
        raise CompositionError(f"{oxide!r} is not a simple oxide El_nO_m (cations: {cations})",
                               where=f"oxide {oxide!r}")
    el = cations[0]
    return el, counts[el], counts.get("O", 0.0)


@functools.lru_cache(maxsize=None)
def _factor(el: str, n: float, m: float) -> float:
    return (n * atomic_mass(el) + m * atomic_mass("O")) / (n * atomic_mass(el))


def element_of(oxide: str) -> tuple[str, float]:
    """Cation and element-to-oxide factor of an oxide formula.

    Parameters
    ----------
    oxide : str
        "Fe2O3", "SiO2", "Cl" (element reported as such).

    Returns
    -------
    (str, float)
        ``(element, F)`` with oxide wt% = F x element wt% ("Fe2O3" -> ("Fe", 1.4297)).

    Raises
    ------
    CompositionError
        Not a simple oxide (several cations or unparsable).
    UnknownElementError
        Unknown element in the formula.
    """
    el, n, m = _parse_oxide(oxide)
    return el, _factor(el, n, m)


def oxide_of(element: str, fe_oxide: str = "FeO") -> str:
    """Oxide formula an element is reported as ("Si" -> "SiO2", "Fe" -> ``fe_oxide``).

    Elements not in :data:`OXIDES` are reported as the element itself.
    """
    el = check_element(element)
    if fe_oxide not in FE_OXIDES:
        raise CompositionError(f"fe_oxide must be one of {FE_OXIDES}, got {fe_oxide!r}", where="oxides")
    if el == "Fe":
        return fe_oxide
    return OXIDES[el][0] if el in OXIDES else el


def oxide_factor(element: str, oxide: str | None = None) -> float:
    """Element-to-oxide factor F (physics.md §10: Si -> SiO2 2.1393, Fe -> FeO 1.2865).

    Parameters
    ----------
    element : str
        Element symbol.
    oxide : str, optional
        Oxide formula; default the element's entry in :data:`OXIDES`
        (factor 1 for elements reported as elements or not in the table).

    Raises
    ------
    CompositionError
        ``oxide`` is not an oxide of ``element``.
    """
    el = check_element(element)
    if oxide is None:
        oxide = oxide_of(el)
    ox_el, factor = element_of(oxide)
    if ox_el != el:
        raise CompositionError(f"{oxide!r} is not an oxide of {el}", where=f"oxide {oxide!r}")
    return factor


def oxides_to_elements(oxide_wt: Mapping[str, float]) -> dict[str, float]:
    """Element wt% (with "O" from stoichiometry) of an oxide wt% analysis.

    Parameters
    ----------
    oxide_wt : dict
        formula -> wt% ({"SiO2": 49.9, "FeO": 11.1, "Cl": 0.5}); any
        formula is accepted (CO2, SO3, H2O).

    Returns
    -------
    dict
        element -> wt%, not normalised.
    """
    return {el: frac * 100.0 for el, frac in parse_composition(dict(oxide_wt)).items()}


def elements_to_oxides(element_wt: Mapping[str, float], fe_oxide: str = "FeO") -> dict[str, float]:
    """Oxide wt% of an element wt% analysis.

    Parameters
    ----------
    element_wt : dict
        element -> wt%. An "O" entry is ignored (oxygen is assigned by
        stoichiometry).
    fe_oxide : {"FeO", "Fe2O3"}
        How total iron is reported.

    Returns
    -------
    dict
        oxide formula (see :func:`oxide_of`) -> wt%.

    Raises
    ------
    UnknownElementError
        A key is not an element symbol.
    CompositionError
        Negative or non-numeric amount.
    """
    if not isinstance(element_wt, Mapping):
        raise CompositionError(f"expected a dict of element wt%, got {element_wt!r}", where="oxides")
    out: dict[str, float] = {}
    for key, amount in element_wt.items():
        try:
            el = check_element(key)
        except UnknownElementError as exc:
            raise UnknownElementError(f"key {key!r} is not an element symbol ({exc.message})",
                                      where=f"composition[{key!r}]") from None
        wt = checked_wt(key, amount)
        if el == "O":
            continue
        ox = oxide_of(el, fe_oxide)
        out[ox] = out.get(ox, 0.0) + wt * oxide_factor(el, ox)
    return out
