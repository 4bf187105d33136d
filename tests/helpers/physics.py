"""Reference compositions of the physics tests."""

from __future__ import annotations


BASALT_OXIDES = {"SiO2": 49.9, "TiO2": 2.7, "Al2O3": 13.5, "FeO": 11.1, "MnO": 0.17, "MgO": 7.2,
                 "CaO": 11.4, "Na2O": 2.2, "K2O": 0.5, "P2O5": 0.27}
