"""Spectrum and Scan containers (pixlspec.spectrum): energy axis, derived spectra, validation, plain arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import pixlspec as px
from pixlspec.spectrum import as_scan

from tests.helpers.fit import DET


# --- Spectrum -------------------------------------------------------------------------------------
def _spec(n=4096, offset=-18.5, gain=7.862, live=10.0, det="A", seed=0):
    rng = np.random.default_rng(seed)
    return px.Spectrum(rng.poisson(50, n).astype(float), offset, gain, live, detector=det)


def test_spectrum_energy_axis_and_crop():
    s = _spec()
    assert s.energy_eV[0] == pytest.approx(-18.5)
    assert s.channel_of(s.energy_at(1000.0)) == pytest.approx(1000.0)
    c = s.crop(1000.0, 2000.0)
    assert c.energy_eV[0] >= 1000.0 and c.energy_eV[-1] <= 2000.0
    np.testing.assert_allclose(c.energy_eV, s.energy_eV[(s.energy_eV >= 1000) & (s.energy_eV <= 2000)])
    q = s.replace(quadratic_eV=1e-5)
    assert q.channel_of(q.energy_at(2500.0)) == pytest.approx(2500.0)


def test_spectrum_is_read_only_and_copies_input():
    counts = np.ones(100)
    s = px.Spectrum(counts, 0.0, 10.0, 1.0)
    counts[0] = 5
    assert s.counts[0] == 1
    with pytest.raises(ValueError):
        s.counts[0] = 3


def test_sum_and_combine():
    a = _spec(det="A", seed=1)
    b = _spec(det="B", seed=2, offset=-13.2, gain=7.9273)
    total = px.Spectrum.sum([a, a])
    np.testing.assert_array_equal(total.counts, 2 * a.counts)
    assert total.live_time_s == pytest.approx(20.0)
    ab = a.combine(b)
    assert ab.detector == "A+B"
    # B counts beyond the top of A's energy axis fall off the combined spectrum
    inside = b.energy_edges_eV()[1:] <= a.energy_edges_eV()[-1]
    assert ab.total_counts == pytest.approx(a.total_counts + b.counts[inside].sum(), abs=60)
    assert ab.live_time_s == pytest.approx(10.0)


@settings(max_examples=50, deadline=None)
@given(offset=st.floats(-50, 50), gain=st.floats(5, 12), seed=st.integers(0, 1000))
def test_rebin_conserves_counts(offset, gain, seed):
    s = _spec(n=512, seed=seed)
    r = s.rebin_to(offset, gain, 600)
    lo, hi = s.energy_edges_eV()[[0, -1]]
    new_edges = r.energy_edges_eV()
    if new_edges[0] <= lo and new_edges[-1] >= hi:
        assert r.total_counts == pytest.approx(s.total_counts, rel=1e-10)
    assert np.all(r.counts >= 0)


@pytest.mark.parametrize("kwargs,match", [
    ({"counts": [1.0, -1.0, 2.0]}, "negative"),
    ({"counts": [1.0, np.inf, 2.0]}, "non-finite"),
    ({"live_time_s": 0.0}, "live time"),
    ({"gain_eV_per_channel": -1.0}, "gain"),
    ({"counts": [1.0]}, "1-D array"),
])
def test_spectrum_validation(kwargs, match):
    args = {"counts": [1.0, 2.0, 3.0], "offset_eV": 0.0, "gain_eV_per_channel": 10.0, "live_time_s": 1.0}
    args.update(kwargs)
    with pytest.raises(px.SpectrumError, match=match):
        px.Spectrum(**args)


# --- Scan -----------------------------------------------------------------------------------------------
def test_scan_in_memory():
    rng = np.random.default_rng(0)
    counts = {"A": rng.poisson(5, (20, 256)), "B": rng.poisson(5, (20, 256))}
    scan = px.Scan(counts, {"A": np.full(20, 10.0), "B": 10.0},
                   positions_mm=np.column_stack([np.arange(20), np.zeros(20), np.zeros(20)]),
                   calibration={"A": (-10.0, 20.0), "B": (-12.0, 20.1)})
    assert scan.n_points == 20 and scan.n_channels == 256 and not scan.is_lazy
    sp = scan.spectrum(3, "B")
    np.testing.assert_array_equal(sp.counts, counts["B"][3])
    assert sp.offset_eV == -12.0 and sp.position_mm == (3.0, 0.0, 0.0)
    total = scan.sum_spectrum("A", chunk_points=7)
    np.testing.assert_array_equal(total.counts, counts["A"].sum(axis=0))
    assert total.live_time_s == pytest.approx(200.0)
    np.testing.assert_array_equal(scan.counts("A", [5, 1]), counts["A"][[5, 1]])
    chunks = list(scan.iter_chunks("A", chunk_points=8))
    assert [c[:2] for c in chunks] == [(0, 8), (8, 16), (16, 20)]
    with pytest.raises(px.SpectrumError, match="no detector"):
        scan.counts("C")


def test_scan_geometry_factor_and_its_sum():
    """##GEOMETRY per point: missing, NaN and 0 (PIQUANT's "no correction") read as 1; a sum spectrum
    carries the live-time mean, as its counts add up as live time x factor."""
    counts = {"A": np.ones((4, 16))}
    live = np.array([10.0, 20.0, 30.0, 40.0])
    plain = px.Scan(counts, {"A": live})
    assert plain.geometry_factor is None
    assert plain.sum_spectrum("A").geometry_factor == 1.0
    scan = px.Scan(counts, {"A": live}, point_metadata={"geometry": np.array([0.9, np.nan, 0.0, 1.2])})
    np.testing.assert_allclose(scan.geometry_factor, [0.9, 1.0, 1.0, 1.2])
    expected = (0.9 * 10 + 1.0 * 20 + 1.0 * 30 + 1.2 * 40) / 100.0
    assert scan.sum_spectrum("A").geometry_factor == pytest.approx(expected)
    assert scan.sum_spectrum("A", points=[0, 3]).geometry_factor == pytest.approx((0.9 * 10 + 1.2 * 40) / 50)
    one = px.Spectrum(counts=np.ones(8), offset_eV=0.0, gain_eV_per_channel=10.0, live_time_s=1.0,
                      metadata={"geometry": 0.97})
    assert one.geometry_factor == 0.97


def test_scan_validation():
    with pytest.raises(px.SpectrumError, match="shape"):
        px.Scan({"A": np.ones((4, 10)), "B": np.ones((5, 10))}, {"A": 1.0, "B": 1.0})
    with pytest.raises(px.SpectrumError, match="live_time_s"):
        px.Scan({"A": np.ones((4, 10))}, {"A": np.ones(3)})
    with pytest.raises(px.SpectrumError, match="non-finite|negative"):
        px.Scan({"A": np.full((4, 10), -1.0)}, {"A": 1.0})


def test_as_scan_checks_live_time_and_step():
    with pytest.raises(px.SpectrumError, match="live_time_s"):
        as_scan(np.ones((3, 50)), live_time_s=[1.0, 2.0])
    with pytest.raises(px.SpectrumError, match="live_time_s"):
        as_scan(np.ones((3, 50)), live_time_s=-1.0)
    with pytest.raises(px.SpectrumError, match="live_time_s"):
        as_scan(np.ones((3, 50)), live_time_s=1e-300)
    with pytest.raises(px.SpectrumError, match="no point"):
        as_scan(np.zeros((0, 50)))
    with pytest.raises(px.SpectrumError, match="step_mm"):
        as_scan(np.ones((2, 2, 50)), step_mm=0.0)
    scan = as_scan(np.ones((2, 3, 50)), step_mm=0.5)
    assert scan.n_points == 6
    assert np.allclose(scan.positions_mm[:, 0], [0, 0.5, 1.0, 0, 0.5, 1.0])


@pytest.mark.parametrize("field,value", [("live_time_s", 1e23), ("live_time_s", -1.0), ("live_time_s", 0.0),
                                         ("live_time_s", 1e-300),
                                         ("live_time_s", math.nan), ("gain_eV_per_channel", 1e308),
                                         ("gain_eV_per_channel", math.nan), ("offset_eV", math.inf),
                                         ("real_time_s", -2.0), ("quadratic_eV", -1.0)])
def test_spectrum_refuses_unphysical_values(field, value):
    import pixlspec as px
    from pixlspec.errors import SpectrumError

    kw = dict(counts=np.ones(4096), offset_eV=-18.5, gain_eV_per_channel=7.862, live_time_s=10.0)
    kw[field] = value
    with pytest.raises(SpectrumError, match=field.split("_")[0] if field != "quadratic_eV" else "quadratic"):
        px.Spectrum(**kw)


@pytest.mark.parametrize("live", [1e23, -1.0, math.nan, math.inf, 1e-300])
def test_scan_refuses_unphysical_live_times(live):
    import pixlspec as px
    from pixlspec.errors import SpectrumError

    lt = np.full(4, 10.0)
    lt[2] = live
    with pytest.raises(SpectrumError, match="point 2"):
        px.Scan({"A": np.ones((4, 64))}, {"A": lt}, calibration={"A": (0.0, 10.0)})


@pytest.mark.parametrize("ids, fragment", [([5, 6, 5, 7], "5 names points 0, 2"),
                                          ([0.0, 1.0, np.nan, 3.0], "point 2 is nan")])
def test_scan_refuses_point_ids_that_do_not_name_one_point(ids, fragment):
    from pixlspec.errors import SpectrumError

    with pytest.raises(SpectrumError, match=fragment):
        px.Scan({"A": np.ones((4, 64))}, {"A": np.full(4, 10.0)}, calibration={"A": (0.0, 10.0)}, point_ids=ids)


def test_nan_counts_rejected():
    c = np.ones(4096)
    c[100] = np.nan
    with pytest.raises(px.SpectrumError, match="non-finite"):
        px.Spectrum(c, DET.offset_eV, DET.gain_eV_per_channel, 10.0)


def test_negative_energy_calibration_rejected():
    with pytest.raises(px.SpectrumError, match="energies <= 0"):
        px.Spectrum(np.ones(4096), -50000.0, 7.9, 10.0)
