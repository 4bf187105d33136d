"""Diffraction-peak detection vs the map fit on the same scan: points/s and peak memory.

A simulated basalt scan of N points (default 20,000; both detectors, 13 s live time,
~1.9e5 counts per spectrum) with 1 % of the points carrying a diffraction peak; the
spectra of 2,000 simulated points are tiled to N (simulating 20,000 points directly
takes minutes). Peak memory: tracemalloc (numpy allocations included).

    python benchmarks/diffraction_speed.py [N]
"""
import sys
import time
import tracemalloc

import numpy as np

import pixlspec as px
from pixlspec.simulate import basalt_areas, simulate_scan

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
BASE = 2000

rng = np.random.default_rng(0)
maps = {k: v * rng.uniform(0.8, 1.2, BASE) for k, v in basalt_areas(1.5e5).items()}
pts = rng.choice(BASE, BASE // 100, replace=False)
peaks = [{"point": int(p), "detector": str(rng.choice(["A", "B"])), "energy_keV": float(rng.uniform(2, 20)),
          "area": float(rng.uniform(300, 3000))} for p in pts]
small = simulate_scan(maps, seed=1, live_time_s=13.0, diffraction=peaks)
reps = -(-N // BASE)
counts = {d: np.tile(small.counts(d).astype(np.uint16), (reps, 1))[:N] for d in small.detectors}
live = {d: np.tile(small.live_time_s[d], reps)[:N] for d in small.detectors}
ny = int(np.ceil(np.sqrt(N)))
iy, ix = np.divmod(np.arange(N), ny)
scan = px.Scan(counts, live, positions_mm=np.column_stack([ix * 0.1, iy * 0.1, np.zeros(N)]),
               calibration=small.calibration, instrument=small.instrument)

px.find_diffraction_peaks(small)          # warm-up (line tables, numba compiles of the map fit)
px.fit_map(small)

for name, run in (("find_diffraction_peaks", lambda: px.find_diffraction_peaks(scan)),
                  ("fit_map (A+B)", lambda: px.fit_map(scan))):
    tracemalloc.start()
    t = time.perf_counter()
    run()
    dt = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"{name:24s} {N} points: {dt:7.2f} s  {N / dt:9.0f} points/s  peak memory {peak / 2**20:7.0f} MB")
