"""Reference materials shipped with pixlspec (``pixlspec/data/standards.json``).

USGS rock powders (BHVO-2, BCR-2, AGV-2, GSP-2: USGS certificates of
analysis), 18 reference glasses — the USGS glasses BHVO-2G, BCR-2G, BIR-1G and
GS*-1G, NIST SRM 610/612/616, the MPI-DING glasses, BM9021-G — with the GeoReM
preferred values and their 1σ (transcribed from
``shared/science/glass-reference-values.csv``, named in each entry's
``source_file``), and stoichiometric pure phases (gypsum, anhydrite, calcite,
halite). Each entry cites its source; values entered from memory of the
source are listed in ``verify``.

:func:`reference_from_piquant` turns a standard of a PIQUANT standards file
(the certificate a data set ships with its spectra) into a
:class:`ReferenceMaterial`, with O by the file's oxide ratios.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import functools
import json
from dataclasses import dataclass, field
from importlib import resources

from ..errors import CompositionError
from ..physics.attenuation import parse_composition
from ..physics.elements import atomic_mass

__all__ = ["ReferenceMaterial", "reference_material", "reference_materials", "oxide_table", "reference_from_piquant"]

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
    source_file : str
        The file the values were transcribed from, when not the citation itself.
    """

    name: str
    description: str
    kind: str
    citation: str
    composition_wt: dict = field(default_factory=dict)
    sigma_wt: dict = field(default_factory=dict)
    formula: str | None = None
    verify: tuple = ()
    source_file: str = ""

    def element_wt(self) -> dict[str, float]:
        """Element wt% (O by stoichiometry included as "O")."""
        return {el: 100.0 * f for el, f in parse_composition(dict(self.composition_wt)).items()}

    def oxide_wt(self, fe_oxide: str = "FeO") -> dict[str, float]:
        """Oxide wt% in pixlspec's reporting convention (Fe as ``fe_oxide``; C, H, O, N left out)."""
        from ..composition import reference_oxides

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
                                      verify=tuple(d.get("verify", ())), source_file=d.get("source_file", ""))
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



#: PIQUANT oxide-ratio code for "the default oxide" (pixl-formats.md §4).
_PIQUANT_DEFAULT_OXIDE = -1.0
#: PIQUANT qualifier of an element fitted but left out of the composition (pixl-formats.md §4).
_PIQUANT_IGNORE = "I"


def reference_from_piquant(entry: Mapping[str, Any], fill: "ReferenceMaterial | str | None" = None, *, source: str = "",
                           fe_oxide: str = "FeO") -> ReferenceMaterial:
    """A :class:`ReferenceMaterial` from one standard of a PIQUANT standards file.

    Element amounts are taken as written (wt%; ppm converted by the reader) with
    their uncertainties; O is added by each element's oxide ratio (O atoms per
    cation: ``SiO2`` -> 2, ``Fe2O3`` -> 1.5; 0 = element; -1 = pixlspec's default
    oxide with Fe as ``fe_oxide``), so the matrix of the certificate is complete —
    unless the file lists O itself, which is then taken as the total oxygen.
    Elements with the "I" qualifier (ignored in the composition) are left out.

    Parameters
    ----------
    entry : pixlspec.io.piquant_tables.StandardEntry
        From :func:`pixlspec.io.piquant_tables.read_piquant_standards`.
    fill : ReferenceMaterial or str, optional
        Values for elements the file does not list (e.g. a shipped reference
        material); the keys taken from it are named in ``description`` and keep
        its ``verify`` marks.
    source : str
        Where the file comes from (cited).
    fe_oxide : {"FeO", "Fe2O3"}
        Oxide of Fe for a -1 (default oxide) ratio.

    Returns
    -------
    ReferenceMaterial
        ``composition_wt``: element wt% plus "O" (and the filled oxides),
        ``sigma_wt``: absolute 1σ of the listed elements.

    Raises
    ------
    CompositionError
        Not a standards entry, or a negative oxide ratio other than -1.
    """
    from ..physics.oxides import oxide_factor, oxide_of

    if not hasattr(entry, "elements") or not hasattr(entry, "name"):
        raise CompositionError(f"expected a PIQUANT StandardEntry, got {type(entry).__name__}", where="standards")
    comp: dict[str, float] = {}
    sigma: dict[str, float] = {}
    oxygen = 0.0
    for e in entry.elements:
        if e.type != "element" or e.qualifier == _PIQUANT_IGNORE or not e.wt_percent > 0 or e.element in comp:
            continue
        comp[e.element] = float(e.wt_percent)
        if e.uncertainty_wt_percent:
            sigma[e.element] = float(e.uncertainty_wt_percent)
        ratio = float(e.oxide_ratio)
        if ratio == _PIQUANT_DEFAULT_OXIDE:
            oxygen += e.wt_percent * (oxide_factor(e.element, oxide_of(e.element, fe_oxide)) - 1.0)
        elif ratio > 0:
            oxygen += e.wt_percent * ratio * atomic_mass("O") / atomic_mass(e.element)
        elif ratio < 0:
            raise CompositionError(f"{entry.name} {e.element}: oxide ratio {ratio:g} (expected >= 0 or -1)",
                                   where="standards")
    filled: list[str] = []
    verify: list[str] = []
    if fill is not None:
        rm = fill if isinstance(fill, ReferenceMaterial) else reference_material(fill)
        for key, v in rm.composition_wt.items():
            cations = [el for el in parse_composition(key) if el != "O"]
            if cations and not any(el in comp for el in cations):
                comp[key] = float(v)
                if key in rm.sigma_wt:
                    sigma[key] = float(rm.sigma_wt[key])
                filled.append(key)
                if key in rm.verify:
                    verify.append(key)
    if oxygen > 0 and "O" not in comp:  # an O line in the file is already the total oxygen
        comp["O"] = oxygen
    desc = entry.description or entry.name
    if filled:
        desc += f"; not in the file, taken from {rm.name}: {', '.join(filled)}"
    cite = f"PIQUANT standards file{(' ' + source) if source else ''}, standard {entry.name!r}"
    return ReferenceMaterial(name=entry.name, description=desc, kind="certificate of a data set", citation=cite,
                             composition_wt=comp, sigma_wt=sigma, verify=tuple(verify))
