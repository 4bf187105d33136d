"""Per-point phase assignment: constrained unmixing plus explainable ratio rules.

For every usable point of a composition map:

1. **Unmixing.** Non-negative least squares (``scipy.optimize.nnls``) of the
   measured oxides against the end-member library (:data:`DEFAULT_BASIS`), with
   an extra *invisible* row — ``100 − total`` for the point, ``100 − visible
   total`` for each end-member — so the deficit (H2O, CO2, perchlorate O) is
   fitted explicitly (science brief §2 "Mixtures"). One more column, the
   *unexplained deficit* (100 in the invisible row, nothing else), absorbs
   totals lowered by roughness or standoff; a ridge row makes it cost
   ``(deficit / DEFICIT_PENALTY_WT)²`` so a chemically supported volatile phase
   is preferred to it. Rows are weighted by 1/σ (map σ combined with a model
   floor). The result: mass fractions of every end-member, summed per family.
2. **Rules.** For each salt family a gate on the raw chemistry (SO3, Cl, P2O5
   or deficit level) and a stoichiometric check on the *corrected* composition
   — the measurement minus everything the fit gave to the other phases, so a
   50 % gypsum + basalt point shows S/Ca ≈ 1 rather than the raw 0.77. The
   checks are the brief's §2 rules: S/Ca 0.8–1.2, S/Mg ≈ 1, Na/Cl ≈ 1 (halite),
   Cl with low Na and a large deficit (perchlorate hint), CO2 needed by the
   excess Fe+Mg+Ca+Mn ≈ deficit (carbonate), Ca/P ≈ 1.67 or 1.29 (phosphate).
3. **Confidence** = fraction score × rule score × fit score, each in [0, 1]
   (see :class:`Thresholds`), and an evidence string that quotes the numbers.

All thresholds are tunable defaults (:class:`Thresholds`), not published values.
Rules that need an oxide the map lacks are not evaluated and say so.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import CompositionError
from .endmembers import (ALTERATION_FAMILIES, PRIMARY_FAMILIES, SALT_FAMILIES, EndMember, get_endmember)
from .spatial import scan_geometry
from .table import CompositionLike, CompositionTable, as_table, cation_moles
from .thresholds import Thresholds, band_score

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Thresholds", "PhaseMap", "classify_points", "DEFAULT_BASIS", "FAMILY_REQUIRES", "DEFICIT"]

#: Name of the "unexplained deficit" column (roughness, standoff, unmodelled H2O).
DEFICIT = "unexplained deficit"

#: End-members used for unmixing by default. Solid solutions are spanned by their end-members
#: (Fo–Fa, En–Fs–Di–Hd, Ab–An–Or); near-duplicates (ankerite, andesine, tremolite, ...) are left out
#: to keep the fit well posed. Pass ``basis=`` to change it.
DEFAULT_BASIS: tuple[str, ...] = (
    "gypsum", "bassanite", "anhydrite", "kieserite", "starkeyite", "epsomite", "jarosite", "natrojarosite",
    "halite", "Mg-perchlorate", "Ca-perchlorate", "Na-perchlorate",
    "calcite", "siderite", "magnesite", "dolomite",
    "fluorapatite", "chlorapatite", "merrillite", "vivianite",
    "forsterite", "fayalite", "diopside", "hedenbergite", "enstatite", "ferrosilite",
    "albite", "anorthite", "K-feldspar", "ilmenite", "magnetite", "chromite", "zircon",
    "serpentine", "greenalite", "saponite", "nontronite", "opal-A", "quartz",
)

#: Oxides a family's rule needs; without them the family is not evaluated.
FAMILY_REQUIRES: dict[str, tuple[str, ...]] = {
    "Ca-sulfate": ("SO3", "CaO"),
    "Mg-sulfate": ("SO3", "MgO"),
    "Fe-sulfate": ("SO3", "FeO"),
    "chloride": ("Cl", "Na2O"),
    "perchlorate": ("Cl", "Na2O"),
    "carbonate": ("FeO", "MgO", "CaO", "SiO2"),
    "phosphate": ("P2O5", "CaO"),
}
#: Rules that read the deficit (100 − total): meaningless on normalised data.
_DEFICIT_RULES = ("carbonate", "perchlorate")
_NON_SALT = PRIMARY_FAMILIES + ALTERATION_FAMILIES
_M_CO2 = 44.0095  # g/mol, IUPAC
_CLO4_O_PER_CL = 4 * 15.999 / 35.45  # g of perchlorate O per g Cl (not seen by XRF)


def _fmt_ratio(r: float) -> str:
    """A molar ratio for evidence text ("> 20" when Si is nearly absent, "n/a" when undefined)."""
    if not np.isfinite(r):
        return "n/a"
    return "> 20" if r > 20 else f"{r:.2f}"


def _ratio(num: np.ndarray, den: np.ndarray, min_den: float = 0.005) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > min_den, num / np.where(den > min_den, den, 1.0), np.nan)


@dataclass(eq=False)
class PhaseMap:
    """Per-point phases of a composition map (result of :func:`classify_points`).

    Attributes
    ----------
    table : CompositionTable
        The input.
    phase : numpy.ndarray of str
        Label per point: a salt family ("Ca-sulfate", "chloride", ...), a
        dominant non-salt family ("olivine", "pyroxene", "feldspar", "oxide",
        "phyllosilicate", "silica", ...), "mixed silicate", "low total"
        (mostly unexplained deficit) or "invalid".
    endmember : numpy.ndarray of str
        Leading end-member(s) of that phase ("gypsum/bassanite"), "" if none.
    confidence : numpy.ndarray
        In [0, 1]; 0 for invalid points.
    evidence : list of str
        One human-readable line per point quoting the numbers behind the label.
    basis : tuple of str
        End-member names of the unmixing columns (plus :data:`DEFICIT`).
    endmember_fraction : numpy.ndarray (n_points, n_basis)
        Unmixed mass fractions (NaN for invalid points).
    family_fraction : dict[str, numpy.ndarray]
        Fractions summed per family, plus :data:`DEFICIT`.
    flags : dict[str, numpy.ndarray]
        Per salt family: bool per point, rule passed (gate, fraction, confidence).
    family_confidence : dict[str, numpy.ndarray]
        Per salt family: the confidence that family would have at each point.
    ratios : dict[str, numpy.ndarray]
        Raw and corrected molar ratios ("S/Ca raw", "S/Ca corrected", ...).
    chi2_reduced : numpy.ndarray
        Weighted misfit of the unmixing per point.
    mass_balance : numpy.ndarray
        Sum of fractions (≈ 1 when the model explains the analysis).
    not_evaluated : dict[str, str]
        Salt family -> why it was not evaluated (e.g. "Cl not in map").
    notes : list of str
        Scan-level remarks (normalised totals, invalid points, ...).
    thresholds : Thresholds
    """

    table: CompositionTable
    phase: np.ndarray
    endmember: np.ndarray
    confidence: np.ndarray
    evidence: list
    basis: tuple
    endmember_fraction: np.ndarray
    family_fraction: dict
    flags: dict
    family_confidence: dict
    ratios: dict
    chi2_reduced: np.ndarray
    mass_balance: np.ndarray
    not_evaluated: dict
    notes: list = field(default_factory=list)
    thresholds: Thresholds = field(default_factory=Thresholds)
    basis_endmembers: tuple = ()

    def leading_endmember(self, mask: np.ndarray, family: str) -> str:
        """Leading end-member(s) of ``family`` over the points in ``mask`` (summed unmixing)."""
        sel = np.asarray(mask, bool) & np.all(np.isfinite(self.endmember_fraction), axis=1)
        if not sel.any() or not self.basis_endmembers:
            return ""
        f = self.endmember_fraction[sel].mean(axis=0)
        fams = [em.family for em in self.basis_endmembers] + [DEFICIT]
        return _leading(f, list(self.basis_endmembers), fams).get(family, "")

    @property
    def n_points(self) -> int:
        return int(self.phase.shape[0])

    @property
    def positions_mm(self) -> np.ndarray:
        return self.table.positions_mm

    def mask(self, phase: str) -> np.ndarray:
        """bool per point labelled ``phase`` (a salt family matches its flag, even if not the label)."""
        if phase in self.flags:
            return self.flags[phase].copy()
        return self.phase == phase

    def counts(self) -> dict[str, int]:
        """Points per label, most frequent first."""
        labels, n = np.unique(self.phase, return_counts=True)
        order = sorted(zip(labels.tolist(), n.tolist()), key=lambda t: (-t[1], t[0]))
        return dict(order)

    def mixture(self, i: int, min_fraction: float = 0.05) -> str:
        """The unmixing of point ``i`` as text: "0.52 gypsum + 0.31 augite-like + ..."."""
        f = self.endmember_fraction[i]
        if not np.all(np.isfinite(f)):
            return "not unmixed"
        order = np.argsort(-f)
        parts = [f"{f[j]:.2f} {self.basis[j]}" for j in order if f[j] >= min_fraction]
        return " + ".join(parts) if parts else f"nothing above {min_fraction}"

    def report(self, max_points: int = 0) -> str:
        """Summary: label counts, families not evaluated, notes; optionally the first points' evidence."""
        n = self.n_points
        lines = [f"Phase map of {self.table.name or 'composition map'}: {n} points"]
        for label, c in self.counts().items():
            sel = self.phase == label
            conf = float(np.mean(self.confidence[sel])) if c else 0.0
            lines.append(f"  {label:<18s} {c:6d} points ({100 * c / n:5.1f} %), mean confidence {conf:.2f}")
        for fam, why in self.not_evaluated.items():
            lines.append(f"  {fam}: not evaluated — {why}")
        for note in self.notes:
            lines.append(f"  note: {note}")
        for i in range(min(max_points, n)):
            lines.append(f"  [{i}] {self.evidence[i]}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready dict (lists, floats; NaN kept as float NaN)."""
        return {"name": self.table.name, "n_points": self.n_points, "phase": self.phase.tolist(),
                "endmember": self.endmember.tolist(), "confidence": self.confidence.tolist(),
                "evidence": list(self.evidence), "basis": list(self.basis),
                "endmember_fraction": self.endmember_fraction.tolist(),
                "family_fraction": {k: v.tolist() for k, v in self.family_fraction.items()},
                "flags": {k: v.tolist() for k, v in self.flags.items()},
                "ratios": {k: v.tolist() for k, v in self.ratios.items()},
                "chi2_reduced": self.chi2_reduced.tolist(), "mass_balance": self.mass_balance.tolist(),
                "not_evaluated": dict(self.not_evaluated), "notes": list(self.notes),
                "thresholds": self.thresholds.to_dict()}

    def plot(self, **kwargs: Any) -> Figure:
        """:func:`pixlspec.plot_minerals.plot_phase_map` of this map."""
        from ..plot_minerals import plot_phase_map

        return plot_phase_map(self, **kwargs)

    def __repr__(self) -> str:
        top = ", ".join(f"{k} {v}" for k, v in list(self.counts().items())[:4])
        return f"PhaseMap({self.n_points} points: {top})"


def _basis_endmembers(basis, table: CompositionTable) -> tuple[list[EndMember], list[str]]:
    """End-members usable with the map's oxides (drop those mostly made of missing oxides)."""
    ems, dropped = [], []
    for item in basis:
        em = get_endmember(item) if not isinstance(item, EndMember) else item
        vis = em.visible_total_wt
        missing = sum(v for k, v in em.oxide_wt.items() if k not in table.oxide_wt)
        if vis <= 0 or missing > 0.1 * vis:
            dropped.append(em.name)
            continue
        ems.append(em)
    return ems, dropped


def _family_of(em_list: list[EndMember]) -> list[str]:
    return [em.family for em in em_list] + [DEFICIT]


def classify_points(composition_map: CompositionLike, *, basis: Sequence[str | EndMember] | None = None,
                    thresholds: Thresholds | None = None) -> PhaseMap:
    """Best phase (or mixture) at every point, with confidence and evidence.

    Parameters
    ----------
    composition_map : CompositionMap, CompositionTable or dict
        See :mod:`pixlspec.minerals.table` for the protocol.
    basis : sequence of str or EndMember, optional
        Unmixing end-members (default :data:`DEFAULT_BASIS`). End-members with
        more than 10 % of their visible mass in oxides the map lacks are dropped.
    thresholds : Thresholds, optional
        Tunable rule parameters.

    Returns
    -------
    PhaseMap

    Raises
    ------
    CompositionError
        No usable point (all NaN or invalid), or no end-member fits the map's oxides.

    Notes
    -----
    Unverified: the gates, bands and weights of :class:`Thresholds` are tunable
    defaults tested only on simulated composition maps (``pixlspec.minerals.synthetic``),
    not on PIXL data with ground truth. Low totals also come from roughness and
    standoff (brief §2 caveat): the unexplained-deficit column and the
    carbonate CO2 check guard against it, but compare within a scan.
    """
    th = thresholds or Thresholds()
    table = as_table(composition_map)
    n = table.n_points
    usable = table.usable()
    notes: list[str] = []
    if not usable.any():
        reasons = table.unusable_reasons()
        raise CompositionError(f"no usable point in {n} (first: {reasons[0] or 'invalid'}): every point has NaN "
                               "oxides/total or valid=False", where=table.name or "composition map")
    if (~usable).any():
        notes.append(f"{int((~usable).sum())} of {n} points not classified (NaN or valid=False)")
    ems, dropped = _basis_endmembers(DEFAULT_BASIS if basis is None else basis, table)
    if not ems:
        raise CompositionError(f"no end-member can be fitted with the map's oxides ({', '.join(table.oxides)})",
                               where=table.name or "composition map")
    # rows: oxides in the map that some end-member contains; the invisible row; the deficit ridge row
    rows = [ox for ox in table.oxides if any(ox in em.oxide_wt for em in ems)]
    unused = [ox for ox in table.oxides if ox not in rows]
    if unused:
        notes.append(f"oxides not modelled by any end-member (left out of the unmixing): {', '.join(unused)}")
    if dropped:
        notes.append(f"end-members dropped for oxides missing from the map: {', '.join(dropped)}")

    not_evaluated: dict[str, str] = {}
    for fam in SALT_FAMILIES:
        miss = table.missing(FAMILY_REQUIRES[fam])
        if miss:
            not_evaluated[fam] = f"{', '.join(miss)} not in map"
    tot_ok = table.total[usable]
    normalised = tot_ok.size >= 3 and np.allclose(tot_ok, 100.0, atol=0.05)
    if normalised:
        notes.append("totals are all 100: the map looks normalised, so the deficit (H2O, CO2) is lost")
        for fam in _DEFICIT_RULES:
            not_evaluated.setdefault(fam, "totals look normalised to 100 %: no deficit to read")
    for fam, why in not_evaluated.items():
        warnings.warn(f"{table.name or 'composition map'}: {fam} not evaluated: {why}", stacklevel=2)

    model = _Unmixer(ems, rows, table, th)
    n_em = len(ems)
    fams = model.fams
    frac = np.full((n, n_em + 1), np.nan)
    chi2 = np.full(n, np.nan)
    for i in np.flatnonzero(usable):
        frac[i], chi2[i] = model.fit(i)
    ev = _Evaluation(model, table, th, usable, not_evaluated)
    state = ev.evaluate(frac)

    # 1. significance: refit without each salt group where it is a candidate; Δχ² says whether the
    #    data need that group at all (a low total alone does not make a carbonate).
    signif: dict[str, np.ndarray] = {f: np.zeros(n) for f in state.conf_rule}
    dchi2_group: dict[str, np.ndarray] = {}
    for group in SALT_GROUPS:
        fam_in = [f for f in group if f in state.conf_rule]
        if not fam_in:
            continue
        cand = np.zeros(n, bool)
        for f in fam_in:
            cand |= state.candidate[f]
        d = np.full(n, np.nan)
        for i in np.flatnonzero(cand):
            _, c2 = model.fit(i, exclude=[j for j, g in enumerate(fams) if g in group])
            d[i] = max(c2 - chi2[i], 0.0)
        dchi2_group[group[0]] = d
        for f in fam_in:
            signif[f] = np.where(cand, 1.0 - np.exp(-np.nan_to_num(d) / th.significance_dchi2), 0.0)
    state = ev.finish(state, signif, chi2)

    # 2. within a group, two families can explain a point equally (CaSO4 + MgCO3 = MgSO4 + CaCO3 in
    #    element space): take the one the neighbouring points show.
    ambiguity = [""] * n
    geom = scan_geometry(table.positions_mm, usable) if n >= 2 else None
    if geom is not None and geom.kind != "point":
        changed = False
        labels = state.label
        for group in SALT_GROUPS:
            fam_in = [f for f in group if f in state.conf_rule]
            if len(fam_in) < 2:
                continue
            for i in np.flatnonzero(np.isin(labels, fam_in)):
                F = labels[i]
                nb = geom.neighbours[i]
                if nb.size == 0:
                    continue
                votes = {g: int(np.sum(labels[nb] == g)) for g in fam_in}
                G = max(votes, key=lambda g: (votes[g], g == F))
                if G == F or votes[G] <= votes[F]:
                    continue
                x2, c2 = model.fit(i, exclude=[j for j, g in enumerate(fams) if g == F])
                if c2 - chi2[i] <= th.ambiguity_dchi2:
                    frac[i], chi2[i] = x2, c2
                    ambiguity[i] = (f"{F} and {G} explain this point equally (Δχ² {c2 - chi2[i]:.2f} without {F}); "
                                    f"took {G} like {votes[G]} of {nb.size} neighbours")
                    changed = True
        if changed:
            state = ev.finish(ev.evaluate(frac), signif, chi2)

    return _assemble(table, model, th, usable, frac, chi2, state, ambiguity, not_evaluated, notes, dchi2_group)


#: Salt families that stand in for one another (same anion); the first name keys the Δχ² record.
SALT_GROUPS: tuple[tuple[str, ...], ...] = (("Ca-sulfate", "Mg-sulfate", "Fe-sulfate"), ("chloride", "perchlorate"),
                                          ("carbonate",), ("phosphate",))


class _Unmixer:
    """Weighted NNLS of a map: rows oxides + invisible + deficit ridge; columns end-members + deficit."""

    def __init__(self, ems: list[EndMember], rows: list[str], table: CompositionTable, th: Thresholds):
        n_em = len(ems)
        n = table.n_points
        A = np.zeros((len(rows) + 2, n_em + 1))
        for j, em in enumerate(ems):
            for r, ox in enumerate(rows):
                A[r, j] = em.oxide_wt.get(ox, 0.0)
            A[len(rows), j] = em.invisible_wt
        A[len(rows), n_em] = 100.0
        A[len(rows) + 1, n_em] = 100.0 / th.deficit_penalty_wt  # ridge row, already in σ units
        self.A, self.rows, self.ems = A, rows, ems
        self.names = tuple(em.name for em in ems) + (DEFICIT,)
        self.fams = _family_of(ems)
        self.meas = np.column_stack([table.oxide_wt[ox] for ox in rows]) if rows else np.zeros((n, 0))
        sig_map = np.column_stack([table.sigma.get(ox, np.zeros(n)) for ox in rows]) if rows else np.zeros((n, 0))
        self.sig = np.sqrt(np.nan_to_num(sig_map) ** 2 + (th.model_rel_sigma * np.abs(self.meas)) ** 2
                           + th.model_abs_sigma_wt ** 2)
        self.invisible = 100.0 - table.total
        self.th = th

    def fit(self, i: int, exclude: list[int] | None = None) -> tuple[np.ndarray, float]:
        """Fractions (all columns; excluded ones 0) and χ² (weighted residual², absolute) at point ``i``."""
        from scipy.optimize import nnls

        w = np.concatenate([1.0 / self.sig[i], [1.0 / self.th.invisible_sigma_wt, 1.0]])
        b = np.concatenate([self.meas[i], [self.invisible[i], 0.0]]) * w
        Aw = self.A * w[:, None]
        cols = np.arange(self.A.shape[1])
        if exclude:
            cols = np.setdiff1d(cols, exclude)
        x = np.zeros(self.A.shape[1])
        xs, rnorm = nnls(Aw[:, cols], b, maxiter=50 * self.A.shape[1])
        x[cols] = xs
        return x, float(rnorm ** 2)

    def dof(self, x: np.ndarray) -> int:
        return max(self.A.shape[0] - 1 - int(np.count_nonzero(x > 1e-6)), 1)


@dataclass
class _State:
    fam_frac: dict
    conf_rule: dict
    candidate: dict
    ratios: dict
    text: dict
    conf: dict = field(default_factory=dict)
    flags: dict = field(default_factory=dict)
    label: np.ndarray | None = None


class _Evaluation:
    """The salt rules, vectorised over points, for given unmixing fractions."""

    def __init__(self, model: _Unmixer, table: CompositionTable, th: Thresholds, usable: np.ndarray,
                 not_evaluated: dict):
        self.model, self.table, self.th, self.usable, self.not_evaluated = model, table, th, usable, not_evaluated

    def evaluate(self, frac: np.ndarray) -> _State:
        model, table, th, usable = self.model, self.table, self.th, self.usable
        n = table.n_points
        fams, rows = model.fams, model.rows
        fam_frac = {f: frac[:, [k for k, g in enumerate(fams) if g == f]].sum(axis=1) for f in dict.fromkeys(fams)}
        vis = model.A[:len(rows), :]
        x0 = np.nan_to_num(frac)
        row_of = {ox: r for r, ox in enumerate(rows)}
        meas, invisible = model.meas, model.invisible

        def corrected(fam: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
            other = np.array([g != fam and g != DEFICIT for g in fams])
            exc = meas - x0[:, other] @ vis[:, other].T
            d_exc = invisible - x0[:, other] @ model.A[len(rows), other]
            return {ox: exc[:, row_of[ox]] for ox in rows}, d_exc

        def mol(comp: dict[str, np.ndarray], ox: str) -> np.ndarray:
            return cation_moles(ox, comp[ox]) if ox in comp else np.zeros(n)

        def wt_of(ox):
            return table.oxide_wt.get(ox, np.zeros(n))

        total = table.total
        tol = th.ratio_tolerance
        ratios: dict[str, np.ndarray] = {}
        conf_rule: dict[str, np.ndarray] = {}
        candidate: dict[str, np.ndarray] = {}
        texts: dict[str, list[str]] = {}
        for fam in SALT_FAMILIES:
            if fam in self.not_evaluated:
                continue
            f = fam_frac.get(fam, np.zeros(n))
            exc, d_exc = corrected(fam)
            if fam in ("Ca-sulfate", "Mg-sulfate", "Fe-sulfate"):
                cat_ox = {"Ca-sulfate": "CaO", "Mg-sulfate": "MgO", "Fe-sulfate": "FeO"}[fam]
                band = {"Ca-sulfate": th.s_ca_band, "Mg-sulfate": th.s_mg_band, "Fe-sulfate": th.s_fe_band}[fam]
                el = {"CaO": "Ca", "MgO": "Mg", "FeO": "Fe"}[cat_ox]
                r_raw = _ratio(cation_moles("SO3", wt_of("SO3")), cation_moles(cat_ox, wt_of(cat_ox)))
                r_cor = _ratio(mol(exc, "SO3"), mol(exc, cat_ox))
                ratios[f"S/{el} raw"], ratios[f"S/{el} corrected"] = r_raw, r_cor
                gate = wt_of("SO3") >= th.so3_min_wt
                rule = band_score(r_cor, band, tol)
                so3 = wt_of("SO3")
                text = [f"SO3 {so3[i]:.1f} wt%, S/{el} {r_raw[i]:.2f} raw, {r_cor[i]:.2f} corrected "
                        f"(expect {band[0]:g}–{band[1]:g})" for i in range(n)]
            elif fam == "chloride":
                r_raw = _ratio(cation_moles("Na2O", wt_of("Na2O")), cation_moles("Cl", wt_of("Cl")))
                r_cor = _ratio(mol(exc, "Na2O"), mol(exc, "Cl"))
                ratios["Na/Cl raw"], ratios["Na/Cl corrected"] = r_raw, r_cor
                gate = wt_of("Cl") >= th.cl_min_wt
                rule = band_score(r_cor, th.na_cl_band, tol)
                cl = wt_of("Cl")
                text = [f"Cl {cl[i]:.1f} wt%, Na/Cl {r_raw[i]:.2f} raw, {r_cor[i]:.2f} corrected (halite 1), "
                        f"total {total[i]:.1f} %" for i in range(n)]
            elif fam == "perchlorate":
                r_cor = _ratio(mol(exc, "Na2O"), mol(exc, "Cl"))
                need = _CLO4_O_PER_CL * np.clip(exc.get("Cl", np.zeros(n)), 0, None)
                r_def = _ratio(d_exc, need, min_den=0.2)
                ratios["deficit/ClO4-O needed"] = r_def
                gate = (wt_of("Cl") >= th.cl_min_wt) & (np.nan_to_num(r_cor, nan=0.0) < th.perchlorate_na_cl_max)
                rule = band_score(r_def, th.clo4_deficit_band, tol) * th.perchlorate_max_confidence
                cl = wt_of("Cl")
                text = [f"Cl {cl[i]:.1f} wt% with Na/Cl {r_cor[i]:.2f} (corrected), deficit {d_exc[i]:.1f} wt% vs "
                        f"{need[i]:.1f} wt% perchlorate O needed (hint only: PIXL cannot see O)" for i in range(n)]
            elif fam == "carbonate":
                cats = sum(mol(exc, ox) for ox in ("FeO", "MgO", "CaO", "MnO"))
                co2_need = _M_CO2 * np.clip(cats, 0, None)
                r_def = _ratio(d_exc, co2_need, min_den=0.5)
                si = cation_moles("SiO2", wt_of("SiO2"))
                raw_cats = sum(cation_moles(ox, wt_of(ox)) for ox in ("FeO", "MgO", "CaO", "MnO"))
                r_si = _ratio(raw_cats, si)
                ratios["(Fe+Mg+Ca+Mn)/Si raw"], ratios["deficit/CO2 needed"] = r_si, r_def
                gate = invisible >= th.deficit_min_wt
                rule = band_score(r_def, th.co2_deficit_band, tol)
                sio2 = wt_of("SiO2")
                text = [f"total {total[i]:.1f} %, SiO2 {sio2[i]:.1f} wt%, (Fe+Mg+Ca+Mn)/Si {_fmt_ratio(r_si[i])} raw "
                        f"(olivine 2, pyroxene 1); excess cations need {co2_need[i]:.1f} wt% CO2, deficit "
                        f"{d_exc[i]:.1f} wt%" for i in range(n)]
            else:  # phosphate
                p = mol(exc, "P2O5")
                r_ca = _ratio(mol(exc, "CaO"), p)
                r_fe = _ratio(mol(exc, "FeO"), p)
                ratios["Ca/P corrected"], ratios["Fe/P corrected"] = r_ca, r_fe
                gate = wt_of("P2O5") >= th.p2o5_min_wt
                scores = [band_score(r_ca, (t, t), tol) for t in th.ca_p_targets]
                scores.append(band_score(r_fe, (th.fe_p_target, th.fe_p_target), tol))
                rule = np.max(scores, axis=0)
                p2o5 = wt_of("P2O5")
                text = [f"P2O5 {p2o5[i]:.1f} wt%, Ca/P {r_ca[i]:.2f} corrected (apatite 1.67, merrillite 1.29), "
                        f"Fe/P {r_fe[i]:.2f}" for i in range(n)]
            frac_score = np.clip(np.nan_to_num(f) / (2.0 * th.min_fraction), 0.0, 1.0)
            ok = usable & gate
            conf_rule[fam] = np.where(ok, frac_score * rule, 0.0)
            candidate[fam] = ok & (np.nan_to_num(f) >= th.min_fraction)
            texts[fam] = text
        return _State(fam_frac, conf_rule, candidate, ratios, texts)

    def finish(self, state: _State, signif: dict, chi2: np.ndarray) -> _State:
        """Confidence = fraction × rule × fit × significance; flags; best salt label per point."""
        th = self.th
        n = self.table.n_points
        chi2r = np.array([c / self.model.dof(np.zeros(1)) if np.isfinite(c) else np.nan for c in chi2])
        fit_score = np.clip(np.sqrt(th.chi2_ok / np.where(chi2r > th.chi2_ok, chi2r, th.chi2_ok)), 0.0, 1.0)
        label = np.array([""] * n, dtype=object)
        best = np.zeros(n)
        for fam, c in state.conf_rule.items():
            conf = c * fit_score * signif.get(fam, np.zeros(n))
            conf = np.nan_to_num(conf)
            state.conf[fam] = conf
            state.flags[fam] = state.candidate[fam] & (conf >= th.min_confidence)
            take = state.flags[fam] & (conf > best)
            label[take] = fam
            best[take] = conf[take]
        state.label = label
        return state


def _assemble(table, model, th, usable, frac, chi2, state, ambiguity, not_evaluated, notes, dchi2_group) -> PhaseMap:
    n = table.n_points
    names, fams = model.names, model.fams
    dof = np.array([model.dof(frac[i]) if usable[i] else 1 for i in range(n)])
    chi2r = chi2 / dof
    fam_frac = state.fam_frac
    mass_balance = np.where(usable, np.nansum(frac[:, :-1], axis=1), np.nan)
    phase = np.empty(n, dtype=object)
    endm = np.empty(n, dtype=object)
    confidence = np.zeros(n)
    evidence: list[str] = [""] * n
    reasons = table.unusable_reasons()
    salt_fams = list(state.conf)
    missing_txt = "; ".join(f"{f} not evaluated ({why})" for f, why in not_evaluated.items())
    group_key = {f: g[0] for g in SALT_GROUPS for f in g}
    for i in range(n):
        if not usable[i]:
            phase[i], endm[i] = "invalid", ""
            evidence[i] = f"not classified: {reasons[i]}"
            continue
        lead = _leading(frac[i], model.ems, fams)
        fam = state.label[i]
        if fam:
            c = state.conf[fam][i]
            d = dchi2_group.get(group_key[fam], np.full(n, np.nan))[i]
            phase[i], endm[i], confidence[i] = fam, lead.get(fam, ""), c
            evidence[i] = (f"{state.text[fam][i]}; without {_GROUP_WORDS[group_key[fam]]} the fit worsens by "
                           f"Δχ² {d:.1f} "
                           f"→ {fam} ({endm[i]}) {100 * fam_frac[fam][i]:.0f} %, confidence {c:.2f}")
            others = [f for f in salt_fams if f != fam and state.flags[f][i]]
            if others:
                evidence[i] += f"; also {', '.join(others)}"
        else:
            non_salt = {f: fam_frac[f][i] for f in fam_frac if f in _NON_SALT}
            best = max(non_salt, key=lambda k: (non_salt[k], k)) if non_salt else None
            d = fam_frac.get(DEFICIT, np.zeros(n))[i]
            fit_score = float(np.clip(np.sqrt(th.chi2_ok / max(chi2r[i], th.chi2_ok)), 0, 1))
            if d >= th.min_fraction:
                phase[i], endm[i] = "low total", ""
                confidence[i] = float(min(1.0, d / (2 * th.min_fraction)) * fit_score)
                evidence[i] = (f"total {table.total[i]:.1f} %: {100 * d:.0f} % unexplained deficit (roughness, "
                               "standoff or H2O in a phase not in the basis)")
            elif best is not None and non_salt[best] >= th.dominant_fraction:
                phase[i], endm[i] = best, lead.get(best, "")
                confidence[i] = float(min(1.0, non_salt[best]) * fit_score)
                evidence[i] = f"{best} ({endm[i]}) {100 * non_salt[best]:.0f} % of the unmixing"
            else:
                phase[i], endm[i] = "mixed silicate", ""
                top = max((state.conf[f][i] for f in salt_fams), default=0.0)
                confidence[i] = float(fit_score * (1.0 - top))
                evidence[i] = f"no phase above {100 * th.dominant_fraction:.0f} % of the unmixing"
            near = [(state.conf[f][i], f) for f in salt_fams if fam_frac.get(f, np.zeros(n))[i] >= 0.1]
            if near:
                c, f = max(near)
                evidence[i] += (f"; {f} {100 * fam_frac[f][i]:.0f} % in the unmixing but not confirmed "
                                f"({state.text[f][i]}; confidence {c:.2f})")
            evidence[i] += f"; total {table.total[i]:.1f} %, confidence {confidence[i]:.2f}"
        if ambiguity[i]:
            evidence[i] += f"; {ambiguity[i]}"
        evidence[i] += f"; fit χ²ᵣ {chi2r[i]:.2f}"
        if missing_txt:
            evidence[i] += f"; {missing_txt}"
    return PhaseMap(table=table, phase=phase.astype(str), endmember=endm.astype(str), confidence=confidence,
                    evidence=evidence, basis=names, endmember_fraction=frac, family_fraction=fam_frac,
                    flags=state.flags, family_confidence=state.conf, ratios=state.ratios, chi2_reduced=chi2r,
                    mass_balance=mass_balance, not_evaluated=not_evaluated, notes=notes, thresholds=th,
                    basis_endmembers=tuple(model.ems))


#: Words for "without X" in the evidence, per salt group.
_GROUP_WORDS = {"Ca-sulfate": "sulfates", "chloride": "chlorides and perchlorates", "carbonate": "carbonates",
                "phosphate": "phosphates"}
#: Hydrate series: the unmixing cannot split a hydrate from an anhydrous phase plus deficit, so a
#: point is named by its effective hydration (the family's invisible fraction) instead.
HYDRATE_SERIES: dict[str, tuple[str, ...]] = {"Ca-sulfate": ("anhydrite", "bassanite", "gypsum"),
                                              "Mg-sulfate": ("kieserite", "starkeyite", "epsomite")}
#: Effective hydration within this many wt% of a hydrate takes its name (tunable default).
HYDRATE_MATCH_WT = 3.0


def hydrate_name(family: str, deficit_wt: float) -> str:
    """Name of the hydrate whose invisible fraction is nearest ``deficit_wt`` ("bassanite–gypsum" if between)."""
    opts = sorted(((get_endmember(nm).invisible_wt, nm) for nm in HYDRATE_SERIES[family]))
    for d, nm in opts:
        if abs(d - deficit_wt) <= HYDRATE_MATCH_WT:
            return nm
    if deficit_wt < opts[0][0]:
        return opts[0][1]
    if deficit_wt > opts[-1][0]:
        return opts[-1][1]
    for (d0, n0), (d1, n1) in zip(opts, opts[1:]):
        if d0 <= deficit_wt <= d1:
            return f"{n0}–{n1}"
    return opts[-1][1]


def _carbonate_formula(x: np.ndarray, ems: list[EndMember], fams: list[str]) -> str:
    """Effective carbonate cation proportions "(Mg0.56Fe0.39Ca0.05)CO3" of the carbonate part."""
    mol = {}
    for xj, em, fam in zip(x, ems, fams):
        if fam != "carbonate" or xj <= 0:
            continue
        for ox, el in (("MgO", "Mg"), ("FeO", "Fe"), ("CaO", "Ca"), ("MnO", "Mn")):
            if ox in em.oxide_wt:
                mol[el] = mol.get(el, 0.0) + xj * float(cation_moles(ox, em.oxide_wt[ox]))
    tot = sum(mol.values())
    if tot <= 0:
        return ""
    parts = "".join(f"{el}{v / tot:.2f}" for el, v in sorted(mol.items(), key=lambda kv: -kv[1]) if v / tot >= 0.01)
    return f"({parts})CO3"


def _leading(f: np.ndarray, ems: list[EndMember], fams: list[str], share: float = 0.25) -> dict[str, str]:
    """family -> its leading end-member(s) at one point ("a/b": those with ≥ ``share`` of the family).

    Hydrate series are named by effective hydration, carbonates by effective cation proportions.
    """
    out: dict[str, str] = {}
    by: dict[str, list[tuple[float, int]]] = {}
    for j, (x, fam) in enumerate(zip(f, fams)):
        if x > 0 and j < len(ems):
            by.setdefault(fam, []).append((float(x), j))
    for fam, lst in by.items():
        tot = sum(x for x, _ in lst)
        if fam in HYDRATE_SERIES:
            inv = sum(x * ems[j].invisible_wt for x, j in lst) / tot
            out[fam] = hydrate_name(fam, inv)
            continue
        if fam == "carbonate":
            out[fam] = _carbonate_formula(f, ems, fams)
            continue
        lst.sort(reverse=True)
        out[fam] = "/".join(ems[j].name for x, j in lst if x >= share * tot) or ems[lst[0][1]].name
    return out

