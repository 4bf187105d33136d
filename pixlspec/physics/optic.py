"""Response of the X-ray optic between tube and sample (PIQUANT's ``##OPTICFILE``).

PIQUANT multiplies the incident beam by an optic *response* (values above 1 are
normal: it is a gain over the bare source solid angle ``##INCSR``), interpolated
with a cubic spline in the Numerical Recipes ``splint`` convention (the table
carries the spline's second derivatives). Outside the table (absolute-scale.md §2):

* below the first energy the response is the first value (flat, never zero);
* above the last energy it is 0;
* a negative interpolated value is taken as 0.

The PIXL flight-model optics that PIQUANT builds in, codes 8 (``PIXL_FM_OPTIC``,
Apr 2021) and 7 (``PIXL_FM_OPTIC_OLD``), ship as package data
(``pixlspec/data/optic_responses.json``, transcribed from
``shared/science/absolute-scale.md`` §2 with their source). A table read from a
file (the breadboard's ``Efficiency_profile_*.txt``) has no second derivatives:
those of the natural cubic spline through its points are used.

The continuum of the spectrum model
-----------------------------------
An optic table (PIQUANT's built-in FM optics, or a file such as the breadboard's
``Efficiency_profile_BB_new_2019_01_14_2020.txt``) gives the polycapillary's
response on a limited energy range. PIQUANT uses the first tabulated value below
the table (flat) and 0 above it (science/absolute-scale.md §2). The breadboard
file starts with explicit zeros from 0 to 1.97 keV: read literally, the optic
passes nothing below 2.07 keV, and any continuum model multiplied by it is 0
there — while the recorded spectrum has a continuum there. A polycapillary
transmits *better* at low energy (the critical angle of total reflection grows
as 1/E); the zeros mark where the table was not measured, not an opaque optic.

The fit's continuum shape (:func:`pixlspec.model.spectrum_model.continuum_shape`)
therefore treats leading zeros as "not tabulated": it uses the FP's response
(:meth:`pixlspec.instrument.Optic.transmission_at`, the cubic spline) from the
start of the measured part (:func:`optic_table_start_eV`) and holds the shape
flat below it, the PIQUANT rule applied to the measured part of the table, so it
never vanishes below the table.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from importlib import resources

import numpy as np

from ..errors import ConfigError

__all__ = ["spline_second_derivatives", "spline_response", "builtin_optic_table", "BUILTIN_OPTIC_CODES",
           "optic_table_start_eV", "OPTIC_TABLE_START_FRACTION"]

_FORMAT = "pixlspec-optic-responses-1"
_EV_PER_KEV = 1000.0


@functools.lru_cache(maxsize=1)
def _tables() -> dict:
    text = resources.files("pixlspec").joinpath("data/optic_responses.json").read_text(encoding="utf-8")
    data = json.loads(text)
    if data.get("format") != _FORMAT:
        raise ConfigError(f"pixlspec/data/optic_responses.json: expected format {_FORMAT}", where="optic")
    return data["optics"]


#: PIQUANT optic codes with a built-in response table.
BUILTIN_OPTIC_CODES: tuple[int, ...] = (7, 8)


def builtin_optic_table(code: int) -> dict:
    """The built-in response of PIQUANT optic ``code`` (7 or 8).

    Returns
    -------
    dict
        ``name``, ``description``, ``source``, ``energy_keV``, ``response`` and
        ``second_derivatives_per_keV2`` (tuples).

    Raises
    ------
    ConfigError
        For a code without a built-in table.
    """
    t = _tables().get(str(int(code)))
    if t is None:
        raise ConfigError(f"PIQUANT optic code {code} has no built-in response table (known: "
                          f"{', '.join(map(str, BUILTIN_OPTIC_CODES))})", where="optic")
    e_keV = tuple(float(e) / _EV_PER_KEV for e in t["energy_eV"])
    # d2y/dE^2 per eV^2 -> per keV^2
    d2 = tuple(float(v) * _EV_PER_KEV ** 2 for v in t["second_derivatives"])
    return {"name": t["name"], "description": t["description"], "source": t["source"], "energy_keV": e_keV,
            "response": tuple(float(v) for v in t["response"]), "second_derivatives_per_keV2": d2}


def spline_second_derivatives(x, y) -> np.ndarray:
    """Second derivatives of the natural cubic spline through (x, y) (zero at both ends).

    Numerical Recipes ``spline`` with natural boundary conditions: the tridiagonal
    system ``h_{i-1} y''_{i-1} + 2 (h_{i-1} + h_i) y''_i + h_i y''_{i+1} = 6 (d_i - d_{i-1})``
    with ``d_i = (y_{i+1} - y_i)/h_i``.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = x.size
    out = np.zeros(n)
    if n < 3:
        return out
    h = np.diff(x)
    d = np.diff(y) / h
    from scipy.linalg import solve_banded

    m = n - 2
    ab = np.zeros((3, m))
    ab[0, 1:] = h[1:-1]                  # super-diagonal
    ab[1, :] = 2.0 * (h[:-1] + h[1:])    # diagonal
    ab[2, :-1] = h[1:-1]                 # sub-diagonal
    out[1:-1] = solve_banded((1, 1), ab, 6.0 * np.diff(d))
    return out


def spline_response(energy_keV, table_keV, values, second_derivatives=None) -> np.ndarray:
    """Optic response at ``energy_keV`` from a spline table (rules in the module docstring).

    Parameters
    ----------
    energy_keV : array_like
    table_keV, values : sequence of float
        Table energies (strictly increasing) and responses.
    second_derivatives : sequence of float, optional
        Spline second derivatives (per keV²) at the table energies; default: natural spline.

    Returns
    -------
    ndarray
        Same shape as ``energy_keV``; >= 0.
    """
    xa = np.asarray(table_keV, dtype=np.float64)
    ya = np.asarray(values, dtype=np.float64)
    y2 = (spline_second_derivatives(xa, ya) if second_derivatives is None or len(second_derivatives) == 0
          else np.asarray(second_derivatives, dtype=np.float64))
    e = np.asarray(energy_keV, dtype=np.float64)
    flat = e.reshape(-1)
    k = np.clip(np.searchsorted(xa, flat, side="right") - 1, 0, xa.size - 2)
    h = xa[k + 1] - xa[k]
    a = (xa[k + 1] - flat) / h
    b = (flat - xa[k]) / h
    y = a * ya[k] + b * ya[k + 1] + ((a ** 3 - a) * y2[k] + (b ** 3 - b) * y2[k + 1]) * h * h / 6.0
    y = np.where(flat < xa[0], ya[0], y)
    y = np.where(flat > xa[-1], 0.0, y)
    y = np.maximum(y, 0.0)
    return y.reshape(e.shape)

#: A table's measured part starts at its first value of at least this fraction of the table maximum.
#: The breadboard file ramps from 0 (1.97 keV) through 0.07 (2.07 keV) and 0.85 (2.17 keV) to its
#: maximum 11.3 (4.7 keV); its measured part starts at 2.68 keV (4.3). Below, the response is held
#: flat (a flat continuation at 0.07 left a 12x step at 2.1 keV in the continuum). Tables that start
#: at their maximum (PIQUANT's FM optics 7 and 8) are unchanged. 0.3 is an engineering choice: with
#: 0.1 (start 2.27 keV) P on BHVO-2G comes out 38 % above PyMca, with 0.3 and 0.5 within 10 %.
OPTIC_TABLE_START_FRACTION = 0.3


def optic_table_start_eV(energies_keV: Sequence[float], response: Sequence[float]) -> float | None:
    """Lowest energy (eV) of the measured part of an optic table; None without a table.

    The measured part starts at the first value of at least :data:`OPTIC_TABLE_START_FRACTION`
    of the table maximum: below it the continuum shape of the fit is held flat (see the module docstring).
    """
    x = np.asarray(energies_keV, dtype=float)
    v = np.asarray(response, dtype=float)
    if x.size == 0 or not np.any(v > 0):
        return None
    return float(x[np.flatnonzero(v >= OPTIC_TABLE_START_FRACTION * v.max())[0]] * 1000.0)
