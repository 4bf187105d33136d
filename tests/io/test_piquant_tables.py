"""PIQUANT standards and ECF calibration tables (pixlspec.io.piquant_tables)."""

from __future__ import annotations

import pytest

from pixlspec.errors import CSVFormatError
from pixlspec.io.piquant_tables import read_piquant_calibration, read_piquant_standards


STANDARDS = """Comment, Standards Input File
Standard,BHVO-2,Basalt Hawaiian Volcanic Observatory
Al ,  ,  , ,7.17%,0.22%,1.5,1
Si,,,,23.30%,2,2,1
Ba,,,,683.0ppm,28a,0,1
Ce,  ,M, ,0.5f,,,0
SPECTRUM,bhvo.msa
Si,,,,25%,1,2,1
SPECTRUM,bhvo2.msa

Standard,BCR-2,"Basalt, Columbia River"
comment, anywhere
Fe,K,X,el,9.65%,0.15a,1.5,0.5
"""


def test_standards(tmp_path):
    p = tmp_path / "std.csv"
    p.write_bytes(STANDARDS.replace("\n", "\r\n").encode())
    entries = read_piquant_standards(p)
    assert [(e.name, e.spectrum_file) for e in entries] == [("BHVO-2", "bhvo.msa"), ("BHVO-2", "bhvo2.msa"),
                                                            ("BCR-2", None)]
    first, second, bcr = entries
    assert first.description == "Basalt Hawaiian Volcanic Observatory"
    al = first.element("Al")
    assert (al.wt_percent, al.oxide_ratio, al.weight, al.qualifier) == (7.17, 1.5, 1.0, "")
    assert al.uncertainty_wt_percent == pytest.approx(7.17 * 0.0022)
    assert first.element("Si").uncertainty_wt_percent == pytest.approx(23.3 * 0.02)
    ba = first.element("Ba")
    assert ba.wt_percent == pytest.approx(0.0683) and ba.uncertainty_wt_percent == pytest.approx(0.0028)
    ce = first.element("Ce")
    assert ce.wt_percent == 50.0 and ce.qualifier == "M" and ce.weight == 0.0 and ce.uncertainty_wt_percent is None
    assert first.composition_wt["Si"] == 23.3 and second.composition_wt["Si"] == 25.0
    assert bcr.description == "Basalt, Columbia River"
    fe = bcr.element("Fe")
    assert (fe.line, fe.qualifier, fe.type, fe.weight) == ("K", "X", "element", 0.5)


@pytest.mark.parametrize("line, fragment", [
    ("Fe,,,,abc%,1,1,1", "amount"),
    ("Fe,Q,,,1%,1,1,1", "emission line"),
    ("Fe,,Z,,1%,1,1,1", "qualifier"),
    ("Fe,,,zz,1%,1,1,1", "type"),
    ("FE,,,,1%,1,1,1", "unrecognised"),
    ("Fe,,,,-1%,1,1,1", ">= 0"),
])
def test_standards_bad_lines(tmp_path, line, fragment):
    p = tmp_path / "std.csv"
    p.write_text("Standard,X,desc\n" + line + "\nSPECTRUM,x.msa\n")
    with pytest.raises(CSVFormatError) as e:
        read_piquant_standards(p)
    assert e.value.where == 2 and fragment in str(e.value) and str(p) in str(e.value)


def test_standards_element_before_standard(tmp_path):
    p = tmp_path / "std.csv"
    p.write_text("Fe,,,,1%,1,1,1\n")
    with pytest.raises(CSVFormatError):
        read_piquant_standards(p)


def test_real_standards(real_data):
    path = real_data / "breadboard_glasses" / "Standards_Input_3_glasses_new_BB_01_08_2020.csv"
    entries = read_piquant_standards(path)
    assert [e.name for e in entries] == ["BHVO-2", "BCR-2", "BIR1-G"]
    bhvo, bcr, bir = entries
    assert bhvo.spectrum_file == "Calibration_box_BHVO-2G_28kV_230uA_03_28_2019_bulk_sum.msa"
    assert bhvo.composition_wt["Si"] == 23.3 and bhvo.element("Al").oxide_ratio == 1.5
    assert bcr.description == "Basalt, Columbia River"
    assert bcr.element("Ba").wt_percent == pytest.approx(0.0683)
    assert bcr.element("Ba").uncertainty_wt_percent == pytest.approx(0.0028)
    assert bcr.element("Gd").weight == 0.0 and bcr.element("Ce").qualifier == "X"
    assert bir.spectrum_basename == "Calibration_box_BIR-1G_28kV_230uA_03_28_2019_bulk_sum.msa"
    # 135 lines: 3 Standard + 3 SPECTRUM + 2 blank + 1 Comment lines, the rest element lines
    assert sum(len(e.elements) for e in entries) == 135 - 3 - 3 - 2 - 1


def test_real_calibration(real_data):
    path = real_data / "pixl_fm_config" / "Calibration_PIXL_FM_SurfaceOps_5minECFs_Rev1_Jul2021.csv"
    entries = read_piquant_calibration(path)
    assert len(entries) == 20
    nacl = entries[0]
    assert nacl.name == "NaCl" and nacl.description == "Sodium Chloride Puck" and nacl.density_g_cm3 == 1.2581
    na = nacl.element("Na")
    assert (na.wt_percent, na.ecf, na.ecf_sigma_percent) == (39.34, 0.7542, 0.8)
    assert (na.intensity, na.atomic_number) == (21949.1, 11)
    assert nacl.spectrum_basename == "Dwell_B_0611873973_000001C5_001197.msa"
    zr = [e for e in entries if e.name == "Zr"]
    assert [e.elements[0].line for e in zr] == ["K", "L"]
    mgco3 = next(e for e in entries if e.name == "MgCO3")
    assert mgco3.options == ("Carbonates",) and mgco3.element("O").ecf is None


CALIBRATION = """PIQUANT, Calibration File,     written, 2021-07-10 13:31:20
Element, Emission line, Fit qualifier, Type, Percent, Uncertainty,  Oxide ratio, Weight, ECF, ECF Sigma, Intensity, Atomic number
STANDARD, NaCl, Sodium Chloride Puck
Density, 1.2581
{na}
Cl, , , el, 60.6600%, 0.0%, 0.0,   1.00, 1.0328, 0.1%, 2746128.0, 17
SPECTRUM, Dwell_B_0611873973_000001C5_001197.msa
{tail}"""
NA_ROW = "Na, , , el, 39.3400%, 0.0%, 0.0,   1.00, 0.7542, 0.8%, 21949.1, 11"


def test_calibration_row_forms(tmp_path):
    """A calibration row carries all four calibration fields or none (a matrix row); ECF 0 is PIQUANT's
    "not calibrated"."""
    p = tmp_path / "cal.csv"
    p.write_text(CALIBRATION.format(na=NA_ROW, tail=""))
    na = read_piquant_calibration(p)[0].element("Na")
    assert (na.ecf, na.ecf_sigma_percent, na.intensity, na.atomic_number) == (0.7542, 0.8, 21949.1, 11)
    p.write_text(CALIBRATION.format(na="Na, , M, el, 39.3400%, 0.0%, 0.0", tail=""))
    assert read_piquant_calibration(p)[0].element("Na").ecf is None
    p.write_text(CALIBRATION.format(na=NA_ROW.replace("0.7542, 0.8%, 21949.1", "0.0000, 0.0%, 0.0"), tail=""))
    assert read_piquant_calibration(p)[0].element("Na").ecf == 0.0


@pytest.mark.parametrize("na, tail, fragment, line", [
    (NA_ROW[:NA_ROW.index(", 0.8%")], "", "has 1 of them", 5),             # row cut after the ECF
    (NA_ROW[:NA_ROW.rindex(",")], "", "has 3 of them", 5),                 # no atomic number
    (NA_ROW.replace("0.7542", "-0.75"), "", "ECF '-0.75'", 5),
    (NA_ROW.replace("0.7542", "1e300"), "", "ECF '1e300'", 5),
    (NA_ROW.replace("21949.1", "-5"), "", "must be >= 0", 5),
    (NA_ROW.replace(", 11", ", 26"), "", "atomic number '26'; expected 11", 5),
    (NA_ROW, "STANDARD, Fe, Iron Puck\nDensity, 7.9\nFe, , , el, 100.0000%", "cut short", 8),  # truncated file
    (NA_ROW, "STANDARD, Z", "cut short", 8),
    (NA_ROW, "STANDARD, Fe, Iron Puck\nFe, , , el, 100.0000%, 0.0%, 0.0,   1.00, 0.9792, 0.0%, 5566613.0, 26\n"
     "STANDARD, Ti, Titanium Puck\nTi, , , el, 100.0000%, 0.0%, 0.0,   1.00, 0.9906, 0.0%, 6142260.5, 22\n"
     "SPECTRUM, ti.msa\n", "'Fe' ends without its SPECTRUM line", 8),       # a standard in the middle
])
def test_calibration_damaged_rows_name_the_line(tmp_path, na, tail, fragment, line):
    p = tmp_path / "cal.csv"
    p.write_text(CALIBRATION.format(na=na, tail=tail))
    with pytest.raises(CSVFormatError) as e:
        read_piquant_calibration(p)
    assert fragment in str(e.value) and e.value.where == line and str(p) in str(e.value)
