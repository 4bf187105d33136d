"""``pixlspec demo``: the whole path on the shipped example data, with a report.

Two targets:

* **Naltsos** (sol 125): the real Mars scan ``example_data/sol0125_naltsos.h5``
  (121 points along a 30 mm line);
* **simulated salts**: a basalt with a Ca-sulfate vein, halite grains and a
  Mg–Fe carbonate patch, with the truth at every point —
  ``example_data/simulated_salts.h5`` when it is shipped, else made here with
  :func:`pixlspec.simulate.scenes.make_scan` (``sim_shape`` points) and
  written beside the results.

For each: fit the sum spectra and every point (:func:`pixlspec.fit_map`),
quantify the sum spectrum and every point (:mod:`pixlspec.quant`), classify the
points and find salts (:func:`pixlspec.identify_salts`); then rank the two
targets as sample candidates (:func:`pixlspec.rank_sample_candidates`). The
output folder gets a results HDF5 file per target (element maps and
composition), the salt detections and the ranking as JSON, PNG figures and a
short report (``report.md``, ``report.html`` with the figures embedded).

Everything is written into a temporary folder beside the output folder and
moved into place at the end, so a failure leaves no partial output.

From Python::

    from pixlspec.demo import run_demo
    result = run_demo("pixlspec-demo", sim_shape=(16, 16))
    print(result.summary())
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from ..errors import PixlspecError
from ..io.jsontext import strict_json
from .figures import candidates_figure, save_figure, target_figures
from .report import Clock, build_report
from .targets import (DEFAULT_OUT, DEFAULT_SIM_SEED, DEFAULT_SIM_SHAPE, FLIGHT_CALIBRATION, FLIGHT_CONFIG,
                      REAL_CONTEXT, REAL_SCAN, SIM_SCAN, SIM_TRUTH, DemoResult, DemoTarget, Progress,
                      find_example_data, truth_of)

__all__ = ["run_demo", "DemoResult", "DemoTarget", "find_example_data", "REAL_SCAN", "REAL_CONTEXT", "SIM_SCAN",
           "SIM_TRUTH", "FLIGHT_CONFIG", "FLIGHT_CALIBRATION", "DEFAULT_OUT", "DEFAULT_SIM_SHAPE"]


def run_demo(out_dir: str | os.PathLike = DEFAULT_OUT, *, data_dir: str | os.PathLike | None = None,
             sim_shape: tuple[int, int] = DEFAULT_SIM_SHAPE, seed: int = DEFAULT_SIM_SEED, calibration=None,
             use_shipped_simulation: bool = True, progress: Progress | None = None) -> DemoResult:
    """Run the demo: fit, map, quantify, classify, find salts, rank; write results, figures and a report.

    Parameters
    ----------
    out_dir : str or path
        Output folder (created; files of the same names are replaced).
    data_dir : str or path, optional
        Folder with ``sol0125_naltsos.h5`` (and optionally ``simulated_salts.h5``);
        default: the example data installed with the package (see :func:`find_example_data`).
    sim_shape : (int, int)
        Size of the simulated scan made when none is shipped (or when
        ``use_shipped_simulation`` is False).
    seed : int
        Seed of that simulated scan.
    calibration : Calibration or str, optional
        Element calibration factors for the quantification (a
        :class:`pixlspec.quant.calibration.Calibration` or its JSON file).
    use_shipped_simulation : bool
        Use ``simulated_salts.h5`` from the data folder when present.
    progress : callable, optional
        ``progress(description, step, n_steps)`` before each step.

    Returns
    -------
    DemoResult
    """
    from ..io.convert import read_scan
    from ..io.hdf5 import write_scan

    t_start = time.perf_counter()
    out_dir = os.fspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise PixlspecError("exists and is not a folder", path=out_dir)
    ny, nx = (int(v) for v in sim_shape)
    if ny < 4 or nx < 4:
        raise PixlspecError(f"the simulated scan needs at least 4x4 points, got {ny}x{nx}", where="sim_shape")
    data = find_example_data(data_dir)
    if isinstance(calibration, (str, os.PathLike)):
        from ..quant.calibration import Calibration

        calibration = Calibration.load(calibration)

    sim_path = data / SIM_SCAN
    shipped_sim = use_shipped_simulation and sim_path.is_file()
    targets = [DemoTarget("Naltsos (sol 125, Mars)", "naltsos", str(data / REAL_SCAN), "real", ("Fe", "Ca", "S")),
               DemoTarget("Simulated salts", "simulated_salts", str(sim_path) if shipped_sim else "", "simulated",
                          ("S", "Cl", "Mg"), generated=not shipped_sim)]
    if (data / REAL_CONTEXT).is_dir():
        targets[0].context_dir = str(data / REAL_CONTEXT)
    for t in targets:
        t.calibration = calibration
    if calibration is None and (data / FLIGHT_CONFIG).is_file() and (data / FLIGHT_CALIBRATION).is_file():
        from ..instrument import Instrument
        from ..quant.piquant_calibration import read_piquant_calibration

        targets[0].instrument = Instrument.from_piquant_config(data / FLIGHT_CONFIG)
        targets[0].calibration = read_piquant_calibration(data / FLIGHT_CALIBRATION, targets[0].instrument)
    n_steps = 2 + 5 * len(targets) + (0 if shipped_sim else 1)
    step = [0]

    def say(desc: str) -> None:
        if progress is not None:
            progress(desc, step[0], n_steps)
        step[0] += 1

    clock = Clock()
    from ..io.atomic import staged_dir

    with staged_dir(out_dir) as tmp:
        figdir = os.path.join(tmp, "figures")
        os.makedirs(figdir)
        if not shipped_sim:
            say(f"simulating a {ny}x{nx} scan with known truth")
            with clock("simulate"):
                from ..simulate.scenes import make_scan, write_truth_csv

                scan, truth = make_scan(ny, nx, seed=seed)
                rel = SIM_SCAN
                write_scan(scan, os.path.join(tmp, rel), provenance={
                    "generator": "pixlspec.simulate.scenes.make_scan (pixlspec demo)",
                    "arguments": {"ny": ny, "nx": nx, "seed": seed}})
                write_truth_csv(os.path.join(tmp, SIM_TRUTH), scan, truth)
                targets[1].path = os.path.join(tmp, rel)
                targets[1].files["simulated scan"] = rel
                targets[1].files["simulated truth"] = SIM_TRUTH
                scan.close() if hasattr(scan, "close") else None

        from ..fit.maps import fit_map
        from ..pipeline import quantify_maps, salts_of
        from ..quant.quantify import TOTAL_RANGE_WT, quantify

        for t in targets:
            say(f"{t.name}: fitting the sum spectra and every point")
            scan = read_scan(t.path)
            try:
                if t.kind == "simulated":
                    truth_csv = data / SIM_TRUTH if shipped_sim else Path(tmp) / SIM_TRUTH
                    t.truth = truth_of(scan, truth_csv)
                with clock("fit_map"):
                    t.maps = fit_map(scan, instrument=t.instrument)
                if t.kind == "real" and len(scan.detectors) >= 2:
                    say(f"{t.name}: diffraction peaks (A vs B)")
                    with clock("diffraction"):
                        from ..fit.diffraction import find_diffraction_peaks

                        t.diffraction = find_diffraction_peaks(scan)
                        rel = f"figures/{t.key}_diffraction.png"
                        save_figure(t.diffraction.plot(scan), os.path.join(tmp, rel))
                        t.files["diffraction peaks"] = rel
            finally:
                scan.close()
            t.maps.source = t.path if not t.generated else SIM_SCAN
            say(f"{t.name}: quantifying the sum spectrum and every point")
            # the invisible balance as every front end chooses it (pixlspec.pipeline.quantify_maps): CO2
            # where absolute intensities can be trusted (a calibration, or plausible uncalibrated totals)
            cal = t.calibration
            with clock("quantify_map"):
                t.composition = quantify_maps(t.maps, instrument=t.instrument, calibration=cal)
            t.balance = t.composition.balance
            with clock("quantify_sum"):
                sum_fit = t.maps.sum_fit.get("A") or next(iter(t.maps.sum_fit.values()))
                t.bulk = quantify(sum_fit, t.instrument, calibration=cal, balance=t.balance)
                lo, hi = TOTAL_RANGE_WT
                if cal is None and not (lo <= t.bulk.total <= hi):
                    total = t.bulk.total
                    t.bulk = quantify(sum_fit, t.instrument, calibration=cal, balance=t.balance, normalise=True)
                    t.notes.append(f"The sum spectrum's analytical total is {total:.1f} wt% without a "
                                   "calibration, so its oxides are shown normalised to 100 %.")
            if cal is not None and cal is not calibration:
                t.notes.append(f"Fitted with the flight-model configuration `{Path(FLIGHT_CONFIG).name}` and "
                               f"quantified with PIXL's flight ECF table `{Path(FLIGHT_CALIBRATION).name}` "
                               "(PIQUANT's calibration of detector B, applied to both detectors; "
                               "docs/accuracy.md gives its figures on this scan).")
            say(f"{t.name}: classifying points and finding salts")
            with clock("salts"):
                # as 'pixlspec salts' classifies (pixlspec.pipeline.salts_of): the same detections
                t.salts, _, note = salts_of(t.composition, name=t.name)
                if note:
                    t.normalised_for_minerals = True
                    t.notes.append(note[0].upper() + note[1:] + ".")
            say(f"{t.name}: writing the results file")
            with clock("files"):
                res = f"{t.key}_results.h5"
                t.maps.to_hdf5(os.path.join(tmp, res), provenance={"made_by": "pixlspec demo"})
                t.composition.to_hdf5(os.path.join(tmp, res))
                t.files["results (maps + composition)"] = res
                sj = f"{t.key}_salts.json"
                from ..io.atomic import atomic_write_text

                atomic_write_text(os.path.join(tmp, sj), strict_json(t.salts.to_dict()) + "\n")
                t.files["salt detections"] = sj
            say(f"{t.name}: drawing the figures")
            with clock("figures"):
                target_figures(t, figdir)

        say("ranking the targets as sample candidates")
        from ..minerals.candidates import rank_sample_candidates

        with clock("rank"):
            ranking = rank_sample_candidates({t.name: t.salts for t in targets})
            from ..io.atomic import atomic_write_text

            atomic_write_text(os.path.join(tmp, "candidates.json"), strict_json(ranking.to_dict()) + "\n")
        with clock("figures"):
            save_figure(candidates_figure(ranking), os.path.join(figdir, "candidates.png"))

        say("writing the report")
        timings = dict(clock.t)
        timings["total"] = time.perf_counter() - t_start
        with clock("report"):
            report = build_report(targets, ranking, timings, data, shipped_sim, calibration)
            report.write(tmp)
        timings["report"] = clock.t["report"]
        timings["total"] = time.perf_counter() - t_start

        files = sorted(os.path.relpath(os.path.join(root, nm), tmp)
                       for root, _, names in os.walk(tmp) for nm in names)
    for t in targets:
        if t.generated:
            t.path = os.path.join(out_dir, SIM_SCAN)
    return DemoResult(out_dir=out_dir, targets=targets, ranking=ranking, timings=timings, files=files,
                      report_md=os.path.join(out_dir, "report.md"), report_html=os.path.join(out_dir, "report.html"))
