"""Element symbols, numbers and masses (pixlspec.physics.elements).

Unless stated otherwise, check values are from shared/science/physics.md (computed
with xraydb 4.5.8) and compared with a relative tolerance of 1e-3.
"""

from __future__ import annotations

import pytest

import pixlspec.physics as P
from pixlspec.errors import PixlspecError, UnknownElementError


# ----------------------------------------------------------------------------- elements
def test_elements():
    assert P.atomic_number("Fe") == 26
    assert P.atomic_number(" Al ") == 13  # trailing blanks occur in PIQUANT standards files
    assert P.element_symbol(45) == "Rh"
    assert P.atomic_mass("Fe") == pytest.approx(55.845, rel=1e-6)  # IUPAC standard atomic weight
    assert P.check_element("Si") == "Si"


@pytest.mark.parametrize("bad, hint", [("FE", "'Fe'"), ("fe", "'Fe'"), ("Xx", None), ("", None), (26, None)])
def test_bad_element_symbols(bad, hint):
    with pytest.raises(UnknownElementError) as exc:
        P.check_element(bad)
    if hint:
        assert f"did you mean {hint}" in str(exc.value)
    assert isinstance(exc.value, PixlspecError)


@pytest.mark.parametrize("z", [0, 99, 26.5, "x"])
def test_bad_atomic_number(z):
    with pytest.raises(UnknownElementError):
        P.element_symbol(z)
