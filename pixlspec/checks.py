"""Checks of the numbers every container and the instrument validate: live and real times, energy
calibrations. Each raises the error class its caller names, with the file and the place."""
from __future__ import annotations

import math

from .errors import SpectrumError

__all__ = ["as_float", "check_live_time", "check_real_time", "check_point_times", "check_point_ids",
           "check_calibration", "MAX_LIVE_TIME_S", "MIN_LIVE_TIME_S", "MIN_GAIN_EV_PER_CHANNEL",
           "MAX_GAIN_EV_PER_CHANNEL", "MAX_ABS_OFFSET_EV"]

#: Longest accepted live (or real) time, s: ~3 years. A Rh X-ray tube's rated life is
#: ~10^4 h = 3.6e7 s, so no measurement, nor any sum of PIXL spectra (a whole scan of
#: 10^5 points of 10 s is 1e6 s), comes near; 1e23 s is a corrupt field.
MAX_LIVE_TIME_S = 1e8
#: Shortest accepted live time of a spectrum, s (0 aside, which marks a point without data): one
#: microsecond, about the pulse-processing time of a single event in a silicon drift detector
#: (peaking times 0.1-1 µs), so no spectrum can hold even one count in less. A live time of 1e-300 s
#: is a corrupt field, and would turn every count rate (and composition) into ~1e300.
MIN_LIVE_TIME_S = 1e-6
#: Accepted energy gains, eV per channel. Energy-dispersive X-ray detectors run from
#: ~1 eV/ch (microcalorimeters) to ~40 eV/ch (coarse SDD binning; PIXL 7.9 eV/ch); the
#: bounds leave three decades of margin on each side and reject 1e308 or 1e-300.
MIN_GAIN_EV_PER_CHANNEL = 1e-3
MAX_GAIN_EV_PER_CHANNEL = 1e3
#: Largest accepted |energy offset|, eV (100 keV: above any X-ray line; PIXL's are ~ -20 eV).
MAX_ABS_OFFSET_EV = 1e5


def as_float(value, what: str, path, where, error_cls) -> float:
    """``float(value)``, or ``error_cls`` naming ``what`` (and the file and place) when it is not a number."""
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        raise error_cls(f"{what} must be a number, got {value!r}", path=path, where=where) from None


def check_live_time(value, *, what: str = "live time", path=None, where=None,
                    error_cls=SpectrumError) -> float:
    """``value`` as a float if it is a live time in [MIN_LIVE_TIME_S, MAX_LIVE_TIME_S] s, else ``error_cls``."""
    v = as_float(value, what, path, where, error_cls)
    if not (math.isfinite(v) and MIN_LIVE_TIME_S <= v <= MAX_LIVE_TIME_S):
        raise error_cls(f"{what} is {v!r} s; expected a finite value in [{MIN_LIVE_TIME_S:.0e}, "
                        f"{MAX_LIVE_TIME_S:.0e}] s", path=path, where=where)
    return v


def check_point_times(values, *, what: str, path=None, where=None, error_cls=SpectrumError) -> None:
    """Check per-point live (or real) times of a scan or a results file: each 0 (a point without data,
    flagged invalid downstream) or in [MIN_LIVE_TIME_S, MAX_LIVE_TIME_S] s; ``error_cls`` names the
    first point that is neither ("... of point i")."""
    import numpy as np

    a = np.asarray(values, dtype=float)
    ok = np.isfinite(a) & ((a == 0) | ((a >= MIN_LIVE_TIME_S) & (a <= MAX_LIVE_TIME_S)))
    if not np.all(ok):
        i = int(np.flatnonzero(~ok.reshape(-1))[0])
        raise error_cls(f"{what} of point {i} is {float(a.reshape(-1)[i])!r} s; expected 0 (no data) or a finite "
                        f"value in [{MIN_LIVE_TIME_S:.0e}, {MAX_LIVE_TIME_S:.0e}] s", path=path, where=where)


def check_real_time(value, *, what: str = "real time", path=None, where=None,
                    error_cls=SpectrumError) -> float:
    """``value`` as a float if it is a real (clock) time in [0, MAX_LIVE_TIME_S] s, else ``error_cls``."""
    v = as_float(value, what, path, where, error_cls)
    if not (math.isfinite(v) and 0 <= v <= MAX_LIVE_TIME_S):
        raise error_cls(f"{what} is {v!r} s; expected a finite value in [0, {MAX_LIVE_TIME_S:.0e}] s",
                        path=path, where=where)
    return v


def check_point_ids(ids, *, what: str = "point_ids", path=None, where=None, error_cls=SpectrumError) -> None:
    """Point identifiers (PIXL PMCs) must name one point each: no id twice, no NaN. Points are matched by
    id between detectors, files and maps (``pixlspec compare``), where a repeated id pairs the wrong points."""
    import numpy as np

    a = np.asarray(ids).reshape(-1)
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        i = int(np.flatnonzero(~np.isfinite(a))[0])
        raise error_cls(f"{what} of point {i} is {float(a[i])!r}; expected a finite identifier", path=path,
                        where=where)
    if a.size > 1:
        values, first, counts = np.unique(a, return_index=True, return_counts=True)
        if np.any(counts > 1):
            k = int(np.flatnonzero(counts > 1)[np.argmin(first[counts > 1])])
            rows = np.flatnonzero(a == values[k]).tolist()
            v = values[k].item() if hasattr(values[k], "item") else values[k]
            shown = ", ".join(map(str, rows[:3])) + (f" and {len(rows) - 3} more" if len(rows) > 3 else "")
            raise error_cls(f"{what}: {v!r} names points {shown}; expected one point per identifier",
                            path=path, where=where)


def check_calibration(offset_eV, gain_eV_per_channel, quadratic_eV=0.0, n_channels: int | None = None, *,
                      what: str = "calibration", path=None, where=None,
                      error_cls=SpectrumError) -> tuple[float, float, float]:
    """Check an energy calibration ``E(ch) = offset + gain*ch + quadratic*ch²`` (eV).

    Every term finite, the gain in [MIN_GAIN_EV_PER_CHANNEL, MAX_GAIN_EV_PER_CHANNEL],
    |offset| <= MAX_ABS_OFFSET_EV and, with ``n_channels``, energies increasing over
    the channels and the last channel above 0 eV. Returns the three terms as floats.
    """
    off = as_float(offset_eV, f"{what} offset", path, where, error_cls)
    gain = as_float(gain_eV_per_channel, f"{what} gain", path, where, error_cls)
    quad = as_float(quadratic_eV, f"{what} quadratic term", path, where, error_cls)
    for name, v in (("offset", off), ("gain", gain), ("quadratic term", quad)):
        if not math.isfinite(v):
            raise error_cls(f"{what} {name} is {v!r}; expected a finite number", path=path, where=where)
    if not MIN_GAIN_EV_PER_CHANNEL <= gain <= MAX_GAIN_EV_PER_CHANNEL:
        raise error_cls(f"{what} gain is {gain!r} eV/channel; expected {MIN_GAIN_EV_PER_CHANNEL:g} to "
                        f"{MAX_GAIN_EV_PER_CHANNEL:g} eV/channel", path=path, where=where)
    if abs(off) > MAX_ABS_OFFSET_EV:
        raise error_cls(f"{what} offset is {off!r} eV; expected |offset| <= {MAX_ABS_OFFSET_EV:g} eV",
                        path=path, where=where)
    if n_channels is not None and n_channels >= 1:
        last = n_channels - 1
        slope_last = gain + 2.0 * quad * last
        e_last = off + gain * last + quad * last * last
        if not slope_last > 0:
            raise error_cls(f"{what} quadratic term {quad!r} eV/ch² makes the energy decrease before channel "
                            f"{last}; expected increasing energies", path=path, where=where)
        if not (math.isfinite(e_last) and e_last > 0):
            raise error_cls(f"{what} maps every channel to energies <= 0 eV (last channel {e_last:.1f} eV)",
                            path=path, where=where)
    return off, gain, quad
