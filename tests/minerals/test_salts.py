"""Salt detection (pixlspec.minerals.salts).

The accuracy test runs on a simulated scan built at the composition level
(:func:`pixlspec.minerals.make_salt_scene`: a basalt matrix with a Ca-sulfate
vein, halite grains and an Fe-Mg carbonate patch, mixed at edges over the
120 µm spot); ``tests.helpers.minerals.COMPOSITION_SOURCE`` says where its compositions come from.
"""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest

from pixlspec.errors import CompositionError, PixlspecError
from pixlspec.minerals import CompositionTable, classify_points, cluster_map, identify_salts, make_salt_scene, pca_map

from tests.helpers.minerals import COMPOSITION_SOURCE


FAMILIES_IN_SCENE = ("Ca-sulfate", "chloride", "carbonate")


#: A point counts as truly "phase-rich" when the phase is at least half of the analysed mass;
#: false positives are counted on points with no salt at all (edge mixtures are scored apart).
TRUTH_FRACTION = 0.5


@pytest.fixture(scope="module")
def salts(comp):
    return identify_salts(comp)


# ---------------------------------------------------------------------------------------------
# accuracy on the simulated scan
# ---------------------------------------------------------------------------------------------
def _scores(scene, mask_of):
    matrix = scene.matrix_only()
    out = {}
    for fam in FAMILIES_IN_SCENE:
        truth = scene.truth(fam, TRUTH_FRACTION)
        m = mask_of(fam)
        out[fam] = ((m & truth).sum() / truth.sum(), (m & matrix).sum() / matrix.sum(), int(truth.sum()))
    return out


def test_salt_recall_and_false_positive_rate(scene, comp, salts):
    scores = _scores(scene, salts.mask)
    matrix = scene.matrix_only()
    assert matrix.sum() > 150
    for fam, (recall, fpr, n_true) in scores.items():
        assert n_true >= 10, fam
        assert recall >= 0.90, f"{fam}: recall {recall:.3f}"
        assert fpr <= 0.02, f"{fam}: false-positive rate {fpr:.4f}"
    # salts that are not in the scene are not invented on the matrix either
    for fam in ("Mg-sulfate", "Fe-sulfate", "perchlorate", "phosphate"):
        assert (salts.mask(fam) & matrix).sum() / matrix.sum() <= 0.02, fam


def test_salt_accuracy_other_seed_and_line_scan():
    sc = make_salt_scene(seed=3)
    res = identify_salts(COMPOSITION_SOURCE(sc, 5))
    for fam, (recall, fpr, _) in _scores(sc, res.mask).items():
        assert recall >= 0.90 and fpr <= 0.02, (fam, recall, fpr)
    line = make_salt_scene(kind="line", seed=1)
    res = identify_salts(COMPOSITION_SOURCE(line, 2))
    assert res.geometry.kind == "line"
    for fam in FAMILIES_IN_SCENE:
        truth = line.truth(fam, TRUTH_FRACTION)
        assert truth.sum() >= 4
        assert (res.mask(fam) & truth).sum() >= 0.8 * truth.sum(), fam
        assert not (res.mask(fam) & line.matrix_only()).any(), fam


def test_detections_describe_regions(scene, salts):
    by = salts.by_phase()
    assert len(by["Ca-sulfate"]) == 1  # one connected vein
    assert len(by["chloride"]) == 5  # five grains
    assert len(by["carbonate"]) == 1
    vein = by["Ca-sulfate"][0]
    assert vein.area_mm2 == pytest.approx(vein.n_points * 0.15 ** 2)
    assert vein.correlation > 0.9
    assert 0.9 < vein.ratios["S/Ca corrected"] < 1.1
    assert "S/Ca" in vein.evidence and "Δχ²" in vein.evidence
    # hydration read from the mixing line: the vein is 70 % gypsum + 30 % bassanite -> 16.5 wt% deficit
    hyd = vein.hydration
    assert hyd is not None
    assert abs(hyd["deficit_at_end_wt"] - 16.5) < 3 * hyd["sigma_wt"] + 2.0
    carb = by["carbonate"][0]
    assert carb.mean_composition["total"] < 65
    mg, fe = map(float, re.match(r"\(Mg([\d.]+)Fe([\d.]+)", carb.endmember).groups())
    assert abs(mg - 0.55) < 0.06 and abs(fe - 0.40) < 0.06, carb.endmember  # truth (Mg0.55Fe0.40Ca0.05)CO3
    halite = by["chloride"][0]
    assert halite.endmember == "halite" and halite.mean_composition["total"] > 100
    assert all(0 <= d.confidence <= 1 for d in salts)
    text = salts.report()
    assert "Ca-sulfate" in text and "mm²" in text
    json.dumps(salts.to_dict())


def test_point_evidence_and_phase_map(comp, salts):
    pm = salts.phase_map
    i = int(np.argmax(pm.family_confidence["Ca-sulfate"]))
    assert pm.phase[i] == "Ca-sulfate"
    assert "S/Ca" in pm.evidence[i] and "confidence" in pm.evidence[i]
    assert np.all((pm.confidence >= 0) & (pm.confidence <= 1))
    ok = np.isfinite(pm.mass_balance)
    assert np.median(pm.mass_balance[ok]) == pytest.approx(1.0, abs=0.05)
    assert "Ca-sulfate" in pm.report()
    json.dumps(pm.to_dict())
    assert "gypsum" in pm.mixture(i) or "bassanite" in pm.mixture(i) or "anhydrite" in pm.mixture(i)


def test_pure_basalt_has_no_salts():
    sc = make_salt_scene(include=(), seed=4)
    res = identify_salts(COMPOSITION_SOURCE(sc, 4))
    assert len(res) == 0
    assert "none" in res.report()


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------
def test_nan_points_are_named_not_guessed(scene):
    t = scene.measure(3, nan_points=7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "not evaluated" warning: every oxide is there
        pm = classify_points(t)
    bad = ~t.usable()
    assert bad.sum() == 7
    assert set(pm.phase[bad]) == {"invalid"}
    assert all("NaN in" in pm.evidence[i] and "SiO2" in pm.evidence[i] for i in np.flatnonzero(bad))
    assert any("not classified" in n for n in pm.notes)
    res = identify_salts(pm)
    assert not any(d.mask[bad].any() for d in res)


def test_all_nan_raises_with_reason():
    t = CompositionTable.from_arrays(["SiO2", "CaO"], [[np.nan, 1.0], [np.nan, 2.0]])
    with pytest.raises(CompositionError, match="no usable point.*NaN in SiO2"):
        classify_points(t)
    with pytest.raises(PixlspecError):
        identify_salts(t)


def test_missing_chlorine_is_reported_not_guessed(comp):
    d = comp.to_dict()
    d["oxide_wt"].pop("Cl")
    d["sigma"].pop("Cl")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = identify_salts(d)
    assert any("chloride not evaluated: Cl not in map" in str(w.message) for w in caught)
    assert res.not_evaluated["chloride"] == "Cl not in map"
    assert "perchlorate" in res.not_evaluated
    assert "chloride" not in res.by_phase()
    assert "chloride: not evaluated — Cl not in map" in res.report()
    assert "chloride not evaluated (Cl not in map)" in res.phase_map.evidence[0]
    assert "Ca-sulfate" in res.by_phase()  # the rest still works


def test_normalised_totals_disable_deficit_rules(comp):
    scale = 100.0 / comp.total
    d = {"oxide_wt": {k: v * scale for k, v in comp.oxide_wt.items()}, "total": np.full(comp.n_points, 100.0),
         "positions_mm": comp.positions_mm}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = identify_salts(d)
    assert any("carbonate not evaluated: totals look normalised" in str(w.message) for w in caught)
    assert "carbonate" in res.not_evaluated and "carbonate" not in res.by_phase()


def test_single_point(scene):
    t = COMPOSITION_SOURCE(scene, 1)
    i = int(np.argmax(scene.family_fraction("Ca-sulfate")))
    one = t.subset(np.arange(t.n_points) == i)
    res = identify_salts(one)
    assert res.geometry.kind == "point"
    assert [d.phase for d in res] == ["Ca-sulfate"]
    assert res[0].area_mm2 == pytest.approx(np.pi * 0.06 ** 2)
    assert "correlation not evaluated" in res[0].evidence and "hydration not evaluated" in res[0].evidence
    with pytest.raises(CompositionError, match="at least 3 usable points, got 1"):
        cluster_map(one, 3)
    with pytest.raises(CompositionError, match="at least 2 usable points"):
        pca_map(one)
