"""Ranking sample candidates (pixlspec.minerals.candidates)."""

from __future__ import annotations

import json

import pytest

from pixlspec.errors import CompositionError, ConfigError
from pixlspec.minerals import make_salt_scene, rank_sample_candidates

from tests.helpers.minerals import measured_composition


# ---------------------------------------------------------------------------------------------
# sample candidates
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def targets(comp):
    return {"salty": comp,
            "basalt A": measured_composition(make_salt_scene(include=(), seed=5), 5),
            "carbonate": measured_composition(make_salt_scene(include=("carbonate",), seed=6), 6),
            "basalt B": measured_composition(make_salt_scene(include=(), seed=8), 8)}


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
    # weights near the float limit rank as their ratios do (their sum overflowed to inf: every weight 0)
    huge = rank_sample_candidates(targets, weights={k: v * 1e308 for k, v in r.weights.items()})
    assert huge.weights == pytest.approx(r.weights) and [c.name for c in huge] == [c.name for c in r]
    with pytest.raises(ConfigError, match="unknown sub-score"):
        rank_sample_candidates(targets, weights={"beauty": 1})
    with pytest.raises(ConfigError, match=">= 0"):
        rank_sample_candidates(targets, weights={"diversity": -1})
    with pytest.raises(CompositionError, match="no targets"):
        rank_sample_candidates([])


def test_tie_break_is_by_name(comp):
    r = rank_sample_candidates({"b": comp, "a": comp}, weights={"diversity": 0})
    assert [c.name for c in r] == ["a", "b"]
