"""Commands on one spectrum: ``fit`` and ``quant``."""
from __future__ import annotations

import os

import click

from .app import main

from .common import (OVERWRITE_HELP, balance_arg, check_elements, json_text, load_calibration, load_instrument,
                     refuse_overwrite, say, spectrum_for_fit, split_list)
from .render import csv_text, fmt_g, fmt_num, progress_bar, rich_table, stdout_console

__all__ = ["fit", "quant"]


@main.command()
@click.argument("input_path", metavar="INPUT")
@click.option("--point", type=click.IntRange(min=0), default=None,
              help="Point (row, 0-based) of a scan to fit; default: the sum over all points.")
@click.option("--detector", default="auto", show_default=True, metavar="A|B|A+B",
              help="Detector to fit (A+B: both summed on A's energy axis).")
@click.option("--elements", default=None, metavar="LIST",
              help="Comma-separated elements or groups (default: the rock elements), e.g. 'Si,Ca,Fe,Pb_L'.")
@click.option("--instrument", "instrument_path", metavar="CONFIG",
              help="Instrument: PIQUANT configuration .msa, or .json/.toml.")
@click.option("--background", type=click.Choice(["continuum", "snip"]), default="continuum", show_default=True,
              help="Background model.")
@click.option("--out", "out_dir", default=None, metavar="DIR",
              help="Write fit.png, fit.json and areas.csv into DIR.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text", show_default=True,
              help="What to print: the report, the JSON summary or the areas table.")
@click.option("--overwrite", is_flag=True, help=OVERWRITE_HELP)
def fit(input_path: str, point: int | None, detector: str, elements: str | None, instrument_path: str | None,
        background: str, out_dir: str | None, fmt: str, overwrite: bool) -> None:
    """Fit one spectrum: calibration, resolution and line-group areas with 1σ.

    INPUT is an MSA file, an HDF5 scan, an RFS CSV or a folder of MSA files;
    for a scan the sum over its points is fitted unless --point is given.

    \b
    Examples:
      pixlspec fit example_data/sol0125_naltsos.h5 --out fit-sum/
      pixlspec fit example_data/sol0125_naltsos.h5 --point 10 --detector B --format csv
      pixlspec fit point.msa --elements Na,Mg,Al,Si,P,S,Cl,K,Ca,Ti,Fe,Pb_L
    """
    from ..config import FitConfig
    from ..fit.single import fit_spectrum

    if out_dir:
        refuse_overwrite([os.path.join(out_dir, n) for n in FIT_OUTPUTS], overwrite)
    instrument = load_instrument(instrument_path)
    spec = spectrum_for_fit(input_path, point, detector, instrument)
    els = [e.strip() for e in elements.split(",") if e.strip()] if elements else None
    result = fit_spectrum(spec, elements=els, instrument=instrument, config=FitConfig(background=background))
    table = _areas_csv(result)
    if out_dir:
        import matplotlib.pyplot as plt

        from ..io.atomic import staged_dir

        with staged_dir(out_dir, overwrite=overwrite) as tmp:   # all three files or none
            with open(os.path.join(tmp, "fit.json"), "w", encoding="utf-8") as fh:
                fh.write(result.to_json())
            with open(os.path.join(tmp, "areas.csv"), "w", encoding="utf-8") as fh:
                fh.write(table)
            fig = result.plot()
            try:
                fig.savefig(os.path.join(tmp, "fit.png"), dpi=110, format="png", bbox_inches="tight")
            finally:
                plt.close(fig)
    if fmt == "json":
        click.echo(result.to_json())
    elif fmt == "csv":
        click.echo(table, nl=False)
    else:
        click.echo(result.report())
    if out_dir:
        say(f"wrote {os.path.join(out_dir, 'fit.png')}, fit.json and areas.csv")

#: Files ``fit --out DIR`` writes.
FIT_OUTPUTS = ("fit.json", "areas.csv", "fit.png")


def _areas_csv(result) -> str:
    lines = ["group,area_counts,sigma_counts,counts_per_s,detected"]
    det = result.detected
    for name, area in result.areas.items():
        lines.append(f"{name},{area:.6g},{result.sigma[name]:.6g},{area / result.spectrum.live_time_s:.6g},"
                     f"{det.get(name, '')}")
    return "\n".join(lines) + "\n"


@main.command()
@click.argument("input_path", metavar="INPUT")
@click.option("--point", type=click.IntRange(min=0), default=None,
              help="Point (row, 0-based) of a scan; default: the sum over all points.")
@click.option("--detector", type=click.Choice(["auto", "A", "B"]), default="auto", show_default=True,
              help="Detector to fit and quantify (auto: the first).")
@click.option("--elements", default=None, metavar="LIST",
              help="Comma-separated elements fitted and quantified (default: the rock elements).")
@click.option("--instrument", "instrument_path", metavar="CONFIG",
              help="Instrument: PIQUANT configuration .msa, or .json/.toml (default: the file's / calibration's).")
@click.option("--calibration", "calibration_path", metavar="FILE",
              help="Element calibration factors: .json written by Calibration.save, or a PIQUANT ECF table "
                   "(Calibration_*.csv); default: absolute FP.")
@click.option("--fe-oxide", type=click.Choice(["FeO", "Fe2O3"]), default="FeO", show_default=True,
              help="How total iron is reported.")
@click.option("--balance", type=click.Choice(["none", "CO2", "H2O"]), default="none", show_default=True,
              help="Invisible compound filling a total below 100 % in the matrix (carbonates, hydrated salts).")
@click.option("--normalise", is_flag=True, help="Scale the oxides to 100 wt% (the total is still reported).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text", show_default=True,
              help="Output: a table, the JSON of the Composition, or CSV rows.")
def quant(input_path: str, point: int | None, detector: str, elements: str | None, instrument_path: str | None,
          calibration_path: str | None, fe_oxide: str, balance: str, normalise: bool, fmt: str) -> None:
    """Oxide wt% of one spectrum: fit, then fundamental parameters; 1σ, LOD and total.

    INPUT is an MSA file or a scan (HDF5, RFS CSV, MSA folder); for a scan the
    sum over its points is quantified unless --point is given. The table has
    every quantified oxide (Fe as FeO total iron, Cl as the element) with its
    1σ (counting and calibration), its 3σ limit of detection and '< LOD'
    when below it, then the analytical total (not normalised unless
    --normalise) and any flag that makes the numbers less trustworthy.
    Without --calibration the FP is absolute (PIQUANT's conventions and the
    instrument's constants, flight optic included): a first estimate whose
    total is a diagnostic (the sol-125 bulk sums read 118-131 wt%).
    --calibration takes a pixlspec calibration JSON or a PIQUANT ECF table
    (e.g. Calibration_PIXL_FM_SurfaceOps_5minECFs_Rev1_Jul2021.csv), decided
    by content.

    \b
    Examples:
      pixlspec quant example_data/sol0125_naltsos.h5 --normalise
      pixlspec quant scan.h5 --point 12 --calibration pixl_fm_cal.json --format csv
      pixlspec quant point.msa --balance CO2 --format json
    """
    from ..fit.single import fit_spectrum
    from ..quant.quantify import quantify

    els = check_elements(split_list(elements, "--elements")) if elements else None
    instrument = load_instrument(instrument_path)
    calibration = load_calibration(calibration_path, instrument)
    if instrument is None and calibration is not None:
        instrument = calibration.instrument
    spec = spectrum_for_fit(input_path, point, detector, instrument)
    with progress_bar() as progress:
        task = progress.add_task("fitting the spectrum", total=None)
        fit_result = fit_spectrum(spec, elements=els, instrument=instrument)
        progress.update(task, description="quantifying")
        comp = quantify(fit_result, instrument=instrument, calibration=calibration, fe_oxide=fe_oxide,
                        normalise=normalise, balance=balance_arg(balance))
    if fmt == "json":
        click.echo(json_text(comp.to_dict()), nl=False)
        return
    headers = ["oxide", "wt%", "sigma", "lod", "detected"]
    rows = [[ox, fmt_g(v), fmt_g(comp.sigma[ox]), fmt_g(comp.lod[ox]), comp.detected.get(ox, True)]
            for ox, v in comp.oxide_wt.items()]
    if fmt == "csv":
        click.echo(csv_text(headers + ["total"], [r + [""] for r in rows]
                             + [["total", fmt_g(comp.total), "", "", "", fmt_g(comp.total)]]), nl=False)
        return
    console = stdout_console()
    where = f"point {point}" if point is not None else "sum spectrum"
    console.print(f"[bold]{input_path}[/bold] {where}, detector {comp.detector}, {comp.live_time_s:.4g} s live; "
                  f"{'calibrated' if comp.calibrated else 'uncalibrated FP'}"
                  + (f", balance {comp.balance}" if comp.balance else ""))
    table_rows = [[ox, fmt_num(v), fmt_num(comp.sigma[ox]), fmt_num(comp.lod[ox]),
                   "" if comp.detected.get(ox, True) else "< LOD"] for ox, v in comp.oxide_wt.items()]
    table_rows.append(["total", f"{comp.total:.2f}", "", "", "normalised to 100" if comp.normalised else ""])
    console.print(rich_table(["oxide", "wt%", "1σ", "LOD", ""], table_rows, right="lrrr"))
    for flag in comp.flags:
        console.print(f"[yellow]flag:[/yellow] {flag}", highlight=False)
