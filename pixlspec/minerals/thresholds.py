"""The tunable gates, bands and weights of the point classification (:class:`Thresholds`), and the score
of a ratio inside a band (:func:`band_score`). Tunable defaults, not published values: see
:func:`pixlspec.minerals.classify_points`."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["Thresholds", "band_score"]


@dataclass(frozen=True)
class Thresholds:
    """Tunable defaults of the per-point rules (none is a published value).

    Gates on the raw chemistry (brief §2 where marked, otherwise chosen here and
    checked only on simulated scans):

    Attributes
    ----------
    min_fraction : float
        Smallest unmixed mass fraction of a family for a point to count as
        "phase-rich" (0.25).
    min_confidence : float
        Smallest point confidence for a salt flag (0.4).
    so3_min_wt : float
        Sulfate gate, SO3 wt% (brief: 10).
    cl_min_wt : float
        Chloride/perchlorate gate, Cl wt% (brief: ~2).
    p2o5_min_wt : float
        Phosphate gate, P2O5 wt% (5; ~12 % apatite).
    deficit_min_wt : float
        Carbonate gate, 100 − total in wt% (10; ~20 % carbonate).
    s_ca_band, s_mg_band, s_fe_band, na_cl_band : (float, float)
        Molar ratio bands on the corrected composition: S/Ca 0.8–1.2 (brief),
        S/Mg 0.8–1.25, S/Fe 0.5–1.1 (jarosite 0.67 … FeSO4 1), Na/Cl 0.8–1.25 (halite 1).
    perchlorate_na_cl_max : float
        Perchlorate hint needs molar Na/Cl below this (0.5).
    co2_deficit_band : (float, float)
        Carbonate: observed deficit / CO2 required by the excess Fe+Mg+Ca+Mn (0.6–1.6).
    clo4_deficit_band : (float, float)
        Perchlorate: observed deficit / perchlorate O required by Cl (0.6–4; hydrates add H2O).
    ca_p_targets : tuple of float
        Phosphate molar Ca/P targets: apatite 5/3, merrillite 9/7 (stoichiometric).
    fe_p_target : float
        Fe-phosphate (vivianite) molar Fe/P 1.5.
    ratio_tolerance : float
        Outside a band the rule score falls as exp(−½ (ln(r/edge)/tol)²) (0.15).
    model_rel_sigma, model_abs_sigma_wt : float
        Model floor added in quadrature to the map σ when weighting the unmixing:
        5 % relative and 0.3 wt% absolute (grain-scale heterogeneity, matrix effects).
    invisible_sigma_wt : float
        σ of the invisible row (3 wt%: totals scatter with roughness and standoff).
    deficit_penalty_wt : float
        An unexplained deficit of this many wt% costs χ² = 1 (10).
    significance_dchi2 : float
        Significance score of a salt group = 1 − exp(−Δχ²/this), Δχ² being how much the
        fit worsens without that group (9: Δχ² = 9, "3σ", scores 0.63).
    ambiguity_dchi2 : float
        Two families of a group fitting within this Δχ² are "equally good"; the
        neighbours' label then decides (1).
    chi2_ok : float
        Reduced χ² up to which the fit score is 1; above, it falls as sqrt(chi2_ok/χ²) (3).
    perchlorate_max_confidence : float
        Cap on perchlorate confidence: PIXL cannot see O, so it is a hint (0.6).
    dominant_fraction : float
        A non-salt family labels a point when its fraction reaches this (0.5).
    """

    min_fraction: float = 0.25
    min_confidence: float = 0.4
    so3_min_wt: float = 10.0
    cl_min_wt: float = 2.0
    p2o5_min_wt: float = 5.0
    deficit_min_wt: float = 10.0
    s_ca_band: tuple[float, float] = (0.8, 1.2)
    s_mg_band: tuple[float, float] = (0.8, 1.25)
    s_fe_band: tuple[float, float] = (0.5, 1.1)
    na_cl_band: tuple[float, float] = (0.8, 1.25)
    perchlorate_na_cl_max: float = 0.5
    co2_deficit_band: tuple[float, float] = (0.6, 1.6)
    clo4_deficit_band: tuple[float, float] = (0.6, 4.0)
    ca_p_targets: tuple[float, ...] = (5.0 / 3.0, 9.0 / 7.0)
    fe_p_target: float = 1.5
    ratio_tolerance: float = 0.15
    model_rel_sigma: float = 0.05
    model_abs_sigma_wt: float = 0.3
    invisible_sigma_wt: float = 3.0
    deficit_penalty_wt: float = 10.0
    significance_dchi2: float = 9.0
    ambiguity_dchi2: float = 1.0
    chi2_ok: float = 3.0
    perchlorate_max_confidence: float = 0.6
    dominant_fraction: float = 0.5

    def to_dict(self) -> dict:
        return asdict(self)


def band_score(ratio: np.ndarray, band: tuple[float, float], tol: float) -> np.ndarray:
    """1 inside ``band``, falling as exp(−½ (ln(r/edge)/tol)²) outside; 0 for NaN or r ≤ 0."""
    r = np.asarray(ratio, float)
    lo, hi = band
    out = np.zeros_like(r)
    ok = np.isfinite(r) & (r > 0)
    rr = r[ok]
    dist = np.where(rr < lo, np.log(lo / rr), np.where(rr > hi, np.log(rr / hi), 0.0))
    out[ok] = np.exp(-0.5 * (dist / tol) ** 2)
    return out
