"""A map fit gives the same bits whether its kernels were compiled afresh or loaded from numba's cache.

The map kernels are compiled once per machine and then loaded from the cache directory; a kernel whose
floating-point sums the compiler may reorder (fast-math reassociation) can come out of the two paths
with different machine code. The χ² of the map points once did (6e-8 between a first and a second run on
an AVX-512 machine, while the areas agreed): here two fresh processes share one empty cache directory,
the first compiles, the second loads.
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from tests.helpers.paths import ROOT

_SCRIPT = """
import sys
import numpy as np
import pixlspec as px
from pixlspec.simulate import basalt_areas, simulate_scan

rng = np.random.default_rng(3)
n = 96
areas = {k: v * rng.uniform(0.6, 1.4, n) for k, v in basalt_areas(1e5).items()}
scan = simulate_scan(areas, shape=(8, 12), detectors=["A"], seed=4)
maps = px.fit_map(scan, elements=["Si", "K", "Ca", "Ti", "Mn", "Fe"])
np.save(sys.argv[1], np.stack([maps.chi2_reduced_points, maps.point_areas["Fe"], maps.point_sigma["Ca"]]))
"""


def test_map_fit_is_the_same_compiled_afresh_and_from_the_cache(tmp_path):
    env = {**os.environ, "PIXLSPEC_CACHE_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("NUMBA_CACHE_DIR", None)
    out = []
    for run in ("compiled", "cached"):
        path = tmp_path / f"{run}.npy"
        res = subprocess.run([sys.executable, "-c", _SCRIPT, str(path)], env=env, capture_output=True, text=True,
                             timeout=600)
        assert res.returncode == 0, res.stderr[-2000:]
        out.append(np.load(path))
    assert any((tmp_path / "cache").rglob("*.nbi")), "the first run wrote no numba cache"
    np.testing.assert_array_equal(out[0], out[1])
