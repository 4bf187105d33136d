"""SNIP background kernels (pixlspec.model.snip) against a plain numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pixlspec.model import snip as snip_kernels


RTOL = 1e-10


def ref_snip(y, width, decreasing=True, use_lls=True, smooth=0):
    y = np.asarray(y, float)
    if smooth > 0:
        n = y.size
        ys = np.array([y[max(0, i - smooth):min(n, i + smooth + 1)].mean() for i in range(n)])
    else:
        ys = y.copy()
    v = np.log(np.log(np.sqrt(np.maximum(ys, 0) + 1) + 1) + 1) if use_lls else ys.copy()
    mmax = int(width.max())
    ms = range(mmax, 0, -1) if decreasing else range(1, mmax + 1)
    n = v.size
    for m in ms:
        i = np.arange(m, n - m)
        a = 0.5 * (v[i - m] + v[i + m])
        new = np.where(width[i] >= m, np.minimum(v[i], a), v[i])
        v[i] = new
    if use_lls:
        t = np.exp(np.exp(v) - 1) - 1
        return t * t - 1
    return v


# --- SNIP -------------------------------------------------------------------------------------------
def test_lls_round_trip():
    y = np.arange(0.0, 1011.0)
    assert np.max(np.abs(snip_kernels.inverse_lls(snip_kernels.lls(y)) - y)) < 5e-12  # physics.md: < 2e-12 on its machine


def _gauss_on_flat():
    ch = np.arange(1000.0)
    return 10.0 + 1000.0 * np.exp(-0.5 * ((ch - 500) / (10 / 2.3548200450309493)) ** 2)


@pytest.mark.parametrize("m,expected,tol", [(10, 18.82, 0.01), (20, 10.004, 0.001), (30, 10.000, 0.001)])
def test_snip_check_values(m, expected, tol):
    """physics.md §6: decreasing window, Gaussian FWHM 10 ch on a flat 10-count background."""
    y = _gauss_on_flat()
    bg = snip_kernels.snip(y, np.full(y.size, m, dtype=np.int64), True, True, 0)
    assert bg[500] == pytest.approx(expected, abs=tol)


def test_snip_increasing_check_value():
    y = _gauss_on_flat()
    bg = snip_kernels.snip(y, np.full(y.size, 20, dtype=np.int64), False, True, 0)
    assert bg[500] == pytest.approx(10.015, abs=0.001)
    assert bg.max() == pytest.approx(10.047, abs=0.001)


def test_snip_line():
    ch = np.arange(1000.0)
    y = 5 + 0.02 * ch
    bg = snip_kernels.snip(y, np.full(y.size, 20, dtype=np.int64), True, True, 0)
    assert np.max(np.abs(bg - y)) < 0.08


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(50, 600), m=st.integers(1, 30), dec=st.booleans(),
       use_lls=st.booleans(), smooth=st.integers(0, 3), monotone=st.booleans())
def test_snip_matches_numpy(seed, n, m, dec, use_lls, smooth, monotone):
    """Any widths; non-decreasing widths (as from a FWHM) take the kernel's suffix-only path."""
    rng = np.random.default_rng(seed)
    y = rng.poisson(rng.uniform(0, 500) * (1 + np.sin(np.arange(n) / 17.0) ** 2)).astype(float)
    width = rng.integers(1, m + 1, n).astype(np.int64)
    if monotone:
        width = np.sort(width)
    got = snip_kernels.snip(y, width, dec, use_lls, smooth)
    ref = ref_snip(y, width, dec, use_lls, smooth)
    np.testing.assert_allclose(got, ref, rtol=RTOL, atol=1e-9)


def test_snip_rows_parallel_equals_serial():
    rng = np.random.default_rng(3)
    Y = rng.poisson(50, (7, 300)).astype(float)
    w = np.full(300, 12, dtype=np.int64)
    rows = snip_kernels.snip_rows(Y, w, True, True, 1)
    for i in range(7):
        np.testing.assert_array_equal(rows[i], snip_kernels.snip(Y[i], w, True, True, 1))
