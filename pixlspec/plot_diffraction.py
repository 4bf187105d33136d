"""Figure of diffraction peaks: counts per point, and the strongest peak in both detectors."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .plot_style import styled

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .fit.diffraction import DiffractionPeaks
    from .spectrum import Scan

__all__ = ["plot_diffraction"]

#: Energy range shown around the strongest peak (keV on each side).
ZOOM_HALF_WIDTH_KEV = 1.0


@styled
def plot_diffraction(peaks: DiffractionPeaks, scan: Scan | None = None, *, point: int | None = None) -> Figure:
    """Diffraction counts per point and, with ``scan``, the A and B spectra of the strongest peak.

    Parameters
    ----------
    peaks : DiffractionPeaks
    scan : Scan, optional
        The scan the peaks were found in (for the spectra panel).
    point : int, optional
        Show this point's spectra instead of the strongest peak's.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    from .geometry import grid_from_positions

    n_panels = 2 if scan is not None and len(peaks) else 1
    fig, axes = plt.subplots(1, n_panels, figsize=(5.5 * n_panels, 4.0), squeeze=False)
    ax = axes[0, 0]
    pos = peaks.positions_mm if peaks.positions_mm is not None else np.zeros((peaks.n_points, 3))
    grid = grid_from_positions(pos)
    counts = peaks.counts_map()
    if grid.kind == "raster" and grid.shape[0] > 1:
        im = ax.imshow(grid.to_grid(counts), origin="lower", extent=grid.extent_mm, cmap="magma")
        fig.colorbar(im, ax=ax, label="diffraction counts")
        ax.set_xlabel("x (mm)")
        ax.set_ylabel("y (mm)")
    else:
        x = grid.x[grid.index] if grid.kind == "line" else np.arange(peaks.n_points)
        for d in peaks.detectors:
            ax.bar(x, peaks.counts_map(d), width=grid.step_mm * 0.8, label=f"detector {d}", alpha=0.8)
        ax.set_xlabel("distance along the scan (mm)" if grid.kind == "line" else "point")
        ax.set_ylabel("diffraction counts")
        ax.legend()
    ax.set_title(f"{len(peaks)} diffraction peaks (≥ {peaks.threshold_sigma:g}σ)")
    if n_panels == 2:
        row = peaks.strongest() if point is None else None
        p = int(row["point"]) if row is not None else int(point)
        e0 = float(row["energy_keV"]) if row is not None else None
        ax2 = axes[0, 1]
        rates = {}
        for d in peaks.detectors:
            e = scan.energy_eV(d) / 1000.0
            r = scan.counts(d, p) / scan.live_time_s[d][p]
            rates[d] = (e, r)
            ax2.step(e, r, where="mid", lw=1.0, label=f"{d}")
        (ea, ra), (eb, rb) = rates[peaks.detectors[0]], rates[peaks.detectors[1]]
        rb_on_a = np.interp(ea, eb, rb)
        ax2.step(ea, ra - rb_on_a, where="mid", lw=1.0, color="k", label=f"{peaks.detectors[0]}−{peaks.detectors[1]}")
        if e0 is not None:
            ax2.set_xlim(e0 - ZOOM_HALF_WIDTH_KEV, e0 + ZOOM_HALF_WIDTH_KEV)
            ax2.axvline(e0, color="0.5", ls=":", lw=0.8)
            sel = (ea > e0 - ZOOM_HALF_WIDTH_KEV) & (ea < e0 + ZOOM_HALF_WIDTH_KEV)
            lo = min(0.0, float((ra - rb_on_a)[sel].min()))
            ax2.set_ylim(lo * 1.1, 1.1 * max(ra[sel].max(), rb_on_a[sel].max()))
            label = f" ({row['line']})" if row is not None and row["line"] else ""
            ax2.set_title(f"point {p}: {row['detector']} peak at {e0:.3f} keV, {row['significance']:.0f}σ{label}")
        ax2.set_xlabel("energy (keV)")
        ax2.set_ylabel("counts / s per channel")
        ax2.legend()
    fig.tight_layout()
    return fig
