"""Oxide factors and element/oxide conversions (pixlspec.physics.oxides).

Unless stated otherwise, check values are from shared/science/physics.md (computed
with xraydb 4.5.8) and compared with a relative tolerance of 1e-3.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

import pixlspec.physics as P
from pixlspec.errors import CompositionError, UnknownElementError

from tests.helpers.physics import BASALT_OXIDES


# ----------------------------------------------------------------------------- oxides
# physics.md §10 table: element -> (oxide, F)
OXIDE_TABLE = {"Na": ("Na2O", 1.3480), "Mg": ("MgO", 1.6583), "Al": ("Al2O3", 1.8894), "Si": ("SiO2", 2.1393),
               "P": ("P2O5", 2.2913), "S": ("SO3", 2.4971), "Cl": ("Cl", 1.0), "K": ("K2O", 1.2046),
               "Ca": ("CaO", 1.3992), "Ti": ("TiO2", 1.6685), "Cr": ("Cr2O3", 1.4615), "Mn": ("MnO", 1.2912),
               "Fe": ("FeO", 1.2865), "Co": ("CoO", 1.2715), "Ni": ("NiO", 1.2726), "Cu": ("CuO", 1.2518),
               "Zn": ("ZnO", 1.2447), "Br": ("Br", 1.0), "Rb": ("Rb2O", 1.0936), "Sr": ("SrO", 1.1826),
               "Y": ("Y2O3", 1.2699), "Zr": ("ZrO2", 1.3508), "Ba": ("BaO", 1.1165)}


@pytest.mark.parametrize("el", sorted(OXIDE_TABLE))
def test_oxide_factors(el):
    oxide, factor = OXIDE_TABLE[el]
    assert P.oxide_of(el) == oxide
    assert P.oxide_factor(el) == pytest.approx(factor, abs=6e-5)
    assert P.element_of(oxide) == (el, pytest.approx(factor, abs=6e-5))


def test_oxide_extras():
    assert P.oxide_factor("Fe", "Fe2O3") == pytest.approx(1.4297, abs=6e-5)
    assert P.oxide_factor("Ge", "GeO2") == pytest.approx(1.4406, abs=6e-5)
    assert P.oxide_factor("Fe", "Fe2O3") / P.oxide_factor("Fe") == pytest.approx(1.11135, abs=6e-5)
    assert P.oxide_of("Fe", fe_oxide="Fe2O3") == "Fe2O3"
    for el in ("Na", "Mg", "Al", "Si", "P", "S", "Cl", "K", "Ca", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu",
               "Zn", "Ga", "Ge", "Br", "Rb", "Sr", "Y", "Zr", "Nb", "Ba", "La", "Ce", "Pb"):
        assert el in P.OXIDES
    ox = P.elements_to_oxides({"Si": 23.3, "Fe": 8.0, "O": 40.0, "Cl": 1.0})
    assert set(ox) == {"SiO2", "FeO", "Cl"}
    assert ox["SiO2"] == pytest.approx(23.3 * 2.1393, rel=1e-4)
    els = P.oxides_to_elements(BASALT_OXIDES)
    assert els["O"] == pytest.approx(43.437, abs=1e-3) and els["Fe"] == pytest.approx(8.628, abs=1e-3)
    with pytest.raises(CompositionError):
        P.oxide_factor("Fe", "SiO2")
    with pytest.raises(CompositionError):
        P.element_of("FeTiO3")
    with pytest.raises(CompositionError):
        P.oxide_of("Fe", fe_oxide="Fe3O4")
    with pytest.raises(UnknownElementError):
        P.elements_to_oxides({"SiO2": 50.0})
    with pytest.raises(CompositionError):
        P.elements_to_oxides({"Si": -1.0})
    with pytest.raises(CompositionError):
        P.oxides_to_elements({"SiO2": -1.0})


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(OXIDE_TABLE) + ["Fe"]), st.floats(0.0, 4.0), min_size=1),
       st.sampled_from(P.FE_OXIDES))
def test_element_oxide_roundtrip(element_wt, fe_oxide):
    """element wt% -> oxide wt% -> element wt% (+ O) round trip; parse_composition agrees."""
    oxides = P.elements_to_oxides(element_wt, fe_oxide=fe_oxide)
    back = P.oxides_to_elements(oxides) if sum(oxides.values()) > 0 else {}
    for el, wt in element_wt.items():
        assert back.get(el, 0.0) == pytest.approx(wt, rel=1e-9, abs=1e-12)
    o_expected = sum(wt * (P.oxide_factor(el, P.oxide_of(el, fe_oxide)) - 1) for el, wt in element_wt.items())
    assert back.get("O", 0.0) == pytest.approx(o_expected, rel=1e-9, abs=1e-12)
    if sum(oxides.values()) > 0:
        comp = P.parse_composition(oxides)
        assert {k: v * 100 for k, v in comp.items()} == pytest.approx({k: v for k, v in back.items() if v > 0})
