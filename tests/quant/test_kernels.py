"""Numba FP kernels against plain numpy references (pixlspec.quant.kernels)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixlspec.quant import kernels


def _tables(seed=0, P=3, K=4, E=40, L=5, M=3):
    rng = np.random.default_rng(seed)
    C = rng.uniform(0.01, 0.4, (P, K))
    mu_exc = rng.uniform(5, 500, (K, E))
    mu_line = rng.uniform(20, 2000, (K, L))
    mu_enh = rng.uniform(20, 2000, (K, M))
    src = rng.uniform(1, 10, E)
    q = rng.uniform(0, 3, (L, E))
    q_start = rng.integers(0, E // 2, L)
    for i, s in enumerate(q_start):
        q[i, :s] = 0.0
    q_enh = rng.uniform(0, 3, (M, E))
    q_enh_start = rng.integers(0, E // 2, M)
    for i, s in enumerate(q_enh_start):
        q_enh[i, :s] = 0.0
    line_el = rng.integers(0, K, L)
    line_group = rng.integers(0, 2, L)
    enh_el = rng.integers(0, K, M)
    det = rng.uniform(0.1, 1, L)
    pairs = [(l, m) for l in range(L) for m in range(M) if rng.uniform() < 0.6]
    pair_line = np.array([p[0] for p in pairs], dtype=np.int64)
    pair_enh = np.array([p[1] for p in pairs], dtype=np.int64)
    pair_qa = rng.uniform(1, 50, len(pairs))
    # as the kernel takes them (any pattern of pairs: not only the prefix structure of real edges)
    line_order, enh_lines, qa = kernels.secondary_layout(pair_line, pair_enh, pair_qa, L, M)
    return dict(C=C, mu_exc=mu_exc, mu_line=mu_line, mu_enh=mu_enh, src=src, q=q, q_start=q_start.astype(np.int64),
                q_enh=q_enh, q_enh_start=q_enh_start.astype(np.int64), line_el=line_el.astype(np.int64),
                line_group=line_group.astype(np.int64), enh_el=enh_el.astype(np.int64), det=det,
                pair_line=pair_line, pair_enh=pair_enh, pair_qa=pair_qa,
                line_order=line_order, enh_lines=enh_lines, qa=qa)


def test_fp_primary_matches_numpy():
    t = _tables()
    sin1, sin2 = 1.0, math.sin(math.radians(70))
    out = np.zeros((t["C"].shape[0], 2))
    kernels.fp_primary(t["C"], t["mu_exc"], t["mu_line"], t["src"], t["q"], t["q_start"], t["line_el"],
                       t["line_group"], t["det"], sin1, sin2, out)
    ref = np.zeros_like(out)
    for p in range(t["C"].shape[0]):
        mus = t["C"][p] @ t["mu_exc"] / sin1
        for ln in range(t["q"].shape[0]):
            mul = t["C"][p] @ t["mu_line"][:, ln] / sin2
            ref[p, t["line_group"][ln]] += (t["det"][ln] * t["C"][p, t["line_el"][ln]]
                                            * np.sum(t["src"] * t["q"][ln] / (mus + mul)))
    np.testing.assert_allclose(out, ref, rtol=1e-12)


def test_fp_secondary_matches_numpy():
    # more points than one block of scratch arrays, and a last block that is not full
    t = _tables(seed=1, P=2 * kernels.SECONDARY_BLOCK_POINTS + 3)
    sin1, sin2 = math.sin(math.radians(55)), math.sin(math.radians(70))
    t["C"][1] = 0.0                                   # a point of nothing
    t["C"][2, t["enh_el"][0]] = 0.7 * kernels.SECONDARY_MIN_ENHANCER_FRACTION  # an enhancer in its fade
    out = np.zeros((t["C"].shape[0], 2))
    kernels.fp_secondary(t["C"], t["mu_exc"], t["mu_line"], t["mu_enh"], t["src"], t["q_enh"], t["q_enh_start"],
                         t["enh_el"], t["line_order"], t["enh_lines"], t["qa"], t["line_el"], t["line_group"],
                         t["det"], sin1, sin2, out)
    ref = np.zeros_like(out)
    for p in range(t["C"].shape[0]):
        C = t["C"][p]
        mu0 = C @ t["mu_exc"]
        for k in range(t["pair_line"].size):
            ln, m = t["pair_line"][k], t["pair_enh"][k]
            if C[t["line_el"][ln]] <= 0 or C[t["enh_el"][m]] <= kernels.SECONDARY_ENHANCER_FADE_FROM:
                continue  # no analyte, or an enhancer below the fade: nothing (and no 0/0 for a point of nothing)
            mul = C @ t["mu_line"][:, ln]
            mum = C @ t["mu_enh"][:, m]
            L = sin1 / mu0 * np.log1p(mu0 / (sin1 * mum)) + sin2 / mul * np.log1p(mul / (sin2 * mum))
            acc = np.sum(t["src"] * t["q_enh"][m] * L / (mu0 / sin1 + mul / sin2))
            cj = C[t["enh_el"][m]]
            weight = np.clip((cj - kernels.SECONDARY_ENHANCER_FADE_FROM)
                             / (kernels.SECONDARY_MIN_ENHANCER_FRACTION - kernels.SECONDARY_ENHANCER_FADE_FROM), 0, 1)
            ref[p, t["line_group"][ln]] += (0.5 * t["det"][ln] * C[t["line_el"][ln]] * cj * weight
                                            * t["pair_qa"][k] * acc)
    np.testing.assert_allclose(out, ref, rtol=1e-10)


def test_fp_secondary_fades_trace_enhancers_out_continuously():
    """An enhancer's share of the secondary is its full share above SECONDARY_MIN_ENHANCER_FRACTION, nothing
    below SECONDARY_ENHANCER_FADE_FROM, and continuous in its mass fraction in between (no step for the
    inversion to cycle over)."""
    t = _tables(seed=1)
    t["C"][:, :] = 0.2
    sin1, sin2 = 1.0, math.sin(math.radians(70))
    el = t["enh_el"][0]
    others = [m for m in range(t["enh_el"].size) if t["enh_el"][m] == el]
    lo, hi = kernels.SECONDARY_ENHANCER_FADE_FROM, kernels.SECONDARY_MIN_ENHANCER_FRACTION
    fractions = np.r_[0.0, 0.9 * lo, np.linspace(lo, hi, 11), 1.2 * hi]
    C = np.repeat(t["C"][:1], fractions.size, axis=0)
    C[:, el] = fractions
    out = np.zeros((fractions.size, 2))
    kernels.fp_secondary(C, t["mu_exc"], t["mu_line"], t["mu_enh"], t["src"], t["q_enh"], t["q_enh_start"],
                         t["enh_el"], t["line_order"], t["enh_lines"], t["qa"], t["line_el"], t["line_group"],
                         t["det"], sin1, sin2, out)
    assert len(others) >= 1 and np.all(np.isfinite(out)) and np.all(out >= 0)
    total = np.abs(out[-2] - out[1]).max()                        # across the fade (the matrix moves a little too)
    assert total > 0
    assert np.abs(np.diff(out[1:-1], axis=0)).max() < 0.2 * total  # 11 small steps from below to above, no jump


def _primary_jacobian_reference(t, dC, sin1, sin2):
    """Primary and its directional derivatives, in numpy: the derivative of
    ``P_l = det_l C_i sum_e src_e q_le / D_le`` with ``dD_le = dmu_s(E_e)/sin1 + dmu_s(E_l)/sin2``."""
    P, L = t["C"].shape[0], t["q"].shape[0]
    J = dC.shape[2]
    prim, jac = np.zeros((P, 2)), np.zeros((P, 2, J))
    for p in range(P):
        C = t["C"][p]
        for ln in range(L):
            el, g = t["line_el"][ln], t["line_group"][ln]
            D = C @ t["mu_exc"] / sin1 + C @ t["mu_line"][:, ln] / sin2
            a = t["det"][ln] * t["src"] * t["q"][ln]
            prim[p, g] += C[el] * np.sum(a / D)
            for j in range(J):
                dD = dC[p, :, j] @ t["mu_exc"] / sin1 + dC[p, :, j] @ t["mu_line"][:, ln] / sin2
                jac[p, g, j] += dC[p, el, j] * np.sum(a / D) - C[el] * np.sum(a * dD / D ** 2)
    return prim, jac


def test_fp_primary_jacobian_matches_numpy():
    t = _tables(seed=3)
    t["C"][1, t["line_el"][0]] = 0.0  # an absent element: its derivative is dC_i s0 alone
    sin1, sin2 = 1.0, math.sin(math.radians(70))
    P, K = t["C"].shape
    dC = np.random.default_rng(4).normal(size=(P, K, 6))
    prim, jac = np.zeros((P, 2)), np.zeros((P, 2, 6))
    kernels.fp_primary_jacobian(t["C"], dC, t["mu_exc"], t["mu_line"],
                                t["src"], t["q"], t["q_start"], t["line_el"], t["line_group"], t["det"], sin1, sin2,
                                prim, jac)
    ref_prim, ref_jac = _primary_jacobian_reference(t, dC, sin1, sin2)
    np.testing.assert_allclose(prim, ref_prim, rtol=1e-12)
    np.testing.assert_allclose(jac, ref_jac, rtol=1e-10, atol=1e-12 * np.abs(ref_jac).max())


def test_fp_primary_jacobian_is_the_derivative_of_fp_primary():
    """Central differences of fp_primary along each direction equal the Jacobian kernel."""
    t = _tables(seed=5)
    sin1, sin2 = 1.0, math.sin(math.radians(70))
    P, K = t["C"].shape
    dC = np.random.default_rng(6).uniform(-1, 1, (P, K, 3))
    prim, jac = np.zeros((P, 2)), np.zeros((P, 2, 3))
    kernels.fp_primary_jacobian(t["C"], dC, t["mu_exc"], t["mu_line"],
                                t["src"], t["q"], t["q_start"], t["line_el"], t["line_group"], t["det"], sin1, sin2,
                                prim, jac)
    h = 1e-6
    for j in range(3):
        out = []
        for s in (+1, -1):
            o = np.zeros((P, 2))
            kernels.fp_primary(np.ascontiguousarray(t["C"] + s * h * dC[:, :, j]), t["mu_exc"], t["mu_line"],
                               t["src"], t["q"], t["q_start"], t["line_el"], t["line_group"], t["det"], sin1, sin2, o)
            out.append(o)
        np.testing.assert_allclose(jac[:, :, j], (out[0] - out[1]) / (2 * h), rtol=1e-6)


def test_batched_inverse_matches_numpy_and_flags_singular_matrices():
    rng = np.random.default_rng(3)
    n_p, n = 37, 9
    J = rng.normal(size=(n_p, n, n)) + 3.0 * np.eye(n)
    J[4] = J[4][rng.permutation(n)]          # a pivot far from the diagonal
    J[7, :, 2] = 2.0 * J[7, :, 5]            # singular: two columns proportional
    J[9] = 0.0                               # singular: all zero
    J[11, 0, 3] = np.nan                     # not finite: no inverse either, wherever it is
    D = np.empty_like(J)
    ok = kernels.batched_inverse(J, D)
    assert not ok[7] and not ok[9] and not ok[11] and ok.sum() == n_p - 3
    ref = np.linalg.inv(J[ok])
    np.testing.assert_allclose(D[ok], ref, rtol=1e-9, atol=1e-12 * np.abs(ref).max())
    np.testing.assert_allclose(D[ok] @ J[ok], np.broadcast_to(np.eye(n), (ok.sum(), n, n)), atol=1e-11)
    # one-by-one and empty batches
    one = np.array([[[4.0]]])
    out = np.empty_like(one)
    assert kernels.batched_inverse(one, out)[0] and out[0, 0, 0] == 0.25
    assert kernels.batched_inverse(np.zeros((0, 3, 3)), np.zeros((0, 3, 3))).size == 0


def test_quantify_inverse_falls_back_to_the_pseudo_inverse():
    """quantify's per-point inverse: the kernel's where it has one, the pseudo-inverse of a singular matrix,
    NaN for a matrix that is not finite."""
    from pixlspec.quant.quantify import _inverse

    J = np.stack([np.diag([2.0, 4.0]), np.array([[1.0, 2.0], [2.0, 4.0]]), np.array([[1.0, np.nan], [0.0, 1.0]])])
    D = _inverse(J)
    np.testing.assert_allclose(D[0], np.diag([0.5, 0.25]))
    np.testing.assert_allclose(D[1], np.linalg.pinv(J[1]))
    assert np.isnan(D[2]).all()


@settings(max_examples=2000, deadline=None)
@given(st.floats(min_value=2.2250738585072014e-308, max_value=1.7976931348623157e308, allow_nan=False,
                 allow_infinity=False, allow_subnormal=False))
def test_fast_log_is_math_log(x):
    """The vectorisable logarithm of the secondary fluorescence equals ``math.log`` to a few ulp, over every
    positive normal float (its domain), near 1 (where the secondary takes it: ln(1 + y), y >= 0) and at the
    ends of its range reduction."""
    assert kernels.fast_log(x) == pytest.approx(math.log(x), rel=2e-15, abs=1e-300)


def test_fast_log_near_one_and_at_the_range_reduction():
    x = np.concatenate([1.0 + np.geomspace(1e-15, 1.0, 200), 1.0 - np.geomspace(1e-16, 0.5, 200),
                        np.sqrt(2.0) * (1.0 + np.linspace(-1e-12, 1e-12, 41)), 2.0 ** np.arange(-1020, 1020, 7.0)])
    got = np.array([kernels.fast_log(v) for v in x])
    np.testing.assert_allclose(got, np.log(x), rtol=2e-15, atol=0.0)
