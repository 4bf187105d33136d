"""Measure write/read speed and file size of scan files per compression.

Not a test: run by hand, ``python benchmarks/bench_io.py [--points N]``.

A synthetic scan of ``N`` points x 4096 channels (default 4096 x 4096, one
detector) with PIXL-like counts (continuum + Si, Ca, Fe, Rh lines; ~150,000
counts per 14 s point, most channels 0-100 counts, stored as uint16) is
written with each compression through :func:`pixlspec.io.hdf5.write_scan`
and read back

* ``raw``: chunk-aligned slabs of the ``spectra`` dataset into a uint16
  buffer (the decompression rate the map fit can stream at), and
* ``scan``: :meth:`Scan.iter_chunks` (what the library hands to the fit:
  float64 arrays, including the dtype conversion),

reporting spectra/s (best of ``--repeat`` passes, file in the OS page cache,
one thread) and the file size. Blosc is forced to one thread
(``BLOSC_NTHREADS=1``) so the figures are per core.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("BLOSC_NTHREADS", "1")
# run from a source checkout without installing
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

import h5py  # noqa: E402
import numpy as np  # noqa: E402

from pixlspec import Scan  # noqa: E402
from pixlspec.io.hdf5 import COMPRESSIONS, open_scan, write_scan  # noqa: E402

N_CHANNELS = 4096
GAIN_EV_PER_CHANNEL = 7.9
OFFSET_EV = -12.0
TARGET_COUNTS_PER_POINT = 150_000
LIVE_TIME_S = 14.2
FWHM_AT_6KEV_EV = 160.0
# (energy eV, relative area) of the strongest lines of a basalt-like rock + Rh tube scatter
LINES_EV = ((1740.0, 1.0), (3690.0, 0.6), (4012.0, 0.08), (6404.0, 2.0), (7058.0, 0.3),
            (1487.0, 0.15), (1254.0, 0.05), (2308.0, 0.1), (20216.0, 0.5), (19500.0, 0.4),
            (2697.0, 0.3))


def pixl_like_mean_spectrum(n_channels: int = N_CHANNELS) -> np.ndarray:
    """Expected counts per channel of one PIXL-like 14 s point."""
    e_eV = OFFSET_EV + GAIN_EV_PER_CHANNEL * np.arange(n_channels)
    e_keV = np.clip(e_eV / 1000.0, 0.05, None)
    continuum = np.where(e_keV > 0.8, (28.0 - np.minimum(e_keV, 28.0)) / e_keV * np.exp(-1.5 / e_keV), 0.0)
    mean = continuum / continuum.sum() * 0.35
    for energy_eV, area in LINES_EV:
        sigma_eV = FWHM_AT_6KEV_EV / 2.3548 * np.sqrt(energy_eV / 6400.0)
        mean += area * np.exp(-0.5 * ((e_eV - energy_eV) / sigma_eV) ** 2)
    return mean / mean.sum() * TARGET_COUNTS_PER_POINT


def synthetic_scan(n_points: int, seed: int = 0) -> Scan:
    """A one-detector scan of Poisson spectra (uint16) with point-to-point variation."""
    rng = np.random.default_rng(seed)
    mean = pixl_like_mean_spectrum()
    scale = rng.uniform(0.8, 1.2, size=(n_points, 1))
    counts = rng.poisson(mean[None, :] * scale).astype(np.uint16)
    return Scan({"A": counts}, {"A": np.full(n_points, LIVE_TIME_S)})


def read_raw(path: str, chunk_points: int) -> float:
    """Seconds to read every spectrum of detector A in chunk-aligned slabs."""
    with h5py.File(path, "r") as f:
        ds = f["entry/instrument/detector_A/spectra"]
        step = max(chunk_points, (1024 // chunk_points) * chunk_points)
        buf = np.empty((step, ds.shape[1]), ds.dtype)
        t0 = time.perf_counter()
        for start in range(0, ds.shape[0], step):
            stop = min(start + step, ds.shape[0])
            ds.read_direct(buf, np.s_[start:stop], np.s_[0:stop - start])
        return time.perf_counter() - t0


def read_scan_chunks(path: str) -> float:
    """Seconds to stream every spectrum through :meth:`Scan.iter_chunks` (float64)."""
    with open_scan(path) as scan:
        t0 = time.perf_counter()
        for _ in scan.iter_chunks("A"):
            pass
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--chunk-points", type=int, nargs="+", default=[128])
    ap.add_argument("--compression", nargs="+", default=["none", "lzf", "gzip", "blosc-lz4"],
                    choices=sorted(COMPRESSIONS))
    args = ap.parse_args()
    scan = synthetic_scan(args.points)
    raw_mb = scan.n_points * scan.n_channels * 2 / 1e6
    print(f"synthetic scan: {scan.n_points} points x {scan.n_channels} channels, uint16 "
          f"({raw_mb:.1f} MB raw), mean {scan.raw_counts('A').sum(axis=1).mean():.0f} counts/point")
    print(f"{'compression':<16}{'chunk':>6}{'size MB':>9}{'ratio':>7}{'write sp/s':>12}"
          f"{'read raw sp/s':>15}{'read Scan sp/s':>16}")
    with tempfile.TemporaryDirectory() as tmp:
        for comp in args.compression:
            for cp in args.chunk_points:
                path = os.path.join(tmp, f"{comp}_{cp}.h5")
                t0 = time.perf_counter()
                write_scan(scan, path, compression=comp, chunk_points=cp)
                t_write = time.perf_counter() - t0
                size_mb = os.path.getsize(path) / 1e6
                t_raw = min(read_raw(path, cp) for _ in range(args.repeat))
                t_scan = min(read_scan_chunks(path) for _ in range(args.repeat))
                n = scan.n_points
                print(f"{comp:<16}{cp:>6}{size_mb:>9.1f}{raw_mb / size_mb:>7.2f}{n / t_write:>12,.0f}"
                      f"{n / t_raw:>15,.0f}{n / t_scan:>16,.0f}")


if __name__ == "__main__":
    main()
