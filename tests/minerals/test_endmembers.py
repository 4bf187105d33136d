"""End-member compositions (pixlspec.minerals.endmembers) against textbook values."""

from __future__ import annotations

import pytest

from pixlspec.errors import CompositionError
from pixlspec.minerals import formula_oxides, get_endmember, olivine, plagioclase


# ---------------------------------------------------------------------------------------------
# end-members from formulas
# ---------------------------------------------------------------------------------------------
# Ideal compositions (wt%) as tabulated in the Handbook of Mineralogy / webmineral; the last column
# of the science brief (§1) lists the same values rounded to 0.1.
TEXTBOOK = {
    "gypsum": {"CaO": 32.57, "SO3": 46.50},
    "anhydrite": {"CaO": 41.19, "SO3": 58.81},
    "kieserite": {"MgO": 29.13, "SO3": 57.86},
    "epsomite": {"MgO": 16.35, "SO3": 32.48},
    "calcite": {"CaO": 56.03},
    "magnesite": {"MgO": 47.81},
    "siderite": {"FeO": 62.01},
    "dolomite": {"CaO": 30.41, "MgO": 21.86},
    "forsterite": {"SiO2": 42.71, "MgO": 57.29},
    "fayalite": {"SiO2": 29.49, "FeO": 70.51},
    "enstatite": {"SiO2": 59.85, "MgO": 40.15},
    "albite": {"SiO2": 68.74, "Al2O3": 19.44, "Na2O": 11.82},
    "anorthite": {"SiO2": 43.19, "Al2O3": 36.65, "CaO": 20.16},
    "ilmenite": {"TiO2": 52.65, "FeO": 47.35},
    "fluorapatite": {"CaO": 55.60, "P2O5": 42.22},
}


VOLATILES = {"gypsum": {"H2O": 20.93}, "calcite": {"CO2": 43.97}, "dolomite": {"CO2": 47.73},
             "epsomite": {"H2O": 51.16}}


# visible totals from the brief §1 (rounded to 0.1)
VISIBLE_TOTALS = {"gypsum": 79.1, "bassanite": 93.8, "anhydrite": 100.0, "kieserite": 87.0, "starkeyite": 62.6,
                  "epsomite": 48.8, "jarosite": 84.4, "natrojarosite": 83.9, "halite": 113.7,
                  "Mg-perchlorate": 33.6, "Ca-perchlorate": 40.8, "Na-perchlorate": 47.3, "calcite": 56.0,
                  "siderite": 62.0, "magnesite": 47.8, "dolomite": 52.3, "ankerite": 56.0,
                  "Fe-Mg carbonate": 54.6, "fluorapatite": 97.8, "chlorapatite": 101.5, "merrillite": 100.0,
                  "magnetite": 93.1, "hematite": 90.0, "serpentine": 87.0, "greenalite": 90.3, "saponite": 80.4,
                  "nontronite": 78.6, "tremolite": 97.8, "opal-A": 91.7}


@pytest.mark.parametrize("name", sorted(TEXTBOOK))
def test_endmember_oxides_match_textbook(name):
    em = get_endmember(name)
    for ox, ref in TEXTBOOK[name].items():
        assert em.oxide_wt[ox] == pytest.approx(ref, abs=0.05), (name, ox)
    for ox, ref in VOLATILES.get(name, {}).items():
        assert em.volatile_wt[ox] == pytest.approx(ref, abs=0.05), (name, ox)


@pytest.mark.parametrize("name", sorted(VISIBLE_TOTALS))
def test_visible_totals_match_brief(name):
    em = get_endmember(name)
    assert em.visible_total_wt == pytest.approx(VISIBLE_TOTALS[name], abs=0.06)
    assert em.invisible_wt == pytest.approx(100 - em.visible_total_wt)
    assert sum(em.element_wt.values()) == pytest.approx(100.0)


def test_conventions_fe_total_sulfur_chlorine():
    mag = get_endmember("magnetite")
    assert set(mag.oxide_wt) == {"FeO"} and mag.oxygen_balance_wt == pytest.approx(6.91, abs=0.02)
    hal = get_endmember("halite")
    assert hal.oxide_wt["Cl"] == pytest.approx(60.66, abs=0.05)
    assert hal.visible_total_wt - hal.o_equiv_cl_wt == pytest.approx(100.0, abs=0.05)  # O≡Cl
    jar = get_endmember("jarosite")
    assert jar.oxide_wt["FeO"] == pytest.approx(43.04, abs=0.05) and jar.volatile_wt["H2O"] == pytest.approx(10.79,
                                                                                                              abs=0.05)


def test_solid_solutions_and_custom_formulas():
    assert olivine(0.55).oxide_wt["FeO"] == pytest.approx(get_endmember("olivine Fo55").oxide_wt["FeO"])
    an40 = plagioclase(0.4)
    assert an40.oxide_wt["CaO"] == pytest.approx(get_endmember("andesine An40").oxide_wt["CaO"])
    vis, vol, _ = formula_oxides("Mg1.1Fe0.88Mn0.02SiO4")
    assert vis["MnO"] > 0 and not vol
    vis, vol, _ = formula_oxides("MgSO4·7H2O")
    assert vol["H2O"] == pytest.approx(51.16, abs=0.05)
    with pytest.raises(CompositionError, match="cannot parse"):
        formula_oxides("Xq2O3")
    with pytest.raises(CompositionError, match="did you mean 'gypsum'"):
        get_endmember("gipsum")
    with pytest.raises(CompositionError):
        olivine(1.5)
