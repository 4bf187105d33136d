"""``pixlspec salts`` and ``rank`` (pixlspec.cli.minerals)."""

from __future__ import annotations

import csv
import io
import json
import os

import h5py

from tests.helpers.cli import ok, run


# --- salts -------------------------------------------------------------------------------------------
def test_salts_from_scan_and_results(files, tmp_path):
    d = files["dir"] / "salts-out"
    assert sorted(os.listdir(d)) == ["phase_map.png", "salts.csv", "salts.json", "salts_results.h5"]
    with h5py.File(files["results"], "r") as f:
        assert "entry/composition/oxide_wt" in f and "entry/maps/counts_per_sec" in f
    phases = {det["phase"] for det in files["salts_json"]["detections"]}
    assert "Ca-sulfate" in phases
    # from the results file: the stored composition, same detections, no refit
    text = ok(run("salts", files["results"])).stdout
    assert "Ca-sulfate" in text and "salt detection" in text
    rows = list(csv.DictReader(io.StringIO(ok(run("salts", files["results"], "--format", "csv")).stdout)))
    assert {r["phase"] for r in rows} == phases
    # a results file without composition (from `map`) is quantified from its areas
    ok(run("map", files["scan"], "--out", tmp_path / "m", "--elements", "S"))
    js = json.loads(ok(run("salts", tmp_path / "m" / "salts_maps.h5", "--format", "json")).stdout)
    assert "Ca-sulfate" in {det["phase"] for det in js["detections"]}


# --- rank --------------------------------------------------------------------------------------------
def test_rank_targets(files):
    result = ok(run("rank", files["results"], files["basalt_scan"]))
    assert "#1 salts" in result.stdout and "#2 basalt" in result.stdout and "aqueous evidence" in result.stdout
    rows = list(csv.DictReader(io.StringIO(ok(run("rank", files["results"], files["basalt_scan"],
                                                  "--weights", "aqueous=0.4,diversity=0",
                                                  "--format", "csv")).stdout)))
    assert [r["target"] for r in rows] == ["salts", "basalt"] and float(rows[0]["score"]) > float(rows[1]["score"])
    js = json.loads(ok(run("rank", files["basalt_scan"], files["results"], "--collected", files["scan"],
                           "--format", "json")).stdout)
    assert js["collected"] and js["weights"]["diversity"] > 0
    assert [c["name"] for c in js["candidates"]] == ["salts", "basalt"]
