"""Scan grids from point positions: lines, rasters, irregular scans (pixlspec.geometry)."""

from __future__ import annotations

import numpy as np

from pixlspec.geometry import grid_from_positions


def test_grids_lines_rasters_irregular():
    # a diagonal line with a little jitter: one row, distance along the line
    t = np.linspace(0, 5, 41)
    pos = np.column_stack([10 + 0.6 * t, 3 - 0.8 * t + 0.002 * np.sin(7 * t), np.zeros_like(t)])
    g = grid_from_positions(pos)
    assert g.kind == "line" and g.shape == (1, 41)
    np.testing.assert_allclose(g.x[g.index], t, atol=0.01)
    # a raster with holes and uneven steps
    xs, ys = np.meshgrid([0, 0.1, 0.2, 0.35, 0.45], [0, 0.2, 0.4])
    p = np.column_stack([xs.ravel(), ys.ravel(), np.zeros(xs.size)])[[0, 1, 2, 3, 5, 6, 8, 9, 10, 12, 14]]
    g = grid_from_positions(p)
    assert g.kind == "raster" and g.shape == (3, 5) and len(set(g.index)) == len(p)
    # irregular (rotated) points: a regular grid at the typical step, no point lost
    rng = np.random.default_rng(1)
    ang = 0.3
    u, v = np.meshgrid(np.arange(10) * 0.1, np.arange(8) * 0.1)
    q = np.column_stack([u.ravel() * np.cos(ang) - v.ravel() * np.sin(ang),
                         u.ravel() * np.sin(ang) + v.ravel() * np.cos(ang), np.zeros(u.size)])
    q[:, :2] += rng.normal(0, 0.005, (q.shape[0], 2))
    g = grid_from_positions(q)
    assert g.kind == "raster" and np.all(g.index >= 0)
