"""The Instrument container (pixlspec.instrument): defaults, round trips, bad input."""

from __future__ import annotations

import dataclasses
import math

import pytest

import pixlspec as px


# --- Instrument ----------------------------------------------------------------------------------
def test_pixl_default_instrument():
    inst = px.Instrument.pixl()
    assert inst.tube.anode == "Rh" and inst.tube.voltage_kV == 28.0
    assert inst.detector_names == ("A", "B")
    assert inst.detector("B").gain_eV_per_channel == pytest.approx(7.881)
    assert inst.scattering_angle_deg["A"] == pytest.approx(160.0)
    assert 90 < inst.detector("A").noise_eV < 130  # 170 eV at Mn Kα with F = 0.114
    assert "PIXL" in str(inst)


@pytest.mark.parametrize("fmt", ["json", "toml"])
def test_instrument_round_trip(tmp_path, fmt):
    inst = px.Instrument.pixl().with_detector("B", offset_eV=-20.5, gain_eV_per_channel=7.9)
    inst = dataclasses.replace(inst, optic=px.Optic("table", (1.0, 10.0, 20.0), (0.2, 1.0, 0.5)),
                               gas_pressure_Pa=700.0)
    path = tmp_path / f"inst.{fmt}"
    inst.save(path)
    assert px.Instrument.load(path) == inst
    text = inst.to_json() if fmt == "json" else inst.to_toml()
    back = px.Instrument.from_json(text) if fmt == "json" else px.Instrument.from_toml(text)
    assert back == inst


def test_builtin_optic_stored_by_name_alone_is_the_builtin_optic():
    """Scan files and instrument descriptions written before the built-in optic tables stored PIQUANT's
    optic 8 by name alone; read back, it is optic 8 with its table (not "no optic", response 1). The shipped
    sol-125 scan is such a file: quantified with its own instrument it gives what the FM configuration gives."""
    d = px.Instrument.pixl().to_dict()
    d["optic"] = {"name": "PIQUANT optic 8 (FM, Apr 2021)", "energies_keV": [], "transmission": []}
    inst = px.Instrument.from_dict(d)
    assert inst.optic == px.Optic.piquant(8) and inst == px.Instrument.pixl()
    d["optic"] = {"name": "PIQUANT optic 7 (FM (old))"}
    assert px.Instrument.from_dict(d).optic == px.Optic.piquant(7)
    # any other name is the user's: taken as written, and it round-trips
    for other in ({"name": "none"}, {"name": "PIQUANT optic 5 (2017 breadboard)"}, {"name": "PIQUANT optic 8"},
                  {"name": "PIQUANT optic 8 (deliberately none)"}):
        d["optic"] = other
        back = px.Instrument.from_dict(d)
        assert back.optic == px.Optic(**other) and px.Instrument.from_json(back.to_json()) == back


def test_example_scan_quantified_with_its_own_instrument():
    import numpy as np

    from tests.helpers.paths import ROOT

    example_data = ROOT / "example_data"
    with px.open_scan(example_data / "sol0125_naltsos.h5") as scan:
        assert scan.instrument.optic == px.Optic.piquant(8)
        spec = scan.sum_spectrum("A")
        fm = px.Instrument.from_piquant_config(example_data / "pixl_fm_config"
                                               / "Config_PIXL_FM_SurfaceOps_Rev2_Sept2021.msa")
        fit = px.fit_spectrum(spec, instrument=fm)
        own = px.quantify(fit, scan.instrument)
    config = px.quantify(fit, fm)
    assert own.total == pytest.approx(config.total, rel=1e-6)
    assert 100.0 < own.total < 150.0 and np.isfinite(own.total)


def test_instrument_bad_input(tmp_path):
    with pytest.raises(px.ConfigError, match="unknown keys"):
        px.Instrument.from_dict({"tube": {"voltage": 28}})
    with pytest.raises(px.ConfigError, match="atmosphere"):
        px.Instrument(atmosphere="Venus")
    with pytest.raises(px.ConfigError, match="gain"):
        px.Detector(gain_eV_per_channel=0.0)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(px.ConfigError, match="bad.json"):
        px.Instrument.load(bad)
    with pytest.raises(px.ConfigError, match="no detector"):
        px.Instrument.pixl().detector("C")


@pytest.mark.parametrize("change,field", [({"tube": {"window_Be_um": 1e9}}, "tube.window_Be_um"),
                                          ({"tube": {"voltage_kV": math.nan}}, "tube.voltage_kV"),
                                          ({"tube": {"current_uA": math.inf}}, "tube.current_uA"),
                                          ({"incidence_deg": 1e300}, "incidence_deg"),
                                          ({"path_in_cm": -1}, "path_in_cm"),
                                          ({"detectors": [{"name": "A", "fwhm_MnKa_eV": 1e12}]},
                                           "detectors[A].fwhm_MnKa_eV"),
                                          ({"detectors": [{"name": "A", "gain_eV_per_channel": 1e308}]},
                                           "detectors[A].gain_eV_per_channel"),
                                          ({"detectors": [{"name": "A", "n_channels": math.nan}]},
                                           "detectors[A].n_channels")])
def test_instrument_fields_out_of_range_name_the_field(tmp_path, change, field):
    import json

    import pixlspec as px
    from pixlspec.errors import ConfigError

    d = px.Instrument.pixl().to_dict()
    for k, v in change.items():
        if k == "detectors":
            d["detectors"] = [{**d["detectors"][0], **v[0]}]
        elif isinstance(v, dict):
            d[k].update(v)
        else:
            d[k] = v
    p = tmp_path / "inst.json"
    p.write_text(json.dumps(d))
    with pytest.raises(ConfigError) as e:
        px.Instrument.load(p)
    assert e.value.where == field and e.value.path == str(p)
