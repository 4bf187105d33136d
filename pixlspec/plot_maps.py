"""Figures of element maps: one element, RGB composites, χ² — as maps, profiles, or over the context image.

The same functions draw a raster scan as an image (cells placed by their
positions in mm, with a scale bar) and a line scan (PIXL's usual traverse) as
a profile against the distance along the line in mm, so callers need not know
which kind of scan they have. With ``context=`` (a
:class:`~pixlspec.io.context.ContextImage`) the values are drawn over the MCC
context image instead, as PIXLISE users read them: points coloured by value
(line scans, sparse scans) or an interpolated map (rasters), with a scale bar
in mm. Every function returns the matplotlib Figure (Agg backend when no
display is set up); all share :mod:`pixlspec.plot_style`.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .plot import pyplot
from .plot_style import (MAP_CMAP, QUALITY_CMAP, RGB_COLOURS, colourbar_extend, format_length_mm, nice_length,
                         readable_name, style)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from numpy.typing import ArrayLike

    from .element_maps import ElementMaps
    from .io.context import ContextImage

__all__ = ["plot_map", "plot_rgb", "plot_chi2", "plot_context_maps", "nice_length", "colour_limits"]

#: Percentiles that set the colour range of maps (robust to a few hot pixels).
COLOUR_PERCENTILES = (1.0, 99.0)
#: Fraction of the map width a scale bar should roughly span.
SCALE_BAR_FRACTION = 0.25
#: Context view: margin around the points, as a fraction of their extent (and at least this many pixels).
CONTEXT_MARGIN_FRACTION, CONTEXT_MARGIN_PX = 0.15, 40.0
#: A context view wider than this many times its height gets a horizontal colour bar.
WIDE_VIEW_RATIO = 1.6
#: Opacity of an interpolated map over the context image.
CONTEXT_MAP_ALPHA = 0.75
#: PIXL's beam spot diameter on the rock (mm; ~120 µm, DESIGN.md): the smallest marker drawn on an image.
BEAM_SPOT_MM = 0.12


def _scale_bar(ax, width: float, colour: str = "white", units_per_mm: float = 1.0) -> None:
    """A scale bar of a round length near a quarter of ``width`` (axis units; ``units_per_mm`` of them per mm)."""
    from matplotlib.font_manager import FontProperties
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    width_mm = width / units_per_mm
    length = nice_length(SCALE_BAR_FRACTION * width_mm)
    bar = AnchoredSizeBar(ax.transData, length * units_per_mm, format_length_mm(length), "lower right", pad=0.4,
                          sep=4, color=colour, frameon=False, size_vertical=max(width * 0.008, 1e-6),
                          fontproperties=FontProperties(size=9, weight="bold"))
    ax.add_artist(bar)


def _values(maps, column: str, units: str, points: bool):
    name = readable_name(column) if column in getattr(maps, "columns", ()) and column not in maps.elements \
        else column
    if units == "cps":
        v = maps.counts_per_sec(column, points=points)
        s = maps.counts_per_sec_sigma(column, points=points)
        label = f"{name} (counts/s)"
    elif units == "counts":
        v = maps.point_areas[maps._col(column)] if points else maps.areas[maps._col(column)]
        s = maps.point_sigma[maps._col(column)] if points else maps.sigma[maps._col(column)]
        label = f"{name} (counts)"
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
    plt = pyplot()
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    else:
        fig = ax.figure
    return fig, ax


def _title(maps, what: str) -> str:
    import os

    src = os.path.basename(str(maps.source)) if maps.source else "scan"
    return f"{what} — {src}, detector {maps.detector}"


def colour_limits(values: ArrayLike, vmin: float | None = None, vmax: float | None = None,
                  percentiles: tuple[float, float] = COLOUR_PERCENTILES, log: bool = False) -> tuple[float, float]:
    """Colour limits of a map: ``vmin``/``vmax`` where given, else the ``percentiles`` of its finite values.

    With ``log`` only positive values count and the lower limit stays positive. The upper limit is
    always above the lower one (an empty or constant map gets a unit range).
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if log:
        v = v[v > 0]
    lo, hi = (np.percentile(v, percentiles) if v.size else ((1.0, 10.0) if log else (0.0, 1.0)))
    lo = float(lo) if vmin is None else vmin
    hi = float(hi) if vmax is None else vmax
    if log and lo <= 0:
        lo = hi / 1e3 if hi > 0 else 1e-3
    if hi <= lo:
        hi = lo * 10 if log else lo + (abs(lo) or 1.0)
    return lo, hi


# ---------------------------------------------------------------------------------------------
# over the context image
# ---------------------------------------------------------------------------------------------
def _view_box(context, ij: np.ndarray) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1) pixels shown: the points in the frame with a margin (the whole image if none)."""
    h, w = context.shape
    inside = context.in_frame(ij)
    if not inside.any():
        return -0.5, w - 0.5, -0.5, h - 0.5
    lo = ij[inside].min(axis=0)
    hi = ij[inside].max(axis=0)
    pad = max(CONTEXT_MARGIN_FRACTION * float((hi - lo).max()), CONTEXT_MARGIN_PX)
    return (max(lo[0] - pad, -0.5), min(hi[0] + pad, w - 0.5), max(lo[1] - pad, -0.5),
            min(hi[1] + pad, h - 0.5))


def _context_view(ax, context, ij: np.ndarray) -> None:
    """Grey context image, zoomed on the points with a margin, axes off."""
    h, w = context.shape
    ax.imshow(context.image, cmap="gray", origin="upper", interpolation="bilinear", zorder=0,
              extent=(-0.5, w - 0.5, h - 0.5, -0.5))
    x0, x1, y0, y1 = _view_box(context, ij)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y1, y0)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_aspect("equal")


def _marker_px(context, ij: np.ndarray) -> float:
    """Marker diameter in pixels: the point spacing on the image (at least the beam spot)."""
    ok = np.isfinite(ij).all(axis=1)
    p = ij[ok]
    spot = BEAM_SPOT_MM / context.mm_per_pixel if np.isfinite(context.mm_per_pixel) else 2.0
    if p.shape[0] < 2:
        return max(spot, 4.0)
    from scipy.spatial import cKDTree

    d, _ = cKDTree(p).query(p, k=2)
    step = float(np.median(d[:, 1]))
    return max(step, spot)


def _draw_context(fig, ax, maps, v: np.ndarray, label: str, context, cmap, vmin, vmax, mode: str, title: str):
    from matplotlib.collections import EllipseCollection

    ij = context.pixels(maps)
    _context_view(ax, context, ij)
    ok = np.isfinite(v) & np.isfinite(ij).all(axis=1) & np.asarray(maps.valid, bool)
    vmin, vmax = colour_limits(v[ok], vmin, vmax)
    cm = pyplot().get_cmap(cmap)
    if mode == "auto":
        mode = "interpolated" if maps.grid.kind == "raster" and ok.sum() >= 4 else "points"
    if mode == "interpolated":
        from scipy.interpolate import griddata

        x0, x1 = sorted(ax.get_xlim())
        y0, y1 = sorted(ax.get_ylim())
        gx, gy = np.meshgrid(np.arange(np.ceil(x0), np.floor(x1) + 1), np.arange(np.ceil(y0), np.floor(y1) + 1))
        img = griddata(ij[ok], v[ok], (gx, gy), method="linear")
        art = ax.imshow(np.ma.masked_invalid(img), origin="upper", cmap=cm, vmin=vmin, vmax=vmax,
                        alpha=CONTEXT_MAP_ALPHA, interpolation="nearest", zorder=1,
                        extent=(gx[0, 0] - 0.5, gx[0, -1] + 0.5, gy[-1, 0] + 0.5, gy[0, 0] - 0.5))
    elif mode == "points":
        d = _marker_px(context, ij[ok])
        art = EllipseCollection(np.full(ok.sum(), d), np.full(ok.sum(), d), np.zeros(ok.sum()), units="xy",
                                offsets=ij[ok], offset_transform=ax.transData, cmap=cm, zorder=2,
                                edgecolors="none")
        art.set_array(v[ok])
        art.set_clim(vmin, vmax)
        ax.add_collection(art)
        bad = np.isfinite(ij).all(axis=1) & ~np.asarray(maps.valid, bool)
        if bad.any():
            ax.plot(ij[bad, 0], ij[bad, 1], "x", color="white", ms=4, mew=1, zorder=3, label="invalid point")
            ax.legend(loc="upper right", labelcolor="white", fontsize=7)
    else:
        raise ValueError(f"mode must be 'auto', 'points' or 'interpolated', got {mode!r}")
    xl, yl = ax.get_xlim(), ax.get_ylim()
    wide = abs(xl[1] - xl[0]) > WIDE_VIEW_RATIO * abs(yl[1] - yl[0])
    fig.colorbar(art, ax=ax, label=label, shrink=0.85, extend=colourbar_extend(v[ok], vmin, vmax),
                 orientation="horizontal" if wide else "vertical", pad=0.02)
    if np.isfinite(context.mm_per_pixel):
        xl = ax.get_xlim()
        _scale_bar(ax, abs(xl[1] - xl[0]), units_per_mm=1.0 / context.mm_per_pixel)
    ax.set_title(title, fontsize=10)
    return fig


# ---------------------------------------------------------------------------------------------
# public figures
# ---------------------------------------------------------------------------------------------
def plot_map(maps: ElementMaps, element: str, *, ax: Axes | None = None, units: str = "cps", errors: bool = True,
             cmap: str = MAP_CMAP, vmin: float | None = None, vmax: float | None = None, title: str | None = None,
             context: ContextImage | None = None, mode: str = "auto") -> Figure:
    """One column of :class:`~pixlspec.element_maps.ElementMaps`: an image for rasters, a profile for lines,
    or the values over the context image.

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
    cmap, vmin, vmax : colour map and range of images (default range: 1st–99th percentile);
        the colour bar shows extend arrows at the ends that clip values.
    title : str, optional
    context : ContextImage, optional
        Draw over this MCC image (:func:`pixlspec.io.context.read_context_image`); points
        are placed by their PMC.
    mode : {"auto", "points", "interpolated"}
        Over a context image: coloured points (default for line scans) or a
        linearly interpolated map (default for rasters).

    Returns
    -------
    matplotlib.figure.Figure
    """
    g = maps.grid
    with style():
        if context is not None:
            fig, ax = _new_axes(ax, (6.4, 5.2))
            v, _, label = _values(maps, element, units, points=True)
            name = element if element in maps.elements else readable_name(element)
            return _draw_context(fig, ax, maps, v, label, context, cmap, vmin, vmax, mode,
                                 title or _title(maps, f"{name} over context image (PMC {context.pmc})"))
        if g.kind in ("line", "point"):
            return _profile(maps, element, ax, units, errors, title)
        fig, ax = _new_axes(ax, (6.4, 5.2))
        img, _, label = _values(maps, element, units, points=False)
        vmin, vmax = colour_limits(img, vmin, vmax)
        cm = pyplot().get_cmap(cmap).with_extremes(bad="0.75")
        extent = g.extent_mm
        im = ax.imshow(np.ma.masked_invalid(img), origin="lower", extent=extent, cmap=cm, vmin=vmin, vmax=vmax,
                       interpolation="nearest", aspect="equal")
        fig.colorbar(im, ax=ax, label=label, shrink=0.85, extend=colourbar_extend(img, vmin, vmax))
        ax.set_xlabel("x (mm)")
        ax.set_ylabel("y (mm)")
        _scale_bar(ax, extent[1] - extent[0])
        ax.set_title(title or _title(maps, element), fontsize=10)
        return fig


def _profile(maps, element, ax, units, errors, title):
    g = maps.grid
    fig, ax = _new_axes(ax, (8, 3.6))
    v, s, label = _values(maps, element, units, points=True)
    x, idx = _along_line(maps, v)
    xs, vs, ss = x[idx], v[idx], s[idx]
    ax.plot(xs, vs, "-", color="0.6", lw=0.8, zorder=1)
    colour = "#332288"
    if errors:
        ax.errorbar(xs, vs, yerr=ss, fmt="o", ms=3.5, color=colour, ecolor=colour, elinewidth=0.8, capsize=0,
                    zorder=2, label=f"{element} ± 1σ")
    else:
        ax.plot(xs, vs, "o", ms=3.5, color=colour, zorder=2, label=element)
    bad = ~maps.valid & np.isfinite(x)
    if bad.any():
        for xb in x[bad]:
            ax.axvline(xb, color="#CC6677", alpha=0.4, lw=1)
        ax.plot([], [], color="#CC6677", alpha=0.6, label="invalid point")
    ax.set_xlabel("distance along the scan line (mm)")
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8, frameon=False)
    if len(xs):
        pad = 0.02 * max(np.ptp(xs), g.step_mm)
        ax.set_xlim(xs.min() - pad, xs.max() + pad)
    ax.set_title(title or _title(maps, f"{element} profile"), fontsize=10)
    return fig


def _normalise(v: np.ndarray) -> np.ndarray:
    finite = v[np.isfinite(v)]
    if finite.size == 0:
        return np.zeros_like(v)
    lo, hi = np.percentile(finite, COLOUR_PERCENTILES)
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    return np.clip((v - lo) / (hi - lo), 0.0, 1.0)


def plot_rgb(maps: ElementMaps, elements: Sequence[str], *, ax: Axes | None = None, units: str = "cps",
             title: str | None = None, context: ContextImage | None = None) -> Figure:
    """Three columns as red, green, blue (each stretched 1st–99th percentile).

    Rasters: an RGB image. Line scans: an RGB strip along the line above the
    three normalised profiles (the strip shows where the three co-vary). With
    ``context``: the RGB points over the context image.

    Returns
    -------
    matplotlib.figure.Figure
    """
    elements = list(elements)
    if len(elements) != 3:
        raise ValueError(f"plot_rgb needs three elements (red, green, blue), got {elements}")
    g = maps.grid
    with style():
        if context is not None:
            fig, ax = _new_axes(ax, (6.4, 5.2))
            ij = context.pixels(maps)
            _context_view(ax, context, ij)
            rgb = np.column_stack([_normalise(_values(maps, el, units, points=True)[0]) for el in elements])
            ok = np.isfinite(ij).all(axis=1) & np.asarray(maps.valid, bool)
            from matplotlib.collections import EllipseCollection

            d = _marker_px(context, ij[ok])
            ax.add_collection(EllipseCollection(np.full(ok.sum(), d), np.full(ok.sum(), d), np.zeros(ok.sum()),
                                                units="xy", offsets=ij[ok], offset_transform=ax.transData,
                                                facecolors=rgb[ok], edgecolors="none", zorder=2))
            if np.isfinite(context.mm_per_pixel):
                xl = ax.get_xlim()
                _scale_bar(ax, abs(xl[1] - xl[0]), units_per_mm=1.0 / context.mm_per_pixel)
            _rgb_key(ax, elements)
            ax.set_title(title or _title(maps, "RGB over context image"), fontsize=10, loc="right")
            return fig
        if g.kind in ("line", "point"):
            plt = pyplot()
            if ax is None:
                fig, (axs, ax) = plt.subplots(2, 1, figsize=(8, 4.2), sharex=True, layout="constrained",
                                              gridspec_kw={"height_ratios": [0.5, 3]})
            else:
                fig, axs = ax.figure, None
            x, idx = _along_line(maps)
            chans = []
            for el, colour in zip(elements, RGB_COLOURS):
                v, _, _ = _values(maps, el, units, points=True)
                n = _normalise(v[idx])
                chans.append(n)
                ax.plot(x[idx], n, "o-", ms=3, lw=1, color=colour, label=el)
            if axs is not None and len(idx):
                strip = np.nan_to_num(np.column_stack(chans))[None]
                xs = x[idx]
                edges = np.concatenate([[xs[0] - 0.5 * (xs[1] - xs[0]) if xs.size > 1 else xs[0] - 0.5],
                                        0.5 * (xs[1:] + xs[:-1]),
                                        [xs[-1] + 0.5 * (xs[-1] - xs[-2]) if xs.size > 1 else xs[0] + 0.5]])
                axs.pcolormesh(edges, [0, 1], strip, shading="flat")
                axs.set_yticks([])
                axs.set_ylabel("RGB", rotation=0, ha="right", va="center")
                for sp in axs.spines.values():
                    sp.set_visible(False)
            ax.set_xlabel("distance along the scan line (mm)")
            ax.set_ylabel("normalised (1st–99th percentile)")
            ax.set_ylim(-0.05, 1.05)
            ax.grid(alpha=0.3)
            ax.legend(loc="upper right", fontsize=8, ncols=3, frameon=False)
            (axs or ax).set_title(title or _title(maps, " / ".join(elements)), fontsize=10)
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
        _rgb_key(ax, elements)
        ax.set_title(title or _title(maps, "RGB"), fontsize=10, loc="right")
        return fig


def _rgb_key(ax, elements):
    for i, (el, colour) in enumerate(zip(elements, RGB_COLOURS)):
        ax.text(0.02 + 0.12 * i, 1.01, el, color=colour, transform=ax.transAxes, fontsize=11, fontweight="bold",
                va="bottom")


def plot_chi2(maps: ElementMaps, *, ax: Axes | None = None, title: str | None = None) -> Figure:
    """Reduced χ² per point: a map for rasters, a profile for lines."""
    g = maps.grid
    with style():
        if g.kind in ("line", "point"):
            fig, ax = _new_axes(ax, (8, 3.2))
            x, idx = _along_line(maps)
            ax.plot(x[idx], maps.chi2_reduced_points[idx], "o-", ms=3, lw=0.8, color="#332288")
            ax.axhline(1.0, color="0.5", lw=0.8, ls="--")
            ax.set_xlabel("distance along the scan line (mm)")
            ax.set_ylabel("reduced χ²")
            ax.grid(alpha=0.3)
            ax.set_title(title or _title(maps, f"reduced χ² (median {maps.median_chi2_reduced:.2f})"), fontsize=10)
            return fig
        fig, ax = _new_axes(ax, (6.4, 5.2))
        img = maps.chi2_reduced
        vmin, vmax = colour_limits(img, None, None)
        cm = pyplot().get_cmap(QUALITY_CMAP).with_extremes(bad="0.75")
        extent = g.extent_mm
        im = ax.imshow(np.ma.masked_invalid(img), origin="lower", extent=extent, cmap=cm, interpolation="nearest",
                       vmin=vmin, vmax=vmax)
        fig.colorbar(im, ax=ax, label="reduced χ²", shrink=0.85, extend=colourbar_extend(img, vmin, vmax))
        ax.set_xlabel("x (mm)")
        ax.set_ylabel("y (mm)")
        _scale_bar(ax, extent[1] - extent[0])
        ax.set_title(title or _title(maps, f"reduced χ² (median {maps.median_chi2_reduced:.2f})"), fontsize=10)
        return fig


def plot_context_maps(maps: ElementMaps, elements: Sequence[str], context: ContextImage, *, units: str = "cps",
                      ncols: int | None = None, cmap: str = MAP_CMAP, title: str | None = None,
                      mode: str = "auto") -> Figure:
    """Several element maps side by side, each over the context image (for reports).

    Parameters
    ----------
    maps : ElementMaps
    elements : sequence of str
    context : ContextImage
        From :func:`pixlspec.io.context.read_context_image` (e.g. ``read_context_image(folder,
        point_ids=maps.point_ids)``: the image that shows most of the scan).
    units, cmap, mode : as :func:`plot_map`
    ncols : int, optional
        Panels per row (default: 2 for wide views such as line scans, else 3).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    els = list(elements)
    if not els:
        raise ValueError("plot_context_maps needs at least one element")
    x0, x1, y0, y1 = _view_box(context, context.pixels(maps))
    ratio = (y1 - y0) / max(x1 - x0, 1.0)
    wide = ratio < 1.0 / WIDE_VIEW_RATIO
    ncols = ncols or (2 if wide else 3)
    ncols = max(1, min(ncols, len(els)))
    nrows = -(-len(els) // ncols)
    width = 5.2 if wide else 4.2
    with style():
        plt = pyplot()
        fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, (width * ratio + 1.3) * nrows + 0.4),
                                 layout="constrained", squeeze=False)
        for ax, el in zip(axes.ravel(), els):
            plot_map(maps, el, ax=ax, units=units, cmap=cmap, context=context, mode=mode, title=el)
        for ax in axes.ravel()[len(els):]:
            ax.set_visible(False)
        fig.suptitle(title or _title(maps, f"element maps over context image (PMC {context.pmc})"), fontsize=11)
        return fig
