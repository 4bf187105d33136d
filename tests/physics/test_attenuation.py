"""Mass attenuation, compositions, transmission (pixlspec.physics.attenuation).

Unless stated otherwise, check values are from shared/science/physics.md (computed
with xraydb 4.5.8) and compared with a relative tolerance of 1e-3.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import pixlspec.physics as P
from pixlspec.errors import CompositionError, ConfigError, UnknownElementError

from tests.helpers.physics import BASALT_OXIDES


RTOL = 1e-3


# physics.md §9 worked example: element mass fractions, as given (not normalised)
BASALT_FRACTIONS = {"Si": 0.23325, "O": 0.43437, "Ti": 0.01618, "Al": 0.07145, "Fe": 0.08628, "Mn": 0.00132,
                    "Mg": 0.04342, "Ca": 0.08148, "Na": 0.01632, "K": 0.00415, "P": 0.00118}


# ----------------------------------------------------------------------------- attenuation
def test_fe_mass_attenuation_published():
    # NIST XCOM / Elam: Fe total mu/rho at 10 keV ~ 170.6 cm^2/g
    assert P.mass_attenuation("Fe", 10000.0) == pytest.approx(170.6, rel=0.02)
    assert isinstance(P.mass_attenuation("Fe", 10000.0), float)


# physics.md §7 mass attenuation table (cm^2/g, xraydb mu_elam total)
MU_TABLE = [("Be", 1040.98, 536.1), ("Be", 1739.98, 114.47), ("Be", 6403.8, 2.09), ("Be", 20216.0, 0.22),
            ("Si", 1040.98, 1411.2), ("Si", 1253.6, 861.8), ("Si", 1739.98, 358.93), ("Si", 6403.8, 122.24),
            ("Si", 20216.0, 4.33), ("CO2", 1040.98, 3538.9), ("CO2", 1253.6, 2148.2), ("CO2", 1739.98, 871.5),
            ("CO2", 6403.8, 19.0), ("CO2", 20216.0, 0.73)]


@pytest.mark.parametrize("material, energy, mu", MU_TABLE)
def test_mu_table(material, energy, mu):
    digits = len(str(mu).split(".")[1])  # the table is rounded to these decimals
    assert P.mass_attenuation(material, energy) == pytest.approx(mu, abs=0.51 * 10 ** -digits)


def test_basalt_composition_and_mu():
    comp = P.parse_composition(BASALT_OXIDES)
    assert set(comp) == set(BASALT_FRACTIONS)
    for el, w in BASALT_FRACTIONS.items():
        assert comp[el] == pytest.approx(w, abs=6e-6), el
    # physics.md §9 table: mu_s at 17 keV and at Fe Ka 6400.8 eV, basalt as given and Fe2O3
    assert P.mass_attenuation(BASALT_OXIDES, 17000.0) == pytest.approx(8.598, rel=RTOL)
    assert P.mass_attenuation(BASALT_OXIDES, 6400.8) == pytest.approx(88.511, rel=RTOL)
    assert P.mass_attenuation("Fe2O3", 17000.0) == pytest.approx(28.659, rel=RTOL)
    assert P.mass_attenuation("Fe2O3", 6400.8) == pytest.approx(56.524, rel=RTOL)
    fe2o3 = P.parse_composition("Fe2O3")
    assert fe2o3["Fe"] == pytest.approx(0.69943, abs=1e-5) and fe2o3["O"] == pytest.approx(0.30057, abs=1e-5)
    assert P.photo_absorption("Fe", 17000.0) == pytest.approx(39.66, rel=RTOL)  # tau_Fe(17 keV)


def test_parse_composition_forms():
    assert P.parse_composition("Fe") == {"Fe": 1.0}
    gyp = P.parse_composition("CaSO4(H2O)2")
    assert gyp == pytest.approx(P.parse_composition("CaSO4·2H2O"))
    assert sum(gyp.values()) == pytest.approx(1.0)
    assert gyp["H"] == pytest.approx(4 * 1.008 / 172.17, rel=2e-3)  # gypsum M = 172.17 g/mol
    co2 = P.parse_composition("CO2")
    assert co2["C"] == pytest.approx(12.011 / 44.009, rel=1e-4)
    assert P.parse_composition({"Si": 23.3, "O": 43.4}) == pytest.approx({"Si": 0.233, "O": 0.434})


@pytest.mark.parametrize("bad, error, key", [
    ({"SiO2": -1.0}, CompositionError, "SiO2"),
    ({"SiO2": float("nan")}, CompositionError, "SiO2"),
    ({"SiO2": "x"}, CompositionError, "SiO2"),
    ({"Xx2O": 3.0}, UnknownElementError, "Xx2O"),
    ({"Si(O2": 3.0}, CompositionError, "Si(O2"),
    ({}, CompositionError, None),
    ({"SiO2": 150.0}, CompositionError, None),
    ("FE", UnknownElementError, "Fe"),
    ("Si)O2", CompositionError, "Si)O2"),
    ("12", CompositionError, None),
    (3.0, CompositionError, None),
])
def test_bad_compositions(bad, error, key):
    with pytest.raises(error) as exc:
        P.parse_composition(bad)
    if key:
        assert key in str(exc.value)


def test_mass_attenuation_cache_and_readonly():
    energy = np.linspace(1000.0, 28000.0, 4096)
    a = P.mass_attenuation({"SiO2": 50.0, "FeO": 10.0}, energy)
    from pixlspec.physics import attenuation
    misses = attenuation._element_mu.cache_info().misses
    b = P.mass_attenuation({"SiO2": 50.0, "FeO": 10.0}, energy.copy())
    c = P.mass_attenuation("Fe", energy)
    assert attenuation._element_mu.cache_info().misses == misses  # no new xraydb call
    assert np.array_equal(a, b) and a.shape == energy.shape and c.shape == energy.shape
    with pytest.raises(ValueError):
        a[0] = 1.0
    with pytest.raises(ValueError):
        c[0] = 1.0
    grid = P.mass_attenuation("Si", energy.reshape(64, 64))
    assert grid.shape == (64, 64)


def test_mass_attenuation_kinds_and_errors():
    e = np.array([5000.0, 20000.0])
    parts = sum(np.asarray(P.mass_attenuation("Fe", e, kind=k)) for k in ("photo", "coh", "incoh"))
    assert np.allclose(parts, P.mass_attenuation("Fe", e), rtol=1e-6)
    with pytest.raises(ConfigError):
        P.mass_attenuation("Fe", e, kind="pair")
    with pytest.raises(ConfigError):
        P.mass_attenuation("Fe", [np.nan])
    # energies below the tables (a channel grid may start below 0 eV) are clamped, not errors
    assert np.all(np.isfinite(P.mass_attenuation("Fe", [-10.0, 0.0, 50.0])))


def test_transmission_and_density():
    assert P.density("Be") == pytest.approx(1.85) and P.density("Si") == pytest.approx(2.329)
    t = P.transmission("Be", 8e-4, energy_eV=1040.98)
    assert t == pytest.approx(math.exp(-536.1 * 1.85 * 8e-4), rel=RTOL)
    assert P.transmission("Be", 0.0, 1.85, [1000.0, 2000.0]) == pytest.approx([1.0, 1.0])
    with pytest.raises(ConfigError):
        P.transmission("Be", -1.0, energy_eV=1000.0)
    with pytest.raises(ConfigError):
        P.transmission("Be", 1.0)
    with pytest.raises(CompositionError):
        P.density({"SiO2": 50.0})


@settings(max_examples=25, deadline=None)
@given(st.dictionaries(st.sampled_from(["Si", "O", "Fe", "Ca", "Mg", "Al", "Na", "S", "Cl"]),
                       st.floats(0.0, 12.0), min_size=1),
       st.floats(1100.0, 27000.0))
def test_mixture_mu_is_weighted_sum(wt, energy):
    if sum(wt.values()) <= 0:
        return
    expected = sum(w / 100.0 * P.mass_attenuation(el, energy) for el, w in wt.items())
    assert P.mass_attenuation(wt, energy) == pytest.approx(expected, rel=1e-10)
