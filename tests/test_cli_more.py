"""The analysis commands of the CLI: quant, map, salts, rank, simulate (pixlspec.cli).

Small inputs made in the test with ``pixlspec simulate`` itself: a 12x12 scan
of the salt scene, a uniform basalt scan and one MSA spectrum with its truth.
"""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import h5py
import pytest
from click.testing import CliRunner

from pixlspec.cli import EXIT_BAD_INPUT, main

COMMANDS = ["info", "convert", "fit", "batch", "quant", "map", "salts", "rank", "simulate", "demo"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def ok(result):
    assert result.exit_code == 0, result.output + result.stderr
    return result


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Simulated inputs (via the CLI) and a results file with a composition (via ``salts --out``)."""
    d = tmp_path_factory.mktemp("inputs")
    ok(run("simulate", d / "salts.h5", "--shape", "12x12", "--seed", "5"))
    ok(run("simulate", d / "basalt.h5", "--scene", "uniform", "--composition", "basalt", "--shape", "4x4"))
    ok(run("simulate", d / "basalt.msa", "--live-time", "20", "--seed", "2"))
    salts = ok(run("salts", d / "salts.h5", "--out", d / "salts-out", "--format", "json"))
    return {"dir": d, "scan": d / "salts.h5", "basalt_scan": d / "basalt.h5", "msa": d / "basalt.msa",
            "results": d / "salts-out" / "salts_results.h5", "salts_json": json.loads(salts.stdout)}


# --- help ---------------------------------------------------------------------------------
def test_every_command_has_help_with_examples():
    for cmd in COMMANDS:
        result = ok(run(cmd, "--help"))
        assert "Example" in result.output, cmd
    top = ok(run("--help"))
    for cmd in COMMANDS:
        assert cmd in top.output
    assert "Exit codes" in top.output and "130" in top.output and "pixlspec demo" in top.output


# --- simulate -------------------------------------------------------------------------------
def test_simulate_outputs_and_truth(files):
    d = files["dir"]
    truth = json.loads((d / "basalt_truth.json").read_text())
    assert truth["live_time_s"] == 20 and truth["detector"] == "A" and truth["areas"]["Fe"] > 0
    assert abs(truth["oxide_wt"]["SiO2"] - 49.9) < 0.01
    rows = list(csv.DictReader(open(d / "salts_truth.csv", encoding="utf-8")))
    assert len(rows) == 144 and {"phase", "x_mm", "SO3", "CO2"} <= set(rows[0])
    assert {r["phase"] for r in rows} >= {"basalt", "Ca-sulfate"}
    rows = list(csv.DictReader(open(d / "basalt_truth.csv", encoding="utf-8")))
    assert len(rows) == 16 and float(rows[0]["Fe"]) > 0
    info = ok(run("info", files["scan"], "--format", "json"))
    assert json.loads(info.stdout)[0]["points"] == 144


# --- quant -------------------------------------------------------------------------------------
def test_quant_text_json_csv(files):
    text = ok(run("quant", files["msa"])).stdout
    assert "SiO2" in text and "total" in text and "1σ" in text and "LOD" in text
    comp = json.loads(ok(run("quant", files["msa"], "--format", "json")).stdout)
    # the CLI's wiring, not the FP accuracy: a simulated basalt comes back as a basalt
    assert abs(comp["oxide_wt"]["SiO2"] - 49.9) / 49.9 < 0.1 and abs(comp["oxide_wt"]["FeO"] - 11.07) / 11.07 < 0.1
    assert 85 < comp["total"] < 115 and comp["calibrated"] is False
    rows = list(csv.reader(io.StringIO(ok(run("quant", files["scan"], "--point", 0, "--format", "csv")).stdout)))
    assert rows[0] == ["oxide", "wt%", "sigma", "lod", "detected", "total"] and rows[-1][0] == "total"
    norm = json.loads(ok(run("quant", files["msa"], "--normalise", "--fe-oxide", "Fe2O3",
                             "--format", "json")).stdout)
    assert abs(sum(norm["oxide_wt"].values()) - 100) < 0.1 and "Fe2O3" in norm["oxide_wt"]  # O≡Cl aside


# --- map ---------------------------------------------------------------------------------------------
def test_map_from_scan_and_results(files, tmp_path):
    out = tmp_path / "maps"
    result = ok(run("map", files["scan"], "--out", out, "--rgb", "S,Cl,Mg"))
    names = set(os.listdir(out))
    assert {"salts_maps.h5", "S.png", "Cl.png", "Fe.png", "rgb_S_Cl_Mg.png", "chi2.png"} <= names
    assert "wrote" in result.stderr
    out2 = tmp_path / "maps2"
    ok(run("map", out / "salts_maps.h5", "--out", out2, "--elements", "S,Ca", "--log", "--percentiles", "5,95",
           "--rgb", "S,Cl,Mg", "--rgb", "Fe,Ca,Si", "--units", "counts"))
    assert sorted(os.listdir(out2)) == ["Ca.png", "S.png", "chi2.png", "rgb_Fe_Ca_Si.png", "rgb_S_Cl_Mg.png"]
    out3 = tmp_path / "maps3"
    ok(run("map", files["results"], "--out", out3, "--elements", "Fe", "--vmin", "10", "--vmax", "1e6"))
    assert (out3 / "Fe.png").read_bytes()[:4] == b"\x89PNG"


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


# --- bad input: exit 2, one line, no traceback, nothing written ----------------------------------------
def _bad_cases(files, tmp: Path) -> dict[str, list]:
    (tmp / "garbage.h5").write_bytes(b"not an hdf5 file at all")
    (tmp / "garbage.msa").write_text("hello\n")
    scan, res, msa = files["scan"], files["results"], files["msa"]
    out = tmp / "out"
    return {
        "quant missing": ["quant", tmp / "absent.h5"],
        "quant wrong format": ["quant", tmp / "garbage.h5"],
        "quant garbage msa": ["quant", tmp / "garbage.msa"],
        "quant unknown element": ["quant", msa, "--elements", "Fe,Xx"],
        "quant bad format": ["quant", msa, "--format", "xml"],
        "quant A+B": ["quant", msa, "--detector", "A+B"],
        "quant point out of range": ["quant", scan, "--point", 999],
        "quant missing calibration": ["quant", msa, "--calibration", tmp / "cal.json"],
        "quant results file": ["quant", res],
        "map missing": ["map", tmp / "absent.h5", "--out", out],
        "map wrong format": ["map", tmp / "garbage.h5", "--out", out],
        "map unknown element": ["map", res, "--out", out, "--elements", "Xx"],
        "map element not fitted": ["map", res, "--out", out, "--elements", "U"],
        "map rgb of two": ["map", res, "--out", out, "--rgb", "Fe,Ca"],
        "map vmin above vmax": ["map", res, "--out", out, "--vmin", "5", "--vmax", "1"],
        "map log with zero": ["map", res, "--out", out, "--log", "--vmin", "0"],
        "map bad percentiles": ["map", res, "--out", out, "--percentiles", "90,10"],
        "map bad detector": ["map", scan, "--out", out, "--detector", "C"],
        "salts missing": ["salts", tmp / "absent.h5", "--out", out],
        "salts wrong format": ["salts", tmp / "garbage.h5", "--out", out],
        "salts bad balance": ["salts", res, "--balance", "N2"],
        "rank missing": ["rank", res, tmp / "absent.h5"],
        "rank unknown weight": ["rank", res, "--weights", "beauty=1"],
        "rank negative weight": ["rank", res, "--weights", "diversity=-1"],
        "rank bad weight syntax": ["rank", res, "--weights", "diversity"],
        "simulate bad suffix": ["simulate", tmp / "x.txt"],
        "simulate unknown element": ["simulate", tmp / "x.msa", "--composition", "Xx2O3"],
        "simulate bad wt": ["simulate", tmp / "x.msa", "--composition", "SiO2=lots"],
        "simulate bad shape": ["simulate", tmp / "x.h5", "--shape", "12by12"],
        "simulate tiny salts scene": ["simulate", tmp / "x.h5", "--shape", "3x3"],
        "simulate zero live time": ["simulate", tmp / "x.msa", "--live-time", "0"],
        "unknown command": ["frobnicate"],
    }


BAD = ["quant missing", "quant wrong format", "quant garbage msa", "quant unknown element", "quant bad format",
       "quant A+B", "quant point out of range", "quant missing calibration", "quant results file", "map missing",
       "map wrong format", "map unknown element", "map element not fitted", "map rgb of two", "map vmin above vmax",
       "map log with zero", "map bad percentiles", "map bad detector", "salts missing", "salts wrong format",
       "salts bad balance", "rank missing", "rank unknown weight", "rank negative weight",
       "rank bad weight syntax", "simulate bad suffix", "simulate unknown element", "simulate bad wt",
       "simulate bad shape", "simulate tiny salts scene", "simulate zero live time", "unknown command"]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_exits_2_one_line_nothing_written(files, tmp_path, case):
    args = _bad_cases(files, tmp_path)[case]
    before = sorted(os.listdir(tmp_path))
    inputs_before = sorted(os.listdir(files["dir"]))
    result = run(*args)
    assert result.exit_code == EXIT_BAD_INPUT, (case, result.output, result.stderr)
    err = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: "), (case, result.stderr)
    assert "Traceback" not in result.output + result.stderr
    assert result.stdout == ""
    assert sorted(os.listdir(tmp_path)) == before, case          # no output, no temporary file
    assert sorted(os.listdir(files["dir"])) == inputs_before, case


def test_unknown_element_message_is_clear(files):
    result = run("map", files["results"], "--out", "unused", "--elements", "Fe,FE")
    assert "unknown element symbol 'FE'" in result.stderr and "did you mean 'Fe'" in result.stderr
    result = run("map", files["results"], "--out", "unused", "--elements", "U")
    assert "no map of 'U'" in result.stderr and "Fe" in result.stderr
    assert not os.path.exists("unused")


def test_quiet_suppresses_status_lines(files, tmp_path):
    result = ok(run("-q", "simulate", tmp_path / "q.msa"))
    assert result.stderr == "" and (tmp_path / "q.msa").is_file() and (tmp_path / "q_truth.json").is_file()
