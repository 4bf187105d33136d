"""Mineral and salt end-members computed from their formulas.

Nothing here is a typed-in percentage: every composition comes from a formula
through the package's one formula parser and atomic-weight table
(:func:`pixlspec.physics.attenuation.parse_formula`, :func:`pixlspec.physics.elements.atomic_mass`, xraydb)::

    wt% oxide = 100 · (n / k) · M(oxide) / M(formula)

for an element present ``n`` times per formula unit and reported as the oxide
El_k O_m. Elements are reported the way PIXL reports them
(:data:`pixlspec.physics.oxides.OXIDES`, science brief §1): Fe as FeO(T), S as
SO3, Cl as the element. What PIXL cannot see — elements lighter than Na
(H -> H2O, C -> CO2, F, ...) and the oxygen the reporting convention gets
wrong (Fe³⁺ as FeO, perchlorate O, O added to Na in NaCl) — is kept apart:

``visible_total_wt``  sum of the reported oxides: what an XRF total would be.
``invisible_wt``      ``100 − visible_total_wt``; negative for halite (113.7 before O≡Cl).

Solid solutions take their composition as parameters (:func:`olivine`,
:func:`plagioclase`, :func:`pyroxene`); any formula works with
:func:`endmember_from_formula` (``"Mg1.1Fe0.88Mn0.02SiO4"``).
"""
from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import CompositionError, UnknownElementError
from ..physics.attenuation import parse_formula
from ..physics.elements import atomic_mass, atomic_number

__all__ = ["EndMember", "ENDMEMBERS", "FAMILIES", "SALT_FAMILIES", "formula_oxides", "endmember_from_formula",
           "get_endmember", "endmembers", "olivine", "plagioclase", "pyroxene", "library_report", "formula_atoms",
           "atom_mass", "oxide_info"]

#: Highest atomic number PIXL cannot measure: H..Ne are invisible to it (Na, Z = 11, is
#: the lightest element PIXL reports; Allwood et al. 2020, Space Sci. Rev. 216:134).
MAX_INVISIBLE_Z = 10
#: How the light elements are counted as volatiles (not seen by XRF).
LIGHT_OXIDES: dict[str, str] = {"H": "H2O", "C": "CO2", "Li": "Li2O", "Be": "BeO", "B": "B2O3", "N": "N2O5",
                                "F": "F"}

#: Phase families, grouped. Salt families are what :func:`~pixlspec.minerals.identify_salts` reports.
SALT_FAMILIES: tuple[str, ...] = ("Ca-sulfate", "Mg-sulfate", "Fe-sulfate", "chloride", "perchlorate",
                                  "carbonate", "phosphate")
PRIMARY_FAMILIES: tuple[str, ...] = ("olivine", "pyroxene", "feldspar", "oxide", "accessory")
ALTERATION_FAMILIES: tuple[str, ...] = ("phyllosilicate", "silica", "amphibole")
FAMILIES: tuple[str, ...] = SALT_FAMILIES + PRIMARY_FAMILIES + ALTERATION_FAMILIES


@functools.lru_cache(maxsize=None)
def formula_atoms(formula: str) -> tuple[tuple[str, float], ...]:
    """(symbol, atoms per formula unit) of a chemical formula ("CaSO4·2H2O"; hydrates with · or •).

    The physics layer's parser (:func:`pixlspec.physics.attenuation.parse_formula`), so a formula means
    the same thing to the minerals package and to the X-ray physics.

    Raises
    ------
    CompositionError
        Empty, unparsable or negative formula, or an unknown element symbol in it.
    """
    if not isinstance(formula, str) or not formula.strip():
        raise CompositionError(f"empty or non-string formula {formula!r}", where="formula")
    try:
        parsed = parse_formula(formula.strip().replace("•", "·"))
    except UnknownElementError as exc:
        raise CompositionError(f"cannot parse formula {formula!r} ({exc.message})", where="formula") from None
    atoms = tuple((str(el), float(n)) for el, n in parsed.items())
    if not atoms:
        raise CompositionError(f"formula {formula!r} has no atoms", where="formula")
    for sym, n in atoms:
        if n < 0:
            raise CompositionError(f"negative count of {sym} in {formula!r}", where="formula")
    return atoms


def atom_mass(symbol: str) -> float:
    """Standard atomic weight (g/mol) of an element: the physics layer's table
    (:func:`pixlspec.physics.elements.atomic_mass`), as the formula parser and the X-ray physics use."""
    try:
        return float(atomic_mass(symbol))
    except (KeyError, ValueError, UnknownElementError):
        raise UnknownElementError(f"unknown element symbol {symbol!r}", where="formula") from None


@functools.lru_cache(maxsize=None)
def oxide_info(oxide: str) -> tuple[str, float, float]:
    """(cation, cations per formula k, molar mass g/mol) of an oxide or element name."""
    atoms = dict(formula_atoms(oxide))
    cations = [el for el in atoms if el != "O"]
    if len(cations) != 1:
        raise CompositionError(f"{oxide!r} is not a simple oxide El_kO_m or an element (cations: {cations})",
                               where=f"oxide {oxide!r}")
    el = cations[0]
    mass = sum(n * atom_mass(sym) for sym, n in atoms.items())
    return el, atoms[el], mass


def _reported_oxide(el: str) -> str:
    """The oxide PIXL reports ``el`` as (OXIDES table; Fe -> FeO(T); others as the element)."""
    from ..physics.oxides import OXIDES

    if el in LIGHT_OXIDES:
        return LIGHT_OXIDES[el]
    return OXIDES[el][0] if el in OXIDES else el


def _z(el: str) -> int:
    return int(atomic_number(el))


def formula_oxides(formula: str) -> tuple[dict[str, float], dict[str, float], float]:
    """Oxide wt% of a formula the way PIXL reports it.

    Parameters
    ----------
    formula : str
        Chemical formula; hydrates as ``"MgSO4(H2O)7"`` or ``"MgSO4·7H2O"``,
        fractional counts allowed (``"Mg1.1Fe0.9SiO4"``).

    Returns
    -------
    (dict, dict, float)
        ``(visible, volatile, oxygen_balance)``: visible oxide wt% (Na and
        heavier, Fe as FeO(T), S as SO3, Cl as element), volatile wt% (H2O,
        CO2, F, ...) and the oxygen balance ``100 − Σvisible − Σvolatile`` (wt%
        of O the reporting convention misses, negative when it adds O).

    Raises
    ------
    CompositionError
        Unparsable formula.

    Examples
    --------
    >>> vis, vol, ob = formula_oxides("CaSO4(H2O)2")
    >>> round(vis["CaO"], 2), round(vis["SO3"], 2), round(vol["H2O"], 2)
    (32.57, 46.5, 20.93)
    """
    atoms = formula_atoms(formula)
    m_formula = sum(n * atom_mass(el) for el, n in atoms)
    visible: dict[str, float] = {}
    volatile: dict[str, float] = {}
    for el, n in atoms:
        if el == "O" or n == 0:
            continue
        oxide = _reported_oxide(el)
        _, k, m_ox = oxide_info(oxide)
        wt = 100.0 * (n / k) * m_ox / m_formula
        target = volatile if _z(el) <= MAX_INVISIBLE_Z else visible
        target[oxide] = target.get(oxide, 0.0) + wt
    balance = 100.0 - sum(visible.values()) - sum(volatile.values())
    return visible, volatile, balance


@dataclass(frozen=True)
class EndMember:
    """A mineral or salt end-member with its composition as PIXL would report it.

    Attributes
    ----------
    name : str
        "gypsum", "olivine Fo55", ...
    formula : str
        The formula the composition was computed from.
    family : str
        Phase family (one of :data:`FAMILIES`): "Ca-sulfate", "carbonate", ...
    oxide_wt : dict[str, float]
        Visible oxide wt% (PIXL convention: Fe as FeO(T), S as SO3, Cl as element).
    volatile_wt : dict[str, float]
        H2O, CO2, F... wt% (invisible to XRF).
    oxygen_balance_wt : float
        O wt% the convention misses (+: Fe³⁺, perchlorate O; −: O added to NaCl).
    note : str
        Provenance or caveats.
    """

    name: str
    formula: str
    family: str
    oxide_wt: dict[str, float] = field(hash=False, compare=False)
    volatile_wt: dict[str, float] = field(hash=False, compare=False)
    oxygen_balance_wt: float = 0.0
    note: str = ""

    @property
    def visible_total_wt(self) -> float:
        """Sum of the visible oxides: the analytical total PIXL would report for the pure phase."""
        return float(sum(self.oxide_wt.values()))

    @property
    def invisible_wt(self) -> float:
        """``100 − visible_total_wt``: what XRF cannot see (negative for halite)."""
        return 100.0 - self.visible_total_wt

    @property
    def o_equiv_cl_wt(self) -> float:
        """O≡Cl correction (0.2256 · Cl wt%) that brings a chloride total back to 100."""
        return self.oxide_wt.get("Cl", 0.0) * 0.5 * atom_mass("O") / atom_mass("Cl")

    @property
    def element_wt(self) -> dict[str, float]:
        """Element wt% of the formula (O, H, C included; sums to 100): e.g. for forward models."""
        atoms = formula_atoms(self.formula)
        m = sum(n * atom_mass(el) for el, n in atoms)
        return {el: 100.0 * n * atom_mass(el) / m for el, n in atoms}

    def wt(self, oxide: str) -> float:
        """wt% of ``oxide`` (visible or volatile; 0 if absent)."""
        return self.oxide_wt.get(oxide, self.volatile_wt.get(oxide, 0.0))

    def to_dict(self) -> dict:
        return {"name": self.name, "formula": self.formula, "family": self.family, "oxide_wt": dict(self.oxide_wt),
                "volatile_wt": dict(self.volatile_wt), "oxygen_balance_wt": self.oxygen_balance_wt,
                "visible_total_wt": self.visible_total_wt, "invisible_wt": self.invisible_wt, "note": self.note}

    def report(self) -> str:
        vis = ", ".join(f"{k} {v:.2f}" for k, v in sorted(self.oxide_wt.items(), key=lambda kv: -kv[1]))
        vol = ", ".join(f"{k} {v:.2f}" for k, v in self.volatile_wt.items())
        line = f"{self.name} ({self.formula}; {self.family}): {vis} -> visible total {self.visible_total_wt:.1f}"
        if vol:
            line += f"; volatiles {vol}"
        if abs(self.oxygen_balance_wt) > 0.005:
            line += f"; O balance {self.oxygen_balance_wt:+.2f}"
        return line


def endmember_from_formula(name: str, formula: str, family: str, note: str = "") -> EndMember:
    """Build an :class:`EndMember` from a formula (see :func:`formula_oxides`).

    Raises
    ------
    CompositionError
        Unparsable formula or unknown family.
    """
    if family not in FAMILIES:
        raise CompositionError(f"unknown phase family {family!r}; known: {', '.join(FAMILIES)}", where=name)
    vis, vol, bal = formula_oxides(formula)
    return EndMember(name, formula, family, vis, vol, bal, note)


def olivine(fo: float) -> EndMember:
    """Olivine (Mg_x Fe_(1−x))2SiO4 of forsterite fraction ``fo`` in [0, 1] (Fo55 -> 0.55)."""
    if not 0.0 <= fo <= 1.0:
        raise CompositionError(f"forsterite fraction must be in [0, 1], got {fo}", where="olivine")
    return endmember_from_formula(f"olivine Fo{100 * fo:.0f}", f"Mg{2 * fo:.4g}Fe{2 * (1 - fo):.4g}SiO4", "olivine")


def plagioclase(an: float) -> EndMember:
    """Plagioclase Na_(1−x)Ca_x Al_(1+x) Si_(3−x) O8 of anorthite fraction ``an`` in [0, 1]."""
    if not 0.0 <= an <= 1.0:
        raise CompositionError(f"anorthite fraction must be in [0, 1], got {an}", where="plagioclase")
    return endmember_from_formula(f"plagioclase An{100 * an:.0f}",
                                  f"Na{1 - an:.4g}Ca{an:.4g}Al{1 + an:.4g}Si{3 - an:.4g}O8", "feldspar")


def pyroxene(wo: float, en: float, fs: float) -> EndMember:
    """Pyroxene Ca_(2wo) Mg_(2en) Fe_(2fs) Si2O6 from Wo–En–Fs fractions (normalised to 1)."""
    s = wo + en + fs
    if min(wo, en, fs) < 0 or s <= 0:
        raise CompositionError(f"Wo, En, Fs must be >= 0 with a positive sum, got {wo}, {en}, {fs}",
                               where="pyroxene")
    wo, en, fs = wo / s, en / s, fs / s
    return endmember_from_formula(f"pyroxene Wo{100 * wo:.0f}En{100 * en:.0f}Fs{100 * fs:.0f}",
                                  f"Ca{2 * wo:.4g}Mg{2 * en:.4g}Fe{2 * fs:.4g}Si2O6", "pyroxene")


# name, formula, family, note. Formulas: ideal end-members (Handbook of Mineralogy / webmineral
# formulas); the science brief §1 lists the resulting compositions used as checks in the tests.
_LIBRARY: tuple[tuple[str, str, str, str], ...] = (
    ("gypsum", "CaSO4(H2O)2", "Ca-sulfate", ""),
    ("bassanite", "CaSO4(H2O)0.5", "Ca-sulfate", ""),
    ("anhydrite", "CaSO4", "Ca-sulfate", ""),
    ("kieserite", "MgSO4(H2O)", "Mg-sulfate", ""),
    ("starkeyite", "MgSO4(H2O)4", "Mg-sulfate", ""),
    ("epsomite", "MgSO4(H2O)7", "Mg-sulfate", ""),
    ("jarosite", "KFe3(SO4)2(OH)6", "Fe-sulfate", "Fe3+ reported as FeO(T): the extra O is invisible"),
    ("natrojarosite", "NaFe3(SO4)2(OH)6", "Fe-sulfate", "Fe3+ reported as FeO(T)"),
    ("halite", "NaCl", "chloride", "visible total 113.7 before the O≡Cl correction (Na reported as Na2O)"),
    ("Mg-perchlorate", "Mg(ClO4)2(H2O)6", "perchlorate", "perchlorate O invisible (Cl reported as element)"),
    ("Ca-perchlorate", "Ca(ClO4)2(H2O)4", "perchlorate", "perchlorate O invisible"),
    ("Na-perchlorate", "NaClO4(H2O)", "perchlorate", "perchlorate O invisible"),
    ("calcite", "CaCO3", "carbonate", ""),
    ("siderite", "FeCO3", "carbonate", ""),
    ("magnesite", "MgCO3", "carbonate", ""),
    ("dolomite", "CaMg(CO3)2", "carbonate", ""),
    ("ankerite", "CaFe0.5Mg0.5(CO3)2", "carbonate", ""),
    ("Fe-Mg carbonate", "Mg0.6Fe0.4CO3", "carbonate",
     "Séítah-like Fe-Mg carbonate (Farley et al. 2022; Mg:Fe 0.6:0.4 is an illustrative choice)"),
    ("fluorapatite", "Ca5(PO4)3F", "phosphate", "F invisible to XRF"),
    ("chlorapatite", "Ca5(PO4)3Cl", "phosphate", ""),
    ("merrillite", "Ca9NaMg(PO4)7", "phosphate", ""),
    ("vivianite", "Fe3(PO4)2(H2O)8", "phosphate", "Fe-phosphate"),
    ("forsterite", "Mg2SiO4", "olivine", ""),
    ("fayalite", "Fe2SiO4", "olivine", ""),
    ("olivine Fo55", "Mg1.1Fe0.9SiO4", "olivine", "Séítah olivine ≈ Fo55 (Liu et al. 2022; verify)"),
    ("augite", "Ca0.8Mg0.9Fe0.3Si2O6", "pyroxene", "Wo40En45Fs15"),
    ("diopside", "CaMgSi2O6", "pyroxene", ""),
    ("hedenbergite", "CaFeSi2O6", "pyroxene", ""),
    ("enstatite", "MgSiO3", "pyroxene", ""),
    ("ferrosilite", "FeSiO3", "pyroxene", ""),
    ("albite", "NaAlSi3O8", "feldspar", ""),
    ("anorthite", "CaAl2Si2O8", "feldspar", ""),
    ("andesine An40", "Na0.6Ca0.4Al1.4Si2.6O8", "feldspar", ""),
    ("K-feldspar", "KAlSi3O8", "feldspar", ""),
    ("ilmenite", "FeTiO3", "oxide", ""),
    ("magnetite", "Fe3O4", "oxide", "Fe3+ reported as FeO(T)"),
    ("hematite", "Fe2O3", "oxide", "Fe3+ reported as FeO(T)"),
    ("chromite", "FeCr2O4", "oxide", ""),
    ("zircon", "ZrSiO4", "accessory", ""),
    ("serpentine", "Mg3Si2O5(OH)4", "phyllosilicate", "lizardite/antigorite ideal formula"),
    ("greenalite", "Fe3Si2O5(OH)4", "phyllosilicate", ""),
    ("saponite", "Ca0.2Mg3Si3.6Al0.4O10(OH)2(H2O)4", "phyllosilicate", "Mg smectite; interlayer H2O variable"),
    ("nontronite", "Na0.3Fe2Si3.7Al0.3O10(OH)2(H2O)4", "phyllosilicate",
     "Fe3+ smectite; formula chosen to give the brief's visible total 78.6; interlayer H2O variable"),
    ("tremolite", "Ca2Mg5Si8O22(OH)2", "amphibole", ""),
    ("opal-A", "SiO2(H2O)0.3", "silica", "H2O content variable"),
    ("quartz", "SiO2", "silica", ""),
)


@functools.lru_cache(maxsize=None)
def _library() -> dict[str, EndMember]:
    return {name: endmember_from_formula(name, formula, family, note) for name, formula, family, note in _LIBRARY}


class _LazyLibrary(Mapping):
    """Read-only mapping name -> EndMember, computed on first access (keeps ``import pixlspec.minerals`` cheap)."""

    def __getitem__(self, key):
        return _library()[key]

    def __iter__(self):
        return iter(_library())

    def __len__(self):
        return len(_library())

    def __repr__(self):
        return f"ENDMEMBERS({', '.join(self)})"


#: The built-in end-member library: name -> :class:`EndMember` (computed from formulas on first use).
ENDMEMBERS: Mapping[str, EndMember] = _LazyLibrary()


def get_endmember(name: str) -> EndMember:
    """The library end-member ``name``.

    Raises
    ------
    CompositionError
        Unknown name (the message lists close matches).
    """
    lib = _library()
    if isinstance(name, EndMember):
        return name
    if name in lib:
        return lib[name]
    import difflib

    close = difflib.get_close_matches(str(name), list(lib), n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    raise CompositionError(f"unknown end-member {name!r}{hint}", where="end-members")


def endmembers(family: str | None = None) -> list[EndMember]:
    """Library end-members, all or those of one family."""
    lib = _library()
    if family is not None and family not in FAMILIES:
        raise CompositionError(f"unknown phase family {family!r}; known: {', '.join(FAMILIES)}",
                               where="end-members")
    return [em for em in lib.values() if family is None or em.family == family]


def library_report() -> str:
    """One line per library end-member: composition, visible total, volatiles."""
    return "\n".join(em.report() for em in _library().values())
