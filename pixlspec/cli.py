"""The ``pixlspec`` command line.

Commands::

    pixlspec info FILE...                   what scan files / PIXL products hold
    pixlspec convert INPUT... -o scan.h5    PIXL products -> one HDF5 scan file
    pixlspec fit INPUT [--point N]          fit one spectrum (or a scan's sum spectrum)
    pixlspec batch INPUT... --out DIR       element maps of many scans (resumable, parallel)

Adding a command: write one function decorated with ``@main.command()``
(and click options), give it a docstring with an ``Example:`` block, and
raise :class:`pixlspec.PixlspecError` on bad input. Errors are handled in one
place (:class:`PixlspecGroup`): a bad input prints one red line
``error: ...`` and exits with :data:`EXIT_BAD_INPUT` (2), any other failure
exits with :data:`EXIT_FAILURE` (1); ``--debug`` adds the traceback. Import
heavy modules inside the command functions so ``pixlspec --help`` stays fast.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import sys
import traceback
from typing import Any

import click

from . import __version__
from .errors import PixlspecError

__all__ = ["main", "EXIT_OK", "EXIT_FAILURE", "EXIT_BAD_INPUT"]

EXIT_OK = 0
#: Exit code of an unexpected failure (a bug, a full disk, ...).
EXIT_FAILURE = 1
#: Exit code of bad input (a PixlspecError) and of command-line usage errors (click's convention).
EXIT_BAD_INPUT = 2
#: Exit code after Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
#: Bytes read at a time when hashing input files for provenance.
HASH_BLOCK_BYTES = 1 << 20
#: Longest metadata text shown by ``info`` in text format.
MAX_METADATA_CHARS = 160
#: Order of the summary statistics in ``info`` tables.
STAT_KEYS = ("min", "median", "max")

log = logging.getLogger("pixlspec")


@dataclasses.dataclass
class CLIState:
    """Options of the ``pixlspec`` group shared with every command (``ctx.obj``)."""

    verbosity: int = 0
    debug: bool = False


def _state() -> CLIState:
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return obj if isinstance(obj, CLIState) else CLIState()


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class PixlspecGroup(click.Group):
    """Click group that turns exceptions of any command into one error line and an exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except PixlspecError as e:
            self._fail(ctx, _one_line(str(e)), EXIT_BAD_INPUT)
        except KeyboardInterrupt:
            self._fail(ctx, "interrupted", EXIT_INTERRUPTED)
        except Exception as e:  # noqa: BLE001 - the one place that reports unexpected failures
            msg = _one_line(f"{type(e).__name__}: {e}")
            if not _state().debug:
                msg += " (run with --debug for the traceback)"
            self._fail(ctx, msg, EXIT_FAILURE)

    @staticmethod
    def _fail(ctx: click.Context, message: str, code: int):
        if _state().debug:
            traceback.print_exc(file=sys.stderr)
        click.secho(f"error: {message}", fg="red", err=True)
        ctx.exit(code)


@click.group(cls=PixlspecGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="pixlspec")
@click.option("-v", "--verbose", count=True, help="More messages (repeat for debug logging).")
@click.option("-q", "--quiet", count=True, help="Fewer messages (only errors).")
@click.option("--debug", is_flag=True, help="Show the traceback of errors.")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: int, debug: bool) -> None:
    """pixlspec: X-ray fluorescence spectra of PIXL (Mars 2020).

    \b
    Examples:
      pixlspec info example_data/sol0125_naltsos.h5
      pixlspec convert pixl_flight_sol0125/ -o sol0125.h5
      pixlspec fit example_data/sol0125_naltsos.h5 --out fit-sum/
      pixlspec COMMAND --help
    """
    state = CLIState(verbosity=verbose - quiet, debug=debug)
    ctx.obj = state
    level = (logging.DEBUG if debug or state.verbosity >= 2 else logging.INFO if state.verbosity == 1
             else logging.WARNING if state.verbosity == 0 else logging.ERROR)
    _configure_logging(level)


class _CLIHandler(logging.StreamHandler):
    """The log handler ``pixlspec`` installs on the ``pixlspec`` logger (one at a time)."""


def _configure_logging(level: int) -> None:
    """Send ``pixlspec`` log records of ``level`` and above to the current stderr."""
    logger = logging.getLogger("pixlspec")
    for h in [h for h in logger.handlers if isinstance(h, _CLIHandler)]:
        logger.removeHandler(h)
    handler = _CLIHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)


def _say(message: str) -> None:
    """Print a progress/summary line on stderr unless ``-q`` (stdout stays machine-readable)."""
    if _state().verbosity >= 0:
        click.echo(message, err=True)


# --- info ----------------------------------------------------------------------
def _stats(values) -> dict[str, float]:
    import numpy as np

    a = np.asarray(values, dtype=float)
    if a.size == 0:
        return {"min": float("nan"), "median": float("nan"), "max": float("nan")}
    return {"min": float(a.min()), "median": float(np.median(a)), "max": float(a.max())}


def _jsonable(obj):
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)


def describe_scan(scan, path: str, kind: str) -> dict[str, Any]:
    """Summary of a scan as a JSON-friendly dict (what ``pixlspec info`` prints).

    Reads every spectrum once, chunk by chunk, for the counts per point.
    """
    import numpy as np

    from .io.convert import INPUT_KINDS

    dets = {}
    for det in scan.detectors:
        totals = np.empty(scan.n_points)
        for start, stop, counts in scan.iter_chunks(det):
            totals[start:stop] = counts.sum(axis=1)
        off, gain, quad = scan.calibration[det]
        d = {"calibration": {"offset_eV": off, "gain_eV_per_channel": gain, "quadratic_eV": quad},
             "live_time_s": _stats(scan.live_time_s[det]),
             "total_counts_per_point": _stats(totals)}
        if det in scan.real_time_s:
            d["real_time_s"] = _stats(scan.real_time_s[det])
        dets[det] = d
    pos = np.asarray(scan.positions_mm, dtype=float)
    extent = {axis: ([float(pos[:, i].min()), float(pos[:, i].max())] if scan.n_points else None)
              for i, axis in enumerate("xyz")}
    out = {"file": path, "type": kind, "type_description": INPUT_KINDS.get(kind, kind),
           "points": scan.n_points, "channels": scan.n_channels, "detectors": dets,
           "position_extent_mm": extent, "instrument": scan.instrument.name,
           "point_ids": ([_jsonable(scan.point_ids[0]), _jsonable(scan.point_ids[-1])]
                         if scan.n_points else None),
           "metadata": _jsonable(scan.metadata)}
    if kind == "hdf5":
        from .io.hdf5 import read_process

        out["file_info"] = _jsonable(read_process(path))
    return out


def _print_description(d: dict[str, Any], console) -> None:
    from rich.padding import Padding
    from rich.table import Table

    console.print(f"[bold]{d['file']}[/bold]")
    rows = [("type", d["type_description"]),
            ("points", f"{d['points']}" + (f" (ids {d['point_ids'][0]}..{d['point_ids'][1]})"
                                           if d.get("point_ids") else "")),
            ("detectors", ", ".join(d["detectors"])),
            ("channels", str(d["channels"])),
            ("instrument", d["instrument"])]
    ext = d["position_extent_mm"]
    if ext["x"] is not None:
        rows.append(("positions", "  ".join(f"{a} {lo:.3f}..{hi:.3f} ({hi - lo:.3f})"
                                            for a, (lo, hi) in ext.items()) + " mm"))
    info = d.get("file_info") or {}
    if info:
        storage = info.get("storage") or {}
        if storage:
            kinds = {det: f"{v['dtype']}, {v['compression']}, chunks of "
                          f"{v['chunks'][0] if v['chunks'] else '-'} points" for det, v in storage.items()}
            text = (next(iter(kinds.values())) if len(set(kinds.values())) == 1
                    else "; ".join(f"{det}: {k}" for det, k in kinds.items()))
            rows.append(("storage", f"{text}; {os.path.getsize(d['file']) / 1e6:.2f} MB"))
        if "program" in info:
            rows.append(("written by", f"{info.get('program')} {info.get('version', '')} on "
                                       f"{info.get('date', '?')}"))
        prov = info.get("provenance") or {}
        for key in ("source", "attribution", "license"):
            if key in prov:
                rows.append((key, _one_line(json.dumps(prov[key]) if not isinstance(prov[key], str)
                                            else prov[key])[:MAX_METADATA_CHARS]))
    if d["metadata"]:
        text = ", ".join(f"{k}={v}" for k, v in d["metadata"].items() if not isinstance(v, (dict, list)))
        if text:
            rows.append(("metadata", text if len(text) <= MAX_METADATA_CHARS
                         else text[:MAX_METADATA_CHARS - 3] + "..."))
    for key, value in rows:
        console.print(f"  {key:<11} {value}", highlight=False, markup=False, soft_wrap=True)

    table = Table(box=None, pad_edge=False, padding=(0, 1))
    table.caption = "live time and counts: min / median / max over the points"
    table.caption_justify = "left"
    for col in ("det", "offset eV", "gain eV/ch", "live time s", "counts per point"):
        table.add_column(col, justify="left" if col == "det" else "right", no_wrap=True)
    for det, v in d["detectors"].items():
        cal, lt, tc = v["calibration"], v["live_time_s"], v["total_counts_per_point"]
        gain = f"{cal['gain_eV_per_channel']:.5f}"
        if cal["quadratic_eV"]:
            gain += f" {cal['quadratic_eV']:+.3g}/ch²"
        table.add_row(det, f"{cal['offset_eV']:.3f}", gain,
                      " / ".join(f"{lt[k]:.2f}" for k in STAT_KEYS),
                      " / ".join(f"{tc[k]:,.0f}" for k in STAT_KEYS))
    console.print(Padding(table, (0, 0, 0, 2)))


@main.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format (json: a list with one object per file).")
@click.option("--instrument", "instrument_path", metavar="CONFIG",
              help="Instrument (PIQUANT .msa config, .json or .toml) overriding the files' own.")
def info(files: tuple[str, ...], fmt: str, instrument_path: str | None) -> None:
    """Show what FILES hold: points, detectors, calibration, live time, counts, positions.

    FILES may be HDF5 scan files, PIXL RFS CSV products, MSA spectra, folders
    of per-point MSA files or PIXL PDS product folders.

    \b
    Examples:
      pixlspec info example_data/sol0125_naltsos.h5
      pixlspec info pixl_flight_sol0125/ point_0095.msa --format json
    """
    from rich.console import Console

    from .io.convert import input_kind, read_scan

    instrument = _load_instrument(instrument_path)
    descriptions = []
    for path in files:
        kind = input_kind(path)
        scan = read_scan(path, instrument=instrument)
        try:
            descriptions.append(describe_scan(scan, path, kind))
        finally:
            scan.close()
    if fmt == "json":
        click.echo(json.dumps(descriptions, indent=2, allow_nan=True))
        return
    console = Console(file=click.get_text_stream("stdout"), highlight=False, soft_wrap=True)
    for i, d in enumerate(descriptions):
        if i:
            console.print()
        _print_description(d, console)


# --- convert ---------------------------------------------------------------------
def _load_instrument(path: str | None):
    if path is None:
        return None
    from .instrument import Instrument

    return Instrument.load(path)


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(HASH_BLOCK_BYTES), b""):
            h.update(block)
    return h.hexdigest()


def _file_record(path: str) -> dict[str, Any]:
    return {"name": os.path.basename(path), "size_bytes": os.path.getsize(path), "sha256": _sha256(path)}


def _parse_key_values(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise PixlspecError(f"--provenance expects KEY=VALUE, got {item!r}")
        out[key.strip()] = value
    return out


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", required=True, metavar="SCAN.h5",
              help="Scan file to write (.h5, .hdf5 or .nxs); replaced atomically.")
@click.option("--instrument", "instrument_path", metavar="CONFIG",
              help="Instrument to store: PIQUANT .msa config, .json or .toml "
                   "(default: what the input implies, else the PIXL flight model).")
@click.option("--compression", default=None, metavar="NAME",
              help="blosc-lz4 (default; fastest to read), lzf, gzip, none, blosc-zstd, "
                   "blosc-lz4-bitshuffle, bitshuffle-lz4.")
@click.option("--chunk-points", type=click.IntRange(min=1), default=None,
              help="Points per HDF5 chunk (default: ~1 MiB chunks, 128 points of 4096 uint16 channels).")
@click.option("--provenance", "provenance_items", multiple=True, metavar="KEY=VALUE",
              help="Extra provenance to record (repeatable), e.g. attribution=... license=...")
def convert(inputs: tuple[str, ...], output: str, instrument_path: str | None, compression: str | None,
            chunk_points: int | None, provenance_items: tuple[str, ...]) -> None:
    """Convert PIXL data into one HDF5 scan file.

    INPUTS is a folder of per-point MSA files (or the files themselves), a
    PIXL RFS CSV, a PIXL PDS product folder (with RFS/ and RXL/ subfolders),
    an MSA spectrum or another scan file. The file is written to a temporary
    file and renamed into place when complete, so a failure leaves nothing
    at OUTPUT.

    \b
    Examples:
      pixlspec convert pixl_flight_sol0125/ -o sol0125.h5
      pixlspec convert spectra/*.msa -o scan.h5 --instrument Config_PIXL_FM.msa
      pixlspec convert RFS/PS__0125_...RFS...J01.CSV -o scan.h5 --compression lzf
    """
    from .io.convert import input_kind, read_scan, source_files
    from .io.hdf5 import DEFAULT_COMPRESSION, SCAN_FILE_SUFFIXES, read_process, write_scan

    if os.path.splitext(output)[1].lower() not in SCAN_FILE_SUFFIXES:
        raise PixlspecError(f"the output must end in {', '.join(SCAN_FILE_SUFFIXES)}", path=output)
    compression = compression or DEFAULT_COMPRESSION
    target = inputs[0] if len(inputs) == 1 else list(inputs)
    kind = input_kind(target)
    sources = source_files(target)
    out_abs = os.path.abspath(output)
    for src in sources:
        if os.path.abspath(src) == out_abs or (os.path.exists(output) and os.path.samefile(src, output)):
            raise PixlspecError("the output would overwrite an input file; choose another name", path=output)
    extra = _parse_key_values(provenance_items)
    instrument = _load_instrument(instrument_path)
    provenance: dict[str, Any] = {
        "converted_by": f"pixlspec {__version__} convert",
        "input": list(inputs) if len(inputs) > 1 else inputs[0],
        "input_kind": kind,
        "source_files": [_file_record(p) for p in sources],
    }
    if instrument_path:
        provenance["instrument_file"] = {"name": os.path.basename(instrument_path),
                                         "sha256": _sha256(instrument_path)}
    if kind == "hdf5":
        provenance["derived_from"] = read_process(sources[0]).get("provenance")
    provenance = {k: v for k, v in provenance.items() if v is not None}
    provenance.update(extra)
    log.info("reading %s (%s)", target, kind)
    scan = read_scan(target, instrument=instrument)
    rxl = scan.metadata.get("rxl_file")  # the RFS reader may find the RXL product by itself
    if isinstance(rxl, str) and os.path.isfile(rxl) and not any(
            os.path.abspath(rxl) == os.path.abspath(p) for p in sources):
        provenance["source_files"].append(_file_record(rxl))
    try:
        write_scan(scan, output, compression=compression, chunk_points=chunk_points, provenance=provenance)
    finally:
        scan.close()
    info = read_process(output).get("storage", {})
    dtype = next(iter(info.values()))["dtype"] if info else "?"
    _say(f"wrote {output}: {scan.n_points} points x {scan.n_channels} channels, detectors "
         f"{'+'.join(scan.detectors)}, {dtype} {compression}, {os.path.getsize(output) / 1e6:.2f} MB "
         f"(from {kind} {inputs[0] if len(inputs) == 1 else f'{len(inputs)} files'})")


# --- fit -----------------------------------------------------------------------------
def _spectrum_for_fit(path: str, point: int | None, detector: str, instrument):
    """The spectrum the ``fit`` command works on: an MSA file, or a point or the sum of a scan."""
    from .io.convert import read_scan
    from .io.msa import read_msa

    if os.path.isfile(path) and path.lower().endswith(".msa"):
        if point is not None:
            raise PixlspecError(f"--point selects a point of a scan; {path} is a single MSA spectrum")
        return read_msa(path, detector=None if detector == "auto" else detector, instrument=instrument)
    scan = read_scan(path, instrument=instrument)
    try:
        dets = list(scan.detectors) if detector in ("auto", "A+B") else [detector]
        for d in dets:
            if d not in scan.detectors:
                raise PixlspecError(f"no detector {d!r} in {path}; it has {', '.join(scan.detectors)}")
        if detector == "auto":
            dets = dets[:1]
        if point is None:
            spectra = [scan.sum_spectrum(d) for d in dets]
        else:
            if not 0 <= point < scan.n_points:
                raise PixlspecError(f"--point {point} is outside 0..{scan.n_points - 1} of {path}")
            spectra = [scan.spectrum(point, d) for d in dets]
    finally:
        scan.close()
    spec = spectra[0] if len(spectra) == 1 else spectra[0].combine(spectra[1])
    return spec.replace(source=path)


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
def fit(input_path: str, point: int | None, detector: str, elements: str | None, instrument_path: str | None,
        background: str, out_dir: str | None, fmt: str) -> None:
    """Fit one spectrum: calibration, resolution and line-group areas with 1σ.

    INPUT is an MSA file, an HDF5 scan, an RFS CSV or a folder of MSA files;
    for a scan the sum over its points is fitted unless --point is given.

    \b
    Examples:
      pixlspec fit example_data/sol0125_naltsos.h5 --out fit-sum/
      pixlspec fit example_data/sol0125_naltsos.h5 --point 10 --detector B --format csv
      pixlspec fit point.msa --elements Na,Mg,Al,Si,P,S,Cl,K,Ca,Ti,Fe,Pb_L
    """
    from .fit.config import FitConfig
    from .fit.single import fit_spectrum

    instrument = _load_instrument(instrument_path)
    spec = _spectrum_for_fit(input_path, point, detector, instrument)
    els = [e.strip() for e in elements.split(",") if e.strip()] if elements else None
    result = fit_spectrum(spec, elements=els, instrument=instrument, config=FitConfig(background=background))
    table = _areas_csv(result)
    if out_dir:
        from .io._atomic import atomic_path, atomic_write_text

        os.makedirs(out_dir, exist_ok=True)
        atomic_write_text(os.path.join(out_dir, "fit.json"), result.to_json())
        atomic_write_text(os.path.join(out_dir, "areas.csv"), table)
        fig = result.plot()
        with atomic_path(os.path.join(out_dir, "fit.png"), suffix=".png") as tmp:
            fig.savefig(tmp, dpi=110, format="png", bbox_inches="tight")
        import matplotlib.pyplot as plt

        plt.close(fig)
    if fmt == "json":
        click.echo(result.to_json())
    elif fmt == "csv":
        click.echo(table, nl=False)
    else:
        click.echo(result.report())
    if out_dir:
        _say(f"wrote {os.path.join(out_dir, 'fit.png')}, fit.json and areas.csv")


def _areas_csv(result) -> str:
    lines = ["group,area_counts,sigma_counts,counts_per_s,detected"]
    det = result.detected
    for name, area in result.areas.items():
        lines.append(f"{name},{area:.6g},{result.sigma[name]:.6g},{area / result.spectrum.live_time_s:.6g},"
                     f"{det.get(name, '')}")
    return "\n".join(lines) + "\n"


# --- batch ---------------------------------------------------------------------------
@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--out", "out_dir", required=True, metavar="DIR",
              help="Folder of the results files (<scan>_maps.h5, written atomically).")
@click.option("--instrument", "instrument_path", metavar="CONFIG",
              help="Instrument: PIQUANT configuration .msa, or .json/.toml (default: each scan's own).")
@click.option("--elements", default=None, metavar="LIST",
              help="Comma-separated elements or groups (default: the rock elements).")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Local worker processes (default: one per core; 0: in this process).")
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
    rerun after a crash resumes; a failing scan is reported and the others go
    on. The exit code is 0 only when every scan succeeded.

    \b
    Examples:
      pixlspec batch scans/*.h5 --out results/ --workers 2
      pixlspec batch example_data/sol0125_naltsos.h5 --out maps/ --elements Si,S,Cl,K,Ca,Ti,Fe
      pixlspec batch scans/*.h5 --out results/ --scheduler tcp://host:8786
    """
    from rich.console import Console

    from .batch import run_batch_console
    from .fit.config import FitConfig

    instrument = _load_instrument(instrument_path)
    els = [e.strip() for e in elements.split(",") if e.strip()] if elements else None
    console = Console(file=click.get_text_stream("stdout"), highlight=False, soft_wrap=True,
                      quiet=_state().verbosity < 0)
    report = run_batch_console(list(inputs), out_dir, console=console, show_progress=_state().verbosity >= 0,
                               instrument=instrument, elements=els, config=FitConfig(background=background),
                               workers=workers, scheduler=scheduler, detector=detector, force=force)
    if not report.ok:
        click.get_current_context().exit(EXIT_FAILURE)


if __name__ == "__main__":  # pragma: no cover
    main()
