"""Numba FP kernels against plain numpy references (pixlspec.quant.kernels)."""
from __future__ import annotations

import math

import numpy as np

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
    return dict(C=C, mu_exc=mu_exc, mu_line=mu_line, mu_enh=mu_enh, src=src, q=q, q_start=q_start.astype(np.int64),
                q_enh=q_enh, q_enh_start=q_enh_start.astype(np.int64), line_el=line_el.astype(np.int64),
                line_group=line_group.astype(np.int64), enh_el=enh_el.astype(np.int64), det=det,
                pair_line=pair_line, pair_enh=pair_enh, pair_qa=pair_qa)


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
    t = _tables(seed=1)
    sin1, sin2 = 1.0, math.sin(math.radians(70))
    out = np.zeros((t["C"].shape[0], 2))
    kernels.fp_secondary(t["C"], t["mu_exc"], t["mu_line"], t["mu_enh"], t["src"], t["q_enh"], t["q_enh_start"],
                         t["enh_el"], t["pair_line"], t["pair_enh"], t["pair_qa"], t["line_el"], t["line_group"],
                         t["det"], sin1, sin2, out)
    ref = np.zeros_like(out)
    for p in range(t["C"].shape[0]):
        C = t["C"][p]
        mu0 = C @ t["mu_exc"]
        for k in range(t["pair_line"].size):
            ln, m = t["pair_line"][k], t["pair_enh"][k]
            mul = C @ t["mu_line"][:, ln]
            mum = C @ t["mu_enh"][:, m]
            L = sin1 / mu0 * np.log1p(mu0 / (sin1 * mum)) + sin2 / mul * np.log1p(mul / (sin2 * mum))
            acc = np.sum(t["src"] * t["q_enh"][m] * L / (mu0 / sin1 + mul / sin2))
            ref[p, t["line_group"][ln]] += (0.5 * t["det"][ln] * C[t["line_el"][ln]] * C[t["enh_el"][m]]
                                            * t["pair_qa"][k] * acc)
    np.testing.assert_allclose(out, ref, rtol=1e-10)


def test_fp_secondary_skips_trace_enhancers():
    t = _tables(seed=2)
    t["C"][:, :] = 0.2
    t["C"][0, t["enh_el"][0]] = 0.5 * kernels.SECONDARY_MIN_ENHANCER_FRACTION
    out = np.zeros((t["C"].shape[0], 2))
    args = (t["mu_exc"], t["mu_line"], t["mu_enh"], t["src"], t["q_enh"], t["q_enh_start"], t["enh_el"],
            t["pair_line"], t["pair_enh"], t["pair_qa"], t["line_el"], t["line_group"], t["det"], 1.0, 0.9)
    kernels.fp_secondary(t["C"], *args, out)
    assert np.all(np.isfinite(out)) and np.all(out >= 0)


def test_fp_primary_weights_match_numpy():
    t = _tables(seed=3)
    sin1, sin2 = 1.0, math.sin(math.radians(70))
    P, L, E = t["C"].shape[0], t["q"].shape[0], t["src"].size
    s0, sw, w = np.zeros((P, L)), np.zeros((P, L)), np.full((P, L, E), np.nan)
    kernels.fp_primary_weights(t["C"], t["mu_exc"], t["mu_line"], t["src"], t["q"], t["q_start"], t["det"],
                               sin1, sin2, s0, w, sw)
    for p in range(P):
        mus = t["C"][p] @ t["mu_exc"] / sin1
        for ln in range(L):
            D = mus + t["C"][p] @ t["mu_line"][:, ln] / sin2
            ref_w = t["det"][ln] * t["src"] * t["q"][ln] / D ** 2
            ref_w[:t["q_start"][ln]] = 0.0
            np.testing.assert_allclose(w[p, ln], ref_w, rtol=1e-12)
            np.testing.assert_allclose(s0[p, ln], t["det"][ln] * np.sum(t["src"] * t["q"][ln] / D), rtol=1e-12)
            np.testing.assert_allclose(sw[p, ln], ref_w.sum(), rtol=1e-12)
