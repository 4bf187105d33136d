"""Map fitting speed, memory and background bias; PyMca's FastXRFLinearFit alongside.

Not a test: run by hand, ``python benchmarks/bench_map.py`` (a few minutes).

1. **Speed** — a simulated basalt scan (``--points`` 4096 points × 4096
   channels, 21 element groups + Rh scatter + pile-up, ~100,000 counts per
   point) written to an HDF5 scan file (Blosc-LZ4, pixlspec's default). With a
   warm numba cache it reports, from the file:

   * the time of only reading the file (the same chunked reads as the fit);
   * :func:`pixlspec.fit_map` end to end, split into the sum-spectrum pass
     (read + sum), the nonlinear sum-spectrum fit and the per-point fit
     (read + linear fit of every point); spectra/s for the whole and for the
     map stages (everything but the one nonlinear fit);
   * the same from an uncompressed copy of the file, and with the per-point
     SNIP background (``FitConfig(background="snip")``);
   * the same with a local pool of 2 worker processes (warm pool);
   * PyMca 5 ``FastXRFLinearFit`` on the same spectra (read from the same
     file, same channels, same elements, SNIP background like its batch
     default, and without background), when ``pymca5`` is installed.
2. **Memory** — a ``--big`` (200,000) point scan generated chunk by chunk
   straight into an HDF5 file (never held in memory), fitted in a fresh
   process whose peak RSS is reported.
3. **Bias** — mean fitted/true − 1 of P, K, Cr, Ti (small peaks beside
   Si, Ca, Fe) on a basalt map with modest counts, for the continuum
   background (default), SNIP, and PyMca.

Write the figures into docs/performance.md by hand.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

SMALL = ("P", "K", "Cr", "Ti")
N_CHANNELS = 4096


def rss_peak_mib() -> float:
    """Peak resident memory of this process (MiB): VmHWM, which starts afresh at exec
    (``ru_maxrss`` would carry the parent's peak into a child started by fork + exec)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def basalt_area_maps(n: int, total: float, seed: int, spread: float = 0.4) -> dict[str, np.ndarray]:
    from pixlspec.simulate import basalt_areas

    rng = np.random.default_rng(seed)
    return {k: v * rng.uniform(1 - spread, 1 + spread, n) for k, v in basalt_areas(total).items()}


def make_scan_file(path: str, n_points: int, total: float = 1e5, seed: int = 1, compression="blosc-lz4"):
    from pixlspec.io.hdf5 import write_scan
    from pixlspec.simulate import simulate_scan

    nx = int(np.ceil(np.sqrt(n_points)))
    scan = simulate_scan(basalt_area_maps(n_points, total, seed), shape=(int(np.ceil(n_points / nx)), nx),
                         detectors=["A"], seed=seed + 1)
    write_scan(scan, path, compression=compression)
    return scan


class _GeneratedCounts:
    """A (n_points, n_channels) uint16 'array' whose rows are simulated on demand, block by block.

    ``write_scan`` reads it in slices, so a scan of any size goes to disk
    without ever being held in memory.
    """

    def __init__(self, n_points: int, block: int = 4096, seed: int = 7):
        from pixlspec.instrument import Instrument
        from pixlspec.model.recorded import pileup_shape
        from pixlspec.model.spectrum_model import ShapeParams, SpectrumModel
        from pixlspec.simulate import BASALT_FRACTIONS, continuum_shape

        inst = Instrument.pixl()
        p = ShapeParams.from_instrument(inst, "A")
        e = p.energies(N_CHANNELS)
        groups = [k for k in BASALT_FRACTIONS if not k.startswith("Rh_")]
        model = SpectrumModel(groups, inst, "A", scatter=True, pileup=True)
        self.A = model.design(e, p)
        self.cols = [model.index(k) for k in BASALT_FRACTIONS]
        self.frac = np.array(list(BASALT_FRACTIONS.values()))
        self.frac = 1e5 * self.frac / self.frac.sum()
        mean = self.A[:, self.cols] @ self.frac
        self.cont = continuum_shape(e, inst, "A")
        self.pu = pileup_shape(mean + 0.25 * 1e5 * self.cont, p.offset_eV, p.gain_eV_per_channel,
                               min_energy_eV=inst.min_energy_eV)
        self.shape = (n_points, N_CHANNELS)
        self.dtype = np.dtype(np.uint16)
        self.block, self.seed = block, seed
        self._cache = (None, None)

    def _block(self, b: int) -> np.ndarray:
        if self._cache[0] == b:
            return self._cache[1]
        rng = np.random.default_rng((self.seed, b))
        n = min(self.block, self.shape[0] - b * self.block)
        C = self.frac[None, :] * rng.uniform(0.6, 1.4, (n, self.frac.size))
        tot = C.sum(axis=1)
        mu = C @ self.A[:, self.cols].T + np.outer(0.25 * tot, self.cont) + np.outer(3e-7 * (1.25 * tot) ** 2 / 10,
                                                                                    self.pu)
        data = np.minimum(rng.poisson(mu), 65535).astype(np.uint16)
        self._cache = (b, data)
        return data

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, idx):
        if not isinstance(idx, slice):
            raise TypeError("slices only")
        start, stop, _ = idx.indices(self.shape[0])
        out = np.empty((stop - start, N_CHANNELS), np.uint16)
        pos = start
        while pos < stop:
            b = pos // self.block
            blk = self._block(b)
            lo = pos - b * self.block
            take = min(stop - pos, blk.shape[0] - lo)
            out[pos - start:pos - start + take] = blk[lo:lo + take]
            pos += take
        return out


def make_big_file(path: str, n_points: int) -> None:
    from pixlspec import Scan
    from pixlspec.io.hdf5 import write_scan

    counts = _GeneratedCounts(n_points)
    nx = int(np.ceil(np.sqrt(n_points)))
    iy, ix = np.divmod(np.arange(n_points), nx)
    pos = np.column_stack([ix * 0.1, iy * 0.1, np.zeros(n_points)])
    scan = Scan({"A": counts}, {"A": np.full(n_points, 10.0)}, positions_mm=pos)
    write_scan(scan, path)


def read_only_rate(path: str, chunk: int) -> float:
    """Spectra/s of reading every chunk of the spectra (what the fit reads), best of 3."""
    import h5py
    import hdf5plugin  # noqa: F401

    best = np.inf
    with h5py.File(path, "r") as f:
        ds = f["entry/instrument/detector_A/spectra"]
        n = ds.shape[0]
        for _ in range(3):
            t = time.perf_counter()
            for s in range(0, n, chunk):
                ds[s:s + chunk]
            best = min(best, time.perf_counter() - t)
    return n / best


def pymca_config(fit, elements, snip: bool):
    from PyMca5.PyMcaPhysics.xrf import ClassMcaTheory

    cfg = ClassMcaTheory.McaTheory().getConfiguration()
    p = fit.params
    ch = np.asarray(fit.channels)
    cfg["fit"].update({"xmin": int(ch[0]), "xmax": int(ch[-1]), "energy": [28.0], "energyweight": [1.0],
                       "energyflag": [1], "energyscatter": [1], "scatterflag": 1, "stripflag": 1 if snip else 0,
                       "stripalgorithm": 1, "snipwidth": 40, "linearfitflag": 1, "escapeflag": 1, "sumflag": 0,
                       "continuum": 0, "hypermetflag": 1})
    cfg["detector"].update({"zero": p.offset_eV / 1000.0, "gain": p.gain_eV_per_channel / 1000.0,
                            "noise": p.noise_eV / 1000.0, "fano": p.fano})
    cfg["peaks"] = {el: "K" for el in elements}
    return cfg


def run_pymca(data: np.ndarray, fit, elements, snip: bool):
    from PyMca5.PyMcaPhysics.xrf.FastXRFLinearFit import FastXRFLinearFit

    ff = FastXRFLinearFit()
    cfg = pymca_config(fit, elements, snip)
    t = time.perf_counter()
    c = time.process_time()
    out = ff.fitMultipleSpectra(y=data, configuration=cfg, weight=0, refit=1, concentrations=False, save=False)
    dt = time.perf_counter() - t
    run_pymca.last_cpu_s = time.process_time() - c
    names = [str(n) for n in out.labels("parameters")]
    params = np.asarray(out["parameters"])
    areas = {n.split()[0]: params[i].ravel() for i, n in enumerate(names) if n.endswith(" K")}
    return dt, areas


def _timed_fit(path: str, config, chunk: int):
    import pixlspec as px

    t = time.perf_counter()
    maps = px.fit_map(path, config=config, chunk_points=chunk)
    return time.perf_counter() - t, maps.timing


def bench_speed(tmp: str, n_points: int, chunk: int, do_pymca: bool) -> dict:
    import pixlspec as px
    from pixlspec.parallel import ProcessBackend

    res: dict = {}
    path = os.path.join(tmp, "bench_scan.h5")
    t = time.perf_counter()
    scan = make_scan_file(path, n_points)
    res["make_s"] = time.perf_counter() - t
    res["file_MB"] = os.path.getsize(path) / 1e6
    # warm the numba cache (and the OS page cache of the file)
    px.fit_map(path)
    res["read_only_spectra_per_s"] = read_only_rate(path, chunk)
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        c = time.process_time()
        maps = px.fit_map(path, chunk_points=chunk)
        runs.append((time.perf_counter() - t, maps.timing, time.process_time() - c))
    wall, timing, cpu = min(runs, key=lambda r: r[0])
    res["in_process_cpu_s"] = cpu
    stage = timing["sum_pass_s"] + timing["point_fit_s"]
    res["in_process"] = {"end_to_end_s": wall, **{k: timing[k] for k in ("sum_pass_s", "sum_fit_s", "point_fit_s")},
                         "spectra_per_s_end_to_end": n_points / wall,
                         "spectra_per_s_map_stages": n_points / stage,
                         "spectra_per_s_point_fit": n_points / timing["point_fit_s"]}
    # the same scan from an uncompressed file (reading is then a copy from the page cache), and
    # with the per-point SNIP background instead of the fitted continuum
    import h5py
    import hdf5plugin  # noqa: F401
    from pixlspec.config import FitConfig
    from pixlspec.io.hdf5 import write_scan

    plain = os.path.join(tmp, "bench_scan_uncompressed.h5")
    with px.open_scan(path) as s:
        write_scan(s, plain, compression="none")
    for label, p_, cfg in (("in_process_uncompressed_file", plain, None),
                           ("in_process_snip_background", path, FitConfig(background="snip"))):
        px.fit_map(p_, config=cfg, chunk_points=chunk)
        best = min((_timed_fit(p_, cfg, chunk) for _ in range(5)), key=lambda r: r[0])
        res[label] = {"end_to_end_s": best[0], "spectra_per_s_end_to_end": n_points / best[0],
                      **{k: best[1][k] for k in ("sum_pass_s", "sum_fit_s", "point_fit_s")}}
    res["read_only_uncompressed_spectra_per_s"] = read_only_rate(plain, chunk)
    os.remove(plain)
    with ProcessBackend(2) as pool:
        px.fit_map(path, backend=pool, chunk_points=chunk)  # start and warm the workers
        runs = []
        for _ in range(3):
            t = time.perf_counter()
            m2 = px.fit_map(path, backend=pool, chunk_points=chunk)
            runs.append((time.perf_counter() - t, m2.timing))
        wall2, timing2 = min(runs, key=lambda r: r[0])
    res["process_pool_2"] = {"end_to_end_s": wall2, **{k: timing2[k] for k in ("sum_pass_s", "sum_fit_s", "point_fit_s")},
                             "spectra_per_s_map_stages": n_points / (timing2["sum_pass_s"] + timing2["point_fit_s"]),
                             "spectra_per_s_point_fit": n_points / timing2["point_fit_s"]}
    res["identical_pool_vs_in_process"] = all(np.array_equal(m2.point_areas[c], maps.point_areas[c], equal_nan=True)
                                              for c in maps.columns)
    res["n_elements"] = len(maps.elements)
    res["n_columns_fitted"] = len(maps.per_detector or {}) or None
    res["median_chi2_reduced"] = maps.median_chi2_reduced
    if do_pymca:
        try:
            t = time.perf_counter()
            with h5py.File(path, "r") as f:
                data = f["entry/instrument/detector_A/spectra"][()].astype(np.float64)
            read_s = time.perf_counter() - t
            fit = maps.sum_fit["A"]
            els = [e for e in maps.elements]
            pm = {}
            for label, snip in (("snip", True), ("no_background", False)):
                dt, _ = run_pymca(data, fit, els, snip)
                pm[label] = {"fit_s": dt, "fit_cpu_s": run_pymca.last_cpu_s, "read_s": read_s,
                             "spectra_per_s": n_points / (dt + read_s)}
            res["pymca"] = pm
            res["ratio_vs_pymca_snip_end_to_end"] = res["in_process"]["spectra_per_s_end_to_end"] / pm["snip"]["spectra_per_s"]
            res["ratio_vs_pymca_snip_map_stages"] = res["in_process"]["spectra_per_s_map_stages"] / pm["snip"]["spectra_per_s"]
        except ImportError:
            res["pymca"] = "not installed"
    del scan
    return res


def bench_bias(tmp: str, do_pymca: bool) -> dict:
    import pixlspec as px
    from pixlspec.config import FitConfig
    from pixlspec.simulate import simulate_scan

    n = 32 * 32
    scan = simulate_scan(basalt_area_maps(n, 1e5, seed=5), shape=(32, 32), detectors=["A"], seed=6)
    out = {}
    for bg in ("continuum", "snip"):
        m = px.fit_map(scan, config=FitConfig(background=bg))
        out[bg] = {el: float(np.mean(m.point_areas[el] / scan.point_metadata[f"truth_{el}"]) - 1) for el in SMALL}
        out[bg]["Fe"] = float(np.mean(m.point_areas["Fe"] / scan.point_metadata["truth_Fe"]) - 1)
        if bg == "continuum":
            cont = m
    if do_pymca:
        try:
            data = np.asarray(scan.counts("A"))
            _, areas = run_pymca(data, cont.sum_fit["A"], cont.elements, snip=True)
            out["pymca_snip"] = {el: float(np.mean(areas[el] / scan.point_metadata[f"truth_{el}"]) - 1)
                                 for el in (*SMALL, "Fe") if el in areas}
        except ImportError:
            pass
    return out


def big_child(path: str, chunk: int) -> None:
    """Run in a fresh process: fit the big file, print timing and peak RSS as JSON."""
    import pixlspec as px

    import pixlspec.fit.maps  # noqa: F401  (imports numba, h5py, ... before the baseline)

    base = rss_peak_mib()
    t = time.perf_counter()
    c = time.process_time()
    maps = px.fit_map(path, chunk_points=chunk)
    wall = time.perf_counter() - t
    print(json.dumps({"points": maps.n_points, "wall_s": wall, "cpu_s": time.process_time() - c, **maps.timing,
                      "peak_rss_MiB": rss_peak_mib(), "rss_after_import_MiB": base,
                      "median_chi2_reduced": maps.median_chi2_reduced}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, default=4096)
    ap.add_argument("--big", type=int, default=200_000)
    ap.add_argument("--chunk", type=int, default=None)
    ap.add_argument("--no-pymca", action="store_true")
    ap.add_argument("--no-big", action="store_true")
    ap.add_argument("--tmp", default=None, help="folder for the scan files (default: a temporary folder)")
    ap.add_argument("--json", default=None, metavar="PATH", help="also write the figures to this JSON file")
    ap.add_argument("--child", nargs=2, metavar=("PATH", "CHUNK"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        big_child(args.child[0], int(args.child[1]))
        return
    from pixlspec.fit.maps import DEFAULT_MAP_CHUNK_POINTS

    chunk = args.chunk or DEFAULT_MAP_CHUNK_POINTS
    report = {"cpus": os.cpu_count(), "chunk_points": chunk, "load_average_at_start": os.getloadavg()}
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        print(f"speed: {args.points} points x {N_CHANNELS} channels ...", flush=True)
        report["speed"] = bench_speed(tmp, args.points, chunk, not args.no_pymca)
        print(json.dumps(report["speed"], indent=1), flush=True)
        print("bias ...", flush=True)
        report["bias"] = bench_bias(tmp, not args.no_pymca)
        print(json.dumps(report["bias"], indent=1), flush=True)
        if not args.no_big:
            big = os.path.join(tmp, "big_scan.h5")
            print(f"memory: generating {args.big} points into {big} ...", flush=True)
            t = time.perf_counter()
            make_big_file(big, args.big)
            gen = time.perf_counter() - t
            rate = read_only_rate(big, chunk)
            out = subprocess.run([sys.executable, __file__, "--child", big, str(chunk)], capture_output=True,
                                 text=True, check=True)
            report["big"] = {"generate_s": gen, "file_MB": os.path.getsize(big) / 1e6,
                             "read_only_spectra_per_s": rate, **json.loads(out.stdout.strip().splitlines()[-1])}
            print(json.dumps(report["big"], indent=1), flush=True)
    report["load_average_at_end"] = os.getloadavg()
    print(json.dumps(report, indent=1))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1)


if __name__ == "__main__":
    main()
