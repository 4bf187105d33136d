"""Matplotlib figures: spectrum fits (more figures join as maps and minerals land).

Every function returns the matplotlib Figure so users can adjust, show or save
it; none needs a display and none changes matplotlib's backend.
"""
from __future__ import annotations

import numpy as np

__all__ = ["plot_fit", "place_labels"]

#: Minimum horizontal gap between element labels, as a fraction of the energy axis.
LABEL_GAP_FRACTION = 0.018
#: Components are drawn where they exceed this fraction of their own maximum.
COMPONENT_MIN_FRACTION = 1e-3


def _component_colors():
    """Matplotlib tab10 colours except blue (background), red (model) and grey (data)."""
    return [f"C{i}" for i in (1, 2, 4, 5, 6, 8, 9)] * 3


def _pyplot():
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


def plot_fit(result, ax=None, *, components: int = 8, log: bool = True, markers: bool = True):
    """Plot a :class:`~pixlspec.fit.single.FitResult`: data, model, background,
    the strongest components, element markers and the normalised residual.

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
    plt = _pyplot()
    e_keV = result.energy_eV / 1000.0
    if ax is None:
        fig, (ax, axr) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True,
                                      gridspec_kw={"height_ratios": [3.2, 1], "hspace": 0.05})
    else:
        fig, axr = ax.figure, None
    floor = 0.5
    ax.step(e_keV, np.maximum(result.counts, floor), where="mid", color="0.55", lw=0.8, label="data", zorder=1)
    comps = result.components()
    top = sorted(comps, key=lambda k: -result.areas.get(k, 0))[:components]
    for color, name in zip(_component_colors(), top):
        comp = comps[name]
        # draw a component only where it matters (> 0.1 % of its peak), on top of the background
        y = np.where(comp > COMPONENT_MIN_FRACTION * comp.max(), comp + result.background, np.nan)
        ax.plot(e_keV, y, lw=0.7, alpha=0.85, color=color, label=name, zorder=2)
    ax.plot(e_keV, np.maximum(result.background, floor), color="C0", lw=1.1, ls="--", label="background", zorder=3)
    ax.plot(e_keV, np.maximum(result.model, floor), color="C3", lw=1.2,
            label=f"model (χ²ᵣ = {result.chi2_reduced:.2f})", zorder=4)
    if log:
        ax.set_yscale("log")
        ax.set_ylim(floor, max(result.counts.max(), 1) * 3)
    ax.set_ylabel("counts / channel")
    s = result.spectrum
    title = f"{s.source.split('/')[-1] if s.source else 'spectrum'} — detector {s.detector}, {s.live_time_s:.4g} s live"
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, ncol=2, loc="upper right", framealpha=0.85)
    if markers:
        model = result.spectrum_model
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
        axr.axhline(0, color="C3", lw=0.8)
        axr.set_ylabel("(data − model)/σ")
        axr.set_xlabel("energy (keV)")
        lim = max(5.0, float(np.nanmax(np.abs(result.residual))) * 1.05)
        axr.set_ylim(-lim, lim)
    else:
        ax.set_xlabel("energy (keV)")
    ax.set_xlim(e_keV[0], e_keV[-1])
    return fig
