"""Figures of element maps: one element, RGB composites, χ² — as maps or as profiles.

The same functions draw a raster scan as an image (cells placed by their
positions in mm, with a scale bar) and a line scan (PIXL's usual traverse) as
a profile against the distance along the line in mm, so callers need not know
which kind of scan they have. Every function returns the matplotlib Figure
(Agg backend when no display is set up).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .plot import _pyplot

__all__ = ["plot_map", "plot_rgb", "plot_chi2", "nice_length"]

#: Percentiles that set the colour range of maps (robust to a few hot pixels).
COLOUR_PERCENTILES = (1.0, 99.0)
#: Fraction of the map width a scale bar should roughly span.
SCALE_BAR_FRACTION = 0.25
RGB_COLOURS = ("#d62728", "#2ca02c", "#1f77b4")


def nice_length(target: float) -> float:
    """A round length (1, 2 or 5 × 10^k) close to ``target``."""
    if not target > 0:
        return 1.0
    exp = np.floor(np.log10(target))
    base = target / 10 ** exp
    step = 1.0 if base < 1.5 else 2.0 if base < 3.5 else 5.0 if base < 7.5 else 10.0
    return float(step * 10 ** exp)


def _fmt_mm(length: float) -> str:
    if length >= 1:
        return f"{length:g} mm"
    return f"{length * 1000:g} µm"


def _scale_bar(ax, width_mm: float, colour: str = "white") -> None:
    from matplotlib.font_manager import FontProperties
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    length = nice_length(SCALE_BAR_FRACTION * width_mm)
    bar = AnchoredSizeBar(ax.transData, length, _fmt_mm(length), "lower right", pad=0.4, sep=4, color=colour,
                          frameon=False, size_vertical=max(width_mm * 0.008, 1e-6),
                          fontproperties=FontProperties(size=9, weight="bold"))
    ax.add_artist(bar)


def _values(maps, column: str, units: str, points: bool):
    if units == "cps":
        v = maps.counts_per_sec(column, points=points)
        s = maps.counts_per_sec_sigma(column, points=points)
        label = f"{column} (counts/s)"
    elif units == "counts":
        v = maps.point_areas[maps._col(column)] if points else maps.areas[maps._col(column)]
        s = maps.point_sigma[maps._col(column)] if points else maps.sigma[maps._col(column)]
        label = f"{column} (counts)"
    else:
        raise ValueError(f"units must be 'cps' or 'counts', got {units!r}")
    return np.asarray(v, dtype=float), np.asarray(s, dtype=float), label


def _line_axis(maps):
    """Distance along the line (mm) of every point (NaN if not placed)."""
    g = maps.grid
    x = np.full(maps.n_points, np.nan)
    ok = g.index >= 0
    x[ok] = g.x[g.index[ok]]
    return x


def _along_line(maps, *values):
    """``(x, idx)``: the distance along the line of every point, and the indices of the valid placed
    points (with finite ``values``, if given) in order along it."""
    x = _line_axis(maps)
    ok = maps.valid & np.isfinite(x)
    for v in values:
        ok &= np.isfinite(v)
    return x, np.flatnonzero(ok)[np.argsort(x[ok])]


def _new_axes(ax, figsize):
    plt = _pyplot()
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    else:
        fig = ax.figure
    return fig, ax


def _title(maps, what: str) -> str:
    import os

    src = os.path.basename(str(maps.source)) if maps.source else "scan"
    return f"{what} — {src}, detector {maps.detector}"


def plot_map(maps, element: str, *, ax=None, units: str = "cps", errors: bool = True, cmap: str = "viridis",
             vmin: float | None = None, vmax: float | None = None, title: str | None = None):
    """One column of :class:`~pixlspec.fit.maps.ElementMaps`: an image for rasters, a profile for lines.

    Parameters
    ----------
    maps : ElementMaps
    element : str
        Column name ("Fe", "Rh_K_Compton", ...).
    ax : matplotlib Axes, optional
    units : {"cps", "counts"}
        Counts per live second (default) or fitted counts.
    errors : bool
        Profiles: draw 1σ error bars.
    cmap, vmin, vmax : colour map and range of images (default range: 1st–99th percentile).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    g = maps.grid
    if g.kind in ("line", "point"):
        fig, ax = _new_axes(ax, (8, 3.6))
        v, s, label = _values(maps, element, units, points=True)
        x, idx = _along_line(maps, v)
        xs, vs, ss = x[idx], v[idx], s[idx]
        ax.plot(xs, vs, "-", color="0.6", lw=0.8, zorder=1)
        if errors:
            ax.errorbar(xs, vs, yerr=ss, fmt="o", ms=3.5, color="C0", ecolor="C0", elinewidth=0.8, capsize=0,
                        zorder=2, label=f"{element} ± 1σ")
        else:
            ax.plot(xs, vs, "o", ms=3.5, color="C0", zorder=2, label=element)
        bad = ~maps.valid & np.isfinite(x)
        if bad.any():
            for xb in x[bad]:
                ax.axvline(xb, color="red", alpha=0.3, lw=1)
            ax.plot([], [], color="red", alpha=0.5, label="invalid point")
        ax.set_xlabel("distance along the scan line (mm)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8, frameon=False)
        if len(xs):
            pad = 0.02 * max(np.ptp(xs), g.step_mm)
            ax.set_xlim(xs.min() - pad, xs.max() + pad)
        ax.set_title(title or _title(maps, f"{element} profile"), fontsize=10)
        return fig
    fig, ax = _new_axes(ax, (6.4, 5.2))
    img, _, label = _values(maps, element, units, points=False)
    finite = img[np.isfinite(img)]
    lo, hi = (np.percentile(finite, COLOUR_PERCENTILES) if finite.size else (0.0, 1.0))
    vmin = lo if vmin is None else vmin
    vmax = hi if vmax is None else vmax
    if vmax <= vmin:
        vmax = vmin + (abs(vmin) or 1.0)
    cm = _pyplot().get_cmap(cmap).with_extremes(bad="0.75")
    extent = g.extent_mm
    im = ax.imshow(np.ma.masked_invalid(img), origin="lower", extent=extent, cmap=cm, vmin=vmin, vmax=vmax,
                   interpolation="nearest", aspect="equal")
    fig.colorbar(im, ax=ax, label=label, shrink=0.85)
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    _scale_bar(ax, extent[1] - extent[0])
    ax.set_title(title or _title(maps, element), fontsize=10)
    return fig


def _normalise(v: np.ndarray) -> np.ndarray:
    finite = v[np.isfinite(v)]
    if finite.size == 0:
        return np.zeros_like(v)
    lo, hi = np.percentile(finite, COLOUR_PERCENTILES)
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    return np.clip((v - lo) / (hi - lo), 0.0, 1.0)


def plot_rgb(maps, elements: Sequence[str], *, ax=None, units: str = "cps", title: str | None = None):
    """Three columns as red, green, blue (each stretched 1st–99th percentile); profiles for lines.

    Returns
    -------
    matplotlib.figure.Figure
    """
    elements = list(elements)
    if len(elements) != 3:
        raise ValueError(f"plot_rgb needs three elements (red, green, blue), got {elements}")
    g = maps.grid
    if g.kind in ("line", "point"):
        fig, ax = _new_axes(ax, (8, 3.6))
        x, idx = _along_line(maps)
        for el, colour in zip(elements, RGB_COLOURS):
            v, _, _ = _values(maps, el, units, points=True)
            ax.plot(x[idx], _normalise(v[idx]), "o-", ms=3, lw=1, color=colour, label=el)
        ax.set_xlabel("distance along the scan line (mm)")
        ax.set_ylabel("normalised (1st–99th percentile)")
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=8, ncols=3, frameon=False)
        ax.set_title(title or _title(maps, " / ".join(elements)), fontsize=10)
        return fig
    fig, ax = _new_axes(ax, (6.4, 5.4))
    rgb = np.zeros(g.shape + (3,))
    valid = np.ones(g.shape, bool)
    for i, el in enumerate(elements):
        img, _, _ = _values(maps, el, units, points=False)
        valid &= np.isfinite(img)
        rgb[..., i] = _normalise(img)
    rgb[~valid] = 0.75
    extent = g.extent_mm
    ax.imshow(rgb, origin="lower", extent=extent, interpolation="nearest", aspect="equal")
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    _scale_bar(ax, extent[1] - extent[0])
    for i, (el, colour) in enumerate(zip(elements, RGB_COLOURS)):
        ax.text(0.02 + 0.12 * i, 1.01, el, color=colour, transform=ax.transAxes, fontsize=11, fontweight="bold",
                va="bottom")
    ax.set_title(title or _title(maps, "RGB"), fontsize=10, loc="right")
    return fig


def plot_chi2(maps, *, ax=None, title: str | None = None):
    """Reduced χ² per point: a map for rasters, a profile for lines."""
    g = maps.grid
    if g.kind in ("line", "point"):
        fig, ax = _new_axes(ax, (8, 3.2))
        x, idx = _along_line(maps)
        ax.plot(x[idx], maps.chi2_reduced_points[idx], "o-", ms=3, lw=0.8)
        ax.axhline(1.0, color="0.5", lw=0.8, ls="--")
        ax.set_xlabel("distance along the scan line (mm)")
        ax.set_ylabel("reduced χ²")
        ax.grid(alpha=0.3)
        ax.set_title(title or _title(maps, f"reduced χ² (median {maps.median_chi2_reduced:.2f})"), fontsize=10)
        return fig
    fig, ax = _new_axes(ax, (6.4, 5.2))
    img = maps.chi2_reduced
    cm = _pyplot().get_cmap("magma").with_extremes(bad="0.75")
    extent = g.extent_mm
    im = ax.imshow(np.ma.masked_invalid(img), origin="lower", extent=extent, cmap=cm, interpolation="nearest")
    fig.colorbar(im, ax=ax, label="reduced χ²", shrink=0.85)
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    _scale_bar(ax, extent[1] - extent[0])
    ax.set_title(title or _title(maps, f"reduced χ² (median {maps.median_chi2_reduced:.2f})"), fontsize=10)
    return fig
