"""One style for every pixlspec figure: colours, names, log floors, colour-bar extends, scale bars.

Colours
    :data:`PALETTE` is Paul Tol's "muted" qualitative scheme (9 colours that stay
    distinct for the common colour-vision deficiencies; Tol, *Colour Schemes*,
    SRON/EPS/TN/09-002, 2021), followed by the Okabe–Ito colours for the 10th and
    later series. Data are drawn in :data:`DATA_COLOUR`, models in
    :data:`MODEL_COLOUR`, backgrounds in :data:`BACKGROUND_COLOUR`; maps use the
    perceptually uniform ``viridis`` (:data:`MAP_CMAP`) and ``cividis`` for
    diverging-free quality maps; RGB composites keep pure red, green and blue.
Names
    :func:`readable_name` turns fit-column names (``Rh_K_Compton``, ``Pb_L``,
    ``pileup``) into what a reader expects ("Rh K Compton scatter", "Pb L",
    "pile-up (sum peaks)").
Log axes
    :func:`log_floor` derives the lower limit of a log count axis from the data
    (a low percentile of the positive counts, at most one count), instead of a
    fixed number.
Colour bars
    :func:`colourbar_extend` says which ends of a colour range clip data, so
    colour bars carry extend arrows exactly where values lie outside the range.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

_P = ParamSpec("_P")
_R = TypeVar("_R")

__all__ = ["PALETTE", "DATA_COLOUR", "MODEL_COLOUR", "BACKGROUND_COLOUR", "MAP_CMAP", "RGB_COLOURS",
           "readable_name", "series_colours", "log_floor", "colourbar_extend", "style", "RC_PARAMS",
           "nice_length", "format_length_mm", "styled"]

#: Paul Tol's muted scheme, then Okabe & Ito (2008) for more series: colour-blind safe.
PALETTE = ("#CC6677", "#332288", "#DDCC77", "#117733", "#88CCEE", "#882255", "#44AA99", "#999933", "#AA4499",
           "#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7")
DATA_COLOUR = "0.45"
MODEL_COLOUR = "#000000"
BACKGROUND_COLOUR = "#0072B2"
MAP_CMAP = "viridis"
QUALITY_CMAP = "cividis"
RGB_COLOURS = ("#e41a1c", "#1a9e1a", "#1f5fd6")
#: Fraction of the positive counts below the log floor (a low percentile, robust to empty channels).
LOG_FLOOR_PERCENTILE = 0.5
#: Highest log floor (counts): one count is always visible.
LOG_FLOOR_MAX = 1.0
#: Matplotlib settings of every figure (readable at journal column width).
RC_PARAMS = {
    "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8, "xtick.labelsize": 8,
    "ytick.labelsize": 8, "axes.spines.top": False, "axes.spines.right": False, "axes.grid": False,
    "figure.dpi": 100, "savefig.dpi": 200, "axes.prop_cycle": None, "image.cmap": MAP_CMAP,
    "legend.frameon": False, "lines.linewidth": 1.0,
}

_SCATTER = {"Rayleigh": "Rayleigh scatter", "Compton": "Compton scatter", "scatter": "scatter"}
_GREEK = {"Ka": "Kα", "Kb": "Kβ", "La": "Lα", "Lb": "Lβ", "Lg": "Lγ", "Ma": "Mα"}


def readable_name(column: str) -> str:
    """A fit column as a reader names it: "Fe" → "Fe K", "Pb_L" → "Pb L", "Rh_K_Compton" → "Rh K Compton
    scatter", "Rh_L_scatter" → "Rh L scatter", "pileup" → "pile-up (sum peaks)", "Fe_Kb" → "Fe Kβ"."""
    c = str(column)
    low = c.lower()
    if low.startswith("pileup") or low.startswith("pile_up") or low.startswith("pile-up"):
        return "pile-up (sum peaks)"
    if low.startswith("escape"):
        return "Si escape peaks"
    parts = c.split("_")
    if len(parts) == 3 and parts[2] in _SCATTER:
        return f"{parts[0]} {parts[1]} {_SCATTER[parts[2]]}"
    if len(parts) == 2 and parts[1] in _GREEK:
        return f"{parts[0]} {_GREEK[parts[1]]}"
    if len(parts) == 2 and parts[1] in ("K", "L", "M"):
        return f"{parts[0]} {parts[1]}"
    if len(parts) == 1 and re.fullmatch(r"[A-Z][a-z]?", c):
        return f"{c} K"
    return c.replace("_", " ")


def series_colours(n: int) -> list[str]:
    """``n`` distinct colours from :data:`PALETTE` (repeats only beyond its length)."""
    return [PALETTE[i % len(PALETTE)] for i in range(n)]


def log_floor(counts: ArrayLike, percentile: float = LOG_FLOOR_PERCENTILE) -> float:
    """Lower limit of a log count axis from the data: a low percentile of the positive counts,
    at most :data:`LOG_FLOOR_MAX`, divided by 2 so those channels stay visible."""
    c = np.asarray(counts, dtype=float)
    pos = c[np.isfinite(c) & (c > 0)]
    if pos.size == 0:
        return 0.5
    return float(min(np.percentile(pos, percentile), LOG_FLOOR_MAX) / 2.0)


def colourbar_extend(values: ArrayLike, vmin: float, vmax: float) -> str:
    """"neither", "min", "max" or "both": the ends of [vmin, vmax] that finite ``values`` exceed."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    lo = bool(v.size and v.min() < vmin)
    hi = bool(v.size and v.max() > vmax)
    return "both" if lo and hi else "min" if lo else "max" if hi else "neither"


def nice_length(target: float) -> float:
    """A round length (1, 2 or 5 × 10^k) close to ``target``."""
    if not target > 0 or not np.isfinite(target):
        return 1.0
    exp = np.floor(np.log10(target))
    base = target / 10 ** exp
    step = 1.0 if base < 1.5 else 2.0 if base < 3.5 else 5.0 if base < 7.5 else 10.0
    return float(step * 10 ** exp)


def format_length_mm(length: float) -> str:
    return f"{length:g} mm" if length >= 1 else f"{length * 1000:g} µm"


@contextmanager
def style() -> Iterator[None]:
    """Matplotlib settings of pixlspec figures, for the figures made inside the block."""
    import matplotlib as mpl
    from cycler import cycler

    rc = dict(RC_PARAMS)
    rc["axes.prop_cycle"] = cycler(color=list(PALETTE))
    with mpl.rc_context(rc):
        yield


def styled(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorator: draw the figure of ``func`` inside :func:`style`."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with style():
            return func(*args, **kwargs)
    return wrapper
