"""``pixlspec demo`` end to end on small data and its failure behaviour (pixlspec.demo through the CLI)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from pixlspec.cli import EXIT_BAD_INPUT, main
from pixlspec.demo import FLIGHT_CALIBRATION, FLIGHT_CONFIG, REAL_CONTEXT, REAL_SCAN, SIM_SCAN, SIM_TRUTH, run_demo

from tests.helpers.paths import ROOT


EXAMPLE_DATA = ROOT / "example_data"


#: The simulated scan made by the demo in these tests (the shipped one is 24x24).
SMALL = "12x12"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """A data folder with the real scan only, so the demo simulates a small scan itself."""
    d = tmp_path_factory.mktemp("data")
    shutil.copy(EXAMPLE_DATA / REAL_SCAN, d / REAL_SCAN)
    shutil.copytree(EXAMPLE_DATA / REAL_CONTEXT, d / REAL_CONTEXT)
    shutil.copytree(EXAMPLE_DATA / Path(FLIGHT_CALIBRATION).parent, d / Path(FLIGHT_CALIBRATION).parent)
    return d


@pytest.fixture(scope="module")
def demo_run(data_dir, tmp_path_factory):
    """``pixlspec demo`` through the command line, once for the module."""
    out = tmp_path_factory.mktemp("run") / "demo-out"
    result = CliRunner().invoke(main, ["demo", "--out", str(out), "--data", str(data_dir), "--size", SMALL])
    return out, result


def test_demo_cli_writes_everything(demo_run):
    out, result = demo_run
    assert result.exit_code == 0, result.output + result.stderr
    # where the results are is printed, with both targets and the ranking
    assert str(out) in result.stdout and "report.html" in result.stdout
    assert "Naltsos" in result.stdout and "Simulated salts" in result.stdout and "#1" in result.stdout
    for name in ("report.md", "report.html", "candidates.json", "naltsos_results.h5", "naltsos_salts.json",
                 "simulated_salts_results.h5", "simulated_salts_salts.json", SIM_SCAN, SIM_TRUTH):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    pngs = sorted(p.name for p in (out / "figures").glob("*.png"))
    for key in ("naltsos", "simulated_salts"):
        for kind in ("sum_fit", "elements", "phases"):
            assert f"{key}_{kind}.png" in pngs
    assert "candidates.png" in pngs
    # the real scan's maps drawn over its MCC context image, and shown in the report
    assert "naltsos_context_maps.png" in pngs
    assert "figures/naltsos_context_maps.png" in (out / "report.md").read_text()
    for p in (out / "figures").glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # nothing left of the staging folder
    assert not [p for p in out.parent.iterdir() if ".part-" in p.name]


def test_demo_report_mentions_targets_salts_and_candidates(demo_run):
    out, _ = demo_run
    md = (out / "report.md").read_text(encoding="utf-8")
    for text in ("Naltsos (sol 125, Mars)", "Simulated salts", "Phases and salts", "Ca-sulfate", "chloride",
                 "Sample candidates", "Against the truth", "uncalibrated", "Time spent"):
        assert text in md, text
    # every figure the Markdown links exists
    links = [line.split("](", 1)[1].rstrip(")") for line in md.splitlines() if line.startswith("![")]
    assert len(links) >= 9 and all((out / link).is_file() for link in links)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.count("data:image/png;base64,") == len(links)
    assert "<table>" in html and "Sample candidates" in html
    ranking = json.loads((out / "candidates.json").read_text())
    names = [c["name"] for c in ranking["candidates"]]
    assert sorted(names) == ["Naltsos (sol 125, Mars)", "Simulated salts"]
    assert names[0] == "Simulated salts"  # salts beat a salt-free rock
    salts = json.loads((out / "simulated_salts_salts.json").read_text())
    assert {d["phase"] for d in salts["detections"]} >= {"Ca-sulfate"}


def test_salts_command_reports_the_demo_detections(demo_run):
    """``pixlspec salts`` on a results file of the demo finds what the demo found: both classify the stored
    composition through pixlspec.pipeline.salts_of."""
    out, _ = demo_run
    for key in ("simulated_salts", "naltsos"):
        res = CliRunner().invoke(main, ["salts", str(out / f"{key}_results.h5"), "--format", "json"])
        assert res.exit_code == 0, res.output
        cli = json.loads(res.stdout)
        demo = json.loads((out / f"{key}_salts.json").read_text())
        strip = [{k: v for k, v in d.items() if k != "evidence"} for d in demo["detections"]]
        assert [{k: v for k, v in d.items() if k != "evidence"} for d in cli["detections"]] == strip, key
        assert cli["not_evaluated"] == demo["not_evaluated"], key


def test_demo_results_file_has_maps_and_composition(demo_run):
    out, _ = demo_run
    with h5py.File(out / "simulated_salts_results.h5", "r") as f:
        assert f.attrs["pixlspec_complete"]
        assert f["entry/maps/counts_per_sec"].shape[1:] == (12, 12)
        names = [n.decode() if isinstance(n, bytes) else n for n in f["entry/composition/oxide_names"][()]]
        assert "SO3" in names and f["entry/composition/oxide_wt"].shape == (len(names), 144)
        total = f["entry/composition/total_wt"][()]
        assert 60 < np.nanmedian(total) < 115


def test_demo_quantifies_the_flight_scan_with_the_flight_calibration(demo_run):
    """The real scan: flight configuration and PIXL's flight ECF table, shipped with the example data;
    the analytical totals of its points are those of a calibrated rock (docs/accuracy.md: median 108)."""
    out, _ = demo_run
    md = (out / "report.md").read_text(encoding="utf-8")
    assert Path(FLIGHT_CALIBRATION).name in md and "calibrated;" in md
    with h5py.File(out / "naltsos_results.h5", "r") as f:
        total = f["entry/composition/total_wt"][()]
    assert 85 < np.nanmedian(total) < 115


def test_demo_failure_leaves_no_output(data_dir, tmp_path, monkeypatch):
    import pixlspec.demo as demo

    def broken(*args, **kwargs):
        raise RuntimeError("simulated failure while drawing")

    monkeypatch.setattr(demo, "target_figures", broken)
    out = tmp_path / "demo"
    with pytest.raises(RuntimeError, match="simulated failure"):
        run_demo(out, data_dir=data_dir, sim_shape=(6, 6))
    assert sorted(os.listdir(tmp_path)) == []  # neither the folder nor a staging folder


def test_demo_bad_inputs_exit_2(tmp_path):
    runner = CliRunner()
    cases = [["demo", "--out", str(tmp_path / "o"), "--data", str(tmp_path / "absent")],
             ["demo", "--out", str(tmp_path / "o"), "--data", str(tmp_path)],          # no real scan there
             ["demo", "--out", str(tmp_path / "o"), "--size", "2x2"],
             ["demo", "--out", str(tmp_path / "o"), "--size", "big"],
             ["demo", "--out", str(tmp_path / "o"), "--calibration", str(tmp_path / "cal.json")]]
    (tmp_path / "afile").write_text("x")
    cases.append(["demo", "--out", str(tmp_path / "afile")])
    before = sorted(os.listdir(tmp_path))
    for args in cases:
        result = runner.invoke(main, args)
        assert result.exit_code == EXIT_BAD_INPUT, (args, result.output)
        err = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(err) == 1 and err[0].startswith("error: "), (args, result.stderr)
        assert "Traceback" not in result.output + result.stderr
        assert sorted(os.listdir(tmp_path)) == before, args


def _datasets(path: Path) -> dict[str, np.ndarray]:
    """Every dataset of a results file's maps, sum fits and composition (the science it holds)."""
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and not name.startswith("entry/provenance"):
                out[name] = obj[()]
        f.visititems(visit)
    return out


def _assert_same_results(a: Path, b: Path) -> None:
    da, db = _datasets(a), _datasets(b)
    assert sorted(da) == sorted(db)
    science = [k for k in da if k.startswith(("entry/maps", "entry/composition", "entry/sum_fit"))]
    assert len(science) > 20
    for k in science:
        x, y = np.asarray(da[k]), np.asarray(db[k])
        if x.dtype.kind == "f":
            np.testing.assert_array_equal(x, y, err_msg=k)   # NaN where the other has NaN, every bit equal
        elif k.endswith("/summary"):  # JSON: equal but for where the scan was read from
            ja, jb = (json.loads(bytes(v).decode()) for v in (x, y))
            assert {**ja, "source": None} == {**jb, "source": None}, k
        else:
            assert np.array_equal(x, y), k


def test_demo_cli_and_api_write_the_same_results(demo_run, data_dir, tmp_path):
    """The demo, ``pixlspec salts SCAN --out`` and the API (read_scan, fit_map, quantify_maps, to_hdf5) give the
    same results file for the same scan: maps, sum fits and composition, dataset by dataset — on the simulated
    scan (default instrument, uncalibrated) and on the real flight scan (flight configuration and ECF table)."""
    import pixlspec as px
    from pixlspec.pipeline import quantify_maps

    out, _ = demo_run
    cases = [("simulated_salts", out / SIM_SCAN, None, None),
             ("naltsos", data_dir / REAL_SCAN, data_dir / FLIGHT_CONFIG, data_dir / FLIGHT_CALIBRATION)]
    for key, scan_path, config, ecf in cases:
        demo_file = out / f"{key}_results.h5"
        args = ["salts", str(scan_path), "--out", str(tmp_path / f"cli_{key}"), "--format", "json"]
        if config is not None:
            args += ["--instrument", str(config), "--calibration", str(ecf)]
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 0, res.output
        cli_file = tmp_path / f"cli_{key}" / f"{scan_path.stem}_results.h5"
        instrument = px.Instrument.from_piquant_config(config) if config is not None else None
        calibration = px.read_piquant_calibration(ecf, instrument) if ecf is not None else None
        with px.read_scan(scan_path) as scan:
            maps = px.fit_map(scan, instrument=instrument)
        comp = quantify_maps(maps, instrument=instrument, calibration=calibration)
        api_file = tmp_path / f"api_{key}.h5"
        maps.to_hdf5(api_file)
        comp.to_hdf5(api_file)
        _assert_same_results(demo_file, cli_file)
        _assert_same_results(demo_file, api_file)
