"""Numba kernels of the fundamental-parameter (FP) model.

Plain functions over arrays, compiled on first call and cached on disk
(``cache=True``); each has a numpy reference in ``tests/quant/test_kernels.py``.
Nothing here knows about elements or instruments: :mod:`pixlspec.quant.fp`
builds the tables. The kernels called from Python release the GIL
(``nogil=True``), so :func:`pixlspec.quantify_map` can solve chunks of points
in threads.

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
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic


#: Floating-point licences of the inner sums: reassociation lets the compiler vectorise the sums over
#: excitation energies (results change in the last bits only, not in a way any test tolerance sees).
FASTMATH = {"reassoc", "contract"}
#: Division as IEEE arithmetic, without Python's ZeroDivisionError check: the check is a branch that keeps
#: the compiler from vectorising a loop that divides (such as :func:`fast_log`'s over the excitation bins).
#: Every divisor in these kernels is an attenuation coefficient or a sum of them, positive for any sample.
ERROR_MODEL = "numpy"
# Loops over the excitation bins from a line's or an enhancer's first bin run on unsigned indices
# (``range(np.uint64(start), np.uint64(stop))``): with a signed start numba must allow for a negative
# index (Python's wrap-around) at every access, which keeps the loop from vectorising (2-10x slower).
# An unsigned index is only ever used to index (numba turns uint64 - int64 arithmetic into floats).


@intrinsic
def _float_bits(typingctx, x):
    """The IEEE-754 bits of a float64 as an int64 (a bit cast, no conversion)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


@intrinsic
def _bits_float(typingctx, b):
    """The float64 whose IEEE-754 bits are the int64 ``b``."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


#: IEEE-754 binary64: mantissa bits, the exponent bias, and the bits of 1.0 (exponent 0).
_MANTISSA_BITS = 52
_EXPONENT_BIAS = 1023
_MANTISSA_MASK = (1 << _MANTISSA_BITS) - 1
_ONE_BITS = _EXPONENT_BIAS << _MANTISSA_BITS
_LN2 = math.log(2.0)
_SQRT2 = math.sqrt(2.0)


@njit(cache=True, inline="always", fastmath=FASTMATH, error_model=ERROR_MODEL)
def fast_log(x):
    """Natural logarithm of a positive, finite, normal float64, within 2e-15 relative of ``math.log``.

    The same value as ``math.log`` in a form the compiler can vectorise (numba's ``math.log`` is a call into
    the C library, one value at a time): ``x = 2**k m`` with ``m`` in (sqrt(1/2), sqrt(2)] read from the
    bits, and ``ln m = 2 atanh(s)``, ``s = (m - 1)/(m + 1)``, |s| <= 0.172, summed to s**19 (the first term
    left out is below 3e-17 of the sum). Not defined for 0, negative, subnormal, infinite or NaN arguments.
    """
    b = _float_bits(x)
    k = (b >> _MANTISSA_BITS) - _EXPONENT_BIAS
    m = _bits_float((b & _MANTISSA_MASK) | _ONE_BITS)  # in [1, 2)
    if m > _SQRT2:
        m *= 0.5
        k += 1
    s = (m - 1.0) / (m + 1.0)
    z = s * s
    p = 1.0 / 19.0
    p = 1.0 / 17.0 + z * p
    p = 1.0 / 15.0 + z * p
    p = 1.0 / 13.0 + z * p
    p = 1.0 / 11.0 + z * p
    p = 1.0 / 9.0 + z * p
    p = 1.0 / 7.0 + z * p
    p = 1.0 / 5.0 + z * p
    p = 1.0 / 3.0 + z * p
    p = 1.0 + z * p
    return k * _LN2 + 2.0 * s * p


@njit(cache=True, fastmath=FASTMATH, error_model=ERROR_MODEL)
def _mix_rows(C_row, table, out):
    """``out[j] = sum_k C_row[k] table[k, j]`` (rows of ``table`` read contiguously)."""
    out[:] = 0.0
    for k in range(C_row.size):
        ck = C_row[k]
        if ck != 0.0:
            for j in range(out.size):
                out[j] += ck * table[k, j]


@njit(cache=True, fastmath=FASTMATH, error_model=ERROR_MODEL)
def _attenuations(C_row, mu_exc, mu_line, sin1, mus, mul_all):
    """``mus[e] = mu_s(E_e) / sin psi1`` at the excitation bins and ``mul_all[l] = mu_s(E_l)`` at the lines."""
    _mix_rows(C_row, mu_exc, mus)
    for e in range(mus.size):
        mus[e] /= sin1
    _mix_rows(C_row, mu_line, mul_all)


@njit(cache=True, parallel=True, fastmath=FASTMATH, error_model=ERROR_MODEL, nogil=True)
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
            for e in range(np.uint64(q_start[ln]), np.uint64(n_e)):  # unsigned: see UNSIGNED_LOOPS
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


def secondary_layout(pair_line: np.ndarray, pair_enh: np.ndarray, pair_qa: np.ndarray, n_lines: int,
                     n_enhancers: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (analyte line, enhancer line) pairs as :func:`fp_secondary` takes them: ``(line_order, enh_lines, qa)``.

    An enhancer line excites the analyte lines whose absorption edge lies below its energy, so with the
    analyte lines ordered by how many enhancers excite them (``line_order``: position -> line), those
    of enhancer m are nearly all of the first ``enh_lines[m]`` positions; ``qa[m, i]`` is the pair's
    production at position i, 0 where there is no pair (same element, a weak line). The kernel then visits
    an enhancer's analyte lines as a short prefix of the positions, with their attenuation rows side by side.
    """
    pair_line = np.asarray(pair_line, dtype=np.int64)
    pair_enh = np.asarray(pair_enh, dtype=np.int64)
    count = np.bincount(pair_line, minlength=n_lines)
    line_order = np.argsort(-count, kind="stable").astype(np.int64)
    position = np.empty(n_lines, dtype=np.int64)
    position[line_order] = np.arange(n_lines)
    qa = np.zeros((n_enhancers, n_lines))
    enh_lines = np.zeros(n_enhancers, dtype=np.int64)
    for k in range(pair_line.size):
        m, i = pair_enh[k], position[pair_line[k]]
        qa[m, i] += pair_qa[k]  # a pair given twice counts twice, as a sum over pairs would
        enh_lines[m] = max(enh_lines[m], i + 1)
    return line_order, enh_lines, np.ascontiguousarray(qa)


@njit(cache=True, parallel=True, fastmath=FASTMATH, error_model=ERROR_MODEL, nogil=True)
def fp_secondary(C, mu_exc, mu_line, mu_enh, src, q_enh, q_enh_start, enh_el, line_order, enh_lines, qa,
                 line_el, line_group, det, sin1, sin2, out):
    """Secondary fluorescence for the (analyte line, enhancer line) pairs, into ``out[p, group]``.

    Parameters
    ----------
    mu_enh : (K, M) attenuation at the enhancer line energies
    q_enh : (M, E), q_enh_start : (M,) production of each enhancer line
    enh_el : (M,) element of each enhancer line
    line_order, enh_lines, qa : the pairs, from :func:`secondary_layout`: (L,) line at each position, (M,)
        positions that may pair with each enhancer, (M, L) production of the analyte line at each position
        by photons of the enhancer line (0: no pair)
    other arguments as :func:`fp_primary`

    Notes
    -----
    The sum over excitation energies splits in two sums per pair::

        sum_e inv_le (la_me + b_lm sq_me) = sum_e inv_le la_me + b_lm sum_e inv_le sq_me

    with ``sq_me = src_e q_me``, ``la_me`` the first log term of L times ``sq_me`` (it depends only on the
    enhancer and the excitation energy: tabulated once per point and enhancer), ``b_lm`` the second log
    term (once per pair) and ``inv_le = 1 / (mu_s(E_e)/sin psi1 + mu_s(E_l)/sin psi2)`` (once per point and
    analyte line, a row over the bins): each pair's two sums run contiguously over the bins, in SIMD. Trace
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
    n_used = 0  # positions of lines some enhancer excites (the others are never read)
    for m in range(n_m):
        n_used = max(n_used, enh_lines[m])
    n_blocks = (n_p + SECONDARY_BLOCK_POINTS - 1) // SECONDARY_BLOCK_POINTS
    n_e_u = np.uint64(n_e)
    for bi in prange(n_blocks):
        mus = np.empty(n_e)
        inv_mus = np.empty(n_e)
        mum = np.empty(n_m)
        mul_all = np.empty(n_l)
        mul_o = np.empty(n_l)    # mu_s(E_l)/sin psi2 of the line at each position
        ci_o = np.empty(n_l)     # its element's mass fraction
        inv_t = np.empty((n_l, n_e))  # inv_le of the line at each position, over the excitation bins
        la = np.empty(n_e)
        for p in range(bi * SECONDARY_BLOCK_POINTS, min(n_p, (bi + 1) * SECONDARY_BLOCK_POINTS)):
            _attenuations(C[p], mu_exc, mu_line, sin1, mus, mul_all)  # mus is mu_s(E_e)/sin psi1
            _mix_rows(C[p], mu_enh, mum)
            for e in range(n_e):
                inv_mus[e] = 1.0 / mus[e]
            for i in range(n_used):
                ln = line_order[i]
                mul_o[i] = mul_all[ln] / sin2
                ci_o[i] = C[p, line_el[ln]]
                if ci_o[i] > 0.0:  # an absent analyte has no secondary: its row is never read
                    row = inv_t[i]
                    mo = mul_o[i]
                    for e in range(n_e):
                        row[e] = 1.0 / (mus[e] + mo)
            for m in range(n_m):
                cj = C[p, enh_el[m]]
                if cj <= SECONDARY_ENHANCER_FADE_FROM:
                    continue
                e0 = np.uint64(q_enh_start[m])
                inv_mm = 1.0 / mum[m]
                sqm = sq[m]
                for e in range(e0, n_e_u):
                    la[e] = sqm[e] * inv_mus[e] * fast_log(1.0 + mus[e] * inv_mm)
                wj = 0.5 * cj * enhancer_weight(cj)
                qa_m = qa[m]
                for i in range(enh_lines[m]):
                    if qa_m[i] == 0.0 or ci_o[i] <= 0.0:
                        continue
                    row = inv_t[i]
                    s_la = 0.0
                    s_sq = 0.0
                    for e in range(e0, n_e_u):
                        s_la += la[e] * row[e]
                        s_sq += sqm[e] * row[e]
                    b_lm = fast_log(1.0 + mul_o[i] * inv_mm) / mul_o[i]  # sin psi2/mu_l ln(1 + mu_l/(sin psi2 mu_m))
                    ln = line_order[i]
                    out[p, line_group[ln]] += det[ln] * ci_o[i] * wj * qa_m[i] * (s_la + b_lm * s_sq)


@njit(cache=True, parallel=True, fastmath=FASTMATH, error_model=ERROR_MODEL, nogil=True)
def fp_primary_jacobian(C, dC, mu_exc, mu_line, src, q, q_start, line_el, line_group, det, sin1, sin2, prim, jac):
    """Primary fluorescence and its derivatives along directions ``dC``, into ``prim[p, g]`` and ``jac[p, g, j]``.

    With ``D_le = mu_s(E_e)/sin psi1 + mu_s(E_l)/sin psi2``, ``s0_l = det_l sum_e src_e q_le / D_le`` (the
    primary of line l per unit mass fraction of its element, ``P_l = C_i s0_l``) and
    ``G_lk = det_l sum_e src_e q_le mu_k(E_e) / D_le^2``, a change ``dC`` of the mass fractions changes
    the primary of line l by::

        dP_l = dC_i s0_l - C_i (sum_k G_lk dC_k / sin psi1 + sum_k mu_k(E_l) dC_k / sin psi2 sum_e w_le)

    with ``w_le = det_l src_e q_le / D_le^2``: exact, one pass over the excitation bins per line and element
    whatever the number of directions.

    Parameters
    ----------
    C : (P, K) ; dC : (P, K, J) derivative of C along each of J directions
    mu_exc : (K, E) ; mu_line : (K, L)
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
        w = np.empty(n_e)
        a_j = np.empty(n_j)
        dp = dC[p]
        for ln in range(n_l):
            el = line_el[ln]
            c = C[p, el]
            mul = mul_all[ln] / sin2
            e0 = np.uint64(q_start[ln])
            dl = det[ln]
            s0 = 0.0
            sw = 0.0
            for e in range(e0, np.uint64(n_e)):
                inv = 1.0 / (mus[e] + mul)
                t = dl * src[e] * q[ln, e] * inv
                s0 += t
                w[e] = t * inv
                sw += t * inv
            g = line_group[ln]
            prim[p, g] += c * s0
            # sum_k (G_lk / sin psi1 + mu_k(E_l) sw / sin psi2) dC_kj, over the directions j contiguously;
            # the attenuation terms are multiplied by C_i: nothing to sum for an absent element
            a_j[:] = 0.0
            if c > 0.0:
                for k in range(n_k):
                    row = mu_exc[k]
                    g_lk = 0.0
                    for e in range(e0, np.uint64(n_e)):
                        g_lk += w[e] * row[e]
                    f = g_lk / sin1 + mu_line[k, ln] * sw / sin2
                    dk = dp[k]
                    for j in range(n_j):
                        a_j[j] += f * dk[j]
            de = dp[el]
            for j in range(n_j):
                jac[p, g, j] += de[j] * s0 - c * a_j[j]


@njit(cache=True, parallel=True, error_model=ERROR_MODEL, nogil=True)
def batched_inverse(J, out):
    """Inverse of each matrix ``J[p]`` (P, n, n) into ``out[p]``; returns (P,) bool, False where ``J[p]`` is
    singular or not finite (``out[p]`` then undefined).

    Gauss-Jordan elimination with partial pivoting, one matrix per thread: the small matrices of a map
    (one per point, n = the analysed groups) in one pass, without a LAPACK call per matrix. A pivot
    below ``n * eps`` times the largest |entry| of its matrix counts as singular.
    """
    n_p, n = J.shape[0], J.shape[1]
    ok = np.ones(n_p, dtype=np.bool_)
    eps = np.finfo(np.float64).eps
    for p in prange(n_p):
        a = J[p].copy()
        inv = out[p]
        inv[:, :] = 0.0
        scale = 0.0
        finite = True
        for i in range(n):
            inv[i, i] = 1.0
            for j in range(n):
                finite &= math.isfinite(a[i, j])
                scale = max(scale, abs(a[i, j]))
        if not finite:
            ok[p] = False
            continue
        tiny = n * eps * scale
        for col in range(n):
            piv = col
            for r in range(col + 1, n):
                if abs(a[r, col]) > abs(a[piv, col]):
                    piv = r
            if not abs(a[piv, col]) > tiny:
                ok[p] = False
                break
            if piv != col:
                for j in range(n):
                    a[col, j], a[piv, j] = a[piv, j], a[col, j]
                    inv[col, j], inv[piv, j] = inv[piv, j], inv[col, j]
            d = 1.0 / a[col, col]
            for j in range(np.uint64(col), np.uint64(n)):  # left of the pivot the row is already 0 (unsigned: above)
                a[col, j] *= d
            for j in range(n):
                inv[col, j] *= d
            for r in range(n):
                if r != col:
                    f = a[r, col]
                    if f != 0.0:
                        for j in range(np.uint64(col), np.uint64(n)):
                            a[r, j] -= f * a[col, j]
                        for j in range(n):
                            inv[r, j] -= f * inv[col, j]
    return ok
