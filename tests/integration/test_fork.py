"""Fits in processes made by fork() after the parent used the parallel kernels.

numba's OpenMP threading layer does not survive a fork: a forked child that launches a parallel
kernel is terminated. pixlspec's kernels run their serial twins in a forked child
(``pixlspec.model.kernels.threads_usable``), with the same bits.
"""
from __future__ import annotations

import multiprocessing as mp
import sys

import numpy as np
import pytest

import pixlspec as px
from pixlspec.simulate import basalt_areas, simulate_scan

pytestmark = pytest.mark.skipif(sys.platform == "win32" or "fork" not in mp.get_all_start_methods(),
                                reason="needs the fork start method")


def _scan(seed: int = 1):
    rng = np.random.default_rng(seed)
    areas = {k: v * rng.uniform(0.8, 1.2, 16) for k, v in basalt_areas(1e5).items()}
    return simulate_scan(areas, shape=(4, 4), detectors=["A"], seed=seed)


def _single_fit(_):
    from pixlspec.model.kernels import threads_usable

    fit = px.fit_spectrum(_scan().spectrum(0, "A"), elements=["Si", "Ca", "Fe"])
    return threads_usable(), fit.areas["Fe"], fit.chi2_reduced


def _map_fit(_):
    maps = px.fit_map(_scan(), elements=["Si", "Ca", "Fe"])
    return maps.point_areas["Fe"], maps.chi2_reduced_points


def test_single_and_map_fits_in_forked_children_match_the_parent():
    # the parent runs every parallel kernel first (OpenMP started), then forks
    parent_single = _single_fit(0)
    parent_map = _map_fit(0)
    assert parent_single[0]
    with mp.get_context("fork").Pool(1) as pool:
        child_single = pool.apply_async(_single_fit, (0,)).get(timeout=300)
        child_map = pool.apply_async(_map_fit, (0,)).get(timeout=300)
    assert child_single[0] is False  # the child ran the serial twins
    assert child_single[1:] == parent_single[1:]
    np.testing.assert_array_equal(child_map[0], parent_map[0])
    np.testing.assert_array_equal(child_map[1], parent_map[1])
