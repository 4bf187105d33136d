"""``pixlspec map``, ``batch`` and ``diffraction`` (pixlspec.cli.maps)."""

from __future__ import annotations

import os

import pytest

from tests.helpers.cli import ok, run
from tests.helpers.scans import ELEMENTS
from tests.helpers.paths import ROOT


def test_cli_batch_exit_code_table_and_resume(tmp_path, scan_files):
    from click.testing import CliRunner

    from pixlspec.cli import main

    broken = tmp_path / "broken.h5"
    broken.write_bytes(scan_files[0].read_bytes()[:5000])
    out = tmp_path / "out"
    runner = CliRunner()
    args = ["batch", str(scan_files[0]), str(broken), "--out", str(out), "--workers", "0",
            "--elements", ",".join(ELEMENTS)]
    res = runner.invoke(main, args)
    # a damaged scan is bad input: exit 2 (was 1 before issue 13), one 'error:' line for it
    assert res.exit_code == 2, res.output
    assert "done" in res.output and "error:" in res.output and "broken.h5" in res.output
    assert "1 fitted, 0 skipped (complete), 1 failed" in res.output
    assert sorted(os.listdir(out)) == ["scan0_maps.h5"]
    res = runner.invoke(main, ["batch", str(scan_files[0]), "--out", str(out), "--workers", "0",
                               "--elements", ",".join(ELEMENTS)])
    assert res.exit_code == 0, res.output
    assert "skipped" in res.output and "0 fitted, 1 skipped" in res.output


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


@pytest.mark.parametrize("args, message", [
    (("map", "{results}", "--out", "{tmp}/m", "--vmin", "nan"), "'nan' is not a finite number"),
    (("map", "{results}", "--out", "{tmp}/m", "--vmax", "inf"), "'inf' is not a finite number"),
    (("diffraction", "{scan}", "--threshold", "nan"), "'nan' is not a finite number"),
    (("diffraction", "{scan}", "--threshold", "-1"), "-1 is not > 0"),
    (("simulate", "{tmp}/s.msa", "--live-time", "nan"), "'nan' is not a finite number"),
    (("simulate", "{tmp}/s.msa", "--live-time", "0"), "0 is not > 0"),
])
def test_number_options_refuse_nan_inf_and_out_of_range(files, tmp_path, args, message):
    """click's float lets nan and inf through (a map drawn with nan limits, a Poisson error from numpy)."""
    result = run(*(a.format(results=files["results"], scan=files["scan"], tmp=tmp_path) for a in args))
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert not os.listdir(tmp_path)


def test_unknown_element_message_is_clear(files):
    result = run("map", files["results"], "--out", "unused", "--elements", "Fe,FE")
    assert "unknown element symbol 'FE'" in result.stderr and "did you mean 'Fe'" in result.stderr
    result = run("map", files["results"], "--out", "unused", "--elements", "U")
    assert "no map of 'U'" in result.stderr and "Fe" in result.stderr
    assert not os.path.exists("unused")


def test_cli_on_flight_scan(tmp_path):

    from click.testing import CliRunner

    from pixlspec.cli import main

    path = ROOT / "example_data" / "sol0125_naltsos.h5"
    if not path.exists():
        pytest.skip("example scan absent")
    out, fig = tmp_path / "p.csv", tmp_path / "p.png"
    r = CliRunner().invoke(main, ["diffraction", str(path), "--out", str(out), "--figure", str(fig)])
    assert r.exit_code == 0, r.output
    assert "diffraction peaks in 121 points" in r.output
    assert out.read_text().startswith("point,detector,energy_keV")
    assert fig.stat().st_size > 10_000
