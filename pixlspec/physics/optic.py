"""The optic's response outside its table, for the shape of the scattered continuum.

An optic table (PIQUANT's built-in FM optics, or a file such as the breadboard's
``Efficiency_profile_BB_new_2019_01_14_2020.txt``) gives the polycapillary's
response on a limited energy range. PIQUANT uses the first tabulated value below
the table (flat) and 0 above it (science/absolute-scale.md §2). The breadboard
file starts with explicit zeros from 0 to 1.97 keV: read literally, the optic
passes nothing below 2.07 keV, and any continuum model multiplied by it is 0
there — while the recorded spectrum has a continuum there. A polycapillary
transmits *better* at low energy (the critical angle of total reflection grows
as 1/E); the zeros mark where the table was not measured, not an opaque optic.

:func:`optic_response_flat_below_table` therefore treats leading zeros as "not
tabulated" and extends the response flat below the first tabulated positive
value, the PIQUANT rule applied to the measured part of the table. It never
returns 0 below the table. Above the table the last value is kept (the tube
spectrum ends at the tube voltage anyway).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["optic_response_flat_below_table", "optic_table_start_eV", "OPTIC_TABLE_START_FRACTION"]

#: A table's measured part starts at its first value of at least this fraction of the table maximum.
#: The breadboard file ramps from 0 (1.97 keV) through 0.07 (2.07 keV) and 0.85 (2.17 keV) to its
#: maximum 11.3 (4.7 keV); its measured part starts at 2.68 keV (4.3). Below, the response is held
#: flat (a flat continuation at 0.07 left a 12x step at 2.1 keV in the continuum). Tables that start
#: at their maximum (PIQUANT's FM optics 7 and 8) are unchanged. 0.3 is an engineering choice: with
#: 0.1 (start 2.27 keV) P on BHVO-2G comes out 38 % above PyMca, with 0.3 and 0.5 within 10 %.
OPTIC_TABLE_START_FRACTION = 0.3


def optic_response_flat_below_table(energy_eV, energies_keV: Sequence[float],
                                    response: Sequence[float]) -> np.ndarray:
    """Optic response at ``energy_eV``, flat below the start of its measured part.

    Parameters
    ----------
    energy_eV : array_like
        Photon energies (eV).
    energies_keV, response : sequence of float
        The optic table (energies ascending, keV). An empty table means no
        optic (response 1).

    Returns
    -------
    ndarray
        Linear interpolation inside the measured part of the table; its first
        value below it; the last value above it. Positive wherever the
        table has any positive value.
    """
    e_keV = np.asarray(energy_eV, dtype=float) / 1000.0
    x = np.asarray(energies_keV, dtype=float)
    v = np.asarray(response, dtype=float)
    if x.size == 0:
        return np.ones_like(e_keV)
    if not np.any(v > 0):
        return np.zeros_like(e_keV)
    first = int(np.flatnonzero(v >= OPTIC_TABLE_START_FRACTION * v.max())[0])
    x, v = x[first:], np.maximum(v[first:], 0.0)
    return np.interp(e_keV, x, v, left=v[0], right=v[-1])


def optic_table_start_eV(energies_keV: Sequence[float], response: Sequence[float]) -> float | None:
    """Lowest energy (eV) of the measured part of an optic table; None without a table.

    The measured part starts at the first value of at least :data:`OPTIC_TABLE_START_FRACTION`
    of the table maximum (see :func:`optic_response_flat_below_table`).
    """
    x = np.asarray(energies_keV, dtype=float)
    v = np.asarray(response, dtype=float)
    if x.size == 0 or not np.any(v > 0):
        return None
    return float(x[np.flatnonzero(v >= OPTIC_TABLE_START_FRACTION * v.max())[0]] * 1000.0)
