"""The polycapillary optic's response (pixlspec.physics.optic): the documented tables of
``shared/science/absolute-scale.md`` §2 and scipy's natural cubic spline."""

from __future__ import annotations

import numpy as np
import pytest

import pixlspec as px
from pixlspec.physics.optic import spline_response, spline_second_derivatives


# absolute-scale.md §2, as printed there (eV, response)
OPTIC8_DOC = ([0, 4000, 6000, 8000, 10000, 12000, 14000, 16000, 18000, 20000, 25000, 30000],
              [15.7810, 6.8613, 7.8, 6.0398, 4.0440, 2.1134, 1.2380, 0.6, 0.377, 0.3, 0.04, 0.0117])


OPTIC7_DOC = ([0, 2999, 3000, 4000, 6000, 8000, 10000, 12000, 14000, 16000, 18000, 20000, 25000, 30000],
              [7.29, 14.56, 5.68, 7.00, 8.00, 6.00, 3.76, 2.00, 1.13, 0.649, 0.406, 0.234, 0.0105, 0.0105])


# =========================================================================== optic
@pytest.mark.parametrize("code,doc", [(8, OPTIC8_DOC), (7, OPTIC7_DOC)])
def test_builtin_optic_matches_the_documented_table(code, doc):
    o = px.Optic.piquant(code)
    e, r = np.array(doc[0], float), np.array(doc[1])
    np.testing.assert_allclose(o.transmission_at(e), r, rtol=1e-12)
    # below the table: the first value (flat, never zero); above: 0; never negative anywhere
    assert o.transmission_at(np.array([-50.0]))[0] == pytest.approx(r[0])
    assert o.transmission_at(np.array([30001.0, 40000.0])).tolist() == [0.0, 0.0]
    grid = np.linspace(0.0, 30000.0, 3001)
    assert np.all(o.transmission_at(grid) >= 0.0)


def test_optic8_between_nodes_uses_the_given_second_derivatives():
    """Numerical Recipes splint by hand at 5 keV with the doc's y'' (per eV²) at 4 and 6 keV."""
    xa, ya = (4000.0, 6000.0), (6.8613, 7.8)
    y2 = (2.7208e-06, -3.1971e-06)
    h = xa[1] - xa[0]
    a = b = 0.5
    expected = a * ya[0] + b * ya[1] + ((a ** 3 - a) * y2[0] + (b ** 3 - b) * y2[1]) * h * h / 6.0
    assert px.Optic.piquant(8).transmission_at(5000.0) == pytest.approx(expected, rel=1e-12)


def test_file_optic_is_the_natural_cubic_spline():
    from scipy.interpolate import CubicSpline

    x = np.array([0.0, 1.0, 2.5, 4.0, 7.0, 10.0])
    y = np.array([0.0, 2.0, 9.0, 11.0, 6.0, 3.0])
    ref = CubicSpline(x, y, bc_type="natural")
    np.testing.assert_allclose(spline_second_derivatives(x, y), ref(x, 2), atol=1e-12)
    e = np.linspace(0.0, 10.0, 57)
    np.testing.assert_allclose(spline_response(e, x, y), np.maximum(ref(e), 0.0), rtol=1e-10, atol=1e-12)
    o = px.Optic("file", tuple(x), tuple(y))
    assert o.transmission_at(np.array([10500.0]))[0] == 0.0
