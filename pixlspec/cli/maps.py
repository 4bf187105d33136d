"""Commands on scans: ``map``, ``batch``, ``diffraction``."""
from __future__ import annotations

import os

import click

from ..errors import PixlspecError
from .app import main

from ..parallel import POOL_MIN_POINTS
from .app import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated, cli_state, \
    sigterm_stops_cleanly
from .common import (OVERWRITE_HELP, FiniteFloat, check_elements, load_instrument, refuse_input_as_output,
                     refuse_overwrite, say, scan_stem, split_list)
from .render import StageProgress, progress_bar, stderr_console, stdout_console

__all__ = ["map_", "batch", "diffraction"]


def _parse_pair(text: str, what: str) -> tuple[float, float]:
    parts = split_list(text, what)
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise PixlspecError(f"{what} expects two numbers LO,HI, got {text!r}") from None
    return lo, hi


def _map_figure(maps, element: str, units: str, lims: tuple[float, float], log: bool, cmap: str,
                vmin: float | None, vmax: float | None):
    """An image with colour limits ``lims`` (raster) or a profile (line; y limits only where given)."""
    fig = maps.plot(element, units=units, vmin=lims[0], vmax=lims[1], cmap=cmap)
    ax = fig.axes[0]
    if ax.images:
        if log:
            from matplotlib.colors import LogNorm

            ax.images[0].set_norm(LogNorm(vmin=lims[0], vmax=lims[1]))
        return fig
    if log:
        ax.set_yscale("log")
    if vmin is not None or vmax is not None:
        ax.set_ylim(vmin, vmax)
    return fig


@main.command(name="map")
@click.argument("input_path", metavar="INPUT")
@click.option("--out", "out_dir", required=True, metavar="DIR",
              help="Folder of the PNGs (and of <scan>_maps.h5 when INPUT is a scan).")
@click.option("--elements", default=None, metavar="LIST",
              help="Elements (or columns like Rh_K_Compton) to draw; 'all' for every fitted element "
                   "(default: those above 3σ on at least 5 % of the points).")
@click.option("--rgb", "rgb", multiple=True, metavar="R,G,B",
              help="Three elements as red, green, blue (repeatable), e.g. --rgb Fe,Ca,S.")
@click.option("--log", "log_scale", is_flag=True, help="Logarithmic colour scale (log y axis for line scans).")
@click.option("--vmin", type=FiniteFloat(), default=None, help="Lower colour limit (default: lower percentile).")
@click.option("--vmax", type=FiniteFloat(), default=None, help="Upper colour limit (default: upper percentile).")
@click.option("--percentiles", default="1,99", show_default=True, metavar="LO,HI",
              help="Percentiles of each map that set the colour limits not given by --vmin/--vmax.")
@click.option("--units", type=click.Choice(["cps", "counts"]), default="cps", show_default=True,
              help="Counts per live second or fitted counts.")
@click.option("--cmap", default="viridis", show_default=True, help="Matplotlib colour map of the images.")
@click.option("--detector", default=None, metavar="A|B|A+B",
              help="Detector to fit when INPUT is a scan (default: A+B, areas summed).")
@click.option("--instrument", "instrument_path", metavar="CONFIG",
              help="Instrument when INPUT is a scan: PIQUANT .msa, .json or .toml.")
@click.option("--overwrite", is_flag=True, help=OVERWRITE_HELP)
def map_(input_path: str, out_dir: str, elements: str | None, rgb: tuple[str, ...], log_scale: bool,
         vmin: float | None, vmax: float | None, percentiles: str, units: str, cmap: str, detector: str | None,
         instrument_path: str | None, overwrite: bool) -> None:
    """Element maps as PNGs: one per element, RGB composites, reduced χ².

    INPUT is a scan (fitted here: sum spectrum, then every point, as
    `pixlspec batch` does; the results file is written into DIR too) or a
    results file (`<scan>_maps.h5` from `batch`, `map`, `salts` or `demo`).
    Rasters are drawn as images with a scale bar, line scans as profiles
    along the line. Colour limits are --vmin/--vmax, else the --percentiles
    of each map (profiles: --vmin/--vmax set the y range, which is otherwise
    automatic); RGB channels are each stretched between their 1st and 99th
    percentile. Files: DIR/<element>.png, DIR/rgb_<R>_<G>_<B>.png, DIR/chi2.png.

    \b
    Examples:
      pixlspec map example_data/sol0125_naltsos.h5 --out maps/ --rgb Fe,Ca,S
      pixlspec map results/scan_maps.h5 --out maps/ --elements S,Cl,Ca --log
      pixlspec map scan.h5 --out maps/ --elements all --percentiles 2,98 --cmap magma
    """
    plo, phi = _parse_pair(percentiles, "--percentiles")
    if not 0 <= plo < phi <= 100:
        raise PixlspecError(f"--percentiles must satisfy 0 <= LO < HI <= 100, got {percentiles}")
    if vmin is not None and vmax is not None and vmin >= vmax:
        raise PixlspecError(f"--vmin {vmin:g} must be below --vmax {vmax:g}")
    if log_scale and ((vmin is not None and vmin <= 0) or (vmax is not None and vmax <= 0)):
        raise PixlspecError("--log needs positive --vmin/--vmax")
    triples = []
    for item in rgb:
        t = check_elements(split_list(item, "--rgb"), "--rgb")
        if len(t) != 3:
            raise PixlspecError(f"--rgb takes three elements (red, green, blue), got {item!r}")
        triples.append(t)
    wanted = None
    if elements and elements.strip().lower() != "all":
        wanted = check_elements(split_list(elements, "--elements"))
    if detector not in (None, "A", "B", "A+B"):
        raise PixlspecError(f"--detector must be A, B or A+B, got {detector!r}")
    instrument = load_instrument(instrument_path)
    with sigterm_stops_cleanly():
        _map_files(input_path, out_dir, instrument, detector, wanted, elements, triples, units, log_scale, cmap,
                   vmin, vmax, (plo, phi), overwrite)


def _map_files(input_path: str, out_dir: str, instrument, detector, wanted, elements, triples, units: str,
               log_scale: bool, cmap: str, vmin, vmax, percentiles: tuple[float, float], overwrite: bool) -> None:
    """The work of ``map`` once its options are checked (fit or read, then the PNGs, staged)."""
    from ..pipeline import detected_elements, element_maps_of
    from ..plot_maps import colour_limits, plot_chi2
    from ..io.atomic import staged_dir

    with progress_bar() as bar:
        maps, fitted = element_maps_of(input_path, instrument=instrument, detector=detector,
                                       progress=StageProgress(bar, os.path.basename(input_path)))
    for name in (wanted or []) + [e for t in triples for e in t]:
        if name not in maps.point_areas:
            raise PixlspecError(f"no map of {name!r}; the maps hold {', '.join(maps.columns)}", path=input_path)
    if wanted is None:
        wanted = list(maps.elements) if elements else detected_elements(maps)  # elements: "all"
    import matplotlib.pyplot as plt

    written = []
    with staged_dir(out_dir, overwrite=overwrite) as tmp:
        if fitted:
            name = f"{scan_stem(input_path)}_maps.h5"
            maps.to_hdf5(os.path.join(tmp, name), provenance={"made_by": "pixlspec map"})
            written.append(name)
        for el in wanted:
            if units == "cps":
                vals = maps.counts_per_sec(el, points=True)
            else:
                vals = maps.point_areas[el]
            lims = colour_limits(vals[maps.valid], vmin, vmax, percentiles, log_scale)
            fig = _map_figure(maps, el, units, lims, log_scale, cmap, vmin, vmax)
            fig.savefig(os.path.join(tmp, f"{el}.png"), dpi=110, bbox_inches="tight")
            plt.close(fig)
            written.append(f"{el}.png")
        for t in triples:
            fig = maps.plot_rgb(t)
            fig.savefig(os.path.join(tmp, f"rgb_{'_'.join(t)}.png"), dpi=110, bbox_inches="tight")
            plt.close(fig)
            written.append(f"rgb_{'_'.join(t)}.png")
        fig = plot_chi2(maps)
        fig.savefig(os.path.join(tmp, "chi2.png"), dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append("chi2.png")
    say(f"wrote {len(written)} files into {out_dir}: {', '.join(written)}")


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--out", "out_dir", required=True, metavar="DIR",
              help="Folder of the results files (<scan>_maps.h5, written atomically).")
@click.option("--instrument", "instrument_path", metavar="CONFIG",
              help="Instrument: PIQUANT configuration .msa, or .json/.toml (default: each scan's own).")
@click.option("--elements", default=None, metavar="LIST",
              help="Comma-separated elements or groups (default: the rock elements).")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Local worker processes (default: one per core; 0: in this process). Scans with too "
                   f"few points for a pool to pay (under {POOL_MIN_POINTS:,} in all) run in this process.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Dask distributed scheduler (e.g. tcp://host:8786) to run the chunks on instead.")
@click.option("--detector", default=None, metavar="A|B|A+B",
              help="Detector to fit (default: every detector, areas summed as A+B).")
@click.option("--background", type=click.Choice(["continuum", "snip"]), default="continuum", show_default=True,
              help="Background: fitted continuum (unbiased) or per-point SNIP (PyMca-like).")
@click.option("--force", is_flag=True, help="Refit scans whose results are complete.")
def batch(inputs: tuple[str, ...], out_dir: str, instrument_path: str | None, elements: str | None,
          workers: int | None, scheduler: str | None, detector: str | None, background: str, force: bool) -> None:
    """Fit the element maps of many scans: one results file per scan, resumable.

    INPUTS are HDF5 scan files or folders of per-point MSA files (any input
    `pixlspec info` reads). Scans whose results are complete are skipped, so a
    rerun after a crash or Ctrl-C resumes; a failing scan gets one 'error:'
    line on stderr and the others go on. Exit code 0 when every scan
    succeeded, 2 when the failures were bad input or when another run is
    writing into DIR (a lock file, DIR/.pixlspec-batch.lock, refuses it), 1
    when any failure was unexpected. Ctrl-C or SIGTERM stops the run and its
    worker processes within a second or so (exit 130 or 143, one line); a
    killed run's workers end with it. Small scans run in this process even
    with --workers N (a pool would only cost its start-up): the output says so.

    \b
    Examples:
      pixlspec batch scans/*.h5 --out results/ --workers 2
      pixlspec batch example_data/sol0125_naltsos.h5 --out maps/ --elements Si,S,Cl,K,Ca,Ti,Fe
      pixlspec batch scans/*.h5 --out results/ --scheduler tcp://host:8786
    """
    from ..batch import run_batch_console
    from ..config import FitConfig

    instrument = load_instrument(instrument_path)
    els = [e.strip() for e in elements.split(",") if e.strip()] if elements else None
    if els is not None and not els:
        raise PixlspecError(f"--elements expects a comma-separated list, got {elements!r}")
    console = stdout_console()
    console.quiet = cli_state().verbosity < 0
    ctx = click.get_current_context()
    try:
        with sigterm_stops_cleanly():
            report = run_batch_console(list(inputs), out_dir, console=console, err_console=stderr_console(),
                                       show_progress=cli_state().verbosity >= 0, instrument=instrument,
                                       elements=els, config=FitConfig(background=background), workers=workers,
                                       scheduler=scheduler, detector=detector, force=force)
    except Terminated:
        click.secho("error: terminated (SIGTERM); complete results are kept, rerun the same command to resume",
                    fg="red", err=True)
        ctx.exit(EXIT_TERMINATED)
    except KeyboardInterrupt:
        click.secho("error: interrupted; complete results are kept, rerun the same command to resume",
                    fg="red", err=True)
        ctx.exit(EXIT_INTERRUPTED)
    failed = [o for o in report.outcomes if not o.ok]
    if failed:
        # bad input (corrupt or missing scan, wrong channel count): 2; anything unexpected: 1
        ctx.exit(EXIT_FAILURE if any(not o.bad_input for o in failed) else EXIT_BAD_INPUT)


@main.command()
@click.argument("scan_path", metavar="SCAN")
@click.option("--out", "out_csv", metavar="CSV", help="Write the table of peaks (one row per peak).")
@click.option("--figure", "figure", metavar="PNG",
              help="Write the figure: diffraction counts per point and the strongest peak in both detectors.")
@click.option("--threshold", type=FiniteFloat(min=0, min_open=True), default=None, metavar="SIGMA",
              help="Significance a peak needs [default: 4.5].")
@click.option("--instrument", "instrument_path", metavar="FILE", help="Instrument file (.toml/.json).")
@click.option("--overwrite", is_flag=True, help=OVERWRITE_HELP)
def diffraction(scan_path: str, out_csv: str | None, figure: str | None, threshold: float | None,
                instrument_path: str | None, overwrite: bool) -> None:
    """Find diffraction peaks: peaks one detector records and the other does not.

    Prints the table (point, detector, energy, area, significance, overlapping
    element line); --out writes it as CSV, --figure as a PNG.

    \b
    Examples:
      pixlspec diffraction example_data/sol0125_naltsos.h5
      pixlspec diffraction scan.h5 --out peaks.csv --figure peaks.png
    """
    from ..fit.diffraction import DEFAULT_THRESHOLD_SIGMA, find_diffraction_peaks
    from ..io.convert import read_scan, source_files

    refuse_input_as_output(source_files(scan_path) if os.path.exists(scan_path) else [], [out_csv, figure])
    refuse_overwrite([p for p in (out_csv, figure) if p], overwrite)
    scan = read_scan(scan_path, instrument=load_instrument(instrument_path))
    try:
        peaks = find_diffraction_peaks(scan, threshold_sigma=threshold if threshold is not None
                                       else DEFAULT_THRESHOLD_SIGMA)
        click.echo(peaks.report())
        if out_csv:
            peaks.to_csv(out_csv)
            say(f"table written to {out_csv}")
        if figure:
            fig = peaks.plot(scan)
            fig.savefig(figure, dpi=120)
            say(f"figure written to {figure}")
    finally:
        scan.close()
