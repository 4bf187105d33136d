"""The ``pixlspec`` command line.

Commands::

    pixlspec demo [--out DIR]               the whole path on the example data, with a report
    pixlspec info FILE...                   what scan files / PIXL products hold
    pixlspec convert INPUT... -o scan.h5    PIXL products -> one HDF5 scan file
    pixlspec fit INPUT [--point N]          fit one spectrum (or a scan's sum spectrum)
    pixlspec quant INPUT                    oxide wt% ± 1σ, LOD and total of one spectrum or a scan sum
    pixlspec map INPUT --out DIR            element map PNGs (and RGB composites) of a scan or results file
    pixlspec salts INPUT                    salt detections and phase map of a scan or results file
    pixlspec rank INPUT...                  sample-candidate ranking of several scans / results files
    pixlspec simulate OUTPUT                a spectrum or scan with known truth (MSA / HDF5 + truth)
    pixlspec batch INPUT... --out DIR       element maps of many scans (resumable, parallel)
    pixlspec export RESULTS --format F -o P PIQUANT map CSV, per-point CSV, TIFF images or MSA sum spectra
    pixlspec compare A B                    per-oxide bias and scatter of two composition maps (by PMC)

Adding a command: write one function decorated with ``@main.command()``
(and click options), give it a docstring with an ``Example:`` block, and
raise :class:`pixlspec.PixlspecError` on bad input. Errors are handled in one
place (:class:`PixlspecGroup`): a bad input prints one red line
``error: ...`` and exits with :data:`EXIT_BAD_INPUT` (2), any other failure
exits with :data:`EXIT_FAILURE` (1); ``--debug`` adds the traceback. Import
heavy modules inside the command functions so ``pixlspec --help`` stays fast.
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
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
from .parallel import POOL_MIN_POINTS

__all__ = ["main", "EXIT_OK", "EXIT_FAILURE", "EXIT_BAD_INPUT", "EXIT_INTERRUPTED",
           "EXIT_TERMINATED", "EXIT_BROKEN_PIPE"]

EXIT_OK = 0
#: Exit code of an unexpected failure (a bug, a full disk, ...).
EXIT_FAILURE = 1
#: Exit code of bad input (a PixlspecError) and of command-line usage errors (click's convention).
EXIT_BAD_INPUT = 2
#: Exit code after Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130
#: Exit code after SIGTERM, with the same clean stop as Ctrl-C (128 + SIGTERM).
EXIT_TERMINATED = 143
#: Exit code when the reader of the output went away (``| head``), as a process killed by SIGPIPE.
EXIT_BROKEN_PIPE = 141

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
#: Bytes read at a time when hashing input files for provenance.
HASH_BLOCK_BYTES = 1 << 20
#: Longest metadata text shown by ``info`` in text format.
MAX_METADATA_CHARS = 160
#: ``map`` draws by default the elements whose area exceeds this many σ on at least this fraction of points.
DETECTED_SIGMAS, DETECTED_FRACTION = 3.0, 0.05
#: Width of tables written to a pipe or file (no terminal to fit).
PIPE_WIDTH = 160
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


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that the command stops as cleanly as after Ctrl-C."""


@contextlib.contextmanager
def _sigterm_stops_cleanly():
    """While the block runs, SIGTERM raises :class:`Terminated` in the main thread (like Ctrl-C)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():  # pragma: no cover - embedded use
        yield
        return

    def handler(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that Python's final flush of a closed pipe prints nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # pragma: no cover - stdout without a descriptor
        pass


class PixlspecGroup(click.Group):
    """Click group that turns exceptions of any command into one error line and an exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # the reader went away (`pixlspec ... | head -1`): stop quietly, as SIGPIPE would
            _silence_stdout()
            ctx.exit(EXIT_BROKEN_PIPE)
        except click.exceptions.UsageError as e:
            # a bad option value, a missing argument, an unknown command: one line, exit 2
            cmd = e.ctx.command_path if e.ctx is not None else ctx.command_path
            self._fail(ctx, f"{_one_line(e.format_message())} (see '{cmd} --help')", EXIT_BAD_INPUT,
                       traceback_ok=False)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except PixlspecError as e:
            self._fail(ctx, _one_line(str(e)), EXIT_BAD_INPUT)
        except Terminated:
            self._fail(ctx, "terminated (SIGTERM)", EXIT_TERMINATED, traceback_ok=False)
        except KeyboardInterrupt:
            self._fail(ctx, "interrupted", EXIT_INTERRUPTED, traceback_ok=False)
        except Exception as e:  # noqa: BLE001 - the one place that reports unexpected failures
            msg = _one_line(f"{type(e).__name__}: {e}")
            if not _state().debug:
                msg += " (run with --debug for the traceback)"
            self._fail(ctx, msg, EXIT_FAILURE)

    @staticmethod
    def _fail(ctx: click.Context, message: str, code: int, traceback_ok: bool = True):
        if _state().debug and traceback_ok:
            traceback.print_exc(file=sys.stderr)
        click.secho(f"error: {message}", fg="red", err=True)
        ctx.exit(code)


EXIT_CODES_EPILOG = """\b
Exit codes:
  0    success
  1    unexpected failure (a bug, a full disk): one 'error:' line; --debug shows the traceback
  2    bad input: missing or malformed file, unknown element, impossible option
       (one 'error:' line, nothing written); batch: another run writes into the same --out
  130  interrupted (Ctrl-C): one line; batch keeps complete results, a rerun resumes
  141  the reader of the output went away (e.g. '| head'): stopped quietly
  143  terminated (SIGTERM): stopped as after Ctrl-C
"""


@click.group(cls=PixlspecGroup, context_settings=CONTEXT_SETTINGS, epilog=EXIT_CODES_EPILOG)
@click.version_option(__version__, "--version", prog_name="pixlspec")
@click.option("-v", "--verbose", count=True, help="More messages (repeat for debug logging).")
@click.option("-q", "--quiet", count=True, help="Fewer messages (only errors).")
@click.option("--debug", is_flag=True, help="Show the traceback of errors.")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: int, debug: bool) -> None:
    """pixlspec: X-ray fluorescence spectra of PIXL (Mars 2020).

    Start with 'pixlspec demo': the whole path (fit, map, quantify, salts,
    sample candidates) on the shipped example data, with a report.

    \b
    Examples:
      pixlspec demo                                   # -> pixlspec-demo/report.html
      pixlspec info example_data/sol0125_naltsos.h5
      pixlspec fit example_data/sol0125_naltsos.h5 --out fit-sum/
      pixlspec quant example_data/sol0125_naltsos.h5
      pixlspec map example_data/sol0125_naltsos.h5 --out maps/ --rgb Fe,Ca,S
      pixlspec salts scan.h5 --out salts/
      pixlspec COMMAND --help
    """
    # the command line only writes figure files: a non-interactive backend for this process
    # (the library itself never selects one; an explicit MPLBACKEND wins)
    os.environ.setdefault("MPLBACKEND", "Agg")
    state = CLIState(verbosity=verbose - quiet, debug=debug)
    ctx.obj = state
    level = (logging.DEBUG if debug or state.verbosity >= 2 else logging.INFO if state.verbosity == 1
             else logging.WARNING if state.verbosity == 0 else logging.ERROR)
    _configure_logging(level)


class _CLIHandler(logging.StreamHandler):
    """The log handler ``pixlspec`` installs on the ``pixlspec`` logger (one at a time)."""


def _configure_logging(level: int) -> None:
    """Send ``pixlspec`` log records of ``level`` and above to the current stderr."""
    # Python warnings go through logging too, so -q silences them like the log messages
    logging.captureWarnings(True)
    for name in ("pixlspec", "py.warnings"):
        logger = logging.getLogger(name)
        for h in [h for h in logger.handlers if isinstance(h, _CLIHandler)]:
            logger.removeHandler(h)
        handler = _CLIHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s" if name == "pixlspec"
                                               else "%(levelname)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(level)
        if name == "py.warnings":
            logger.propagate = False


def _json_text(obj) -> str:
    """Strict JSON (never NaN/Infinity: null, with the reason under ``null_reasons``) and a newline."""
    from .io.jsontext import strict_json

    return strict_json(obj) + "\n"


def _refuse_overwrite(paths, overwrite: bool) -> None:
    """Bad input (exit 2, nothing written) when an output file exists and ``--overwrite`` is not given."""
    if overwrite:
        return
    for p in paths:
        if os.path.lexists(p):
            raise PixlspecError("exists; pass --overwrite to replace it", path=p)


OVERWRITE_HELP = "Replace existing output files (default: refuse, exit 2, write nothing)."


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


def describe_scan(scan, path: str, kind: str) -> dict[str, Any]:
    """Summary of a scan as a JSON-friendly dict (what ``pixlspec info`` prints).

    Reads every spectrum once, chunk by chunk, for the counts per point.
    """
    import numpy as np

    from .io.convert import INPUT_KINDS
    from .io.jsontext import jsonable

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
           "point_ids": ([jsonable(scan.point_ids[0]), jsonable(scan.point_ids[-1])]
                         if scan.n_points else None),
           "metadata": jsonable(scan.metadata)}
    if kind == "hdf5":
        from .io.hdf5 import read_process

        out["file_info"] = jsonable(read_process(path))
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
        click.echo(_json_text(descriptions), nl=False)
        return
    console = _pipe_console(file=sys.stdout, highlight=False, soft_wrap=True)
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
              help="Scan file to write (.h5, .hdf5 or .nxs), atomically; an existing one only with --overwrite.")
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
@click.option("--overwrite", is_flag=True, help=OVERWRITE_HELP)
def convert(inputs: tuple[str, ...], output: str, instrument_path: str | None, compression: str | None,
            chunk_points: int | None, provenance_items: tuple[str, ...], overwrite: bool) -> None:
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
    _refuse_overwrite([output], overwrite)
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

    if _is_results_file(path):
        raise PixlspecError("a results file of element maps holds areas, not spectra: give the scan it was made "
                            "from ('pixlspec salts' and 'pixlspec map' read results files)", path=path)
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
    from .fit.config import FitConfig
    from .fit.single import fit_spectrum

    if out_dir:
        _refuse_overwrite([os.path.join(out_dir, n) for n in FIT_OUTPUTS], overwrite)
    instrument = _load_instrument(instrument_path)
    spec = _spectrum_for_fit(input_path, point, detector, instrument)
    els = [e.strip() for e in elements.split(",") if e.strip()] if elements else None
    result = fit_spectrum(spec, elements=els, instrument=instrument, config=FitConfig(background=background))
    table = _areas_csv(result)
    if out_dir:
        import matplotlib.pyplot as plt

        from .report import staged_dir

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
        _say(f"wrote {os.path.join(out_dir, 'fit.png')}, fit.json and areas.csv")


#: Files ``fit --out DIR`` writes.
FIT_OUTPUTS = ("fit.json", "areas.csv", "fit.png")


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
    from .batch import run_batch_console
    from .fit.config import FitConfig

    instrument = _load_instrument(instrument_path)
    els = [e.strip() for e in elements.split(",") if e.strip()] if elements else None
    if els is not None and not els:
        raise PixlspecError(f"--elements expects a comma-separated list, got {elements!r}")
    console = _stdout_console()
    console.quiet = _state().verbosity < 0
    ctx = click.get_current_context()
    try:
        with _sigterm_stops_cleanly():
            report = run_batch_console(list(inputs), out_dir, console=console, err_console=_stderr_console(),
                                       show_progress=_state().verbosity >= 0, instrument=instrument,
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


# --- shared helpers of the analysis commands ---------------------------------------
def _stderr_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


@functools.cache
def _pipe_console_class():
    from rich.console import Console

    class PipeConsole(Console):
        """A rich console whose closed pipe ends the command like any other (exit 141, quietly)."""

        def on_broken_pipe(self) -> None:
            # rich's default exits with 1 on its own; PixlspecGroup handles it for every command
            raise BrokenPipeError(errno.EPIPE, "the reader of the output went away")

    return PipeConsole


def _pipe_console(**kwargs):
    """A rich console (see :func:`_pipe_console_class`)."""
    return _pipe_console_class()(**kwargs)


def _stdout_console():
    """Rich console on stdout; wide when piped so table rows stay one line each."""
    console = _pipe_console(file=sys.stdout, highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console.width = max(console.width, PIPE_WIDTH)
    return console


class _NoProgress:
    """Stands in for a rich Progress when none is shown (pipes, -q, tests)."""

    def add_task(self, *args, **kwargs) -> int:
        return 0

    def update(self, *args, **kwargs) -> None:
        pass

    def advance(self, *args, **kwargs) -> None:
        pass


@contextlib.contextmanager
def _progress():
    """A rich progress bar on stderr while long work runs (only on a terminal and without -q).

    The bar is transient: it disappears when the work is done, so the one
    ``error:`` line of a failure stays alone on stderr.
    """
    console = _stderr_console()
    if _state().verbosity < 0 or not console.is_terminal:
        yield _NoProgress()
        return
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                               TimeElapsedColumn)

    with Progress(SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True) as progress:
        yield progress


def _split_list(text: str | None, what: str) -> list[str]:
    items = [e.strip() for e in (text or "").split(",") if e.strip()]
    if text is not None and not items:
        raise PixlspecError(f"{what} expects a comma-separated list, got {text!r}")
    return items


def _check_elements(names: list[str], what: str = "--elements") -> list[str]:
    """Validate element / group names ("Fe", "Pb_L"): unknown symbols are a bad input."""
    from .physics.elements import check_element

    for name in names:
        try:
            check_element(name.split("_")[0])
        except PixlspecError as e:
            raise PixlspecError(f"{what}: {e.message}") from None
    return names


def _load_calibration(path: str | None, instrument=None):
    if path is None:
        return None
    from .quant.calibration import load_calibration

    if not os.path.lexists(path):
        raise PixlspecError("no such calibration file", path=path)
    return load_calibration(path, instrument=instrument)


def _balance(value: str) -> str | None:
    return None if value.lower() == "none" else value


def _is_results_file(path: str) -> bool:
    """True for an HDF5 results file of the map fit (``/entry/maps``), complete or not."""
    if not (os.path.isfile(path) and path.lower().endswith((".h5", ".hdf5", ".nxs"))):
        return False
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return "entry/maps" in f or "entry/results/areas" in f
    except (OSError, RuntimeError, ValueError, KeyError):   # damaged: the scan reader reports it
        return False


def _scan_stem(path: str) -> str:
    stem = os.path.splitext(os.path.basename(os.path.normpath(path)))[0]
    for suffix in ("_maps", "_results"):
        if stem.endswith(suffix) and len(stem) > len(suffix):
            stem = stem[: -len(suffix)]
    return stem


def _fit_maps(path: str, instrument, detector: str | None, elements: list[str] | None, progress, label: str):
    """Element maps of a scan (fitted, with a progress bar by points) or read from a results file."""
    from .fit.maps import fit_map
    from .io.convert import read_scan
    from .io.results import read_maps

    if _is_results_file(path):
        task = progress.add_task(f"reading {label}", total=None)
        maps = read_maps(path)
        progress.update(task, total=1, completed=1)
        return maps, False
    scan = read_scan(path, instrument=instrument)
    try:
        task = progress.add_task(f"fitting {label}", total=scan.n_points * max(1, len(scan.detectors)))
        maps = fit_map(scan, elements=elements, instrument=instrument,
                       detector=None if detector in (None, "auto", "A+B") else detector,
                       progress=lambda n: progress.advance(task, n))
        progress.update(task, completed=scan.n_points * max(1, len(scan.detectors)))
    finally:
        scan.close()
    return maps, True


def _composition_of(path: str, *, instrument, calibration, balance: str | None, detector, progress, label: str):
    """(maps or None, composition, fitted) of a scan or a results file (stored composition preferred).

    ``balance`` None: the policy of :func:`pixlspec.pipeline.quantify_maps` (the one the demo uses).
    """
    from .pipeline import AUTO_BALANCE, quantify_maps, stored_composition

    if _is_results_file(path) and calibration is None and balance is None:
        comp = stored_composition(path)
        if comp is not None:
            return None, comp, False
    maps, fitted = _fit_maps(path, instrument, detector, None, progress, label)
    task = progress.add_task(f"quantifying {label}", total=None)
    comp = quantify_maps(maps, calibration=calibration,
                         balance=AUTO_BALANCE if balance is None else _balance(balance))
    if balance is None and calibration is None and comp.balance is None:
        log.info("%s: uncalibrated totals far from 100 %%; quantified without an invisible balance", label)
    progress.update(task, total=1, completed=1)
    return maps, comp, fitted


def _minerals(comp, normalise: bool | None, name: str):
    """identify_salts on a composition map; warnings become notes (returned, not printed)."""
    import warnings

    from .minerals.salts import identify_salts
    from .pipeline import minerals_input

    table, note = minerals_input(comp, normalise=normalise, name=name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        salts = identify_salts(table)
    notes = [note] if note else []
    for text in list(salts.notes) + [str(w.message) for w in caught]:  # unless said already
        text = _one_line(text)
        if "not evaluated" in text or (note and "normalised" in text) or any(text in n for n in notes):
            continue
        notes.append(text)
    return salts, list(dict.fromkeys(notes))


def _csv_text(headers: list[str], rows: list[list]) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(headers)
    w.writerows(rows)
    return buf.getvalue()


def _rich_table(headers: list[str], rows: list[list], right: str = "", title: str | None = None):
    from rich.table import Table

    table = Table(box=None, pad_edge=False, padding=(0, 1), title=title, title_justify="left",
                  title_style="bold")
    for i, h in enumerate(headers):
        table.add_column(h, justify="right" if i < len(right) and right[i] == "r" else "left",
                         overflow="fold")
    for r in rows:
        table.add_row(*[str(c) for c in r])
    return table


def _num(v: float) -> str:
    """wt% for a terminal table: 3 decimals, small values with 2 significant digits."""
    import math

    if v is None or not math.isfinite(v):
        return "nan"
    if v == 0 or abs(v) >= 0.01:
        return f"{v:.3f}"
    return f"{v:.1e}"


def _g(v: float, nd: int = 4) -> str:
    import math

    return "nan" if v is None or not math.isfinite(v) else f"{v:.{nd}g}"


# --- quant -------------------------------------------------------------------------------
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
    total is a diagnostic (the sol-125 bulk sums read 121-134 wt%).
    --calibration takes a pixlspec calibration JSON or a PIQUANT ECF table
    (e.g. Calibration_PIXL_FM_SurfaceOps_5minECFs_Rev1_Jul2021.csv), decided
    by content.

    \\b
    Examples:
      pixlspec quant example_data/sol0125_naltsos.h5 --normalise
      pixlspec quant scan.h5 --point 12 --calibration pixl_fm_cal.json --format csv
      pixlspec quant point.msa --balance CO2 --format json
    """
    from .fit.single import fit_spectrum
    from .quant.quantify import quantify

    els = _check_elements(_split_list(elements, "--elements")) if elements else None
    instrument = _load_instrument(instrument_path)
    calibration = _load_calibration(calibration_path, instrument)
    if instrument is None and calibration is not None:
        instrument = calibration.instrument
    spec = _spectrum_for_fit(input_path, point, detector, instrument)
    with _progress() as progress:
        task = progress.add_task("fitting the spectrum", total=None)
        fit_result = fit_spectrum(spec, elements=els, instrument=instrument)
        progress.update(task, description="quantifying")
        comp = quantify(fit_result, instrument=instrument, calibration=calibration, fe_oxide=fe_oxide,
                        normalise=normalise, balance=_balance(balance))
    if fmt == "json":
        click.echo(_json_text(comp.to_dict()), nl=False)
        return
    headers = ["oxide", "wt%", "sigma", "lod", "detected"]
    rows = [[ox, _g(v), _g(comp.sigma[ox]), _g(comp.lod[ox]), comp.detected.get(ox, True)]
            for ox, v in comp.oxide_wt.items()]
    if fmt == "csv":
        click.echo(_csv_text(headers + ["total"], [r + [""] for r in rows]
                             + [["total", _g(comp.total), "", "", "", _g(comp.total)]]), nl=False)
        return
    console = _stdout_console()
    where = f"point {point}" if point is not None else "sum spectrum"
    console.print(f"[bold]{input_path}[/bold] {where}, detector {comp.detector}, {comp.live_time_s:.4g} s live; "
                  f"{'calibrated' if comp.calibrated else 'uncalibrated FP'}"
                  + (f", balance {comp.balance}" if comp.balance else ""))
    table_rows = [[ox, _num(v), _num(comp.sigma[ox]), _num(comp.lod[ox]),
                   "" if comp.detected.get(ox, True) else "< LOD"] for ox, v in comp.oxide_wt.items()]
    table_rows.append(["total", f"{comp.total:.2f}", "", "", "normalised to 100" if comp.normalised else ""])
    console.print(_rich_table(["oxide", "wt%", "1σ", "LOD", ""], table_rows, right="lrrr"))
    for flag in comp.flags:
        console.print(f"[yellow]flag:[/yellow] {flag}", highlight=False)


# --- map ---------------------------------------------------------------------------------------
def _parse_pair(text: str, what: str) -> tuple[float, float]:
    parts = _split_list(text, what)
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise PixlspecError(f"{what} expects two numbers LO,HI, got {text!r}") from None
    return lo, hi


def _colour_limits(values, vmin, vmax, percentiles, log: bool) -> tuple[float, float]:
    import numpy as np

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if log:
        v = v[v > 0]
    lo, hi = (np.percentile(v, percentiles) if v.size else (1.0, 10.0))
    lo = float(lo) if vmin is None else vmin
    hi = float(hi) if vmax is None else vmax
    if log and lo <= 0:
        lo = hi / 1e3 if hi > 0 else 1e-3
    if hi <= lo:
        hi = lo * 10 if log else lo + (abs(lo) or 1.0)
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
@click.option("--vmin", type=float, default=None, help="Lower colour limit (default: lower percentile).")
@click.option("--vmax", type=float, default=None, help="Upper colour limit (default: upper percentile).")
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

    \\b
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
        t = _check_elements(_split_list(item, "--rgb"), "--rgb")
        if len(t) != 3:
            raise PixlspecError(f"--rgb takes three elements (red, green, blue), got {item!r}")
        triples.append(t)
    wanted = None
    if elements and elements.strip().lower() != "all":
        wanted = _check_elements(_split_list(elements, "--elements"))
    if detector not in (None, "A", "B", "A+B"):
        raise PixlspecError(f"--detector must be A, B or A+B, got {detector!r}")
    instrument = _load_instrument(instrument_path)
    with _sigterm_stops_cleanly():
        _map_files(input_path, out_dir, instrument, detector, wanted, elements, triples, units, log_scale, cmap,
                   vmin, vmax, (plo, phi), overwrite)


def _map_files(input_path: str, out_dir: str, instrument, detector, wanted, elements, triples, units: str,
               log_scale: bool, cmap: str, vmin, vmax, percentiles: tuple[float, float], overwrite: bool) -> None:
    """The work of ``map`` once its options are checked (fit or read, then the PNGs, staged)."""
    import numpy as np

    from .plot_maps import plot_chi2
    from .report import staged_dir

    plo, phi = percentiles
    with _progress() as progress:
        maps, fitted = _fit_maps(input_path, instrument, detector, None, progress, os.path.basename(input_path))
    for name in (wanted or []) + [e for t in triples for e in t]:
        if name not in maps.point_areas:
            raise PixlspecError(f"no map of {name!r}; the maps hold {', '.join(maps.columns)}", path=input_path)
    if wanted is None:
        if elements:  # "all"
            wanted = list(maps.elements)
        else:
            wanted = []
            for el in maps.elements:
                a, s = maps.point_areas[el][maps.valid], maps.point_sigma[el][maps.valid]
                ok = np.isfinite(a) & np.isfinite(s) & (s > 0)
                if ok.any() and np.mean(a[ok] / s[ok] >= DETECTED_SIGMAS) >= DETECTED_FRACTION:
                    wanted.append(el)
    import matplotlib.pyplot as plt

    written = []
    with staged_dir(out_dir, overwrite=overwrite) as tmp:
        if fitted:
            name = f"{_scan_stem(input_path)}_maps.h5"
            maps.to_hdf5(os.path.join(tmp, name), provenance={"made_by": "pixlspec map"})
            written.append(name)
        for el in wanted:
            if units == "cps":
                vals = maps.counts_per_sec(el, points=True)
            else:
                vals = maps.point_areas[el]
            lims = _colour_limits(vals[maps.valid], vmin, vmax, (plo, phi), log_scale)
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
    _say(f"wrote {len(written)} files into {out_dir}: {', '.join(written)}")


# --- salts ----------------------------------------------------------------------------------------
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

    \\b
    Examples:
      pixlspec salts example_data/sol0125_naltsos.h5
      pixlspec salts pixlspec-demo/simulated_salts_results.h5 --out salts/
      pixlspec salts scan.h5 --balance CO2 --calibration cal.json --format json
    """
    from .report import staged_dir

    if detector not in (None, "A", "B", "A+B"):
        raise PixlspecError(f"--detector must be A, B or A+B, got {detector!r}")
    instrument = _load_instrument(instrument_path)
    calibration = _load_calibration(calibration_path, instrument)
    name = _scan_stem(input_path)
    with _progress() as progress:
        maps, comp, fitted = _composition_of(input_path, instrument=instrument, calibration=calibration,
                                             balance=balance, detector=detector, progress=progress,
                                             label=name)
        task = progress.add_task("classifying points", total=None)
        found, notes = _minerals(comp, normalise, name)
        progress.update(task, total=1, completed=1)
    rows = _detection_rows(found)
    if out_dir:
        import matplotlib.pyplot as plt

        from .minerals.plots import plot_phase_map

        with staged_dir(out_dir, overwrite=overwrite) as tmp:
            if fitted:
                res = os.path.join(tmp, f"{name}_results.h5")
                maps.to_hdf5(res, provenance={"made_by": "pixlspec salts"})
                comp.to_hdf5(res)
            from .io.atomic import atomic_write_text

            atomic_write_text(os.path.join(tmp, "salts.json"), _json_text({**found.to_dict(), "notes_cli": notes}))
            atomic_write_text(os.path.join(tmp, "salts.csv"), _csv_text(DETECTION_HEADERS, rows))
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fig = plot_phase_map(found, title=f"Phases — {name} (salt detections numbered)")
            fig.savefig(os.path.join(tmp, "phase_map.png"), dpi=110, bbox_inches="tight")
            plt.close(fig)
    if fmt == "json":
        click.echo(_json_text({**found.to_dict(), "notes_cli": notes}), nl=False)
    elif fmt == "csv":
        click.echo(_csv_text(DETECTION_HEADERS, rows), nl=False)
    else:
        console = _stdout_console()
        pm = found.phase_map
        console.print(f"[bold]{input_path}[/bold]: {len(found)} salt detection{'s' if len(found) != 1 else ''} "
                      f"over {pm.n_points} points ({found.geometry.kind})")
        if rows:
            console.print(_rich_table(["#", "salt", "end-member", "points", "area mm²", "x mm", "y mm",
                                       "confidence", "total wt%"], rows, right="rllrrrrrr"))
        console.print("phases: " + ", ".join(f"{k} {v}" for k, v in pm.counts().items()), highlight=False)
        for fam, why in found.not_evaluated.items():
            console.print(f"[yellow]not evaluated:[/yellow] {fam}: {why}", highlight=False)
        for note in notes:
            console.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    if out_dir:
        _say(f"wrote {os.path.join(out_dir, 'phase_map.png')}, salts.json, salts.csv"
             + (f" and {name}_results.h5" if fitted else ""))


# --- rank -------------------------------------------------------------------------------------------
def _parse_weights(text: str | None) -> dict[str, float] | None:
    if text is None:
        return None
    from .minerals.candidates import DEFAULT_WEIGHTS

    names = list(DEFAULT_WEIGHTS)
    out = {}
    for item in _split_list(text, "--weights"):
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

    \\b
    Examples:
      pixlspec rank pixlspec-demo/naltsos_results.h5 pixlspec-demo/simulated_salts_results.h5
      pixlspec rank results/*_maps.h5 --weights aqueous=0.4,diversity=0 --format csv
      pixlspec rank a.h5 b.h5 --collected last_core_maps.h5 --format json
    """
    from .minerals.candidates import rank_sample_candidates

    w = _parse_weights(weights)
    calibration = _load_calibration(calibration_path)
    for path in list(inputs) + list(collected):
        if not os.path.exists(path):
            raise PixlspecError("no such file or folder", path=path)
    targets, refs = {}, []
    with _progress() as progress:
        for group, dest in ((inputs, "t"), (collected, "c")):
            for path in group:
                name = _scan_stem(path)
                _, comp, _ = _composition_of(path, instrument=None, calibration=calibration,
                                             balance=balance, detector=None, progress=progress,
                                             label=name)
                found, _ = _minerals(comp, None, name)
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
        click.echo(_json_text(ranking.to_dict()), nl=False)
        return
    if fmt == "csv":
        click.echo(_csv_text(["rank", "target", "score"] + subs, rows), nl=False)
        return
    console = _stdout_console()
    console.print("[bold]Sample candidates[/bold] (weights: "
                  + ", ".join(f"{k} {v:.2f}" for k, v in ranking.weights.items()) + ")", highlight=False)
    console.print(_rich_table(["#", "target", "score"] + [k.replace("_", " ") for k in subs], rows,
                              right="rlr" + "r" * len(subs)))
    for c in ranking:
        console.print(f"[bold]#{c.rank} {c.name}[/bold]", highlight=False)
        for reason in c.reasons:
            console.print(f"  - {reason}", highlight=False)


# --- simulate -----------------------------------------------------------------------------------------
def _composition_arg(text: str):
    """--composition: a phase of the example scene, KEY=WT pairs, or a formula."""
    from .physics.attenuation import parse_composition
    from .quant.example_scan import PHASES

    if text in PHASES:
        comp = PHASES[text]
    elif "=" in text:
        comp = {}
        for item in _split_list(text, "--composition"):
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
                   "or oxide wt% pairs (SiO2=49.9,FeO=11.1,...).")
@click.option("--shape", default="16x16", show_default=True, metavar="NYxNX", help="Scan size in points.")
@click.option("--live-time", type=click.FloatRange(min=0, min_open=True), default=None,
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

    \\b
    Examples:
      pixlspec simulate basalt.msa --live-time 30
      pixlspec simulate gypsum.msa --composition "CaSO4·2H2O" --seed 3
      pixlspec simulate salts.h5 --shape 24x24
      pixlspec simulate uniform.h5 --scene uniform --composition SiO2=50,FeO=20,MgO=30 --shape 8x8
    """
    from .io.atomic import atomic_path
    from .io.hdf5 import SCAN_FILE_SUFFIXES

    ext = os.path.splitext(output)[1].lower()
    if ext not in (".msa",) + tuple(SCAN_FILE_SUFFIXES):
        raise PixlspecError(f"the output must end in .msa (a spectrum) or {', '.join(SCAN_FILE_SUFFIXES)} "
                            "(a scan)", path=output)
    base = os.path.splitext(output)[0]
    _refuse_overwrite([output, base + ("_truth.json" if ext == ".msa" else "_truth.csv")], overwrite)
    if ext == ".msa":
        from .io.msa import write_msa
        from .simulate import simulate_spectrum

        comp = _composition_arg(composition)
        spec = simulate_spectrum(composition=comp, live_time_s=live_time or 10.0, detector=detector, seed=seed)
        truth = dict(spec.metadata["truth"])
        truth.pop("expected", None)
        truth.pop("continuum", None)
        from .quant.quantify import reference_oxides

        truth["oxide_wt"] = reference_oxides(comp if isinstance(comp, dict) else {comp: 100.0})
        truth.update({"live_time_s": spec.live_time_s, "detector": spec.detector, "seed": seed,
                      "instrument": spec.instrument.name if spec.instrument else None})
        truth_path = base + "_truth.json"
        with atomic_path(output) as tmp_out, atomic_path(truth_path) as tmp_truth:
            write_msa(spec, tmp_out)
            with open(tmp_truth, "w", encoding="utf-8") as fh:
                fh.write(_json_text(truth))
        _say(f"wrote {output} ({spec.counts.sum():.4g} counts, {spec.live_time_s:g} s live, detector "
             f"{spec.detector}) and {truth_path}")
        return
    try:
        ny, nx = (int(v) for v in shape.lower().split("x"))
    except ValueError:
        raise PixlspecError(f"--shape expects NYxNX, e.g. 16x16, got {shape!r}") from None
    if not (1 <= ny <= 512 and 1 <= nx <= 512):
        raise PixlspecError(f"--shape must be 1..512 points per side, got {shape}")
    from .io.hdf5 import write_scan

    live = live_time or 0.7
    truth_path = base + "_truth.csv"
    with _progress() as progress:
        task = progress.add_task(f"simulating {ny}x{nx} points", total=None)
        if scene == "salts":
            if ny < 4 or nx < 4:
                raise PixlspecError(f"--scene salts needs at least 4x4 points, got {shape}")
            from .quant.example_scan import make_scan, write_truth_csv

            scan, truth = make_scan(ny, nx, seed=seed, live_time_s=live)
        else:
            from .simulate import simulate_scan

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
                keys = [k for k in scan.point_metadata if k.startswith("truth_")]
                pos = scan.positions_mm
                rows = [[i, f"{pos[i, 0]:.4f}", f"{pos[i, 1]:.4f}"]
                        + [f"{float(scan.point_metadata[k][i]):.6g}" for k in keys] for i in range(scan.n_points)]
                with open(tmp_truth, "w", encoding="utf-8", newline="") as fh:
                    fh.write(_csv_text(["point", "x_mm", "y_mm"] + [k[len("truth_"):] for k in keys], rows))
    _say(f"wrote {output} ({ny}x{nx} points, detectors {'+'.join(scan.detectors)}, {live:g} s live per point) "
         f"and {truth_path}")


# --- demo -----------------------------------------------------------------------------------------------
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

    \\b
    Examples:
      pixlspec demo
      pixlspec demo --out /tmp/demo --size 16x16
      pixlspec demo --data path/to/example_data --calibration pixl_fm_cal.json
    """
    from .demo import DEFAULT_SIM_SHAPE, run_demo

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
    calibration = _load_calibration(calibration_path)
    with _progress() as progress:
        task = progress.add_task("pixlspec demo", total=None)

        def on_step(desc: str, i: int, n: int) -> None:
            progress.update(task, description=desc, completed=i, total=n)
            log.info("demo: %s", desc)

        result = run_demo(out_dir, data_dir=data_dir, sim_shape=sim_shape, calibration=calibration,
                          progress=on_step)
    console = _stdout_console()
    console.print(f"[bold]pixlspec demo[/bold]: {len(result.targets)} targets in "
                  f"{result.timings['total']:.1f} s", highlight=False)
    rows = []
    for t in result.targets:
        found = ", ".join(f"{len(v)} {k}" for k, v in t.salts.by_phase().items()) or "none"
        cand = next(c for c in result.ranking if c.name == t.name)
        rows.append([t.name, t.maps.n_points, f"{t.maps.median_chi2_reduced:.2f}", found,
                     f"#{cand.rank} ({cand.score:.2f})"])
    console.print(_rich_table(["target", "points", "χ²ᵣ", "salts found", "candidate"], rows, right="lrrll"))
    console.print(f"results, figures and report in [bold]{out_dir}/[/bold]; open {result.report_html}",
                  highlight=False)



# --- export / compare -----------------------------------------------------------------------------------
@main.command()
@click.argument("results", metavar="RESULTS")
@click.option("--format", "fmt", type=click.Choice(["piquant-csv", "csv", "tiff", "msa"]), required=True,
              help="piquant-csv: PIQUANT's map CSV (per-point oxide wt%, PIXLISE loads it); csv: the element "
                   "maps, one row per point; tiff: one float32 TIFF per element with the pixel size; msa: the "
                   "sum spectra and their fitted model.")
@click.option("-o", "--out", "out", required=True, metavar="PATH",
              help="Output file (piquant-csv, csv) or folder (tiff, msa).")
@click.option("--units", type=click.Choice(["cps", "counts"]), default="cps", show_default=True,
              help="Units of the element maps (csv, tiff).")
@click.option("--per-detector", is_flag=True,
              help="piquant-csv: also quantify detectors A and B separately and write their rows.")
def export(results: str, fmt: str, out: str, units: str, per_detector: bool) -> None:
    """Export a results file for PIXLISE, PyMca/PyXRF, image programs or spreadsheets.

    RESULTS is a results file (`pixlspec batch`, `pixlspec demo`, `salts --out`).
    piquant-csv needs its stored composition (/entry/composition).

    \b
    Examples:
      pixlspec export pixlspec-demo/naltsos_results.h5 --format piquant-csv -o naltsos_quant.csv
      pixlspec export pixlspec-demo/naltsos_results.h5 --format tiff -o tiffs/
      pixlspec export results/scan_maps.h5 --format csv -o scan_maps.csv --units counts
    """
    from .io.export import export_results

    if not os.path.isfile(results):
        raise PixlspecError("no such results file", path=results)
    written = export_results(results, fmt, out, units=units, per_detector=per_detector)
    _say(f"wrote {len(written)} file{'s' if len(written) != 1 else ''}: " + ", ".join(written[:4])
         + (" ..." if len(written) > 4 else ""))


def _composition_maps(path: str) -> dict:
    """Detector -> CompositionMap of a PIQUANT map CSV or of a results file's stored composition."""
    from .io.export import read_piquant_maps
    from .io.results import read_composition_map

    if not os.path.isfile(path):
        raise PixlspecError("no such file", path=path)
    if _is_results_file(path):
        comp = read_composition_map(path)
        return {comp.detector: comp}
    return read_piquant_maps(path)


@main.command()
@click.argument("a_path", metavar="A")
@click.argument("b_path", metavar="B")
@click.option("--detector", default=None, metavar="A|B|A+B",
              help="Detector to compare [default: A+B if both have it, else the one they share].")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text", show_default=True,
              help="Output: a table, JSON or CSV rows.")
def compare(a_path: str, b_path: str, detector: str | None, fmt: str) -> None:
    """Compare two composition maps point by point: per-oxide bias and scatter of B - A.

    A and B are PIQUANT map CSVs (as PIXLISE exports them, or `pixlspec export
    --format piquant-csv`) or results files with a composition. Points are
    matched by PMC; bias = mean(B - A), scatter = standard deviation of B - A
    (wt%), rel. bias = bias / mean(A).

    \b
    Examples:
      pixlspec compare piquant_map.csv pixlspec-demo/naltsos_results.h5
      pixlspec compare a.csv b.csv --detector A --format csv
    """
    from .io.export import compare_compositions, detector_label

    ca, cb = _composition_maps(a_path), _composition_maps(b_path)
    if detector is not None:
        det = detector_label(detector)
        for path, c in ((a_path, ca), (b_path, cb)):
            if det not in c:
                raise PixlspecError(f"no detector {detector!r} (the file holds {', '.join(map(repr, c))})",
                                    path=path)
    else:
        common = [d for d in ca if d in cb]
        if not common and len(ca) == 1 and len(cb) == 1:
            common = [None]
        if not common:
            raise PixlspecError(f"{a_path} holds detectors {list(ca)}, {b_path} {list(cb)}: none in common; "
                                "pass --detector")
        det = "A+B" if "A+B" in common else common[0]
    a = ca[det] if det is not None else next(iter(ca.values()))
    b = cb[det] if det is not None else next(iter(cb.values()))
    rows = compare_compositions(a, b)
    headers = ["oxide", "n", "mean_A", "mean_B", "bias", "scatter", "rel_bias_pct"]
    table = [[r.oxide, r.n, _g(r.mean_a), _g(r.mean_b), _g(r.bias), _g(r.scatter), _g(100 * r.rel_bias, 3)]
             for r in rows]
    if fmt == "json":
        click.echo(_json_text({"a": a_path, "b": b_path, "detector": det, "rows": [r.to_dict() for r in rows]}),
                   nl=False)
    elif fmt == "csv":
        click.echo(_csv_text(headers, table), nl=False)
    else:
        console = _stdout_console()
        console.print(f"[bold]B - A[/bold] per oxide, detector {det or '?'}: A = {a_path}, B = {b_path}",
                      highlight=False)
        console.print(_rich_table(["oxide", "points", "mean A", "mean B", "bias", "scatter", "rel. bias %"],
                                  table, right="lrrrrrr"))


if __name__ == "__main__":  # pragma: no cover
    main()


# --- diffraction ------------------------------------------------------------------------------------------
@main.command()
@click.argument("scan_path", metavar="SCAN")
@click.option("--out", "out_csv", metavar="CSV", help="Write the table of peaks (one row per peak).")
@click.option("--figure", "figure", metavar="PNG",
              help="Write the figure: diffraction counts per point and the strongest peak in both detectors.")
@click.option("--threshold", type=float, default=None, metavar="SIGMA",
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
    from .fit.diffraction import DEFAULT_THRESHOLD_SIGMA, find_diffraction_peaks
    from .io.convert import read_scan

    _refuse_overwrite([p for p in (out_csv, figure) if p], overwrite)
    scan = read_scan(scan_path, instrument=_load_instrument(instrument_path))
    try:
        peaks = find_diffraction_peaks(scan, threshold_sigma=threshold if threshold is not None
                                       else DEFAULT_THRESHOLD_SIGMA)
        click.echo(peaks.report())
        if out_csv:
            peaks.to_csv(out_csv)
            _say(f"table written to {out_csv}")
        if figure:
            fig = peaks.plot(scan)
            fig.savefig(figure, dpi=120)
            _say(f"figure written to {figure}")
    finally:
        scan.close()
