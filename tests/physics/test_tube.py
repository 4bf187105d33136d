"""The X-ray tube spectrum, Ebel's model (pixlspec.physics.tube).

Unless stated otherwise, check values are from shared/science/physics.md (computed
with xraydb 4.5.8) and compared with a relative tolerance of 1e-3.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import pixlspec.physics as P
from pixlspec.errors import ConfigError


RTOL = 1e-3


# ----------------------------------------------------------------------------- tube
def test_ebel_constants():  # physics.md §8 check values (Rh, 28 kV)
    c = P.ebel_constants(45, 28.0)
    assert c.J_keV == pytest.approx(0.6075, rel=RTOL)
    assert c.m == pytest.approx(0.0009, abs=5e-5)
    assert c.eta == pytest.approx(0.3901, rel=RTOL)
    assert c.rho_zm_g_cm2 == pytest.approx(3.396e-3, rel=RTOL)
    assert c.rho_zm_g_cm2 / P.density("Rh") * 1e4 == pytest.approx(2.74, abs=0.005)  # µm
    assert c.x == pytest.approx(0.9623, rel=RTOL)
    assert P.ebel_rho_z_bar(45, 28.0, 10.0) == pytest.approx(4.408e-4, rel=RTOL)
    mu = P.mass_attenuation("Rh", 10000.0)
    assert mu == pytest.approx(105.3, rel=RTOL)
    assert (28.0 / 10.0 - 1) ** c.x == pytest.approx(1.7605, rel=RTOL)
    chi = mu * math.sin(math.radians(90)) / math.sin(math.radians(20))
    assert P.ebel_self_absorption(chi, P.ebel_rho_z_bar(45, 28.0, 10.0)) == pytest.approx(0.8758, rel=RTOL)
    assert P.ebel_continuum(10000.0, 28.0, "Rh", 90.0, 20.0, 0.0) == pytest.approx(9.37e10, rel=RTOL)


def test_ebel_lines():  # physics.md §8: Rh K and L3
    k_keV = P.edge("Rh", "K").energy_eV / 1000
    l3_keV = P.edge("Rh", "L3").energy_eV / 1000
    assert 28.0 / k_keV == pytest.approx(1.2059, rel=RTOL)
    assert 28.0 / l3_keV == pytest.approx(9.321, rel=RTOL)
    assert P.ebel_line_factor(45, 28.0, k_keV, "K") == pytest.approx(6.857e-4, rel=RTOL)
    assert P.ebel_backscatter_factor(45, 28.0, k_keV) == pytest.approx(0.8674, rel=RTOL)
    assert P.ebel_line_factor(45, 28.0, l3_keV, "L3") == pytest.approx(1.424, rel=RTOL)
    assert P.ebel_backscatter_factor(45, 28.0, l3_keV) == pytest.approx(0.7383, rel=RTOL)
    assert P.ebel_line_factor(45, 20.0, k_keV, "K") == 0.0


def test_kramers():  # physics.md §8
    assert P.kramers_spectrum(5000.0) / P.kramers_spectrum(10000.0) == pytest.approx(4.6 / 1.8, rel=1e-9)
    # K i Z (E0/E - 1) per keV, i = 20 µA: at 10 keV, per eV
    assert P.kramers_spectrum(10000.0, 28.0, "Rh", 20.0) == pytest.approx(1.35e9 * 0.02 * 45 * 1.8 / 1000)
    assert P.kramers_spectrum(30000.0) == 0.0


def test_tube_spectrum():
    ts = P.tube_spectrum()
    assert ts is P.tube_spectrum()  # cached
    assert ts.continuum_energy_eV[0] == pytest.approx(525.0) and ts.continuum_energy_eV[-1] < 28000.0
    assert np.all(ts.continuum >= 0) and ts.continuum[-1] < ts.continuum[len(ts.continuum) // 2]
    # continuum = Ebel per keV per mA x current x Be window, per eV
    e = ts.continuum_energy_eV[200]
    expected = (P.ebel_continuum(e, 28.0, "Rh", 60.0, 30.0, 152.4) * 0.020 / 1000)
    assert ts.continuum[200] == pytest.approx(expected)
    assert {"Ka1", "Ka2", "Kb1", "La1", "Lb1"} <= set(ts.line_names)
    assert set(ts.line_shells) == {"K", "L"}
    grid = ts.on_grid()
    assert grid.sum() == pytest.approx(ts.continuum.sum() * 50.0 + ts.line_intensities.sum())
    assert ts.total_photons == pytest.approx(grid.sum())
    assert 1000.0 < ts.mean_energy_eV < 28000.0
    # current scales everything linearly
    ts40 = P.tube_spectrum(current_uA=40.0)
    assert ts40.on_grid() == pytest.approx(2 * grid)
    # a thicker window hardens the spectrum
    assert P.tube_spectrum(window_Be_um=500.0).mean_energy_eV > ts.mean_energy_eV


def test_transmission_tube():
    refl = P.tube_spectrum(electron_incidence_deg=90.0, takeoff_deg=90.0, window_Be_um=0.0)
    trans = P.tube_spectrum(electron_incidence_deg=90.0, takeoff_deg=-90.0, window_Be_um=0.0)
    assert np.all(trans.continuum <= refl.continuum * (1 + 1e-12))
    # thick foil: all generation inside, factor = exp(-a (t - D)) x reflection-like average
    zbar = P.ebel_rho_z_bar(45, 28.0, 10.0)
    mu = P.mass_attenuation("Rh", 10000.0)
    thick = P.ebel_transmission_factor(mu, zbar, 1.0, 90.0, -90.0)
    assert thick == pytest.approx(math.exp(-mu * (1.0 - 2 * zbar)) * P.ebel_self_absorption(mu, zbar))
    # foil thinner than the generation depth: only the fraction generated inside counts
    thin = P.ebel_transmission_factor(1e-9, zbar, zbar, 90.0, -90.0)
    assert thin == pytest.approx(0.5, rel=1e-6)


@pytest.mark.parametrize("kwargs", [dict(voltage_kV=-1.0), dict(takeoff_deg=0.0), dict(electron_incidence_deg=120.0),
                                    dict(window_Be_um=-5.0), dict(energy_step_eV=0.0),
                                    dict(min_energy_eV=30000.0), dict(current_uA="a")])
def test_bad_tube_args(kwargs):
    with pytest.raises(ConfigError):
        P.tube_spectrum(**kwargs)
