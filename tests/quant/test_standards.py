"""Reference materials (pixlspec.quant.standards): shipped values, citations, GeoReM glasses, PIQUANT standards."""

from __future__ import annotations

import csv

import pytest

import pixlspec as px
from pixlspec.errors import CompositionError
from pixlspec.physics.attenuation import parse_composition
from pixlspec.quant.standards import reference_material, reference_materials

from tests.helpers.paths import ROOT


# =========================================================================== standards
def test_reference_materials_are_shipped_with_citations():
    names = reference_materials()
    for n in ("BHVO-2", "BCR-2", "AGV-2", "GSP-2", "BHVO-2G", "BCR-2G", "gypsum", "calcite", "halite"):
        assert n in names
        rm = reference_material(n)
        assert rm.citation
    assert reference_material("bhvo-2").oxide_wt()["SiO2"] == pytest.approx(49.9, rel=1e-6)
    assert reference_material("BHVO-2").oxide_wt()["FeO"] == pytest.approx(12.3 / 1.11135, rel=1e-3)
    assert reference_material("halite").element_wt()["Cl"] == pytest.approx(60.66, abs=0.05)
    assert "USGS" in reference_material("GSP-2").citation
    with pytest.raises(CompositionError):
        reference_material("unobtainium")


def test_reference_from_piquant_adds_oxygen_and_fills(tmp_path):
    """A PIQUANT standard (element wt% + oxide ratios) becomes a complete composition: O by the ratios,
    missing elements from a fallback material; calibrate uses the same O."""
    from pixlspec.io.piquant_tables import read_piquant_standards
    from pixlspec.quant.calibration import _composition_of
    from pixlspec.quant.standards import reference_from_piquant

    p = tmp_path / "std.csv"
    p.write_text("Standard,QC,quartz-corundum\r\nSi,,,,23.37%,1,2,1\r\nAl,,,,26.46%,2,1.5,1\r\n"
                 "Fe,,,,1000ppm,5a,0,1\r\nSPECTRUM,qc.msa\r\n", encoding="utf-8")
    entry = read_piquant_standards(p)[0]
    rm = reference_from_piquant(entry, source=str(p))
    o_hand = 23.37 * 2 * 15.999 / 28.0855 + 26.46 * 1.5 * 15.999 / 26.9815
    assert rm.composition_wt["O"] == pytest.approx(o_hand, rel=1e-3)
    ox = rm.oxide_wt()
    assert ox["SiO2"] == pytest.approx(50.0, rel=2e-3) and ox["Al2O3"] == pytest.approx(50.0, rel=2e-3)
    assert rm.element_relative_sigma()["Al"] == pytest.approx(0.02)
    assert "QC" in rm.citation and str(p) in rm.citation and rm.verify == ()
    filled = reference_from_piquant(entry, fill="BHVO-2G")
    assert "CaO" in filled.composition_wt and "SiO2" not in filled.composition_wt
    # filled values keep their source's marks: the GeoReM glass values carry none ("verify" lists
    # values of uncertain source)
    fallback = reference_material("BHVO-2G")
    assert set(filled.verify) == {k for k in filled.composition_wt if k in fallback.verify}
    assert "CaO" in filled.description
    name, comp, _ = _composition_of(entry)
    assert name == "QC" and parse_composition(comp)["O"] == pytest.approx(o_hand / 100.0, rel=1e-3)
    # an O line in the file is the total oxygen: not added to again
    p.write_text("Standard,QC,quartz-corundum\r\nSi,,,,23.37%,1,2,1\r\nAl,,,,26.46%,2,1.5,1\r\n"
                 "O,,,,50.17%,1,0,1\r\nSPECTRUM,qc.msa\r\n", encoding="utf-8")
    with_o = reference_from_piquant(read_piquant_standards(p)[0])
    assert with_o.composition_wt["O"] == pytest.approx(50.17)


SCIENCE = ROOT / ".." / "shared" / "science"
GLASS_CSV = (SCIENCE / "glass-reference-values.csv").resolve()


# =========================================================================== reference glasses
@pytest.mark.skipif(not GLASS_CSV.exists(), reason=f"{GLASS_CSV} not found")
def test_shipped_glasses_are_the_georem_values():
    rows = list(csv.DictReader(GLASS_CSV.open()))
    assert len(rows) == 18
    for r in rows:
        rm = px.reference_material(r["material"])
        assert rm.kind == "glass" and not rm.verify and rm.source_file.endswith("glass-reference-values.csv")
        for key, v in r.items():
            if key.endswith("_wt%") and v not in ("", "0"):
                ox = key[:-4]
                assert rm.composition_wt[ox] == pytest.approx(float(v)), (rm.name, ox)
                s = r[f"{ox}_1sigma"]
                if s:
                    assert rm.sigma_wt[ox] == pytest.approx(float(s)), (rm.name, ox)
            elif key.endswith("_ug/g") and v not in ("", "0"):
                assert rm.composition_wt[key[:-5]] == pytest.approx(float(v) / 1e4), (rm.name, key)
    assert px.reference_material("BCR-2G").composition_wt["Al2O3"] == 13.4
    assert px.reference_material("BCR-2G").sigma_wt["Al2O3"] == 0.4
