"""Numba kernels of the map fit (per-point loops over chunks of spectra).

Every kernel works row by row (one row = one point), so its result for a
point does not depend on the chunk it came in nor on the number of threads:
the local pool and a Dask cluster give bit-identical numbers. They release
the GIL (``nogil=True``) so a reader thread can stream the next chunk from
HDF5 while the current one is fitted.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange, uint64

from .kernels import dispatch, register_twins

__all__ = ["row_validity", "nnls_workspace", "nnls_one", "fit_rows", "column_sums", "column_sums_serial"]

#: Iteration limit of the active-set NNLS, as a multiple of the number of columns.
NNLS_ITER_FACTOR = 3


@njit(cache=True, nogil=True)
def _row_ok(raw, p):
    for j in range(raw.shape[1]):
        v = raw[p, j]
        if not (v >= 0.0):  # False for NaN and negatives
            return False
        if v == np.inf:
            return False
    return True


@njit(cache=True, nogil=True, parallel=True)
def _row_validity_parallel(raw, valid):
    for p in prange(raw.shape[0]):
        if not _row_ok(raw, p):
            valid[p] = False


@njit(cache=True, nogil=True)
def _row_validity_serial(raw, valid):
    for p in range(raw.shape[0]):
        if not _row_ok(raw, p):
            valid[p] = False


def row_validity(raw, valid):
    """``valid[p] &= all counts of row p finite and >= 0`` (float data may hold NaN)."""
    dispatch("row_validity")(raw, valid)


@njit(cache=True, nogil=True)
def nnls_workspace(K):
    """Scratch arrays of :func:`nnls_one` for K components: allocated once and reused for every
    point (an allocation per subproblem cost as much as the arithmetic)."""
    return (np.zeros(K, np.bool_), np.empty(K), np.empty(K), np.empty(K, np.int64), np.empty((K, K)),
            np.empty(K), np.empty((K, K)), np.empty(K), np.empty(K))


@njit(cache=True, nogil=True)
def _solve_small(a, b, q, L, y, x):
    """Solve the leading q × q SPD system ``a[:q, :q] x = b[:q]`` by Cholesky into ``x[:q]``
    (``L``, ``y``: scratch of at least that size; falls back to LU)."""
    ok = True
    for i in range(q):
        for j in range(i + 1):
            s = a[i, j]
            for k in range(j):
                s -= L[i, k] * L[j, k]
            if i == j:
                if s <= 0.0:
                    ok = False
                    break
                L[i, i] = np.sqrt(s)
            else:
                L[i, j] = s / L[j, j]
        if not ok:
            break
    if not ok:
        sol = np.linalg.solve(a[:q, :q].copy(), b[:q].copy())
        for i in range(q):
            x[i] = sol[i]
        return
    _cholesky_substitute(L, b, q, y, x)


@njit(cache=True, nogil=True)
def _cholesky_substitute(L, b, q, y, x):
    """``x[:q]`` solving ``L Lᵀ x = b[:q]`` for the lower Cholesky factor ``L`` (forward then back
    substitution; ``y``: scratch)."""
    for i in range(q):
        s = b[i]
        for k in range(i):
            s -= L[i, k] * y[k]
        y[i] = s / L[i, i]
    for i in range(q - 1, -1, -1):
        s = y[i]
        for k in range(i + 1, q):
            s -= L[k, i] * x[k]
        x[i] = s / L[i, i]


@njit(cache=True, nogil=True)
def _constrained(Hinv, c0, fixed, z, idx, S, r, L, y, lam):
    """Minimiser with the ``fixed`` components held at 0 (Schur complement of ``H⁻¹``).

    ``z_P = c0_P - H⁻¹_PQ (H⁻¹_QQ)⁻¹ c0_Q`` with Q the fixed set: only a q×q
    system is solved (q = number of fixed components, usually a few).
    ``idx``, ``S``, ``r``, ``L``, ``y``, ``lam``: scratch (:func:`nnls_workspace`).
    """
    K = c0.size
    q = 0
    for k in range(K):
        if fixed[k]:
            idx[q] = k
            q += 1
    if q == 0:
        for k in range(K):
            z[k] = c0[k]
        return
    if q == K:
        for k in range(K):
            z[k] = 0.0
        return
    for a in range(q):
        r[a] = c0[idx[a]]
        for b in range(q):
            S[a, b] = Hinv[idx[a], idx[b]]
    _solve_small(S, r, q, L, y, lam)
    for k in range(K):
        if fixed[k]:
            z[k] = 0.0
        else:
            s = c0[k]
            for a in range(q):
                s -= Hinv[k, idx[a]] * lam[a]
            z[k] = s


@njit(cache=True, nogil=True)
def nnls_one(H, Hinv, f, c0, scale, tol, c, bounded, work):
    """Exact NNLS ``min ½cᵀHc − fᵀc, c >= 0`` warm-started from the unconstrained ``c0 = H⁻¹f``.

    Lawson–Hanson active set (Lawson & Hanson 1974; Bro & De Jong 1997), but
    each subproblem is solved through the precomputed ``H⁻¹`` (Schur
    complement on the few components held at zero) instead of a new
    factorisation. Phase 1 drops components until the subproblem solution is
    positive (a feasible start near the optimum); phase 2 is the classical
    loop that frees the component of largest scaled gradient ``scale_k (f − Hc)_k``
    and backtracks, ending at the KKT point (scaled gradient of the zero
    components <= ``tol`` × max_k |scale_k f_k|). Only the components with
    ``bounded[k]`` are constrained (the others are free of sign). Returns the
    number of non-zero components. ``work``: scratch arrays from :func:`nnls_workspace`.
    """
    K = f.size
    fmax = 0.0
    for k in range(K):
        a = abs(f[k] * scale[k])
        if a > fmax:
            fmax = a
    thr = tol * max(fmax, 1e-300)
    fixed, z, g, idx, S, r, L, y, lam = work
    for k in range(K):
        fixed[k] = bounded[k] and c0[k] <= 0.0
    max_iter = NNLS_ITER_FACTOR * K + 10
    # phase 1: feasible start
    for _ in range(max_iter):
        _constrained(Hinv, c0, fixed, z, idx, S, r, L, y, lam)
        changed = False
        for k in range(K):
            if bounded[k] and not fixed[k] and z[k] <= 0.0:
                fixed[k] = True
                changed = True
        if not changed:
            break
    for k in range(K):
        c[k] = z[k] if not fixed[k] else 0.0
    # phase 2: Lawson-Hanson from the feasible point
    for _outer in range(max_iter):
        for k in range(K):
            s = f[k]
            for j in range(K):
                s -= H[k, j] * c[j]
            g[k] = s * scale[k]
        best = -1
        gmax = thr
        for k in range(K):
            if fixed[k] and g[k] > gmax:
                gmax = g[k]
                best = k
        if best < 0:
            break
        fixed[best] = False
        stalled = False
        for _inner in range(max_iter):
            _constrained(Hinv, c0, fixed, z, idx, S, r, L, y, lam)
            allpos = True
            for k in range(K):
                if bounded[k] and not fixed[k] and z[k] <= 0.0:
                    allpos = False
                    break
            if allpos:
                for k in range(K):
                    c[k] = z[k]
                break
            alpha = 1.0
            for k in range(K):
                if bounded[k] and not fixed[k] and z[k] <= 0.0:
                    den = c[k] - z[k]
                    t = c[k] / den if den > 0.0 else 0.0
                    if t < alpha:
                        alpha = t
            if alpha <= 0.0 and z[best] <= 0.0 and c[best] == 0.0:
                # the freed component cannot move (round-off at the KKT point): stop here
                fixed[best] = True
                stalled = True
                break
            for k in range(K):
                if not fixed[k]:
                    c[k] += alpha * (z[k] - c[k])
                    if bounded[k] and c[k] <= 0.0:
                        c[k] = 0.0
                        fixed[k] = True
        if stalled:
            break
    n_pos = 0
    for k in range(K):
        if fixed[k]:
            c[k] = 0.0
        elif c[k] != 0.0:
            n_pos += 1
    return n_pos


#: Floating-point reassociation lets LLVM vectorise the dot products; results stay deterministic (the same
#: compiled loop for every point, chunk and backend), except for the χ² sums: see :func:`_chi2_block`.
_FAST = {"reassoc", "contract", "nsz", "arcp"}


@njit(cache=True, nogil=True, fastmath=_FAST)
def _dot_range(y, a, lo, hi):
    # unsigned indices: numba then skips the negative-index wraparound, which
    # otherwise keeps LLVM from vectorising loops with run-time bounds (6x slower)
    s = 0.0
    ulo = uint64(lo)
    for jj in range(uint64(hi) - ulo):
        j = ulo + jj
        s += y[j] * a[j]
    return s


#: Points fitted together in the per-point kernel: each design column is read
#: once per tile of points instead of once per point (the design, ~1 MB, does
#: not fit in the L2 cache; reading it per point made the kernel memory-bound).
TILE = 8


@njit(cache=True, nogil=True, fastmath=_FAST)
def _dot_tile(Y, a, lo, hi, out):
    """``out[i] = Y[i, lo:hi] · a[lo:hi]`` for the TILE rows of ``Y``.

    The sums run in the precision of ``a`` (float32 in the map fit: a block is
    at most a block of channels long (``pixlspec.fit.plan.BLOCK_CHANNELS``), so the relative error stays ~1e-7, far below
    the Poisson noise of any count) and are returned into ``out``.
    """
    zero = a[lo] - a[lo]  # a zero of a's dtype
    s0 = zero
    s1 = zero
    s2 = zero
    s3 = zero
    s4 = zero
    s5 = zero
    s6 = zero
    s7 = zero
    ulo = uint64(lo)
    for jj in range(uint64(hi) - ulo):
        j = ulo + jj
        x = a[j]
        s0 += Y[0, j] * x
        s1 += Y[1, j] * x
        s2 += Y[2, j] * x
        s3 += Y[3, j] * x
        s4 += Y[4, j] * x
        s5 += Y[5, j] * x
        s6 += Y[6, j] * x
        s7 += Y[7, j] * x
    out[0] = s0
    out[1] = s1
    out[2] = s2
    out[3] = s3
    out[4] = s4
    out[5] = s5
    out[6] = s6
    out[7] = s7


@njit(cache=True, nogil=True, fastmath=_FAST)
def _axpy_tile(c, a, MU, lo, hi, offset):
    """``MU[i, j - offset] += c[i] * a[j]`` for j in lo..hi-1 and the TILE rows of ``MU``."""
    c0 = c[0]
    c1 = c[1]
    c2 = c[2]
    c3 = c[3]
    c4 = c[4]
    c5 = c[5]
    c6 = c[6]
    c7 = c[7]
    ulo = uint64(lo)
    uoff = uint64(lo - offset)
    for q in range(uint64(hi) - ulo):
        j = ulo + q
        jj = uoff + q
        x = a[j]
        MU[0, jj] += c0 * x
        MU[1, jj] += c1 * x
        MU[2, jj] += c2 * x
        MU[3, jj] += c3 * x
        MU[4, jj] += c4 * x
        MU[5, jj] += c5 * x
        MU[6, jj] += c6 * x
        MU[7, jj] += c7 * x


#: Partial sums of a point's χ² (channels to lanes in turn, lanes added in order at the end: a fixed order).
CHI2_LANES = 16


@njit(cache=True, nogil=True, error_model="numpy")
def _chi2_block(Y, MU, BGt, has_bg, s0, e0, min_variance, acc, acc_exp):
    """``acc[i] += Σ_j (Y[i, j] − μ)² / max(μ, min_variance)`` over channels s0..e0-1, μ = MU[i, j-s0] (+ BGt[i, j]),
    and ``acc_exp[i] += Σ_j min(max(μ, 0), min_variance) / min_variance``: the expectation of each term
    for Poisson counts of mean μ (``min(1, μ/floor)``), the effective number of channels.

    No fast-math: with reassociation LLVM ordered the sums differently compiled afresh and loaded from
    numba's cache (χ² 6e-8 apart on an AVX-512 machine); the :data:`CHI2_LANES` lanes vectorise as written.
    """
    us0 = uint64(s0)
    # every operand in MU's precision (a float64 constant would make scalar float64 divisions), the background
    # added outside the loop and numpy's error model (no zero check; divisor >= floor > 0) keep it vectorised
    cast = np.empty(2, MU.dtype)
    cast[0] = 0.0
    cast[1] = min_variance
    zero = cast[0]
    floor = cast[1]
    n_ch = uint64(e0) - us0
    if has_bg:
        for i in range(Y.shape[0]):
            for q in range(n_ch):
                MU[i, q] += BGt[i, us0 + q]
    n_lanes = uint64(CHI2_LANES)
    n_full = n_ch - n_ch % n_lanes
    s, x = np.empty(CHI2_LANES, MU.dtype), np.empty(CHI2_LANES, MU.dtype)  # the lanes of the two sums
    for i in range(Y.shape[0]):
        s[:] = zero
        x[:] = zero
        for q0 in range(uint64(0), n_full, n_lanes):
            for k in range(n_lanes):
                mu = MU[i, q0 + k]
                r = Y[i, us0 + q0 + k] - mu
                v = max(mu, floor)
                s[k] += r * r / v
                x[k] += min(max(mu, zero), floor)
        for k in range(n_ch - n_full):
            mu = MU[i, n_full + k]
            r = Y[i, us0 + n_full + k] - mu
            v = max(mu, floor)
            s[k] += r * r / v
            x[k] += min(max(mu, zero), floor)
        acc[i] += s.sum()  # in lane order
        acc_exp[i] += x.sum() / floor


@njit(cache=True, nogil=True)
def _small_matmul(Q, X):
    """``Q @ X`` for a small square ``Q`` (K × K) and a tile ``X`` (K × :data:`TILE`), in plain loops.

    The innermost loop runs over the tile's columns (vectorised without reordering any sum):
    every entry is ``Σ_q Q[k, q] X[q, i]`` summed over q in order, the same bits as a
    per-point dot product.
    """
    K = X.shape[0]
    out = np.zeros((K, TILE))
    for k in range(K):
        for q in range(K):
            h = Q[k, q]
            for i in range(TILE):  # a compile-time trip count: one vector, no scalar remainder loop
                out[k, i] += h * X[q, i]
    return out


@njit(cache=True, nogil=True)
def _fit_tile(t, raw, lo, hi, valid, WAT, AT, blk_start, blk_ptr, blk_col, blk_lo, blk_hi, H, Hinv, scale, M, tol,
              bounded, BG, Gsq, min_variance, areas, var, chi2, chi2_exp, n_pos, bmax):
    """Tile ``t`` (points ``t*TILE`` … ``t*TILE + TILE - 1``) of :func:`fit_rows`."""
    n = raw.shape[0]
    K = WAT.shape[0]
    m = hi - lo
    m_pad = WAT.shape[1]  # >= m: the design may be padded with zero channels (whole SIMD vectors)
    nb = blk_start.size - 1
    has_bg = BG.shape[0] > 0
    p0 = t * TILE
    Y = np.zeros((TILE, m_pad), WAT.dtype)
    BGt = np.zeros((TILE, m_pad), WAT.dtype) if has_bg else np.zeros((TILE, 1), WAT.dtype)
    for i in range(TILE):
        p = p0 + i
        if p < n and valid[p]:
            ulo = uint64(lo)
            for j in range(uint64(m)):
                Y[i, j] = raw[p, ulo + j]
            if has_bg:
                for j in range(m):
                    BGt[i, j] = BG[p, j]
        else:
            for j in range(m):
                Y[i, j] = 0.0
    NET = Y
    if has_bg:
        NET = Y - BGt
    FT = np.zeros((K, TILE))  # (WA)ᵀy of the tile's points, one column per point
    Fk = np.empty(TILE)
    for b in range(nb):
        for q in range(blk_ptr[b], blk_ptr[b + 1]):
            k = blk_col[q]
            _dot_tile(NET, WAT[k], blk_lo[q], blk_hi[q], Fk)
            for i in range(TILE):
                FT[k, i] += Fk[i]
    # unconstrained c = H⁻¹f for the whole tile: the innermost loop runs over the tile's points
    # (vectorised), each sum still over q in order
    C = _small_matmul(Hinv, FT)
    C32 = np.zeros((K, TILE), AT.dtype)  # the amplitudes in the design's precision, for the model
    c = np.empty(K)
    c0 = np.empty(K)
    f = np.empty(K)
    work = nnls_workspace(K)
    for i in range(TILE):
        p = p0 + i
        if p >= n or not valid[p]:
            continue
        neg = False
        for k in range(K):
            c[k] = C[k, i]
            if c[k] < 0.0 and bounded[k]:
                neg = True
        if neg:
            for k in range(K):
                f[k] = FT[k, i]
            c0[:] = c
            n_pos[p] = nnls_one(H, Hinv, f, c0, scale, tol, c, bounded, work)
            for k in range(K):
                C[k, i] = c[k]
        else:
            cnt = 0
            for k in range(K):
                if c[k] != 0.0:
                    cnt += 1
            n_pos[p] = cnt
        for k in range(K):
            C32[k, i] = C[k, i]
    acc = np.zeros(TILE)
    acc_exp = np.zeros(TILE)
    MU = np.empty((TILE, bmax), AT.dtype)
    for b in range(nb):
        s0 = blk_start[b]
        e0 = blk_start[b + 1]
        MU[:, :] = 0.0
        for q in range(blk_ptr[b], blk_ptr[b + 1]):
            k = blk_col[q]
            _axpy_tile(C32[k], AT[k], MU, blk_lo[q], blk_hi[q], s0)
        _chi2_block(Y, MU, BGt, has_bg, s0, e0, min_variance, acc, acc_exp)
    V = _small_matmul(M, C)  # σ² = M c for the tile's points
    for i in range(TILE):
        p = p0 + i
        if p >= n or not valid[p]:
            continue
        chi2[p] = acc[i]
        chi2_exp[p] = acc_exp[i]
        for k in range(K):
            s = V[k, i]
            if has_bg:
                s += _dot_range(BGt[i], Gsq[k], 0, m)
            var[p, k] = s
            areas[p, k] = C[k, i]



@njit(cache=True, nogil=True)
def _max_block(blk_start):
    bmax = 0
    for b in range(blk_start.size - 1):
        bmax = max(bmax, blk_start[b + 1] - blk_start[b])
    return bmax


@njit(cache=True, nogil=True, parallel=True)
def _fit_rows_parallel(raw, lo, hi, valid, WAT, AT, blk_start, blk_ptr, blk_col, blk_lo, blk_hi, H, Hinv, scale, M,
                       tol, bounded, BG, Gsq, min_variance, areas, var, chi2, chi2_exp, n_pos):
    bmax = _max_block(blk_start)
    for t in prange((raw.shape[0] + TILE - 1) // TILE):
        _fit_tile(t, raw, lo, hi, valid, WAT, AT, blk_start, blk_ptr, blk_col, blk_lo, blk_hi, H, Hinv, scale, M,
                  tol, bounded, BG, Gsq, min_variance, areas, var, chi2, chi2_exp, n_pos, bmax)


@njit(cache=True, nogil=True)
def _fit_rows_serial(raw, lo, hi, valid, WAT, AT, blk_start, blk_ptr, blk_col, blk_lo, blk_hi, H, Hinv, scale, M,
                     tol, bounded, BG, Gsq, min_variance, areas, var, chi2, chi2_exp, n_pos):
    bmax = _max_block(blk_start)
    for t in range((raw.shape[0] + TILE - 1) // TILE):
        _fit_tile(t, raw, lo, hi, valid, WAT, AT, blk_start, blk_ptr, blk_col, blk_lo, blk_hi, H, Hinv, scale, M,
                  tol, bounded, BG, Gsq, min_variance, areas, var, chi2, chi2_exp, n_pos, bmax)


def fit_rows(raw, lo, hi, valid, WAT, AT, blk_start, blk_ptr, blk_col, blk_lo, blk_hi, H, Hinv, scale, M, tol,
             bounded, BG, Gsq, min_variance, areas, var, chi2, chi2_exp, n_pos):
    """Fit every row of ``raw`` with the fixed design: the per-point loop of the map fit.

    Tiles of :data:`TILE` points run in parallel (``prange``; in a forked child, one after the
    other: :func:`pixlspec.model.kernels.threads_usable`). For each valid
    point: ``y = raw[p, lo:hi]`` (minus ``BG[p]`` when given), ``f = (WA)ᵀ y``,
    ``c = H⁻¹ f``, the exact NNLS (:func:`nnls_one`) when a component is
    negative, the model ``μ = A c`` (+ background) for the Pearson χ²
    ``Σ (y − μ)²/max(μ, min_variance)``, and the variance ``σ² = M c``
    (+ ``(G∘G) bg``). The products run block by block over the channels
    (blocks of a few hundred channels that stay in the L1 cache), touching
    only the columns that are non-zero in a block. Every point's arithmetic
    is the same whatever tile it falls in, so results do not depend on chunking.

    Parameters
    ----------
    raw : (n, n_channels) counts, any numeric dtype.
    valid : (n,) bool; invalid rows are skipped (outputs left untouched).
    WAT, AT : (K, m_pad) weighted and plain design, transposed, contiguous; float32 or float64, the
        per-point products (and the copies of the counts) run in their precision. ``m_pad >= m``:
        columns past the fit range are zero (padding to whole SIMD vectors).
    blk_start : (n_blocks + 1,) first channel (0-based in the fit range) of each block.
    blk_ptr : (n_blocks + 1,) the entries ``blk_ptr[b]:blk_ptr[b+1]`` of ``blk_col``,
        ``blk_lo``, ``blk_hi`` are the columns non-zero in block b and their channel range.
    H, Hinv : (K, K) normal matrix and its inverse; scale = 1/sqrt(diag H).
    M : (K, K) variance matrix; Gsq : (K, m) = G∘G for the background variance (or (0, 0)).
    bounded : (K,) bool, the components constrained to be >= 0.
    BG : (n, m) background per row, or (0, 0).
    areas, var : (n, K) outputs; chi2 : (n,) output; chi2_exp : (n,) output, the expectation of the
        χ² terms for Poisson counts of the fitted means, ``Σ min(1, μ/min_variance)`` (the number of
        channels less the shortfall of the floored low-count channels); n_pos : (n,) number of
        non-zero components.
    """
    dispatch("fit_rows")(
        raw, lo, hi, valid, WAT, AT, blk_start, blk_ptr, blk_col, blk_lo, blk_hi, H, Hinv, scale, M, tol, bounded, BG,
        Gsq, min_variance, areas, var, chi2, chi2_exp, n_pos)


@njit(cache=True, nogil=True)
def column_sums_serial(raw, valid, out):
    """``out[j] += raw[p, j]`` for the rows with ``valid[p]``, one row after the other, in one thread
    (for blocks of rows read one at a time: a parallel launch costs more than the sum). Adding the
    blocks of a chunk this way into a zeroed buffer gives the bits of :func:`column_sums` on the
    whole chunk."""
    n, m = raw.shape
    for p in range(n):
        if valid[p]:
            for j in range(uint64(m)):
                out[j] += raw[p, j]


#: Channels per block of :func:`column_sums` (one thread sums a block over every row).
COLUMN_BLOCK = 256


@njit(cache=True, nogil=True)
def _column_block(raw, valid, out, b):
    n, m = raw.shape
    lo = b * COLUMN_BLOCK
    hi = min(lo + COLUMN_BLOCK, m)
    acc = np.zeros(hi - lo)
    for p in range(n):
        if valid[p]:
            for j in range(hi - lo):
                acc[j] += raw[p, uint64(lo) + uint64(j)]
    for j in range(hi - lo):
        out[lo + j] += acc[j]


@njit(cache=True, nogil=True, parallel=True)
def _column_sums_parallel(raw, valid, out):
    for b in prange((raw.shape[1] + COLUMN_BLOCK - 1) // COLUMN_BLOCK):
        _column_block(raw, valid, out, b)


@njit(cache=True, nogil=True)
def _column_sums_serial_blocks(raw, valid, out):
    for b in range((raw.shape[1] + COLUMN_BLOCK - 1) // COLUMN_BLOCK):
        _column_block(raw, valid, out, b)


def column_sums(raw, valid, out):
    """``out[j] += Σ_p raw[p, j]`` over the rows with ``valid[p]`` (channel blocks split among threads)."""
    dispatch("column_sums")(raw, valid, out)


@njit(cache=True, nogil=True)
def shared_matrices(A, w):
    """The per-scan matrices of the map fit, with plain sequential loops (no BLAS).

    BLAS results may depend on threads and memory alignment in the last bits;
    these loops give the same bits in every process, so every backend fits
    with identical matrices. Returns ``(H, Hinv, G, M)``: ``H = AᵀWA`` (with a
    1e-12 relative ridge), ``H⁻¹`` (Cholesky), ``G = H⁻¹AᵀW`` (K × m) and
    ``M = (G∘G) A`` (K × K).
    """
    m, K = A.shape
    # Channel-outer loops over the non-zero entries of each row (a row of the design has ~10 of
    # ~50 columns non-zero): every sum still runs over j (and b) in ascending order, skipping
    # exact zeros only, so the bits are those of the dense triple loops.
    nz = np.empty((m, K), np.int64)
    n_nz = np.zeros(m, np.int64)
    for j in range(m):
        for a in range(K):
            if A[j, a] != 0.0:
                nz[j, n_nz[j]] = a
                n_nz[j] += 1
    H = np.zeros((K, K))
    for j in range(m):
        for qa in range(n_nz[j]):
            a = nz[j, qa]
            aw = A[j, a] * w[j]
            for qb in range(qa + 1):
                b = nz[j, qb]
                H[a, b] += aw * A[j, b]
    for a in range(K):
        for b in range(a):
            H[b, a] = H[a, b]
    for a in range(K):
        if H[a, a] <= 0.0:
            H[a, a] = 1.0
    d = np.empty(K)
    for a in range(K):
        d[a] = np.sqrt(H[a, a])
    # scaled matrix, ridge, Cholesky
    L = np.zeros((K, K))
    for i in range(K):
        for j in range(i + 1):
            s = H[i, j] / (d[i] * d[j])
            if i == j:
                s += 1e-12
            for k in range(j):
                s -= L[i, k] * L[j, k]
            if i == j:
                L[i, i] = np.sqrt(max(s, 1e-300))
            else:
                L[i, j] = s / L[j, j]
    # inverse of the scaled matrix from L: solve L Lᵀ X = I column by column
    Hs_inv = np.zeros((K, K))
    e = np.zeros(K)
    y = np.empty(K)
    x = np.empty(K)
    for col in range(K):
        e[col] = 1.0
        _cholesky_substitute(L, e, K, y, x)
        e[col] = 0.0
        for i in range(K):
            Hs_inv[i, col] = x[i]
    Hinv = np.empty((K, K))
    Hout = np.empty((K, K))
    for a in range(K):
        for b in range(K):
            Hinv[a, b] = 0.5 * (Hs_inv[a, b] + Hs_inv[b, a]) / (d[a] * d[b])
            Hout[a, b] = H[a, b] + (1e-12 * H[a, a] if a == b else 0.0)
    # G[a, j] = w_j Σ_b H⁻¹[a, b] A[j, b], summed over the non-zero b of row j (H⁻¹ is symmetric:
    # its row b is read contiguously)
    # (rows of Gᵀ and of Mᵀ are filled with unit stride: the loops over a vectorise)
    GT = np.zeros((m, K))
    s_row = np.empty(K)
    for j in range(m):
        s_row[:] = 0.0
        for qb in range(n_nz[j]):
            b = nz[j, qb]
            ajb = A[j, b]
            for a in range(K):
                s_row[a] += Hinv[b, a] * ajb
        for a in range(K):
            GT[j, a] = s_row[a] * w[j]
    # M[a, b] = Σ_j G[a, j]² A[j, b], accumulated as Mᵀ
    MT = np.zeros((K, K))
    g2 = np.empty(K)
    for j in range(m):
        for a in range(K):
            g2[a] = GT[j, a] * GT[j, a]
        for qb in range(n_nz[j]):
            b = nz[j, qb]
            ajb = A[j, b]
            for a in range(K):
                MT[b, a] += g2[a] * ajb
    G = GT.T
    M = np.ascontiguousarray(MT.T)
    return Hout, Hinv, G, M


# the twin kernels of this module (dispatch picks one; tests/model/test_kernels.py compares their bits)
register_twins("row_validity", _row_validity_parallel, _row_validity_serial)
register_twins("fit_rows", _fit_rows_parallel, _fit_rows_serial)
register_twins("column_sums", _column_sums_parallel, _column_sums_serial_blocks)
