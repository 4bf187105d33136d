"""Compositions and instruments shared by the quantification tests."""

from __future__ import annotations

from dataclasses import replace

import pixlspec as px


def norm100(d):
    s = sum(d.values())
    return {k: 100.0 * v / s for k, v in d.items()}


#: Round-trip compositions (wt%, summing to 100): a BHVO-2-like basalt, basalt + 40 % gypsum,
#: basalt + 50 % calcite.
BASALT = norm100({"SiO2": 49.9, "TiO2": 2.73, "Al2O3": 13.5, "FeO": 11.07, "MnO": 0.17, "MgO": 7.23,
                   "CaO": 11.4, "Na2O": 2.22, "K2O": 0.52, "P2O5": 0.27})


SULFATE = {**{k: 0.6 * v for k, v in BASALT.items()}, "CaSO4·2H2O": 40.0}


# =========================================================================== He path: Ar line geometry
def he_path_instrument(elevation_deg=70.0, pressure_Pa=100.0):
    """Breadboard-like He path (2.0 cm in, 3.2 cm out, normal incidence) at a low pressure, so that the
    He attenuation (< 1e-5 here) does not blur the geometry checks."""
    inst = px.Instrument.pixl()
    det = replace(inst.detectors[0], elevation_deg=elevation_deg, azimuth_deg=180.0)
    return replace(inst, atmosphere="He", path_in_cm=2.0, path_out_cm=3.2, incidence_deg=90.0,
                   gas_pressure_Pa=pressure_Pa, detectors=(det,))
