"""Inverse FP: fitted line-group areas -> oxide wt%, 1σ, detection limits, analytical total.

:func:`quantify` takes a :class:`~pixlspec.fit.result.FitResult`,
:func:`quantify_map` an :class:`~pixlspec.element_maps.ElementMaps` (or any object
with ``point_areas``/``areas``, ``point_sigma``/``sigma``, ``live_time_s`` and
``instrument``). Both solve ``area_g = live_time x k_g x rate_g(C)`` for the
mass fractions C of the analysed elements (physics.md §9, "Solving for
composition"):

* ``rate_g`` is the FP model (:class:`~pixlspec.quant.fp.FPModel`): primary +
  secondary fluorescence of a thick sample whose composition is the analysed
  elements with **O by stoichiometry** (oxide table, Fe as FeO total by default
  or Fe₂O₃). By default the matrix is those oxides normalised to 100 % and the
  intensities scale with the analytical total (PIQUANT-like; the total is the
  sum of the analysed oxides, not normalised: a QC number). With
  ``balance="CO2"`` (or "H2O") a total below 100 % is filled with that
  invisible compound instead (C, H, O absorb but are not seen), so a
  carbonate's or a hydrated salt's total comes out low by its volatiles.
  ``normalise=True`` scales the reported oxides to 100 %.
* ``k_g`` are the element calibration factors of a
  :class:`~pixlspec.quant.calibration.Calibration` (measured / FP-calculated
  area on standards); without one, ``k = 1``: the absolute FP from the
  instrument constants (tube current, source and detector solid angles).
* A He path is corrected for the air it holds, measured by the Ar K line of
  the fit: Ar excited by the incident beam along the gas column, seen with the
  detector's solid angle from each point of it
  (:meth:`~pixlspec.quant.fp.FPModel.gas_line_rate`), plus Ar excited by the
  sample's own emission (:meth:`~pixlspec.quant.fp.FPModel.sample_gas_rate`,
  from the spectrum; single spectra only, ~3 % of the line).

Iteration: fixed point ``C <- C x area / predicted`` (Criss & Birks 1968)
until the residuals are below 5 % (a map of 16 points or more starts instead from
one of its points solved first, the pilot), then quasi-Newton steps in log space with one
Jacobian ``d log(area) / d log(C)`` shared by all points (taken at their median
composition; a point whose residual stops shrinking goes back to the fixed
point), to 1e-7 relative. The steps run on the quick primary of coarse excitation bins
times its ratio to the full model (fine primary and secondary fluorescence), followed to
first order in between; the full model is evaluated again as the residual falls and
confirms the solution (:mod:`pixlspec.quant.solver`). Uncertainties: the sensitivity
matrix ``D = (d area/dC)^-1`` (the analytic derivative of the quick primary at the solution,
:meth:`~pixlspec.quant.fp.FPModel.primary_jacobian`, times that ratio) propagates the fit
covariance of the areas (counting) and the calibration-factor uncertainties (calibration);
they are reported separately and in quadrature. Limits of detection:
``3 sqrt(B) / S`` with B the fitted background counts within ±1 FWHM of the
group's main line and S the counts per wt% in that window (physics.md §11).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..composition import Composition, CompositionMap
from ..checks import MIN_LIVE_TIME_S
from ..errors import ConfigError, FitError
from ..instrument import Instrument
from ..model.spectrum_model import kbeta_column
from ..physics.detector import fwhm_eV
from ..spectrum import geometry_factors
from . import kernels
from .fp import GAS_LINE_ELEMENT
from .groups import GAS_GROUPS, analysis_groups, solve_air_fraction
from .solver import MAX_ITERATIONS, PILOT_MIN_POINTS, TOLERANCE, Solver

if TYPE_CHECKING:
    from ..element_maps import ElementMaps
    from ..fit.result import FitResult
    from .calibration import Calibration

__all__ = ["Composition", "CompositionMap", "quantify", "quantify_map", "DEFAULT_BALANCE", "MAP_DEFAULT_BALANCE", "GAS_GROUPS",
           "MATRIX_ELEMENTS", "LOD_SIGMAS", "MAX_ITERATIONS", "TOLERANCE", "MAP_CHUNK_POINTS", "MAP_CHUNK_MULTIPLE"]

#: Default invisible balance. None: the sample is the analysed oxides (normalised in the matrix
#: correction) and the analytical total measures the absolute intensities — robust, PIQUANT-like.
#: A formula ("CO2", "H2O") fills a total below 100 % with that invisible compound in the
#: absorption (C, H, O are not seen by PIXL): right for carbonates and hydrated salts, but then
#: the total depends on the absorption contrast between balance and rock, so a 1 % calibration
#: error moves the total by several %. CO2 and H2O absorb alike above 1 keV (O dominates).
DEFAULT_BALANCE: str | None = None
#: Default balance of :func:`quantify_map`: maps are where salts and carbonates are looked for, and
#: their low totals are the clue (physics.md §9 "unanalysed balance"). With no balance the matrix of a
#: carbonate is taken as its visible oxides only, its total comes out ~25 wt% too high, and a
#: simulated carbonate patch is found at 84 % recall instead of 100 % (tests/integration/test_full_chain.py).
MAP_DEFAULT_BALANCE: str | None = "CO2"
#: Elements whose absorption dominates rocks and salts: a fit without one of them cannot close
#: the matrix, and the result is flagged (``Composition.ok`` False).
MATRIX_ELEMENTS: tuple[str, ...] = ("Na", "Mg", "Al", "Si", "S", "Cl", "K", "Ca", "Fe")
#: numba threading layers that let several threads call parallel kernels at once (:func:`quantify_map`).
THREAD_SAFE_LAYERS: tuple[str, ...] = ("omp", "tbb")
#: Detection limit in standard deviations of the background (physics.md §11).
LOD_SIGMAS: float = 3.0
#: Half-width of the LOD window in units of the detector FWHM at the main line.
LOD_WINDOW_FWHM: float = 1.0
#: Fraction of a Gaussian within ±1 FWHM (erf(2 sqrt(ln 2))).
_GAUSS_IN_FWHM = math.erf(2.0 * math.sqrt(math.log(2.0)))
#: Totals outside this range (wt%) flag the result: the matrix or the calibration is wrong.
TOTAL_RANGE_WT: tuple[float, float] = (70.0, 115.0)


# =========================================================================================
# calibration factors, flags and uncertainties (the solver is pixlspec.quant.solver)
# =========================================================================================
def _factors(calibration, groups, detector) -> tuple[np.ndarray, np.ndarray, list[str]]:
    flags = []
    if calibration is None:
        return np.ones(len(groups)), np.zeros(len(groups)), flags
    k, s, missing = calibration.factors_for(groups)
    if missing:
        flags.append(f"no calibration factor for {', '.join(missing)}: interpolated in Z from the calibrated "
                     "groups of the same series (K or L)")
    flags += [f"calibration: {f}" for f in getattr(calibration, "flags", [])]
    if calibration.detector and detector and calibration.detector not in detector.split("+"):
        flags.append(f"calibration made on detector {calibration.detector}, applied to detector {detector}")
    return k, s, flags


#: What the FP's intensities depend on, of an instrument and of its detector: a calibration made with
#: other values does not carry over (names and energy calibrations do not matter).
FP_INSTRUMENT_FIELDS = ("tube", "optic", "incidence_deg", "atmosphere", "path_in_cm", "path_out_cm",
                        "gas_pressure_Pa", "gas_temperature_K", "source_solid_angle_sr")
FP_DETECTOR_FIELDS = ("window_Be_um", "dead_layer_um", "si_thickness_um", "solid_angle_sr", "elevation_deg")


def _instrument_flags(calibration, data_instrument, detector: str) -> list[str]:
    """A flag when the calibration's instrument (the one used) differs from the data's in what the FP uses."""
    if calibration is None or data_instrument is None or data_instrument is calibration.instrument:
        return []
    a, b = calibration.instrument, data_instrument
    differ = [f for f in FP_INSTRUMENT_FIELDS if getattr(a, f) != getattr(b, f)]
    if detector in a.detector_names and detector in b.detector_names:
        da, db = a.detector(detector), b.detector(detector)
        differ += [f"detector {detector} {f}" for f in FP_DETECTOR_FIELDS if getattr(da, f) != getattr(db, f)]
    if not differ:
        return []
    return [f"the calibration's instrument ({a.name}), used here, differs from the data's ({b.name}) in "
            f"{', '.join(differ)}: pass instrument= to choose"]


def _matrix_flags(groups: Sequence[str]) -> list[str]:
    els = {g.split("_")[0] for g in groups}
    missing = [e for e in MATRIX_ELEMENTS if e not in els]
    if missing:
        return [f"matrix not closed: {', '.join(missing)} not fitted, so their absorption is missing and "
                "the other elements are biased (fit them, even when absent)"]
    return []


def _lod_window_fraction(solver: Solver, detector_fwhm) -> tuple[np.ndarray, np.ndarray]:
    """Main-line energy of each group and the fraction of its recorded photons within ±1 FWHM of it."""
    m = solver.models[0]
    table = m.line_table()
    main_e = np.zeros(solver.n_g)
    frac = np.zeros(solver.n_g)
    for gi, g in enumerate(solver.groups):
        rows = [r for r in table if r["group"] == g]
        w = np.array([r["fraction"] * r["recorded_fraction"] for r in rows])
        e = np.array([r["energy_eV"] for r in rows])
        e_main = float(e[np.argmax(w)])
        # intensity-weighted energy of the lines within 50 eV of the strongest (Ka1 + Ka2)
        near = np.abs(e - e_main) < 50.0
        e_main = float(np.sum(w[near] * e[near]) / np.sum(w[near]))
        fw = float(detector_fwhm(e_main))
        inside = np.abs(e - e_main) <= LOD_WINDOW_FWHM * fw
        main_e[gi] = e_main
        frac[gi] = np.sum(w[inside]) / np.sum(w) * _GAUSS_IN_FWHM
    return main_e, frac


def _inverse(J: np.ndarray) -> np.ndarray:
    """Inverse of each matrix of ``J`` (P, n, n); the pseudo-inverse for a singular one."""
    J = np.ascontiguousarray(J, dtype=np.float64)
    D = np.empty_like(J)
    ok = kernels.batched_inverse(J, D)
    for p in np.flatnonzero(~ok):  # a singular J (an element with no sensitivity): the pseudo-inverse
        D[p] = np.linalg.pinv(J[p]) if np.all(np.isfinite(J[p])) else np.nan
    return D


def _propagate(J: np.ndarray, cov_A: np.ndarray, pred: np.ndarray, k_rel: np.ndarray):
    """Counting and calibration covariance of c: D cov_A D^T and D diag((pred k_rel)^2) D^T, D = J^-1
    (the pseudo-inverse for a singular J)."""
    D = _inverse(J)
    ca = np.where(np.isfinite(cov_A), cov_A, 0.0)
    cov_count = D @ ca @ D.transpose(0, 2, 1)
    bad = ~np.isfinite(np.einsum("pii->pi", cov_A))
    pp, ii = np.nonzero(bad)
    cov_count[pp, ii, ii] = np.nan  # an area without uncertainty gives its element none
    De = D * (pred * k_rel)[:, None, :]
    cov_cal = De @ De.transpose(0, 2, 1)
    return cov_count, cov_cal


def _normalise_cov(x: np.ndarray, cov: np.ndarray, oeq: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Scale oxide wt% rows ``x`` (P, n) to a total (sum - O equivalent ``oeq @ x``) of 100 and
    propagate the covariance (P, n, n)."""
    n = x.shape[1]
    w = np.ones(n) - (np.zeros(n) if oeq is None else oeq)
    T = x @ w
    out = x * (100.0 / T)[:, None]
    G = (100.0 / T)[:, None, None] * (np.eye(n)[None] - x[:, :, None] * w[None, None, :] / T[:, None, None])
    cov_n = G @ cov @ G.transpose(0, 2, 1)
    return out, cov_n


@dataclass(frozen=True)
class _SummedSpectrum:
    """What :meth:`Solver.set_sample_emission` reads of a spectrum."""

    energy_eV: np.ndarray
    counts: np.ndarray
    live_time_s: float


# =========================================================================================
# public functions
# =========================================================================================
def quantify(fit_result: FitResult, instrument: Instrument | None = None, calibration: Calibration | None = None, *,
             fe_oxide: str = "FeO", normalise: bool = False, balance: str | None = DEFAULT_BALANCE,
             secondary: bool = True, air_fraction: float | None = None, exclude: Sequence[str] = GAS_GROUPS,
             strict: bool = False) -> Composition:
    """Oxide wt% of a fitted spectrum by fundamental parameters.

    Parameters
    ----------
    fit_result : FitResult
        From :func:`pixlspec.fit_spectrum`. Its element groups are quantified
        (one group per element; K preferred over L).
    instrument : Instrument, optional
        Default: the calibration's instrument, else the fit's.
    calibration : Calibration, optional
        Element calibration factors (:func:`pixlspec.calibrate`). Without one
        the FP is absolute (instrument constants), which is only as good as
        the tube, optic and solid-angle numbers of the instrument.
    fe_oxide : {"FeO", "Fe2O3"}
        How total Fe is reported (and how much O it carries).
    normalise : bool
        Scale the oxides to 100 wt% (the total is still reported).
    balance : str or None
        None (default): the matrix is the analysed oxides normalised to 100 %
        and the total measures the absolute intensities. A formula ("CO2",
        "H2O"): a total below 100 % is filled with that invisible compound in
        the absorption, so volatile-rich targets (carbonates, hydrated salts)
        get a total low by their volatiles (see :data:`DEFAULT_BALANCE` on the
        conditioning).
    secondary : bool
        Secondary fluorescence (on by default; matters in Fe-rich matrices:
        Ca by Fe ~+14 % relative in basalt).
    air_fraction : float, optional
        Air in a He path (mole fraction); default: from the fitted Ar area.
    exclude : sequence of str
        Groups not from the sample (default: Ar of the gas path).
    strict : bool
        Raise :class:`FitError` instead of flagging a fit that cannot close the
        matrix or a solution that does not converge.

    Returns
    -------
    Composition

    Raises
    ------
    FitError
        Not a fit result, or no quantifiable element group in it.
    CompositionError
        Bad ``fe_oxide`` or ``balance``.
    """
    for attr in ("areas", "sigma", "elements", "spectrum"):
        if not hasattr(fit_result, attr):
            raise FitError(f"quantify needs a FitResult (from fit_spectrum), got {type(fit_result).__name__}",
                           where="quantify")
    data_instrument = None  # the data's, when the calibration's replaces it (flagged if it differs)
    if calibration is not None and instrument is None:
        data_instrument, instrument = fit_result.instrument, calibration.instrument
    instrument = instrument or fit_result.instrument
    spec = fit_result.spectrum
    detector = spec.detector if spec.detector in instrument.detector_names else instrument.detectors[0].name
    live = float(spec.live_time_s)
    if not live > 0:
        raise FitError(f"live time must be > 0 s, got {live}", where="quantify")
    geometry = spec.geometry_factor
    exposure = spec.exposure_s  # the FP's counts scale with live time x stand-off factor (##GEOMETRY)
    groups, skipped = analysis_groups(fit_result.elements, instrument.tube.voltage_kV, exclude)
    if not groups:
        raise FitError(f"no quantifiable element group among {list(fit_result.elements)} ({skipped})",
                       where="quantify")
    flags = _matrix_flags(groups)
    if flags and strict:
        raise FitError(flags[0], where="quantify")
    k, k_sigma, f2 = _factors(calibration, groups, detector)
    flags += f2 + _instrument_flags(calibration, data_instrument, detector)
    if calibration is None:
        flags.append("uncalibrated: absolute FP from the instrument constants (calibrate on standards)")
    solver = Solver(instrument, [detector], groups, k, k_sigma, fe_oxide, balance, secondary)
    solver.gas_scale = calibration.scale if calibration is not None else 1.0
    A = np.array([[float(fit_result.areas.get(g, 0.0)) for g in solver.groups]])
    liv = np.array([exposure])
    a_gas = fit_result.areas.get(GAS_LINE_ELEMENT) if GAS_LINE_ELEMENT in GAS_GROUPS else None
    if air_fraction is None and a_gas is not None:
        solver.set_sample_emission(spec)
    x = solve_air_fraction(solver, a_gas, exposure, air_fraction)
    solved = solver.solve(A, liv, x)
    if air_fraction is None and x > 0:
        # the Ar line shares the instrument scale of the sample lines: an analytical total T far
        # from 100 % (e.g. uncalibrated) rescales the air it implies; iterate the two
        for _ in range(5):
            total = float((solved.c[0] * solver.factor).sum())
            solver.gas_scale = (calibration.scale if calibration is not None else 1.0) * max(total, 1e-6)
            x_new = solve_air_fraction(solver, a_gas, exposure, None)
            if abs(x_new - x) < 1e-5:
                x = x_new
                break
            x = x_new
            solved = solver.solve(A, liv, x)
    c, pred, it, conv = solved.c, solved.pred, solved.iterations, solved.converged
    if x > 0.5:
        flags.append(f"the Ar line implies {100 * x:.0f} % air in the He path: check the He flush or the "
                     "calibration scale")
    if not conv[0]:
        msg = f"FP iteration did not converge in {it} iterations"
        if strict:
            raise FitError(msg, where="quantify")
        flags.append(msg)
    # --- covariance of the areas (fit covariance, Kβ columns merged) ---------------------------
    cov_A = _area_covariance(fit_result, solver.groups)
    J = solver.sensitivity(c, liv, x, solved.sensitivity_corr())
    k_rel = np.where(solver.k > 0, solver.k_sigma / np.where(solver.k > 0, solver.k, 1.0), 0.0)
    cov_cnt, cov_cal = _propagate(J, cov_A[None], pred[0:1], k_rel)
    F = solver.factor
    ox = c[0] * 100.0 * F
    cov_cnt_ox = cov_cnt[0] * np.outer(F, F) * 1e4
    cov_cal_ox = cov_cal[0] * np.outer(F, F) * 1e4
    total = float(ox.sum() - ox @ solver.oeq)
    if normalise:
        ox_n, cov_cnt_ox = _normalise_cov(ox[None], cov_cnt_ox[None], solver.oeq)
        _, cov_cal_ox = _normalise_cov(ox[None], cov_cal_ox[None], solver.oeq)
        ox, cov_cnt_ox, cov_cal_ox = ox_n[0], cov_cnt_ox[0], cov_cal_ox[0]
    s_cnt = np.sqrt(np.maximum(np.diag(cov_cnt_ox), 0.0))
    s_cal = np.sqrt(np.maximum(np.diag(cov_cal_ox), 0.0))
    # --- detection limits ---------------------------------------------------------------------
    lod_el = _lod_single(fit_result, solver, J[0], instrument, detector)
    lod_ox = lod_el * F
    if normalise and total > 0:
        lod_ox = lod_ox * 100.0 / total
    _, _, rest = solver.full(c)
    o_wt = float(max(c[0] @ (F - 1.0) - c[0] @ solver.oeq, 0.0) * 100.0)
    if not (TOTAL_RANGE_WT[0] <= total <= TOTAL_RANGE_WT[1]):
        flags.append(f"analytical total {total:.1f} wt% outside {TOTAL_RANGE_WT[0]:g}-{TOTAL_RANGE_WT[1]:g}: "
                     "check the calibration, the matrix (volatiles, unfitted elements) and the geometry")
    nan_sigma = [g for g, s in zip(solver.groups, np.diag(cov_A)) if not np.isfinite(s)]
    if nan_sigma:
        flags.append(f"fit gives no uncertainty for {', '.join(nan_sigma)} (area at a bound)")
    oxides = solver.oxides
    detected = {o: bool(v > l) for o, v, l in zip(oxides, ox, lod_ox)}
    return Composition(
        oxide_wt=dict(zip(oxides, map(float, ox))), sigma=dict(zip(oxides, map(float, np.hypot(s_cnt, s_cal)))),
        lod=dict(zip(oxides, map(float, lod_ox))), sigma_counting=dict(zip(oxides, map(float, s_cnt))),
        sigma_calibration=dict(zip(oxides, map(float, s_cal))),
        element_wt={e: float(100 * v) for e, v in zip(solver.group_elements, c[0])},
        element_sigma={e: float(np.hypot(a, b) / f) for e, a, b, f in zip(solver.group_elements, s_cnt, s_cal, F)},
        total=total, normalised=bool(normalise), oxygen_wt=o_wt, balance=balance,
        balance_wt=float(rest[0] * 100.0), air_fraction=float(x), groups=list(solver.groups),
        areas={g: float(a) for g, a in zip(solver.groups, A[0])},
        predicted={g: float(p) for g, p in zip(solver.groups, pred[0])}, calibrated=calibration is not None,
        fe_oxide=fe_oxide, iterations=int(it), converged=bool(conv[0]), detected=detected,
        flags=flags + [f"{g} not quantified: {why}" for g, why in skipped.items() if not g.startswith("Ar")]
        + _excluded_flags(fit_result),
        detector=detector, live_time_s=live, source=getattr(spec, "source", None), geometry_factor=geometry)


def _excluded_flags(fit_result) -> list[str]:
    """A flag when channels (e.g. under a diffraction peak) were left out of the fit."""
    ex = getattr(fit_result, "excluded", None)
    if ex is None or not np.any(ex):
        return []
    e = fit_result.spectrum.energy_eV[np.asarray(ex, bool)] / 1000.0
    return [f"{int(np.sum(ex))} channels excluded from the fit ({e.min():.2f}-{e.max():.2f} keV; "
            "diffraction peak masked)"]


def _area_covariance(fit_result, groups: Sequence[str]) -> np.ndarray:
    """Covariance of the group areas from the fit (Kβ columns added to their group)."""
    n = len(groups)
    names = list(getattr(fit_result, "covariance_names", []) or [])
    cov = getattr(fit_result, "covariance", None)
    if cov is None or not names:
        return np.diag([float(fit_result.sigma.get(g, np.nan)) ** 2 for g in groups])
    T = np.zeros((n, len(names)))
    for i, g in enumerate(groups):
        for column in (g, kbeta_column(g)):
            if column in names:
                T[i, names.index(column)] = 1.0
    used = T.any(axis=0)
    sub = np.asarray(cov)[np.ix_(used, used)]
    Tu = T[:, used]
    out = Tu @ np.where(np.isfinite(sub), sub, 0.0) @ Tu.T
    # where the fit has no finite variance, fall back to its sigma (NaN flags it)
    for i, g in enumerate(groups):
        s = float(fit_result.sigma.get(g, np.nan))
        if not np.isfinite(out[i, i]) or out[i, i] <= 0 or not np.isfinite(s):
            out[i, :] = 0.0
            out[:, i] = 0.0
            out[i, i] = s * s if np.isfinite(s) else np.nan
    return out


def _lod_single(fit_result, solver: Solver, J: np.ndarray, instrument: Instrument, detector: str) -> np.ndarray:
    """Element LOD (wt%): 3 sqrt(counts not from the element within ±1 FWHM of its main line) / counts per wt%."""
    params = getattr(fit_result, "params", None)
    det = instrument.detector(detector)
    if params is not None and hasattr(params, "fwhm_eV"):
        fw = params.fwhm_eV
    else:
        def fw(e):
            return fwhm_eV(e, det.noise_eV, fano=det.fano)
    main_e, frac = _lod_window_fraction(solver, fw)
    e = np.asarray(getattr(fit_result, "energy_eV", []), dtype=float)
    bg = np.asarray(getattr(fit_result, "background", []), dtype=float)
    model = np.asarray(getattr(fit_result, "model", bg), dtype=float)
    comps = fit_result.components() if hasattr(fit_result, "components") else {}
    out = np.full(solver.n_g, np.nan)
    sens = np.diag(J) / 100.0  # counts per wt% of element
    for i in range(solver.n_g):
        half = LOD_WINDOW_FWHM * float(fw(main_e[i]))
        sel = np.abs(e - main_e[i]) <= half
        if sel.any() and sens[i] > 0:
            # the "background" under the analyte's peak is everything that is not the analyte: the
            # continuum and the tails, steps, escape and overlapping lines of the other groups
            own = comps.get(solver.groups[i])
            kb = kbeta_column(solver.groups[i])
            if own is not None and kb in comps:
                own = own + comps[kb]  # its Kβ fitted apart is the analyte too
            under = model - own if own is not None and own.shape == model.shape else bg
            B = float(np.sum(np.maximum(under[sel], 0.0)))
            out[i] = LOD_SIGMAS * math.sqrt(max(B, 1.0)) / (sens[i] * frac[i])
        elif sens[i] > 0:
            s = float(fit_result.sigma.get(solver.groups[i], np.nan))
            out[i] = LOD_SIGMAS * s / sens[i]
    return out


def _map_protocol(maps):
    """(areas, sigma, live time, geometry factor, instrument, detector, grid, valid, elements) of
    ElementMaps or a look-alike. The geometry factor (PIQUANT's ##GEOMETRY) is 1 where the maps carry none.
    """
    areas = getattr(maps, "point_areas", None)
    sigma = getattr(maps, "point_sigma", None)
    if areas is None:
        areas = getattr(maps, "areas", None)
        sigma = getattr(maps, "sigma", None)
    if not isinstance(areas, Mapping) or not areas:
        raise FitError("quantify_map needs element maps with areas per point (ElementMaps or an object with "
                       "'areas'/'sigma' dicts of arrays, 'live_time_s' and 'instrument')", where="quantify_map")
    try:
        areas = {k: np.asarray(v, dtype=float).ravel() for k, v in areas.items()}
        sigma = {k: np.asarray(v, dtype=float).ravel() for k, v in (sigma or {}).items()}
    except (TypeError, ValueError) as e:
        raise FitError(f"areas and sigma must be arrays of numbers: {e}", where="quantify_map") from None
    n = {v.size for v in areas.values()}
    if len(n) != 1:
        raise FitError(f"area maps differ in size: {sorted(n)}", where="quantify_map")
    n = n.pop()
    per_point = {"sigma": sigma, "live_time_s": getattr(maps, "live_time_s", np.nan),
                 "valid": getattr(maps, "valid", True), "geometry_factor": getattr(maps, "geometry_factor", None)}
    for key, v in per_point.items():
        for name, a in (v.items() if isinstance(v, Mapping) else [(key, v)]):
            if a is not None and np.size(a) not in (1, n):
                raise FitError(f"{name if key != 'sigma' else 'sigma of ' + name} has {np.size(a)} values; expected "
                               f"one per point ({n}) like the areas", where="quantify_map")
    live = np.broadcast_to(np.asarray(per_point["live_time_s"], dtype=float), (n,)).copy()
    valid = np.broadcast_to(np.asarray(per_point["valid"], dtype=bool).ravel(), (n,))
    # a live time below 1 µs is no measurement (MIN_LIVE_TIME_S): such a point is invalid, as a 0 one
    valid = valid & np.isfinite(live) & (live >= MIN_LIVE_TIME_S)
    g = per_point["geometry_factor"]
    geometry = geometry_factors(1.0 if g is None else g, n)
    elements = list(getattr(maps, "elements", None) or [k for k in areas if not k.startswith(("Rh_", "pileup"))])
    return areas, sigma, live, geometry, getattr(maps, "instrument", None), \
        str(getattr(maps, "detector", "") or ""), getattr(maps, "grid", None), valid, elements


def _threading_layer() -> str | None:
    """numba's threading layer, None until a parallel kernel has run in this process."""
    import numba

    try:
        return numba.threading_layer()
    except ValueError:
        return None


#: Points of a map solved together by default (``quantify_map(chunk_points=)``): larger chunks spend less in
#: numpy's per-call overheads, smaller ones stay in the caches (on the 4,000-point map of
#: ``benchmarks/accuracy.py``, 2 cores: 512 points 10,900, 1,000 points 12,100, 2,000 points 7,600 points/s).
MAP_CHUNK_POINTS: int = 1000
#: The number of chunks of a map is a multiple of this (when there are more than one): the chunks share the
#: threads evenly on 2 or 4 cores.
MAP_CHUNK_MULTIPLE: int = 4


def _chunk_threads(threads: int | None, n_chunks: int) -> int:
    """How many chunks of a map to solve at once (1: one after the other, each kernel on every core).

    numba's "workqueue" threading layer (the fallback where neither OpenMP nor TBB is available) aborts the
    process when two threads call parallel kernels at once, so chunks share threads only with "omp" or "tbb".
    """
    import numba

    if n_chunks < 2 or (threads is not None and int(threads) < 2) or _threading_layer() not in THREAD_SAFE_LAYERS:
        return 1
    return max(1, min(int(threads if threads is not None else numba.get_num_threads()), n_chunks))


def _run_chunks(solve_chunk, idx: np.ndarray, chunk_points: int, threads: int | None) -> None:
    """``solve_chunk(sl)`` for chunks ``sl`` of the points ``idx`` with at most ``chunk_points`` points each, of
    equal size (±1: no thread is left with a short last chunk), as few as a multiple of
    :data:`MAP_CHUNK_MULTIPLE` allows (the chunks, and so the results, do not depend on the threads; 2 or 4
    threads get the same number of chunks each), in :func:`_chunk_threads` threads (kernels single-threaded
    there)."""
    n_chunks = -(-idx.size // chunk_points)
    if n_chunks > 1:
        n_chunks = MAP_CHUNK_MULTIPLE * -(-n_chunks // MAP_CHUNK_MULTIPLE)
    slices = np.array_split(idx, n_chunks) if idx.size else []
    if slices and _threading_layer() is None:
        # no parallel kernel has run in this process yet (a map too small for a pilot point), so the layer
        # is not known: the first chunk runs them
        solve_chunk(slices[0])
        slices = slices[1:]
    n = _chunk_threads(threads, len(slices))
    if n == 1:
        for sl in slices:
            solve_chunk(sl)
        return
    import concurrent.futures as cf

    import numba

    def in_thread(sl):
        numba.set_num_threads(1)  # per thread: the chunks, not the kernels, share the cores
        solve_chunk(sl)

    pool = cf.ThreadPoolExecutor(max_workers=n, thread_name_prefix="pixlspec-quantify")
    try:
        for fut in [pool.submit(in_thread, sl) for sl in slices]:
            fut.result()
    finally:  # an error or Ctrl-C: the chunks not started are dropped, the running ones finish
        pool.shutdown(wait=True, cancel_futures=True)


def quantify_map(element_maps: ElementMaps, instrument: Instrument | None = None,
                 calibration: Calibration | None = None, *, fe_oxide: str = "FeO",
                 normalise: bool = False, balance: str | None = MAP_DEFAULT_BALANCE, secondary: bool = True,
                 air_fraction: float | None = None, exclude: Sequence[str] = GAS_GROUPS,
                 chunk_points: int = MAP_CHUNK_POINTS, threads: int | None = None) -> CompositionMap:
    """Oxide wt% of every point of a map (vectorised :func:`quantify`).

    Parameters
    ----------
    element_maps : ElementMaps or look-alike
        Per-point areas and 1σ (``point_areas``/``point_sigma`` or
        ``areas``/``sigma`` dicts of arrays), ``live_time_s`` per point, optionally
        ``geometry_factor`` per point (the stand-off ##GEOMETRY; exposure = live time × factor),
        ``instrument``, optionally ``detector`` ("A", "B" or "A+B": areas
        summed over detectors), ``valid`` and ``grid``.
    instrument, calibration, fe_oxide, normalise, secondary, exclude
        As :func:`quantify`.
    balance : str or None
        Invisible compound filling totals below 100 % (default
        :data:`MAP_DEFAULT_BALANCE`, "CO2", unlike :func:`quantify`: the low
        totals of carbonates and hydrated salts are what maps are searched for).
    air_fraction : float, optional
        Air in a He path; default from the map's total Ar area.
    chunk_points : int
        At most this many points are solved together (:data:`MAP_CHUNK_POINTS`; memory grows with it).
    threads : int, optional
        Chunks solved at once, each in its own thread with single-threaded kernels (default: numba's
        thread count). Needs a thread-safe numba threading layer ("omp" or "tbb"); with "workqueue" the
        chunks run one after the other, each kernel on every core. The compositions do not depend on it.

    Returns
    -------
    CompositionMap
        LODs come from the per-point area uncertainty (``3 σ_area / S``,
        physics.md §11) — the background under each point's peaks is not kept
        by the map fit.
    """
    areas, sigma, live, geometry, inst_maps, det_name, grid, valid, elements = _map_protocol(element_maps)
    exposure = live * geometry  # the FP's counts scale with live time x stand-off factor (##GEOMETRY)
    data_instrument = None  # the maps', when the calibration's replaces it (flagged if it differs)
    if calibration is not None and instrument is None:
        data_instrument, instrument = inst_maps, calibration.instrument
    instrument = instrument or inst_maps
    if instrument is None:
        raise ConfigError("quantify_map needs an instrument (the maps carry none)", where="quantify_map")
    dets = [d for d in det_name.replace(",", "+").split("+") if d in instrument.detector_names] or \
        [instrument.detectors[0].name]
    groups, skipped = analysis_groups([e for e in elements if e in areas], instrument.tube.voltage_kV, exclude)
    if not groups:
        raise FitError(f"no quantifiable element group among {elements}", where="quantify_map")
    flags = _matrix_flags(groups)
    k, k_sigma, f2 = _factors(calibration, groups, "+".join(dets))
    flags += f2 + [f for d in dets for f in _instrument_flags(calibration, data_instrument, d)][:1]
    if calibration is None:
        flags.append("uncalibrated: absolute FP from the instrument constants (calibrate on standards)")
    flags += [f"{g} not quantified: {why}" for g, why in skipped.items() if not g.startswith("Ar")]
    solver = Solver(instrument, dets, groups, k, k_sigma, fe_oxide, balance, secondary)
    solver.gas_scale = calibration.scale if calibration is not None else 1.0
    n = live.size
    A = np.column_stack([areas[g] for g in solver.groups])
    S = np.column_stack([sigma.get(g, np.full(n, np.nan)) for g in solver.groups])
    valid = valid & np.all(np.isfinite(A), axis=1)
    x = 0.0
    if air_fraction is not None:
        x = float(air_fraction)
    elif solver.gas_correctable and GAS_LINE_ELEMENT in areas:
        # the Ar the sample's own emission excites, from the scan's sum spectrum (as quantify and
        # calibrate do from theirs); with detectors combined, the sum of their sum spectra
        sums = [f.spectrum for f in (getattr(element_maps, "sum_fit", None) or {}).values()
                if getattr(f, "spectrum", None) is not None]
        if sums:
            solver.set_sample_emission(_SummedSpectrum(sums[0].energy_eV, sum(np.asarray(sp.counts) for sp in sums),
                                                       float(sums[0].live_time_s)))
        a_gas = float(np.nansum(areas[GAS_LINE_ELEMENT][valid]))
        x = solve_air_fraction(solver, a_gas, float(np.sum(exposure[valid])), None)
    F = solver.factor
    ng = solver.n_g
    out_ox = np.full((n, ng), np.nan)
    out_sig = np.full((n, ng), np.nan)
    out_lod = np.full((n, ng), np.nan)
    out_c = np.full((n, ng), np.nan)
    total = np.full(n, np.nan)
    bal = np.full(n, np.nan)
    conv = np.zeros(n, bool)
    k_rel = np.where(solver.k > 0, solver.k_sigma / np.where(solver.k > 0, solver.k, 1.0), 0.0)
    idx = np.flatnonzero(valid)
    chunk_points = max(int(chunk_points), 1)
    # one pilot point for the whole map (the one closest to its median count rates) starts every chunk
    pilot = solver.pilot(A[idx], exposure[idx], x) if min(idx.size, chunk_points) >= PILOT_MIN_POINTS else None
    # and one quasi-Newton Jacobian, at the median of the points' starts (taken once, not per chunk)
    shared = solver.start_jacobian(A[idx], exposure[idx], x, pilot) if pilot is not None else None

    def solve_chunk(sl: np.ndarray) -> None:
        solved = solver.solve(A[sl], exposure[sl], x, pilot=pilot, shared=shared)
        c, pred = solved.c, solved.pred
        J = solver.sensitivity(c, exposure[sl], x, solved.sensitivity_corr())
        # the areas' variances are independent (counting) and so are the calibration factors': counting and
        # calibration covariance of the oxides are E E^T with E = 100 F D diag(sqrt(var_A + (pred k_rel)^2))
        var = np.where(np.isfinite(S[sl]), S[sl], 0.0) ** 2 + (pred * k_rel) ** 2
        E = (100.0 * F)[None, :, None] * _inverse(J) * np.sqrt(var)[:, None, :]
        ox = c * 100.0 * F
        tot = ox.sum(axis=1) - ox @ solver.oeq
        if normalise:
            ox_n, cov = _normalise_cov(ox, E @ E.transpose(0, 2, 1), solver.oeq)
            var_ox = np.einsum("pii->pi", cov)
            scale = 100.0 / tot
            ox = ox_n
        else:
            var_ox = np.einsum("pij,pij->pi", E, E)  # the diagonal of E E^T
            scale = np.ones(sl.size)
        sens = np.einsum("pii->pi", J) / 100.0  # counts per wt% of element
        with np.errstate(divide="ignore", invalid="ignore"):
            lod = LOD_SIGMAS * np.where(np.isfinite(S[sl]), S[sl], np.nan) / sens * F[None, :] * scale[:, None]
        out_ox[sl] = ox
        out_sig[sl] = np.sqrt(np.maximum(var_ox, 0.0))
        out_lod[sl] = lod
        out_c[sl] = c
        total[sl] = tot
        bal[sl] = solver.full(c)[2] * 100.0
        conv[sl] = solved.converged

    _run_chunks(solve_chunk, idx, chunk_points, threads)
    oxides = solver.oxides
    point_flags = {
        **{k: valid & np.asarray(v, bool) for k, v in (getattr(element_maps, "point_flags", None) or {}).items()},
        "negative area set to zero": valid & np.any(A < 0, axis=1),
        "not converged": valid & ~conv,
        f"total outside {TOTAL_RANGE_WT[0]:g}-{TOTAL_RANGE_WT[1]:g} wt%":
            valid & ~((total >= TOTAL_RANGE_WT[0]) & (total <= TOTAL_RANGE_WT[1])),
    }
    return CompositionMap(
        point_oxide_wt={o: out_ox[:, i] for i, o in enumerate(oxides)},
        point_sigma={o: out_sig[:, i] for i, o in enumerate(oxides)},
        point_lod={o: out_lod[:, i] for i, o in enumerate(oxides)},
        point_element_wt={e: 100 * out_c[:, i] for i, e in enumerate(solver.group_elements)},
        point_total=total, valid=valid, normalised=bool(normalise), balance=balance, point_balance_wt=bal,
        air_fraction=float(x), calibrated=calibration is not None, fe_oxide=fe_oxide, converged=conv,
        groups=list(solver.groups), flags=flags, point_flags=point_flags, grid=grid, detector="+".join(dets),
        live_time_s=live, source=getattr(element_maps, "source", None),
        point_ids=getattr(element_maps, "point_ids", None), positions_mm=getattr(element_maps, "positions_mm", None))
