"""Small simulated scans for the batch, CLI and process tests."""

from __future__ import annotations

import numpy as np

import pixlspec as px
from pixlspec.simulate import basalt_areas, simulate_scan


ELEMENTS = ("Si", "P", "S", "K", "Ca", "Ti", "Cr", "Mn", "Fe")


def small_scan(seed: int, shape=(8, 8), detectors=("A",)):
    n = shape[0] * shape[1]
    rng = np.random.default_rng(seed)
    areas = {k: v * rng.uniform(0.7, 1.3, n) for k, v in basalt_areas(8e4).items()}
    return simulate_scan(areas, shape=shape, detectors=list(detectors), seed=seed + 1)


N_POINTS = 12
N_CHANNELS = 4096


def make_scan() -> px.Scan:
    rng = np.random.default_rng(5)
    return px.Scan({"A": rng.poisson(3.0, (N_POINTS, N_CHANNELS)).astype(float),
                    "B": rng.poisson(4.0, (N_POINTS, N_CHANNELS)).astype(float)},
                   {"A": np.linspace(13.6, 14.2, N_POINTS), "B": np.linspace(13.5, 14.1, N_POINTS)},
                   positions_mm=np.column_stack([np.linspace(-151.0, -148.0, N_POINTS),
                                                 np.full(N_POINTS, 131.0), np.linspace(246.5, 247.0, N_POINTS)]),
                   point_ids=np.arange(93, 93 + N_POINTS),
                   calibration={"A": (-11.8, 7.9226, 0.0), "B": (-13.2, 7.9273, 0.0)},
                   metadata={"target": "Synthetic"})
