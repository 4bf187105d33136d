"""The demo's figures: element panels, the candidates, and every figure of a target."""
from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np

from .targets import FIG_DPI, PANEL_ELEMENTS, DemoTarget

__all__ = ["save_figure", "element_panel", "candidates_figure", "target_figures"]


def save_figure(fig, path: str) -> None:
    """Save a figure as PNG at the demo's resolution and close it."""
    import matplotlib.pyplot as plt

    try:
        fig.savefig(path, dpi=FIG_DPI, bbox_inches="tight", format="png")
    finally:
        plt.close(fig)


def element_panel(maps, elements: Sequence[str], title: str):
    """Several element maps side by side (raster) or stacked profiles (line scan)."""
    from ..plot import pyplot

    plt = pyplot()
    els = list(elements)
    if maps.grid.kind in ("line", "point"):
        fig, axes = plt.subplots(len(els), 1, figsize=(8.5, 1.75 * len(els) + 0.6), sharex=True,
                                 layout="constrained")
        axes = np.atleast_1d(axes)
        for ax, el in zip(axes, els):
            maps.plot(el, ax=ax, title="")
            ax.set_title("")
            ax.set_ylabel(f"{el} (cts/s)")
            if ax.get_legend() is not None:
                ax.get_legend().remove()
            if ax is not axes[-1]:
                ax.set_xlabel("")
        fig.suptitle(title, fontsize=11)
        return fig
    ncol = 3 if len(els) > 4 else 2
    nrow = int(math.ceil(len(els) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.3 * ncol, 3.7 * nrow), layout="constrained")
    axes = np.atleast_1d(axes).ravel()
    for ax, el in zip(axes, els):
        maps.plot(el, ax=ax, title=f"{el} (counts/s)")
    for ax in axes[len(els):]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=11)
    return fig


def candidates_figure(ranking):
    """Bar chart of the sample-candidate scores and their sub-scores."""
    from ..plot import pyplot

    plt = pyplot()
    subs = list(ranking[0].subscores)
    n = len(ranking)
    fig, ax = plt.subplots(figsize=(8.0, 0.9 + 0.55 * len(subs) * max(n, 1) / 1.6), layout="constrained")
    height = 0.8 / max(n, 1)
    y = np.arange(len(subs))
    for i, c in enumerate(ranking):
        vals = [c.subscores[k] for k in subs]
        yy = y + (i - (n - 1) / 2) * height
        ax.barh(yy, vals, height=height * 0.95, color=f"C{i}", label=f"#{c.rank} {c.name} (score {c.score:.2f})")
        for yv, v in zip(yy, vals):
            ax.text(v + 0.01, yv, f"{v:.2f}", va="center", ha="left", fontsize=8)
    ax.set_yticks(y, [f"{k.replace('_', ' ')} (w {ranking[0].weights[k]:.2f})" for k in subs])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("sub-score (0–1)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=min(n, 2), fontsize=9, frameon=False)
    ax.set_title("Sample candidates: sub-scores (score = weighted mean)", fontsize=10)
    return fig


# =========================================================================================
# the pipeline
# =========================================================================================


def target_figures(t: DemoTarget, figdir: str) -> None:
    """Every figure of a target (sum fit, element maps, phases, context image) into ``figdir``."""
    import warnings

    from ..plot_minerals import plot_correlation, plot_phase_map

    m = t.maps
    rel = f"figures/{t.key}_sum_fit.png"
    sum_fit = m.sum_fit.get("A") or next(iter(m.sum_fit.values()))
    fig = sum_fit.plot()
    fig.axes[0].set_title(f"{t.name}: sum of {m.n_points} spectra, detector {sum_fit.spectrum.detector} "
                          f"(χ²ᵣ {sum_fit.chi2_reduced:.2f})", fontsize=10)
    save_figure(fig, os.path.join(figdir, os.path.basename(rel)))
    t.files["sum fit"] = rel

    els = [e for e in PANEL_ELEMENTS if e in m.point_areas]
    rel = f"figures/{t.key}_elements.png"
    save_figure(element_panel(m, els, f"{t.name}: element maps (detectors {m.detector})"),
          os.path.join(figdir, os.path.basename(rel)))
    t.files["element maps"] = rel

    if t.context_dir:
        from ..io.context import read_context_image
        from ..plot_maps import plot_context_maps

        context = read_context_image(t.context_dir, point_ids=m.point_ids)
        rel = f"figures/{t.key}_context_maps.png"
        save_figure(plot_context_maps(m, els[:4], context, title=f"{t.name}: element maps over the MCC context "
                                f"image (PMC {context.pmc})"), os.path.join(figdir, os.path.basename(rel)))
        t.files["maps on context image"] = rel

    rgb = [e for e in t.rgb if e in m.point_areas]
    if len(rgb) == 3:
        rel = f"figures/{t.key}_rgb_{'_'.join(rgb)}.png"
        save_figure(m.plot_rgb(rgb, title=t.name if m.grid.kind == "raster" else f"{t.name}: {' / '.join(rgb)}"),
              os.path.join(figdir, os.path.basename(rel)))
        t.files["RGB composite"] = rel

    rel = f"figures/{t.key}_phases.png"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig = plot_phase_map(t.salts, title=f"{t.name}: phases (salt detections numbered)")
    save_figure(fig, os.path.join(figdir, os.path.basename(rel)))
    t.files["phase map"] = rel

    if t.kind == "simulated":
        rel = f"figures/{t.key}_CaO_SO3.png"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fig = plot_correlation(t.salts.phase_map, "CaO", "SO3",
                                   title=f"{t.name}: CaO vs SO3 with mixing lines to Ca-sulfates")
        save_figure(fig, os.path.join(figdir, os.path.basename(rel)))
        t.files["CaO–SO3 correlation"] = rel


# =========================================================================================
# the report
# =========================================================================================
