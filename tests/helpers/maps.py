"""Element maps and composition maps with known values, for the export, results-file and figure tests."""

from __future__ import annotations

import numpy as np

from pixlspec.composition import CompositionMap
from pixlspec.element_maps import ElementMaps
from pixlspec.geometry import grid_from_positions
from pixlspec.simulate import basalt_areas


ELEMENTS = ["Si", "Ca", "Fe"]
OXIDES = ["SiO2", "CaO", "FeO"]


def make_maps(kind: str = "line", n: int = 12, seed: int = 3) -> ElementMaps:
    """Small ElementMaps with known areas: a line of ``n`` points 0.25 mm apart, or a 3×4 raster."""
    rng = np.random.default_rng(seed)
    if kind == "line":
        pos = np.column_stack([-120.0 - 0.25 * np.arange(n), np.full(n, 131.0), np.full(n, 250.0)])
    else:
        yy, xx = np.mgrid[0:3, 0:4]
        pos = np.column_stack([0.1 * xx.ravel(), 0.2 * yy.ravel(), np.zeros(12)])
        n = 12
    cols = ELEMENTS + ["Rh_K_Compton"]
    areas = {c: rng.uniform(100, 5000, n) for c in cols}
    sigma = {c: np.sqrt(areas[c]) for c in cols}
    valid = np.ones(n, bool)
    valid[2] = False
    for c in cols:
        areas[c][2] = np.nan
        sigma[c][2] = np.nan
    return ElementMaps(elements=list(ELEMENTS), columns=cols, detector="A", point_areas=areas, point_sigma=sigma,
                       chi2_reduced_points=rng.uniform(0.8, 1.3, n), dof=np.full(n, 900), valid=valid,
                       live_time_s=rng.uniform(13.5, 14.2, n), positions_mm=pos, point_ids=np.arange(93, 93 + n),
                       grid=grid_from_positions(pos), source="scan_x.h5")


def make_comp(maps: ElementMaps, detector: str = "A", scale: float = 1.0) -> CompositionMap:
    n = maps.n_points
    rng = np.random.default_rng(7)
    wt = {o: scale * rng.uniform(0.5, 50, n) for o in OXIDES}
    wt["CaO"][5] = 0.0                                   # a zero wt% (relative error undefined)
    sig = {o: 0.02 * wt[o] + 0.01 for o in OXIDES}
    for o in OXIDES:
        wt[o][~maps.valid] = np.nan
        sig[o][~maps.valid] = np.nan
    total = np.sum([wt[o] for o in OXIDES], axis=0)
    return CompositionMap(point_oxide_wt=wt, point_sigma=sig, point_lod={o: 0.1 * sig[o] for o in OXIDES},
                          point_element_wt={}, point_total=total, valid=maps.valid.copy(), normalised=False,
                          balance=None, point_balance_wt=np.full(n, np.nan), air_fraction=0.0, calibrated=True,
                          fe_oxide="FeO", converged=maps.valid.copy(), groups=list(ELEMENTS), flags=[],
                          point_flags={}, grid=maps.grid, detector=detector, live_time_s=maps.live_time_s,
                          source=maps.source, point_ids=maps.point_ids, positions_mm=maps.positions_mm)


def basalt_maps(n_points: int, total: float, seed: int, spread: float = 0.4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: v * rng.uniform(1 - spread, 1 + spread, n_points) for k, v in basalt_areas(total).items()}
