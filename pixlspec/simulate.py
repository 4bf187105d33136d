"""Forward simulation of PIXL-like spectra and scans with known truth.

The simulator uses the same spectrum model as the fits (line groups with
detector-weighted intensities, hypermet tails, Si escape, tube-line Rayleigh
and Compton scatter) plus a physical continuum shape (tube bremsstrahlung
after the window, scattered into the detector and weighted by its efficiency)
and pile-up from the self-convolution of the noiseless spectrum. Counts are
Poisson. The truth travels with the data: ``spectrum.metadata["truth"]`` for
spectra, ``scan.point_metadata["truth_<group>"]`` for scans.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from .errors import FitError, SpectrumError
from .instrument import Instrument
from .model.spectrum_model import PILEUP, ROCK_MATRIX_WT, ShapeParams, SpectrumModel, pileup_shape
from .model.spectrum_model import continuum_shape as _continuum_shape
from .spectrum import Scan, Spectrum, channel_energies_eV

__all__ = ["simulate_spectrum", "simulate_scan", "basalt_areas", "continuum_shape", "expected_counts",
           "composition_areas"]

#: Relative areas (fraction of all recorded counts) of a basalt-like PIXL spectrum at 28 kV.
#: Shaped after the sol-125 flight spectra: Fe and Ca dominate, Si is strong, Rh K Compton
#: is the largest scatter peak; the Rh L scatter split between its L3 and L1+L2 lines as the tube emits
#: them (Ebel model, 0.66 : 0.34), and the Ar of the Mars atmosphere (~0.1 % of the counts in the flight
#: sums); V (~300 ppm in basalts, under Ti Kβ) and Ba (~150 ppm, L lines) of a basalt. Used by examples
#: and tests, not by any fit.
BASALT_FRACTIONS = {
    "Na": 0.004, "Mg": 0.012, "Al": 0.030, "Si": 0.120, "P": 0.003, "S": 0.006, "Cl": 0.005, "K": 0.012,
    "Ca": 0.150, "Ti": 0.030, "Cr": 0.003, "Mn": 0.008, "Fe": 0.440, "Ni": 0.002, "Zn": 0.002, "Sr": 0.004,
    "Y": 0.001, "Zr": 0.004, "Rh_K_Rayleigh": 0.020, "Rh_K_Compton": 0.080, "Rh_L_scatter": 0.0066,
    "Rh_L12_scatter": 0.0034, "Ar": 0.001, "V": 0.0008, "Ba_L": 0.0004,
}
#: Continuum counts as a fraction of the peak counts when the caller gives none
#: (PIXL rock spectra at 28 kV: the scattered bremsstrahlung is ~20 % of all counts).
DEFAULT_CONTINUUM_FRACTION = 0.25


def basalt_areas(total_counts: float = 1e6) -> dict[str, float]:
    """Basalt-like areas (counts per group) summing to ``total_counts``."""
    s = sum(BASALT_FRACTIONS.values())
    return {k: total_counts * v / s for k, v in BASALT_FRACTIONS.items()}


def continuum_shape(energies_eV: np.ndarray, instrument: Instrument, detector: str | None = None,
                    min_energy_eV: float = 500.0) -> np.ndarray:
    """Unit-sum continuum over ``energies_eV`` scattered by a thick rock.

    The sample is :data:`~pixlspec.model.spectrum_model.ROCK_MATRIX_WT`, as for the
    simulated lines (see :func:`pixlspec.model.spectrum_model.continuum_shape`).
    """
    e = np.asarray(energies_eV, dtype=float)
    shape = _continuum_shape(e, instrument, SpectrumModel([], instrument, detector, scatter=False, pileup=False,
                                                        matrix=ROCK_MATRIX_WT))
    shape = np.where(e < min_energy_eV, 0.0, shape)
    total = shape.sum()
    if not total > 0:
        raise SpectrumError("the continuum is zero over these energies")
    return shape / total


def expected_counts(areas: Mapping[str, float], instrument: Instrument, *, detector: str | None = None,
                    params: ShapeParams | None = None, n_channels: int | None = None,
                    continuum_counts: float | None = None, live_time_s: float = 10.0,
                    pileup_counts: float | None = None) -> dict[str, np.ndarray | float | dict]:
    """Noiseless expected counts per channel for given areas (the simulator's truth).

    Returns a dict with ``"total"``, ``"peaks"``, ``"continuum"``, ``"pileup"``
    (arrays) and ``"areas"`` (the areas used, incl. the pile-up area).
    """
    det = instrument.detector(detector)
    params = params or ShapeParams.from_instrument(instrument, det.name)
    n = int(n_channels or det.n_channels)
    groups = [k for k in areas if k not in (PILEUP,) and not k.startswith(("Rh_K_", "Rh_L_", "Rh_L12_"))]
    # the lines of a rock leave it through a rock matrix: the same weighting as the fit's default
    model = SpectrumModel(groups, instrument, det.name, scatter=True, pileup=True, matrix=ROCK_MATRIX_WT)
    e, width = model.channel_energies(np.arange(n), params)
    A = model.design(e, params, channel_width_eV=width)
    c = np.zeros(model.n_columns)
    for k, v in areas.items():
        if k == PILEUP:
            continue
        if k not in model.column_names:
            raise FitError(f"unknown column {k!r}; expected one of {model.column_names}", where="areas")
        if v < 0:
            raise FitError(f"area of {k} must be >= 0, got {v}", where="areas")
        c[model.index(k)] = v
    peaks = A @ c
    peak_total = float(c.sum())
    if continuum_counts is None:
        continuum_counts = DEFAULT_CONTINUUM_FRACTION * peak_total
    cont = continuum_counts * continuum_shape(e, instrument, det.name) if continuum_counts > 0 else np.zeros(n)
    if pileup_counts is None:
        # N_pileup ≈ τ N² / T for N recorded events in live time T (physics.md §4)
        n_events = peak_total + continuum_counts
        pileup_counts = det.pileup_time_s * n_events ** 2 / live_time_s
    pu = pileup_counts * pileup_shape(peaks + cont, params.offset_eV, params.gain_eV_per_channel,
                                      min_energy_eV=instrument.min_energy_eV)
    used = {k: float(v) for k, v in areas.items() if k != PILEUP}
    used[PILEUP] = float(pileup_counts)
    return {"total": peaks + cont + pu, "peaks": peaks, "continuum": cont, "pileup": pu, "areas": used,
            "params": params}


def composition_areas(compositions, instrument: Instrument, live_time_s=1.0, *, detector: str | None = None,
                      secondary: bool = True) -> tuple[dict[str, np.ndarray], np.ndarray, list[str]]:
    """Net areas of every line group and scatter column for thick samples of given compositions.

    The fundamental-parameter model of :mod:`pixlspec.quant.fp` (primary and
    secondary fluorescence with the instrument's tube, optic, geometry, gas
    path and detector) gives the element groups; :mod:`pixlspec.quant.scatter`
    the Rayleigh/Compton peaks of the tube lines and the scattered continuum.

    Parameters
    ----------
    compositions : dict, str or sequence of them
        Oxide/element wt% dictionaries or formulas (one per point).
    instrument : Instrument
    live_time_s : float or array
    detector : str, optional
    secondary : bool

    Returns
    -------
    (areas, continuum_counts, groups)
        ``areas``: column name → counts per point (n_points,); ``continuum_counts``
        (n_points,); ``groups``: the element groups (elements with measurable lines).

    Raises
    ------
    CompositionError, UnknownElementError
        A composition that does not parse or has negative amounts.
    """
    from .errors import ConfigError
    from .physics.attenuation import parse_composition
    from .physics.elements import atomic_number
    from .quant.fp import MIN_LINE_Z, fp_model, resolve_group
    from .quant.scatter import ScatterModel

    if isinstance(compositions, (str, Mapping)):
        compositions = [compositions]
    fracs = [parse_composition(c) for c in compositions]
    elements = sorted({el for f in fracs for el in f}, key=atomic_number)
    groups = []
    for el in elements:
        if atomic_number(el) < MIN_LINE_Z:
            continue
        try:
            groups.append(resolve_group(el, instrument.tube.voltage_kV)[0])
        except ConfigError:
            continue  # no line excited at this voltage: it only absorbs
    C = np.zeros((len(fracs), len(elements)))
    for i, f in enumerate(fracs):
        for el, v in f.items():
            C[i, elements.index(el)] = v
    live = np.broadcast_to(np.asarray(live_time_s, dtype=float), (len(fracs),))
    out: dict[str, np.ndarray] = {}
    if groups:
        model = fp_model(instrument, groups, detector=detector, elements=tuple(elements), secondary=secondary)
        Cm = np.zeros((len(fracs), len(model.elements)))
        for j, el in enumerate(elements):
            Cm[:, model.elements.index(el)] = C[:, j]
        rates = model.rates(Cm)
        for gi, g in enumerate(model.groups):
            out[g] = rates[:, gi] * live
    sc = ScatterModel(instrument, elements, detector).rates(C)
    cont = sc.pop("continuum") * live
    for k, v in sc.items():
        out[k] = v * live
    return out, cont, list(groups)


def simulate_spectrum(areas: Mapping[str, float] | None = None, instrument: Instrument | None = None,
                      live_time_s: float = 10.0, *, detector: str | None = None, params: ShapeParams | None = None,
                      continuum_counts: float | None = None, pileup_counts: float | None = None,
                      seed=None, n_channels: int | None = None, composition=None,
                      secondary: bool = True) -> Spectrum:
    """Simulate a spectrum with Poisson noise from net areas per line group.

    Parameters
    ----------
    areas : mapping of str to float
        Counts per element group ("Fe", "Pb_L") and optionally per scatter
        column ("Rh_K_Rayleigh", "Rh_K_Compton", "Rh_L_scatter") and "pileup".
        Default: :func:`basalt_areas` with 1e6 counts.
    instrument : Instrument, optional
        Default :meth:`Instrument.pixl`.
    live_time_s : float
    detector : str, optional
    params : ShapeParams, optional
        Calibration and peak shapes (default: the instrument's).
    continuum_counts : float, optional
        Counts of the continuum (default 25 % of the peak counts).
    pileup_counts : float, optional
        Counts in pile-up (default from the detector's pulse-pair time and the rate).
    seed : int or numpy Generator, optional
    n_channels : int, optional
    composition : dict or str, optional
        Instead of ``areas``: the sample's oxide/element wt% ({"SiO2": 49.9,
        "FeO": 11.1}) or formula ("CaSO4·2H2O"). Areas then come from the
        fundamental-parameter model (:func:`composition_areas`) for the
        instrument and ``live_time_s``, the scatter peaks and (unless given)
        the continuum counts from the scatter model.
    secondary : bool
        Secondary fluorescence in the composition path.

    Returns
    -------
    Spectrum
        ``metadata["truth"]`` holds the true areas (incl. "pileup"), the
        shape parameters and the expected (noiseless) counts; with
        ``composition``, also ``"composition"`` (as given).
    """
    instrument = instrument or Instrument.pixl()
    if live_time_s <= 0:
        raise SpectrumError(f"live time must be > 0 s, got {live_time_s}")
    if composition is not None:
        if areas is not None:
            raise FitError("give either areas or composition, not both", where="simulate_spectrum")
        comp_areas, cont, _ = composition_areas(composition, instrument, live_time_s, detector=detector,
                                                secondary=secondary)
        areas = {k: float(v[0]) for k, v in comp_areas.items()}
        if continuum_counts is None:
            continuum_counts = float(cont[0])
    areas = dict(areas) if areas is not None else basalt_areas()
    if pileup_counts is None and PILEUP in areas:
        pileup_counts = areas[PILEUP]
    det = instrument.detector(detector)
    truth = expected_counts(areas, instrument, detector=det.name, params=params, n_channels=n_channels,
                            continuum_counts=continuum_counts, live_time_s=live_time_s,
                            pileup_counts=pileup_counts)
    rng = np.random.default_rng(seed)
    counts = rng.poisson(truth["total"]).astype(np.float64)
    p = truth["params"]
    meta_truth = {"areas": truth["areas"], "params": p.to_dict(), "expected": truth["total"],
                  "continuum": truth["continuum"]}
    if composition is not None:
        meta_truth["composition"] = composition if isinstance(composition, str) else dict(composition)
    return Spectrum(counts=counts, offset_eV=p.offset_eV, gain_eV_per_channel=p.gain_eV_per_channel,
                    quadratic_eV=p.quadratic_eV, live_time_s=live_time_s, real_time_s=live_time_s,
                    detector=det.name, instrument=instrument,
                    metadata={"simulated": True, "truth": meta_truth})


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
    from .physics.detector import fwhm_eV

    for pk in diffraction:
        pk = _diffraction_peak(pk, (d,) if pk.get("detector") == d else (pk.get("detector"), d), n_points)
        if pk["detector"] != d:
            continue
        e0 = pk["energy_keV"] * 1000.0
        sigma = fwhm_eV(e0, params.noise_eV, fano=params.fano) / (2.0 * np.sqrt(2.0 * np.log(2.0)))
        width = np.gradient(energies_eV)
        g = np.exp(-0.5 * ((energies_eV - e0) / sigma) ** 2) * width / (sigma * np.sqrt(2.0 * np.pi))
        expected[pk["point"]] += pk["area"] * g
