"""Forward simulation of PIXL-like spectra with known truth.

The simulator uses the same spectrum model as the fits (line groups with
detector-weighted intensities, hypermet tails, Si escape, tube-line Rayleigh
and Compton scatter) plus a physical continuum shape (tube bremsstrahlung
after the window, scattered into the detector and weighted by its efficiency)
and pile-up from the self-convolution of the noiseless spectrum. Counts are
Poisson. The truth travels with the data: ``spectrum.metadata["truth"]`` for
spectra, ``scan.point_metadata["truth_<group>"]`` for scans.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

from ..errors import FitError, SpectrumError
from ..instrument import Instrument
from ..model.recorded import pileup_shape
from ..model.spectrum_model import PILEUP, ROCK_MATRIX_WT, ShapeParams, SpectrumModel
from ..model.spectrum_model import continuum_shape as _continuum_shape
from ..spectrum import Spectrum

__all__ = ["simulate_spectrum", "basalt_areas", "continuum_shape", "expected_counts", "composition_areas",
           "BASALT_FRACTIONS", "DEFAULT_CONTINUUM_FRACTION"]

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
    path and detector) gives the element groups; :mod:`pixlspec.simulate.scatter`
    the Rayleigh/Compton peaks of the tube lines and the scattered continuum.

    Parameters
    ----------
    compositions : dict, str or sequence of them
        Oxide/element wt% dictionaries or formulas (one per point). A thick
        sample is modelled: a dictionary whose total (O by stoichiometry
        included) is not 100 wt% is a sample of those components alone, i.e.
        normalised to 100 wt%; outside
        :data:`~pixlspec.quant.calibration.CERTIFICATE_TOTAL_RANGE_WT` a
        ``UserWarning`` says so (name what fills the rest, e.g. ``"CO2": 20``,
        to simulate it).
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
    from ..errors import ConfigError
    from ..physics.attenuation import parse_composition
    from ..physics.elements import atomic_number
    from ..quant.fp import MIN_LINE_Z, fp_model, resolve_group
    from .scatter import ScatterModel

    from ..quant.calibration import CERTIFICATE_TOTAL_RANGE_WT

    if isinstance(compositions, (str, Mapping)):
        compositions = [compositions]
    fracs = [parse_composition(c) for c in compositions]
    lo, hi = CERTIFICATE_TOTAL_RANGE_WT
    outside = [i for i, f in enumerate(fracs) if not lo <= 100.0 * sum(f.values()) <= hi]
    if outside:
        i = outside[0]
        warnings.warn(f"composition {compositions[i]!r}{f' (point {i})' if len(fracs) > 1 else ''} sums to "
                      f"{100.0 * sum(fracs[i].values()):.1f} wt% (O by stoichiometry included"
                      f"{f'; {len(outside)} compositions outside {lo:g}-{hi:g} %' if len(outside) > 1 else ''}): "
                      "simulated as a sample of these components alone, normalised to 100 wt%; name what fills "
                      "the rest (e.g. 'CO2': 20) to simulate it", UserWarning, stacklevel=3)
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
