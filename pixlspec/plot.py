"""Matplotlib figures of spectrum fits (maps: :mod:`pixlspec.plot_maps`; style: :mod:`pixlspec.plot_style`).

Every function returns the matplotlib Figure so users can adjust, show or save
it; none needs a display and none changes matplotlib's backend.
"""
from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .fit.result import FitResult

__all__ = ["plot_fit", "place_labels", "pyplot"]

#: Minimum horizontal gap between element labels, as a fraction of the energy axis.
LABEL_GAP_FRACTION = 0.018
#: Components are drawn where they exceed this fraction of their own maximum...
COMPONENT_MIN_FRACTION = 1e-3
#: ...and this fraction of the model (so they do not plunge down a log axis between peaks).
COMPONENT_MODEL_FRACTION = 0.05


def pyplot() -> ModuleType:
    """``matplotlib.pyplot``, with whatever backend the caller has set up.

    The library never selects a backend: headless, matplotlib itself falls
    back to Agg; in a notebook the inline backend stays in place. The command
    line chooses Agg for its own process.
    """
    import matplotlib.pyplot as plt

    return plt


def place_labels(positions: np.ndarray, min_gap: float, n_levels: int = 4) -> np.ndarray:
    """Level (0..n_levels-1) for each label so that labels on one level are >= min_gap apart."""
    order = np.argsort(positions)
    last = np.full(n_levels, -np.inf)
    levels = np.zeros(len(positions), int)
    for i in order:
        x = positions[i]
        for lv in range(n_levels):
            if x - last[lv] >= min_gap:
                levels[i] = lv
                last[lv] = x
                break
        else:
            lv = int(np.argmin(last))
            levels[i] = lv
            last[lv] = x
    return levels


#: Si Kα energy (eV, xraydb/Elam): a Si-escape peak sits this far below its parent line.
SI_KA_ESCAPE_EV = 1740.0
#: Escape peaks are marked for this many of the strongest element groups.
N_ESCAPE_LABELS = 2
#: Scatter and pile-up columns (labelled at their maxima on the spectrum).
_LABELLED_PREFIXES = ("Rh_", "pileup")


def plot_fit(result: FitResult, ax: Axes | None = None, *, components: int = 8, log: bool = True,
             markers: bool = True) -> Figure:
    """Plot a :class:`~pixlspec.fit.result.FitResult`: data, model, background,
    the strongest components, element markers and the normalised residual.

    Components have distinct colour-blind-safe colours and readable names
    ("Rh K Compton scatter", "pile-up (sum peaks)"); scatter and pile-up
    components are labelled at their peaks and the Si-escape peaks of the
    strongest lines are marked. On a log axis the floor comes from the data
    (:func:`pixlspec.plot_style.log_floor`) and components are drawn only
    where they rise above it.

    Parameters
    ----------
    result : FitResult
    ax : matplotlib Axes, optional
        Axes for the spectrum; the residual panel is then left out.
    components : int
        How many of the largest components to draw.
    log : bool
        Logarithmic count axis.
    markers : bool
        Label the main line of each detected element.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from .plot_style import (BACKGROUND_COLOUR, DATA_COLOUR, MODEL_COLOUR, log_floor, readable_name,
                             series_colours, style)

    plt = pyplot()
    with style():
        e_keV = result.energy_eV / 1000.0
        if ax is None:
            fig, (ax, axr) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True,
                                          gridspec_kw={"height_ratios": [3.2, 1], "hspace": 0.05})
        else:
            fig, axr = ax.figure, None
        floor = log_floor(result.counts) if log else 0.0
        ax.step(e_keV, np.maximum(result.counts, floor), where="mid", color=DATA_COLOUR, lw=0.8, label="data",
                zorder=1)
        comps = result.components()
        # the strongest element groups, and every scatter and pile-up column (they are what a reader asks about)
        top = [k for k in sorted(comps, key=lambda k: -result.areas.get(k, 0))
               if not k.startswith(_LABELLED_PREFIXES)][:components]
        top += [k for k in comps if k.startswith(_LABELLED_PREFIXES) and result.areas.get(k, 0) > 0]
        labelled = []
        for color, name in zip(series_colours(len(top)), top):
            comp = comps[name]
            # a component where it matters (> 0.1 % of its peak and above the floor), on top of the background
            show = ((comp > COMPONENT_MIN_FRACTION * comp.max()) & (comp + result.background > floor)
                    & (comp >= COMPONENT_MODEL_FRACTION * result.model))
            y = np.where(show, comp + result.background, np.nan)
            ax.plot(e_keV, y, lw=0.9, alpha=0.9, color=color, label=readable_name(name), zorder=2)
            if name.startswith(_LABELLED_PREFIXES) and comp.max() > 0:
                labelled.append((name, color, int(np.argmax(comp))))
        ax.plot(e_keV, np.where(result.background > floor, result.background, np.nan) if log else result.background,
                color=BACKGROUND_COLOUR, lw=1.1, ls="--", label="background", zorder=3)
        ax.plot(e_keV, np.maximum(result.model, floor) if log else result.model, color=MODEL_COLOUR, lw=1.0,
                label=f"model (χ²ᵣ = {result.chi2_reduced:.2f})", zorder=4)
        if log:
            ax.set_yscale("log")
            ax.set_ylim(floor, max(result.counts.max(), 1) * 3)
        ax.set_ylabel("counts / channel")
        s = result.spectrum
        title = (f"{s.source.split('/')[-1] if s.source else 'spectrum'} — detector {s.detector}, "
                 f"{s.live_time_s:.4g} s live")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7, ncol=2, loc="upper right", framealpha=0.85, frameon=True)
        for name, color, k in labelled:       # scatter and pile-up named where they peak
            ax.annotate(readable_name(name), (e_keV[k], result.model[k]), xytext=(0, 12),
                        textcoords="offset points", ha="center", fontsize=7, color=color,
                        arrowprops={"arrowstyle": "-", "color": color, "lw": 0.6})
        model = result.spectrum_model
        if model is not None:
            strong = [k for k in sorted(result.areas, key=lambda k: -result.areas[k])
                      if k in result.elements][:N_ESCAPE_LABELS]
            for name in strong:
                try:
                    e_esc = (model.main_energy_eV(model.index(name)) - SI_KA_ESCAPE_EV) / 1000.0
                except (KeyError, ValueError):
                    continue
                if e_keV[0] <= e_esc <= e_keV[-1]:
                    k = int(np.argmin(np.abs(e_keV - e_esc)))
                    ax.annotate(f"{name} escape", (e_esc, result.model[k]), xytext=(0, -16),
                                textcoords="offset points", ha="center", fontsize=7, color="0.25",
                                arrowprops={"arrowstyle": "-", "color": "0.4", "lw": 0.6})
        if markers:
            det = [k for k, v in result.detected.items() if v]
            if model is not None and det:
                pos = np.array([model.main_energy_eV(model.index(k)) / 1000.0 for k in det])
                span = e_keV[-1] - e_keV[0]
                levels = place_labels(pos, LABEL_GAP_FRACTION * span)
                trans = ax.get_xaxis_transform()
                for name, x, lv in zip(det, pos, levels):
                    if not e_keV[0] <= x <= e_keV[-1]:
                        continue
                    ax.axvline(x, color="0.3", lw=0.4, ls=":", alpha=0.7)
                    ax.text(x, 0.97 - 0.05 * lv, name, transform=trans, ha="center", va="top", fontsize=7,
                            bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8})
        if axr is not None:
            axr.plot(e_keV, result.residual, color="k", lw=0.6)
            axr.axhline(0, color=MODEL_COLOUR, lw=0.8)
            axr.set_ylabel("(data − model)/σ")
            axr.set_xlabel("energy (keV)")
            lim = max(5.0, float(np.nanmax(np.abs(result.residual))) * 1.05)
            axr.set_ylim(-lim, lim)
        else:
            ax.set_xlabel("energy (keV)")
        ax.set_xlim(e_keV[0], e_keV[-1])
    return fig
