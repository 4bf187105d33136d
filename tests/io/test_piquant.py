"""PIQUANT configuration and optic files (pixlspec.io.piquant)."""

from __future__ import annotations

import dataclasses
import math
import warnings

import pytest

import pixlspec as px
from pixlspec.errors import ConfigError, MSAFormatError, PixlspecError
from pixlspec.instrument import Instrument
from pixlspec.io.piquant import read_optic_file, read_piquant_config

from tests.helpers.paths import FM_CONFIG
from tests.helpers.seeds import MADE_CONFIG


CONFIG_LINES = [
    "#FORMAT      : EMSA/MAS spectral data file",
    "#VERSION     : TC202v2.0 PIXL",
    "#TITLE       : Test config",
    "#OWNER       : Lab bench        (comment)",
    "#NPOINTS     : 0    This should be zero for configuration only files",
    "#NCOLUMNS    : 1    This must match",
    "#XUNITS      : eV",
    "#DATATYPE    : YY     (This would be YY for two",
    "#XPERCHAN    : 7.9, 8.0 eV per channel",
    "#OFFSET      : -10,-20\teV of first channel",
    "##DL_SLOPE   : -3.499",
    "##DL_OFFSET  : 11.201",
    "##MINIMUM_EN : 700\tminimum energy in eV",
    "##ANODE      : 42     Atomic number of anode",
    "#BEAMKV      : 25.00  X-ray tube voltage in kilovolts",
    "##TUBEINCANG : 80.00  angle",
    "##TUBETAKEOF : -90.0  (negative for transmission anode)",
    "##TUBEWINDOW : 0.1504  X-ray tube Be window thickness in mm",
    "#EMISSION    : 0     X-ray tube emission current in microamps",
    "##OPTICFILE  : 0",
    "##INCSR      : 0.002",
    "##INCANGLE   : 80.00",
    "#ELEVANGLE   : 60.00",
    "#AZIMANGLE   : 170.0",
    "##GEOMETRY   : 0",
    "#SOLIDANGLE  : 0",
    "#TBEWIND     : 0.0008  cm",
    "#TACTLYR     : 0.045    cm",
    "##DETRES     : 140   eV",
    "##ATMOSPHERE : He      Atmosphere",
    "#LIVETIME    : 1   true live time",
]


def write(tmp_path, lines, name="cfg.msa", eol="\r\n"):
    p = tmp_path / name
    p.write_bytes(eol.join(lines).encode())
    return p


def test_config_keyword_mapping(tmp_path):
    inst = read_piquant_config(write(tmp_path, CONFIG_LINES))
    t = inst.tube
    assert (t.anode, t.voltage_kV, t.current_uA) == ("Mo", 25.0, 20.0)        # EMISSION 0 -> 20 µA
    assert (t.electron_incidence_deg, t.takeoff_deg, t.window_Be_um) == (80.0, -90.0, 150.4)
    assert t.is_transmission
    assert inst.optic.name == "none" and inst.optic.energies_keV == ()
    assert (inst.source_solid_angle_sr, inst.incidence_deg, inst.geometry_factor) == (0.002, 80.0, 1.0)
    assert inst.atmosphere == "He" and (inst.path_in_cm, inst.path_out_cm) == (2.0, 3.2)   # He default paths
    assert inst.min_energy_eV == 700.0
    assert (inst.energy_correction_slope, inst.energy_correction_offset_eV) == (-3.499, 11.201)
    assert inst.detector_names == ("A", "B")                    # 2 values although NCOLUMNS is 1
    a, b = inst.detectors
    assert (a.gain_eV_per_channel, a.offset_eV, b.gain_eV_per_channel, b.offset_eV) == (7.9, -10.0, 8.0, -20.0)
    for d in inst.detectors:
        assert (d.elevation_deg, d.azimuth_deg, d.fwhm_MnKa_eV) == (60.0, 170.0, 140.0)
        assert (d.window_Be_um, d.si_thickness_um) == (8.0, 450.0)
        assert d.solid_angle_sr == 4 * math.pi                 # 0 -> 4π
    assert inst.name == "Lab bench: Test config"


def test_config_single_value_and_kev(tmp_path):
    lines = [x for x in CONFIG_LINES if not x.startswith(("#XPERCHAN", "#OFFSET", "#XUNITS"))]
    lines += ["#XUNITS : keV", "#XPERCHAN : 0.00797442 keV", "#OFFSET : -0.0177161"]
    inst = read_piquant_config(write(tmp_path, lines))
    assert inst.detector_names == ("A",)
    assert (inst.detectors[0].gain_eV_per_channel, inst.detectors[0].offset_eV) == (7.97442, -17.7161)


@pytest.mark.parametrize("line, key, fragment", [
    ("#BEAMKV : 500", "#BEAMKV", "voltage"),
    ("#BEAMKV : lots", "#BEAMKV", "number"),
    ("##ATMOSPHERE : Neptune", "##ATMOSPHERE", "atmosphere"),
    ("##ANODE : 200", "##ANODE", "out of range"),
    ("##ANODE : Xx", "##ANODE", "Xx"),
    ("##GEOMETRY : -1", "##GEOMETRY", "GEOMETRY"),
    ("##DETRES : -5", "##DETRES", "fwhm"),
    ("##OPTICFILE : missing_file.txt", "##OPTICFILE", "not found"),
    ("#XPERCHAN : 7.9, 8.0, 8.1", "#XPERCHAN", "one value per detector"),
    ("##INCSR : -1", "##INCSR", "INCSR: source_solid_angle_sr"),   # not #SOLIDANGLE, whose field name it holds
    ("#SOLIDANGLE : -1", "#SOLIDANGLE", "SOLIDANGLE: solid_angle_sr"),
    ("##PATHINCLEN : -5", "##PATHINCLEN", "PATHINCLEN"),
    ("##PATHEMGLEN : -5", "##PATHEMGLEN", "PATHEMGLEN"),
    ("##MINIMUM_EN : -10", "##MINIMUM_EN", "MINIMUM_EN"),
    ("##DL_SLOPE : 1e9", "##DL_SLOPE", "DL_SLOPE"),
    ("##DL_OFFSET : 1e9", "##DL_OFFSET", "DL_OFFSET"),
])
def test_config_bad_values_name_file_and_line(tmp_path, line, key, fragment):
    kw = line.split(":")[0].strip()
    lines = [x for x in CONFIG_LINES if not x.startswith(kw + " ")] + [line]
    if kw == "#XPERCHAN":
        lines = [x for x in CONFIG_LINES if not x.startswith("#XPERCHAN")] + [line]
    p = write(tmp_path, lines)
    with pytest.raises(PixlspecError) as e:
        read_piquant_config(p)
    assert isinstance(e.value, (ConfigError, MSAFormatError))
    expected = next(i + 1 for i, x in enumerate(lines) if x.startswith("#OFFSET")) if kw == "#XPERCHAN" else len(lines)
    assert e.value.where == expected, str(e.value)
    assert str(p) in str(e.value) and fragment.lower() in str(e.value).lower()


def test_config_not_msa(tmp_path):
    p = write(tmp_path, ["hello"])
    with pytest.raises(MSAFormatError):
        read_piquant_config(p)
    with pytest.raises(MSAFormatError, match="#VERSION"):
        read_piquant_config(write(tmp_path, ["#FORMAT : EMSA/MAS spectral data file"], "v.msa"))


def test_unsupported_features_warn(tmp_path):
    lines = CONFIG_LINES + ["##FILTERZ : 13", "##FILTERTH : 25", "##WINDOWTYPE : Al", "#EDSDET : CDBEW"]
    with pytest.warns(UserWarning) as rec:
        read_piquant_config(write(tmp_path, lines))
    text = " ".join(str(w.message) for w in rec)
    assert "filter" in text and "window" in text and "CDBEW" in text


def test_optic_file(tmp_path):
    p = tmp_path / "optic.txt"
    p.write_bytes(b"0\t0\r\n0.5\t0.25\r\n1.0\t1.5\r\n\r\n99 this is ignored")   # stops at the blank line
    o = read_optic_file(p)
    assert o.energies_keV == (0.0, 0.5, 1.0) and o.transmission == (0.0, 0.25, 1.5) and o.name == "optic.txt"
    p.write_bytes(b"0\t0\r\n0.5\t0.25\r\n1.0\t1.5")                              # no final newline
    assert len(read_optic_file(p).energies_keV) == 3
    for bad, line in ((b"0 0\n0.5 x\n", 2), (b"0 0\n0 1\n", 2), (b"0 0\n", 1), (b"0 0\n1 -1\n", 2)):
        p.write_bytes(bad)
        with pytest.raises(ConfigError) as e:
            read_optic_file(p)
        assert e.value.where == line
    p.write_bytes(b"0 0\n30 0\n")                     # passes nothing: no photon would reach the sample
    with pytest.raises(ConfigError, match="0 at every energy") as e:
        read_optic_file(p)
    assert str(p) in str(e.value)


def test_optic_file_resolved_by_basename(tmp_path):
    (tmp_path / "eff.txt").write_text("0 0\n1 0.5\n2 1\n")
    lines = [x for x in CONFIG_LINES if not x.startswith("##OPTICFILE")]
    lines.append("##OPTICFILE  : C:\\somewhere\\else\\eff.txt\t(5 for 2017 breadboard")
    inst = read_piquant_config(write(tmp_path, lines))
    assert inst.optic.name == "eff.txt" and inst.optic.transmission == (0.0, 0.5, 1.0)


# --------------------------------------------------------------------------- real files
def test_real_fm_rev2_equals_instrument_pixl(real_data):
    inst = read_piquant_config(real_data / "pixl_fm_config" / "Config_PIXL_FM_SurfaceOps_Rev2_Sept2021.msa")
    ref = Instrument.pixl()
    same = dataclasses.replace(inst, name=ref.name, optic=dataclasses.replace(inst.optic, name=ref.optic.name))
    for f in dataclasses.fields(Instrument):
        assert getattr(same, f.name) == getattr(ref, f.name), f.name
    assert same == ref
    assert inst.optic.name.startswith("PIQUANT optic 8")
    assert inst.name.startswith("PIXL FM")


def test_real_fm_rev1(real_data):
    inst = read_piquant_config(real_data / "pixl_fm_config" / "Config_PIXL_FM_SurfaceOps_Rev1_Jul2021.msa")
    assert inst.detector_names == ("A",)
    d = inst.detectors[0]
    assert (d.gain_eV_per_channel, d.offset_eV, d.fwhm_MnKa_eV) == (7.97442, -17.7161, 155.0)
    assert inst.tube.voltage_kV == 28.0 and inst.atmosphere == "Mars"


def test_real_breadboard(real_data):
    with warnings.catch_warnings():
        warnings.simplefilter("error")                         # nothing unsupported in it
        inst = read_piquant_config(real_data / "breadboard_glasses" / "Breadboard_Configuration_2019_01_14_2020.msa")
    t = inst.tube
    assert (t.anode, t.voltage_kV, t.current_uA) == ("Rh", 28.0, 230.0)
    assert (t.takeoff_deg, t.electron_incidence_deg) == (-90.0, 90.0)
    assert t.is_transmission and t.window_Be_um == 150.4
    assert inst.atmosphere == "He" and (inst.path_in_cm, inst.path_out_cm) == (2.0, 3.2)
    assert all(d.fwhm_MnKa_eV == 130.0 for d in inst.detectors)
    assert [(d.gain_eV_per_channel, d.offset_eV) for d in inst.detectors] == [(10.0, 0.0), (10.0, 0.0)]
    assert (inst.energy_correction_slope, inst.energy_correction_offset_eV) == (-3.499, 11.201)
    assert inst.min_energy_eV == 500.0 and inst.source_solid_angle_sr == 0.00129028
    assert inst.detectors[0].solid_angle_sr == 0.21842
    o = inst.optic
    assert o.name == "Efficiency_profile_BB_new_2019_01_14_2020.txt"
    assert len(o.energies_keV) == 281 and o.energies_keV[0] == 0.0 and o.energies_keV[-1] == 28.0903239
    assert o.transmission[-1] == 0.004406113


def test_piquant_config_huge_tube_window_names_the_line(tmp_path):
    import pixlspec as px
    from pixlspec.errors import ConfigError

    p = tmp_path / "cfg.msa"
    p.write_text(MADE_CONFIG.replace("##TUBEWINDOW : 0.1524", "##TUBEWINDOW : 1e30"))
    line = 1 + MADE_CONFIG.splitlines().index("##TUBEWINDOW : 0.1524")
    with pytest.raises(ConfigError, match="tube window") as e:
        px.read_piquant_config(p)
    assert e.value.where == line


def test_config_optic_code_gives_the_table_without_further_input(real_data):
    for name in (FM_CONFIG, "pixl_fm_config/Config_PIXL_FM_SurfaceOps_Rev1_Jul2021.msa"):
        inst = px.Instrument.from_piquant_config(real_data / name)
        assert inst.optic.energies_keV[:2] == (0.0, 4.0)
        assert inst.optic.transmission_at(6000.0) == pytest.approx(7.8)
    # the default instrument is the Rev2 flight model, optic 8 included
    assert px.Instrument.pixl().optic == px.Optic.piquant(8)
    # the optic survives the JSON round trip
    inst = px.Instrument.from_piquant_config(real_data / FM_CONFIG)
    assert px.Instrument.from_json(inst.to_json()).optic == inst.optic


def test_incsr_zero_is_the_full_sphere(tmp_path, real_data):
    text = (real_data / FM_CONFIG).read_text(encoding="latin-1").replace("##INCSR      : 0.1095", "##INCSR      : 0")
    p = tmp_path / "c.msa"
    p.write_text(text, encoding="latin-1")
    assert px.Instrument.from_piquant_config(p).source_solid_angle_sr == pytest.approx(4 * math.pi)
