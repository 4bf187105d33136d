"""The per-point fit kernel of a map fit (pixlspec.fit.plan) against a numpy reference."""

from __future__ import annotations

import numpy as np
import pytest


def _reference_point_fit(plan, y):
    """Numpy/SciPy reference of one point of the map kernel: weighted bounded least squares
    (``scipy.optimize.lsq_linear``; peaks >= 0, continuum free), Pearson χ² and the variance
    ``σ²_k = Σ_j G_kj² μ_j`` with ``G = (AᵀWA)⁻¹AᵀW`` — in float64 throughout."""
    from scipy.optimize import lsq_linear

    from pixlspec.fit.plan import CHI2_MIN_VARIANCE

    A, w = plan.A, plan.w
    net = y[plan.lo:plan.hi].astype(np.float64)
    sw = np.sqrt(w)
    bounded = np.array([k != "continuum" for k in plan.column_kinds])
    col = np.sqrt(np.sum((A * sw[:, None]) ** 2, axis=0))  # the same problem, columns scaled to unit norm
    res = lsq_linear(A * sw[:, None] / col, net * sw, bounds=(np.where(bounded, 0.0, -np.inf), np.inf),
                     method="bvls", tol=1e-14, lsmr_tol=None)
    c = res.x / col
    mu = A @ c
    chi2 = float(np.sum((net - mu) ** 2 / np.maximum(mu, CHI2_MIN_VARIANCE)))
    G = np.linalg.solve(A.T @ (A * w[:, None]), (A * w[:, None]).T)
    var = (G * G) @ A @ c
    # expected χ² of Poisson counts of mean μ: E[(y − μ)²]/max(μ, f) = μ/max(μ, f) per channel
    n_eff = float(np.sum(np.minimum(np.maximum(mu, 0.0), CHI2_MIN_VARIANCE)) / CHI2_MIN_VARIANCE)
    dof = max(n_eff - np.count_nonzero(c), 1.0)
    return c, chi2, var, dof


def test_point_kernel_against_numpy_reference(scan16, maps16):
    """The numba per-point kernel (float32 products, NNLS through the shared inverse) against a
    float64 SciPy reference on every point of one detector: areas within 1e-3 σ, χ² within 1e-4
    relative, σ within 1e-5 relative."""
    from pixlspec.fit.plan import build_plan, fit_points

    det = "A"
    fit = maps16.per_detector[det].sum_fit[det]
    raw = np.asarray(scan16.raw_counts(det))
    live = np.asarray(scan16.live_time_s[det])
    plan = build_plan(fit, int(np.sum(live > 0)), scan16.n_channels)
    got = fit_points(plan, raw, live)
    rep = plan.reported
    n_checked = 0
    for p in range(raw.shape[0]):
        c, chi2, var, dof = _reference_point_fit(plan, raw[p])
        sig = np.sqrt(np.maximum(var[rep], 0.0))
        np.testing.assert_array_less(np.abs(got["areas"][p] - c[rep]), 1e-3 * sig + 1e-6)
        assert got["chi2"][p] == pytest.approx(chi2, rel=1e-4)
        assert got["dof"][p] == pytest.approx(dof, rel=1e-4)
        np.testing.assert_allclose(got["sigma"][p], sig, rtol=1e-5, atol=1e-9)
        n_checked += 1
    assert n_checked == raw.shape[0]


def test_point_kernel_switches_to_float64_products_for_huge_counts(scan16, maps16):
    """Counts above 2**24 per channel (float input only: PIXL's uint16 never gets there) are fitted
    with float64 products; the areas still match the float64 SciPy reference within 1e-3 σ."""
    from pixlspec.fit.plan import PRODUCT_FLOAT32_MAX_COUNTS, build_plan, fit_points

    det = "A"
    fit = maps16.per_detector[det].sum_fit[det]
    raw = np.asarray(scan16.raw_counts(det), dtype=np.float64)[:6] * 1e5
    assert raw.max() > PRODUCT_FLOAT32_MAX_COUNTS
    live = np.asarray(scan16.live_time_s[det])[:6]
    plan = build_plan(fit, 256, scan16.n_channels)
    got = fit_points(plan, raw, live)
    for p in range(raw.shape[0]):
        c, chi2, var, _ = _reference_point_fit(plan, raw[p])
        sig = np.sqrt(np.maximum(var[plan.reported], 0.0))
        np.testing.assert_array_less(np.abs(got["areas"][p] - c[plan.reported]), 1e-3 * sig + 1e-6)
        assert got["chi2"][p] == pytest.approx(chi2, rel=1e-6)


def test_plan_folds_the_sum_fits_own_kbeta_into_its_group(scan16):
    """A sum spectrum fitted with its Mg/Al/Si Kβ apart (``valence_kbeta``) hands the points one column per
    group, with the Kβ share of the sum; the points' areas then add up to the sum's."""
    import pixlspec as px
    from pixlspec.fit.plan import build_plan

    maps = px.fit_map(scan16, detector="A")
    fit = maps.sum_fit["A"]
    assert {"Mg", "Al", "Si"} <= set(fit.kbeta_fraction)
    plan = build_plan(fit, scan16.n_points, scan16.n_channels)
    assert not any(n.endswith("_Kb") for n in plan.column_names)
    assert not any(n.endswith("_Kb") for n in maps.point_areas)
    names = list(fit.column_names)
    for g, share in fit.kbeta_fraction.items():
        # the simulated Al and Si emit their free-atom Kβ; Mg has none, its share is fitting noise (>= 0)
        assert (0 < share < 0.2) if g in ("Al", "Si") else (0 <= share < 0.2), (g, share)
        folded = (1 - share) * fit.design[:, names.index(g)] + share * fit.design[:, names.index(g + "_Kb")]
        np.testing.assert_allclose(plan.A[:, plan.column_names.index(g)], folded, rtol=1e-12, atol=0)
        assert np.nansum(maps.point_areas[g]) == pytest.approx(fit.areas[g], rel=0.01), g


def test_two_detector_maps_share_the_kbeta_of_their_sums(scan16, maps16):
    """With two detectors the points of each take the area-weighted mean Kβ share of the two sum fits
    (the sample's chemistry), not each sum fit's own."""
    from pixlspec.fit.plan import build_plan, fit_points, joint_kbeta_fraction

    fits = [maps16.sum_fit[d] for d in ("A", "B")]
    joint = joint_kbeta_fraction(fits)
    assert set(joint) == {"Mg", "Al", "Si"}
    for g, share in joint.items():
        lo, hi = sorted(f.kbeta_fraction[g] for f in fits)
        assert lo <= share <= hi
        want = sum(f.areas[g] * f.kbeta_fraction[g] for f in fits) / sum(f.areas[g] for f in fits)
        assert share == pytest.approx(want, rel=1e-12)
    raw = np.asarray(scan16.raw_counts("A"))
    live = np.asarray(scan16.live_time_s["A"])
    plan = build_plan(fits[0], int(np.sum(live > 0)), scan16.n_channels, kbeta_fraction=joint)
    got = fit_points(plan, raw, live)
    rep = [plan.column_names[i] for i in plan.reported]
    np.testing.assert_array_equal(got["areas"][:, rep.index("Si")], maps16.per_detector["A"].point_areas["Si"])


def test_plan_keeps_its_own_kbeta_share_for_a_group_the_joint_shares_lack(maps16):
    """A group one detector fitted apart and the other did not (below its count threshold) keeps that
    detector's own share: its Kβ is not dropped from the points' column."""
    from pixlspec.fit.plan import build_plan

    fit = maps16.sum_fit["A"]
    own = build_plan(fit, 256, 4096)
    partial = build_plan(fit, 256, 4096, kbeta_fraction={"Si": fit.kbeta_fraction["Si"]})
    np.testing.assert_array_equal(partial.A, own.A)


def test_two_detector_plans_keep_each_detectors_number_of_valid_points(scan16):
    """With the detectors' common Kβ share each plan still weights by its own detector's valid points
    (here detector A has half of them)."""
    import pixlspec as px
    from pixlspec.fit.plan import build_plan, fit_points, joint_kbeta_fraction

    live = {d: np.array(scan16.live_time_s[d], dtype=float) for d in scan16.detectors}
    live["A"][:128] = 0.0
    scan = px.Scan({d: np.asarray(scan16.raw_counts(d)) for d in scan16.detectors}, live,
                   positions_mm=scan16.positions_mm, point_ids=scan16.point_ids, calibration=scan16.calibration,
                   instrument=scan16.instrument)
    maps = px.fit_map(scan)
    fits = [maps.sum_fit[d] for d in ("A", "B")]
    plan = build_plan(fits[0], 128, scan.n_channels, kbeta_fraction=joint_kbeta_fraction(fits))
    got = fit_points(plan, np.asarray(scan.raw_counts("A")), live["A"])
    rep = [plan.column_names[i] for i in plan.reported]
    ok = live["A"] > 0
    np.testing.assert_array_equal(got["areas"][ok, rep.index("Fe")], maps.per_detector["A"].point_areas["Fe"][ok])
    np.testing.assert_array_equal(got["chi2"][ok] / np.maximum(got["dof"][ok], 1),
                                  maps.per_detector["A"].chi2_reduced_points[ok])
