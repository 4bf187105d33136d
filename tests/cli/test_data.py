"""``pixlspec info``, ``convert``, ``export`` and ``compare`` (pixlspec.cli.data)."""

from __future__ import annotations

import csv
import importlib
import json
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from click.testing import CliRunner

import pixlspec as px
from pixlspec.cli import EXIT_BAD_INPUT, main
from pixlspec.io.hdf5 import open_scan, read_process

from tests.helpers.cli import ok
from tests.helpers.maps import OXIDES, make_maps
from tests.helpers.scans import N_CHANNELS, N_POINTS, make_scan
from tests.helpers.paths import ROOT


REAL_SOL0125 = ROOT / ".." / "shared" / "data" / "real" / "pixl_flight_sol0125"


def need_reader(module: str, name: str):
    """Skip unless ``module.name`` (written by another part of the project) is importable."""
    try:
        mod = importlib.import_module(module)
        return getattr(mod, name)
    except (ImportError, AttributeError) as e:
        pytest.skip(f"{module}.{name} not available: {e}")


# --- synthetic PIXL products --------------------------------------------------------
def write_pixl_msa(path: Path, pmc: int, counts_a: np.ndarray, counts_b: np.ndarray) -> None:
    """A two-detector PIXL flight MSA file (``#VERSION: TC202v2.0 PIXL``, YY)."""
    header = [
        "#FORMAT      : EMSA/MAS spectral data file", "#VERSION     : TC202v2.0 PIXL",
        "#TITLE       : N/A", "#DATE        : 2021-06-27", "#TIME        : 06:00:52",
        "#OWNER       : PIXL Flight Model", f"#NPOINTS     : {counts_a.size}", "#NCOLUMNS    : 2",
        "#XUNITS      : eV", "#YUNITS      : COUNTS", "#DATATYPE    : YY",
        "#XPERCHAN    : 7.9226, 7.9273", "#OFFSET      : -11.8, -13.2", "#SIGNALTYPE  : XRF",
        f"#XPOSITION   : {-0.151 + 0.00025 * pmc:.6f}", "#YPOSITION   : 0.131019", "#ZPOSITION   : 0.251284",
        f"##PMC        : {pmc}", "#LIVETIME    : 14.2, 14.1", "#REALTIME    : 15, 15",
        "#SPECTRUM    : start of spectrum data"]
    rows = [f"{int(a)}, {int(b)}" for a, b in zip(counts_a, counts_b)]
    path.write_text("\r\n".join(header + rows + ["#ENDOFDATA   : "]) + "\r\n")


def write_rfs_csv(path: Path, scan: px.Scan) -> None:
    """A PIXL RFS spectra CSV (three stacked tables) holding ``scan``."""
    lines = ["SCLK_A,SCLK_B,PMC,real_time_A,real_time_B,live_time_A,live_time_B,yellow_piece_temp,"
             "XPERCHAN_A,XPERCHAN_B,OFFSET_A,OFFSET_B"]
    for i, pmc in enumerate(scan.point_ids):
        lines.append(f"{678032243 + 20 * i},{678032243 + 20 * i},{pmc},15,15,{float(scan.live_time_s['A'][i])!r},"
                     f"{float(scan.live_time_s['B'][i])!r},-6.3,7.9226,7.9273,-11.8,-13.2")
    lines.append("PMC,x,y,z")
    for pmc, (x, y, z) in zip(scan.point_ids, scan.positions_mm / 1000.0):
        lines.append(f"{pmc},{float(x)!r},{float(y)!r},{float(z)!r}")
    for det in ("A", "B"):
        lines.append(",".join(f"{det}_{c + 1}" for c in range(scan.n_channels)))
        for row in scan.counts(det).astype(int):
            lines.append(",".join(map(str, row)))
    path.write_text("\r\n".join(lines) + "\r\n")


# --- info ------------------------------------------------------------------------------
def test_info_text(runner, scan_file):
    result = runner.invoke(main, ["info", str(scan_file)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert str(scan_file) in out
    assert "pixlspec HDF5 scan file" in out
    assert f"points      {N_POINTS} (ids 93..104)" in out
    assert "A, B" in out and str(N_CHANNELS) in out
    assert "-11.800" in out and "7.92730" in out
    assert "13.60 / 13.90 / 14.20" in out  # live time A min/median/max
    assert "blosc-lz4" in out and "uint16" in out
    assert "x -151.000..-148.000 (3.000)" in out
    assert px.Instrument.pixl().name in out


def test_info_json(runner, scan_file):
    result = runner.invoke(main, ["info", str(scan_file), str(scan_file), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data) == 2
    d = data[0]
    scan = make_scan()
    assert (d["points"], d["channels"], list(d["detectors"])) == (N_POINTS, N_CHANNELS, ["A", "B"])
    assert d["detectors"]["B"]["calibration"] == {"offset_eV": -13.2, "gain_eV_per_channel": 7.9273,
                                                  "quadratic_eV": 0.0}
    totals = scan.counts("A").sum(axis=1)
    assert d["detectors"]["A"]["total_counts_per_point"] == {
        "min": totals.min(), "median": float(np.median(totals)), "max": totals.max()}
    assert d["detectors"]["A"]["live_time_s"]["max"] == pytest.approx(14.2)
    assert d["position_extent_mm"]["z"] == pytest.approx([246.5, 247.0])
    assert d["file_info"]["program"] == "pixlspec"
    assert d["metadata"] == {"target": "Synthetic"}


def test_info_of_a_results_file(runner, files):
    """A results file (it failed with "/entry/instrument: missing"): maps, sum fits, the stored composition."""
    from pixlspec.io.results import read_results

    path = files["results"]
    res = read_results(path)
    comp, ok_points = res.composition, res.composition.valid
    data = json.loads(ok(runner.invoke(main, ["info", str(path), "--format", "json"])).stdout)[0]
    assert data["type"] == "results" and data["points"] == res.maps.n_points == 144
    assert data["columns"] == list(res.maps.columns) and data["grid"]["shape"] == [12, 12]
    assert data["composition"]["median_wt"]["SiO2"] == pytest.approx(np.median(comp.point_oxide_wt["SiO2"][ok_points]))
    assert data["composition"]["total_wt"]["max"] == pytest.approx(comp.point_total[ok_points].max())
    text = ok(runner.invoke(main, ["info", str(path)])).stdout
    assert "pixlspec results file (element maps and composition)" in text and "grid        raster 12 x 12" in text
    assert f"SiO2 {np.median(comp.point_oxide_wt['SiO2'][ok_points]):.2f}" in text


# --- convert ----------------------------------------------------------------------------
def test_convert_hdf5(runner, scan_file, tmp_path):
    out = tmp_path / "out" / "copy.h5"
    result = runner.invoke(main, ["convert", str(scan_file), "-o", str(out), "--compression", "lzf",
                                  "--chunk-points", "5", "--provenance", "attribution=synthetic test"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # the summary is a status line on stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"wrote {out}: {N_POINTS} points")
    with open_scan(out) as back:
        np.testing.assert_array_equal(back.counts("B"), make_scan().counts("B"))
        assert back.raw_counts("A").chunks == (5, N_CHANNELS)
    prov = read_process(out)["provenance"]
    assert prov["attribution"] == "synthetic test"
    assert prov["input_kind"] == "hdf5"
    assert prov["source_files"][0]["name"] == "scan.h5" and len(prov["source_files"][0]["sha256"]) == 64


def test_convert_quiet(runner, scan_file, tmp_path):
    result = runner.invoke(main, ["-q", "convert", str(scan_file), "-o", str(tmp_path / "q.h5")])
    assert result.exit_code == 0 and result.stdout == "" and result.stderr == ""
    assert (tmp_path / "q.h5").exists()


def test_convert_and_info_msa(runner, tmp_path):
    need_reader("pixlspec.io.pixl_csv", "read_msa_folder")
    need_reader("pixlspec.io.msa", "read_msa_detectors")
    scan = make_scan()
    folder = tmp_path / "msa"
    folder.mkdir()
    n = 3
    for i in range(n):
        write_pixl_msa(folder / f"point_{i:04d}.msa", 93 + i, scan.counts("A", i), scan.counts("B", i))
    out = tmp_path / "msa.h5"
    result = runner.invoke(main, ["convert", str(folder), "-o", str(out)])
    assert result.exit_code == 0, result.output
    with open_scan(out) as back:
        assert back.n_points == n and back.detectors == ("A", "B")
        np.testing.assert_array_equal(back.counts("A"), scan.counts("A", slice(0, n)))
        np.testing.assert_array_equal(back.point_ids, [93, 94, 95])
    result = runner.invoke(main, ["info", str(folder / "point_0001.msa"), "--format", "json"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.stdout)[0]
    assert d["type"] == "msa" and d["points"] == 1 and d["point_ids"] == [94, 94]


def test_convert_rfs_csv_and_product_folder(runner, tmp_path):
    need_reader("pixlspec.io.pixl_csv", "read_rfs")
    scan = make_scan()
    rfs = tmp_path / "product" / "RFS" / "PS__0125_0678031418_000RFS_N0041712048300551__J01.CSV"
    rfs.parent.mkdir(parents=True)
    write_rfs_csv(rfs, scan)
    for src in (rfs, rfs.parent.parent):
        out = tmp_path / f"{src.name}.h5"
        result = runner.invoke(main, ["convert", str(src), "-o", str(out)])
        assert result.exit_code == 0, result.output
        with open_scan(out) as back:
            assert back.n_points == N_POINTS
            np.testing.assert_array_equal(back.counts("B"), scan.counts("B"))
            np.testing.assert_array_equal(back.point_ids, scan.point_ids)
            np.testing.assert_allclose(back.positions_mm, scan.positions_mm)


@pytest.mark.real
def test_convert_real_sol0125(runner, tmp_path):
    need_reader("pixlspec.io.pixl_csv", "read_rfs")
    if not REAL_SOL0125.is_dir():
        pytest.skip("real PIXL data not present")
    out = tmp_path / "sol0125.h5"
    result = runner.invoke(main, ["convert", str(REAL_SOL0125), "-o", str(out)])
    assert result.exit_code == 0, result.output
    with open_scan(out) as back:
        assert (back.n_points, back.n_channels, back.detectors) == (121, 4096, ("A", "B"))
        assert back.raw_counts("A").dtype == np.uint16


# --- errors ------------------------------------------------------------------------------
def _bad_inputs(tmp_path: Path, scan_file: Path) -> dict[str, list[str]]:
    not_h5 = tmp_path / "text.h5"
    not_h5.write_text("hello\n")
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(scan_file.read_bytes()[:4000])
    unknown = tmp_path / "notes.txt"
    unknown.write_text("hello\n")
    empty = tmp_path / "empty_folder"
    empty.mkdir()
    out = str(tmp_path / "out.h5")
    return {
        "info missing file": ["info", str(tmp_path / "absent.h5")],
        "info not hdf5": ["info", str(not_h5)],
        "info truncated": ["info", str(truncated)],
        "info unknown kind": ["info", str(unknown)],
        "info empty folder": ["info", str(empty)],
        "convert not hdf5": ["convert", str(not_h5), "-o", out],
        "convert truncated": ["convert", str(truncated), "-o", out],
        "convert bad output suffix": ["convert", str(scan_file), "-o", str(tmp_path / "out.txt")],
        "convert onto its input": ["convert", str(scan_file), "-o", str(scan_file)],
        "convert bad provenance": ["convert", str(scan_file), "-o", out, "--provenance", "nokey"],
        "convert missing instrument": ["convert", str(scan_file), "-o", out, "--instrument",
                                       str(tmp_path / "absent.json")],
        "convert unknown compression": ["convert", str(scan_file), "-o", out, "--compression", "zip"],
    }


BAD_CASES = ["info missing file", "info not hdf5", "info truncated", "info unknown kind", "info empty folder",
             "convert not hdf5", "convert truncated", "convert bad output suffix", "convert onto its input",
             "convert bad provenance", "convert missing instrument", "convert unknown compression"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_exits_2_with_one_line(runner, tmp_path, scan_file, case):
    args = _bad_inputs(tmp_path, scan_file)[case]
    before = sorted(os.listdir(tmp_path))
    scan_bytes = scan_file.read_bytes()
    result = runner.invoke(main, args)
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    err = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert sorted(os.listdir(tmp_path)) == before  # no output, no temporary file
    assert scan_file.read_bytes() == scan_bytes  # inputs untouched


def test_convert_refuses_nan_live_times_and_writes_nothing(tmp_path, seeds):
    from click.testing import CliRunner

    from pixlspec.cli import main

    src = tmp_path / "in.h5"
    shutil.copyfile(seeds["h5"][0], src)
    src.chmod(0o600)
    with h5py.File(src, "r+") as f:
        f["entry/instrument/detector_A/live_time_s"][1] = np.nan
    out = tmp_path / "out"
    out.mkdir()
    res = CliRunner().invoke(main, ["convert", str(src), "-o", str(out / "x.h5")])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1
    assert "live_time_s" in res.stderr and not any(out.iterdir())


def test_outputs_are_not_overwritten_without_flag(tmp_path, seeds):
    from click.testing import CliRunner

    from pixlspec.cli import main

    out = tmp_path / "x.h5"
    out.write_bytes(b"keep me")
    runner = CliRunner()
    res = runner.invoke(main, ["convert", str(seeds["h5"][0]), "-o", str(out)])
    assert res.exit_code == 2 and "--overwrite" in res.stderr and out.read_bytes() == b"keep me"
    res = runner.invoke(main, ["-q", "simulate", str(out), "--shape", "4x4"])
    assert res.exit_code == 2 and "--overwrite" in res.stderr and out.read_bytes() == b"keep me"
    res = runner.invoke(main, ["-q", "convert", str(seeds["h5"][0]), "-o", str(out), "--overwrite"])
    assert res.exit_code == 0, res.stderr
    import pixlspec as px

    with px.open_scan(out) as scan:
        assert scan.n_points > 0


def test_cli_export_piquant_csv_and_compare_with_results(results, tmp_path):
    path, maps, comp = results
    out = tmp_path / "q.csv"
    res = CliRunner().invoke(main, ["export", str(path), "--format", "piquant-csv", "-o", str(out)])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["compare", str(out), str(path), "--format", "csv"])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(res.output.splitlines()))
    assert {r["oxide"] for r in rows} == set(OXIDES)
    for r in rows:
        assert abs(float(r["bias"])) < 1e-4 and int(r["n"]) == int(maps.valid.sum())


def test_outputs_never_replace_their_input(results, tmp_path):
    """export -o and diffraction --out given the input's own name are bad input (exit 2, the input intact),
    whatever the spelling of the path and even with --overwrite."""
    import hashlib

    path = tmp_path / "r.h5"
    shutil.copy(results[0], path)
    scan = tmp_path / "s.h5"
    shutil.copy(ROOT / "example_data" / "sol0125_naltsos.h5", scan)
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (path, scan)}
    for args in (["export", str(path), "--format", "csv", "-o", str(path)],
                 ["export", str(path), "--format", "csv", "-o", str(tmp_path / "." / "r.h5")],
                 ["diffraction", str(scan), "--out", str(scan), "--overwrite"],
                 ["diffraction", str(scan), "--figure", str(scan), "--overwrite"]):
        res = CliRunner().invoke(main, args)
        assert res.exit_code == EXIT_BAD_INPUT and "overwrite an input" in res.output, (args, res.output)
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (path, scan)} == before


@pytest.mark.parametrize("kind", ["line", "raster"])
def test_tiff_export_shape_values_and_pixel_size(tmp_path, kind):
    maps = make_maps(kind)
    path = tmp_path / "r.h5"
    maps.to_hdf5(path)
    res = CliRunner().invoke(main, ["export", str(path), "--format", "tiff", "-o", str(tmp_path / "tif")])
    assert res.exit_code == 0, res.output
    files = sorted((tmp_path / "tif").glob("*.tif"))
    assert len(files) == len(maps.columns)
    fe = next(f for f in files if f.stem.endswith("_Fe"))
    with tifffile.TiffFile(fe) as t:
        page = t.pages[0]
        img = page.asarray()
        assert img.dtype == np.float32 and img.shape == maps.shape
        assert page.tags["ResolutionUnit"].value == tifffile.RESUNIT.CENTIMETER
        xr = page.tags["XResolution"].value
        yr = page.tags["YResolution"].value
        meta = json.loads(page.description)
    step_x = 0.25 if kind == "line" else 0.1          # the positions of make_maps (mm)
    step_y = step_x if kind == "line" else 0.2
    assert 10.0 / (xr[0] / xr[1]) == pytest.approx(step_x, rel=1e-6)      # pixels per cm -> mm per pixel
    assert 10.0 / (yr[0] / yr[1]) == pytest.approx(step_y, rel=1e-6)
    assert meta["units"] == "cts/s" and meta["column"] == "Fe"
    expect = (maps.point_areas["Fe"] / maps.live_time_s)
    grid = maps.grid.to_grid(expect)[::-1]
    np.testing.assert_allclose(img, grid.astype(np.float32), rtol=1e-6, equal_nan=True)
    assert np.isnan(img).sum() == 1                   # the invalid point


def test_msa_export_of_sum_spectra(tmp_path):
    """A results file with a sum-spectrum fit: its data and model come back through read_msa."""
    import h5py

    maps = make_maps()
    path = tmp_path / "r.h5"
    maps.to_hdf5(path)
    e = 1000.0 + 7.9 * np.arange(200)
    counts = np.random.default_rng(2).poisson(50, 200).astype(float)
    with h5py.File(path, "a") as f:
        g = f.require_group("entry/sum_fit/detector_A")
        for k, v in (("energy_eV", e), ("counts", counts), ("model", counts + 0.5), ("background", counts * 0)):
            g.create_dataset(k, data=v)
        g.create_dataset("summary", data=json.dumps({"live_time_s": 1650.0}))
    res = CliRunner().invoke(main, ["export", str(path), "--format", "msa", "-o", str(tmp_path / "msa")])
    assert res.exit_code == 0, res.output
    s = px.read_msa(tmp_path / "msa" / "scan_x_sum_A.msa")
    np.testing.assert_array_equal(s.counts, counts)
    assert s.live_time_s == pytest.approx(1650.0)
    assert s.offset_eV == pytest.approx(1000.0) and s.gain_eV_per_channel == pytest.approx(7.9)
    m = px.read_msa(tmp_path / "msa" / "scan_x_sum_model_A.msa")
    np.testing.assert_allclose(m.counts, counts + 0.5)
    # a spectrum that cannot be written after one that was: no file is left (the measured sum was)
    with h5py.File(path, "a") as f:
        f["entry/sum_fit/detector_A/model"][5] = -1e300
    res = CliRunner().invoke(main, ["export", str(path), "--format", "msa", "-o", str(tmp_path / "msa2")])
    assert res.exit_code != 0 and not (tmp_path / "msa2").exists(), res.output
    assert sorted(os.listdir(tmp_path)) == ["msa", "r.h5"]


def test_export_without_composition_is_a_clear_error(tmp_path):
    maps = make_maps()
    path = tmp_path / "r.h5"
    maps.to_hdf5(path)
    res = CliRunner().invoke(main, ["export", str(path), "--format", "piquant-csv", "-o", str(tmp_path / "q.csv")])
    assert res.exit_code == 2 and "no composition" in res.output
    assert not (tmp_path / "q.csv").exists()
