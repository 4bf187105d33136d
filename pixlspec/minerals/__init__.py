"""Minerals, salts and sample candidates from PIXL composition maps.

Explainable by construction: end-members are computed from formulas, every
per-point call comes with the ratios and the unmixing behind it, every salt
detection with its area and evidence, every sample-candidate score with its
named sub-scores and reasons.

>>> import pixlspec.minerals as pm
>>> salts = pm.identify_salts(composition_map)          # doctest: +SKIP
>>> print(salts.report())                               # doctest: +SKIP
>>> ranking = pm.rank_sample_candidates({"A": map_a, "B": map_b})  # doctest: +SKIP

Inputs follow the composition-map protocol of :mod:`pixlspec.minerals.table`
(``oxide_wt``, ``sigma``, ``total``, ``positions_mm``, ``valid``,
``point_ids``, ``name``); :func:`as_table` adapts any such object.
Submodules are imported on first use (scikit-learn and matplotlib only when needed).
"""
from __future__ import annotations

import importlib

_LAZY = {
    "CompositionTable": "table", "as_table": "table", "cation_moles": "table", "positions_from_grid": "table",
    "EndMember": "endmembers", "ENDMEMBERS": "endmembers", "FAMILIES": "endmembers",
    "SALT_FAMILIES": "endmembers", "formula_oxides": "endmembers", "endmember_from_formula": "endmembers",
    "get_endmember": "endmembers", "endmembers": "endmembers", "olivine": "endmembers",
    "plagioclase": "endmembers", "pyroxene": "endmembers", "library_report": "endmembers",
    "classify_points": "classify", "PhaseMap": "classify", "Thresholds": "thresholds", "DEFAULT_BASIS": "classify",
    "identify_salts": "salts", "Detection": "salts", "SaltDetections": "salts",
    "cluster_map": "cluster", "pca_map": "cluster", "ClusterResult": "cluster", "PCAResult": "cluster",
    "clr": "cluster",
    "rank_sample_candidates": "candidates", "Candidate": "candidates", "CandidateRanking": "candidates",
    "DEFAULT_WEIGHTS": "candidates",
    "make_salt_scene": "synthetic", "SaltScene": "synthetic",
    "scan_geometry": "spatial", "ScanGeometry": "spatial",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'pixlspec.minerals' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
