"""PIXL PDS-style CSV products and MSA folders (pixlspec.io.pixl_csv)."""
from __future__ import annotations

import numpy as np
import pytest

from pixlspec.errors import CSVFormatError, MSAFormatError
from pixlspec.io.msa import read_msa_detectors, write_msa
from pixlspec.io.pixl_csv import read_msa_folder, read_rfs, read_rxl
from pixlspec.spectrum import Spectrum

META_HEADER = ("SCLK_A,SCLK_B,PMC,real_time_A,real_time_B,live_time_A,live_time_B,yellow_piece_temp,"
               "XPERCHAN_A,XPERCHAN_B,OFFSET_A,OFFSET_B")
N_CH = 8
PMCS = [93, 94, 96]


def rfs_lines(n_ch=N_CH, pmcs=PMCS, gains=None):
    rng = np.random.default_rng(1)
    a = rng.integers(0, 50, (len(pmcs), n_ch))
    b = rng.integers(0, 50, (len(pmcs), n_ch))
    gains = gains or [7.9226] * len(pmcs)
    lines = [META_HEADER]
    for k, p in enumerate(pmcs):
        lines.append(f"{678032243 + 20 * k},{678032244 + 20 * k},{p},15,15,{13.5 + k / 10},{13.6 + k / 10},"
                     f"{-6.3 + k},{gains[k]},7.9273,-11.8,-13.2")
    lines.append("PMC,x,y,z")
    for k, p in enumerate(reversed(pmcs)):                          # order of table 2 does not matter
        lines.append(f"{p},{-0.120859 - 0.00025 * (len(pmcs) - 1 - k)},0.131019,0.251208")
    lines.append(",".join(f"A_{i}" for i in range(1, n_ch + 1)))
    lines += [",".join(str(v) for v in row) for row in a]
    lines.append(",".join(f"B_{i}" for i in range(1, n_ch + 1)))
    lines += [",".join(str(v) for v in row) for row in b]
    return lines, a, b


def write(tmp_path, lines, name="RFS.CSV"):
    p = tmp_path / name
    p.write_bytes("\r\n".join(lines).encode() + b"\r\n")
    return p


def test_read_rfs_synthetic(tmp_path):
    lines, a, b = rfs_lines()
    scan = read_rfs(write(tmp_path, lines))
    assert scan.detectors == ("A", "B") and scan.n_points == 3 and scan.n_channels == N_CH
    np.testing.assert_array_equal(scan.point_ids, PMCS)
    np.testing.assert_array_equal(scan.counts("A"), a)
    np.testing.assert_array_equal(scan.counts("B"), b)
    assert scan.calibration == {"A": (-11.8, 7.9226, 0.0), "B": (-13.2, 7.9273, 0.0)}
    np.testing.assert_array_equal(scan.live_time_s["A"], [13.5, 13.6, 13.7])
    np.testing.assert_array_equal(scan.real_time_s["B"], [15, 15, 15])
    assert scan.positions_mm[0].tolist() == [-120.859, 131.019, 251.208]        # m -> mm, matched by PMC
    np.testing.assert_allclose(scan.positions_mm[2], [-121.359, 131.019, 251.208], rtol=1e-14)
    np.testing.assert_array_equal(scan.point_metadata["sclk_A"], [678032243, 678032263, 678032283])
    np.testing.assert_allclose(scan.point_metadata["yellow_piece_temp_C"], [-6.3, -5.3, -4.3])
    assert "geometry" not in scan.point_metadata and "calibration_note" not in scan.metadata


def test_read_rfs_older_variant_and_dwell_set(tmp_path):
    lines, a, b = rfs_lines()
    old = [lines[0].replace(",yellow_piece_temp", "")]
    for row in lines[1:4]:
        f = row.split(",")
        old.append(",".join(f[:7] + f[8:]))
    old += lines[4:]
    scan = read_rfs(write(tmp_path, old), rxl=False)
    assert "yellow_piece_temp_C" not in scan.point_metadata
    np.testing.assert_array_equal(scan.counts("B"), b)
    # pipeline files may append a second set of tables (dwell spectra)
    dwell, da, _ = rfs_lines(pmcs=[150])
    scan = read_rfs(write(tmp_path, lines + dwell), rxl=False)
    assert scan.n_points == 3 and scan.metadata["dwell"].n_points == 1
    np.testing.assert_array_equal(scan.metadata["dwell"].counts("A"), da)


def test_read_rfs_varying_calibration_uses_median(tmp_path):
    lines, _, _ = rfs_lines(gains=[7.92, 7.93, 7.95])
    scan = read_rfs(write(tmp_path, lines))
    assert scan.calibration["A"][1] == 7.93
    assert "median" in scan.metadata["calibration_note"]
    np.testing.assert_array_equal(scan.point_metadata["gain_eV_per_channel_A"], [7.92, 7.93, 7.95])


def test_read_rfs_with_rxl_tree(tmp_path):
    (tmp_path / "RFS").mkdir()
    (tmp_path / "RXL").mkdir()
    lines, _, _ = rfs_lines()
    p = write(tmp_path / "RFS", lines, "PS__0125_0678031418_000RFS_N0041__J01.CSV")
    rxl = ["PMC,x,y,z,geom_corr,PMC_0091_MCC_i,PMC_0091_MCC_j",
           "91,-0.1,0.13,0.25,1.002,1.5,-2.5",
           "93,-0.120859,0.131019,0.251208,0.987905,3,4",
           "96,-0.1,0.13,0.25,1.01,5,6"]
    write(tmp_path / "RXL", rxl, "PE__0125_0678031418_000RXL_N0041__J01.CSV")
    scan = read_rfs(p)
    g = scan.point_metadata["geometry"]
    assert g[0] == 0.987905 and np.isnan(g[1]) and g[2] == 1.01
    assert scan.metadata["rxl_file"].endswith("RXL_N0041__J01.CSV")
    assert "geometry" not in read_rfs(p, rxl=False).point_metadata
    r = read_rxl(tmp_path / "RXL" / "PE__0125_0678031418_000RXL_N0041__J01.CSV")
    np.testing.assert_array_equal(r["pmc"], [91, 93, 96])
    assert r["x_mm"][1] == -120.859 and r["PMC_0091_MCC_j"][0] == -2.5


def _bad(lines, i, new):
    out = list(lines)
    if new is None:
        del out[i]
    else:
        out[i] = new
    return out


L, _, _ = rfs_lines()
A_HDR = L.index(next(x for x in L if x.startswith("A_1,")))
B_HDR = L.index(next(x for x in L if x.startswith("B_1,")))
BAD_RFS = {
    "ragged data row": (_bad(L, A_HDR + 2, "1,2,3"), A_HDR + 3, "fields"),
    "non-numeric count": (_bad(L, A_HDR + 1, "1,2,x,4,5,6,7,8"), A_HDR + 2, "invalid count"),
    "negative count": (_bad(L, B_HDR + 1, "1,2,3,-4,5,6,7,8"), B_HDR + 2, "count"),
    "nan count": (_bad(L, B_HDR + 1, "1,2,3,nan,5,6,7,8"), B_HDR + 2, "count"),
    "missing B row": (_bad(L, B_HDR + 1, None), B_HDR + 1, "rows"),
    "ragged metadata row": (_bad(L, 2, "1,2,3"), 3, "fields"),
    "zero live time": (_bad(L, 1, L[1].replace(",13.5,", ",0,")), 2, "live_time_A"),
    "live time below 1 us": (_bad(L, 1, L[1].replace(",13.5,", ",1e-300,")), 2, "live_time_A"),
    "non-numeric PMC": (_bad(L, 1, L[1].replace(",93,", ",9x3,")), 2, "PMC"),
    "PMC beyond int64": (_bad(L, 1, L[1].replace(",93,", ",1e300,")), 2, "PMC"),
    "bad spectra header": (_bad(L, A_HDR, L[A_HDR].replace("A_3", "A_7")), A_HDR + 1, "A_3"),
    "data before header": (L[1:], 1, "header"),
    "unknown table": (L[:A_HDR] + ["foo,bar"] + L[A_HDR:], A_HDR + 1, "unrecognised"),
    "missing position": (_bad(L, 5, None), 5, "PMC 96"),
}


@pytest.mark.parametrize("case", sorted(BAD_RFS))
def test_bad_rfs(tmp_path, case):
    lines, line, fragment = BAD_RFS[case]
    p = write(tmp_path, lines)
    with pytest.raises(CSVFormatError) as e:
        read_rfs(p, rxl=False)
    assert e.value.where == line, str(e.value)
    assert fragment in str(e.value) and str(p) in str(e.value)


def test_bad_rfs_empty_and_binary(tmp_path):
    p = tmp_path / "x.csv"
    for data in (b"", b"\x00\x01\x02"):
        p.write_bytes(data)
        with pytest.raises(CSVFormatError):
            read_rfs(p, rxl=False)


def _spectra(pmc, counts_a, counts_b, **meta):
    m = {"pmc": pmc, **meta}
    a = Spectrum(counts=counts_a, offset_eV=-11.8, gain_eV_per_channel=7.9226, live_time_s=14.0, real_time_s=15.0,
                 detector="A", position_mm=(pmc * 0.25, 131.0, 250.0), metadata=m)
    b = Spectrum(counts=counts_b, offset_eV=-13.2, gain_eV_per_channel=7.9273, live_time_s=13.9, real_time_s=15.0,
                 detector="B", position_mm=(pmc * 0.25, 131.0, 250.0), metadata=m)
    return [a, b]


def test_msa_folder_synthetic(tmp_path):
    rng = np.random.default_rng(2)
    data = {}
    for pmc in (12, 5, 40):
        ca, cb = rng.integers(0, 9, N_CH), rng.integers(0, 9, N_CH)
        data[pmc] = (ca, cb)
        write_msa(_spectra(pmc, ca, cb, geometry=1.01, yellow_piece_temp_C=-3.0, rover_sclk=1000 + pmc),
                  tmp_path / f"pt_{pmc:04d}.msa")
    scan = read_msa_folder(tmp_path)
    np.testing.assert_array_equal(scan.point_ids, [5, 12, 40])
    for k, pmc in enumerate((5, 12, 40)):
        np.testing.assert_array_equal(scan.counts("A", k), data[pmc][0])
        np.testing.assert_array_equal(scan.counts("B", k), data[pmc][1])
    assert scan.calibration == {"A": (-11.8, 7.9226, 0.0), "B": (-13.2, 7.9273, 0.0)}
    assert scan.positions_mm[:, 0].tolist() == [1.25, 3.0, 10.0]
    np.testing.assert_array_equal(scan.point_metadata["sclk_A"], [1005, 1012, 1040])
    assert scan.point_metadata["geometry"].tolist() == [1.01] * 3
    # a file on another calibration is refused, not silently rebinned
    odd = _spectra(7, np.ones(N_CH), np.ones(N_CH))
    write_msa([odd[0].replace(gain_eV_per_channel=8.0), odd[1]], tmp_path / "pt_0007.msa")
    with pytest.raises(MSAFormatError, match="calibration"):
        read_msa_folder(tmp_path)
    write_msa(_spectra(7, np.ones(N_CH + 1), np.ones(N_CH + 1)), tmp_path / "pt_0007.msa")
    with pytest.raises(MSAFormatError, match="channels"):
        read_msa_folder(tmp_path)


def test_msa_folder_empty(tmp_path):
    with pytest.raises(MSAFormatError, match="no .msa"):
        read_msa_folder(tmp_path)


# --------------------------------------------------------------------------- real files
def _rfs_path(real_data):
    return next((real_data / "pixl_flight_sol0125" / "RFS").glob("*RFS*.CSV"))


@pytest.fixture(scope="module")
def rfs_scan(real_data):
    return read_rfs(_rfs_path(real_data))


def test_real_rfs_parse_check_figures(rfs_scan):
    s = rfs_scan
    assert s.n_points == 121 and s.detectors == ("A", "B")
    assert s.counts("A").shape == (121, 4096) and s.counts("B").shape == (121, 4096)
    pmc = s.point_ids
    assert pmc[0] == 93 and pmc[-1] == 216
    assert set(range(93, 217)) - set(pmc.tolist()) == {133, 174, 215}
    tot_a, tot_b = s.counts("A").sum(1), s.counts("B").sum(1)
    assert (tot_a.min(), tot_a.max()) == (27426, 258642)
    assert (tot_b.min(), tot_b.max()) == (44969, 256761)
    assert max(s.counts("A").max(), s.counts("B").max()) == 7017
    assert np.all(s.real_time_s["A"] == 15) and np.all(s.real_time_s["B"] == 15)
    assert round(s.live_time_s["A"].min(), 3) == 13.577 and round(s.live_time_s["A"].max(), 3) == 14.191
    assert round(s.live_time_s["B"].min(), 3) == 13.576 and round(s.live_time_s["B"].max(), 3) == 14.137
    t = s.point_metadata["yellow_piece_temp_C"]
    assert (round(t.min(), 2), round(t.max(), 2)) == (-6.42, -1.42)
    assert s.calibration == {"A": (-11.8, 7.9226, 0.0), "B": (-13.2, 7.9273, 0.0)}
    x, y, z = s.positions_mm.T
    assert (round(x.min(), 2), round(x.max(), 2)) == (-151.09, -120.86)
    assert (round(y.min(), 3), round(y.max(), 3)) == (131.007, 131.027)
    assert (round(z.min(), 2), round(z.max(), 2)) == (246.57, 251.52)
    step = np.hypot(np.diff(x), np.diff(z))
    assert round(float(np.median(step)), 3) == 0.253
    # RXL found in the product tree: geometry for every point
    g = s.point_metadata["geometry"]
    assert np.all(np.isfinite(g)) and 0.97 < g.min() and g.max() < 1.15
    np.testing.assert_array_equal(s.point_metadata["sclk_B"] - s.point_metadata["sclk_A"] >= 0, True)


def test_real_rxl(real_data):
    r = read_rxl(next((real_data / "pixl_flight_sol0125" / "RXL").glob("*RXL*.CSV")))
    assert len(r["pmc"]) == 123 and r["pmc"][0] == 91 and r["pmc"][-1] == 218
    assert {k for k in r if k.startswith("PMC_")} == {f"PMC_{p:04d}_MCC_{a}" for p in (91, 93, 216, 218) for a in "ij"}


def test_real_msa_files_agree_with_rfs(real_data, rfs_scan):
    folder = real_data / "pixl_flight_sol0125" / "RFS_MSA_per_PMC"
    files = sorted(folder.glob("*.MSA"))
    assert len(files) == 24
    row = {int(p): k for k, p in enumerate(rfs_scan.point_ids)}
    rxl = read_rxl(next((real_data / "pixl_flight_sol0125" / "RXL").glob("*RXL*.CSV")))
    geom = dict(zip(rxl["pmc"].tolist(), rxl["geom_corr"].tolist()))
    for f in files:
        det = read_msa_detectors(f)
        pmc = det["A"].metadata["pmc"]
        k = row[pmc]
        for d in "AB":
            s = det[d]
            np.testing.assert_array_equal(s.counts, rfs_scan.counts(d, k))
            # CSV holds the corrected live time as a full double: agreement to rounding error
            assert s.live_time_s == pytest.approx(rfs_scan.live_time_s[d][k], rel=1e-15, abs=0)
            assert s.real_time_s == rfs_scan.real_time_s[d][k]
            assert (s.offset_eV, s.gain_eV_per_channel, s.quadratic_eV) == rfs_scan.calibration[d]
            # positions: same metres to ~1e-16 m (the CSV prints repr noise, e.g. -0.12135699999999999)
            np.testing.assert_allclose(s.position_mm, rfs_scan.positions_mm[k], rtol=1e-14, atol=0)
        assert det["A"].metadata["rover_sclk"] == rfs_scan.point_metadata["sclk_A"][k]
        assert det["A"].metadata["geometry"] == geom[pmc]
        assert det["A"].metadata["yellow_piece_temp_C"] == rfs_scan.point_metadata["yellow_piece_temp_C"][k]
    pmc95 = read_msa_detectors(next(folder.glob("*_0095.MSA")))["A"]
    assert round(pmc95.live_time_s, 4) == 14.0378 and round(rfs_scan.live_time_s["A"][row[95]], 4) == 14.0378


def test_real_msa_folder(real_data, rfs_scan):
    scan = read_msa_folder(real_data / "pixl_flight_sol0125" / "RFS_MSA_per_PMC")
    assert scan.n_points == 24 and scan.detectors == ("A", "B")
    assert list(scan.point_ids) == sorted(scan.point_ids)
    rows = [int(np.flatnonzero(rfs_scan.point_ids == p)[0]) for p in scan.point_ids]
    for d in "AB":
        np.testing.assert_array_equal(scan.counts(d), rfs_scan.counts(d, np.array(rows)))
        np.testing.assert_allclose(scan.live_time_s[d], rfs_scan.live_time_s[d][rows], rtol=1e-15, atol=0)
    np.testing.assert_allclose(scan.positions_mm, rfs_scan.positions_mm[rows], rtol=1e-14, atol=0)
    np.testing.assert_array_equal(scan.point_metadata["geometry"], rfs_scan.point_metadata["geometry"][rows])


def test_real_ground_folder_joins_detectors(real_data):
    from pixlspec.io.piquant import read_piquant_config

    cfg = read_piquant_config(real_data / "pixl_fm_config" / "Config_PIXL_FM_SurfaceOps_Rev2_Sept2021.msa")
    scan = read_msa_folder(real_data / "pixl_fm_ground", instrument=cfg)
    assert scan.detectors == ("A", "B") and list(scan.point_ids) == [7, 8, 9]
    assert scan.calibration == {"A": (-18.5, 7.862, 0.0), "B": (-22.4, 7.881, 0.0)}
    assert scan.metadata["calibration_source"] == "instrument" and scan.instrument is cfg
