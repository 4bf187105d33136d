"""The map plan of one detector, and the fit of chunks of points with it.

:func:`build_plan` turns the fit of a scan's sum spectrum into a :class:`DetectorPlan`: the design matrix,
the shared weights and every matrix derived from them (``H⁻¹``, ``M``, the channel blocks), computed once
and carried with the plan, so every worker fits with bit-identical matrices. :func:`fit_points` fits a chunk
of spectra with a plan (one numba kernel, :mod:`pixlspec.model.map_kernels`); :func:`fit_points_masked` fits
points with some channels left out (diffraction peaks). The driver is :func:`pixlspec.fit.maps.fit_map`.
"""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import FitError, SpectrumError
from ..model.spectrum_model import kbeta_group

__all__ = ["DetectorPlan", "build_plan", "joint_kbeta_fraction", "fit_points", "fit_points_masked", "row_validity_of",
           "single_threaded_blas", "KERNEL_DTYPES", "BLOCK_CHANNELS", "PRODUCT_DTYPE", "PRODUCT_FLOAT32_MAX_COUNTS",
           "SIMD_CHANNELS", "MIN_VARIANCE", "CHI2_MIN_VARIANCE", "NNLS_TOL", "MIN_KEPT_COLUMN_FRACTION"]

#: Channels per block of the per-point products (a tile of 8 spectra × 128 channels stays in L1).
BLOCK_CHANNELS = 128
#: Precision of the per-point products (AᵀWy and the model Ac for χ²): float32 halves the memory
#: traffic and doubles the SIMD width. Sums run over blocks of BLOCK_CHANNELS channels and are
#: accumulated in float64, so the relative error (~1e-7) stays far below the Poisson noise up to
#: PRODUCT_FLOAT32_MAX_COUNTS per channel; the normal matrix, its inverse, the NNLS and the
#: variances stay float64.
PRODUCT_DTYPE = np.float32
#: Largest count per channel for which float32 products are used: integers up to 2**24 are exact in
#: float32, and below it the products stay ~1e-3 σ of the float64 ones (a chunk with larger counts,
#: possible only for float input, is fitted with float64 products).
PRODUCT_FLOAT32_MAX_COUNTS = float(2 ** 24)
#: Channels per SIMD vector of the per-point products (16 float32 = one 64-byte AVX-512 register or
#: cache line): column ranges are padded to multiples of it.
SIMD_CHANNELS = 16
#: Floor of the variance (counts) in the shared weights. Higher than the single
#: fit's 0.1: a 15-s point has ~0.1-1 count per channel over most of the spectrum, and the shared
#: weights come from the mean point model.
MIN_VARIANCE = 1.0
#: Floor of the variance (counts) in the per-point Pearson χ²: the single fit's floor
#: (:data:`pixlspec.fit.single.MIN_VARIANCE`), so the χ² of a map point and of the same spectrum fitted
#: alone are the same statistic. A channel with Poisson mean μ below the floor adds μ/floor to the χ² on
#: average, not 1: the degrees of freedom are the sum of these expectations less the free components
#: (with the flight optic a 17.5-s basalt point has ~1,000 of its 3,458 fitted channels above 20 keV
#: below 0.1 count, and χ² / (channels − components) read 0.75 for a perfect model).
CHI2_MIN_VARIANCE = 0.1
#: A column keeps less than this fraction of its weighted norm after masking: it is dropped
#: from that detector's fit of the point (its area then comes from the other detector).
MIN_KEPT_COLUMN_FRACTION = 1e-3
#: NNLS stops when the scaled gradient of every zero component is below this fraction of the largest.
NNLS_TOL = 1e-10
#: Count dtypes the per-point kernel is compiled for (others are converted to float64):
#: uint16 (how scan files store PIXL counts) and float64.
KERNEL_DTYPES = (np.dtype(np.uint16), np.dtype(np.float64))


# ---------------------------------------------------------------------------------------------
# shared work per detector
# ---------------------------------------------------------------------------------------------
@dataclass
class DetectorPlan:
    """Everything a worker needs to fit chunks of one detector (picklable, a few MB).

    The derived matrices (``H⁻¹``, ``M``, the channel blocks) are computed once,
    where the plan is made (sequential loops, :func:`shared_matrices`), and
    travel with it: every worker then uses bit-identical matrices.
    """

    detector: str
    n_channels: int
    lo: int                       # fit channels are lo..hi-1
    hi: int
    column_names: tuple[str, ...]
    column_kinds: tuple[str, ...]
    A: np.ndarray                 # (hi-lo, K) design matrix
    w: np.ndarray                 # (hi-lo,) weights
    background: str = "continuum"
    snip_width: np.ndarray | None = None
    snip_smooth: int = 0
    _derived: dict | None = field(default=None, repr=False, compare=False)

    @property
    def n_columns(self) -> int:
        return len(self.column_names)

    @property
    def reported(self) -> list[int]:
        """Indices of the columns reported in the maps (all but the continuum basis)."""
        return [i for i, k in enumerate(self.column_kinds) if k != "continuum"]

    def derived(self) -> dict:
        if self._derived is None:
            self._derived = _derive(self)
        return self._derived

    def design_products(self, dtype) -> tuple[np.ndarray, np.ndarray]:
        """``(WAT, AT)`` in the precision ``dtype`` (float32 as derived, float64 on demand)."""
        d = self.derived()
        if np.dtype(dtype) == d["WAT"].dtype:
            return d["WAT"], d["AT"]
        key = ("WAT", "AT", np.dtype(dtype).str)
        if key not in d:
            d[key] = _padded_products(np.asarray(self.A, dtype=np.float64), np.asarray(self.w, dtype=np.float64),
                                      d["WAT"].shape[1], dtype)
        return d[key]


def _padded_products(A: np.ndarray, w: np.ndarray, m_pad: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """``((WA)ᵀ, Aᵀ)`` in ``dtype``, padded with zero channels to ``m_pad`` (whole SIMD vectors)."""
    m, K = A.shape
    WAT = np.zeros((K, m_pad), dtype)
    WAT[:, :m] = (A * w[:, None]).T
    AT = np.zeros((K, m_pad), dtype)
    AT[:, :m] = A.T
    return WAT, AT


def _derive(plan: DetectorPlan) -> dict:
    from ..model.map_kernels import shared_matrices

    A = np.ascontiguousarray(plan.A, dtype=np.float64)
    w = np.ascontiguousarray(plan.w, dtype=np.float64)
    H, Hinv, G, M = shared_matrices(A, w)
    d = np.sqrt(np.maximum(np.diag(H), 1e-300))
    Gsq = G * G
    m, K = A.shape
    # channel ranges of the non-zero columns per block, widened to whole SIMD vectors (the padding
    # channels hold exact zeros): the vector loops then never run a scalar remainder
    m_pad = -(-m // SIMD_CHANNELS) * SIMD_CHANNELS
    starts = list(range(0, m, BLOCK_CHANNELS)) + [m_pad]
    nb = len(starts) - 1
    # first and last non-zero channel of every column in every block, all blocks at once
    nz = np.zeros((nb * BLOCK_CHANNELS, K), bool)
    nz[:m] = A != 0
    nz = nz.reshape(nb, BLOCK_CHANNELS, K)
    present = nz.any(axis=1)                                              # (nb, K)
    first = nz.argmax(axis=1)                                             # (nb, K)
    last = BLOCK_CHANNELS - 1 - nz[:, ::-1, :].argmax(axis=1)
    blk, cols = np.nonzero(present)                                       # block-major, columns ascending
    block_start = np.asarray(starts[:-1])[blk]
    clo = block_start + (first[blk, cols] // SIMD_CHANNELS) * SIMD_CHANNELS
    chi = np.minimum(block_start + -(-(last[blk, cols] + 1) // SIMD_CHANNELS) * SIMD_CHANNELS,
                     np.asarray(starts[1:])[blk])
    ptr = np.concatenate([[0], np.cumsum(np.bincount(blk, minlength=nb))])
    WAT, AT = _padded_products(A, w, m_pad, PRODUCT_DTYPE)
    i64 = np.int64
    return {"H": np.ascontiguousarray(H), "Hinv": np.ascontiguousarray(Hinv), "scale": 1.0 / d,
            "M": np.ascontiguousarray(M), "WAT": WAT, "AT": AT,
            "blk_start": np.asarray(starts, i64), "blk_ptr": np.asarray(ptr, i64), "blk_col": np.asarray(cols, i64),
            "blk_lo": np.asarray(clo, i64), "blk_hi": np.asarray(chi, i64),
            "bounded": np.array([k != "continuum" for k in plan.column_kinds], dtype=bool),
            "Gsq": np.ascontiguousarray(Gsq) if plan.background == "snip" else np.zeros((0, 0))}


def _fold_kbeta(A: np.ndarray, kinds: list, names: list, kbeta_fraction: dict) -> tuple[np.ndarray, list, list]:
    """Fold each Kβ column of its own ("Si_Kb") into its group with the Kβ share fitted on the sum.

    The points of a map hold too few counts to fit Kβ apart (``FitConfig.valence_kbeta``,
    ``free_kbeta``); they take the ratio of their sum spectrum, one column per group.
    """
    kb_cols = [i for i, n in enumerate(names) if kbeta_group(n) in names]
    if not kb_cols:
        return A, kinds, names
    A = A.copy()
    for j in kb_cols:
        i = names.index(kbeta_group(names[j]))
        share = float(kbeta_fraction.get(names[i], 0.0))
        A[:, i] = (1.0 - share) * A[:, i] + share * A[:, j]
    keep = [i for i in range(len(names)) if i not in kb_cols]
    return A[:, keep], [kinds[i] for i in keep], [names[i] for i in keep]


def joint_kbeta_fraction(fits: Sequence) -> dict[str, float]:
    """The Kβ share of every group whose Kβ each fit in ``fits`` (one sum fit per detector) had apart:
    the area-weighted mean over the fits, ``Σ area·share / Σ area``."""
    shared = set.intersection(*(set(getattr(f, "kbeta_fraction", {}) or {}) for f in fits)) if fits else set()
    out = {}
    for g in sorted(shared):
        total = sum(f.areas[g] for f in fits)
        out[g] = float(sum(f.areas[g] * f.kbeta_fraction[g] for f in fits) / total) if total > 0 else 0.0
    return out


def build_plan(fit, n_points: int, scan_n_channels: int, kbeta_fraction: dict | None = None) -> DetectorPlan:
    """The map plan of one detector from the fit of its sum spectrum.

    Parameters
    ----------
    fit : FitResult
        Fit of the sum of ``n_points`` spectra.
    n_points : int
        Number of points summed (the weights are those of the mean point).
    scan_n_channels : int
    kbeta_fraction : dict of str to float, optional
        The Kβ share of groups whose Kβ the sum fit had apart ("Si_Kb"), folded into the
        group's column (:func:`fit_map` passes the detectors' common :func:`joint_kbeta_fraction`);
        a group not in it keeps the sum fit's own ``kbeta_fraction``.
    """
    ch = np.asarray(fit.channels)
    lo, hi = int(ch[0]), int(ch[-1]) + 1
    if ch.size != hi - lo or not np.all(np.diff(ch) == 1):
        raise FitError("the fit channels of the sum spectrum are not contiguous", where="fit_map")
    A = np.asarray(fit.design, dtype=np.float64)
    kinds_all = [c.kind for c in fit.spectrum_model.columns] if fit.spectrum_model is not None else [
        "continuum" if n.startswith("continuum_") else "pileup" if n == "pileup" else
        "scatter" if n.startswith("Rh_") else "element" for n in fit.column_names]
    # the given shares where there are, the sum fit's own for any other group it fitted apart
    shares = {**(getattr(fit, "kbeta_fraction", {}) or {}), **(kbeta_fraction or {})}
    A, kinds_all, column_names = _fold_kbeta(A, kinds_all, list(fit.column_names), shares)
    keep = np.flatnonzero(np.any(A != 0, axis=0))
    names = tuple(column_names[i] for i in keep)
    kinds = tuple(kinds_all[i] for i in keep)
    mu_mean = np.asarray(fit.model, dtype=np.float64) / max(n_points, 1)
    w = 1.0 / np.maximum(mu_mean, MIN_VARIANCE)
    cfg = fit.config
    width = None
    if cfg.background == "snip":
        from ..physics.detector import fwhm_eV

        p = fit.params
        e = np.maximum(p.energies(scan_n_channels), 1.0)
        width = np.maximum(1, np.round(cfg.snip_width_fwhm * fwhm_eV(e, p.noise_eV, fano=p.fano)
                                       / p.gain_eV_per_channel)).astype(np.int64)
    plan = DetectorPlan(detector=fit.spectrum.detector, n_channels=int(scan_n_channels), lo=lo, hi=hi,
                        column_names=names, column_kinds=kinds, A=np.ascontiguousarray(A[:, keep]), w=w,
                        background=cfg.background, snip_width=width, snip_smooth=int(cfg.snip_smooth_channels))
    with single_threaded_blas():
        plan.derived()
    return plan


# ---------------------------------------------------------------------------------------------
# per-chunk work
# ---------------------------------------------------------------------------------------------
def row_validity_of(raw: np.ndarray, live: np.ndarray) -> np.ndarray:
    """Which rows of a chunk can be fitted: live time > 0 and every count finite and >= 0."""
    from ..model.map_kernels import row_validity

    live = np.asarray(live, dtype=np.float64)
    valid = np.isfinite(live) & (live > 0)
    if raw.dtype.kind == "f":
        row_validity(np.ascontiguousarray(raw, dtype=np.float64), valid)
    elif raw.dtype.kind == "i":
        valid &= (raw >= 0).all(axis=1)
    return valid


def fit_points(plan: DetectorPlan, raw: np.ndarray, live_time_s: np.ndarray) -> dict[str, np.ndarray]:
    """Fit the spectra ``raw`` (n_points × n_channels, any numeric dtype) with a plan.

    Returns a dict of per-point arrays: ``areas`` and ``sigma`` (n × reported
    columns), ``chi2``, ``dof``, ``valid``. Invalid points (live time <= 0,
    NaN or negative counts) get NaN.
    """
    from ..model.snip import snip_rows
    from ..model.map_kernels import fit_rows

    raw = np.asarray(raw)
    if raw.ndim != 2 or raw.shape[1] != plan.n_channels:
        raise SpectrumError(f"detector {plan.detector}: chunk has shape {raw.shape}, expected "
                            f"(n_points, {plan.n_channels})")
    if raw.dtype not in KERNEL_DTYPES:
        raw = raw.astype(np.float64)  # one compiled kernel per dtype: keep to two (compiles take ~10 s)
    if not raw.flags.c_contiguous:
        raw = np.ascontiguousarray(raw)
    n = raw.shape[0]
    d = plan.derived()
    small = raw.dtype.kind in "ui" and raw.dtype.itemsize <= 2  # uint16 PIXL counts: always below 2**24
    big = (not small) and raw.size and np.nanmax(np.where(np.isfinite(raw), raw, 0.0)) > PRODUCT_FLOAT32_MAX_COUNTS
    WAT, AT = plan.design_products(np.float64 if big else PRODUCT_DTYPE)
    K = plan.n_columns
    m = plan.hi - plan.lo
    valid = row_validity_of(raw, live_time_s)
    BG = np.zeros((0, 0))
    if plan.background == "snip":
        full = raw.astype(np.float64)
        full[~valid] = 0.0
        BG = np.ascontiguousarray(snip_rows(full, plan.snip_width, True, True, plan.snip_smooth)[:, plan.lo:plan.hi])
    areas = np.full((n, K), np.nan)
    var = np.full((n, K), np.nan)
    chi2 = np.full(n, np.nan)
    chi2_exp = np.full(n, np.nan)
    n_pos = np.zeros(n, np.int64)
    fit_rows(raw, plan.lo, plan.hi, valid, WAT, AT, d["blk_start"], d["blk_ptr"], d["blk_col"],
             d["blk_lo"], d["blk_hi"], d["H"], d["Hinv"], d["scale"], d["M"], NNLS_TOL, d["bounded"], BG, d["Gsq"], CHI2_MIN_VARIANCE,
             areas, var, chi2, chi2_exp, n_pos)
    rep = plan.reported
    # effective degrees of freedom: the expectation of the χ² of the fitted means for Poisson counts
    # (channels far below the variance floor count for less than one) less the free components
    dof = np.maximum(np.where(valid, chi2_exp, m) - n_pos, 1.0)
    return {"areas": areas[:, rep], "sigma": np.sqrt(np.maximum(var[:, rep], 0.0)), "chi2": chi2, "dof": dof,
            "valid": valid}


def fit_points_masked(plan: DetectorPlan, raw: np.ndarray, live_time_s: np.ndarray,
                      mask: np.ndarray) -> dict[str, np.ndarray]:
    """Fit spectra one by one with some channels left out (``mask`` True: zero weight).

    Same outputs as :func:`fit_points`, plus ``kept`` (n × reported columns): the
    fraction of each column's weighted norm that the mask leaves. A column left
    with less than :data:`MIN_KEPT_COLUMN_FRACTION` is not fitted (area NaN).
    """
    from scipy.optimize import lsq_linear

    from ..model.snip import snip_rows

    raw = np.asarray(raw, dtype=np.float64)
    n = raw.shape[0]
    valid = row_validity_of(raw, live_time_s)
    A, w = np.asarray(plan.A, np.float64), np.asarray(plan.w, np.float64)
    K = plan.n_columns
    bounded = np.array([k != "continuum" for k in plan.column_kinds])
    BG = np.zeros((n, plan.hi - plan.lo))
    if plan.background == "snip":
        full = np.where(valid[:, None], raw, 0.0)
        BG = snip_rows(full, plan.snip_width, True, True, plan.snip_smooth)[:, plan.lo:plan.hi]
    norm0 = (A * A * w[:, None]).sum(axis=0)
    rep = plan.reported
    areas = np.full((n, K), np.nan)
    var = np.full((n, K), np.nan)
    kept = np.ones((n, K))
    chi2 = np.full(n, np.nan)
    dof = np.ones(n)
    for i in range(n):
        if not valid[i]:
            continue
        keep = ~np.asarray(mask[i, plan.lo:plan.hi], bool)
        wk = w * keep
        frac = (A * A * wk[:, None]).sum(axis=0) / np.where(norm0 > 0, norm0, 1.0)
        kept[i] = frac
        use = frac >= MIN_KEPT_COLUMN_FRACTION
        Au = A[:, use]
        sw = np.sqrt(wk)
        y = raw[i, plan.lo:plan.hi] - BG[i]
        scale = 1.0 / np.sqrt(np.maximum((Au * Au * wk[:, None]).sum(axis=0), 1e-300))
        lb = np.where(bounded[use], 0.0, -np.inf)
        sol = lsq_linear(Au * sw[:, None] * scale, y * sw, bounds=(lb, np.inf), method="bvls")
        c = sol.x * scale
        mu = Au @ c + BG[i]
        Wa = Au * wk[:, None]
        H = Au.T @ Wa
        G = np.linalg.pinv(H) @ Wa.T
        v = (G * G) @ np.maximum(mu, 0.0)
        areas[i, use] = c
        var[i, use] = v
        r = y + BG[i] - mu
        # the statistic of fit_points: χ² floor CHI2_MIN_VARIANCE and effective degrees of freedom
        chi2[i] = float(np.sum(keep * r * r / np.maximum(mu, CHI2_MIN_VARIANCE)))
        n_eff = float(np.sum(keep * np.minimum(np.maximum(mu, 0.0), CHI2_MIN_VARIANCE)) / CHI2_MIN_VARIANCE)
        dof[i] = max(n_eff - int(np.sum(c[bounded[use]] > 0)) - int(np.sum(~bounded[use])), 1.0)
    return {"areas": areas[:, rep], "sigma": np.sqrt(np.maximum(var[:, rep], 0.0)), "chi2": chi2, "dof": dof,
            "valid": valid, "kept": kept[:, rep]}


_BLAS_LOCK = threading.Lock()
_BLAS_USERS = 0
_BLAS_LIMITER = None


@contextlib.contextmanager
def single_threaded_blas():
    """BLAS limited to one thread while any thread of this process is inside.

    ``threadpoolctl`` limits are process-wide: with plain nested contexts, the
    first of two concurrent tasks (two Dask threads) to finish would restore
    multithreaded BLAS under the other, whose results would then differ in
    the last bits from a single-threaded worker's. A reference count keeps
    the limit until the last user leaves.
    """
    global _BLAS_USERS, _BLAS_LIMITER
    from .single import blas_single_thread

    with _BLAS_LOCK:
        if _BLAS_USERS == 0:
            # the process's one cached controller (a fresh threadpool_limits rescans the libraries, ~3 ms)
            _BLAS_LIMITER = blas_single_thread()
        _BLAS_USERS += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_USERS -= 1
            if _BLAS_USERS == 0 and _BLAS_LIMITER is not None:
                _BLAS_LIMITER.restore_original_limits()
                _BLAS_LIMITER = None
