"""Numba line-shape, NNLS and gradient kernels (pixlspec.model.kernels) against plain numpy references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st
from scipy.special import erfc, erfcx

from pixlspec.model import kernels


RTOL = 1e-10


# --- numpy references ----------------------------------------------------------------------
def ref_sigma(e, noise, fano_pair):
    return np.sqrt((noise / 2.3548200450309493) ** 2 + fano_pair * np.maximum(e, 0))


def ref_gauss(x, s):
    return np.exp(-0.5 * (x / s) ** 2) / (s * np.sqrt(2 * np.pi))


def ref_tail(x, s, f, beta):
    # the same function in two exact forms: erfc below the peak, the scaled erfcx above it (where erfc and
    # the exponential would underflow and overflow): exp(x/b + s^2/2b^2) erfc(z) = exp(-x^2/2s^2) erfcx(z)
    z = x / (np.sqrt(2) * s) + s / (np.sqrt(2) * beta)
    return np.where(z < 0, f / (2 * beta) * np.exp(x / beta + 0.5 * (s / beta) ** 2) * erfc(np.minimum(z, 0)),
                    f / (2 * beta) * np.exp(-0.5 * (x / s) ** 2) * erfcx(np.maximum(z, 0)))


def ref_step(x, s, h):
    return h / (s * np.sqrt(2 * np.pi)) * 0.5 * erfc(x / (np.sqrt(2) * s))


def ref_line_responses(energies, le, lw, lc, lvar, lf, lbeta, lh, lpe, noise, fano_pair, ea, eb, kbf, ncol,
                       windows=True):
    """Every line on every channel. With ``windows`` the documented truncation of the
    kernel is applied (Gaussians beyond +-8 sigma, tails beyond 30 beta, the step's
    erfc taken as 2 below the window)."""
    out = np.zeros((energies.size, ncol))
    for j in range(le.size):
        s_det = ref_sigma(le[j], noise, fano_pair)
        s = np.sqrt(s_det ** 2 + lvar[j])
        x = energies - le[j]
        lo = -kernels.LOW_SIGMAS * s
        if lf[j] > 0:
            lo = min(lo, -kernels.TAIL_BETAS * lbeta[j])
        inside = (x >= lo) & (x < kernels.HIGH_SIGMAS * s) if windows else np.ones(x.size, bool)
        v = (1 - lf[j]) * ref_gauss(x, s)
        if lf[j] > 0:
            with np.errstate(over="ignore", invalid="ignore"):
                t = ref_tail(x, s, lf[j], lbeta[j])
            v += np.nan_to_num(t, nan=0.0, posinf=0.0)
        if lh[j] > 0:
            v += ref_step(x, s, lh[j])
        v = np.where(inside, v, 0.0)
        if windows and lh[j] > 0:
            v = np.where(x < lo, lh[j] / (s * np.sqrt(2 * np.pi)), v)
        out[:, lc[j]] += lw[j] * (1 - lpe[j]) * v
        if lpe[j] > 0:
            for e_esc, frac in ((le[j] - ea, 1 - kbf), (le[j] - eb, kbf)):
                se = ref_sigma(e_esc, noise, fano_pair)
                xe = energies - e_esc
                g = ref_gauss(xe, se)
                if windows:
                    g = np.where((xe >= -kernels.LOW_SIGMAS * se) & (xe < kernels.HIGH_SIGMAS * se), g, 0.0)
                out[:, lc[j]] += lw[j] * lpe[j] * frac * g
    return out


# --- peak shapes: physics.md §2 check values -----------------------------------------------------
def test_shape_check_values():
    s = 150.0 / 2.3548200450309493
    assert kernels.gaussian(0.0, s) * 1000 == pytest.approx(6.26286, rel=1e-5)
    assert kernels.hypermet_tail(0.0, s, 0.05, 75.0) * 1000 == pytest.approx(0.189184, rel=1e-5)
    assert kernels.hypermet_tail(-300.0, s, 0.05, 75.0) * 1000 == pytest.approx(0.0175125, rel=1e-5)
    assert kernels.hypermet_tail(0.0, s, 0.02, 1500.0) * 1000 == pytest.approx(0.00644666, rel=1e-5)
    assert kernels.step(-500.0, s, 1e-3) * 1000 == pytest.approx(0.00626286, rel=1e-5)
    assert kernels.step(0.0, s, 1e-3) * 1000 == pytest.approx(0.00313143, rel=1e-5)


def test_tail_integrates_to_fraction():
    s = 63.6997
    x = np.arange(-20000.0, 2000.0, 0.5)
    t = np.array([kernels.hypermet_tail(v, s, 0.05, 75.0) for v in x])
    assert np.trapezoid(t, x) == pytest.approx(0.05, rel=1e-6)


@settings(max_examples=60, deadline=None)
@given(x=st.floats(-3000, 3000), s=st.floats(20, 300), f=st.floats(0.001, 0.5), beta=st.floats(5, 2000),
       h=st.floats(0, 1e-2))
# far above a line with a short tail (erfc subnormal: it had lost its digits), and a tail much shorter than
# the Gaussian at the line itself (the exponential overflowed: the kernel returned 0 for ~1e-3 of the area)
@example(x=1662.0, s=56.0, f=0.5, beta=7.0, h=0.0)
@example(x=0.0, s=300.0, f=0.05, beta=5.0, h=0.0)
def test_scalar_shapes_match_numpy(x, s, f, beta, h):
    assert kernels.gaussian(x, s) == pytest.approx(ref_gauss(x, s), rel=RTOL, abs=1e-300)
    assert kernels.step(x, s, h) == pytest.approx(ref_step(x, s, h), rel=RTOL, abs=1e-300)
    with np.errstate(over="ignore", invalid="ignore"):
        r = ref_tail(x, s, f, beta)
    assert np.isfinite(r)
    assert kernels.hypermet_tail(x, s, f, beta) == pytest.approx(r, rel=RTOL, abs=1e-300)


def _random_lines(rng, n_lines, ncol, emax):
    le = np.sort(rng.uniform(1000, emax, n_lines))
    lw = rng.uniform(0.01, 1.0, n_lines)
    lc = rng.integers(0, ncol, n_lines)
    lvar = np.where(rng.random(n_lines) < 0.2, rng.uniform(0, 300.0 ** 2, n_lines), 0.0)
    lf = np.where(rng.random(n_lines) < 0.7, rng.uniform(0, 0.2, n_lines), 0.0)
    lbeta = rng.uniform(20, 200, n_lines)
    lh = np.where(rng.random(n_lines) < 0.7, rng.uniform(0, 1e-3, n_lines), 0.0)
    lpe = np.where(le > 1839, rng.uniform(0, 0.02, n_lines), 0.0)
    return le, lw, lc.astype(np.int64), lvar, lf, lbeta, lh, lpe


@pytest.mark.parametrize("seed", range(5))
def test_line_responses_match_numpy(seed):
    rng = np.random.default_rng(seed)
    energies = -20.0 + 7.9 * np.arange(3000.0)
    ncol = 6
    lines = _random_lines(rng, 25, ncol, 22000)
    out = np.zeros((energies.size, ncol))
    kernels.line_responses(energies, *lines, 95.0, 0.114 * 3.85, 1739.6, 1837.0, 0.03, out)
    ref = ref_line_responses(energies, *lines, 95.0, 0.114 * 3.85, 1739.6, 1837.0, 0.03, ncol)
    np.testing.assert_allclose(out, ref, rtol=RTOL, atol=1e-300)
    # the truncation itself (tails cut at 15 beta: e^-15 of the tail start) costs < 3e-6 of a column peak
    full = ref_line_responses(energies, *lines, 95.0, 0.114 * 3.85, 1739.6, 1837.0, 0.03, ncol, windows=False)
    scale = np.abs(full).max(axis=0, keepdims=True)
    assert np.all(np.abs(out - full) <= 3e-6 * scale)


def test_line_response_unit_area():
    """A line without step integrates to its weight (Gaussian + tail + escape)."""
    energies = 0.0 + 2.0 * np.arange(15000.0)
    le = np.array([6400.0]); lw = np.array([1.0]); lc = np.array([0], dtype=np.int64)
    out = np.zeros((energies.size, 1))
    kernels.line_responses(energies, le, lw, lc, np.zeros(1), np.array([0.05]), np.array([80.0]), np.zeros(1),
                           np.array([0.0027]), 90.0, 0.114 * 3.85, 1739.6, 1837.0, 0.03, out)
    assert out[:, 0].sum() * 2.0 == pytest.approx(1.0, rel=1e-6)


def test_every_twin_kernel_gives_the_bits_of_its_serial_twin(monkeypatch):
    """Each parallel kernel and its serial twin (used in forked children), on the inputs a real single fit and a
    SNIP map fit of a random simulated scan hand them: the same outputs, bit for bit."""
    import copy
    import importlib

    import pixlspec as px
    from pixlspec.config import FitConfig
    for name in ("pixlspec.model.map_kernels", "pixlspec.model.snip"):  # register their twins
        importlib.import_module(name)
    from pixlspec.simulate import basalt_areas, simulate_scan

    recorded = {}

    def recorder(name, parallel):
        def run(*args):
            recorded.setdefault(name, copy.deepcopy(args))
            return parallel(*args)
        return run

    originals = dict(kernels.KERNEL_TWINS)
    for name, (parallel, serial) in originals.items():
        monkeypatch.setitem(kernels.KERNEL_TWINS, name, (recorder(name, parallel), serial))
    rng = np.random.default_rng(11)
    n = 64
    areas = {k: v * rng.uniform(0.5, 1.5, n) for k, v in basalt_areas(2e5).items()}
    scan = simulate_scan(areas, shape=(8, 8), detectors=["A"], seed=12)
    px.fit_spectrum(scan.sum_spectrum("A"))
    px.fit_map(scan, config=FitConfig(background="snip"))
    px.fit_map(scan)
    assert set(recorded) == set(kernels.KERNEL_TWINS), set(kernels.KERNEL_TWINS) - set(recorded)
    for name, args in recorded.items():
        parallel, serial = originals[name]
        a, b = copy.deepcopy(args), copy.deepcopy(args)
        ra, rb = parallel(*a), serial(*b)
        outs = [(ra, rb)] + [(x, y) for x, y in zip(a, b) if isinstance(x, np.ndarray)]
        for x, y in outs:
            if x is None:
                assert y is None, name
                continue
            x, y = np.asarray(x), np.asarray(y)
            assert x.shape == y.shape and x.tobytes() == y.tobytes(), name


# --- NNLS -------------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), k=st.integers(1, 12), n=st.integers(15, 60))
def test_nnls_gram_matches_scipy(seed, k, n):
    from scipy.optimize import nnls

    rng = np.random.default_rng(seed)
    A = rng.random((n, k))
    y = A @ rng.normal(0, 1, k) + rng.normal(0, 0.1, n)
    ref, _ = nnls(A, y)
    c, passive = kernels.nnls_gram(A.T @ A, A.T @ y)
    assert np.all(c >= 0)
    # same objective value (the solution is unique when A has full column rank)
    obj = lambda x: np.sum((A @ x - y) ** 2)
    assert obj(c) <= obj(ref) * (1 + 1e-9) + 1e-12
    np.testing.assert_allclose(c, ref, atol=1e-7 * max(1, np.abs(ref).max()))
    assert np.all(passive == (c > 0)) or np.all(c[~passive] == 0)


def test_nnls_rows_uses_unconstrained_when_positive():
    rng = np.random.default_rng(0)
    A = rng.random((40, 4))
    C_true = np.abs(rng.normal(5, 1, (10, 4)))
    C_true[3, 2] = 0.0
    Y = C_true @ A.T
    Y[3] += rng.normal(0, 0.5, 40)
    H = A.T @ A
    F = Y @ A
    C0 = np.linalg.solve(H, F.T).T
    C, P = kernels.nnls_rows(H, F, C0)
    for i in range(10):
        ref, _ = kernels.nnls_gram(H, F[i])
        np.testing.assert_allclose(C[i], ref, rtol=1e-9, atol=1e-9)
    assert np.all(C >= 0)


# --- analytic derivatives of the line model ---------------------------------------------------------
def ref_line_model_grad(energies, le, amp, kind, c_sigma, lf, df_tail, df_slope, tail_b, step_h, pe, noise, fano,
                        pair, ea, eb, kbf):
    """numpy version of kernels.line_model_grad (same windows), from the closed-form derivatives."""
    K = kernels.FWHM_PER_SIGMA
    n = energies.size
    model = np.zeros(n)
    grad = np.zeros((n, kernels.N_GRAD))
    for j in range(le.size):
        e0, a0, kd = le[j], amp[j], kind[j]
        nk = noise / K
        var_det = nk * nk + fano * pair * max(e0, 0.0)
        s = np.sqrt(var_det + (c_sigma ** 2 if kd == 2 else 0.0))
        ds = {"noise": noise / (K * K * s), "fano": pair * max(e0, 0.0) / (2 * s),
              "cs": c_sigma / s if kd == 2 else 0.0, "e0": fano * pair / (2 * s)}
        f, beta = lf[j], tail_b * K * s
        h = step_h if kd == 0 else 0.0
        a = a0 * (1 - pe[j])
        lo = min(-kernels.LOW_SIGMAS * s, -kernels.TAIL_BETAS * beta) if f > 0 else -kernels.LOW_SIGMAS * s
        x = energies - e0
        win = (x >= lo) & (x < kernels.HIGH_SIGMAS * s)
        g = ref_gauss(x, s)
        dg_dx, dg_ds = -x / s ** 2 * g, g * (x ** 2 / s ** 3 - 1 / s)
        with np.errstate(over="ignore", invalid="ignore"):
            t1 = np.nan_to_num(ref_tail(x, s, 1.0, beta), nan=0.0, posinf=0.0)
        dt_dbeta = t1 * (-1 / beta - x / beta ** 2 - s ** 2 / beta ** 3) + g * s ** 2 / beta ** 3
        dt_ds = t1 * s / beta ** 2 + g / beta * (x / s - s / beta) + dt_dbeta * tail_b * K
        r = (1 - f) * g + f * t1
        dr_dx = (1 - f) * dg_dx + f * (t1 / beta - g / beta)
        dr_ds = (1 - f) * dg_ds + f * dt_ds
        dr_df = -g + t1
        dr_db = f * dt_dbeta * K * s
        s1 = 0.5 * erfc(x / (np.sqrt(2) * s)) / (s * np.sqrt(2 * np.pi))
        if kd == 0:
            r = r + h * s1
            dr_dx = dr_dx - h * g / (s * np.sqrt(2 * np.pi))
            dr_ds = dr_ds + h * (-s1 / s + g * x / (s * np.sqrt(2 * np.pi)) / s)
        for arr in (r, dr_dx, dr_ds, dr_df, dr_db, s1):
            arr[~win] = 0.0
        model += a * r
        grad[:, kernels.GRAD_ENERGY] += a * dr_dx
        grad[:, kernels.GRAD_NOISE] += a * dr_ds * ds["noise"]
        grad[:, kernels.GRAD_FANO] += a * dr_ds * ds["fano"]
        grad[:, kernels.GRAD_TAIL_B] += a * dr_db
        if kd == 2:
            grad[:, kernels.GRAD_C_SIGMA] += a * dr_ds * ds["cs"]
            grad[:, kernels.GRAD_C_SHIFT] += a * (-dr_dx + dr_ds * ds["e0"])
            grad[:, kernels.GRAD_C_TAIL] += a * dr_df
        else:
            grad[:, kernels.GRAD_TAIL_F] += a * dr_df * df_tail[j]
            grad[:, kernels.GRAD_TAIL_SLOPE] += a * dr_df * df_slope[j]
        if kd == 0:
            grad[:, kernels.GRAD_STEP] += a * s1
            below = x < lo
            H = 1 / (s * np.sqrt(2 * np.pi))
            model[below] += a * h * H
            grad[below, kernels.GRAD_NOISE] += a * h * (-H / s) * ds["noise"]
            grad[below, kernels.GRAD_FANO] += a * h * (-H / s) * ds["fano"]
            grad[below, kernels.GRAD_STEP] += a * H
        if pe[j] > 0:
            for esc, frac in ((ea, 1 - kbf), (eb, kbf)):
                ee = e0 - esc
                se = np.sqrt(nk * nk + fano * pair * max(ee, 0.0))
                xe = energies - ee
                w = (xe >= -kernels.LOW_SIGMAS * se) & (xe < kernels.HIGH_SIGMAS * se)
                ge = np.where(w, ref_gauss(xe, se), 0.0)
                ae = a0 * pe[j] * frac
                dge_ds = ge * (xe ** 2 / se ** 3 - 1 / se)
                model += ae * ge
                grad[:, kernels.GRAD_ENERGY] += ae * (-xe / se ** 2 * ge)
                grad[:, kernels.GRAD_NOISE] += ae * dge_ds * noise / (K * K * se)
                grad[:, kernels.GRAD_FANO] += ae * dge_ds * pair * max(ee, 0.0) / (2 * se)
                if kd == 2:
                    grad[:, kernels.GRAD_C_SHIFT] += ae * (xe / se ** 2 * ge + dge_ds * fano * pair / (2 * se))
    return model, grad


@pytest.mark.parametrize("seed", range(4))
def test_line_model_grad_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    energies = -15.0 + 7.9 * np.arange(3200.0)
    nl = 20
    le = np.sort(rng.uniform(1000, 21000, nl))
    amp = rng.uniform(10, 1000, nl)
    kind = rng.integers(0, 3, nl).astype(np.int64)
    lf = rng.uniform(0.0, 0.1, nl)
    df_tail = rng.uniform(0.5, 2.0, nl)
    df_slope = rng.uniform(-0.1, 0.1, nl)
    pe = np.where(le > 1839, rng.uniform(0, 0.01, nl), 0.0)
    args = (energies, le, amp, kind, 180.0, lf, df_tail, df_slope, 0.6, 3e-4, pe, 100.0, 0.114, 3.85, 1739.6,
            1837.0, 0.03)
    model = np.empty(energies.size)
    grad = np.empty((energies.size, kernels.N_GRAD))
    kernels.line_model_grad(*args, model, grad)
    ref_m, ref_g = ref_line_model_grad(*args)
    np.testing.assert_allclose(model, ref_m, rtol=RTOL, atol=1e-300)
    scale = np.abs(ref_g).max(axis=0)
    assert np.all(np.abs(grad - ref_g) <= RTOL * np.maximum(scale, 1e-300))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 60), st.integers(1, 12), st.floats(0.0, 0.95), st.integers(0, 2**32 - 1))
def test_weighted_gram_matches_numpy(m, k, sparsity, seed):
    """The sparse-row Gram ``AᵀWA`` equals the dense numpy product (any sparsity, zero rows/columns)."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(m, k))
    A[rng.random((m, k)) < sparsity] = 0.0
    w = rng.uniform(0.0, 3.0, m)
    ref = A.T @ (A * w[:, None])
    got = kernels.weighted_gram(np.ascontiguousarray(A), w)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12 * max(1.0, np.abs(ref).max()))
    np.testing.assert_array_equal(got, got.T)
