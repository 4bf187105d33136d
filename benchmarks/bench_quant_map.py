"""Speed of ``quantify_map`` on the two 4,000-point maps of docs/accuracy.md, section 6, optionally against
another version of pixlspec run alternately in the same session.

Usage (from the repository root; the flight-like map needs ``../shared/data/real``)::

    python benchmarks/bench_quant_map.py [--repeats 5] [--chunk-points N] [--threads N]
    python benchmarks/bench_quant_map.py --against /path/to/other/checkout --rounds 3

Prints, per map, the best of ``--repeats`` runs in points/s, the CPU time per point (all threads) and
the peak memory of numpy's arrays (tracemalloc, in a run of its own). ``--against`` runs the same
measurement with the ``pixlspec`` package of another checkout (a clone at an older commit) in a
subprocess, alternating with this checkout ``--rounds`` times: on a shared or virtual machine the
speed drifts by ±10 % within minutes, so only alternate runs compare versions. The maps are built by
each version's own simulator and ``fit_map`` (same seeds).

PyMca has no map quantification to compare with (its ``ClassMcaTheory`` quantifies one fitted
spectrum at a time, in Python); PIQUANT takes ~9 s per point (issue 15).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
#: Points of each map (as section 6 of docs/accuracy.md).
POINTS = 4000


def _maps(real: Path):
    """The two maps, as ``(label, element maps, instrument)`` (the flight-like one only with the real data)."""
    import numpy as np

    import accuracy
    import pixlspec as px

    out = []
    if (real / accuracy.FM_CONFIG).exists():
        fm = px.Instrument.from_piquant_config(real / accuracy.FM_CONFIG)
        cal = px.read_piquant_calibration(real / accuracy.FM_ECF, instrument=fm)
        with px.open_scan(REPO / "example_data" / "sol0125_naltsos.h5") as scan:
            maps = px.fit_map(scan, instrument=fm)
        per_a = px.quantify_map(maps.per_detector["A"], instrument=fm, calibration=cal, normalise=True)
        flight = accuracy.flight_composition_map(per_a, fm, float(np.median(maps.per_detector["A"].live_time_s)))
        out.append(("sol-125 compositions", flight, fm))
    out.append(("synthetic basalt areas", accuracy.synthetic_map(), None))
    return out


def measure(real: Path, repeats: int, chunk_points: int | None, threads: int | None) -> list[dict]:
    """Best wall time of ``repeats`` runs per map, CPU per point, peak MB."""
    import pixlspec as px

    kw = {} if chunk_points is None else {"chunk_points": chunk_points}
    if threads is not None:
        kw["threads"] = threads
    rows = []
    for label, m, inst in _maps(real):
        px.quantify_map(m, instrument=inst, **kw)  # compile, warm the caches
        best, cpu = float("inf"), float("inf")
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            cm = px.quantify_map(m, instrument=inst, **kw)
            best = min(best, time.perf_counter() - t0)
            cpu = min(cpu, time.process_time() - c0)
        tracemalloc.start()
        px.quantify_map(m, instrument=inst, **kw)
        peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
        tracemalloc.stop()
        n = int(cm.valid.size)
        rows.append({"map": label, "points": n, "valid": int(cm.valid.sum()), "points_per_s": n / best,
                     "cpu_us_per_point": 1e6 * cpu / n, "peak_mb": peak})
    return rows


def _report(tag: str, rows: list[dict]) -> None:
    for r in rows:
        print(f"{tag:>12}  {r['map']:<24} {r['points_per_s']:>8,.0f} points/s  CPU {r['cpu_us_per_point']:5.0f} us/point  "
              f"peak {r['peak_mb']:4.0f} MB  ({r['valid']}/{r['points']} valid)", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", type=Path, default=REPO.parent / "shared" / "data" / "real")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per map (the best is reported)")
    ap.add_argument("--chunk-points", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--against", type=Path, default=None, help="another checkout whose pixlspec to time alternately")
    ap.add_argument("--rounds", type=int, default=3, help="alternations with --against")
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # one measurement as JSON (subprocess)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(HERE))
    if os.environ.get("PIXLSPEC_BENCH_OTHER") is None:
        sys.path.insert(0, str(REPO))
    if args.json:
        print(json.dumps(measure(args.real, args.repeats, args.chunk_points, args.threads)))
        return 0
    versions = [("this", None)] + ([("against", args.against.resolve())] if args.against else [])
    for _ in range(args.rounds if args.against else 1):
        for tag, path in versions:
            env = dict(os.environ)
            if path is not None:
                env["PIXLSPEC_BENCH_OTHER"] = "1"
                env["PYTHONPATH"] = os.pathsep.join([str(path), env.get("PYTHONPATH", "")])
            else:
                env.pop("PIXLSPEC_BENCH_OTHER", None)
            cmd = [sys.executable, __file__, "--json", "--real", str(args.real), "--repeats", str(args.repeats)]
            if args.chunk_points is not None:
                cmd += ["--chunk-points", str(args.chunk_points)]
            if args.threads is not None:
                cmd += ["--threads", str(args.threads)]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                return done.returncode
            _report(tag if path is None else str(path.name), json.loads(done.stdout.strip().splitlines()[-1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
