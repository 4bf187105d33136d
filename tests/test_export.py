"""Exports: PIQUANT map CSV (write, read, round trip), element maps as CSV/TIFF, sum spectra as MSA, compare."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner

import pixlspec as px
from pixlspec.cli import main
from pixlspec.errors import CSVFormatError, PixlspecError
from pixlspec.element_maps import ElementMaps
from pixlspec.geometry import grid_from_positions
from pixlspec.io.export import (CSV_SIGNIFICANT_DIGITS, compare_compositions, read_piquant_map, read_piquant_maps,
                                write_maps_csv, write_piquant_csv)
from pixlspec.io.results import read_composition_map
from pixlspec.composition import CompositionMap

ELEMENTS = ["Si", "Ca", "Fe"]
OXIDES = ["SiO2", "CaO", "FeO"]
#: The round trip keeps this many significant digits: relative agreement to better than half a unit of the last.
RTOL = 0.5 * 10.0 ** (1 - CSV_SIGNIFICANT_DIGITS)


def make_maps(kind: str = "line", n: int = 12, seed: int = 3) -> ElementMaps:
    """Small ElementMaps with known areas: a line of ``n`` points 0.25 mm apart, or a 3×4 raster."""
    rng = np.random.default_rng(seed)
    if kind == "line":
        pos = np.column_stack([-120.0 - 0.25 * np.arange(n), np.full(n, 131.0), np.full(n, 250.0)])
    else:
        yy, xx = np.mgrid[0:3, 0:4]
        pos = np.column_stack([0.1 * xx.ravel(), 0.2 * yy.ravel(), np.zeros(12)])
        n = 12
    cols = ELEMENTS + ["Rh_K_Compton"]
    areas = {c: rng.uniform(100, 5000, n) for c in cols}
    sigma = {c: np.sqrt(areas[c]) for c in cols}
    valid = np.ones(n, bool)
    valid[2] = False
    for c in cols:
        areas[c][2] = np.nan
        sigma[c][2] = np.nan
    return ElementMaps(elements=list(ELEMENTS), columns=cols, detector="A", point_areas=areas, point_sigma=sigma,
                       chi2_reduced_points=rng.uniform(0.8, 1.3, n), dof=np.full(n, 900), valid=valid,
                       live_time_s=rng.uniform(13.5, 14.2, n), positions_mm=pos, point_ids=np.arange(93, 93 + n),
                       grid=grid_from_positions(pos), source="scan_x.h5")


def make_comp(maps: ElementMaps, detector: str = "A", scale: float = 1.0) -> CompositionMap:
    n = maps.n_points
    rng = np.random.default_rng(7)
    wt = {o: scale * rng.uniform(0.5, 50, n) for o in OXIDES}
    wt["CaO"][5] = 0.0                                   # a zero wt% (relative error undefined)
    sig = {o: 0.02 * wt[o] + 0.01 for o in OXIDES}
    for o in OXIDES:
        wt[o][~maps.valid] = np.nan
        sig[o][~maps.valid] = np.nan
    total = np.sum([wt[o] for o in OXIDES], axis=0)
    return CompositionMap(point_oxide_wt=wt, point_sigma=sig, point_lod={o: 0.1 * sig[o] for o in OXIDES},
                          point_element_wt={}, point_total=total, valid=maps.valid.copy(), normalised=False,
                          balance=None, point_balance_wt=np.full(n, np.nan), air_fraction=0.0, calibrated=True,
                          fe_oxide="FeO", converged=maps.valid.copy(), groups=list(ELEMENTS), flags=[],
                          point_flags={}, grid=maps.grid, detector=detector, live_time_s=maps.live_time_s,
                          source=maps.source, point_ids=maps.point_ids, positions_mm=maps.positions_mm)


@pytest.fixture
def results(tmp_path):
    maps = make_maps()
    comp = make_comp(maps)
    path = tmp_path / "scan_x_results.h5"
    maps.to_hdf5(path)
    comp.to_hdf5(path)
    return path, maps, comp


# A map CSV written by hand to PIQUANT's published column layout (pixl-formats.md §5), as PIXLISE
# exports it: title line, header with ", " separators, ids, one row per point and detector, columns
# pixlspec does not write (SCLK, RTT, _coeff, X/Y/Z, pulse counters).
PIQUANT_CSV = """\
PIQUANT map quantification, sol 125, elements Si Ca Fe
PMC, SCLK, RTT, filename, SiO2_%, CaO_%, FeO_%, SiO2_int, CaO_int, FeO_int, SiO2_err, CaO_err, FeO_err, \
SiO2_coeff, total_counts, livetime, chisq, eVstart, eV/ch, res, iter, X, Y, Z, Events, Triggers
93, 0678031461, 048300551, Normal_A_0678031461_048300551, 45.10, 8.20, 18.40, 31000, 9000, 270000, 1.5, 3.0, 0.8, \
0.31, 150000, 13.9, 1.21, -18.5, 7.862, 168.0, 12, -0.120859, 0.131019, 0.251208, 211111, 212000
93, 0678031461, 048300551, Normal_B_0678031461_048300551, 44.00, 8.50, 18.10, 30500, 9100, 268000, 1.6, 2.9, 0.8, \
0.30, 149000, 13.8, 1.10, -22.4, 7.881, 170.0, 11, -0.120859, 0.131019, 0.251208, 210000, 211000
94, 0678031476, 048300551, Normal_A_0678031476_048300551, 46.00, 0, 17.00, 31500, 0, 265000, 1.4, , 0.9, \
0.32, 151000, 14.0, 0.97, -18.5, 7.862, 168.0, 10, -0.121108, 0.131019, 0.251246, 211500, 212500
94, 0678031476, 048300551, Normal_B_0678031476_048300551, 45.50, 7.90, 17.50, 31200, 8800, 266000, 1.5, 3.1, 0.9, \
0.31, 150500, 13.9, 1.05, -22.4, 7.881, 170.0, 12, -0.121108, 0.131019, 0.251246, 210500, 211500
"""


def test_reads_piquant_published_layout(tmp_path):
    p = tmp_path / "piquant_map.csv"
    p.write_text(PIQUANT_CSV.replace("\n", "\r\n"), newline="")       # PIQUANT/PIXLISE files end lines in CRLF
    maps = read_piquant_maps(p)
    assert set(maps) == {"A", "B"}
    a = read_piquant_map(p, detector="Normal_A")
    assert a.detector == "A" and a.oxides == OXIDES
    assert a.point_ids.tolist() == [93, 94]
    np.testing.assert_allclose(a.point_oxide_wt["SiO2"], [45.10, 46.00])
    np.testing.assert_allclose(a.point_sigma["SiO2"], [45.10 * 0.015, 46.00 * 0.014])
    np.testing.assert_allclose(a.point_sigma["FeO"], [18.40 * 0.008, 17.00 * 0.009])
    assert a.point_oxide_wt["CaO"][1] == 0.0 and np.isnan(a.point_sigma["CaO"][1])   # empty _err
    np.testing.assert_allclose(a.point_total, [45.10 + 8.20 + 18.40, 46.00 + 0 + 17.00])   # no sum_% column
    np.testing.assert_allclose(a.live_time_s, [13.9, 14.0])
    np.testing.assert_allclose(a.positions_mm[0], [-0.120859, 0.131019, 0.251208])
    assert a.valid.all()
    b = maps["B"]
    np.testing.assert_allclose(b.point_oxide_wt["CaO"], [8.50, 7.90])
    with pytest.raises(PixlspecError, match="detectors"):
        read_piquant_map(p)                      # two detectors: which one?
    # bias and scatter of B - A, point by point, against a hand computation
    rows = {r.oxide: r for r in compare_compositions(a, b)}
    d = np.array([44.00 - 45.10, 45.50 - 46.00])
    assert rows["SiO2"].n == 2
    assert rows["SiO2"].bias == pytest.approx(d.mean())
    assert rows["SiO2"].scatter == pytest.approx(np.std(d, ddof=1))
    assert rows["SiO2"].rel_bias == pytest.approx(d.mean() / np.mean([45.10, 46.00]))


def test_composition_round_trip_through_piquant_csv(results, tmp_path):
    path, maps, comp = results
    stored = read_composition_map(path)          # what the results file holds
    for o in OXIDES:
        np.testing.assert_array_equal(stored.point_oxide_wt[o], comp.point_oxide_wt[o])
    assert stored.point_ids.tolist() == comp.point_ids.tolist()
    out = tmp_path / "quant.csv"
    stored.to_piquant_csv(out, maps=maps)
    back = read_piquant_map(out)
    assert back.detector == "A" and back.oxides == OXIDES
    assert back.point_ids.tolist() == maps.point_ids.tolist()
    np.testing.assert_array_equal(back.valid, maps.valid)
    ok = maps.valid
    for o in OXIDES:
        np.testing.assert_allclose(back.point_oxide_wt[o][ok], comp.point_oxide_wt[o][ok], rtol=RTOL)
        nz = ok & (comp.point_oxide_wt[o] != 0)
        # σ goes through the relative error: two printed numbers, so twice the rounding
        np.testing.assert_allclose(back.point_sigma[o][nz], comp.point_sigma[o][nz], rtol=2.5 * RTOL)
    assert np.isnan(back.point_sigma["CaO"][5])   # zero wt%: relative error undefined, left empty
    np.testing.assert_allclose(back.point_total[ok], comp.point_total[ok], rtol=RTOL)
    np.testing.assert_allclose(back.live_time_s, maps.live_time_s, rtol=RTOL)
    # the _int columns are the fitted areas of each oxide's element, chisq the point's χ²
    with open(out, newline="") as fh:
        rows = list(csv.reader(fh.readlines()[1:], skipinitialspace=True))
    head = rows[0]
    assert head[:2] == ["PMC", "filename"] and head[-8:] == ["sum_%", "total_counts", "livetime", "chisq",
                                                            "eVstart", "eV/ch", "res", "iter"]
    assert rows[1][1].startswith("Normal_A_")
    fe = np.array([float(r[head.index("FeO_int")]) for r in rows[1:] if r[head.index("FeO_int")]])
    np.testing.assert_allclose(fe, maps.point_areas["Fe"][ok], rtol=RTOL)
    chi = np.array([float(r[head.index("chisq")]) for r in rows[1:] if r[head.index("chisq")]])
    np.testing.assert_allclose(chi, maps.chi2_reduced_points[ok], rtol=RTOL)


def test_compare_finds_a_known_bias(results, tmp_path):
    _, maps, comp = results
    shifted = make_comp(maps, scale=1.0)
    rng = np.random.default_rng(11)
    noise = rng.normal(0, 0.3, maps.n_points)
    shifted.point_oxide_wt = {o: v + 0.5 + noise for o, v in shifted.point_oxide_wt.items()}
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write_piquant_csv(comp, a)
    write_piquant_csv(shifted, b)
    res = CliRunner().invoke(main, ["compare", str(a), str(b), "--format", "json"])
    assert res.exit_code == 0, res.output
    rows = {r["oxide"]: r for r in json.loads(res.output)["rows"]}
    ok = maps.valid
    assert rows["SiO2"]["n"] == int(ok.sum())
    assert rows["SiO2"]["bias"] == pytest.approx(0.5 + noise[ok].mean(), abs=1e-5)
    assert rows["SiO2"]["scatter"] == pytest.approx(np.std(noise[ok], ddof=1), rel=1e-4)
    text = CliRunner().invoke(main, ["compare", str(a), str(b)]).output
    assert "SiO2" in text and "bias" in text


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


def test_maps_csv_and_msa_exports(tmp_path):
    maps = make_maps()
    out = tmp_path / "m.csv"
    write_maps_csv(maps, out, units="counts")
    rows = list(csv.DictReader(open(out, newline="")))
    assert len(rows) == maps.n_points
    assert [int(r["PMC"]) for r in rows] == maps.point_ids.tolist()
    fe = np.array([float(r["Fe_counts"]) if r["Fe_counts"] else np.nan for r in rows])
    np.testing.assert_allclose(fe, maps.point_areas["Fe"], rtol=RTOL, equal_nan=True)
    d = np.array([float(r["distance_mm"]) for r in rows])
    np.testing.assert_allclose(d, 0.25 * np.arange(maps.n_points), atol=1e-9)
    assert rows[2]["valid"] == "0"


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


@pytest.mark.parametrize("text, match", [
    ("title\nfoo, bar\n1, 2\n", "not a PIQUANT map header"),
    ("title\nPMC, SiO2_%\n93, 45.1, 3\n", "expected 2 fields"),
    ("title\nPMC, SiO2_%\n93, abc\n", "expected a number"),
    ("just a title\n", "title line and a header"),
])
def test_bad_piquant_csv(tmp_path, text, match):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(CSVFormatError, match=match) as e:
        read_piquant_map(p)
    assert str(p) in str(e.value)


def test_export_without_composition_is_a_clear_error(tmp_path):
    maps = make_maps()
    path = tmp_path / "r.h5"
    maps.to_hdf5(path)
    res = CliRunner().invoke(main, ["export", str(path), "--format", "piquant-csv", "-o", str(tmp_path / "q.csv")])
    assert res.exit_code == 2 and "no composition" in res.output
    assert not (tmp_path / "q.csv").exists()


def test_public_names():
    for name in ("read_piquant_map", "read_piquant_maps", "write_piquant_csv", "compare_compositions",
                 "read_composition_map", "export_results"):
        assert callable(getattr(px, name))
