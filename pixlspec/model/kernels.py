"""Numba kernels: peak shapes, line-response design matrices, SNIP, NNLS.

Plain functions over arrays, compiled on first call and cached on disk
(``cache=True``). Each has a pure-numpy reference in ``tests/model/test_kernels.py``.
Nothing here knows about element names or instruments: callers pass line
energies, weights and shape parameters as arrays.

Peak model of one line of unit area (physics.md §2, Van Espen 2002)::

    R(E) = (1 - f_t) * G(E; E0, s) + T(E; f_t, beta) + S(E; h)

with ``s**2 = sigma_det(E0)**2 + extra_var`` (extra variance for Compton
Doppler broadening), ``G`` the area-normalised Gaussian, ``T`` the hypermet
low-energy tail of area ``f_t`` and ``S`` the step (shelf) of height ``h`` times
the Gaussian peak height. The Gaussian and the tail share the unit area; the
step adds a shelf on top, as in PyMca and GUPIX. A line above the Si K edge
loses the fraction ``p_esc`` of its counts into two Gaussian escape peaks at
``E0 - E_esc_a`` and ``E0 - E_esc_b`` (split ``1 - kb : kb``).
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit, prange

SQRT2 = math.sqrt(2.0)
SQRT2PI = math.sqrt(2.0 * math.pi)
SQRTPI = math.sqrt(math.pi)
#: Channels are evaluated from ``E0 - LOW_SIGMAS*s`` (or further for the tail)
#: to ``E0 + HIGH_SIGMAS*s``; beyond, the Gaussian is < 1e-14 of its height.
HIGH_SIGMAS = 8.0
LOW_SIGMAS = 8.0
#: The hypermet tail is evaluated down to ``E0 - TAIL_BETAS*beta``, where it has
#: fallen to e^-15 = 3e-7 of its value at the peak (the lost area is 3e-7 of the tail's).
TAIL_BETAS = 15.0
#: Above this argument erfc(z) (< 1e-295) is computed through erfcx's asymptotic series
#: ``erfcx(z) = (1 - 1/(2z^2) + 3/(4z^4) - 15/(8z^6) + 105/(16z^8) ...)/(z sqrt(pi))``, whose first
#: omitted term is < 1e-13 relative here; math.erfc itself goes subnormal near z = 26.5 and loses its digits.
TAIL_ASYMPTOTIC_Z = 26.0


@njit(cache=True)
def sigma_eV(energy_eV, noise_eV, fano_pair_eV):
    """Detector Gaussian sigma (eV): ``sqrt((noise/2.3548)^2 + F*eps*E)``."""
    n = noise_eV / 2.3548200450309493
    return math.sqrt(n * n + fano_pair_eV * max(energy_eV, 0.0))


@njit(cache=True)
def gaussian(x, s):
    """Area-normalised Gaussian at offset ``x`` from the centre, sigma ``s``."""
    return math.exp(-0.5 * (x / s) ** 2) / (s * SQRT2PI)


@njit(cache=True)
def hypermet_tail(x, s, f, beta):
    """Low-energy exponential tail convolved with the Gaussian; integrates to ``f``.

    ``f/(2 beta) exp(x/beta + s^2/(2 beta^2)) erfc(z)`` with ``z = x/(sqrt2 s) + s/(sqrt2 beta)``. Where
    erfc(z) would leave the normal doubles (z >= :data:`TAIL_ASYMPTOTIC_Z`), the same value as
    ``f/(2 beta) exp(-x^2/(2 s^2)) erfcx(z)`` with erfcx's asymptotic series: no underflow of erfc, no
    overflow of the exponential.
    """
    if f == 0.0 or beta <= 0.0:
        return 0.0
    z = x / (SQRT2 * s) + s / (SQRT2 * beta)
    if z >= TAIL_ASYMPTOTIC_Z:
        iz2 = 1.0 / (z * z)
        series = 1.0 + iz2 * (-0.5 + iz2 * (0.75 + iz2 * (-1.875 + iz2 * 6.5625)))
        return f / (2.0 * beta) * math.exp(-0.5 * (x / s) ** 2) * series / (z * SQRTPI)
    return f / (2.0 * beta) * math.exp(x / beta + 0.5 * (s / beta) ** 2) * math.erfc(z)


@njit(cache=True)
def step(x, s, h):
    """Shelf below the peak: ``h`` times the Gaussian height, smoothed by erfc."""
    return h / (s * SQRT2PI) * 0.5 * math.erfc(x / (SQRT2 * s))


#: True in a process made by fork(): numba's OpenMP threading layer does not survive a fork (a
#: forked child that launches a parallel kernel is terminated), so there every parallel kernel
#: runs its serial twin — the same parts in the same order, the same bits.
_FORKED_CHILD = False


def _after_fork_in_child() -> None:
    global _FORKED_CHILD
    _FORKED_CHILD = True


os.register_at_fork(after_in_child=_after_fork_in_child)


def threads_usable() -> bool:
    """Whether parallel kernels may run in this process (False in a forked child)."""
    return not _FORKED_CHILD


#: Every kernel that has a parallel and a serial twin: name -> (parallel, serial). The twins compute the
#: same parts in the same order, so they give the same bits (tests/model/test_kernels.py checks every pair).
KERNEL_TWINS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {}


def register_twins(name: str, parallel: Callable[..., Any], serial: Callable[..., Any]) -> None:
    """Record the parallel and serial twins of kernel ``name`` for :func:`dispatch`."""
    KERNEL_TWINS[name] = (parallel, serial)


def dispatch(name: str) -> Callable[..., Any]:
    """The twin kernel ``name`` runs as here: the parallel one, or the serial one where threads are not
    usable (:func:`threads_usable`: a forked child)."""
    parallel, serial = KERNEL_TWINS[name]
    return parallel if threads_usable() else serial


@njit(cache=True)
def _first_at_or_above(energies, e):
    """Index of the first channel with energy >= e (energies increasing)."""
    lo = 0
    hi = energies.size
    while lo < hi:
        mid = (lo + hi) // 2
        if energies[mid] < e:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def _add_gaussian(energies, out, col, e0, s, area, k_lo, k_hi):
    """Add a Gaussian of ``area`` at ``e0`` to ``out[:, col]``, channels ``k_lo..k_hi-1`` only."""
    if area == 0.0:
        return
    i0 = max(_first_at_or_above(energies, e0 - LOW_SIGMAS * s), k_lo)
    i1 = min(_first_at_or_above(energies, e0 + HIGH_SIGMAS * s), k_hi)
    for k in range(i0, i1):
        out[k, col] += area * gaussian(energies[k] - e0, s)


#: Channel ranges the design kernels are split into (run in parallel, each by one thread). A fixed
#: number, so the arithmetic, and the bits, do not depend on the number of threads.
N_CHANNEL_PARTS = 32
#: Parts are handed out in the order ``i * PART_STRIDE mod N_CHANNEL_PARTS`` (a permutation):
#: numba gives each thread a contiguous run of iterations, and the lines crowd the low channels,
#: so neighbouring parts go to different threads.
PART_STRIDE = 17


@njit(cache=True)
def _part_range(i, n):
    """Channels ``lo..hi-1`` of the i-th of :data:`N_CHANNEL_PARTS` parts of ``n`` channels."""
    part = (i * PART_STRIDE) % N_CHANNEL_PARTS
    return part * n // N_CHANNEL_PARTS, (part + 1) * n // N_CHANNEL_PARTS


def line_responses(energies, line_energy, line_weight, line_col, line_extra_var, line_tail_f,
                   line_tail_beta, line_step_h, line_p_esc, noise_eV, fano_pair_eV,
                   esc_a_eV, esc_b_eV, esc_b_fraction, out):
    """Add the response of every line to its column of ``out`` (n_channels, n_cols).

    The channels are split into :data:`N_CHANNEL_PARTS` ranges filled in parallel
    (:func:`_line_responses_part`); every channel sums its lines in the same order
    whatever the number of threads.

    Parameters
    ----------
    energies : (n_ch,) channel energies in eV, increasing.
    line_energy, line_weight : (L,) line energy (eV) and area (counts per unit column amplitude).
    line_col : (L,) int column of each line.
    line_extra_var : (L,) variance (eV²) added to the detector sigma² (Compton broadening).
    line_tail_f, line_tail_beta : (L,) tail area fraction and slope (eV).
    line_step_h : (L,) step height relative to the Gaussian height.
    line_p_esc : (L,) Si-escape probability (0 for no escape).
    noise_eV, fano_pair_eV : detector resolution: noise FWHM, Fano factor × pair energy.
    esc_a_eV, esc_b_eV, esc_b_fraction : escape energies and the Kβ share.
    out : (n_ch, n_cols) float64, accumulated in place.
    """
    dispatch("line_responses")(
        energies, line_energy, line_weight, line_col, line_extra_var, line_tail_f, line_tail_beta, line_step_h,
        line_p_esc, noise_eV, fano_pair_eV, esc_a_eV, esc_b_eV, esc_b_fraction, out)
    return out


@njit(cache=True, parallel=True)
def _line_responses_parallel(energies, line_energy, line_weight, line_col, line_extra_var, line_tail_f,
                             line_tail_beta, line_step_h, line_p_esc, noise_eV, fano_pair_eV,
                             esc_a_eV, esc_b_eV, esc_b_fraction, out):
    n = energies.size
    for i in prange(N_CHANNEL_PARTS):
        k_lo, k_hi = _part_range(i, n)
        _line_responses_part(energies, line_energy, line_weight, line_col, line_extra_var, line_tail_f,
                             line_tail_beta, line_step_h, line_p_esc, noise_eV, fano_pair_eV,
                             esc_a_eV, esc_b_eV, esc_b_fraction, out, k_lo, k_hi)


@njit(cache=True)
def _line_responses_serial(energies, line_energy, line_weight, line_col, line_extra_var, line_tail_f,
                           line_tail_beta, line_step_h, line_p_esc, noise_eV, fano_pair_eV,
                           esc_a_eV, esc_b_eV, esc_b_fraction, out):
    n = energies.size
    for i in range(N_CHANNEL_PARTS):
        k_lo, k_hi = _part_range(i, n)
        _line_responses_part(energies, line_energy, line_weight, line_col, line_extra_var, line_tail_f,
                             line_tail_beta, line_step_h, line_p_esc, noise_eV, fano_pair_eV,
                             esc_a_eV, esc_b_eV, esc_b_fraction, out, k_lo, k_hi)


@njit(cache=True)
def _line_responses_part(energies, line_energy, line_weight, line_col, line_extra_var, line_tail_f,
                         line_tail_beta, line_step_h, line_p_esc, noise_eV, fano_pair_eV,
                         esc_a_eV, esc_b_eV, esc_b_fraction, out, k_lo, k_hi):
    """:func:`line_responses` for the channels ``k_lo..k_hi-1`` of ``out`` only."""
    emin = energies[0]
    ncol = out.shape[1]
    # steps are flat far below their peak: add their constant part once per column;
    # shelf[t] holds heights that apply to every channel of the part below k_lo + t
    shelf = np.zeros((k_hi - k_lo + 1, ncol))
    for j in range(line_energy.size):
        e0 = line_energy[j]
        w = line_weight[j]
        if w == 0.0:
            continue
        col = line_col[j]
        s_det = sigma_eV(e0, noise_eV, fano_pair_eV)
        s = math.sqrt(s_det * s_det + line_extra_var[j])
        pe = line_p_esc[j]
        a = w * (1.0 - pe)
        f = line_tail_f[j]
        beta = line_tail_beta[j]
        h = line_step_h[j]
        lo_e = e0 - LOW_SIGMAS * s
        if f > 0.0 and beta > 0.0:
            lo_e = min(lo_e, e0 - TAIL_BETAS * beta)
        i0 = _first_at_or_above(energies, lo_e)
        i1 = _first_at_or_above(energies, e0 + HIGH_SIGMAS * s)
        if i1 <= k_lo:
            continue  # the line (and its escape peaks, lower still) ends below the part
        g = 1.0 - f
        for k in range(max(i0, k_lo), min(i1, k_hi)):
            x = energies[k] - e0
            v = g * gaussian(x, s)
            if f > 0.0:
                v += hypermet_tail(x, s, f, beta)
            if h > 0.0:
                v += step(x, s, h)
            out[k, col] += a * v
        if h > 0.0 and i0 > k_lo:
            # below i0 the erfc of the step is 2 to double precision: a flat shelf
            shelf[min(i0, k_hi) - k_lo, col] += a * h / (s * SQRT2PI)
        if pe > 0.0 and e0 - esc_a_eV > emin - HIGH_SIGMAS * s:
            ea = e0 - esc_a_eV
            eb = e0 - esc_b_eV
            _add_gaussian(energies, out, col, ea, sigma_eV(ea, noise_eV, fano_pair_eV),
                          w * pe * (1.0 - esc_b_fraction), k_lo, k_hi)
            _add_gaussian(energies, out, col, eb, sigma_eV(eb, noise_eV, fano_pair_eV),
                          w * pe * esc_b_fraction, k_lo, k_hi)
    for c in range(ncol):
        acc = 0.0
        for k in range(k_hi, k_lo, -1):
            acc += shelf[k - k_lo, c]
            if acc != 0.0:
                out[k - 1, c] += acc


@njit(cache=True, nogil=True)
def weighted_gram(A, w):
    """``AᵀWA`` (W = diag w) of a sparse design, over the non-zero entries of each row.

    A row of a spectrum's design has ~10 non-zero columns of ~50 (peaks are local), so
    the products skip ~95 % of a dense Gram's work. Plain sequential loops: the result
    does not depend on threads or memory alignment. Every entry is summed over the rows
    in order.
    """
    m, K = A.shape
    H = np.zeros((K, K))
    nz = np.empty(K, np.int64)
    for j in range(m):
        q = 0
        for a in range(K):
            if A[j, a] != 0.0:
                nz[q] = a
                q += 1
        wj = w[j]
        for qa in range(q):
            a = nz[qa]
            aw = A[j, a] * wj
            for qb in range(qa + 1):
                b = nz[qb]
                H[a, b] += aw * A[j, b]
    for a in range(K):
        for b in range(a):
            H[b, a] = H[a, b]
    return H


@njit(cache=True)
def nnls_gram(H, f, max_iter=0, tol=1e-10):
    """Non-negative least squares in Gram form: min ½cᵀHc − fᵀc subject to c >= 0.

    Lawson–Hanson active set on ``H = AᵀWA``, ``f = AᵀWy`` (Bro & De Jong 1997,
    "fast NNLS"). Exact KKT solution in finitely many steps. A variable whose
    own subproblem solution is not positive right after it enters (possible
    only through rounding in a near-singular ``H``) is barred until another
    variable changes the active set, which prevents cycling.

    Returns
    -------
    c : (K,) solution.
    passive : (K,) bool, True where c is free (not at the bound).
    """
    K = f.size
    if max_iter <= 0:
        max_iter = 3 * K + 10
    c = np.zeros(K)
    passive = np.zeros(K, dtype=np.bool_)
    barred = np.zeros(K, dtype=np.bool_)
    scale = 0.0
    for k in range(K):
        scale = max(scale, abs(f[k]))
    thr = tol * max(scale, 1e-300)
    for _outer in range(max_iter):
        grad = f - H @ c
        best = -1
        gmax = thr
        for k in range(K):
            if not passive[k] and not barred[k] and grad[k] > gmax:
                gmax = grad[k]
                best = k
        if best < 0:
            break
        passive[best] = True
        entered = True
        for _inner in range(max_iter):
            idx = np.flatnonzero(passive)
            sub = np.empty((idx.size, idx.size))
            for a in range(idx.size):
                for b in range(idx.size):
                    sub[a, b] = H[idx[a], idx[b]]
            z = np.linalg.solve(sub, f[idx])
            if z.min() > 0.0:
                c[:] = 0.0
                c[idx] = z
                barred[:] = False
                break
            if entered:
                # the entering variable itself must come out positive; if rounding says
                # otherwise, take it back out and bar it for this round
                for a in range(idx.size):
                    if idx[a] == best and z[a] <= 0.0:
                        passive[best] = False
                        barred[best] = True
                if barred[best]:
                    break
            entered = False
            # move toward z until the first variable hits zero
            alpha = 1.0
            for a in range(idx.size):
                if z[a] <= 0.0:
                    ca = c[idx[a]]
                    t = ca / (ca - z[a]) if ca - z[a] != 0.0 else 0.0
                    if t < alpha:
                        alpha = t
            for a in range(idx.size):
                c[idx[a]] += alpha * (z[a] - c[idx[a]])
            for a in range(idx.size):
                if c[idx[a]] <= 0.0:
                    c[idx[a]] = 0.0
                    passive[idx[a]] = False
            if not passive.any():
                break
    return c, passive


@njit(cache=True, parallel=True)
def nnls_rows(H, F, C0):
    """NNLS for many right-hand sides sharing ``H``.

    ``C0`` (n, K) holds the unconstrained solutions ``H⁻¹F``; rows that are
    already non-negative are kept, the others are solved by :func:`nnls_gram`.
    Returns the solutions (n, K) and the passive masks (n, K).
    """
    n, K = C0.shape
    C = np.empty((n, K))
    P = np.ones((n, K), dtype=np.bool_)
    for p in prange(n):
        if C0[p].min() >= 0.0:
            C[p] = C0[p]
        else:
            c, passive = nnls_gram(H, F[p])
            C[p] = c
            P[p] = passive
    return C, P


#: Gradient outputs of :func:`line_model_grad` (derivatives of the summed line density).
(GRAD_ENERGY, GRAD_NOISE, GRAD_FANO, GRAD_TAIL_F, GRAD_TAIL_B, GRAD_STEP, GRAD_C_SIGMA, GRAD_C_SHIFT, GRAD_C_TAIL,
 GRAD_TAIL_SLOPE) = range(10)
N_GRAD = 10
KIND_FLUORESCENCE, KIND_RAYLEIGH, KIND_COMPTON = 0, 1, 2
FWHM_PER_SIGMA = 2.3548200450309493


def line_model_grad(energies, line_energy, line_amp, line_kind, compton_sigma, line_tail_f, line_df_tail,
                    line_df_slope, tail_b, step_h, line_p_esc, noise_eV, fano, pair_eV, esc_a_eV, esc_b_eV,
                    esc_b_fraction, model, grad):
    """Summed line density and its analytic derivatives with respect to the shape parameters.

    The density (counts per eV) is ``sum_j amp_j * R_j(E)`` with the line shape
    of :func:`line_responses`, where the shape parameters are shared: the
    Gaussian sigma is ``s**2 = (noise/2.3548)**2 + fano*pair*E0 (+ compton_sigma**2
    for Compton lines)``, the tail slope is ``beta = tail_b * 2.3548 * s``, the tail
    fraction is ``tail_f`` (``compton_tail_f`` for Compton lines) and the step
    height ``step_h`` applies to fluorescence lines.

    Parameters
    ----------
    energies : (n,) channel energies (eV).
    line_energy, line_amp : (L,) line energies (eV, Compton lines already shifted) and amplitudes.
    line_kind : (L,) int, 0 fluorescence, 1 Rayleigh, 2 Compton.
    line_p_esc : (L,) Si-escape probabilities.
    model : (n,) output density, overwritten.
    grad : (n, 10) output derivatives, overwritten; columns: energy of the channel
        (d/dE, for calibration), noise, fano, tail fraction, tail_b, step_h,
        compton_sigma, compton shift (line energy of Compton lines), compton tail
        fraction, tail slope.

    Filled in :data:`N_CHANNEL_PARTS` channel ranges in parallel, as :func:`line_responses`.
    """
    dispatch("line_model_grad")(
        energies, line_energy, line_amp, line_kind, compton_sigma, line_tail_f, line_df_tail, line_df_slope, tail_b,
        step_h, line_p_esc, noise_eV, fano, pair_eV, esc_a_eV, esc_b_eV, esc_b_fraction, model, grad)


@njit(cache=True, parallel=True)
def _line_model_grad_parallel(energies, line_energy, line_amp, line_kind, compton_sigma, line_tail_f, line_df_tail,
                              line_df_slope, tail_b, step_h, line_p_esc, noise_eV, fano, pair_eV, esc_a_eV, esc_b_eV,
                              esc_b_fraction, model, grad):
    n = energies.size
    for i in prange(N_CHANNEL_PARTS):
        k_lo, k_hi = _part_range(i, n)
        _line_model_grad_part(energies, line_energy, line_amp, line_kind, compton_sigma, line_tail_f, line_df_tail,
                              line_df_slope, tail_b, step_h, line_p_esc, noise_eV, fano, pair_eV, esc_a_eV, esc_b_eV,
                              esc_b_fraction, model, grad, k_lo, k_hi)


@njit(cache=True)
def _line_model_grad_serial(energies, line_energy, line_amp, line_kind, compton_sigma, line_tail_f, line_df_tail,
                            line_df_slope, tail_b, step_h, line_p_esc, noise_eV, fano, pair_eV, esc_a_eV, esc_b_eV,
                            esc_b_fraction, model, grad):
    n = energies.size
    for i in range(N_CHANNEL_PARTS):
        k_lo, k_hi = _part_range(i, n)
        _line_model_grad_part(energies, line_energy, line_amp, line_kind, compton_sigma, line_tail_f, line_df_tail,
                              line_df_slope, tail_b, step_h, line_p_esc, noise_eV, fano, pair_eV, esc_a_eV, esc_b_eV,
                              esc_b_fraction, model, grad, k_lo, k_hi)


@njit(cache=True)
def _line_model_grad_part(energies, line_energy, line_amp, line_kind, compton_sigma, line_tail_f, line_df_tail,
                          line_df_slope, tail_b, step_h, line_p_esc, noise_eV, fano, pair_eV, esc_a_eV, esc_b_eV,
                          esc_b_fraction, model, grad, k_lo, k_hi):
    """:func:`line_model_grad` for the channels ``k_lo..k_hi-1`` only."""
    model[k_lo:k_hi] = 0.0
    grad[k_lo:k_hi, :] = 0.0
    # shelves below each window: model, d/dnoise, d/dfano, d/dstep; shelf[t] applies below k_lo + t
    shelf = np.zeros((k_hi - k_lo + 1, 4))
    K = FWHM_PER_SIGMA
    emin = energies[0]
    for j in range(line_energy.size):
        amp = line_amp[j]
        if amp == 0.0:
            continue
        e0 = line_energy[j]
        kind = line_kind[j]
        nk = noise_eV / K
        var_det = nk * nk + fano * pair_eV * max(e0, 0.0)
        extra = compton_sigma * compton_sigma if kind == KIND_COMPTON else 0.0
        s = math.sqrt(var_det + extra)
        ds_dnoise = noise_eV / (K * K * s)
        ds_dfano = pair_eV * max(e0, 0.0) / (2.0 * s)
        ds_dcs = compton_sigma / s if kind == KIND_COMPTON else 0.0
        ds_de0 = fano * pair_eV / (2.0 * s)
        f = line_tail_f[j]
        beta = tail_b * K * s
        h = step_h if kind == KIND_FLUORESCENCE else 0.0
        pe = line_p_esc[j]
        a = amp * (1.0 - pe)
        lo_e = e0 - LOW_SIGMAS * s
        if f > 0.0 and beta > 0.0:
            lo_e = min(lo_e, e0 - TAIL_BETAS * beta)
        i0 = _first_at_or_above(energies, lo_e)
        i1 = _first_at_or_above(energies, e0 + HIGH_SIGMAS * s)
        if i1 <= k_lo:
            continue  # the line (and its escape peaks, lower still) ends below the part
        inv_s2pi = 1.0 / (s * SQRT2PI)
        for k in range(max(i0, k_lo), min(i1, k_hi)):
            x = energies[k] - e0
            g = math.exp(-0.5 * (x / s) ** 2) * inv_s2pi
            dg_dx = -x / (s * s) * g
            dg_ds = g * (x * x / (s * s * s) - 1.0 / s)
            r = (1.0 - f) * g
            dr_dx = (1.0 - f) * dg_dx
            dr_ds = (1.0 - f) * dg_ds
            dr_df = -g
            dr_db = 0.0
            if beta > 0.0:
                t1 = hypermet_tail(x, s, 1.0, beta)
                dt_dx = t1 / beta - g / beta
                dt_dbeta = t1 * (-1.0 / beta - x / (beta * beta) - s * s / (beta * beta * beta)) \
                    + g * s * s / (beta * beta * beta)
                dt_ds = t1 * s / (beta * beta) + g / beta * (x / s - s / beta) + dt_dbeta * tail_b * K
                r += f * t1
                dr_dx += f * dt_dx
                dr_ds += f * dt_ds
                dr_df += t1
                dr_db = f * dt_dbeta * K * s
            dr_dh = 0.0
            if h > 0.0 or kind == KIND_FLUORESCENCE:
                s1 = inv_s2pi * 0.5 * math.erfc(x / (SQRT2 * s))
                r += h * s1
                dr_dx += -h * g * inv_s2pi
                dr_ds += h * (-s1 / s + g * x * inv_s2pi / s)
                dr_dh = s1
            model[k] += a * r
            grad[k, GRAD_ENERGY] += a * dr_dx
            grad[k, GRAD_NOISE] += a * dr_ds * ds_dnoise
            grad[k, GRAD_FANO] += a * dr_ds * ds_dfano
            grad[k, GRAD_TAIL_B] += a * dr_db
            if kind == KIND_COMPTON:
                grad[k, GRAD_C_SIGMA] += a * dr_ds * ds_dcs
                grad[k, GRAD_C_SHIFT] += a * (-dr_dx + dr_ds * ds_de0)
                grad[k, GRAD_C_TAIL] += a * dr_df
            else:
                grad[k, GRAD_TAIL_F] += a * dr_df * line_df_tail[j]
                grad[k, GRAD_TAIL_SLOPE] += a * dr_df * line_df_slope[j]
            if kind == KIND_FLUORESCENCE:
                grad[k, GRAD_STEP] += a * dr_dh
        if kind == KIND_FLUORESCENCE and i0 > k_lo:
            # flat shelf below the window: height h/(s sqrt(2 pi))
            t = min(i0, k_hi) - k_lo
            shelf[t, 0] += a * h * inv_s2pi
            shelf[t, 1] += a * h * (-inv_s2pi / s) * ds_dnoise
            shelf[t, 2] += a * h * (-inv_s2pi / s) * ds_dfano
            shelf[t, 3] += a * inv_s2pi
        if pe > 0.0 and e0 - esc_a_eV > emin - HIGH_SIGMAS * s:
            for which in range(2):
                ee = e0 - (esc_a_eV if which == 0 else esc_b_eV)
                frac = (1.0 - esc_b_fraction) if which == 0 else esc_b_fraction
                ae = amp * pe * frac
                if ae == 0.0:
                    continue
                ve = nk * nk + fano * pair_eV * max(ee, 0.0)
                se = math.sqrt(ve)
                dse_dnoise = noise_eV / (K * K * se)
                dse_dfano = pair_eV * max(ee, 0.0) / (2.0 * se)
                dse_de0 = fano * pair_eV / (2.0 * se)
                j0 = max(_first_at_or_above(energies, ee - LOW_SIGMAS * se), k_lo)
                j1 = min(_first_at_or_above(energies, ee + HIGH_SIGMAS * se), k_hi)
                for k in range(j0, j1):
                    x = energies[k] - ee
                    g = math.exp(-0.5 * (x / se) ** 2) / (se * SQRT2PI)
                    dg_dx = -x / (se * se) * g
                    dg_ds = g * (x * x / (se * se * se) - 1.0 / se)
                    model[k] += ae * g
                    grad[k, GRAD_ENERGY] += ae * dg_dx
                    grad[k, GRAD_NOISE] += ae * dg_ds * dse_dnoise
                    grad[k, GRAD_FANO] += ae * dg_ds * dse_dfano
                    if kind == KIND_COMPTON:
                        grad[k, GRAD_C_SHIFT] += ae * (-dg_dx + dg_ds * dse_de0)
    acc = np.zeros(4)
    for k in range(k_hi, k_lo, -1):
        for q in range(4):
            acc[q] += shelf[k - k_lo, q]
        if acc[0] != 0.0 or acc[3] != 0.0:
            model[k - 1] += acc[0]
            grad[k - 1, GRAD_NOISE] += acc[1]
            grad[k - 1, GRAD_FANO] += acc[2]
            grad[k - 1, GRAD_STEP] += acc[3]


#: Runs of channels whose A/B ratio differs from the runs' median by more than this many counting σ
#: are left out of a point's A/B scale (:func:`diffraction_windows`).
SCALE_CLIP_SIGMA = 3.0


@njit(cache=True, parallel=True)
def diffraction_windows(cA, cB, lA, lB, idx, frac, ratio, lo, hi, c0, c1, n_blocks, N, S, s, off, scl, thr, Z, cnt):
    """Windowed A−B difference of each point (diffraction-peak search), one pass per spectrum.

    Detector B's counts are rebinned onto A's channels (cumulative counts interpolated at
    A's channel edges: ``idx``/``frac``, length n_channels+1), scaled by the response ratio
    ``ratio`` and a per-point scale ``s``: A's rate over the scaled B rate in channels ``c0:c1``,
    summed over the runs of channels (``n_blocks`` runs of equal numbers of channels) whose own
    ratio agrees with the runs' median within :data:`SCALE_CLIP_SIGMA` counting σ, so that strong
    diffraction peaks do not scale B up and hide the point's other peaks (``n_blocks`` 1: the
    ratio of the totals). ``N[p, j]`` is the sum over channels ``lo[j]:hi[j]`` of
    ``d = cA/lA − s·ratio·cB'/lB`` (counts/s) and ``S[p, j]`` the square root of the
    summed Poisson variance, floored at ``1/max(lA, lB)``.

    With ``off``/``scl`` (per window; empty to skip): ``Z = (N − off)/(S·scl)`` and
    ``cnt[p]`` the number of local maxima of ``|Z|`` (same sign on both sides) at or
    above ``thr``.
    """
    n, C = cA.shape
    m = lo.size
    for p in prange(n):
        cum = np.empty(C + 1)
        cum[0] = 0.0
        for i in range(C):
            cum[i + 1] = cum[i] + cB[p, i]
        rb = np.empty(C)
        prev = cum[idx[0]] * (1.0 - frac[0]) + cum[idx[0] + 1] * frac[0]
        for i in range(C):
            cur = cum[idx[i + 1]] * (1.0 - frac[i + 1]) + cum[idx[i + 1] + 1] * frac[i + 1]
            rb[i] = max(cur - prev, 0.0)
            prev = cur
        ia = 1.0 / lA[p]
        ib = 1.0 / lB[p]
        # one pass over c0:c1: the totals and, per run of channels, A rate, scaled B rate, A and B counts
        run = (c1 - c0 + n_blocks - 1) // n_blocks
        ba = np.empty(n_blocks + 1)
        bb = np.empty(n_blocks + 1)
        na = np.empty(n_blocks + 1)
        nbc = np.empty(n_blocks + 1)
        nb = 0
        sa = 0.0
        sb = 0.0
        xa = 0.0
        xb = 0.0
        ka = 0.0
        kb = 0.0
        for i in range(c0, c1):
            ra = cA[p, i] * ia
            rr = rb[i] * ratio[i] * ib
            sa += ra
            sb += rr
            xa += ra
            xb += rr
            ka += cA[p, i]
            kb += rb[i]
            if ((i - c0 + 1) % run == 0 or i == c1 - 1) and xb > 0.0:
                ba[nb] = xa
                bb[nb] = xb
                na[nb] = ka
                nbc[nb] = kb
                nb += 1
                xa = 0.0
                xb = 0.0
                ka = 0.0
                kb = 0.0
        sp = sa / sb if (sb > 0.0 and sa > 0.0) else 1.0
        if n_blocks > 1 and sb > 0.0 and sa > 0.0 and nb > 0:
            med = np.median(ba[:nb] / bb[:nb])
            # the ratio of the totals over the runs that agree with the median within their counting error
            ta = 0.0
            tb = 0.0
            for k in range(nb):
                rel = math.sqrt(1.0 / max(na[k], 1.0) + 1.0 / max(nbc[k], 1.0))
                if abs(ba[k] / bb[k] - med) <= SCALE_CLIP_SIGMA * med * rel:
                    ta += ba[k]
                    tb += bb[k]
            sp = ta / tb if tb > 0.0 and ta > 0.0 else med
        s[p] = sp
        cd = np.empty(C + 1)
        cv = np.empty(C + 1)
        cd[0] = 0.0
        cv[0] = 0.0
        for i in range(C):
            a = cA[p, i] * 1.0
            b = rb[i] * ratio[i]
            cd[i + 1] = cd[i] + (a * ia - sp * b * ib)
            cv[i + 1] = cv[i] + (a * ia * ia + sp * sp * ratio[i] * b * ib * ib)
        floor = min(ia, ib) ** 2
        for j in range(m):
            N[p, j] = cd[hi[j]] - cd[lo[j]]
            S[p, j] = math.sqrt(max(cv[hi[j]] - cv[lo[j]], floor))
        if off.size:
            for j in range(m):
                Z[p, j] = (N[p, j] - off[j]) / (S[p, j] * scl[j])
            k = 0
            for j in range(1, m - 1):
                z = Z[p, j]
                az = abs(z)
                if az >= thr and az >= abs(Z[p, j - 1]) and az > abs(Z[p, j + 1]) \
                        and z * Z[p, j - 1] > 0 and z * Z[p, j + 1] > 0:
                    k += 1
            cnt[p] = k


# the twin kernels of this module (dispatch picks one; tests/model/test_kernels.py compares their bits)
register_twins("line_responses", _line_responses_parallel, _line_responses_serial)
register_twins("line_model_grad", _line_model_grad_parallel, _line_model_grad_serial)
