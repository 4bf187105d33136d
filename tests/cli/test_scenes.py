"""``pixlspec simulate`` (pixlspec.cli.scenes)."""

from __future__ import annotations

import csv
import json

import pytest

import pixlspec as px

from tests.helpers.cli import ok, run


# --- simulate -------------------------------------------------------------------------------
def test_simulate_outputs_and_truth(files):
    d = files["dir"]
    truth = json.loads((d / "basalt_truth.json").read_text())
    assert truth["live_time_s"] == 20 and truth["detector"] == "A" and truth["areas"]["Fe"] > 0
    assert abs(truth["oxide_wt"]["SiO2"] - 49.9 * 100.0 / truth["composition_total_wt"]) < 0.01
    assert 99.0 < truth["composition_total_wt"] < 101.0
    rows = list(csv.DictReader(open(d / "salts_truth.csv", encoding="utf-8")))
    assert len(rows) == 144 and {"phase", "x_mm", "SO3", "CO2"} <= set(rows[0])
    assert {r["phase"] for r in rows} >= {"basalt", "Ca-sulfate"}
    rows = list(csv.DictReader(open(d / "basalt_truth.csv", encoding="utf-8")))
    assert len(rows) == 16 and float(rows[0]["Fe"]) > 0
    info = ok(run("info", files["scan"], "--format", "json"))
    assert json.loads(info.stdout)[0]["points"] == 144


def test_simulate_partial_composition_truth_is_what_was_simulated(tmp_path):
    """Oxides summing to 10 wt% are simulated normalised: the truth says 50/50 and records the sum given."""
    out = tmp_path / "p.msa"
    with pytest.warns(UserWarning, match=r"sums to 10\.0 wt%"):
        ok(run("simulate", str(out), "--composition", "SiO2=5,FeO=5"))
    truth = json.loads((tmp_path / "p_truth.json").read_text())
    assert truth["composition"] == {"SiO2": 5.0, "FeO": 5.0} and truth["composition_total_wt"] == pytest.approx(10.0)
    assert truth["oxide_wt"] == pytest.approx({"SiO2": 50.0, "FeO": 50.0})


def test_example_scene_writes_scan_and_truth(tmp_path):
    from pixlspec.cli import main

    out = tmp_path / "sim.h5"
    with pytest.raises(SystemExit) as e:
        main(["-q", "simulate", str(out), "--scene", "salts", "--shape", "4x5", "--seed", "2"])
    assert e.value.code == 0
    scan = px.open_scan(out)
    assert len(scan) == 20 and set(scan.detectors) == {"A", "B"}
    assert "truth_wt_SiO2" in scan.point_metadata and "phase" in scan.point_metadata
    text = (tmp_path / "sim_truth.csv").read_text().splitlines()
    assert text[0].startswith("point,x_mm,y_mm,phase") and len(text) == 21
