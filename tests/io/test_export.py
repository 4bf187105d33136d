"""Exports (pixlspec.io.export): PIQUANT map CSV (write, read, round trip), element maps as CSV, compare."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from pixlspec.cli import main
from pixlspec.errors import CSVFormatError, PixlspecError
from pixlspec.io.export import (CSV_SIGNIFICANT_DIGITS, compare_compositions, read_piquant_map, read_piquant_maps,
                                write_maps_csv, write_piquant_csv)
from pixlspec.io.results import read_composition_map

from tests.helpers.maps import OXIDES, make_comp, make_maps


#: The round trip keeps this many significant digits: relative agreement to better than half a unit of the last.
RTOL = 0.5 * 10.0 ** (1 - CSV_SIGNIFICANT_DIGITS)


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


def test_compare_refuses_a_point_id_given_twice(results):
    """Points are paired by id: a map whose PMC repeats would pair the wrong points (a map compared with
    itself showed a bias), so it is refused naming the id and its points."""
    import dataclasses

    from pixlspec.errors import PixlspecError
    from pixlspec.io.export import compare_compositions

    _, _, comp = results
    ids = np.arange(comp.n_points) + 90
    ids[1] = ids[0]
    twice = dataclasses.replace(comp, point_ids=ids)
    with pytest.raises(PixlspecError, match="90 names points 0, 1"):
        compare_compositions(twice, twice)


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


def test_piquant_map_reader_refuses_binary_and_folders(tmp_path):
    """A binary file gave a raw UnicodeDecodeError; it is a CSVFormatError naming the file and line."""
    path = tmp_path / "map.csv"
    path.write_bytes(b"PIQUANT map\nPMC, SiO2_%\n1, 5\n2, \x9d\xff\n")
    with pytest.raises(CSVFormatError, match=r"map\.csv: line 4: undecodable byte 0x9d"):
        read_piquant_maps(path)
    with pytest.raises(CSVFormatError, match="is a folder"):
        read_piquant_maps(tmp_path)
