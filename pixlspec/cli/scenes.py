"""Commands that make data: ``simulate`` and ``demo``."""
from __future__ import annotations

import os

import click

from ..errors import PixlspecError
from .app import log, main

from .common import OVERWRITE_HELP, FiniteFloat, json_text, load_calibration, refuse_overwrite, say, split_list
from .render import progress_bar, rich_table, stdout_console

__all__ = ["simulate", "demo"]


def _composition_arg(text: str):
    """--composition: a phase of the example scene, KEY=WT pairs, or a formula."""
    from ..physics.attenuation import parse_composition
    from ..simulate.scenes import PHASES

    if text in PHASES:
        comp = PHASES[text]
    elif "=" in text:
        comp = {}
        for item in split_list(text, "--composition"):
            key, _, value = item.partition("=")
            try:
                comp[key.strip()] = float(value)
            except ValueError:
                raise PixlspecError(f"--composition: {key.strip()} must be a number, got {value!r}") from None
    else:
        comp = text
    try:
        parse_composition(comp)
    except PixlspecError as e:
        raise PixlspecError(f"--composition {text!r}: {e.message}") from None
    return comp


@main.command()
@click.argument("output", metavar="OUTPUT")
@click.option("--scene", type=click.Choice(["salts", "uniform"]), default="salts", show_default=True,
              help="Scans: the basalt with a Ca-sulfate vein, halite grains and a carbonate patch, or every "
                   "point of --composition.")
@click.option("--composition", default="basalt", show_default=True, metavar="TEXT",
              help="Spectrum or uniform scan: basalt, Ca-sulfate, halite, carbonate, a formula (CaSO4·2H2O) "
                   "or oxide wt% pairs (SiO2=49.9,FeO=11.1,...); pairs that do not sum to ~100 wt% are simulated "
                   "normalised (name the rest, e.g. CO2=20).")
@click.option("--shape", default="16x16", show_default=True, metavar="NYxNX", help="Scan size in points.")
@click.option("--live-time", type=FiniteFloat(min=0, min_open=True), default=None,
              help="Live time (s) of the spectrum or of each point [default: 10 for a spectrum, 0.7 per "
                   "scan point (flight-like counts)].")
@click.option("--detector", type=click.Choice(["A", "B"]), default="A", show_default=True,
              help="Detector of a single spectrum (scans have both).")
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed (Poisson noise, grains).")
@click.option("--overwrite", is_flag=True, help=OVERWRITE_HELP)
def simulate(output: str, scene: str, composition: str, shape: str, live_time: float | None, detector: str,
             seed: int, overwrite: bool) -> None:
    """Simulate a spectrum or a scan with known truth.

    OUTPUT ending in .msa: one spectrum (PIXL EMSA) of --composition, with
    its truth in <name>_truth.json (areas, composition, shape parameters).
    OUTPUT ending in .h5/.hdf5/.nxs: a scan of both detectors with its truth
    in <name>_truth.csv (phase, phase fractions and oxide wt% per point, for
    --scene salts; the true areas per point for --scene uniform). Spectra come
    from the fundamental-parameter model of the PIXL flight-model instrument
    with Poisson noise. Both files are written atomically.

    \b
    Examples:
      pixlspec simulate basalt.msa --live-time 30
      pixlspec simulate gypsum.msa --composition "CaSO4·2H2O" --seed 3
      pixlspec simulate salts.h5 --shape 24x24
      pixlspec simulate uniform.h5 --scene uniform --composition SiO2=50,FeO=20,MgO=30 --shape 8x8
    """
    from ..io.atomic import atomic_path
    from ..io.hdf5 import SCAN_FILE_SUFFIXES

    ext = os.path.splitext(output)[1].lower()
    if ext not in (".msa",) + tuple(SCAN_FILE_SUFFIXES):
        raise PixlspecError(f"the output must end in .msa (a spectrum) or {', '.join(SCAN_FILE_SUFFIXES)} "
                            "(a scan)", path=output)
    base = os.path.splitext(output)[0]
    refuse_overwrite([output, base + ("_truth.json" if ext == ".msa" else "_truth.csv")], overwrite)
    if ext == ".msa":
        from ..io.msa import write_msa
        from ..simulate import simulate_spectrum

        comp = _composition_arg(composition)
        spec = simulate_spectrum(composition=comp, live_time_s=live_time or 10.0, detector=detector, seed=seed)
        truth = dict(spec.metadata["truth"])
        truth.pop("expected", None)
        truth.pop("continuum", None)
        from ..composition import reference_oxides

        from ..physics.attenuation import parse_composition

        fractions = parse_composition(comp)  # what was simulated: the components alone, normalised
        total = sum(fractions.values())
        truth["composition_total_wt"] = 100.0 * total
        truth["oxide_wt"] = reference_oxides({el: 100.0 * f / total for el, f in fractions.items()})
        truth.update({"live_time_s": spec.live_time_s, "detector": spec.detector, "seed": seed,
                      "instrument": spec.instrument.name if spec.instrument else None})
        truth_path = base + "_truth.json"
        with atomic_path(output) as tmp_out, atomic_path(truth_path) as tmp_truth:
            write_msa(spec, tmp_out)
            with open(tmp_truth, "w", encoding="utf-8") as fh:
                fh.write(json_text(truth))
        say(f"wrote {output} ({spec.counts.sum():.4g} counts, {spec.live_time_s:g} s live, detector "
             f"{spec.detector}) and {truth_path}")
        return
    try:
        ny, nx = (int(v) for v in shape.lower().split("x"))
    except ValueError:
        raise PixlspecError(f"--shape expects NYxNX, e.g. 16x16, got {shape!r}") from None
    if not (1 <= ny <= 512 and 1 <= nx <= 512):
        raise PixlspecError(f"--shape must be 1..512 points per side, got {shape}")
    from ..io.hdf5 import write_scan

    live = live_time or 0.7
    truth_path = base + "_truth.csv"
    with progress_bar() as progress:
        task = progress.add_task(f"simulating {ny}x{nx} points", total=None)
        if scene == "salts":
            if ny < 4 or nx < 4:
                raise PixlspecError(f"--scene salts needs at least 4x4 points, got {shape}")
            from ..simulate.scenes import make_scan, write_truth_csv

            scan, truth = make_scan(ny, nx, seed=seed, live_time_s=live)
        else:
            from ..simulate import simulate_scan

            comp = _composition_arg(composition)
            scan = simulate_scan(compositions=[comp] * (ny * nx), live_time_s=live, shape=(ny, nx), seed=seed)
            truth = None
        progress.update(task, description="writing")
        with atomic_path(output) as tmp_out, atomic_path(truth_path) as tmp_truth:
            write_scan(scan, tmp_out, provenance={"generator": f"pixlspec simulate --scene {scene}",
                                                  "arguments": {"shape": [ny, nx], "seed": seed,
                                                                "live_time_s": live, "composition": composition}})
            if truth is not None:
                write_truth_csv(tmp_truth, scan, truth)
            else:
                from ..simulate import write_point_truth_csv

                write_point_truth_csv(tmp_truth, scan)
    say(f"wrote {output} ({ny}x{nx} points, detectors {'+'.join(scan.detectors)}, {live:g} s live per point) "
         f"and {truth_path}")


@main.command()
@click.option("--out", "out_dir", default="pixlspec-demo", show_default=True, metavar="DIR",
              help="Folder of the results, figures and report, relative to the current directory "
                   "(created; files of the same name replaced).")
@click.option("--data", "data_dir", default=None, metavar="DIR",
              help="Folder with sol0125_naltsos.h5 (and simulated_salts.h5 if shipped) "
                   "[default: the example data installed with pixlspec].")
@click.option("--size", default=None, metavar="NYxNX",
              help="Size of the simulated scan made when example_data/ has none [default: 24x24].")
@click.option("--calibration", "calibration_path", metavar="FILE",
              help="Element calibration factors (.json) for the quantification.")
def demo(out_dir: str, data_dir: str | None, size: str | None, calibration_path: str | None) -> None:
    """Run the whole path on the example data and write a report.

    Two targets: the real Mars scan example_data/sol0125_naltsos.h5 (sol 125,
    "Naltsos", 121 points) and a simulated scan of a basalt with a Ca-sulfate
    vein, halite grains and a carbonate patch, with known truth
    (example_data/simulated_salts.h5, or made here). For each: fit the sum
    spectra and every point, quantify, classify the points, find salts; then
    rank the two as sample candidates. DIR gets a results HDF5 file per
    target, the detections and the ranking as JSON, PNG figures and
    report.md / report.html (self-contained: open it in a browser). Runs
    from any directory (the example data are installed with the package).
    About a minute on 2 cores the first time (numba compiles its kernels
    into the user cache), less after.

    \b
    Examples:
      pixlspec demo
      pixlspec demo --out /tmp/demo --size 16x16
      pixlspec demo --data path/to/example_data --calibration pixl_fm_cal.json
    """
    from ..demo import DEFAULT_SIM_SHAPE, run_demo

    sim_shape = DEFAULT_SIM_SHAPE
    if size is not None:
        try:
            sim_shape = tuple(int(v) for v in size.lower().split("x"))
            if len(sim_shape) != 2:
                raise ValueError
        except ValueError:
            raise PixlspecError(f"--size expects NYxNX, e.g. 24x24, got {size!r}") from None
        if not all(4 <= v <= 256 for v in sim_shape):
            raise PixlspecError(f"--size must be 4..256 points per side, got {size}")
    calibration = load_calibration(calibration_path)
    with progress_bar() as progress:
        task = progress.add_task("pixlspec demo", total=None)

        def on_step(desc: str, i: int, n: int) -> None:
            progress.update(task, description=desc, completed=i, total=n)
            log.info("demo: %s", desc)

        result = run_demo(out_dir, data_dir=data_dir, sim_shape=sim_shape, calibration=calibration,
                          progress=on_step)
    console = stdout_console()
    console.print(f"[bold]pixlspec demo[/bold]: {len(result.targets)} targets in "
                  f"{result.timings['total']:.1f} s", highlight=False)
    rows = []
    for t in result.targets:
        found = ", ".join(f"{len(v)} {k}" for k, v in t.salts.by_phase().items()) or "none"
        cand = next(c for c in result.ranking if c.name == t.name)
        rows.append([t.name, t.maps.n_points, f"{t.maps.median_chi2_reduced:.2f}", found,
                     f"#{cand.rank} ({cand.score:.2f})"])
    console.print(rich_table(["target", "points", "χ²ᵣ", "salts found", "candidate"], rows, right="lrrll"))
    console.print(f"results, figures and report in [bold]{out_dir}/[/bold]; open {result.report_html}",
                  highlight=False)
