"""Map fits (pixlspec.fit.maps): accuracy against the truth and against single fits, background bias,
bad points, detectors, plain arrays, a real line scan."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

import pixlspec as px
from pixlspec.config import FitConfig
from pixlspec.errors import SpectrumError
from pixlspec.io.hdf5 import write_scan
from pixlspec.simulate import simulate_scan

from tests.helpers.maps import basalt_maps
from tests.helpers.paths import ROOT


#: Elements whose accuracy is checked (present in the basalt, K lines in the fit range).
CHECKED = ("Mg", "Al", "Si", "P", "S", "Cl", "K", "Ca", "Ti", "Cr", "Mn", "Fe", "Zn", "Sr", "Zr")


#: Small peaks next to big Si/Ca/Fe peaks: where background bias shows (issue 5).
SMALL = ("P", "K", "Cr", "Ti")


@pytest.fixture(scope="module")
def scan64():
    """64×64 basalt-like scan (~100,000 counts per point) with known areas."""
    return simulate_scan(basalt_maps(64 * 64, 1e5, seed=11), shape=(64, 64), detectors=["A"], seed=12)


@pytest.fixture(scope="module")
def maps64(scan64):
    return px.fit_map(scan64)


def test_map_agrees_with_truth_within_3_sigma(scan64, maps64):
    m = maps64
    assert m.shape == (64, 64) and m.grid.kind == "raster"
    assert m.valid.all()
    for el in CHECKED:
        truth = scan64.point_metadata[f"truth_{el}"]
        pull = (m.point_areas[el] - truth) / m.point_sigma[el]
        assert np.mean(np.abs(pull) < 3) >= 0.99, (el, np.mean(np.abs(pull) < 3))
        # honest uncertainties: the pulls are standard normal
        assert abs(np.mean(pull)) < 0.15, (el, np.mean(pull))
        assert 0.85 < np.std(pull) < 1.15, (el, np.std(pull))
    # the grid holds the points where the simulator put them (x fastest)
    np.testing.assert_array_equal(m.areas["Fe"], m.point_areas["Fe"].reshape(64, 64))


def test_map_agrees_with_single_fits_within_1_sigma(scan64, maps64):
    rng = np.random.default_rng(0)
    points = rng.choice(scan64.n_points, 40, replace=False)
    within = []
    for i in points:
        fit = px.fit_spectrum(scan64.spectrum(int(i), "A"))
        for el in CHECKED:
            within.append(abs(maps64.point_areas[el][i] - fit.areas[el]) < maps64.point_sigma[el][i])
    assert np.mean(within) >= 0.95, np.mean(within)


def test_reduced_chi2_near_one(maps64):
    chi2 = maps64.chi2_reduced_points
    assert np.all(np.isfinite(chi2))
    assert 0.8 < np.median(chi2) < 1.2
    assert maps64.chi2_reduced.shape == (64, 64)


def test_background_bias_under_small_peaks_below_5_percent(scan64, maps64):
    """Mean of fitted/true - 1 over the points for the small peaks beside Si, Ca, Fe."""
    for el in SMALL:
        truth = scan64.point_metadata[f"truth_{el}"]
        bias = np.mean(maps64.point_areas[el] / truth) - 1
        assert abs(bias) < 0.05, (el, bias)


def test_snip_background_runs_and_its_bias_is_measured(scan16):
    """SNIP (PyMca-like) is offered; its bias under small peaks is larger (documented, not a target)."""
    m = px.fit_map(scan16, detector="A", config=FitConfig(background="snip"))
    bias = {el: float(np.mean(m.point_areas[el] / scan16.point_metadata[f"truth_{el}"]) - 1) for el in SMALL}
    assert all(np.isfinite(list(bias.values())))
    assert abs(np.mean(m.point_areas["Fe"] / scan16.point_metadata["truth_Fe"]) - 1) < 0.05
    assert "continuum_0" not in m.columns


def test_counts_per_sec_and_combined_detectors(scan16, maps16):
    m = maps16
    assert m.detector == "A+B" and set(m.per_detector) == {"A", "B"}
    a, b = m.per_detector["A"], m.per_detector["B"]
    np.testing.assert_allclose(m.point_areas["Fe"], a.point_areas["Fe"] + b.point_areas["Fe"])
    np.testing.assert_allclose(m.point_sigma["Fe"], np.hypot(a.point_sigma["Fe"], b.point_sigma["Fe"]))
    live = scan16.live_time_s["A"]
    np.testing.assert_allclose(m.counts_per_sec("Fe", points=True), m.point_areas["Fe"] / live)
    assert set(m.sum_fit) == {"A", "B"}
    only_b = px.fit_map(scan16, detector="B", sum_fits={"B": m.sum_fit["B"]})
    np.testing.assert_array_equal(only_b.point_areas["Fe"], px.fit_map(scan16, detector="B").point_areas["Fe"])
    # alone, B's points take B's own Kβ share of Mg/Al/Si; beside A, the two detectors' common share
    # (tests/fit/test_plan.py): Fe, far from those lines, barely notices
    np.testing.assert_allclose(only_b.point_areas["Fe"], b.point_areas["Fe"], rtol=1e-4)
    with pytest.raises(SpectrumError, match="no detector"):
        px.fit_map(scan16, detector="C")


def _scan_file(tmp_path: Path, scan, name="scan.h5", **kw) -> Path:
    path = tmp_path / name
    write_scan(scan, path, **kw)
    return path


def test_bad_points_are_flagged_not_fitted(tmp_path, scan16):
    path = _scan_file(tmp_path, scan16, compression="none")
    with h5py.File(path, "r+") as f:
        a = f["entry/instrument/detector_A/spectra"][()].astype(np.float64)
        a[5, 100] = np.nan
        a[9, 200] = -3.0
        del f["entry/instrument/detector_A/spectra"]
        del f["entry/data/spectra"]
        f["entry/instrument/detector_A/spectra"] = a
        lt = f["entry/instrument/detector_B/live_time_s"]
        lt[17] = 0.0
    maps = px.fit_map(path)
    bad = {5, 9, 17}
    assert set(np.flatnonzero(~maps.valid)) == bad
    for i in bad:
        assert np.isnan(maps.point_areas["Fe"][i]) and np.isnan(maps.chi2_reduced_points[i])
    good = np.setdiff1d(np.arange(256), list(bad))
    assert np.all(np.isfinite(maps.point_areas["Fe"][good]))
    # the bad points are left out of the sum spectrum too
    assert maps.sum_fit["A"].spectrum.metadata["n_summed"] == 254
    assert np.isnan(maps.areas["Fe"].ravel()[5])


def test_channel_count_must_match_instrument(scan16):
    half = px.Scan({"A": scan16.raw_counts("A")[:, :2048]}, {"A": scan16.live_time_s["A"]},
                   positions_mm=scan16.positions_mm, instrument=scan16.instrument)
    with pytest.raises(SpectrumError, match="2048 channels"):
        px.fit_map(half)


def test_truncated_file_is_reported(tmp_path, scan16):
    path = _scan_file(tmp_path, scan16)
    data = path.read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 3])
    with pytest.raises(px.PixlspecError):
        px.fit_map(tmp_path / "cut.h5")


# --- the real Mars scan -------------------------------------------------------------------------
EXAMPLE = ROOT / "example_data" / "sol0125_naltsos.h5"


@pytest.mark.real
def test_real_mars_line_scan(real_data):
    if not EXAMPLE.exists():
        pytest.skip(f"{EXAMPLE} not present")
    maps = px.fit_map(EXAMPLE, instrument=px.Instrument.pixl())
    assert maps.n_points == 121 and maps.valid.all()
    assert maps.grid.kind == "line"
    assert np.ptp(maps.grid.x) == pytest.approx(30.2, abs=0.3)  # a 30 mm traverse
    chi2 = maps.chi2_reduced_points
    assert np.all(np.isfinite(chi2)) and 0.3 < np.median(chi2) < 3.0
    for el in ("Si", "Fe", "Ca", "S", "Cl"):
        assert np.all(maps.point_areas[el] > 0), el
    # the fitted calibration puts Si, Ca and Fe K-alpha where the sum spectrum's peaks are
    with px.open_scan(EXAMPLE) as scan:
        for det in ("A", "B"):
            fit = maps.sum_fit[det]
            s = scan.sum_spectrum(det)
            for line_eV in (1740.0, 3691.0, 6400.0):
                ch0 = int(round(s.channel_of(line_eV + 20)))
                lo, hi = ch0 - 12, ch0 + 13
                peak = lo + int(np.argmax(s.counts[lo:hi]))
                w = np.arange(peak - 4, peak + 5)
                centroid = float((w * s.counts[w]).sum() / s.counts[w].sum())
                p = fit.params
                e_fit = p.offset_eV + p.gain_eV_per_channel * centroid + p.quadratic_eV * centroid ** 2
                assert abs(e_fit - line_eV) < 10.0, (det, line_eV, e_fit)


def test_reduced_chi2_near_one_at_low_counts():
    """A correct model gives χ²ᵣ ≈ 1 however few counts the channels hold: 2,000 counts per spectrum
    leave most fitted channels below the 0.1-count variance floor, where a channel adds μ/0.1 to the
    χ² on average; counted as whole channels the χ²ᵣ of a perfect model would be far below 1."""
    scan = simulate_scan(basalt_maps(256, 2e3, seed=31), shape=(16, 16), detectors=["A"], seed=32)
    m = px.fit_map(scan)
    assert 0.9 < np.median(m.chi2_reduced_points) < 1.1
    fit = px.fit_spectrum(scan.spectrum(0, "A"))
    assert np.mean(fit.model < 0.1) > 0.3  # a third of the fitted channels below the variance floor
    assert fit.dof < 0.8 * fit.counts.size
    assert 0.7 < fit.chi2_reduced < 1.3


def test_fit_map_on_arrays_recovers_a_known_ratio(basalt_spectrum):
    """Two kinds of points (Fe-rich and Fe-poor): the map's Fe areas follow the known 2:1 ratio of counts."""
    s = basalt_spectrum
    rng = np.random.default_rng(0)
    base = np.asarray(s.counts) / 20.0
    cube = np.empty((4, 5, base.size))
    for iy in range(4):
        for ix in range(5):
            cube[iy, ix] = rng.poisson(base * (2.0 if ix < 2 else 1.0))
    maps = px.fit_map(cube, energy_offset_eV=s.offset_eV, energy_gain_eV=s.gain_eV_per_channel)
    assert maps.areas["Fe"].shape == (4, 5)
    fe = maps.areas["Fe"]
    ratio = fe[:, :2].mean() / fe[:, 2:].mean()
    assert ratio == pytest.approx(2.0, rel=0.05)
    line = px.fit_map(cube.reshape(20, -1), energy_offset_eV=s.offset_eV, energy_gain_eV=s.gain_eV_per_channel)
    assert line.n_points == 20


@pytest.mark.parametrize("bad", [{"A": 1}, 3.0, np.ones(10), np.ones((1, 2, 3, 4)), [["x"]]])
def test_fit_map_rejects_what_is_not_a_scan(bad):
    with pytest.raises(px.PixlspecError):
        px.fit_map(bad)
