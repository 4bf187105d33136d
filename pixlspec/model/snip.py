"""SNIP background kernels (Ryan et al. 1988, physics.md §6): the LLS transform, the clipping passes
of one spectrum, and every row of a chunk (parallel and serial twins, :func:`pixlspec.model.kernels.dispatch`)."""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange, uint64

from .kernels import dispatch, register_twins

__all__ = ["lls", "inverse_lls", "snip", "snip_rows"]


@njit(cache=True)
def lls(y):
    """LLS transform ``ln(ln(sqrt(y+1)+1)+1)`` (Ryan et al. 1988)."""
    out = np.empty(y.size)
    for i in range(y.size):
        out[i] = math.log(math.log(math.sqrt(max(y[i], 0.0) + 1.0) + 1.0) + 1.0)
    return out


@njit(cache=True)
def inverse_lls(v):
    """Inverse of :func:`lls`."""
    out = np.empty(v.size)
    for i in range(v.size):
        t = math.exp(math.exp(v[i]) - 1.0) - 1.0
        out[i] = t * t - 1.0
    return out


@njit(cache=True)
def snip(y, width, decreasing=True, use_lls=True, smooth_half_width=0):
    """SNIP background (Ryan et al. 1988; decreasing window: Morháč et al. 1997).

    Parameters
    ----------
    y : (n,) counts.
    width : (n,) int clipping half-width per channel (channels); the window
        ``m`` runs from ``max(width)`` down to 1 (``decreasing``) or up from 1,
        and channel ``i`` is clipped only while ``m <= width[i]``.
    decreasing : bool
    use_lls : bool
        Apply the LLS transform before clipping (compresses dynamic range).
    smooth_half_width : int
        Boxcar-smooth ``y`` over ``2*h+1`` channels first (0 = none).

    Returns
    -------
    (n,) background, <= the (smoothed) spectrum.
    """
    n = y.size
    ys = np.empty(n)
    if smooth_half_width > 0:
        hw = smooth_half_width
        for i in range(n):
            lo = max(0, i - hw)
            hi = min(n, i + hw + 1)
            acc = 0.0
            for k in range(lo, hi):
                acc += y[k]
            ys[i] = acc / (hi - lo)
    else:
        for i in range(n):
            ys[i] = y[i]
    v = lls(ys) if use_lls else ys.copy()
    w = v.copy()
    mmax = 0
    for i in range(n):
        if width[i] > mmax:
            mmax = width[i]
    # widths that never decrease along the spectrum (a width in FWHM: the resolution grows with
    # energy): the channels clipped at window m are a suffix, the others need no pass
    monotone = True
    for i in range(1, n):
        if width[i] < width[i - 1]:
            monotone = False
            break
    for it in range(mmax):
        m = mmax - it if decreasing else it + 1
        if n - m <= m:
            continue
        start = m
        if monotone and decreasing:
            # first channel with width >= m (the channels below it are left as they are)
            start = max(m, np.searchsorted(width, m))
        _clip(v, w, width, start, m, n)
        if decreasing:
            # the clipped range [m, n-m) only grows as m decreases: outside it both buffers
            # still hold the input, so swapping them replaces the copy back
            v, w = w, v
        else:
            v[m:n - m] = w[m:n - m]
    return inverse_lls(v) if use_lls else v


@njit(cache=True, nogil=True)
def _clip(v, w, width, start, m, n):
    """One SNIP pass: ``w[i] = min(v[i], (v[i-m] + v[i+m])/2)`` where ``width[i] >= m``, else ``v[i]``,
    for i in start..n-m-1, start >= m (unsigned indices and a select: the loop vectorises)."""
    um = uint64(m)
    us = uint64(start)
    for q in range(uint64(max(n - m - start, 0))):
        i = us + q
        a = 0.5 * (v[i - um] + v[i + um])
        c = v[i]
        c2 = a if a < c else c
        w[i] = c2 if width[i] >= m else c


def snip_rows(Y, width, decreasing=True, use_lls=True, smooth_half_width=0):
    """:func:`snip` applied to every row of ``Y`` (n_spectra, n_ch), in parallel (in a forked
    child, one row after the other)."""
    return dispatch("snip_rows")(
        Y, width, decreasing, use_lls, smooth_half_width)


@njit(cache=True, parallel=True)
def _snip_rows_parallel(Y, width, decreasing, use_lls, smooth_half_width):
    out = np.empty(Y.shape)
    for p in prange(Y.shape[0]):
        out[p] = snip(Y[p], width, decreasing, use_lls, smooth_half_width)
    return out


@njit(cache=True)
def _snip_rows_serial(Y, width, decreasing, use_lls, smooth_half_width):
    out = np.empty(Y.shape)
    for p in range(Y.shape[0]):
        out[p] = snip(Y[p], width, decreasing, use_lls, smooth_half_width)
    return out


register_twins("snip_rows", _snip_rows_parallel, _snip_rows_serial)
