"""Simulated scans: every point a spectrum of the simulator, its true areas in ``point_metadata``."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import FitError, SpectrumError
from ..instrument import Instrument
from ..model.recorded import pileup_shape
from ..model.spectrum_model import PILEUP, ROCK_MATRIX_WT, ShapeParams, SpectrumModel
from ..spectrum import Scan
from .spectra import DEFAULT_CONTINUUM_FRACTION, composition_areas, continuum_shape

__all__ = ["simulate_scan", "write_point_truth_csv"]


def simulate_scan(area_maps: Mapping[str, np.ndarray] | None = None, instrument: Instrument | None = None,
                  live_time_s: float | np.ndarray = 10.0, *, detectors: Sequence[str] | None = None,
                  step_mm: float = 0.125, shape: tuple[int, int] | None = None,
                  params: Mapping[str, ShapeParams] | None = None, continuum_fraction: float = DEFAULT_CONTINUUM_FRACTION,
                  seed=None, compositions=None, secondary: bool = True, diffraction=None) -> Scan:
    """Simulate a raster scan whose areas vary from point to point.

    Parameters
    ----------
    area_maps : mapping of str to array
        Group/scatter name → areas per point (counts), each of shape
        ``(n_points,)`` or ``shape``.
    instrument : Instrument, optional
    live_time_s : float or array
        Live time per point.
    detectors : sequence of str, optional
        Default: all detectors of the instrument (PIXL: A and B); each
        detector records the same areas with its own calibration and noise.
    step_mm : float
        Raster step; points are laid row by row (x fastest).
    shape : (ny, nx), optional
        Grid shape; default square-ish from the number of points.
    params : mapping of detector → ShapeParams, optional
    continuum_fraction : float
        Continuum counts as a fraction of each point's peak counts (area maps
        only; with ``compositions`` the continuum comes from the scatter model).
    seed : int, optional
    compositions : sequence of dict or str, optional
        Instead of ``area_maps``: one composition per point (oxide/element wt%
        or formula); the areas come from the FP model (:func:`composition_areas`,
        first detector) and the live time of each point.
    secondary : bool
        Secondary fluorescence in the composition path.
    diffraction : sequence of dict, optional
        Diffraction peaks added to one detector each: ``{"point": i, "detector": "A",
        "energy_keV": 6.40, "area": counts}`` (a Gaussian of the detector's
        instrumental FWHM at that energy, before the Poisson draw).

    Returns
    -------
    Scan
        ``point_metadata["truth_<name>"]`` holds the true areas per point;
        with ``diffraction``, ``metadata["truth_diffraction"]`` lists the peaks and
        ``point_metadata["truth_diffraction_<detector>"]`` their counts per point.
    """
    instrument = instrument or Instrument.pixl()
    cont_counts = None
    if compositions is not None:
        if area_maps is not None:
            raise FitError("give either area_maps or compositions, not both", where="simulate_scan")
        comps = list(compositions) if not isinstance(compositions, (str, Mapping)) else [compositions]
        lt0 = np.broadcast_to(np.asarray(live_time_s, dtype=float), (len(comps),))
        area_maps, cont_counts, _ = composition_areas(comps, instrument, lt0,
                                                      detector=(detectors or instrument.detector_names)[0],
                                                      secondary=secondary)
    if area_maps is None:
        raise SpectrumError("simulate_scan needs area_maps or compositions")
    maps = {k: np.asarray(v, dtype=float).ravel() for k, v in area_maps.items()}
    if not maps:
        raise SpectrumError("area_maps is empty")
    n = {v.size for v in maps.values()}
    if len(n) != 1:
        raise SpectrumError(f"all area maps must have the same number of points, got sizes {sorted(n)}")
    n_points = n.pop()
    if shape is None:
        nx = int(np.ceil(np.sqrt(n_points)))
        shape = (int(np.ceil(n_points / nx)), nx)
    ny, nx = shape
    if ny * nx < n_points:
        raise SpectrumError(f"shape {shape} holds fewer than {n_points} points")
    lt = np.broadcast_to(np.asarray(live_time_s, dtype=float), (n_points,)).copy()
    detectors = tuple(detectors or instrument.detector_names)
    rng = np.random.default_rng(seed)
    names = list(maps)
    counts, live, cal = {}, {}, {}
    for d in detectors:
        det = instrument.detector(d)
        p = (params or {}).get(d) or ShapeParams.from_instrument(instrument, d)
        groups = [k for k in names if not k.startswith(("Rh_K_", "Rh_L_", "Rh_L12_")) and k != PILEUP]
        model = SpectrumModel(groups, instrument, d, scatter=True, pileup=True, matrix=ROCK_MATRIX_WT)
        e, width = model.channel_energies(np.arange(det.n_channels), p)
        A = model.design(e, p, channel_width_eV=width)
        C = np.zeros((n_points, model.n_columns))
        for k in names:
            if k != PILEUP:
                C[:, model.index(k)] = maps[k]
        peaks = C @ A.T
        cont_shape = continuum_shape(e, instrument, d)
        peak_tot = C.sum(axis=1)
        cont_tot = continuum_fraction * peak_tot if cont_counts is None else cont_counts
        cont = np.outer(cont_tot, cont_shape)
        expected = peaks + cont
        # pile-up: shape from the scan's mean spectrum, amplitude τ N²/T per point
        pu_shape = pileup_shape(expected.mean(axis=0), p.offset_eV, p.gain_eV_per_channel,
                                min_energy_eV=instrument.min_energy_eV)
        n_ev = peak_tot + cont_tot
        pu_counts = det.pileup_time_s * n_ev ** 2 / lt
        expected += np.outer(pu_counts, pu_shape)
        if diffraction:
            _add_diffraction(expected, diffraction, d, n_points, e, det, p)
        counts[d] = rng.poisson(expected).astype(np.uint32)
        live[d] = lt
        cal[d] = (p.offset_eV, p.gain_eV_per_channel, p.quadratic_eV)
        if d == detectors[0]:
            maps_pu = pu_counts
    iy, ix = np.divmod(np.arange(n_points), nx)
    pos = np.column_stack([ix * step_mm, iy * step_mm, np.zeros(n_points)])
    pm = {f"truth_{k}": v for k, v in maps.items()}
    pm[f"truth_{PILEUP}"] = maps_pu
    meta = {"simulated": True, "grid_shape": [ny, nx], "step_mm": step_mm, "continuum_fraction": continuum_fraction}
    if diffraction:
        peaks = [_diffraction_peak(pk, detectors, n_points) for pk in diffraction]
        meta["truth_diffraction"] = peaks
        for d in detectors:
            per = np.zeros(n_points)
            for pk in peaks:
                if pk["detector"] == d:
                    per[pk["point"]] += pk["area"]
            pm[f"truth_diffraction_{d}"] = per
    return Scan(counts, live, positions_mm=pos, real_time_s={d: lt for d in detectors}, calibration=cal,
                instrument=instrument, metadata=meta, point_metadata=pm)


def write_point_truth_csv(path: str, scan: Scan) -> list[str]:
    """Write the true areas a simulated scan carries (``point_metadata["truth_<name>"]``) as CSV.

    One row per point: ``point, x_mm, y_mm`` and one column per truth key (without the ``truth_``
    prefix). Written atomically. Returns the truth columns written.
    """
    import csv

    from ..io.atomic import atomic_path

    keys = [k for k in scan.point_metadata if k.startswith("truth_")]
    pos = scan.positions_mm
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["point", "x_mm", "y_mm"] + [k[len("truth_"):] for k in keys])
        for i in range(scan.n_points):
            w.writerow([i, f"{pos[i, 0]:.4f}", f"{pos[i, 1]:.4f}"]
                       + [f"{float(scan.point_metadata[k][i]):.6g}" for k in keys])
    return [k[len("truth_"):] for k in keys]


def _diffraction_peak(pk, detectors, n_points) -> dict:
    """One diffraction peak as a checked dict (point, detector, energy_keV, area)."""
    try:
        out = {"point": int(pk["point"]), "detector": str(pk["detector"]), "energy_keV": float(pk["energy_keV"]),
               "area": float(pk["area"])}
    except (KeyError, TypeError, ValueError):
        raise SpectrumError(f"a diffraction peak needs point, detector, energy_keV and area; got {pk!r}") from None
    if not 0 <= out["point"] < n_points or out["detector"] not in detectors or out["area"] < 0 \
            or not out["energy_keV"] > 0:
        raise SpectrumError(f"diffraction peak {out} outside the scan (points 0-{n_points - 1}, detectors "
                            f"{detectors}) or with a negative area")
    return out


def _add_diffraction(expected, diffraction, d, n_points, energies_eV, det, params) -> None:
    """Add the Gaussian diffraction peaks of detector ``d`` to the expected counts (in place)."""
    from ..physics.detector import fwhm_eV

    for pk in diffraction:
        pk = _diffraction_peak(pk, (d,) if pk.get("detector") == d else (pk.get("detector"), d), n_points)
        if pk["detector"] != d:
            continue
        e0 = pk["energy_keV"] * 1000.0
        sigma = fwhm_eV(e0, params.noise_eV, fano=params.fano) / (2.0 * np.sqrt(2.0 * np.log(2.0)))
        width = np.gradient(energies_eV)
        g = np.exp(-0.5 * ((energies_eV - e0) / sigma) ** 2) * width / (sigma * np.sqrt(2.0 * np.pi))
        expected[pk["point"]] += pk["area"] * g
