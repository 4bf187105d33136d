"""Rank targets (scans) as sample candidates, with named sub-scores and the reasons behind them.

``score = Σ w_i s_i / Σ w_i`` with every sub-score ``s_i`` in [0, 1] (science
brief §3, after the Mars 2020 sampling criteria: Mustard et al. 2013 SDT;
Beaty et al. 2019 iMOST; Farley et al. 2020; Simon et al. 2023). Sub-scores:

``aqueous_evidence``   water-formed minerals found, weighted by detection confidence and by how
                       diagnostic each family is of water (:data:`AQUEOUS_WEIGHT`).
``salt_abundance``     area fraction of salt, carbonate, phosphate, silica and clay points;
                       saturates at 10 % (brief).
``fine_grained``       fine-grained / sedimentary indicator: few points dominated by one primary
                       mineral (coarse igneous crystals fill a 120 µm spot; fine sediments do not).
                       A composition-only heuristic: texture and diffraction are not used.
``geochronology``      igneous assemblage with little alteration (deficit < 5 wt%, few salts),
                       bonus for phosphates or Zr phases (datable).
``diversity``          distance from what is already collected and from the targets ranked higher:
                       Aitchison (CLR) distance of mean compositions plus the difference of phase
                       proportions. Ranking is greedy, so this term changes as the list fills.
``data_quality``       enough usable points, totals of non-salt points within 85–105 %.

Every weight and scale here is a tunable default, not a published value (unverified).
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import CompositionError, ConfigError
from .classify import PhaseMap
from .cluster import MIN_MEAN_WT, clr
from .salts import SaltDetections, identify_salts
from .table import CompositionLike, as_table

__all__ = ["Candidate", "CandidateRanking", "rank_sample_candidates", "DEFAULT_WEIGHTS", "AQUEOUS_WEIGHT",
           "SUBSCORES"]

#: Default weights (tunable; the brief's §3 proposal regrouped to the issue's sub-scores).
DEFAULT_WEIGHTS: dict[str, float] = {"aqueous_evidence": 0.25, "salt_abundance": 0.20, "fine_grained": 0.10,
                                     "geochronology": 0.10, "diversity": 0.25, "data_quality": 0.10}
SUBSCORES: tuple[str, ...] = tuple(DEFAULT_WEIGHTS)
#: How strongly each family speaks for liquid water (tunable): phosphates also crystallise from
#: magma, perchlorate is only a hint, chlorides can come from brines or dust.
AQUEOUS_WEIGHT: dict[str, float] = {"carbonate": 1.0, "Ca-sulfate": 1.0, "Mg-sulfate": 1.0, "Fe-sulfate": 1.0,
                                    "chloride": 0.8, "perchlorate": 0.4, "phosphate": 0.4,
                                    "phyllosilicate": 0.9, "silica": 0.8}
#: Area fraction of aqueous phases at which salt_abundance saturates (brief: 10 %).
ABUNDANCE_SATURATION = 0.10
#: Share of single-mineral points at which fine_grained reaches 0 (tunable).
COARSE_SHARE_SATURATION = 0.5
#: Aitchison distance and phase-proportion difference (total variation) that each make
#: diversity 1 − 1/e (tunable).
DIVERSITY_SCALE_CLR = 1.0
DIVERSITY_SCALE_PHASES = 0.3
#: data_quality: usable points for full credit; accepted range of totals (brief: 85–105).
MIN_POINTS_QUALITY = 100
TOTAL_RANGE_WT = (85.0, 105.0)
#: geochronology: mean deficit of non-salt points below which the rock counts as unaltered (brief: 5).
MAX_DEFICIT_UNALTERED_WT = 5.0
_PRIMARY = ("olivine", "pyroxene", "feldspar", "oxide")
_IGNEOUS_LABELS = _PRIMARY + ("mixed silicate",)


@dataclass(eq=False)
class Candidate:
    """One ranked target.

    Attributes
    ----------
    name : str
    rank : int
        1 = best.
    score : float
        Weighted mean of the sub-scores, in [0, 1].
    subscores : dict[str, float]
    weights : dict[str, float]
        Normalised weights used.
    reasons : list of str
        The evidence behind the sub-scores.
    index : int
        Position in the input.
    mean_composition : dict[str, float]
    phase_fractions : dict[str, float]
        Share of usable points per phase label.
    detections : SaltDetections
    """

    name: str
    rank: int
    score: float
    subscores: dict
    weights: dict
    reasons: list
    index: int
    mean_composition: dict
    phase_fractions: dict
    detections: SaltDetections = field(repr=False)

    @property
    def phase_map(self) -> PhaseMap:
        return self.detections.phase_map

    def report(self) -> str:
        subs = ", ".join(f"{k} {v:.2f}×{self.weights[k]:.2f}" for k, v in self.subscores.items())
        lines = [f"#{self.rank} {self.name}: score {self.score:.3f} ({subs})"]
        lines += [f"    - {r}" for r in self.reasons]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"name": self.name, "rank": self.rank, "score": self.score, "subscores": dict(self.subscores),
                "weights": dict(self.weights), "reasons": list(self.reasons), "index": self.index,
                "mean_composition": dict(self.mean_composition), "phase_fractions": dict(self.phase_fractions),
                "detections": self.detections.to_dict()}


class CandidateRanking(list):
    """``list[Candidate]`` in rank order, with ``report()`` and ``to_dict()``."""

    def __init__(self, items: Iterable[Candidate], weights: dict, collected_names: list):
        super().__init__(items)
        self.weights = dict(weights)
        self.collected_names = list(collected_names)

    def report(self) -> str:
        w = ", ".join(f"{k} {v:.2f}" for k, v in self.weights.items())
        lines = [f"Sample candidates ({len(self)}), weights: {w}"]
        if self.collected_names:
            lines.append(f"  compared with collected: {', '.join(self.collected_names)}")
        lines += [c.report() for c in self]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"weights": dict(self.weights), "collected": list(self.collected_names),
                "candidates": [c.to_dict() for c in self]}


def _weights(weights: Mapping | None) -> dict[str, float]:
    w = dict(DEFAULT_WEIGHTS)
    if weights:
        unknown = [k for k in weights if k not in DEFAULT_WEIGHTS]
        if unknown:
            raise ConfigError(f"unknown sub-score(s) {unknown} in weights; known: {', '.join(SUBSCORES)}",
                              where="weights")
        for k, v in weights.items():
            try:
                v = float(v)
            except (TypeError, ValueError):
                raise ConfigError(f"weight of {k!r} must be a number, got {v!r}", where="weights") from None
            if not math.isfinite(v) or v < 0:
                raise ConfigError(f"weight of {k!r} must be finite and >= 0, got {v}", where="weights")
            w[k] = v
    top = max(w.values())
    if top <= 0:
        raise ConfigError("weights sum to 0: at least one sub-score needs a positive weight", where="weights")
    w = {k: v / top for k, v in w.items()}  # first by the largest: weights near 1e308 would sum to inf
    s = sum(w.values())
    return {k: v / s for k, v in w.items()}


@dataclass
class _Profile:
    name: str
    index: int
    det: SaltDetections
    mean: dict
    phases: dict
    subs: dict
    reasons: list


def _profile(target, index: int, name: str | None) -> _Profile:
    if isinstance(target, SaltDetections):
        det = target
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            det = identify_salts(target)
        for w in caught:
            warnings.warn(str(w.message), w.category, stacklevel=3)
    pm = det.phase_map
    t = pm.table
    usable = t.usable()
    nu = int(usable.sum())
    name = name or t.name or f"target {index}"
    labels = pm.phase[usable]
    lab, cnt = np.unique(labels, return_counts=True)
    phases = {str(k): float(v / max(nu, 1)) for k, v in zip(lab, cnt)}
    salt_mask = np.zeros(t.n_points, bool)
    for d in det:
        salt_mask |= d.mask
    reasons: list[str] = []
    subs: dict[str, float] = {}

    # aqueous evidence
    best: dict[str, float] = {}
    for d in det:
        best[d.phase] = max(best.get(d.phase, 0.0), d.confidence)
    for fam in ("phyllosilicate", "silica"):
        share = phases.get(fam, 0.0)
        if share >= 0.02:
            best[fam] = min(1.0, share / 0.05) * float(np.mean(pm.confidence[pm.phase == fam]))
    prod = 1.0
    for fam, c in best.items():
        prod *= 1.0 - AQUEOUS_WEIGHT.get(fam, 0.5) * c
    subs["aqueous_evidence"] = 1.0 - prod
    for fam, dets in det.by_phase().items():
        share = float(det.mask(fam)[usable].mean()) if nu else 0.0
        ratio = "; ".join(f"{k} {v:.2f}" for k, v in dets[0].ratios.items())
        extra = f"; hydration: {dets[0].hydration['verdict']}" if dets[0].hydration else ""
        reasons.append(f"{100 * share:.0f} % {fam} points in {len(dets)} region{'s' if len(dets) > 1 else ''} "
                       f"(best confidence {best[fam]:.2f}; {dets[0].endmember}; {ratio}{extra})")
    for fam in ("phyllosilicate", "silica"):
        if fam in best:
            reasons.append(f"{100 * phases[fam]:.0f} % {fam} points (aqueous alteration)")
    if not best:
        reasons.append("no aqueous mineral found")

    # salt abundance
    aq_mask = salt_mask | np.isin(pm.phase, ("phyllosilicate", "silica"))
    aq_share = float(aq_mask[usable].mean()) if nu else 0.0
    subs["salt_abundance"] = min(1.0, aq_share / ABUNDANCE_SATURATION)
    reasons.append(f"aqueous phases cover {100 * aq_share:.1f} % of the points (full credit at "
                   f"{100 * ABUNDANCE_SATURATION:.0f} %)")

    # fine-grained indicator
    matrix = usable & ~aq_mask
    coarse = np.isin(pm.phase, _PRIMARY) & matrix
    coarse_share = float(coarse.sum() / max(matrix.sum(), 1))
    subs["fine_grained"] = float(np.clip(1.0 - coarse_share / COARSE_SHARE_SATURATION, 0.0, 1.0))
    by = {f: float((pm.phase[matrix] == f).mean()) for f in _PRIMARY if matrix.any()}
    by = {f: v for f, v in by.items() if v >= 0.005}
    detail = ", ".join(f"{k} {100 * v:.0f} %" for k, v in by.items()) or "none"
    reasons.append(f"{100 * coarse_share:.0f} % of matrix points are single-mineral ({detail}): "
                   + ("fine-grained or well mixed at the 120 µm spot" if coarse_share < 0.2 else "coarse crystals")
                   + " (composition-only heuristic)")

    # geochronology
    igneous = float(np.isin(pm.phase[usable], _IGNEOUS_LABELS).mean()) if nu else 0.0
    deficit = 100.0 - t.total[matrix]
    mean_def = float(np.mean(deficit)) if deficit.size else math.nan
    unaltered = 1.0 if (math.isfinite(mean_def) and mean_def < MAX_DEFICIT_UNALTERED_WT) else 0.5 \
        if (math.isfinite(mean_def) and mean_def < 2 * MAX_DEFICIT_UNALTERED_WT) else 0.0
    unaltered *= 1.0 - min(1.0, aq_share / ABUNDANCE_SATURATION) * 0.5
    datable = []
    if "phosphate" in best:
        datable.append("phosphate")
    if "ZrO2" in t.oxide_wt and np.nanmax(t.oxide_wt["ZrO2"][usable], initial=0.0) >= 1.0:
        datable.append("Zr-rich points")
    subs["geochronology"] = float(0.5 * igneous + 0.3 * unaltered + 0.2 * (1.0 if datable else 0.0))
    reasons.append(f"igneous assemblage on {100 * igneous:.0f} % of points, mean matrix deficit "
                   f"{mean_def:.1f} wt%" + (f", datable phases: {', '.join(datable)}" if datable else ""))

    # data quality
    tot = t.total[matrix]
    in_range = float(np.mean((tot >= TOTAL_RANGE_WT[0]) & (tot <= TOTAL_RANGE_WT[1]))) if tot.size else 0.0
    s_n = min(1.0, nu / MIN_POINTS_QUALITY)
    subs["data_quality"] = float(s_n * in_range * (nu / max(t.n_points, 1)))
    reasons.append(f"{nu} usable of {t.n_points} points; {100 * in_range:.0f} % of matrix totals in "
                   f"{TOTAL_RANGE_WT[0]:.0f}–{TOTAL_RANGE_WT[1]:.0f} %")
    for fam, why in det.not_evaluated.items():
        reasons.append(f"{fam} not evaluated: {why}")
    return _Profile(name, index, det, t.mean_composition(), phases, subs, reasons)


def _reference(obj, k: int) -> tuple[str, dict, dict]:
    """(name, mean composition, phase shares) of a collected sample: a map, detections or a dict of wt%."""
    if isinstance(obj, Mapping) and "oxide_wt" not in obj and all(
            isinstance(v, (int, float, np.floating, np.integer)) for v in obj.values()):
        return f"collected {k}", {str(a): float(b) for a, b in obj.items()}, {}
    if isinstance(obj, SaltDetections):
        p = _profile(obj, k, None)
    else:
        p = _profile(as_table(obj), k, None)
    return p.name, p.mean, p.phases


def _aitchison(a: dict, b: dict) -> float:
    """Aitchison distance of the sub-composition of oxides ≥ :data:`MIN_MEAN_WT` in both (no rest part:
    deficits are compared through the phase proportions)."""
    keys = sorted(k for k in a if k in b and k != "total" and math.isfinite(a[k]) and math.isfinite(b[k])
                  and min(a[k], b[k]) >= MIN_MEAN_WT)
    if len(keys) < 2:
        return math.nan
    xa = np.array([[a[k] for k in keys]])
    xb = np.array([[b[k] for k in keys]])
    return float(np.linalg.norm(clr(xa) - clr(xb)))


def _phase_distance(a: dict, b: dict) -> float:
    if not a or not b:
        return math.nan
    keys = set(a) | set(b)
    return 0.5 * sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in keys)


def rank_sample_candidates(targets: Sequence[CompositionLike | SaltDetections] | Mapping[str, Any],
                           weights: Mapping | None = None,
                           collected: Sequence[CompositionLike | SaltDetections | Mapping[str, float]] | None = None
                           ) -> CandidateRanking:
    """Rank targets for sampling, explaining every score.

    Parameters
    ----------
    targets : sequence or dict
        Composition maps (any object :func:`~pixlspec.minerals.as_table` accepts)
        or :class:`~pixlspec.minerals.SaltDetections`; a dict maps names to them.
    weights : dict, optional
        Sub-score -> weight, merged into :data:`DEFAULT_WEIGHTS` and normalised.
        ``{"diversity": 0}`` ranks on the targets alone.
    collected : sequence, optional
        Samples already collected: composition maps, detections, or dicts of
        mean oxide wt%. Diversity is measured against these and against the
        targets ranked higher.

    Returns
    -------
    CandidateRanking
        ``list[Candidate]``, best first. Ties are broken by name, then input order,
        so the order is deterministic.

    Raises
    ------
    CompositionError
        No targets, or a target without usable points.
    ConfigError
        Unknown sub-score or negative weight.
    """
    w = _weights(weights)
    if isinstance(targets, Mapping) and "oxide_wt" not in targets:
        items = [(str(k), v) for k, v in targets.items()]
    else:
        if isinstance(targets, Mapping) or not isinstance(targets, Sequence) or isinstance(targets, str):
            targets = [targets]
        items = [(None, v) for v in targets]
    if not items:
        raise CompositionError("no targets to rank", where="rank_sample_candidates")
    profiles = [_profile(v, i, nm) for i, (nm, v) in enumerate(items)]
    seen: dict[str, int] = {}
    for p in profiles:  # unique names
        if p.name in seen:
            seen[p.name] += 1
            p.name = f"{p.name} ({seen[p.name]})"
        else:
            seen[p.name] = 1
    refs = [_reference(c, k) for k, c in enumerate(collected or [])]
    collected_names = [r[0] for r in refs]
    remaining = list(profiles)
    ranked: list[Candidate] = []
    while remaining:
        scored = []
        for p in remaining:
            subs = dict(p.subs)
            if refs:
                dists = []
                for rname, rmean, rph in refs:
                    da = _aitchison(p.mean, rmean)
                    dp = _phase_distance(p.phases, rph)
                    tot = (0.0 if not math.isfinite(da) else da / DIVERSITY_SCALE_CLR) + \
                          (0.0 if not math.isfinite(dp) else dp / DIVERSITY_SCALE_PHASES)
                    dists.append((tot, rname, da, dp))
                tot, rname, da, dp = min(dists)
                subs["diversity"] = float(1.0 - math.exp(-tot))
                why = (f"closest to {rname}: Aitchison distance {da:.2f}"
                       + (f", phase proportions differ by {100 * dp:.0f} %" if math.isfinite(dp) else ""))
            else:
                subs["diversity"] = 1.0
                why = "nothing collected or ranked above to compare with"
            subs = {k: subs[k] for k in SUBSCORES}
            score = float(sum(w[k] * subs[k] for k in SUBSCORES))
            scored.append((score, subs, why, p))
        scored.sort(key=lambda t: (-round(t[0], 12), t[3].name, t[3].index))
        score, subs, why, p = scored[0]
        reasons = [f"diversity: {why}"] + p.reasons
        ranked.append(Candidate(p.name, len(ranked) + 1, score, subs, w, reasons, p.index, p.mean, p.phases, p.det))
        refs.append((p.name, p.mean, p.phases))
        remaining.remove(p)
    return CandidateRanking(ranked, w, collected_names)

