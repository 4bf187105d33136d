"""Per-point phase classification (pixlspec.minerals.classify)."""

from __future__ import annotations

import numpy as np
import pytest

from pixlspec.minerals import CompositionTable, classify_points, get_endmember


def _basalt(scene) -> dict[str, float]:
    t = scene.true_oxide_wt()
    m = scene.matrix_only()
    return {k: float(np.mean(v[m])) for k, v in t.items()}


def _mixtures(base: dict, parts: list[dict[str, float]], rng, n_rep=4) -> CompositionTable:
    """Points that mix ``base`` with end-members: parts = [{"gypsum": 0.6}, ...] (rest = base)."""
    rows = []
    for spec in parts:
        for _ in range(n_rep):
            f_salt = sum(spec.values())
            wt = {k: v * (1 - f_salt) for k, v in base.items()}
            for name, f in spec.items():
                for ox, v in get_endmember(name).oxide_wt.items():
                    wt[ox] = wt.get(ox, 0.0) + f * v
            rows.append({k: max(v * (1 + 0.03 * rng.standard_normal()) + 0.1 * rng.standard_normal(), 0.0)
                         for k, v in wt.items()})
    oxides = sorted({k for r in rows for k in r})
    arr = np.array([[r.get(o, 0.0) for o in oxides] for r in rows])
    pos = np.column_stack([np.arange(len(rows)) * 0.15, np.zeros(len(rows))])
    return CompositionTable.from_arrays(oxides, arr, pos, name="mixtures")


def test_classification_is_deterministic(comp):
    a, b = classify_points(comp), classify_points(comp)
    assert a.phase.tolist() == b.phase.tolist()
    np.testing.assert_array_equal(a.confidence, b.confidence)


# ---------------------------------------------------------------------------------------------
# the other salt families, on constructed mixtures
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("parts, family, check", [
    ([{"kieserite": 0.6}, {"epsomite": 0.8}], "Mg-sulfate", ("S/Mg corrected", 0.85, 1.2)),
    ([{"jarosite": 0.7}], "Fe-sulfate", ("S/Fe corrected", 0.55, 0.8)),
    ([{"fluorapatite": 0.5}, {"merrillite": 0.6}], "phosphate", ("Ca/P corrected", 1.2, 1.75)),
    ([{"Mg-perchlorate": 0.5}, {"Ca-perchlorate": 0.5}], "perchlorate", ("deficit/ClO4-O needed", 0.6, 4.0)),
])
def test_other_families(scene, parts, family, check):
    rng = np.random.default_rng(7)
    t = _mixtures(_basalt(scene), parts, rng)
    pm = classify_points(t)
    assert (pm.phase == family).mean() >= 0.75, pm.evidence[0]
    key, lo, hi = check
    r = pm.ratios[key][pm.phase == family]
    assert lo <= np.median(r) <= hi
    if family == "perchlorate":
        assert pm.confidence[pm.phase == family].max() <= pm.thresholds.perchlorate_max_confidence + 1e-9
        assert "hint" in pm.evidence[int(np.argmax(pm.phase == family))]
