"""Fit of one spectrum: calibration, resolution, peak shapes and line-group areas.

The model is ``background + A(θ) @ areas``: areas enter linearly, the shape
parameters θ (energy offset and gain, noise and Fano, tails, Compton width and
shift) nonlinearly. The fit is *separable* (variable projection, Golub &
Pereyra 1973): lmfit refines only θ, and for every θ the areas are the exact
weighted non-negative least-squares solution. This needs ~10 nonlinear
parameters instead of ~40, so it converges fast and robustly. The reported
uncertainties come from the full Jacobian (areas and θ together) at the
optimum, so the area errors include the correlation with calibration and
resolution.

Weights are Poisson: a first pass uses the (smoothed) data as variance, then
the fit is repeated with the model as variance ("Pearson" weights), which
removes the low bias of data weights on small peaks (physics.md §12–13).
"""
from __future__ import annotations

import functools
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import FitError, SpectrumError, UnknownElementError
from ..instrument import Instrument
from ..model import kernels
from ..model import snip as snip_kernels
from ..model.recorded import pileup_shape, shelf_shape
from ..model.spectrum_model import ROCK_MATRIX_WT, VALENCE_KBETA_ELEMENTS, ShapeParams, SpectrumModel, kbeta_column
from ..physics.detector import fwhm_eV
from ..physics.lines import default_shell, line_group, parse_group_name
from ..spectrum import Spectrum, as_spectrum
from ..config import ROCK_ELEMENTS, VALENCE_KBETA_MIN_COUNTS, FitConfig, path_gas_elements
from .result import MIN_VARIANCE, FitResult

__all__ = ["fit_spectrum", "FitResult", "snip_background", "resolve_elements"]

#: Floor of the variance (counts²) of a channel, used in the Pearson weights and χ².
#: Fewest channels a fit range may have.
MIN_FIT_CHANNELS = 32

# bounds of the nonlinear parameters: (name, lower, upper) relative to the start where noted
_BOUNDS = {
    "noise_eV": (5.0, 400.0),
    "fano": (0.05, 0.30),
    "tail_fraction": (0.0, 0.40),
    "tail_slope": (-1.0, 3.0),
    "tail_beta_fwhm": (0.05, 4.0),
    "step_height": (0.0, 5e-3),
    "compton_sigma_eV": (10.0, 2000.0),
    "compton_shift_eV": (-400.0, 400.0),
    "compton_tail_fraction": (0.0, 0.8),
}
#: Fewest counts in the Compton peaks for their width, shift and tail to be refined.
MIN_COMPTON_COUNTS_TO_REFINE = 2e4
#: Allowed change of the energy offset (eV) and relative change of the gain during the fit.
OFFSET_RANGE_EV = 150.0
GAIN_RANGE_REL = 0.03
#: Allowed quadratic calibration term (eV/channel²): 1e-5 moves channel 3000 by 90 eV.
QUADRATIC_RANGE_EV = 1e-5


def snip_background(spectrum: Spectrum, noise_eV: float, fano: float, width_fwhm: float = 2.5,
                    smooth_channels: int = 2) -> np.ndarray:
    """SNIP background of ``spectrum`` with a clipping width that follows the resolution.

    The half-width at each channel is ``width_fwhm`` × FWHM(E) in channels.
    """
    e = np.maximum(spectrum.energy_eV, 1.0)
    width = np.maximum(1, np.round(width_fwhm * fwhm_eV(e, noise_eV, fano=fano)
                                   / spectrum.gain_eV_per_channel)).astype(np.int64)
    return snip_kernels.snip(np.ascontiguousarray(spectrum.counts), width, True, True, int(smooth_channels))


def resolve_elements(elements: Sequence[str], tube_kV: float) -> list[str]:
    """Group names ("Fe", "Pb_L") for user element/group names, validated."""
    out = []
    for name in elements:
        if not isinstance(name, str) or not name:
            raise UnknownElementError(f"element names are strings like 'Fe' or 'Pb_L', got {name!r}",
                                      where="elements")
        if "_" in name:
            el, shell = parse_group_name(name)
        else:
            el, shell = name, default_shell(name, tube_kV=tube_kV)
        out.append(line_group(el, shell, excitation_eV=tube_kV * 1000.0).name)
    return out


@dataclass
class _Problem:
    """Everything the residual and Jacobian need, precomputed once."""

    model: SpectrumModel
    channels: np.ndarray       # channel numbers of the fit range
    y: np.ndarray              # counts in the fit range
    bg: np.ndarray             # background in the fit range (zero when fitted as continuum columns)
    pileup: np.ndarray | None  # unit-area pile-up shape in the fit range
    weights: np.ndarray        # 1/variance
    base: ShapeParams
    varied: list[str]
    continuum: np.ndarray | None = None  # continuum columns, fixed in channel space
    shelf: np.ndarray | None = None      # unit-area incomplete-charge shelf in the fit range
    buffer: np.ndarray = field(init=False)
    _cache_key: tuple | None = field(init=False, default=None)
    _cache: tuple | None = field(init=False, default=None)
    _design_key: tuple | None = field(init=False, default=None)
    _gram: tuple | None = field(init=False, default=None)

    def __post_init__(self):
        self.buffer = np.zeros((self.y.size, self.model.n_columns))
        # every component, the continuum included, is >= 0 (non-negative B-spline coefficients give a
        # non-negative continuum); no column is left free
        self.free = np.zeros(self.model.n_columns, dtype=bool)

    def params_from(self, values) -> ShapeParams:
        return replace(self.base, **dict(zip(self.varied, (float(v) for v in values))))

    def energies(self, p: ShapeParams) -> np.ndarray:
        return self.model.channel_energies(self.channels, p)[0]

    def design(self, p: ShapeParams, out=None) -> np.ndarray:
        e, width = self.model.channel_energies(self.channels, p)
        return self.model.design(e, p, out=out, pileup_shape=self.pileup, continuum=self.continuum,
                                 channel_width_eV=width, shelf_shape=self.shelf)

    def solve(self, p: ShapeParams):
        # the design only depends on the shape parameters and the pile-up shape: reweighting
        # passes at the same parameters reuse it
        key = (p, id(self.pileup))
        if key != self._design_key:
            self.design(p, out=self.buffer)
            self._design_key = key
            self._gram = None
        A = self.buffer
        return (A,) + _solve_areas(A, self.y - self.bg, self.weights, self.free, H=self.gram())

    def gram(self) -> np.ndarray:
        """``AᵀWA`` of the current design and weights (kept until either changes)."""
        if self._gram is None or self._gram[0] is not self.weights:
            # the weights object itself is the key (kept alive with the matrix: no id reuse)
            self._gram = (self.weights, kernels.weighted_gram(self.buffer, self.weights))
        return self._gram[1]

    def evaluate(self, values):
        """(params, A, areas, passive) at ``values``, cached for the Jacobian call that follows."""
        key = tuple(float(v) for v in values)
        if key != self._cache_key:
            p = self.params_from(key)
            A, c, passive = self.solve(p)
            self._cache_key, self._cache = key, (p, A, c, passive)
        return self._cache

    def residual(self, values) -> np.ndarray:
        _, A, c, _ = self.evaluate(values)
        return np.sqrt(self.weights) * (self.y - self.bg - A @ c)

    def derivatives(self, p: ShapeParams, c: np.ndarray) -> np.ndarray:
        """d(model)/d(varied parameters) at fixed areas (n_channels × n_varied)."""
        index = [SpectrumModel.DERIVATIVE_NAMES.index(n) for n in self.varied]
        return self.model.derivatives(self.channels, p, c)[:, index]

    def jacobian(self, values) -> np.ndarray:
        """Variable-projection Jacobian (Kaufman 1975): -W^½ P⊥ ∂(A c)/∂θ."""
        p, A, c, passive = self.evaluate(values)
        D = self.derivatives(p, c)
        Ap = A[:, passive]
        w = self.weights
        if Ap.shape[1]:
            H = self.gram()[np.ix_(passive, passive)]
            H[np.diag_indices_from(H)] *= 1.0 + 1e-12
            X = np.linalg.lstsq(H, Ap.T @ (D * w[:, None]), rcond=None)[0]
            D = D - Ap @ X
        return -np.sqrt(w)[:, None] * D


def _solve_areas(A: np.ndarray, net: np.ndarray, w: np.ndarray, free: np.ndarray | None = None,
                 H: np.ndarray | None = None):
    """Weighted least squares for the column amplitudes, non-negative except where ``free``.

    Peak areas are constrained to be >= 0; the background (continuum) columns
    are ``free``: clipping a nuisance background at zero would bias it up, and
    the peaks above it down, wherever the continuum is small. The free columns
    are eliminated exactly (Schur complement) before the non-negative solve.
    Columns are scaled to unit weighted norm first, so peak, continuum and
    pile-up columns (whose magnitudes differ by orders) are equally conditioned.
    ``H``, when given, is ``AᵀWA`` (else computed here).

    Returns
    -------
    (amplitudes, passive): passive is True where an amplitude is not held at 0.
    """
    if H is None:
        H = kernels.weighted_gram(A, w)
    f = A.T @ (w * net)
    d = np.diag(H).copy()
    empty = d <= 1e-300
    scale = 1.0 / np.sqrt(np.where(empty, 1.0, d))
    Hs = H * scale[:, None] * scale[None, :]
    fs = f * scale
    Hs[empty, :] = 0.0
    Hs[:, empty] = 0.0
    Hs[empty, empty] = 1.0
    fs[empty] = 0.0
    # tiny ridge keeps near-degenerate columns solvable; 1e-12 of a unit diagonal is far below noise
    Hs[np.diag_indices_from(Hs)] += 1e-12
    try:
        cs = np.linalg.solve(Hs, fs)
    except np.linalg.LinAlgError:
        cs = np.linalg.lstsq(Hs, fs, rcond=None)[0]
    passive = np.ones(cs.size, bool)
    free = np.zeros(cs.size, bool) if free is None else np.asarray(free, bool)
    if cs[~free].size and cs[~free].min() < 0:
        k = ~free
        if free.any():
            Hff_inv_Hfk = np.linalg.solve(Hs[np.ix_(free, free)], np.column_stack([Hs[np.ix_(free, k)], fs[free]]))
            Hr = Hs[np.ix_(k, k)] - Hs[np.ix_(k, free)] @ Hff_inv_Hfk[:, :-1]
            fr = fs[k] - Hs[np.ix_(k, free)] @ Hff_inv_Hfk[:, -1]
            ck, pk = kernels.nnls_gram(np.ascontiguousarray(Hr), np.ascontiguousarray(fr))
            cs[k] = ck
            cs[free] = Hff_inv_Hfk[:, -1] - Hff_inv_Hfk[:, :-1] @ ck
        else:
            ck, pk = kernels.nnls_gram(Hs, fs)
            cs[k] = ck
        passive[k] = pk
    c = cs * scale
    c[empty] = 0.0
    passive = passive & ~empty
    return c, passive


def fit_spectrum(spectrum: Spectrum | np.ndarray, elements: Sequence[str] | None = None,
                 instrument: Instrument | None = None, config: FitConfig | None = None, *,
                 energy_offset_eV: float | None = None, energy_gain_eV: float | None = None,
                 live_time_s: float | None = None, exclude=None,
                 kbeta_fraction: Mapping[str, float] | None = None) -> FitResult:
    """Fit a spectrum: refine calibration, resolution and shapes; return line-group areas.

    Parameters
    ----------
    spectrum : Spectrum or 1-D array
        A spectrum, or counts per channel as an array (see the keywords).
    elements : sequence of str or str, optional
        Elements ("Fe": K lines at the tube voltage, L or M for heavy
        elements) or groups ("Pb_L"), or one string of them ("Fe,Ca,Pb_L").
        Default ``config.elements`` or :data:`ROCK_ELEMENTS`.
    instrument : Instrument, optional
        Default: the spectrum's instrument, else :meth:`Instrument.pixl`.
    config : FitConfig, optional
    energy_offset_eV, energy_gain_eV : float, optional
        Energy calibration ``E(ch) = offset + gain*ch`` of a counts array (the
        start values of the fit's calibration); each missing term comes from the
        instrument's detector. Not allowed with a Spectrum, which carries its own.
    live_time_s : float, optional
        Live time of a counts array (default 1 s: areas are counts either way).
    exclude : array of bool, optional
        Channels to leave out (True: zero weight), e.g. under a diffraction peak
        (:meth:`DiffractionPeaks.exclude_masks`); one value per channel.
    kbeta_fraction : mapping of str to float, optional
        Hold the Kβ of these K groups at the given share of the group's area, e.g. the
        ``FitResult.kbeta_fraction`` of a long-dwell standard or of the scan's sum spectrum, so that
        single points are fitted with the Kβ/Kα of the material rather than the free-atom ratio
        (``FitConfig.valence_kbeta`` fits it apart only on spectra with enough counts). Groups
        named here are not fitted apart; the result's ``kbeta_fraction`` lists only those that were.

    Returns
    -------
    FitResult

    Raises
    ------
    SpectrumError
        Neither a Spectrum nor a 1-D array of finite, non-negative counts; all
        counts zero or a fit range with too few channels.
    UnknownElementError
        An element or group name is not known.
    FitError
        A ``kbeta_fraction`` share outside [0, 1).
    """
    # The fit works on small matrices (~3000 x 45): BLAS threads only add synchronisation,
    # and under load they cost several times the work itself. Run it single-threaded.
    spectrum = as_spectrum(spectrum, energy_offset_eV=energy_offset_eV, energy_gain_eV=energy_gain_eV,
                           live_time_s=live_time_s, instrument=instrument)
    with blas_single_thread():
        return _fit_spectrum(spectrum, elements, instrument, config, exclude, kbeta_fraction)


@functools.lru_cache(maxsize=1)
def _threadpool_controller():
    import scipy.linalg  # noqa: F401 - load scipy's BLAS before the controller scans the libraries
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def blas_single_thread():
    # one controller for the process: threadpool_limits() would rescan the libraries on every call (~2 ms)
    return _threadpool_controller().limit(limits=1, user_api="blas")


def _fit_spectrum(spectrum, elements, instrument, config, exclude=None, kbeta_fraction=None) -> FitResult:
    t0 = time.perf_counter()
    config = config or FitConfig()
    if not isinstance(spectrum, Spectrum):
        raise FitError(f"fit_spectrum needs a Spectrum, got {type(spectrum).__name__}")
    instrument = instrument or spectrum.instrument or Instrument.pixl()
    det_name = spectrum.detector if spectrum.detector in instrument.detector_names else instrument.detectors[0].name
    det = instrument.detector(det_name)
    if spectrum.total_counts <= 0:
        raise SpectrumError("all counts are zero: nothing to fit", path=spectrum.source,
                            where=f"detector {spectrum.detector}")

    # --- fit range -------------------------------------------------------------------
    e_all = spectrum.energy_eV
    emin = config.min_energy_eV if config.min_energy_eV is not None else instrument.min_energy_eV
    emax = config.max_energy_eV if config.max_energy_eV is not None else instrument.tube.voltage_kV * 1000.0
    emax = min(emax, float(e_all[-1]))
    sel = np.flatnonzero((e_all >= emin) & (e_all <= emax))
    if sel.size < MIN_FIT_CHANNELS:
        raise SpectrumError(f"the fit range {emin:.0f}-{emax:.0f} eV holds {sel.size} channels; at least "
                            f"{MIN_FIT_CHANNELS} are needed (check the energy calibration)",
                            path=spectrum.source, where=f"detector {spectrum.detector}")
    y = spectrum.counts[sel]
    keep = None
    if exclude is not None:
        mask = np.asarray(exclude, dtype=bool)
        if mask.shape != (spectrum.n_channels,):
            raise SpectrumError(f"exclude must hold one bool per channel ({spectrum.n_channels}), got shape "
                                f"{mask.shape}", path=spectrum.source, where=f"detector {spectrum.detector}")
        keep = (~mask[sel]).astype(np.float64)
    if y.sum() <= 0:
        raise SpectrumError(f"no counts between {emin:.0f} and {emax:.0f} eV: nothing to fit",
                            path=spectrum.source, where=f"detector {spectrum.detector}")

    # --- elements: keep those with a line in the fit range -------------------------------
    if isinstance(elements, str):  # "Fe,Ca" or "Fe Ca", as FitConfig(elements=...) takes them
        elements = elements.replace(",", " ").split()
    names = list(elements) if elements is not None else list(config.elements or ROCK_ELEMENTS)
    # the gas of the beam path belongs to the instrument: fitted whatever the user's list
    names += [g for g in path_gas_elements(instrument.atmosphere) if g not in names]
    groups = resolve_elements(names, instrument.tube.voltage_kV)
    fit_groups, skipped = [], {}
    for user, g in zip(names, groups):
        lg = line_group(g, excitation_eV=instrument.tube.voltage_kV * 1000.0)
        if g in fit_groups:
            continue
        inside = (lg.energies_eV >= emin) & (lg.energies_eV <= emax)
        if not inside.any():
            skipped[g] = (f"no {lg.shell} line between {emin:.0f} and {emax:.0f} eV "
                          f"(lines at {', '.join(f'{e:.0f}' for e in lg.energies_eV[:3])} eV)")
            continue
        fit_groups.append(g)

    continuum = ((float(e_all[sel[0]]) - 1.0, float(e_all[sel[-1]]) + 1.0, config.continuum_knot_spacing_eV)
                 if config.background == "continuum" else None)
    use_shelf = config.background == "continuum" and config.shelf
    try:
        shares = tuple(sorted((str(g), float(f)) for g, f in dict(kbeta_fraction or {}).items() if g in fit_groups))
    except (TypeError, ValueError):
        raise FitError(f"kbeta_fraction must map group names to shares in [0, 1), got {kbeta_fraction!r}",
                       where="kbeta_fraction") from None
    own_kbeta = (valence_kbeta_groups(spectrum, fit_groups, det.noise_eV, det.fano,
                                      None if exclude is None else np.asarray(exclude, dtype=bool))
                 if config.valence_kbeta else ())
    model = _spectrum_model(tuple(fit_groups), instrument, det_name, config.scatter, config.escape, config.pileup,
                            config.free_kbeta, emax + 1000.0, continuum, use_shelf, config.matrix_absorption,
                            own_kbeta, shares)
    start = ShapeParams(offset_eV=spectrum.offset_eV, gain_eV_per_channel=spectrum.gain_eV_per_channel,
                        quadratic_eV=spectrum.quadratic_eV, noise_eV=det.noise_eV, fano=det.fano)

    # --- background and pile-up shape ------------------------------------------------------
    if config.background == "snip":
        bg_all = snip_background(spectrum, start.noise_eV, start.fano, config.snip_width_fwhm,
                                 config.snip_smooth_channels)
    else:
        bg_all = np.zeros(spectrum.n_channels)
    pu = None
    if config.pileup:
        pu_all = pileup_shape(spectrum.counts - bg_all, spectrum.offset_eV, spectrum.gain_eV_per_channel,
                              min_energy_eV=emin)
        pu = pu_all[sel]
        if not pu.sum() > 0:
            pu = np.zeros(sel.size)
    bg = bg_all[sel]

    varied = _varied_parameters(config, model)
    ch = sel.astype(np.float64)
    cont = model.continuum_basis(model.channel_energies(ch, start)[0]) if continuum is not None else None
    shelf = shelf_shape(spectrum.counts, e_all, min_energy_eV=emin)[sel] if use_shelf else None
    w0 = _initial_weights(y, config.weights)
    prob = _Problem(model, ch, y.astype(np.float64), bg, pu, w0 if keep is None else w0 * keep, start, varied,
                    continuum=cont, shelf=shelf)

    # --- pile-up shape without the pile-up itself -------------------------------------------------
    # The self-convolution of the recorded spectrum also convolves its pile-up counts (triple
    # coincidences at (τR)², not pairs): subtract the pile-up of a first linear solve and redo it.
    p = start
    if pu is not None and pu.any():
        A, c, _ = prob.solve(p)
        n_pileup = c[model.pileup_index]
        if n_pileup > 0:
            pu_all = pileup_shape(spectrum.counts - bg_all - n_pileup * pu_all, spectrum.offset_eV,
                                  spectrum.gain_eV_per_channel, min_energy_eV=emin)
            prob.pileup = pu_all[sel]
            prob._cache_key = None

    # --- shape parameters a spectrum cannot determine stay at their defaults ---------------------------
    # The Compton width, shift and tail need a well-filled Compton peak: on a 15-s PIXL point
    # (~1e3 counts in it) they wander to their bounds and inflate every neighbouring uncertainty.
    compton_cols = [i for i, col in enumerate(model.columns) if col.kind == "scatter" and "Compton" in col.name]
    check_compton = bool(compton_cols) and any(n.startswith("compton_") for n in prob.varied)
    # one linear solve at the start values serves the Compton check and the first Pearson weights
    first = prob.solve(p) if (check_compton or config.weights == "pearson") else None
    if check_compton and sum(first[1][i] for i in compton_cols) < MIN_COMPTON_COUNTS_TO_REFINE:
        prob.varied = [n for n in prob.varied if not n.startswith("compton_")]
        varied = prob.varied

    # --- Pearson weights from a first linear solve, then one nonlinear pass (variable projection) ----
    nfev = 0
    lm_result = None
    if config.weights == "pearson":
        for it in range(max(config.pearson_iterations, 1)):
            A, c, _ = first if it == 0 else prob.solve(p)
            prob.weights = 1.0 / np.maximum(bg + A @ c, MIN_VARIANCE)
            if keep is not None:
                prob.weights = prob.weights * keep
            prob._cache_key = None
    if varied:
        lm_result = _minimize(prob, p, config)
        nfev += lm_result.nfev
        p = prob.params_from([lm_result.params[n].value for n in varied])
        prob.base = p
    if config.weights == "pearson":
        # final reweighting with the refined model (areas move, shapes stay)
        A, c, _ = prob.solve(p)
        prob.weights = 1.0 / np.maximum(bg + A @ c, MIN_VARIANCE)
        if keep is not None:
            prob.weights = prob.weights * keep

    # --- final areas and covariance -------------------------------------------------------------
    A, c, passive = prob.solve(p)
    gram_w = prob.gram()  # AᵀWA at these parameters and weights (kept from the solve)
    A = A.copy()
    mu = bg + A @ c
    w = prob.weights
    jac_names = list(model.column_names) + list(varied)
    D = prob.derivatives(p, c) if varied else np.zeros((A.shape[0], 0))
    keep_cols = np.ones(model.n_columns + D.shape[1], bool)
    keep_cols[: model.n_columns] = np.any(A != 0, axis=0)
    # a pile-up column held at zero by the constraint is not a free parameter
    nuisance = np.array([col.kind in ("pileup", "continuum", "shelf") for col in model.columns])
    keep_cols[: model.n_columns] &= passive | ~nuisance
    keep_a = np.flatnonzero(keep_cols[: model.n_columns])
    u = w * w * np.maximum(mu, MIN_VARIANCE)
    # F = JᵀWJ and M = Jᵀ diag(w²μ) J for J = [A | D], the A blocks by the sparse Gram
    F = _jacobian_gram(gram_w, A, D, w, keep_a)
    Finv = _safe_inverse(F)
    # sandwich: exact for any weights; equals F⁻¹ for Pearson weights (w = 1/μ)
    M = _jacobian_gram(kernels.weighted_gram(A, u), A, D, u, keep_a)
    cov_k = Finv @ M @ Finv
    cov = np.full((keep_cols.size, keep_cols.size), np.nan)
    idx = np.flatnonzero(keep_cols)
    cov[np.ix_(idx, idx)] = cov_k
    resid = y - mu
    if keep is None:
        chi2 = float(np.sum(resid * resid / np.maximum(mu, MIN_VARIANCE)))
    else:
        chi2 = float(np.sum(keep * resid * resid / np.maximum(mu, MIN_VARIANCE)))
    n_free = int(passive.sum()) + len(varied)
    # effective degrees of freedom over the channels used: a channel whose Poisson mean is below the
    # variance floor adds μ/floor to the χ² on average, not 1 (pixlspec.fit.plan.CHI2_MIN_VARIANCE)
    expected = np.minimum(np.maximum(mu, 0.0), MIN_VARIANCE) / MIN_VARIANCE
    n_effective = float(np.sum(expected if keep is None else keep * expected))
    dof = max(n_effective - n_free, 1.0)
    chi2_red = chi2 / dof
    if config.scale_covar:
        cov = cov * chi2_red
    sig = np.sqrt(np.maximum(np.diag(cov), 0.0))

    cs = model.continuum_slice
    background = bg + A[:, cs] @ c[cs]
    if model.shelf_index is not None:
        background = background + A[:, model.shelf_index] * c[model.shelf_index]
    areas = {}
    sigma = {}
    for i, name in enumerate(model.column_names):
        if model.columns[i].kind == "continuum":
            continue
        areas[name] = float(c[i])
        sigma[name] = float(sig[i]) if np.isfinite(sig[i]) else float("nan")
        if not keep_cols[i] and name in model.column_names and model.columns[i].kind == "element":
            skipped[name] = "its lines fall outside the fit range after calibration"
    kbeta_fraction = {}
    for g in fit_groups:
        kb = kbeta_column(g)
        if kb in areas:
            i, j = jac_names.index(g), jac_names.index(kb)
            total = areas[g] + areas[kb]
            kbeta_fraction[g] = float(areas[kb] / total) if total > 0 else 0.0
            areas[g] = total
            areas.pop(kb)
            sigma.pop(kb)
            var = cov[i, i] + cov[j, j] + 2 * cov[i, j]
            sigma[g] = float(math.sqrt(max(var, 0.0)))
    params_sigma = {n: float(sig[jac_names.index(n)]) for n in varied}

    result = FitResult(
        spectrum=spectrum, instrument=instrument, config=config, elements=list(fit_groups), areas=areas,
        sigma=sigma, params=p, params_sigma=params_sigma, covariance=cov, covariance_names=jac_names,
        chi2=chi2, chi2_reduced=chi2_red, dof=dof, channels=sel, energy_eV=prob.energies(p), counts=y,
        model=mu, background=background, design=A, column_names=list(model.column_names), skipped=skipped,
        nfev=nfev, elapsed_s=time.perf_counter() - t0, lmfit_result=lm_result, spectrum_model=model,
        excluded=None if keep is None else np.asarray(exclude, dtype=bool).copy(), kbeta_fraction=kbeta_fraction)
    return result


@functools.lru_cache(maxsize=32)
def _spectrum_model(groups, instrument, detector, scatter, escape, pileup, free_kbeta, max_energy_eV, continuum,
                    shelf=False, matrix_absorption=False, own_kbeta=(), kbeta_share=()):
    """A cached :class:`SpectrumModel`: fitting many spectra of one instrument builds it once."""
    return SpectrumModel(groups, instrument, detector, scatter=scatter, escape=escape, pileup=pileup,
                         free_kbeta=free_kbeta, own_kbeta=own_kbeta, kbeta_share=dict(kbeta_share),
                         max_energy_eV=max_energy_eV, continuum=continuum, shelf=shelf,
                         matrix=ROCK_MATRIX_WT if matrix_absorption else None)


def valence_kbeta_groups(spectrum: Spectrum, groups: Sequence[str], noise_eV: float, fano: float,
                         exclude: np.ndarray | None = None) -> tuple[str, ...]:
    """The groups of ``groups`` among :data:`VALENCE_KBETA_ELEMENTS` whose Kα peak holds enough counts to fit
    their Kβ apart (``FitConfig.valence_kbeta``).

    The measure is the spectrum's own counts within ±1 FWHM of the Kα energy (at the detector's nominal
    resolution), at least :data:`VALENCE_KBETA_MIN_COUNTS`: known before the fit, the same for every fit
    of the spectrum. Channels left out of the fit (``exclude``, True) do not count.
    """
    e = spectrum.energy_eV
    counts = spectrum.counts if exclude is None else np.where(exclude, 0.0, spectrum.counts)
    out = []
    for g in groups:
        if g not in VALENCE_KBETA_ELEMENTS:
            continue
        e0 = line_group(g).main_energy_eV
        half = float(fwhm_eV(e0, noise_eV, fano))
        window = (e >= e0 - half) & (e <= e0 + half)
        if float(counts[window].sum()) >= VALENCE_KBETA_MIN_COUNTS:
            out.append(g)
    return tuple(out)


def _varied_parameters(config: FitConfig, model: SpectrumModel) -> list[str]:
    varied = []
    if config.refine_calibration:
        varied += ["offset_eV", "gain_eV_per_channel"]
        if config.refine_quadratic:
            varied.append("quadratic_eV")
    if config.refine_resolution:
        varied += ["noise_eV", "fano"]
    if config.refine_tails:
        varied += ["tail_fraction", "tail_beta_fwhm", "step_height"]
        if config.refine_tail_slope:
            varied.append("tail_slope")
    has_compton = any(c.kind == "scatter" and "Compton" in c.name for c in model.columns)
    if config.refine_compton and has_compton:
        varied += ["compton_sigma_eV", "compton_shift_eV", "compton_tail_fraction"]
    return varied


def _initial_weights(y: np.ndarray, mode: str) -> np.ndarray:
    if mode == "none":
        return np.ones_like(y)
    # data-based variance, smoothed over 5 channels so empty channels do not get infinite weight
    k = np.ones(5) / 5.0
    ys = np.convolve(y, k, mode="same")
    return 1.0 / np.maximum(ys, MIN_VARIANCE)


def _minimize(prob: _Problem, p: ShapeParams, config: FitConfig):
    import lmfit

    params = lmfit.Parameters()
    for name in prob.varied:
        v = getattr(p, name)
        if name == "offset_eV":
            lo, hi = v - OFFSET_RANGE_EV, v + OFFSET_RANGE_EV
        elif name == "quadratic_eV":
            lo, hi = v - QUADRATIC_RANGE_EV, v + QUADRATIC_RANGE_EV
        elif name == "gain_eV_per_channel":
            lo, hi = v * (1 - GAIN_RANGE_REL), v * (1 + GAIN_RANGE_REL)
        else:
            lo, hi = _BOUNDS[name]
            v = min(max(v, lo), hi)
        params.add(name, value=v, min=lo, max=hi)

    def values(pars):
        return [pars[n].value for n in prob.varied]

    mini = lmfit.Minimizer(lambda pars: prob.residual(values(pars)), params, scale_covar=False)
    return mini.minimize(method="least_squares", max_nfev=config.max_nfev, x_scale="jac",
                         jac=lambda pars: prob.jacobian(values(pars)), ftol=config.ftol, xtol=config.ftol)


def _jacobian_gram(gram_a: np.ndarray, A: np.ndarray, D: np.ndarray, w: np.ndarray, keep_a: np.ndarray) -> np.ndarray:
    """``JᵀWJ`` for ``J = [A[:, keep_a] | D]`` from the Gram ``AᵀWA`` of the (sparse) design."""
    Ak = A[:, keep_a]
    Dw = D * w[:, None]
    cross = Ak.T @ Dw
    return np.block([[gram_a[np.ix_(keep_a, keep_a)], cross], [cross.T, D.T @ Dw]])


def _safe_inverse(F: np.ndarray) -> np.ndarray:
    d = np.sqrt(np.abs(np.diag(F)))
    d[d == 0] = 1.0
    Fs = F / d[:, None] / d[None, :]
    try:
        inv = np.linalg.inv(Fs)
    except np.linalg.LinAlgError:
        inv = np.linalg.pinv(Fs)
    return inv / d[:, None] / d[None, :]
