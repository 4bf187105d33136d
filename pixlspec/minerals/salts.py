"""Salt detections: per-point salt flags grouped into connected regions.

:func:`identify_salts` runs :func:`~pixlspec.minerals.classify.classify_points`
(or takes its result), groups the points flagged for each salt family into
regions of adjacent points (neighbours within 1.5× the median point spacing,
so it works for lines and rasters), and describes each region: area, mean
composition, confidence and evidence. Scan-level checks that need several
points are made per region (brief §2):

* Ca- and Mg-sulfate: Pearson r of S vs the cation over the region and one
  ring of neighbours (> 0.7 expected), and the hydration read off the mixing
  line — the deficit (100 − total) regressed on the anhydrous-sulfate mass,
  extrapolated to the pure-sulfate end and compared with anhydrite (0),
  bassanite (6.2), gypsum (20.9) wt% (kieserite 13.0, starkeyite 37.4,
  epsomite 51.2 for Mg). Roughness and standoff add to the deficit too, so the
  estimate is only as good as the totals (unverified against PIXL data).
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .classify import PhaseMap, classify_points, hydrate_name
from .thresholds import Thresholds
from .endmembers import SALT_FAMILIES, EndMember, get_endmember
from .spatial import ScanGeometry, connected_regions, dilate, scan_geometry
from .table import CompositionLike, cation_moles, oxide_mass

__all__ = ["Detection", "SaltDetections", "identify_salts", "HYDRATES", "MIN_CORRELATION",
           "MIN_POINTS_FOR_TRENDS"]

#: Pearson r of S vs Ca (or Mg) expected across a sulfate region and its rim (brief §2: > 0.7).
MIN_CORRELATION = 0.7
#: Fewest points (region + rim) for correlation and mixing-line checks (tunable default).
MIN_POINTS_FOR_TRENDS = 5
#: Hydrates compared with the mixing-line deficit, per family (end-member names).
HYDRATES: dict[str, tuple[str, ...]] = {"Ca-sulfate": ("anhydrite", "bassanite", "gypsum"),
                                        "Mg-sulfate": ("kieserite", "starkeyite", "epsomite")}
_ANHYDROUS = {"Ca-sulfate": ("CaO", "CaSO4"), "Mg-sulfate": ("MgO", "MgSO4")}


@dataclass(eq=False)
class Detection:
    """One region of adjacent points where a salt family was found.

    Attributes
    ----------
    phase : str
        Salt family: "Ca-sulfate", "Mg-sulfate", "Fe-sulfate", "chloride",
        "perchlorate" (a hint), "carbonate", "phosphate".
    mask : numpy.ndarray of bool
        Over all points of the map.
    confidence : float
        Mean point confidence in the region, times 0.8 if the S–cation
        correlation is evaluated and below :data:`MIN_CORRELATION`.
    evidence : str
        The numbers behind the detection.
    area_mm2 : float
        Points × area per point (spacing² on rasters, spacing × spot on lines).
    n_points : int
    mean_composition : dict[str, float]
        Mean oxide wt% and "total" over the region.
    centroid_mm : tuple of float
        Mean x, y of the region.
    endmember : str
        Leading end-member(s) ("gypsum/bassanite", "halite", ...).
    mean_fraction : float
        Mean unmixed mass fraction of the family in the region.
    ratios : dict[str, float]
        Mean molar ratios in the region (corrected composition).
    hydration : dict or None
        Mixing-line estimate: deficit at the pure-sulfate end, its 1σ, nearest
        hydrate; None when not evaluated (reason in ``evidence``).
    correlation : float or None
        Pearson r of S vs the cation over region + rim (sulfates).
    """

    phase: str
    mask: np.ndarray
    confidence: float
    evidence: str
    area_mm2: float
    n_points: int
    mean_composition: dict
    centroid_mm: tuple
    endmember: str = ""
    mean_fraction: float = math.nan
    ratios: dict = field(default_factory=dict)
    hydration: dict | None = None
    correlation: float | None = None

    @property
    def point_indices(self) -> np.ndarray:
        return np.flatnonzero(self.mask)

    def report(self) -> str:
        comp = ", ".join(f"{k} {v:.1f}" for k, v in sorted(self.mean_composition.items(), key=lambda kv: -kv[1])
                         if k != "total" and v >= 1.0)
        return (f"{self.phase} ({self.endmember or '?'}): {self.n_points} points, {self.area_mm2:.3f} mm² at "
                f"({self.centroid_mm[0]:.2f}, {self.centroid_mm[1]:.2f}) mm, confidence {self.confidence:.2f}\n"
                f"    mean: {comp}; total {self.mean_composition.get('total', math.nan):.1f} %\n"
                f"    {self.evidence}")

    def to_dict(self) -> dict:
        return {"phase": self.phase, "endmember": self.endmember, "confidence": self.confidence,
                "evidence": self.evidence, "area_mm2": self.area_mm2, "n_points": self.n_points,
                "point_indices": self.point_indices.tolist(), "mean_composition": dict(self.mean_composition),
                "centroid_mm": list(self.centroid_mm), "mean_fraction": self.mean_fraction,
                "ratios": dict(self.ratios), "hydration": self.hydration, "correlation": self.correlation}

    def __repr__(self) -> str:
        return (f"Detection({self.phase!r}, {self.n_points} points, {self.area_mm2:.3f} mm², "
                f"confidence {self.confidence:.2f})")


class SaltDetections(list):
    """``list[Detection]`` with the context: the phase map, the scan geometry and what was not evaluated.

    Attributes
    ----------
    phase_map : PhaseMap
    geometry : ScanGeometry
    not_evaluated : dict[str, str]
        Salt family -> why it could not be evaluated (e.g. "Cl not in map").
    notes : list of str
    """

    def __init__(self, items: Iterable[Detection], phase_map: PhaseMap, geometry: ScanGeometry, not_evaluated: dict,
                 notes: list):
        super().__init__(items)
        self.phase_map = phase_map
        self.geometry = geometry
        self.not_evaluated = dict(not_evaluated)
        self.notes = list(notes)

    def mask(self, phase: str) -> np.ndarray:
        """Union of the masks of all detections of ``phase``."""
        out = np.zeros(self.phase_map.n_points, bool)
        for d in self:
            if d.phase == phase:
                out |= d.mask
        return out

    def by_phase(self) -> dict[str, list[Detection]]:
        out: dict[str, list[Detection]] = {}
        for d in self:
            out.setdefault(d.phase, []).append(d)
        return out

    def area_fraction(self, phase: str | None = None) -> float:
        """Fraction of the usable points covered by detections (of ``phase``, or of any salt)."""
        usable = self.phase_map.table.usable()
        if phase is None:
            m = np.zeros_like(usable)
            for d in self:
                m |= d.mask
        else:
            m = self.mask(phase)
        return float((m & usable).sum() / max(usable.sum(), 1))

    def report(self) -> str:
        name = self.phase_map.table.name or "composition map"
        g = self.geometry
        lines = [f"Salts in {name}: {len(self)} detections ({g.kind}, {self.phase_map.n_points} points, "
                 f"spacing {g.spacing_mm * 1000:.0f} µm)"]
        for d in self:
            lines.append("  " + d.report().replace("\n", "\n  "))
        if not self:
            lines.append("  none")
        for fam, why in self.not_evaluated.items():
            lines.append(f"  {fam}: not evaluated — {why}")
        for note in self.notes:
            lines.append(f"  note: {note}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"name": self.phase_map.table.name, "geometry": self.geometry.to_dict(),
                "detections": [d.to_dict() for d in self], "not_evaluated": dict(self.not_evaluated),
                "notes": list(self.notes)}


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < MIN_POINTS_FOR_TRENDS or np.std(x[ok]) == 0 or np.std(y[ok]) == 0:
        return math.nan
    return float(np.corrcoef(x[ok], y[ok])[0, 1])


def _hydration(pm: PhaseMap, family: str, sel: np.ndarray) -> tuple[dict | None, str]:
    """Mixing-line hydration of a sulfate over the points ``sel`` (region + rim)."""
    t = pm.table
    so3 = t.oxide_wt["SO3"][sel]
    cat_ox, _ = _ANHYDROUS[family]
    m_so3 = oxide_mass("SO3")[2]
    m_cat = oxide_mass(cat_ox)[2]
    # anhydrous salt mass (wt%) carried by the sulfate's S: SO3 × M(MSO4)/M(SO3)
    mass = so3 * (m_so3 + m_cat) / m_so3
    deficit = 100.0 - t.total[sel]
    ok = np.isfinite(mass) & np.isfinite(deficit)
    mass, deficit = mass[ok], deficit[ok]
    if mass.size < MIN_POINTS_FOR_TRENDS:
        return None, f"hydration not evaluated ({mass.size} points < {MIN_POINTS_FOR_TRENDS})"
    if np.ptp(mass) < 15.0:
        return None, f"hydration not evaluated (sulfate content spans only {np.ptp(mass):.0f} wt%)"
    X = np.column_stack([np.ones_like(mass), mass])
    coef, res, *_ = np.linalg.lstsq(X, deficit, rcond=None)
    a, b = coef
    dof = max(mass.size - 2, 1)
    s2 = float(np.sum((deficit - X @ coef) ** 2) / dof)
    cov = s2 * np.linalg.inv(X.T @ X)
    # d = a (1 − m (1+s)/100) + s m  →  slope b = s − a (1+s)/100  →  s = (b + a/100) / (1 − a/100)
    s = (b + a / 100.0) / (1.0 - a / 100.0)
    s_sig = math.sqrt(cov[1, 1]) / (1.0 - a / 100.0)
    end = 100.0 * s / (1.0 + s)
    end_sig = 100.0 * s_sig / (1.0 + s) ** 2
    options = {name: get_endmember(name).invisible_wt for name in HYDRATES[family]}
    nearest = min(options, key=lambda k: abs(options[k] - end))
    consistent = [k for k, v in options.items() if abs(v - end) <= max(2.0 * end_sig, 2.0)]
    verdict = (" or ".join(consistent) if consistent else
               f"between {hydrate_name(family, end).replace('–', ' and ')}" if "–" in hydrate_name(family, end)
               else f"nearest {nearest}")
    ref = ", ".join(f"{k} {v:.0f}" for k, v in options.items())
    text = (f"mixing line over {mass.size} points: deficit at the pure-sulfate end {end:.0f} ± {end_sig:.0f} wt% "
            f"→ {verdict} ({ref}; roughness also lowers totals)")
    return {"deficit_at_end_wt": end, "sigma_wt": end_sig, "nearest": nearest, "consistent_with": consistent,
            "verdict": verdict, "matrix_deficit_wt": float(a), "n_points": int(mass.size),
            "reference_wt": options}, text


def identify_salts(composition_map: CompositionLike, *, min_points: int = 1, min_confidence: float = 0.5,
                   families: tuple[str, ...] | None = None, thresholds: Thresholds | None = None,
                   basis: Sequence[str | EndMember] | None = None) -> SaltDetections:
    """Find sulfates, chlorides, perchlorate hints, carbonates and phosphates as regions of points.

    Parameters
    ----------
    composition_map : CompositionMap, CompositionTable, dict or PhaseMap
        A composition map (see :mod:`pixlspec.minerals.table`) or the result of
        :func:`~pixlspec.minerals.classify_points` (then not classified again).
    min_points : int
        Smallest region kept (1: single-point grains count; PIXL's spot is ~ a grain).
    min_confidence : float
        Smallest region confidence kept.
    families : tuple of str, optional
        Salt families to report (default all of :data:`~pixlspec.minerals.endmembers.SALT_FAMILIES`).
    thresholds, basis
        Passed to :func:`~pixlspec.minerals.classify_points`.

    Returns
    -------
    SaltDetections
        A ``list[Detection]`` sorted by family then area (largest first), with
        ``.report()``, ``.to_dict()``, ``.mask(phase)``, ``.not_evaluated``.

    Raises
    ------
    CompositionError
        No usable point (all NaN or invalid).

    Notes
    -----
    A family whose rule needs an oxide the map lacks (e.g. no Cl fitted) is not
    evaluated: it appears in ``.not_evaluated`` and in a warning, never as a
    guess. Perchlorate is a hint only: PIXL cannot see oxygen.
    """
    if isinstance(composition_map, PhaseMap):
        pm = composition_map
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pm = classify_points(composition_map, thresholds=thresholds, basis=basis)
        for w in caught:  # re-issue with this function as the caller's frame
            warnings.warn(str(w.message), w.category, stacklevel=2)
    fams = SALT_FAMILIES if families is None else tuple(families)
    unknown = [f for f in fams if f not in SALT_FAMILIES]
    if unknown:
        from ..errors import CompositionError

        raise CompositionError(f"unknown salt families {unknown}; known: {', '.join(SALT_FAMILIES)}",
                               where="identify_salts")
    t = pm.table
    usable = t.usable()
    geom = scan_geometry(t.positions_mm, usable)
    notes = list(pm.notes)
    if geom.kind == "point":
        notes.append("single usable point: no neighbours, so no correlation or mixing-line checks")
    out: list[Detection] = []
    for fam in fams:
        if fam not in pm.flags:
            continue
        flagged = pm.flags[fam] & (pm.phase == fam)
        for idx in connected_regions(flagged, geom.neighbours):
            if idx.size < min_points:
                continue
            det = _describe(pm, fam, idx, geom)
            if det.confidence >= min_confidence:
                out.append(det)
    order = {f: k for k, f in enumerate(SALT_FAMILIES)}
    out.sort(key=lambda d: (order[d.phase], -d.n_points, int(d.point_indices[0])))
    return SaltDetections(out, pm, geom, {f: why for f, why in pm.not_evaluated.items() if f in fams}, notes)


def _describe(pm: PhaseMap, fam: str, idx: np.ndarray, geom: ScanGeometry) -> Detection:
    t = pm.table
    n = t.n_points
    mask = np.zeros(n, bool)
    mask[idx] = True
    conf = float(np.mean(pm.family_confidence[fam][idx]))
    frac = float(np.nanmean(pm.family_fraction[fam][idx]))
    endm = pm.leading_endmember(mask, fam)
    if fam == "carbonate":
        endm = _carbonate_from_raw(pm, idx) or endm
    ratios = {}
    for key, arr in pm.ratios.items():
        vals = arr[idx]
        vals = vals[np.isfinite(vals)]
        wanted = key.split(" ")[0] in _RATIO_KEYS[fam] and (not key.endswith(" raw") or key.startswith("(Fe"))
        if vals.size and wanted:
            ratios[key] = float(np.median(vals))
    parts = [f"{idx.size} point{'s' if idx.size > 1 else ''}, mean {fam} fraction {100 * frac:.0f} %"]
    parts += [f"{k} {v:.2f} (median)" for k, v in ratios.items()]
    correlation = None
    hydration = None
    if fam in _ANHYDROUS:
        rim = dilate(mask, geom.neighbours, rings=1) & t.usable()
        cat_ox = _ANHYDROUS[fam][0]
        r = _pearson(cation_moles("SO3", t.oxide_wt["SO3"][rim]), cation_moles(cat_ox, t.oxide_wt[cat_ox][rim]))
        if math.isfinite(r):
            correlation = r
            parts.append(f"S–{cat_ox[:-1]} r = {r:.2f} over {int(rim.sum())} points incl. rim"
                         + ("" if r >= MIN_CORRELATION else f" (below {MIN_CORRELATION}: confidence × 0.8)"))
            if r < MIN_CORRELATION:
                conf *= 0.8
        else:
            parts.append(f"S–{cat_ox[:-1]} correlation not evaluated ({int(rim.sum())} points incl. rim)")
        hydration, text = _hydration(pm, fam, rim)
        parts.append(text)
    if fam == "perchlorate":
        parts.append("hint only: PIXL cannot see the perchlorate O; confirm with other instruments")
    parts.append(f"e.g. point {idx[np.argmax(pm.family_confidence[fam][idx])]}: "
                 f"{pm.evidence[idx[np.argmax(pm.family_confidence[fam][idx])]]}")
    xy = t.positions_mm[idx, :2].mean(axis=0)
    return Detection(phase=fam, mask=mask, confidence=float(conf), evidence="; ".join(parts),
                     area_mm2=float(idx.size * geom.point_area_mm2), n_points=int(idx.size),
                     mean_composition=t.mean_composition(mask), centroid_mm=(float(xy[0]), float(xy[1])),
                     endmember=endm, mean_fraction=frac, ratios=ratios, hydration=hydration,
                     correlation=correlation)


def _carbonate_from_raw(pm: PhaseMap, idx: np.ndarray) -> str:
    """Carbonate cation proportions from the raw Mg, Fe, Ca, Mn of the most carbonate-rich half of a region.

    More robust than the unmixing's split between siderite and Fe-oxide, which follows the
    totals (roughness) as much as the chemistry.
    """
    t = pm.table
    f = pm.family_fraction["carbonate"][idx]
    core = idx[f >= np.nanmedian(f)]
    mol = {el: float(np.nansum(t.moles(ox)[core])) for ox, el in (("MgO", "Mg"), ("FeO", "Fe"), ("CaO", "Ca"),
                                                                    ("MnO", "Mn"))}
    tot = sum(mol.values())
    if not tot > 0:
        return ""
    parts = "".join(f"{el}{v / tot:.2f}" for el, v in sorted(mol.items(), key=lambda kv: -kv[1]) if v / tot >= 0.01)
    return f"({parts})CO3"


_RATIO_KEYS = {"Ca-sulfate": ("S/Ca",), "Mg-sulfate": ("S/Mg",), "Fe-sulfate": ("S/Fe",), "chloride": ("Na/Cl",),
               "perchlorate": ("deficit/ClO4-O",), "carbonate": ("(Fe+Mg+Ca+Mn)/Si", "deficit/CO2"),
               "phosphate": ("Ca/P", "Fe/P")}
