"""pixlspec.minerals: end-members, per-point phases, salts, clusters, sample candidates.

The accuracy test runs on a simulated scan built at the composition level
(:func:`pixlspec.minerals.make_salt_scene`: a basalt matrix with a Ca-sulfate
vein, halite grains and an Fe-Mg carbonate patch, mixed at edges over the
120 µm spot). Where the compositions come from is one line,
``COMPOSITION_SOURCE``; to run the full chain swap it for a function that
simulates spectra from ``scene.element_wt()``, fits and quantifies them.
"""
from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest

import pixlspec as px
from pixlspec.errors import CompositionError, ConfigError, PixlspecError
from pixlspec.minerals import (CompositionTable, as_table, classify_points, cluster_map, formula_oxides,
                               get_endmember, identify_salts, make_salt_scene, olivine, pca_map, plagioclase,
                               rank_sample_candidates)


def _measured(scene, seed):
    """Composition level: end-member mixtures + noise (4 % relative, 0.2 wt% absolute, 2 % roughness)."""
    return scene.measure(seed, rel_sigma=0.04, abs_sigma_wt=0.2, roughness=0.02)


#: Where the composition maps of the accuracy tests come from (swap for the spectra → fit → quantify chain).
COMPOSITION_SOURCE = _measured

FAMILIES_IN_SCENE = ("Ca-sulfate", "chloride", "carbonate")
#: A point counts as truly "phase-rich" when the phase is at least half of the analysed mass;
#: false positives are counted on points with no salt at all (edge mixtures are scored apart).
TRUTH_FRACTION = 0.5


@pytest.fixture(scope="module")
def scene():
    return make_salt_scene(kind="raster", shape=(20, 20), spacing_mm=0.15, seed=0)


@pytest.fixture(scope="module")
def comp(scene):
    return COMPOSITION_SOURCE(scene, 11)


@pytest.fixture(scope="module")
def salts(comp):
    return identify_salts(comp)


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


# ---------------------------------------------------------------------------------------------
# end-members from formulas
# ---------------------------------------------------------------------------------------------
# Ideal compositions (wt%) as tabulated in the Handbook of Mineralogy / webmineral; the last column
# of the science brief (§1) lists the same values rounded to 0.1.
TEXTBOOK = {
    "gypsum": {"CaO": 32.57, "SO3": 46.50},
    "anhydrite": {"CaO": 41.19, "SO3": 58.81},
    "kieserite": {"MgO": 29.13, "SO3": 57.86},
    "epsomite": {"MgO": 16.35, "SO3": 32.48},
    "calcite": {"CaO": 56.03},
    "magnesite": {"MgO": 47.81},
    "siderite": {"FeO": 62.01},
    "dolomite": {"CaO": 30.41, "MgO": 21.86},
    "forsterite": {"SiO2": 42.71, "MgO": 57.29},
    "fayalite": {"SiO2": 29.49, "FeO": 70.51},
    "enstatite": {"SiO2": 59.85, "MgO": 40.15},
    "albite": {"SiO2": 68.74, "Al2O3": 19.44, "Na2O": 11.82},
    "anorthite": {"SiO2": 43.19, "Al2O3": 36.65, "CaO": 20.16},
    "ilmenite": {"TiO2": 52.65, "FeO": 47.35},
    "fluorapatite": {"CaO": 55.60, "P2O5": 42.22},
}
VOLATILES = {"gypsum": {"H2O": 20.93}, "calcite": {"CO2": 43.97}, "dolomite": {"CO2": 47.73},
             "epsomite": {"H2O": 51.16}}
# visible totals from the brief §1 (rounded to 0.1)
VISIBLE_TOTALS = {"gypsum": 79.1, "bassanite": 93.8, "anhydrite": 100.0, "kieserite": 87.0, "starkeyite": 62.6,
                  "epsomite": 48.8, "jarosite": 84.4, "natrojarosite": 83.9, "halite": 113.7,
                  "Mg-perchlorate": 33.6, "Ca-perchlorate": 40.8, "Na-perchlorate": 47.3, "calcite": 56.0,
                  "siderite": 62.0, "magnesite": 47.8, "dolomite": 52.3, "ankerite": 56.0,
                  "Fe-Mg carbonate": 54.6, "fluorapatite": 97.8, "chlorapatite": 101.5, "merrillite": 100.0,
                  "magnetite": 93.1, "hematite": 90.0, "serpentine": 87.0, "greenalite": 90.3, "saponite": 80.4,
                  "nontronite": 78.6, "tremolite": 97.8, "opal-A": 91.7}


@pytest.mark.parametrize("name", sorted(TEXTBOOK))
def test_endmember_oxides_match_textbook(name):
    em = get_endmember(name)
    for ox, ref in TEXTBOOK[name].items():
        assert em.oxide_wt[ox] == pytest.approx(ref, abs=0.05), (name, ox)
    for ox, ref in VOLATILES.get(name, {}).items():
        assert em.volatile_wt[ox] == pytest.approx(ref, abs=0.05), (name, ox)


@pytest.mark.parametrize("name", sorted(VISIBLE_TOTALS))
def test_visible_totals_match_brief(name):
    em = get_endmember(name)
    assert em.visible_total_wt == pytest.approx(VISIBLE_TOTALS[name], abs=0.06)
    assert em.invisible_wt == pytest.approx(100 - em.visible_total_wt)
    assert sum(em.element_wt.values()) == pytest.approx(100.0)


def test_conventions_fe_total_sulfur_chlorine():
    mag = get_endmember("magnetite")
    assert set(mag.oxide_wt) == {"FeO"} and mag.oxygen_balance_wt == pytest.approx(6.91, abs=0.02)
    hal = get_endmember("halite")
    assert hal.oxide_wt["Cl"] == pytest.approx(60.66, abs=0.05)
    assert hal.visible_total_wt - hal.o_equiv_cl_wt == pytest.approx(100.0, abs=0.05)  # O≡Cl
    jar = get_endmember("jarosite")
    assert jar.oxide_wt["FeO"] == pytest.approx(43.04, abs=0.05) and jar.volatile_wt["H2O"] == pytest.approx(10.79,
                                                                                                              abs=0.05)


def test_solid_solutions_and_custom_formulas():
    assert olivine(0.55).oxide_wt["FeO"] == pytest.approx(get_endmember("olivine Fo55").oxide_wt["FeO"])
    an40 = plagioclase(0.4)
    assert an40.oxide_wt["CaO"] == pytest.approx(get_endmember("andesine An40").oxide_wt["CaO"])
    vis, vol, _ = formula_oxides("Mg1.1Fe0.88Mn0.02SiO4")
    assert vis["MnO"] > 0 and not vol
    vis, vol, _ = formula_oxides("MgSO4·7H2O")
    assert vol["H2O"] == pytest.approx(51.16, abs=0.05)
    with pytest.raises(CompositionError, match="cannot parse"):
        formula_oxides("Xq2O3")
    with pytest.raises(CompositionError, match="did you mean 'gypsum'"):
        get_endmember("gipsum")
    with pytest.raises(CompositionError):
        olivine(1.5)


# ---------------------------------------------------------------------------------------------
# the composition-map protocol
# ---------------------------------------------------------------------------------------------
def test_table_from_arrays_dict_and_aliases():
    t = CompositionTable.from_arrays(["SiO2", "Fe2O3", "FeO-T"], [[50, 10, 1], [40, 0, 5]], [[0, 0], [0.1, 0]])
    assert t.n_points == 2 and t.oxides == ("SiO2", "FeO")
    assert t.oxide_wt["FeO"][0] == pytest.approx(1 + 10 * 0.8998, abs=1e-3)
    assert t.positions_mm.shape == (2, 3)
    d = CompositionTable.from_dict({"oxide_wt": {"SiO2": [45.0]}, "total": [99.0], "positions_mm": [[0, 0, 0]]})
    assert d.total[0] == 99.0
    plain = as_table({"SiO2": [1.0, 2.0], "CaO": [3.0, 4.0]})
    assert plain.total.tolist() == [4.0, 6.0]
    with pytest.raises(CompositionError, match="3 points, expected 2"):
        CompositionTable.from_dict({"oxide_wt": {"SiO2": [1, 2], "CaO": [1, 2, 3]}})
    with pytest.raises(CompositionError, match="per-point arrays"):
        CompositionTable.from_dict({"oxide_wt": {"SiO2": np.ones((2, 2))}})
    with pytest.raises(CompositionError, match="not an oxide"):
        CompositionTable.from_dict({"oxide_wt": {"Quartz": [1.0]}})
    with pytest.raises(CompositionError, match="no 'oxide_wt'"):
        as_table(object())


def test_as_table_reads_a_quant_style_composition_map(comp):
    """Duck-typed like pixlspec.quant.CompositionMap: point_* arrays, grid-shaped oxide_wt, a grid, normalised."""
    from pixlspec.geometry import grid_from_positions

    class FakeQuantMap:
        def __init__(self, t):
            self.grid = grid_from_positions(t.positions_mm)
            self.point_total = t.total
            self.point_oxide_wt = {k: v * 100 / t.total for k, v in t.oxide_wt.items()}  # normalised oxides
            self.point_sigma = dict(t.sigma)
            self.valid = np.ones(t.n_points, bool)
            self.normalised = True
            self.source = "fake.h5"

        @property
        def oxide_wt(self):  # laid on the grid, as the real one
            return {k: self.grid.to_grid(v) for k, v in self.point_oxide_wt.items()}

    t = as_table(FakeQuantMap(comp))
    assert t.name == "fake.h5" and t.n_points == comp.n_points
    np.testing.assert_allclose(t.oxide_wt["SO3"], comp.oxide_wt["SO3"], rtol=1e-9)  # scaling undone
    np.testing.assert_allclose(t.positions_mm[:, :2], comp.positions_mm[:, :2], atol=1e-9)


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


# ---------------------------------------------------------------------------------------------
# unsupervised views
# ---------------------------------------------------------------------------------------------
def test_clusters_and_pca(scene, comp):
    g = cluster_map(comp, None, method="gmm", k_max=5)
    assert 3 <= g.k <= 6 and g.bic
    sulfate = [c for c in g.mean_composition if c["SO3"] > 30]
    carbonate = [c for c in g.mean_composition if c["total"] < 70 and c["SO3"] < 10]
    assert sulfate and carbonate
    assert g.sizes == sorted(g.sizes, reverse=True) and sum(g.sizes) == comp.n_points
    k1 = cluster_map(comp, 4)
    k2 = cluster_map(comp, 4)
    assert k1.labels.tolist() == k2.labels.tolist()
    assert "cluster 0" in k1.report()
    json.dumps(k1.to_dict())
    p = pca_map(comp, 3)
    assert p.scores.shape == (comp.n_points, 3)
    assert 0 < p.explained_variance_ratio.sum() <= 1
    assert set(p.loadings["PC1"]) == set(p.features)
    with pytest.raises(CompositionError, match="not in the composition map"):
        cluster_map(comp, 3, oxides=["SiO2", "ZrO2"])
    with pytest.raises(CompositionError, match="method"):
        cluster_map(comp, 3, method="dbscan")


# ---------------------------------------------------------------------------------------------
# sample candidates
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def targets(comp):
    return {"salty": comp,
            "basalt A": _measured(make_salt_scene(include=(), seed=5), 5),
            "carbonate": _measured(make_salt_scene(include=("carbonate",), seed=6), 6),
            "basalt B": _measured(make_salt_scene(include=(), seed=8), 8)}


def test_rank_sample_candidates(targets):
    r = rank_sample_candidates(targets)
    names = [c.name for c in r]
    assert names[:2] == ["salty", "carbonate"]
    assert [c.rank for c in r] == [1, 2, 3, 4]
    assert all(0 <= c.score <= 1 for c in r)
    assert r[0].subscores["aqueous_evidence"] > 0.9 and r[-1].subscores["aqueous_evidence"] == 0
    assert any("Ca-sulfate" in s for s in r[0].reasons)
    assert r[0].reasons[0].startswith("diversity:")
    # the second basalt is close to the first one ranked above it: low diversity
    basalts = [c for c in r if c.name.startswith("basalt")]
    assert basalts[1].subscores["diversity"] < basalts[0].subscores["diversity"]
    assert "score" in r.report()
    json.dumps(r.to_dict())
    again = rank_sample_candidates(targets)
    assert [c.name for c in again] == names


def test_rank_weights_and_collected(targets):
    r = rank_sample_candidates(targets, weights={"aqueous_evidence": 0, "salt_abundance": 0, "diversity": 0,
                                                 "geochronology": 1, "data_quality": 0, "fine_grained": 0})
    assert r[0].name.startswith("basalt")
    assert r.weights["geochronology"] == pytest.approx(1.0)
    # collecting the salty target already makes the carbonate one lead
    r2 = rank_sample_candidates({k: v for k, v in targets.items() if k != "salty"}, collected=[targets["salty"]])
    assert r2[0].name == "carbonate" and r2.collected_names
    assert "closest to" in r2[0].reasons[0]
    with pytest.raises(ConfigError, match="unknown sub-score"):
        rank_sample_candidates(targets, weights={"beauty": 1})
    with pytest.raises(ConfigError, match=">= 0"):
        rank_sample_candidates(targets, weights={"diversity": -1})
    with pytest.raises(CompositionError, match="no targets"):
        rank_sample_candidates([])


def test_tie_break_is_by_name(comp):
    r = rank_sample_candidates({"b": comp, "a": comp}, weights={"diversity": 0})
    assert [c.name for c in r] == ["a", "b"]


def test_top_level_exports():
    assert px.identify_salts is identify_salts
    assert px.rank_sample_candidates is rank_sample_candidates
    assert px.get_endmember("gypsum").family == "Ca-sulfate"
