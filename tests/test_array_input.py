"""Plain numpy arrays into the fits, clear errors for anything else, and plotting without side effects."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pixlspec as px
from pixlspec.spectrum import as_scan, as_spectrum

BASALT = {"SiO2": 49.9, "Al2O3": 13.5, "FeO": 11.1, "MgO": 7.2, "CaO": 11.4, "Na2O": 2.2, "K2O": 0.5,
          "TiO2": 2.7}


@pytest.fixture(scope="module")
def basalt_spectrum():
    return px.simulate_spectrum(composition=BASALT, seed=3)


def test_fit_spectrum_array_equals_spectrum(basalt_spectrum):
    s = basalt_spectrum
    from_array = px.fit_spectrum(np.asarray(s.counts), energy_offset_eV=s.offset_eV,
                                 energy_gain_eV=s.gain_eV_per_channel, live_time_s=s.live_time_s)
    from_spectrum = px.fit_spectrum(s)
    for el in ("Si", "Ca", "Fe", "Ti"):
        assert from_array.areas[el] == pytest.approx(from_spectrum.areas[el], rel=1e-9)


def test_array_calibration_defaults_to_the_instrument():
    inst = px.Instrument.pixl()
    s = as_spectrum(np.ones(inst.detectors[0].n_channels or 4096))
    assert s.offset_eV == inst.detectors[0].offset_eV
    assert s.gain_eV_per_channel == inst.detectors[0].gain_eV_per_channel
    assert as_spectrum(np.ones(100), energy_gain_eV=10.0).gain_eV_per_channel == 10.0


@pytest.mark.parametrize("bad", ["counts.msa", {"A": 1}, 3.0, None, np.ones((2, 2, 2)),
                                 [[1, 2], [3]], np.array(["a", "b"]), np.array([1.0, np.nan, 2.0]),
                                 np.array([1.0, -1.0, 2.0])])
def test_fit_spectrum_rejects_what_is_not_a_spectrum(bad):
    with pytest.raises(px.PixlspecError):
        px.fit_spectrum(bad)


def test_keywords_with_a_spectrum_are_refused(basalt_spectrum):
    with pytest.raises(px.SpectrumError, match="counts array"):
        px.fit_spectrum(basalt_spectrum, energy_gain_eV=8.0)


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


def test_as_scan_checks_live_time_and_step():
    with pytest.raises(px.SpectrumError, match="live_time_s"):
        as_scan(np.ones((3, 50)), live_time_s=[1.0, 2.0])
    with pytest.raises(px.SpectrumError, match="live_time_s"):
        as_scan(np.ones((3, 50)), live_time_s=-1.0)
    with pytest.raises(px.SpectrumError, match="step_mm"):
        as_scan(np.ones((2, 2, 50)), step_mm=0.0)
    scan = as_scan(np.ones((2, 3, 50)), step_mm=0.5)
    assert scan.n_points == 6
    assert np.allclose(scan.positions_mm[:, 0], [0, 0.5, 1.0, 0, 0.5, 1.0])


def test_library_never_selects_a_matplotlib_backend():
    root = Path(px.__file__).resolve().parent
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if re.search(r"matplotlib\.use\(|pyplot\.switch_backend\(|plt\.switch_backend\(", p.read_text())]
    assert offenders == []


def test_plotting_keeps_the_callers_backend(tmp_path):
    """In a fresh process with a non-Agg backend chosen by the caller, a figure leaves it in place."""
    code = ("import matplotlib; matplotlib.use('svg')\n"
            "import pixlspec as px\n"
            "s = px.simulate_spectrum(composition={'SiO2': 50, 'FeO': 10, 'CaO': 10}, seed=1)\n"
            "fig = px.fit_spectrum(s, elements=['Si', 'Ca', 'Fe']).plot()\n"
            f"fig.savefig({str(tmp_path / 'fit.svg')!r})\n"
            "print(matplotlib.get_backend())\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("svg")
    assert (tmp_path / "fit.svg").stat().st_size > 1000
