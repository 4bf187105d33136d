"""Numba kernels of the fundamental-parameter (FP) model.

Plain functions over arrays, compiled on first call and cached on disk
(``cache=True``); each has a numpy reference in ``tests/quant/test_kernels.py``.
Nothing here knows about elements or instruments: :mod:`pixlspec.quant.fp`
builds the tables.

Notation (physics.md §9): ``C[p, k]`` mass fraction of element k at point p;
``mu_exc[k, e]`` total mass attenuation (cm²/g) of element k at excitation
energy e; ``mu_line[k, l]`` at the energy of emission line l; ``src[e]``
photons per second incident on the sample in excitation bin e, already
divided by sin(psi1); ``q[l, e]`` the fluorescence production of line l per
unit mass fraction of its element (photo-absorption x subshell vacancy share
x fluorescence yield x line fraction, cm²/g); ``det[l]`` the probability that
a photon of line l emitted in the sample is recorded (Omega/4pi x detector
efficiency x gas path).

Primary intensity (Sherman 1955)::

    P_l = det_l C_i sum_e src_e q_le / (mu_s(E_e)/sin psi1 + mu_s(E_l)/sin psi2)

Secondary intensity of analyte line l excited by enhancer line m (Shiraiwa &
Fujino 1966; de Boer 1990)::

    S_lm = det_l C_i C_j qa_lm / 2 sum_e src_e q_me L_lme / (mu_s(E_e)/sin psi1 + mu_s(E_l)/sin psi2)
    L = sin psi1/mu_s(E_e) ln(1 + mu_s(E_e)/(sin psi1 mu_s(E_m)))
        + sin psi2/mu_s(E_l) ln(1 + mu_s(E_l)/(sin psi2 mu_s(E_m)))

with ``qa_lm`` the production of line l by photons of energy E_m.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


#: Floating-point licences of the inner sums: reassociation lets the compiler vectorise the sums over
#: excitation energies (results change in the last bits only, not in a way any test tolerance sees).
FASTMATH = {"reassoc", "contract"}


@njit(cache=True, fastmath=FASTMATH)
def _mix_rows(C_row, table, out):
    """``out[j] = sum_k C_row[k] table[k, j]`` (rows of ``table`` read contiguously)."""
    out[:] = 0.0
    for k in range(C_row.size):
        ck = C_row[k]
        if ck != 0.0:
            for j in range(out.size):
                out[j] += ck * table[k, j]


@njit(cache=True, fastmath=FASTMATH)
def _attenuations(C_row, mu_exc, mu_line, sin1, mus, mul_all):
    """``mus[e] = mu_s(E_e) / sin psi1`` at the excitation bins and ``mul_all[l] = mu_s(E_l)`` at the lines."""
    _mix_rows(C_row, mu_exc, mus)
    for e in range(mus.size):
        mus[e] /= sin1
    _mix_rows(C_row, mu_line, mul_all)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def fp_primary(C, mu_exc, mu_line, src, q, q_start, line_el, line_group, det, sin1, sin2, out):
    """Primary fluorescence, accumulated into ``out[p, line_group[l]]`` (counts per second).

    Parameters
    ----------
    C : (P, K) mass fractions
    mu_exc : (K, E) ; mu_line : (K, L)
    src : (E,) photons/s per excitation bin divided by sin(psi1)
    q : (L, E) ; q_start : (L,) first excitation bin where q may be non-zero
    line_el, line_group : (L,) int element index and output column of each line
    det : (L,) ; sin1, sin2 : float
    out : (P, G) zeroed by the caller
    """
    n_p = C.shape[0]
    n_e = src.size
    n_l = q.shape[0]
    for p in prange(n_p):
        mus = np.empty(n_e)
        mul_all = np.empty(n_l)
        _attenuations(C[p], mu_exc, mu_line, sin1, mus, mul_all)
        for ln in range(n_l):
            c = C[p, line_el[ln]]
            if c <= 0.0:
                continue
            mul = mul_all[ln] / sin2
            acc = 0.0
            for e in range(q_start[ln], n_e):
                acc += src[e] * q[ln, e] / (mus[e] + mul)
            out[p, line_group[ln]] += det[ln] * c * acc


#: Enhancers above this mass fraction count fully in the secondary fluorescence; below it their
#: contribution (below ~0.1 % of the analyte's intensity) is faded out linearly to nothing at
#: :data:`SECONDARY_ENHANCER_FADE_FROM`, where they are skipped. A fade, not a cut: with a cut, a point
#: whose enhancer sits at the threshold changes its secondary by a step between iterations and the
#: inversion cycles between the two sides instead of converging.
SECONDARY_MIN_ENHANCER_FRACTION = 1e-3
#: Mass fraction below which an enhancer is skipped (see :data:`SECONDARY_MIN_ENHANCER_FRACTION`).
SECONDARY_ENHANCER_FADE_FROM = 5e-4


@njit(cache=True)
def enhancer_weight(c):
    """Weight of an enhancer of mass fraction ``c`` in the secondary fluorescence: 0 below
    :data:`SECONDARY_ENHANCER_FADE_FROM`, 1 above :data:`SECONDARY_MIN_ENHANCER_FRACTION`, linear between."""
    if c >= SECONDARY_MIN_ENHANCER_FRACTION:
        return 1.0
    if c <= SECONDARY_ENHANCER_FADE_FROM:
        return 0.0
    return (c - SECONDARY_ENHANCER_FADE_FROM) / (SECONDARY_MIN_ENHANCER_FRACTION - SECONDARY_ENHANCER_FADE_FROM)


#: Points that share one set of scratch arrays in :func:`fp_secondary` (one allocation per block, not per point).
SECONDARY_BLOCK_POINTS = 8


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def fp_secondary(C, mu_exc, mu_line, mu_enh, src, q_enh, q_enh_start, enh_el, enh_pairs, pair_line, pair_qa,
                 line_el, line_group, det, sin1, sin2, out):
    """Secondary fluorescence for the (analyte line, enhancer line) pairs, into ``out[p, group]``.

    Parameters
    ----------
    mu_enh : (K, M) attenuation at the enhancer line energies
    q_enh : (M, E), q_enh_start : (M,) production of each enhancer line
    enh_el : (M,) element of each enhancer line
    enh_pairs : (M + 1,) the pairs of enhancer line m are ``enh_pairs[m]:enh_pairs[m + 1]``
    pair_line : (N,) analyte line of each pair (pairs grouped by enhancer)
    pair_qa : (N,) production of the analyte line by photons of the enhancer line
    other arguments as :func:`fp_primary`

    Notes
    -----
    The sum over excitation energies splits in two dot products per pair::

        sum_e inv_le (la_me + b_lm sq_me) = sum_e inv_le la_me + b_lm sum_e inv_le sq_me

    with ``sq_me = src_e q_me``, ``la_me`` the first log term of L times ``sq_me`` (it depends only on the
    enhancer and the excitation energy: tabulated once per point and enhancer), ``b_lm`` the second log
    term and ``inv_le = 1 / (mu_s(E_e)/sin psi1 + mu_s(E_l)/sin psi2)`` (once per point and line). Pairs
    are taken enhancer by enhancer, so its two rows stay in cache for all the lines it excites. Trace
    enhancers are weighted by :func:`enhancer_weight` (skipped below :data:`SECONDARY_ENHANCER_FADE_FROM`).
    """
    n_p = C.shape[0]
    n_e = src.size
    n_m = q_enh.shape[0]
    n_l = mu_line.shape[1]
    sq = np.empty((n_m, n_e))  # photons of each enhancer line produced per excitation bin
    for m in range(n_m):
        for e in range(n_e):
            sq[m, e] = src[e] * q_enh[m, e]
    n_blocks = (n_p + SECONDARY_BLOCK_POINTS - 1) // SECONDARY_BLOCK_POINTS
    for bi in prange(n_blocks):
        mus = np.empty(n_e)
        mum = np.empty(n_m)
        mul_all = np.empty(n_l)
        inv = np.empty((n_l, n_e))
        la = np.empty(n_e)
        for p in range(bi * SECONDARY_BLOCK_POINTS, min(n_p, (bi + 1) * SECONDARY_BLOCK_POINTS)):
            _attenuations(C[p], mu_exc, mu_line, sin1, mus, mul_all)
            _mix_rows(C[p], mu_enh, mum)
            for ln in range(n_l):
                if C[p, line_el[ln]] > 0.0:
                    mul_s = mul_all[ln] / sin2
                    row = inv[ln]
                    for e in range(n_e):
                        row[e] = 1.0 / (mus[e] + mul_s)
            for m in range(n_m):
                cj = C[p, enh_el[m]]
                if cj <= SECONDARY_ENHANCER_FADE_FROM:
                    continue
                e0 = q_enh_start[m]
                mm = mum[m]
                sqm = sq[m]
                for e in range(e0, n_e):  # mus is mu_s(E_e)/sin psi1
                    la[e] = sqm[e] / mus[e] * math.log(1.0 + mus[e] / mm)
                wj = 0.5 * cj * enhancer_weight(cj)
                for k in range(enh_pairs[m], enh_pairs[m + 1]):
                    ln = pair_line[k]
                    ci = C[p, line_el[ln]]
                    if ci <= 0.0:
                        continue
                    mul = mul_all[ln]
                    b = sin2 / mul * math.log(1.0 + mul / (sin2 * mm))
                    row = inv[ln]
                    s_la = 0.0
                    s_sq = 0.0
                    for e in range(e0, n_e):
                        s_la += la[e] * row[e]
                        s_sq += sqm[e] * row[e]
                    out[p, line_group[ln]] += det[ln] * ci * wj * pair_qa[k] * (s_la + b * s_sq)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def fp_primary_jacobian(C, dC, mu_exc, mu_exc_t, mu_line, src, q, q_start, line_el, line_group, det, sin1, sin2,
                        prim, jac):
    """Primary fluorescence and its derivatives along directions ``dC``, into ``prim[p, g]`` and ``jac[p, g, j]``.

    With ``D_le = mu_s(E_e)/sin psi1 + mu_s(E_l)/sin psi2``, ``s0_l = det_l sum_e src_e q_le / D_le`` (the
    primary of line l per unit mass fraction of its element, ``P_l = C_i s0_l``) and
    ``G_lk = det_l sum_e src_e q_le mu_k(E_e) / D_le^2``, a change ``dC`` of the mass fractions changes
    the primary of line l by::

        dP_l = dC_i s0_l - C_i (sum_k G_lk dC_k / sin psi1 + sum_k mu_k(E_l) dC_k / sin psi2 sum_e w_le)

    with ``w_le = det_l src_e q_le / D_le^2``: exact, one pass over the excitation bins per line
    whatever the number of directions.

    Parameters
    ----------
    C : (P, K) ; dC : (P, K, J) derivative of C along each of J directions
    mu_exc : (K, E) and mu_exc_t : (E, K) the same table, both layouts ; mu_line : (K, L)
    src : (E,) ; q : (L, E) ; q_start : (L,) ; line_el, line_group : (L,) ; det : (L,) ; sin1, sin2 : float
    prim : (P, G) and jac : (P, G, J) outputs, zeroed by the caller
    """
    n_p, n_k, n_j = dC.shape
    n_e = src.size
    n_l = q.shape[0]
    for p in prange(n_p):
        mus = np.empty(n_e)
        mul_all = np.empty(n_l)
        _attenuations(C[p], mu_exc, mu_line, sin1, mus, mul_all)
        g_lk = np.empty(n_k)
        for ln in range(n_l):
            el = line_el[ln]
            c = C[p, el]
            mul = mul_all[ln] / sin2
            s0 = 0.0
            sw = 0.0
            g_lk[:] = 0.0
            for e in range(q_start[ln], n_e):
                inv = 1.0 / (mus[e] + mul)
                t = det[ln] * src[e] * q[ln, e] * inv
                s0 += t
                if c > 0.0:  # the attenuation terms are multiplied by C_i: nothing to sum for an absent element
                    tw = t * inv
                    sw += tw
                    for k in range(n_k):
                        g_lk[k] += tw * mu_exc_t[e, k]
            g = line_group[ln]
            prim[p, g] += c * s0
            for j in range(n_j):
                d = dC[p, el, j] * s0
                if c > 0.0:
                    a_exc = 0.0
                    a_line = 0.0
                    for k in range(n_k):
                        a_exc += g_lk[k] * dC[p, k, j]
                        a_line += mu_line[k, ln] * dC[p, k, j]
                    d -= c * (a_exc / sin1 + a_line / sin2 * sw)
                jac[p, g, j] += d
