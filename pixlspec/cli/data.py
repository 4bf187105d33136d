"""Commands about files: ``info``, ``convert``, ``export``, ``compare``."""
from __future__ import annotations

import os
import sys
from typing import Any

import click

from ..errors import PixlspecError
from .app import log, main
import hashlib
import json

from .. import __version__
from .app import one_line
from .common import OVERWRITE_HELP, json_text, load_instrument, refuse_input_as_output, refuse_overwrite, say
from .render import csv_text, fmt_g, pipe_console, rich_table, stdout_console

__all__ = ["info", "convert", "export", "compare"]


#: Longest metadata text shown by ``info`` in text format.
MAX_METADATA_CHARS = 160

#: Order of the summary statistics in ``info`` tables.
STAT_KEYS = ("min", "median", "max")


def _print_results_description(d: dict[str, Any], console) -> None:
    """``pixlspec info`` of a results file (:func:`pixlspec.io.describe.describe_results`)."""
    def stats(s, fmt=".3g"):
        return f"{s['min']:{fmt}} / {s['median']:{fmt}} / {s['max']:{fmt}}"

    g = d["grid"]
    rows = [("type", d["type_description"]),
            ("points", f"{d['points']} ({d['valid_points']} fitted)"
             + (f", ids {d['point_ids'][0]}..{d['point_ids'][1]}" if d.get("point_ids") else "")),
            ("grid", f"{g['kind']} {g['shape'][0]} x {g['shape'][1]}, step {g['step_mm']:.3f} mm" if g else "-"),
            ("detector", d["detector"] + (f" (and {', '.join(d['detectors_separately'])} separately)"
                                          if d["detectors_separately"] else "")),
            ("source", str(d["source"] or "-")),
            ("instrument", str(d["instrument"] or "-")),
            ("maps", ", ".join(d["columns"])),
            ("χ²ᵣ", stats(d["chi2_reduced_points"]) + " per point (min / median / max)")]
    for det, f in d["sum_fits"].items():
        rows.append((f"sum fit {det}", f"χ²ᵣ {f['chi2_reduced']:.3g}, live time {f['live_time_s']:.1f} s"))
    info = d.get("file_info") or {}
    if "program" in info:
        rows.append(("written by", f"{info.get('program')} {info.get('version', '')} on {info.get('date', '?')}"))
    c = d["composition"]
    if c is None:
        rows.append(("composition", "none stored"))
    else:
        how = ", ".join(w for w, on in (("calibrated", c["calibrated"]), ("uncalibrated", not c["calibrated"]),
                                        ("normalised", c["normalised"])) if on)
        rows.append(("composition", f"{c['detector']}, {how}, balance {c['balance'] or 'none'}; "
                                    f"{c['valid_points']} points"))
        rows.append(("total wt%", stats(c["total_wt"], ".1f") + " (min / median / max)"))
        ranked = sorted(c["median_wt"].items(), key=lambda kv: -kv[1] if kv[1] == kv[1] else 0.0)
        rows.append(("median wt%", ", ".join(f"{ox} {v:.2f}" for ox, v in ranked if v == v and v >= 0.01)))
        for flag in c["flags"]:
            rows.append(("flag", flag))
    console.print(f"[bold]{d['file']}[/bold]")
    for key, value in rows:
        console.print(f"  {key:<11} {value}", highlight=False, markup=False, soft_wrap=True)


def _print_description(d: dict[str, Any], console) -> None:
    from rich.padding import Padding
    from rich.table import Table

    if d["type"] == "results":
        _print_results_description(d, console)
        return
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
                rows.append((key, one_line(json.dumps(prov[key]) if not isinstance(prov[key], str)
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
    of per-point MSA files or PIXL PDS product folders, and results files
    (element maps, sum fits and the stored composition: median wt% and total).

    \b
    Examples:
      pixlspec info example_data/sol0125_naltsos.h5
      pixlspec info pixl_flight_sol0125/ point_0095.msa --format json
      pixlspec info pixlspec-demo/naltsos_results.h5
    """
    from ..io.convert import input_kind, read_scan
    from ..io.describe import describe_results, describe_scan
    from ..io.results import is_results_file

    instrument = load_instrument(instrument_path)
    descriptions = []
    for path in files:
        if is_results_file(path):
            descriptions.append(describe_results(path))
            continue
        kind = input_kind(path)
        scan = read_scan(path, instrument=instrument)
        try:
            descriptions.append(describe_scan(scan, path, kind))
        finally:
            scan.close()
    if fmt == "json":
        click.echo(json_text(descriptions), nl=False)
        return
    console = pipe_console(file=sys.stdout, highlight=False, soft_wrap=True)
    for i, d in enumerate(descriptions):
        if i:
            console.print()
        _print_description(d, console)

#: Bytes read at a time when hashing input files for provenance.
HASH_BLOCK_BYTES = 1 << 20


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
    from ..io.convert import input_kind, read_scan, source_files
    from ..io.hdf5 import DEFAULT_COMPRESSION, SCAN_FILE_SUFFIXES, read_process, write_scan

    if os.path.splitext(output)[1].lower() not in SCAN_FILE_SUFFIXES:
        raise PixlspecError(f"the output must end in {', '.join(SCAN_FILE_SUFFIXES)}", path=output)
    compression = compression or DEFAULT_COMPRESSION
    target = inputs[0] if len(inputs) == 1 else list(inputs)
    kind = input_kind(target)
    sources = source_files(target)
    refuse_input_as_output(sources, [output])
    refuse_overwrite([output], overwrite)
    extra = _parse_key_values(provenance_items)
    instrument = load_instrument(instrument_path)
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
    say(f"wrote {output}: {scan.n_points} points x {scan.n_channels} channels, detectors "
         f"{'+'.join(scan.detectors)}, {dtype} {compression}, {os.path.getsize(output) / 1e6:.2f} MB "
         f"(from {kind} {inputs[0] if len(inputs) == 1 else f'{len(inputs)} files'})")


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
    from ..pipeline import export_results

    if not os.path.isfile(results):
        raise PixlspecError("no such results file", path=results)
    refuse_input_as_output([results], [out])
    written = export_results(results, fmt, out, units=units, per_detector=per_detector)
    say(f"wrote {len(written)} file{'s' if len(written) != 1 else ''}: " + ", ".join(written[:4])
         + (" ..." if len(written) > 4 else ""))


def _composition_maps(path: str) -> dict:
    """Detector -> CompositionMap of a PIQUANT map CSV or of a results file's stored composition."""
    from ..io.export import read_piquant_maps
    from ..io.results import is_results_file, read_composition_map

    if not os.path.isfile(path):
        raise PixlspecError("no such file", path=path)
    if is_results_file(path):
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
    from ..io.export import compare_compositions, detector_label

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
    table = [[r.oxide, r.n, fmt_g(r.mean_a), fmt_g(r.mean_b), fmt_g(r.bias), fmt_g(r.scatter), fmt_g(100 * r.rel_bias, 3)]
             for r in rows]
    if fmt == "json":
        click.echo(json_text({"a": a_path, "b": b_path, "detector": det, "rows": [r.to_dict() for r in rows]}),
                   nl=False)
    elif fmt == "csv":
        click.echo(csv_text(headers, table), nl=False)
    else:
        console = stdout_console()
        console.print(f"[bold]B - A[/bold] per oxide, detector {det or '?'}: A = {a_path}, B = {b_path}",
                      highlight=False)
        console.print(rich_table(["oxide", "points", "mean A", "mean B", "bias", "scatter", "rel. bias %"],
                                  table, right="lrrrrrr"))
