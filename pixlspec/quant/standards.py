"""Reference materials shipped with pixlspec (``pixlspec/data/standards.json``).

USGS rock powders (BHVO-2, BCR-2, AGV-2, GSP-2: USGS certificates of
analysis), the USGS basalt glasses BHVO-2G and BCR-2G (GeoReM preferred
values, Jochum et al. 2005) and stoichiometric pure phases (gypsum,
anhydrite, calcite, halite). Each entry cites its source; values entered
from memory of the source are listed in ``verify``.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from importlib import resources

from ..errors import CompositionError
from ..physics.attenuation import parse_composition

__all__ = ["ReferenceMaterial", "reference_material", "reference_materials", "oxide_table"]

_FORMAT = "pixlspec-standards-1"


@dataclass(frozen=True)
class ReferenceMaterial:
    """A reference material of known composition.

    Attributes
    ----------
    name, description, kind, citation : str
    composition_wt : dict of str to float
        Oxide, compound or element wt% as certified (for pure phases: from the formula).
    sigma_wt : dict of str to float
        Absolute 1σ of ``composition_wt`` entries (wt%).
    formula : str or None
        For pure phases.
    verify : tuple of str
        Keys entered from memory of the cited source (check before relying on them).
    """

    name: str
    description: str
    kind: str
    citation: str
    composition_wt: dict = field(default_factory=dict)
    sigma_wt: dict = field(default_factory=dict)
    formula: str | None = None
    verify: tuple = ()

    def element_wt(self) -> dict[str, float]:
        """Element wt% (O by stoichiometry included as "O")."""
        return {el: 100.0 * f for el, f in parse_composition(dict(self.composition_wt)).items()}

    def oxide_wt(self, fe_oxide: str = "FeO") -> dict[str, float]:
        """Oxide wt% in pixlspec's reporting convention (Fe as ``fe_oxide``; C, H, O, N left out)."""
        from .quantify import reference_oxides

        return reference_oxides(self.composition_wt, fe_oxide)

    def element_relative_sigma(self) -> dict[str, float]:
        """Relative 1σ per element (from the oxide or element it is certified as)."""
        out = {}
        for key, s in self.sigma_wt.items():
            v = self.composition_wt.get(key, 0.0)
            if v > 0:
                for el in parse_composition(key):
                    if el != "O":
                        out[el] = s / v
        return out


@functools.lru_cache(maxsize=1)
def _load() -> dict[str, ReferenceMaterial]:
    text = resources.files("pixlspec").joinpath("data/standards.json").read_text(encoding="utf-8")
    data = json.loads(text)
    if data.get("format") != _FORMAT:
        raise CompositionError(f"pixlspec/data/standards.json: expected format {_FORMAT}", where="standards")
    out = {}
    for name, d in data["materials"].items():
        comp = dict(d.get("composition_wt", {}))
        formula = d.get("formula")
        if formula and not comp:
            comp = {el: 100.0 * f for el, f in parse_composition(formula).items()}
        out[name] = ReferenceMaterial(name=name, description=d.get("description", ""), kind=d.get("kind", ""),
                                      citation=d.get("citation", ""), composition_wt=comp,
                                      sigma_wt=dict(d.get("sigma_wt", {})), formula=formula,
                                      verify=tuple(d.get("verify", ())))
    return out


def reference_materials() -> list[str]:
    """Names of the shipped reference materials."""
    return list(_load())


def reference_material(name: str) -> ReferenceMaterial:
    """A shipped reference material by name (case-insensitive: "BHVO-2G", "bhvo-2g", "gypsum").

    Raises
    ------
    CompositionError
        Unknown name (the message lists the known ones).
    """
    table = _load()
    if isinstance(name, str):
        for k, v in table.items():
            if k.lower() == name.strip().lower():
                return v
    raise CompositionError(f"unknown reference material {name!r}; known: {', '.join(table)}", where="standards")


def oxide_table(name: str, fe_oxide: str = "FeO") -> dict[str, float]:
    """Shortcut: oxide wt% of a reference material."""
    return reference_material(name).oxide_wt(fe_oxide)

