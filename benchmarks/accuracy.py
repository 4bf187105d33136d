"""Accuracy of the quantification on real PIXL data: the figures of docs/accuracy.md.

Usage (from the repository root, with ``../shared/data/real`` present)::

    python benchmarks/accuracy.py [--real ../shared/data/real] [--write docs/accuracy.md] [--skip-speed]

``--write`` replaces the block between the ``<!-- accuracy.py begin -->`` and
``<!-- accuracy.py end -->`` markers of the given Markdown file with the tables printed.

Measures, with the default fit settings (tied Kβ, default element list, the path gas fitted):

1. uncalibrated totals of the breadboard glasses BHVO-2G and BCR-2G (breadboard configuration)
   and of the flight scan's bulk sums A and B (sol 125, FM configuration Rev2, optic 8);
2. the flight bulk sums with the flight ECF table (PIQUANT calibration file): totals and the
   A vs B agreement of the normalised oxides above 5 wt%;
3. the cross-calibration of the glasses (calibrate on one, quantify the other, both ways) per oxide,
   against the GeoReM glass values shipped in pixlspec/data/standards.json;
4. the flight scan point by point (``example_data/sol0125_naltsos.h5``, each detector's map
   quantified with the flight ECF table, normalised): A vs B per oxide;
5. the breadboard glasses' measured areas against the FP of their certified compositions, group by group
   in the order of the absorption edge that excites them (where the modelled excitation departs from
   the instrument's);
6. the speed and peak memory of ``quantify_map`` on two 4,000-point maps: one made from the
   compositions of the flight scan (section 4), and the synthetic one of the earlier figures.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

import pixlspec as px
from pixlspec.quant.calibration import calibrate, load_calibration

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REAL = REPO.parent / "shared" / "data" / "real"
BB_CONFIG = "breadboard_glasses/Breadboard_Configuration_2019_01_14_2020.msa"
FM_CONFIG = "pixl_fm_config/Config_PIXL_FM_SurfaceOps_Rev2_Sept2021.msa"
FM_ECF = "pixl_fm_config/Calibration_PIXL_FM_SurfaceOps_5minECFs_Rev1_Jul2021.csv"
RFS = "pixl_flight_sol0125/RFS/PS__0125_0678031418_000RFS_N004171204830055100880__J01.CSV"
GLASSES = ("BHVO-2G", "BCR-2G")
#: Groups of the edge-energy table (section 5): majors excited below 10 keV, then the trace K lines excited
#: above 15 keV (Ni, Cu, Zn are left out: the breadboard adds Cu and Zn of its own, and with Cu and Ga not in
#: the default list their lines share counts with Ni and Zn).
EDGE_TABLE_GROUPS = ("Ca", "Ti", "Fe", "Rb", "Sr", "Y", "Zr")
#: The oxides of the cross-calibration target (issue 15): median |rel err| <= 5 %, none > 10 %.
CROSS_OXIDES = ("SiO2", "Al2O3", "FeO", "MgO", "CaO", "Na2O", "TiO2", "K2O")
#: Timed runs of quantify_map in section 6; the best is reported.
SPEED_REPEATS = 3
#: Points of the maps timed in section 6.
SPEED_POINTS = 4000


def glass_fits(real: Path):
    bb = px.Instrument.from_piquant_config(real / BB_CONFIG)
    fits = {}
    for g in GLASSES:
        spec = px.read_msa(next((real / "breadboard_glasses").glob(f"Calibration_box_{g}_*.msa")), instrument=bb)
        fits[g] = px.fit_spectrum(spec, instrument=bb)
    return bb, fits


def flight_fits(real: Path):
    """The bulk sums of detectors A and B, each fitted with the two detectors' common Kβ share of Mg, Al and
    Si (the sample's; each sum alone also absorbs its detector's response near the Si K edge), as the map
    points are (``fit_map``)."""
    from pixlspec.fit.plan import joint_kbeta_fraction

    fm = px.Instrument.from_piquant_config(real / FM_CONFIG)
    scan = px.read_scan(real / RFS, instrument=fm)
    try:
        sums = {d: scan.sum_spectrum(d) for d in ("A", "B")}
        alone = [px.fit_spectrum(s, instrument=fm) for s in sums.values()]
        joint = joint_kbeta_fraction(alone)
        return fm, {d: px.fit_spectrum(s, instrument=fm, kbeta_fraction=joint) for d, s in sums.items()}
    finally:
        scan.close()


def edge_table(bb, gf, uncal, fm, say) -> None:
    """Section 5: measured area / FP area of the certified composition, and uncalibrated / certified wt%
    (``uncal``: each glass's uncalibrated composition, section 1), for the groups of
    :data:`EDGE_TABLE_GROUPS` in the order of their K edge."""
    from pixlspec.physics.attenuation import parse_composition
    from pixlspec.physics.edges import edge
    from pixlspec.quant.fp import FPModel

    say("## 5. Breadboard glasses: measured / FP of the certified composition, by absorption edge")
    say("")
    say("Area of each K group over the FP's prediction for the certified (GeoReM) composition, with the air "
        "that `quantify` found; in brackets the uncalibrated wt% over the certified wt%.")
    say("")
    say("| group | K edge (keV) | " + " | ".join(gf) + " |")
    say("|---|---|" + "---|" * len(gf))
    cells = {}
    for g, f in gf.items():
        q = uncal[g]
        ref = px.reference_material(g)
        cert = parse_composition(ref.composition_wt)
        groups = [x for x in EDGE_TABLE_GROUPS if x in q.areas and cert.get(x, 0.0) > 0]
        model = FPModel(bb, groups, elements=list(cert), detector=f.spectrum.detector)
        pred = model.rates(model.mass_fractions(ref.composition_wt), air_fraction=q.air_fraction)
        pred = pred * f.spectrum.exposure_s
        for x, p in zip(groups, pred):
            cells[x, g] = f"{q.areas[x] / p:.2f} ({q.element_wt[x] / (100 * cert[x]):.2f})"
    for x in EDGE_TABLE_GROUPS:
        if any((x, g) in cells for g in gf):
            say(f"| {x} | {edge(x, 'K').energy_eV / 1000:.1f} | " + " | ".join(cells.get((x, g), "-") for g in gf)
                + " |")
    e_keV = (7.0, 16.0, 20.2)
    say("")
    say("Optic response (the configurations' `##OPTICFILE`) at " + ", ".join(f"{e:g}" for e in e_keV) + " keV:")
    for name, inst in (("breadboard", bb), ("flight (FM)", fm)):
        r = np.asarray(inst.optic.transmission_at(1000.0 * np.asarray(e_keV)), dtype=float)
        say(f"- {name}: " + ", ".join(f"{v:.3g}" for v in r) + f" (20.2/7 keV: {r[-1] / r[0]:.3f})")


def flight_composition_map(comp_map, fm, live_time_s: float):
    """A :data:`SPEED_POINTS`-point map whose points have the compositions of ``comp_map`` (a quantified map,
    normalised), each scaled to a total of 90-99 wt% and repeated, simulated with ``fm`` and fitted."""
    from pixlspec.simulate import simulate_scan

    rng = np.random.default_rng(5)
    good = np.flatnonzero(comp_map.valid)
    scale = rng.uniform(0.90, 0.99, SPEED_POINTS)
    comps = [{ox: float(v[i]) * scale[k] for ox, v in comp_map.point_oxide_wt.items() if v[i] > 0}
             for k, i in enumerate(np.resize(good, SPEED_POINTS))]
    scan = simulate_scan(compositions=comps, instrument=fm, live_time_s=live_time_s,
                         shape=(SPEED_POINTS // 50, 50), detectors=["A"], seed=3)
    return px.fit_map(scan, instrument=fm)


def synthetic_map():
    """The synthetic :data:`SPEED_POINTS`-point map of the earlier figures (``basalt_areas`` scaled at random)."""
    from pixlspec.simulate import basalt_areas, simulate_scan

    rng = np.random.default_rng(1)
    areas = {k: v * rng.uniform(0.6, 1.4, SPEED_POINTS) for k, v in basalt_areas(1.5e5).items()}
    return px.fit_map(simulate_scan(areas, shape=(SPEED_POINTS // 50, 50), detectors=["A"], seed=2))


def time_quantify_map(maps, instrument):
    """(best seconds of :data:`SPEED_REPEATS` runs, the result, peak MB of numpy arrays)."""
    px.quantify_map(maps, instrument=instrument)  # compile
    dt = np.inf
    for _ in range(SPEED_REPEATS):  # the best of a few runs: the machine's other load only adds time
        t0 = time.perf_counter()
        cm = px.quantify_map(maps, instrument=instrument)
        dt = min(dt, time.perf_counter() - t0)
    # peak memory in a run of its own: numpy's allocations are traced (the kernels' scratch, a few
    # arrays per block of points, is not), and tracing slows the Python side
    tracemalloc.start()
    px.quantify_map(maps, instrument=instrument)
    peak_mb = tracemalloc.get_traced_memory()[1] / 2 ** 20
    tracemalloc.stop()
    return dt, cm, peak_mb


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", type=Path, default=DEFAULT_REAL)
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--write", type=Path, default=None, help="Markdown file whose marked block is replaced")
    args = ap.parse_args(argv)
    real = args.real
    if not (real / BB_CONFIG).exists():
        print(f"real data not found under {real}", file=sys.stderr)
        return 2
    out = []

    def say(line=""):
        print(line, flush=True)
        out.append(line)

    bb, gf = glass_fits(real)
    fm, ff = flight_fits(real)
    say("## 1. Uncalibrated totals (absolute FP, no calibration)")
    say("")
    say("| spectrum | configuration | χ²ᵣ | total (wt%) | air in path (%) |")
    say("|---|---|---|---|---|")
    uncal = {g: px.quantify(f, bb) for g, f in gf.items()}
    for g, f in gf.items():
        q = uncal[g]
        say(f"| {g} (breadboard) | {BB_CONFIG.split('/')[-1]} | {f.chi2_reduced:.1f} | {q.total:.1f} | "
            f"{100 * q.air_fraction:.1f} |")
    for d, f in ff.items():
        q = px.quantify(f, fm)
        say(f"| sol 125 bulk sum {d} | {FM_CONFIG.split('/')[-1]} | {f.chi2_reduced:.1f} | {q.total:.1f} | - |")
    say("")
    say("## 2. Flight bulk sums with the flight ECF table")
    say("")
    say("Each sum fitted with the two detectors' common Kβ share of Mg, Al, Si (`fit_spectrum(..., "
        "kbeta_fraction=joint_kbeta_fraction(fits))`).")
    say("")
    cal = load_calibration(real / FM_ECF, fm)
    norm = {}
    for d, f in ff.items():
        q = px.quantify(f, fm, cal)
        norm[d] = px.quantify(f, fm, cal, normalise=True)
        say(f"- detector {d}: total {q.total:.1f} wt% with `{FM_ECF.split('/')[-1]}`")
    say("")
    say("| oxide | A (wt%, normalised) | B | (A−B)/mean |")
    say("|---|---|---|---|")
    worst = 0.0
    for ox, a in sorted(norm["A"].oxide_wt.items(), key=lambda kv: -kv[1]):
        b = norm["B"].oxide_wt.get(ox, float("nan"))
        if a < 0.3:
            continue
        rel = (a - b) / (0.5 * (a + b))
        if a > 5.0:
            worst = max(worst, abs(rel))
        say(f"| {ox} | {a:.2f} | {b:.2f} | {100 * rel:+.1f} % |")
    say(f"\nlargest |A−B| among oxides above 5 wt%: {100 * worst:.1f} %")
    say("")
    say("## 3. Cross-calibration of the glasses (GeoReM glass values)")
    say("")
    say("| calibrated on → quantified | " + " | ".join(CROSS_OXIDES) + " | median abs |")
    say("|---|" + "---|" * (len(CROSS_OXIDES) + 1))
    for std, unk in (("BHVO-2G", "BCR-2G"), ("BCR-2G", "BHVO-2G")):
        c = calibrate([gf[std]], [std], bb, names=[std])
        q = px.quantify(gf[unk], calibration=c)
        err = q.relative_error(px.reference_material(unk).composition_wt)
        vals = [err[o] for o in CROSS_OXIDES]
        say(f"| {std} → {unk} | " + " | ".join(f"{100 * v:+.1f} %" for v in vals)
            + f" | {100 * statistics.median(abs(v) for v in vals):.1f} % |")
    say("")
    say("## 4. The flight scan point by point, detectors A and B")
    say("")
    scan = px.open_scan(REPO / "example_data" / "sol0125_naltsos.h5")
    maps = px.fit_map(scan, instrument=fm)
    per = {d: px.quantify_map(maps.per_detector[d], instrument=fm, calibration=cal, normalise=True)
           for d in ("A", "B")}
    raw = px.quantify_map(maps.per_detector["A"], instrument=fm, calibration=cal)
    ok = per["A"].valid & per["B"].valid
    tot = raw.point_total[ok]
    say(f"{int(ok.sum())} points, `fit_map` with the FM configuration, each detector quantified with the flight "
        f"ECF table; totals (A, before normalising) median {np.nanmedian(tot):.1f} wt%, "
        f"5-95 % {np.nanpercentile(tot, 5):.1f}-{np.nanpercentile(tot, 95):.1f} wt%.")
    say("")
    say("| oxide | A median | B median | A 5-95 % | mean (A−B)/mean |")
    say("|---|---|---|---|---|")
    for ox in ("SiO2", "FeO", "Al2O3", "MgO", "SO3", "CaO", "Na2O", "Cl", "P2O5", "TiO2", "K2O", "MnO"):
        a, b = per["A"].point_oxide_wt[ox][ok], per["B"].point_oxide_wt[ox][ok]
        rel = (a.mean() - b.mean()) / (0.5 * (a.mean() + b.mean()))
        say(f"| {ox} | {np.median(a):.2f} | {np.median(b):.2f} | {np.percentile(a, 5):.2f}-"
            f"{np.percentile(a, 95):.2f} | {100 * rel:+.1f} % |")
    say("")
    edge_table(bb, gf, uncal, fm, say)
    if not args.skip_speed:
        say("")
        say("## 6. quantify_map speed")
        say("")
        say(f"{SPEED_POINTS:,} points, default settings (CO2 balance), best of {SPEED_REPEATS} runs; peak memory "
            "of numpy's arrays (tracemalloc):")
        say("")
        flight = flight_composition_map(per["A"], fm, np.median(maps.per_detector["A"].live_time_s))
        for label, m, inst in (("sol-125 compositions", flight, fm), ("synthetic basalt areas", synthetic_map(), None)):
            dt, cm, peak_mb = time_quantify_map(m, inst)
            say(f"- {label}: {dt:.2f} s = {SPEED_POINTS / dt:,.0f} points/s ({int(cm.valid.sum())} valid), "
                f"peak memory {peak_mb:.0f} MB")
        say("")
        say("The first map: the 121 compositions of detector A (section 4), each scaled to a total of 90-99 wt% "
            "(unanalysed volatiles), repeated to fill the map, simulated with the FM configuration at the scan's "
            "live time (Poisson noise) and fitted with `fit_map`. The second: `basalt_areas(1.5e5)` with every "
            "area scaled by U(0.6, 1.4) (the map the earlier figures were measured on; quantified, its Sr, Y and "
            "Zr come out at 0.4-3 wt%).")
    if args.write is not None:
        text = args.write.read_text(encoding="utf-8")
        begin, end = "<!-- accuracy.py begin -->", "<!-- accuracy.py end -->"
        if begin not in text or end not in text:
            print(f"{args.write}: no {begin} ... {end} block", file=sys.stderr)
            return 2
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        body = "\n".join(line.replace("## ", "### ", 1) if line.startswith("## ") else line for line in out)
        stamp = f"(`python benchmarks/accuracy.py --write {args.write}`, pixlspec {px.__version__})"
        args.write.write_text(f"{head}{begin}\n{stamp}\n\n{body}\n{end}{tail}", encoding="utf-8")
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
