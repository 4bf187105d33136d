"""PyMca .cfg import: configurations written by PyMca's own ConfigDict, read into FitConfig + Instrument."""
from __future__ import annotations

import math

import pytest

import pixlspec as px
from pixlspec.errors import ConfigError, FormatError
from pixlspec.io.pymca_cfg import pymca_fwhm_eV, read_pymca_cfg

ConfigDict = pytest.importorskip("PyMca5.PyMcaIO.ConfigDict")
PyMcaDataDir = pytest.importorskip("PyMca5.PyMcaDataDir")


def pixl_like_cfg(path, **changes):
    """Start from PyMca's shipped default fit configuration and set PIXL-like values, then write it with
    PyMca's ConfigDict (the file PyMca itself would save)."""
    c = ConfigDict.ConfigDict()
    c.read(str(PyMcaDataDir.PYMCA_DATA_DIR) + "/McaTheory.cfg")
    c["peaks"] = {"Na": "K", "Si": "K", "Ca": ["Ka", "Kb"], "Fe": "K", "Sr": "K", "Pb": ["L1", "L2", "L3"]}
    c["detector"].update({"zero": -0.0185, "gain": 0.007862, "noise": 0.1, "fano": 0.114, "detele": "Si",
                          "sum": 0.0})
    c["fit"].update({"xmin": 120, "xmax": 3400, "use_limit": 1, "stripflag": 1, "escapeflag": 1, "sumflag": 0,
                     "scatterflag": 1, "hypermetflag": 3, "fitweight": 1})
    att = c["attenuators"]
    att["Detector"] = [1, "Si1", 2.33, 0.05, 1.0]
    att["window"] = [1, "Be1", 1.848, 0.0017, 1.0]
    att["deadlayer"] = [1, "Si1", 2.33, 1e-5, 1.0]
    att["atmosphere"] = [1, "Air", 0.0012048, 3.3, 1.0]
    att["Matrix"] = [0, "-", 0.0, 0.0, 90.0, 70.0, 0, 160.0]
    att["BeamFilter0"] = [1, "Al1", 2.72, 0.0025, 1.0]
    c.setdefault("tube", {}).update({"anode": "Rh", "voltage": 28.0, "windowthickness": 0.01524, "alphae": 60.0, "alphax": 30.0,
                      "transmission": 0})
    c.setdefault("concentrations", {}).update({"area": 0.3, "distance": 3.0})
    for sec, vals in changes.items():
        c.setdefault(sec, {}).update(vals)
    c.write(str(path))
    return path


def test_real_pymca_config_maps_onto_fit_config_and_instrument(tmp_path):
    p = pixl_like_cfg(tmp_path / "pixl.cfg")
    s = read_pymca_cfg(p)
    cfg, inst = s.config, s.instrument
    assert sorted(cfg.elements) == sorted(("Na", "Si", "Ca", "Fe", "Sr", "Pb_L"))
    # fit range: PyMca's channel limits through its calibration E = zero + gain·ch (keV)
    assert cfg.min_energy_eV == pytest.approx((-0.0185 + 0.007862 * 120) * 1000)
    assert cfg.max_energy_eV == pytest.approx((-0.0185 + 0.007862 * 3400) * 1000)
    assert cfg.background == "snip" and cfg.escape and not cfg.pileup and cfg.scatter
    assert cfg.refine_tails                       # hypermet flag 3 = Gaussian + short tail
    for d in inst.detectors:
        assert d.offset_eV == pytest.approx(-18.5) and d.gain_eV_per_channel == pytest.approx(7.862)
        assert d.si_thickness_um == pytest.approx(500.0) and d.window_Be_um == pytest.approx(17.0)
        assert d.dead_layer_um == pytest.approx(0.1)
        assert d.elevation_deg == pytest.approx(70.0) and d.fano == pytest.approx(0.114)
        assert d.solid_angle_sr == pytest.approx(0.3 / 9.0)
        # PyMca: FWHM² = noise² + 2.3548² · 3.85 eV · F · E; at Mn Kα (5898.75 eV) with 100 eV noise:
        assert d.fwhm_MnKa_eV == pytest.approx(math.sqrt(100.0 ** 2 + 2.3548 ** 2 * 3.85 * 0.114 * 5898.75),
                                               rel=1e-4)
    assert inst.atmosphere == "Air" and inst.path_out_cm == pytest.approx(3.3)
    assert inst.incidence_deg == pytest.approx(90.0)
    assert inst.tube.anode == "Rh" and inst.tube.voltage_kV == 28.0
    assert inst.tube.window_Be_um == pytest.approx(152.4) and inst.tube.takeoff_deg == pytest.approx(30.0)
    # what pixlspec cannot represent is reported, not dropped silently
    assert "[attenuators] BeamFilter0" in s.not_mapped
    assert "[fit] fitweight" in s.not_mapped
    assert "[peaks] Pb = L1, L2, L3" in s.mapped
    assert "not mapped" in s.report()
    # the classmethod gives the same fit settings
    assert px.FitConfig.from_pymca(p) == cfg


def test_resolution_formula_matches_pymca_default_detector():
    """PyMca's shipped Steel.cfg: noise 0.127439 keV, Fano 0.101156 -> FWHM at Mn Kα by its own formula."""
    c = ConfigDict.ConfigDict()
    c.read(str(PyMcaDataDir.PYMCA_DATA_DIR) + "/Steel.cfg")
    noise, fano = c["detector"]["noise"], c["detector"]["fano"]
    expect_keV = math.sqrt(noise ** 2 + 0.00385 * fano * 2.3548 ** 2 * 5.89875)
    assert pymca_fwhm_eV(noise, fano) == pytest.approx(1000 * expect_keV, rel=1e-4)
    s = read_pymca_cfg(str(PyMcaDataDir.PYMCA_DATA_DIR) + "/Steel.cfg")
    assert s.instrument.detectors[0].fwhm_MnKa_eV == pytest.approx(1000 * expect_keV, rel=1e-4)
    assert s.config.elements and "W_L" in s.config.elements and "Pb_M" in s.config.elements


def test_fit_with_imported_config_runs(tmp_path):
    """The imported FitConfig and Instrument drive a real fit of a simulated spectrum."""
    p = pixl_like_cfg(tmp_path / "pixl.cfg", peaks={})
    c = ConfigDict.ConfigDict()
    c.read(str(p))
    c["peaks"] = {"Ca": "K", "Fe": "K", "Si": "K"}
    c["tube"]["anode"] = "Rh"
    c.write(str(p))
    s = read_pymca_cfg(p)
    spec = px.simulate_spectrum({"Si": 2e5, "Ca": 1e5, "Fe": 3e5}, instrument=s.instrument,
                                live_time_s=60.0, seed=1)
    fit = px.fit_spectrum(spec, config=s.config, instrument=s.instrument)
    assert set(fit.elements) >= {"Ca", "Fe", "Si"}
    assert fit.areas["Fe"] == pytest.approx(3e5, rel=0.05)


@pytest.mark.parametrize("text, err, match", [
    ("this is not an ini file\n", FormatError, "INI"),
    ("[other]\na = 1\n", FormatError, "no \\[fit\\]"),
    ("[detector]\nzero = 0.0\ngain = -0.01\n", ConfigError, "gain"),
    ("[detector]\nzero = abc\ngain = 0.01\n", ConfigError, "zero"),
])
def test_bad_pymca_files(tmp_path, text, err, match):
    p = tmp_path / "bad.cfg"
    p.write_text(text)
    with pytest.raises(err, match=match) as e:
        read_pymca_cfg(p)
    assert str(p) in str(e.value)
