"""Option parsing and input loading shared by the commands (no science: that is the library's)."""
from __future__ import annotations

import math
import os

import click

from ..errors import PixlspecError
from .app import cli_state

__all__ = ["json_text", "refuse_overwrite", "OVERWRITE_HELP", "say", "load_instrument", "split_list",
           "check_elements", "load_calibration", "balance_arg", "scan_stem", "spectrum_for_fit",
           "FiniteFloat"]


class FiniteFloat(click.ParamType):
    """A finite number for an option (click's ``float`` and ``FloatRange`` let ``nan`` and ``inf`` through),
    above ``min`` when one is given (``min_open``: strictly)."""

    name = "float"

    def __init__(self, min: float | None = None, min_open: bool = False):
        self.min, self.min_open = min, min_open

    def convert(self, value, param, ctx):
        if isinstance(value, float) and math.isfinite(value):
            number = value
        else:
            try:
                number = float(value)
            except (TypeError, ValueError):
                self.fail(f"{value!r} is not a number", param, ctx)
            if not math.isfinite(number):
                self.fail(f"{value!r} is not a finite number", param, ctx)
        if self.min is not None and (number <= self.min if self.min_open else number < self.min):
            self.fail(f"{number:g} is not {'>' if self.min_open else '>='} {self.min:g}", param, ctx)
        return number


def json_text(obj) -> str:
    """Strict JSON (never NaN/Infinity: null, with the reason under ``null_reasons``) and a newline."""
    from ..io.jsontext import strict_json

    return strict_json(obj) + "\n"


def refuse_overwrite(paths, overwrite: bool) -> None:
    """Bad input (exit 2, nothing written) when an output file exists and ``--overwrite`` is not given."""
    if overwrite:
        return
    for p in paths:
        if os.path.lexists(p):
            raise PixlspecError("exists; pass --overwrite to replace it", path=p)


def refuse_input_as_output(inputs, outputs) -> None:
    """Bad input (exit 2, nothing written) when an output path is one of the input files (``-o`` given the
    input's own name would replace the data with what was made from it, even with ``--overwrite``)."""
    for out in outputs:
        if not out:
            continue
        for src in inputs:
            if os.path.abspath(src) == os.path.abspath(out) or (
                    os.path.exists(out) and os.path.exists(src) and os.path.samefile(src, out)):
                raise PixlspecError("the output would overwrite an input file; choose another name", path=out)


OVERWRITE_HELP = "Replace existing output files (default: refuse, exit 2, write nothing)."


def say(message: str) -> None:
    """Print a progress/summary line on stderr unless ``-q`` (stdout stays machine-readable)."""
    if cli_state().verbosity >= 0:
        click.echo(message, err=True)


def load_instrument(path: str | None):
    """The instrument of an ``--instrument`` file (PIQUANT .msa, .json, .toml), or None when not given."""
    if path is None:
        return None
    from ..instrument import Instrument

    return Instrument.load(path)


def split_list(text: str | None, what: str) -> list[str]:
    """The items of a comma-separated option value; bad input when the value holds none."""
    items = [e.strip() for e in (text or "").split(",") if e.strip()]
    if text is not None and not items:
        raise PixlspecError(f"{what} expects a comma-separated list, got {text!r}")
    return items


def check_elements(names: list[str], what: str = "--elements") -> list[str]:
    """Validate element / group names ("Fe", "Pb_L"): unknown symbols are a bad input."""
    from ..physics.elements import check_element

    for name in names:
        try:
            check_element(name.split("_")[0])
        except PixlspecError as e:
            raise PixlspecError(f"{what}: {e.message}") from None
    return names


def load_calibration(path: str | None, instrument=None):
    """The calibration of a ``--calibration`` file (pixlspec JSON or PIQUANT ECF table), or None."""
    if path is None:
        return None
    from ..quant.calibration import load_calibration

    if not os.path.lexists(path):
        raise PixlspecError("no such calibration file", path=path)
    return load_calibration(path, instrument=instrument)


def balance_arg(value: str) -> str | None:
    """A ``--balance`` choice as ``quantify`` takes it ("none" -> None)."""
    return None if value.lower() == "none" else value


def map_balance_arg(value: str | None) -> str | None:
    """The ``--balance`` of the commands that quantify maps (``salts``, ``rank``): unset, the pipeline's own
    choice (:data:`pixlspec.pipeline.AUTO_BALANCE`); else as :func:`balance_arg`."""
    from ..pipeline import AUTO_BALANCE

    return AUTO_BALANCE if value is None else balance_arg(value)


def scan_stem(path: str) -> str:
    """The name of a scan from its file or folder name, without a ``_maps``/``_results`` suffix."""
    stem = os.path.splitext(os.path.basename(os.path.normpath(path)))[0]
    for suffix in ("_maps", "_results"):
        if stem.endswith(suffix) and len(stem) > len(suffix):
            stem = stem[: -len(suffix)]
    return stem


def spectrum_for_fit(path: str, point: int | None, detector: str, instrument):
    """The spectrum the ``fit`` command works on: an MSA file, or a point or the sum of a scan."""
    from ..io.convert import read_scan
    from ..io.msa import read_msa
    from ..io.results import is_results_file

    if is_results_file(path):
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
