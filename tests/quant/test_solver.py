"""The FP inversion's own pieces (pixlspec.quant.solver); its results are tested through quantify and
quantify_map in test_quantify.py."""
from __future__ import annotations

import numpy as np
import pytest

import pixlspec as px
from pixlspec.quant.solver import Solver

GROUPS = ["Na", "Mg", "Al", "Si", "P", "S", "Cl", "K", "Ca", "Ti", "Mn", "Fe"]


@pytest.mark.parametrize("balance", ["CO2", None])
def test_full_derivatives_are_the_derivatives_of_full(balance):
    """The matrix and intensity-scale derivatives equal central differences of ``Solver.full`` on either side of
    a total of 100 % (balance filling below it, normalisation above), with oxygen from stoichiometry and Cl's
    O equivalent."""
    s = Solver(px.Instrument.pixl(), ["A"], GROUPS, np.ones(len(GROUPS)), np.zeros(len(GROUPS)), "FeO", balance,
               True)
    rng = np.random.default_rng(3)
    c = rng.uniform(0.002, 0.08, (5, len(GROUPS)))
    c[0] *= 0.5            # total below 100 %
    c[1] *= 2.5            # above
    c[2, 3] = 0.0          # an absent analyte
    C, scale, dC, dscale = s.full_derivatives(c)
    C0, scale0, _ = s.full(c)
    np.testing.assert_array_equal(C, C0)
    np.testing.assert_array_equal(scale, scale0)
    for j in range(len(GROUPS)):
        h = 1e-7
        up, down = c.copy(), c.copy()
        up[:, j] += h
        down[:, j] = np.maximum(down[:, j] - h, 0.0)
        step = up[:, j] - down[:, j]
        (Cu, su, _), (Cd, sd, _) = s.full(up), s.full(down)
        np.testing.assert_allclose(dC[:, :, j], (Cu - Cd) / step[:, None], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(dscale[:, j], (su - sd) / step, rtol=1e-5, atol=1e-6)


def test_full_derivatives_at_a_total_of_100_percent_are_those_of_the_filled_sample():
    """A point whose oxides sum to 100 % minus 1e-9 is differentiated as the balance-filled sample it is:
    derivatives equal the one-sided differences below the kink, not a difference across it."""
    s = Solver(px.Instrument.pixl(), ["A"], GROUPS, np.ones(len(GROUPS)), np.zeros(len(GROUPS)), "FeO", "CO2", True)
    c = np.random.default_rng(4).uniform(0.005, 0.05, (1, len(GROUPS)))
    _, scale0, rest = s.full(c)
    T = 1.0 - rest[0] if rest[0] > 0 else scale0[0]  # the analysed oxides' total (without the balance)
    c *= (1.0 - 1e-9) / T
    _, scale, dC, dscale = s.full_derivatives(c)
    assert scale[0] == 1.0 and np.all(dscale == 0.0)
    h = 1e-10
    down = c.copy()
    down[0, 0] -= h
    np.testing.assert_allclose(dC[0, :, 0], (s.full(c)[0][0] - s.full(down)[0][0]) / h, rtol=1e-4, atol=1e-5)


def test_normalised_side_is_the_one_full_builds():
    """The kink side taken from the total alone is the regime ``Solver.full`` builds each point in: normalised
    above a total of 100 % (and always without a balance), balance-filled below."""
    rng = np.random.default_rng(6)
    c = rng.uniform(0.002, 0.08, (40, len(GROUPS))) * rng.uniform(0.3, 2.5, (40, 1))
    c[3] = 0.0  # a point of nothing
    for balance in ("CO2", None):
        s = Solver(px.Instrument.pixl(), ["A"], GROUPS, np.ones(len(GROUPS)), np.zeros(len(GROUPS)), "FeO", balance,
                   True)
        _, scale, rest = s.full(c)
        side = s._normalised(c)
        assert side.any() and (balance is None or not side.all())
        np.testing.assert_array_equal(side, (scale != 1.0) | ((balance is None) & (c.sum(axis=1) > 0)))
        if balance:
            assert np.all(rest[side] == 0.0)


def test_a_map_jacobian_shared_by_chunks_reaches_each_chunks_own_solution():
    """``Solver.start_jacobian`` (one quasi-Newton Jacobian for every chunk of a map, both sides of the kink
    taken at once) only changes the path: each chunk solved with it reaches the compositions it reaches with a
    Jacobian of its own, to the solver's tolerance."""
    inst = px.Instrument.pixl()
    s = Solver(inst, ["A"], GROUPS, np.ones(len(GROUPS)), np.zeros(len(GROUPS)), "FeO", "CO2", True)
    rng = np.random.default_rng(8)
    base = np.array([0.017, 0.045, 0.072, 0.23, 0.0013, 0.002, 0.0005, 0.004, 0.081, 0.016, 0.0013, 0.087])
    c_true = base * rng.uniform(0.6, 1.4, (60, len(GROUPS))) * rng.uniform(0.8, 1.25, (60, 1))
    live = np.full(60, 20.0)
    A = s.predict(c_true, live)
    pilot = s.pilot(A, live)
    shared = s.start_jacobian(A, live, 0.0, pilot)
    assert shared is not None and shared.other_taken and shared.D.shape == (len(GROUPS),) * 2
    for chunk in (slice(0, 30), slice(30, 60)):
        own = s.solve(A[chunk], live[chunk], pilot=pilot)
        with_shared = s.solve(A[chunk], live[chunk], pilot=pilot, shared=shared)
        assert own.converged.all() and with_shared.converged.all()
        np.testing.assert_allclose(with_shared.c, own.c, rtol=1e-6)
        np.testing.assert_allclose(with_shared.c, c_true[chunk], rtol=1e-5)
