"""Figures of phases: phase maps, ternary diagrams, element correlations with mixing lines.

Every function returns the matplotlib Figure (Agg backend when no display is
set up) and takes an optional ``ax`` to draw into. Phase maps place points by
their positions: rasters as cells, line scans as a strip along the line.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from .errors import CompositionError
from .plot import pyplot
from .plot_style import format_length_mm as _fmt_mm
from .plot_style import nice_length as _nice
from .plot_style import styled
from .minerals.classify import PhaseMap, classify_points
from .minerals.endmembers import EndMember, get_endmember
from .minerals.spatial import scan_geometry
from .minerals.table import CompositionLike, as_table, oxide_mass

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .minerals.salts import SaltDetections

__all__ = ["plot_phase_map", "plot_ternary", "plot_correlation", "PHASE_COLOURS", "PHASE_HATCHES",
           "TERNARY_ENDMEMBERS"]

#: Colour per phase label: salts saturated, silicates muted.
PHASE_COLOURS: dict[str, str] = {
    "Ca-sulfate": "#2166ac", "Mg-sulfate": "#67a9cf", "Fe-sulfate": "#e6ab02", "chloride": "#e7298a",
    "perchlorate": "#fbb4d9", "carbonate": "#d95f02", "phosphate": "#7570b3",
    "olivine": "#66a61e", "pyroxene": "#1b7837", "feldspar": "#e5c494", "mixed silicate": "#999999",
    "oxide": "#252525", "phyllosilicate": "#a6761d", "silica": "#fff2ae", "amphibole": "#8dd3c7",
    "accessory": "#bc80bd", "low total": "#ffffff", "invalid": "#ffffff",
}
#: Labels drawn white with a hatch (not another shade of grey): they are not phases.
PHASE_HATCHES: dict[str, str] = {"low total": "////", "invalid": "xx"}
_ORDER = list(PHASE_COLOURS)
#: End-members marked by default on common ternaries (others: those with ≥ 20 % of their visible
#: mass on the apices).
TERNARY_ENDMEMBERS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("CaO", "MgO", "FeO"): ("calcite", "dolomite", "ankerite", "magnesite", "siderite", "Fe-Mg carbonate",
                            "forsterite", "fayalite", "olivine Fo55", "diopside", "hedenbergite", "augite",
                            "enstatite", "ferrosilite"),
    ("Al2O3", "CaO+Na2O", "K2O"): ("albite", "anorthite", "K-feldspar", "augite"),
}


def _colour(label: str) -> str:
    return PHASE_COLOURS.get(label, "#17becf")


def _add_cells(ax, polys, labels, alpha, edge) -> None:
    """Cells coloured by phase; labels of :data:`PHASE_HATCHES` as white hatched cells."""
    import matplotlib.colors as mcolors
    from matplotlib.collections import PolyCollection

    hatched = np.array([lab in PHASE_HATCHES for lab in labels], dtype=bool)
    rgba = [(*mcolors.to_rgb(_colour(lab)), float(a)) for lab, a in zip(labels, alpha)]
    keep = np.flatnonzero(~hatched)
    ax.add_collection(PolyCollection([polys[i] for i in keep], facecolors=[rgba[i] for i in keep],
                                     edgecolors=edge, linewidths=0.3))
    for lab, hatch in PHASE_HATCHES.items():
        idx = [i for i in np.flatnonzero(hatched) if labels[i] == lab]
        if idx:
            ax.add_collection(PolyCollection([polys[i] for i in idx], facecolors="white", edgecolors="0.45",
                                             hatch=hatch, linewidths=0.3))


def _as_phase_map(obj) -> PhaseMap:
    if isinstance(obj, PhaseMap):
        return obj
    if hasattr(obj, "phase_map") and isinstance(obj.phase_map, PhaseMap):
        return obj.phase_map
    return classify_points(obj)


@styled
def plot_phase_map(phase_map: PhaseMap | SaltDetections | CompositionLike, ax: Axes | None = None, *,
                   detections: SaltDetections | None = None, title: str | None = None, legend: bool = True,
                   min_confidence: float = 0.0) -> Figure:
    """Map of the per-point phase labels, points placed by position.

    Parameters
    ----------
    phase_map : PhaseMap, SaltDetections or composition map
        A composition map is classified first (:func:`classify_points`).
    ax : matplotlib Axes, optional
    detections : SaltDetections, optional
        Numbers each detection at its centroid (same numbers as in its report).
    title : str, optional
    legend : bool
        Legend of labels with point counts, outside the map on the right.
    min_confidence : float
        Points below this confidence are drawn pale.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.patches import Patch

    plt = pyplot()
    if detections is None and hasattr(phase_map, "phase_map") and not isinstance(phase_map, PhaseMap):
        detections = phase_map
    pm = _as_phase_map(phase_map)
    t = pm.table
    xy = t.positions_mm[:, :2]
    finite = np.all(np.isfinite(xy), axis=1)
    unplaced = not finite.any()
    if unplaced:  # no point has a position (NaN where unknown): one cell per point, in acquisition order
        xy = np.column_stack([np.arange(len(xy), dtype=float), np.zeros(len(xy))])
        finite = np.ones(len(xy), dtype=bool)
    geom = scan_geometry(xy, finite)
    s = geom.spacing_mm
    labels = pm.phase
    alpha = np.where(pm.confidence >= min_confidence, 1.0, 0.35)
    present = [lab for lab in _ORDER if np.any(labels == lab)] + sorted(set(labels) - set(_ORDER))
    if geom.kind in ("line", "point"):
        if ax is None:
            fig, ax = plt.subplots(figsize=(11, 2.4))
        else:
            fig = ax.figure
        if geom.kind == "line":
            centre = xy[finite].mean(axis=0)
            _, _, vt = np.linalg.svd(xy[finite] - centre, full_matrices=False)
            d = (xy - centre) @ vt[0]
            d = d - np.nanmin(d[finite])
            if np.nanmedian(np.diff(d[finite])) < 0:
                d = d.max() - d
        else:
            d = np.zeros(len(xy))
        polys = [[(x - s / 2, 0), (x + s / 2, 0), (x + s / 2, 1), (x - s / 2, 1)] for x in d[finite]]
        _add_cells(ax, polys, labels[finite], np.ones(int(finite.sum())), edge="0.4")
        ax.set_xlim(np.nanmin(d[finite]) - s, np.nanmax(d[finite]) + s)
        ax.set_ylim(0, 1)
        ax.set_yticks([])
        ax.set_xlabel("point, in acquisition order (the scan holds no positions)" if unplaced else
                      "distance along the scan line (mm)" if geom.kind == "line" else "single point (mm)")
        if detections is not None:
            for k, det in enumerate(detections, start=1):
                x = float(np.mean(d[det.mask]))
                ax.text(x, 0.5, str(k), ha="center", va="center", fontsize=8, fontweight="bold",
                        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "0.3", "alpha": 0.85})
    else:
        if ax is None:
            fig, ax = plt.subplots(figsize=(8.2, 6.2))
        else:
            fig = ax.figure
        polys = [[(x - s / 2, y - s / 2), (x + s / 2, y - s / 2), (x + s / 2, y + s / 2), (x - s / 2, y + s / 2)]
                 for x, y in xy[finite]]
        _add_cells(ax, polys, labels[finite], alpha[finite], edge="none")
        pad = s
        ax.set_xlim(np.nanmin(xy[finite, 0]) - pad, np.nanmax(xy[finite, 0]) + pad)
        ax.set_ylim(np.nanmin(xy[finite, 1]) - pad, np.nanmax(xy[finite, 1]) + pad)
        ax.set_aspect("equal")
        ax.set_xlabel("x (mm)")
        ax.set_ylabel("y (mm)")
        width = np.nanmax(xy[finite, 0]) - np.nanmin(xy[finite, 0]) + 2 * pad
        bar = _nice(0.25 * width)
        x0 = np.nanmax(xy[finite, 0]) + pad - bar - 0.04 * width
        y0 = np.nanmin(xy[finite, 1]) - pad + 0.04 * width
        ax.plot([x0, x0 + bar], [y0, y0], color="k", lw=3, solid_capstyle="butt")
        ax.text(x0 + bar / 2, y0 + 0.015 * width, _fmt_mm(bar), ha="center", va="bottom", fontsize=9,
                fontweight="bold", bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7})
        if detections is not None:
            for k, det in enumerate(detections, start=1):
                cx, cy = det.centroid_mm
                ax.text(cx, cy, str(k), ha="center", va="center", fontsize=8, fontweight="bold",
                        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "0.3", "alpha": 0.85})
    counts = pm.counts()
    if legend:
        handles = [Patch(facecolor=_colour(lab), edgecolor="0.4", hatch=PHASE_HATCHES.get(lab),
                         label=f"{lab} ({counts.get(lab, 0)})") for lab in present]
        if geom.kind == "raster":
            ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False,
                      title="phase (points)", title_fontsize=8)
        else:
            ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5),
                      ncol=1 if len(handles) <= 6 else 2, fontsize=8, frameon=False)
    npts = f"{t.n_points} point{'s' if t.n_points != 1 else ''}"
    n_det = len(detections) if detections is not None else 0
    if title and n_det == 0:                 # never promise numbered detections that are not drawn
        title = title.replace(" (salt detections numbered)", "").replace("(salt detections numbered)", "")
    note = (f"; {n_det} salt detection{'s' if n_det != 1 else ''} numbered" if n_det else
            ("; no salt detection" if detections is not None else ""))
    ax.set_title(title or f"Phases — {t.name or 'composition map'} ({geom.kind}, {npts}{note})", fontsize=10)
    fig.tight_layout()
    return fig


def _parts(expr: str) -> list[str]:
    parts = [p.strip() for p in expr.split("+") if p.strip()]
    if not parts:
        raise CompositionError(f"empty ternary apex {expr!r}", where="plot_ternary")
    return parts


def _apex_values(get, apices: Sequence[str], basis: str):
    vals = []
    for expr in apices:
        v = 0.0
        for ox in _parts(expr):
            w = get(ox)
            v = v + (w / oxide_mass(ox)[2] if basis == "molar" else w)
        vals.append(np.asarray(v, float))
    return np.array(vals)


def _tern_xy(abc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cartesian position of barycentric (a, b, c): a at top, b bottom-left, c bottom-right."""
    s = abc.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        a, b, c = abc / np.where(s > 0, s, np.nan)
    return c + a / 2.0, a * np.sqrt(3) / 2.0


@styled
def plot_ternary(composition_map: CompositionLike, apices: Sequence[str] = ("CaO", "MgO", "FeO"),
                 ax: Axes | None = None, *, basis: str = "wt",
                 color_by: PhaseMap | Literal["phase", "total"] | None = None, endmembers: Sequence | None = None,
                 title: str | None = None) -> Figure:
    """Ternary diagram of three oxides (or sums like "CaO+Na2O") with end-members marked.

    Parameters
    ----------
    composition_map : composition map, PhaseMap or SaltDetections
    apices : (str, str, str)
        Top, bottom-left, bottom-right. "+" sums oxides ("CaO+Na2O").
    basis : {"wt", "molar"}
        wt% or oxide moles (A–CN–K diagrams are usually molar).
    color_by : PhaseMap, "phase", "total" or None
        Colour points by phase label (classifies if needed) or by analytical total.
    endmembers : sequence of str or EndMember, optional
        Default :data:`TERNARY_ENDMEMBERS` for known apices, else library
        end-members with ≥ 20 % of their visible mass on the apices.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    CompositionError
        An apex oxide is not in the map.
    """
    from matplotlib.patches import Patch

    plt = pyplot()
    if len(apices) != 3:
        raise CompositionError(f"a ternary needs 3 apices, got {list(apices)}", where="plot_ternary")
    if basis not in ("wt", "molar"):
        raise CompositionError(f"basis must be 'wt' or 'molar', got {basis!r}", where="plot_ternary")
    pm = composition_map if isinstance(composition_map, PhaseMap) else getattr(composition_map, "phase_map", None)
    t = pm.table if pm is not None else as_table(composition_map)
    miss = [ox for expr in apices for ox in _parts(expr) if ox not in t.oxide_wt]
    if miss:
        raise CompositionError(f"ternary apices need {', '.join(miss)}, not in the map (has {', '.join(t.oxides)})",
                               where="plot_ternary")
    usable = t.usable()
    abc = _apex_values(lambda ox: t.oxide_wt[ox], apices, basis)
    x, y = _tern_xy(np.clip(abc, 0, None))
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.4, 6.6))
    else:
        fig = ax.figure
    h = np.sqrt(3) / 2
    ax.plot([0, 1, 0.5, 0], [0, 0, h, 0], color="k", lw=1)
    for f in (0.2, 0.4, 0.6, 0.8):
        ax.plot([f / 2, 1 - f / 2], [f * h, f * h], color="0.85", lw=0.6, zorder=0)  # a = f
        ax.plot([f, (1 + f) / 2], [0, (1 - f) * h], color="0.85", lw=0.6, zorder=0)  # c = f
        ax.plot([1 - f, (1 - f) / 2], [0, (1 - f) * h], color="0.85", lw=0.6, zorder=0)  # b = f
        ax.text(1 - f / 2 + 0.015, f * h, f"{100 * f:.0f}", fontsize=6, color="0.5", va="center")
    unit = "wt%" if basis == "wt" else "mol"
    ax.text(0.5, h + 0.04, apices[0], ha="center", va="bottom", fontsize=11, fontweight="bold")
    ax.text(-0.05, 0.0, apices[1], ha="right", va="center", fontsize=11, fontweight="bold")
    ax.text(1.05, 0.0, apices[2], ha="left", va="center", fontsize=11, fontweight="bold")
    handles = []
    ok = usable & np.isfinite(x)
    if color_by is None or (isinstance(color_by, str) and color_by == "phase") or isinstance(color_by, PhaseMap):
        if color_by is not None or pm is not None:
            pmap = color_by if isinstance(color_by, PhaseMap) else (pm or classify_points(t))
            labs = pmap.phase
            present = [lab for lab in _ORDER if np.any(labs[ok] == lab)]
            # draw common labels first so rare salts stay visible on top
            for lab in sorted(present, key=lambda q: -np.sum(labs[ok] == q)):
                sel = ok & (labs == lab)
                ax.scatter(x[sel], y[sel], s=12, color=_colour(lab), edgecolors="0.3", linewidths=0.2, alpha=0.85,
                           label=f"{lab} ({int(sel.sum())})")
            handles = [Patch(facecolor=_colour(lab), edgecolor="0.4", label=f"{lab} ({int(np.sum(labs[ok] == lab))})")
                       for lab in present]
        else:
            ax.scatter(x[ok], y[ok], s=10, color="0.35", alpha=0.7)
    elif isinstance(color_by, str) and color_by == "total":
        sc = ax.scatter(x[ok], y[ok], s=12, c=t.total[ok], cmap="viridis", alpha=0.9)
        fig.colorbar(sc, ax=ax, shrink=0.7, label="analytical total (wt%)")
    else:
        raise CompositionError(f"color_by must be a PhaseMap, 'phase', 'total' or None, got {color_by!r}",
                               where="plot_ternary")
    # end-members
    key = tuple(apices)
    if endmembers is None:
        if key in TERNARY_ENDMEMBERS:
            ems = [get_endmember(nm) for nm in TERNARY_ENDMEMBERS[key]]
        else:
            from .minerals.endmembers import endmembers as _all

            ems = []
            for em in _all():
                on = sum(em.oxide_wt.get(ox, 0.0) for expr in apices for ox in _parts(expr))
                if em.visible_total_wt > 0 and on >= 0.2 * em.visible_total_wt:
                    ems.append(em)
    else:
        ems = [e if isinstance(e, EndMember) else get_endmember(e) for e in endmembers]
    groups: dict[tuple[float, float], list[str]] = {}
    for em in ems:
        v = _apex_values(lambda ox: em.oxide_wt.get(ox, 0.0), apices, basis)
        if v.sum() <= 0:
            continue
        ex, ey = _tern_xy(v.reshape(3, 1))
        groups.setdefault((round(float(ex[0]), 2), round(float(ey[0]), 2)), []).append(em.name)
    placed: list[tuple[float, float]] = []
    for (ex, ey), names in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        ax.scatter([ex], [ey], marker="*", s=110, color="gold", edgecolors="k", linewidths=0.7, zorder=5)
        text = "\n".join(names) if len(names) <= 3 else ", ".join(names[:3]) + f" +{len(names) - 3}"
        crowd = sum(1 for px, py in placed if math.hypot(px - ex, py - ey) < 0.12)
        placed.append((ex, ey))
        if ey < 0.02:  # bottom edge: below the axis, staggered when crowded
            off, ha, va = (0.0, -8.0 - 11.0 * crowd * (len(names) if crowd else 1)), "center", "top"
        else:  # push outwards from the centre of the triangle
            dx, dy = ex - 0.5, ey - h / 3
            norm = math.hypot(dx, dy) or 1.0
            off = (8 * dx / norm, 8 * dy / norm + 10.0 * crowd)
            ha = "left" if dx > 0.05 else "right" if dx < -0.05 else "center"
            va = "bottom" if dy > 0 else "top"
        ax.annotate(text, (ex, ey), xytext=off, textcoords="offset points", ha=ha, va=va, fontsize=7, zorder=6,
                    bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.75})
    if handles:
        handles.append(plt.Line2D([], [], marker="*", color="gold", markeredgecolor="k", ls="", markersize=10,
                                  label="end-members"))
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, 1.0), fontsize=7, frameon=False)
    ax.set_xlim(-0.25, 1.25)
    ax.set_ylim(-0.2, h + 0.1)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title or f"{apices[0]}–{apices[1]}–{apices[2]} ({unit}) — {t.name or 'composition map'}",
                 fontsize=10)
    fig.tight_layout()
    return fig


@styled
def plot_correlation(composition_map: CompositionLike, x: str = "CaO", y: str = "SO3", ax: Axes | None = None, *,
                     color_by: PhaseMap | Literal["phase"] | None = None,
                     endmembers: Sequence | None = ("gypsum", "bassanite", "anhydrite"),
                     host: Mapping[str, float] | None = None, title: str | None = None) -> Figure:
    """Scatter of two oxides with mixing lines from the host rock to end-members.

    Mixing is linear in wt%, so a two-component mixture of host and end-member
    falls on the straight line between them.

    Parameters
    ----------
    composition_map : composition map, PhaseMap or SaltDetections
    x, y : str
        Oxides (wt%).
    color_by : PhaseMap, "phase" or None
        Colour by phase label (default: by phase if a PhaseMap is given, else grey).
    endmembers : sequence of str or EndMember
        Mixing-line targets.
    host : dict, optional
        Host composition (oxide -> wt%); default the median of points labelled
        neither salt nor invalid.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = pyplot()
    pm = composition_map if isinstance(composition_map, PhaseMap) else getattr(composition_map, "phase_map", None)
    t = pm.table if pm is not None else as_table(composition_map)
    miss = [ox for ox in (x, y) if ox not in t.oxide_wt]
    if miss:
        raise CompositionError(f"{', '.join(miss)} not in the map (has {', '.join(t.oxides)})",
                               where="plot_correlation")
    if isinstance(color_by, PhaseMap):
        pm = color_by
    elif color_by == "phase" and pm is None:
        pm = classify_points(t)
    usable = t.usable()
    X, Y = t.oxide_wt[x], t.oxide_wt[y]
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.2, 5.6))
    else:
        fig = ax.figure
    from .minerals.endmembers import SALT_FAMILIES

    if pm is not None:
        labs = pm.phase
        for lab in sorted([q for q in _ORDER if np.any(labs[usable] == q)], key=lambda q: -np.sum(labs[usable] == q)):
            sel = usable & (labs == lab)
            ax.scatter(X[sel], Y[sel], s=14, color=_colour(lab), edgecolors="0.3", linewidths=0.2, alpha=0.85,
                       label=f"{lab} ({int(sel.sum())})")
        host_sel = usable & ~np.isin(labs, SALT_FAMILIES + ("invalid",))
    else:
        ax.scatter(X[usable], Y[usable], s=12, color="0.35", alpha=0.7, label=f"points ({int(usable.sum())})")
        host_sel = usable
    if host is None:
        sel = host_sel if host_sel.any() else usable
        host = {x: float(np.median(X[sel])), y: float(np.median(Y[sel]))}
    hx, hy = float(host.get(x, 0.0)), float(host.get(y, 0.0))
    ax.scatter([hx], [hy], marker="s", s=70, color="white", edgecolors="k", zorder=6, label="host (median)")
    xs, ys = [hx], [hy]
    for k, e in enumerate(endmembers or ()):
        em = e if isinstance(e, EndMember) else get_endmember(e)
        ex, ey = em.oxide_wt.get(x, 0.0), em.oxide_wt.get(y, 0.0)
        ax.plot([hx, ex], [hy, ey], ls="--", lw=1.1, color=f"C{k % 10}", zorder=4)
        ax.scatter([ex], [ey], marker="*", s=140, color=f"C{k % 10}", edgecolors="k", linewidths=0.7, zorder=6,
                   label=f"{em.name} ({ex:.1f}, {ey:.1f})")
        xs.append(ex)
        ys.append(ey)
    ok = usable & np.isfinite(X) & np.isfinite(Y)
    r = float(np.corrcoef(X[ok], Y[ok])[0, 1]) if ok.sum() >= 3 and np.std(X[ok]) > 0 and np.std(Y[ok]) > 0 \
        else math.nan
    allx = np.concatenate([X[ok], xs])
    ally = np.concatenate([Y[ok], ys])
    ax.set_xlim(min(0.0, allx.min()) - 0.03 * np.ptp(allx), allx.max() + 0.05 * np.ptp(allx))
    ax.set_ylim(min(0.0, ally.min()) - 0.03 * np.ptp(ally), ally.max() + 0.05 * np.ptp(ally))
    ax.set_xlabel(f"{x} (wt%)")
    ax.set_ylabel(f"{y} (wt%)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    rt = f"Pearson r = {r:.2f}" if math.isfinite(r) else "r not evaluated"
    ax.set_title(title or f"{y} vs {x} — {t.name or 'composition map'} ({rt})", fontsize=10)
    ax.grid(alpha=0.25)
    fig.tight_layout()
    return fig
