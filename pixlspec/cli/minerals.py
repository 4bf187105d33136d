"""Commands on compositions and minerals: ``salts`` and ``rank``."""
from __future__ import annotations

import os

import click

from ..errors import PixlspecError
from .app import main

from .common import (OVERWRITE_HELP, json_text, load_calibration, load_instrument, map_balance_arg, say,
                     scan_stem, split_list)
from .render import StageProgress, csv_text, progress_bar, rich_table, stdout_console

__all__ = ["salts", "rank"]


def _detection_rows(salts) -> list[list]:
    rows = []
    for k, d in enumerate(salts, start=1):
        rows.append([k, d.phase, d.endmember or "", d.n_points, f"{d.area_mm2:.4f}",
                     f"{d.centroid_mm[0]:.3f}", f"{d.centroid_mm[1]:.3f}", f"{d.confidence:.3f}",
                     f"{d.mean_composition.get('total', float('nan')):.1f}"])
    return rows

DETECTION_HEADERS = ["#", "phase", "endmember", "points", "area_mm2", "x_mm", "y_mm", "confidence", "total_wt"]


@main.command()
@click.argument("input_path", metavar="INPUT")
@click.option("--out", "out_dir", default=None, metavar="DIR",
              help="Write phase_map.png, salts.json, salts.csv (and the results file of a scan) into DIR.")
@click.option("--calibration", "calibration_path", metavar="FILE",
              help="Element calibration factors (.json) for the quantification.")
@click.option("--balance", type=click.Choice(["none", "CO2", "H2O"]), default=None,
              help="Invisible balance of the quantification [default: CO2 (carbonates, hydrated salts), but none "
                   "for uncalibrated data whose totals are far from 100 %].")
@click.option("--normalise/--no-normalise", "normalise", default=None,
              help="Classify oxides normalised to 100 % (default: only when uncalibrated totals are off).")
@click.option("--detector", default=None, metavar="A|B|A+B", help="Detector to fit when INPUT is a scan.")
@click.option("--instrument", "instrument_path", metavar="CONFIG", help="Instrument when INPUT is a scan.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text", show_default=True,
              help="Output: tables, the JSON of the detections, or CSV rows (one per detection).")
@click.option("--overwrite", is_flag=True, help=OVERWRITE_HELP)
def salts(input_path: str, out_dir: str | None, calibration_path: str | None, balance: str | None,
          normalise: bool | None, detector: str | None, instrument_path: str | None, fmt: str,
          overwrite: bool) -> None:
    """Find salts: classify every point and group salt points into detections.

    INPUT is a scan (fitted and quantified here) or a results file; a
    results file with a stored composition (/entry/composition, as written
    by `pixlspec demo` or `salts --out`) is used as is, one without is
    quantified from its areas. Each detection has its phase (Ca-/Mg-/Fe-
    sulfate, chloride, perchlorate hint, carbonate, phosphate), leading
    end-member, points, area, centroid, confidence and the evidence behind it
    (JSON). Rules that need the deficit (carbonate, perchlorate) are not
    evaluated on normalised oxides; the notes say so.

    \b
    Examples:
      pixlspec salts example_data/sol0125_naltsos.h5
      pixlspec salts pixlspec-demo/simulated_salts_results.h5 --out salts/
      pixlspec salts scan.h5 --balance CO2 --calibration cal.json --format json
    """
    from ..pipeline import composition_of, salts_of
    from ..io.atomic import staged_dir

    if detector not in (None, "A", "B", "A+B"):
        raise PixlspecError(f"--detector must be A, B or A+B, got {detector!r}")
    instrument = load_instrument(instrument_path)
    calibration = load_calibration(calibration_path, instrument)
    name = scan_stem(input_path)
    with progress_bar() as bar:
        stages = StageProgress(bar, name)
        maps, comp, fitted = composition_of(input_path, instrument=instrument, calibration=calibration,
                                            balance=map_balance_arg(balance),
                                            detector=detector, progress=stages)
        stages("classifying", 0, None)
        found, notes, _ = salts_of(comp, normalise=normalise, name=name)
        stages("classifying", 1, 1)
    rows = _detection_rows(found)
    if out_dir:
        import matplotlib.pyplot as plt

        from ..plot_minerals import plot_phase_map

        with staged_dir(out_dir, overwrite=overwrite) as tmp:
            if fitted:
                res = os.path.join(tmp, f"{name}_results.h5")
                maps.to_hdf5(res, provenance={"made_by": "pixlspec salts"})
                comp.to_hdf5(res)
            from ..io.atomic import atomic_write_text

            atomic_write_text(os.path.join(tmp, "salts.json"), json_text({**found.to_dict(), "notes_cli": notes}))
            atomic_write_text(os.path.join(tmp, "salts.csv"), csv_text(DETECTION_HEADERS, rows))
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fig = plot_phase_map(found, title=f"Phases — {name} (salt detections numbered)")
            fig.savefig(os.path.join(tmp, "phase_map.png"), dpi=110, bbox_inches="tight")
            plt.close(fig)
    if fmt == "json":
        click.echo(json_text({**found.to_dict(), "notes_cli": notes}), nl=False)
    elif fmt == "csv":
        click.echo(csv_text(DETECTION_HEADERS, rows), nl=False)
    else:
        console = stdout_console()
        pm = found.phase_map
        console.print(f"[bold]{input_path}[/bold]: {len(found)} salt detection{'s' if len(found) != 1 else ''} "
                      f"over {pm.n_points} points ({found.geometry.kind})")
        if rows:
            console.print(rich_table(["#", "salt", "end-member", "points", "area mm²", "x mm", "y mm",
                                       "confidence", "total wt%"], rows, right="rllrrrrrr"))
        console.print("phases: " + ", ".join(f"{k} {v}" for k, v in pm.counts().items()), highlight=False)
        for fam, why in found.not_evaluated.items():
            console.print(f"[yellow]not evaluated:[/yellow] {fam}: {why}", highlight=False)
        for note in notes:
            console.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    if out_dir:
        say(f"wrote {os.path.join(out_dir, 'phase_map.png')}, salts.json, salts.csv"
             + (f" and {name}_results.h5" if fitted else ""))


def _parse_weights(text: str | None) -> dict[str, float] | None:
    if text is None:
        return None
    from ..minerals.candidates import DEFAULT_WEIGHTS

    names = list(DEFAULT_WEIGHTS)
    out = {}
    for item in split_list(text, "--weights"):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise PixlspecError(f"--weights expects NAME=WEIGHT pairs, got {item!r}")
        matches = [n for n in names if n == key] or [n for n in names if n.startswith(key)]
        if len(matches) != 1:
            raise PixlspecError(f"--weights: unknown sub-score {key!r}; choose from {', '.join(names)} "
                                "(a unique prefix is enough)")
        try:
            w = float(value)
        except ValueError:
            raise PixlspecError(f"--weights: {key} must be a number, got {value!r}") from None
        if not w >= 0:
            raise PixlspecError(f"--weights: {key} must be >= 0, got {value}")
        out[matches[0]] = w
    return out


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--weights", default=None, metavar="NAME=W,...",
              help="Sub-score weights, e.g. aqueous=0.4,diversity=0 (names or unique prefixes of "
                   "aqueous_evidence, salt_abundance, fine_grained, geochronology, diversity, data_quality).")
@click.option("--collected", multiple=True, metavar="FILE",
              help="Scan or results file of a sample already collected (repeatable): diversity is measured "
                   "against it.")
@click.option("--calibration", "calibration_path", metavar="FILE", help="Element calibration factors (.json).")
@click.option("--balance", type=click.Choice(["none", "CO2", "H2O"]), default=None,
              help="Invisible balance of the quantification [default: as for 'pixlspec salts'].")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text", show_default=True,
              help="Output: the ranking with reasons, its JSON, or CSV rows.")
def rank(inputs: tuple[str, ...], weights: str | None, collected: tuple[str, ...], calibration_path: str | None,
         balance: str | None, fmt: str) -> None:
    """Rank targets as sample candidates, explaining every score.

    INPUTS are scans or results files (one per target; the file name is the
    target name). Each is quantified and classified as by `pixlspec salts`,
    then scored: score = weighted mean of aqueous evidence, salt abundance,
    fine grain, geochronology potential, diversity (against --collected
    samples and targets ranked higher) and data quality.

    \b
    Examples:
      pixlspec rank pixlspec-demo/naltsos_results.h5 pixlspec-demo/simulated_salts_results.h5
      pixlspec rank results/*_maps.h5 --weights aqueous=0.4,diversity=0 --format csv
      pixlspec rank a.h5 b.h5 --collected last_core_maps.h5 --format json
    """
    from ..minerals.candidates import rank_sample_candidates
    from ..pipeline import composition_of, salts_of

    w = _parse_weights(weights)
    calibration = load_calibration(calibration_path)
    for path in list(inputs) + list(collected):
        if not os.path.exists(path):
            raise PixlspecError("no such file or folder", path=path)
    targets, refs = {}, []
    with progress_bar() as bar:
        for group, dest in ((inputs, "t"), (collected, "c")):
            for path in group:
                name = scan_stem(path)
                _, comp, _ = composition_of(path, calibration=calibration,
                                            balance=map_balance_arg(balance),
                                            progress=StageProgress(bar, name))
                found = salts_of(comp, name=name).detections
                if dest == "t":
                    key, k = name, 1
                    while key in targets:
                        k += 1
                        key = f"{name} ({k})"
                    targets[key] = found
                else:
                    refs.append(found)
        ranking = rank_sample_candidates(targets, weights=w, collected=refs or None)
    subs = list(ranking[0].subscores) if ranking else []
    rows = [[c.rank, c.name, f"{c.score:.3f}"] + [f"{c.subscores[k]:.3f}" for k in subs] for c in ranking]
    if fmt == "json":
        click.echo(json_text(ranking.to_dict()), nl=False)
        return
    if fmt == "csv":
        click.echo(csv_text(["rank", "target", "score"] + subs, rows), nl=False)
        return
    console = stdout_console()
    console.print("[bold]Sample candidates[/bold] (weights: "
                  + ", ".join(f"{k} {v:.2f}" for k, v in ranking.weights.items()) + ")", highlight=False)
    console.print(rich_table(["#", "target", "score"] + [k.replace("_", " ") for k in subs], rows,
                              right="rlr" + "r" * len(subs)))
    for c in ranking:
        console.print(f"[bold]#{c.rank} {c.name}[/bold]", highlight=False)
        for reason in c.reasons:
            console.print(f"  - {reason}", highlight=False)
