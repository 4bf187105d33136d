"""The shared figure style: readable names, distinct colour-blind-safe colours, data-derived log floor,
colour-bar extend arrows where the colour range clips values."""

from __future__ import annotations

import matplotlib.colors as mcolors
import numpy as np
import pytest

from pixlspec.plot_style import PALETTE, colourbar_extend, log_floor, readable_name, series_colours

from tests.helpers.maps import make_maps


@pytest.mark.parametrize("column, name", [
    ("Fe", "Fe K"), ("Pb_L", "Pb L"), ("Rh_K_Compton", "Rh K Compton scatter"),
    ("Rh_K_Rayleigh", "Rh K Rayleigh scatter"), ("Rh_L_scatter", "Rh L scatter"),
    ("pileup", "pile-up (sum peaks)"), ("Fe_Kb", "Fe Kβ"),
])
def test_readable_names(column, name):
    assert readable_name(column) == name


def test_series_colours_are_distinct():
    cols = series_colours(len(PALETTE))
    rgb = np.array([mcolors.to_rgb(c) for c in cols])
    d = np.linalg.norm(rgb[:, None] - rgb[None], axis=-1)
    assert d[~np.eye(len(cols), dtype=bool)].min() > 0.05         # no colour repeats within the palette


def test_log_floor_follows_the_data():
    rng = np.random.default_rng(0)
    low = rng.poisson(0.3, 4000).astype(float)                      # sparse high-energy channels: 1 count
    assert log_floor(low) == pytest.approx(0.5)
    high = rng.poisson(400.0, 4000).astype(float) + 100            # no channel below ~100 counts
    assert log_floor(high) == pytest.approx(0.5)                   # capped: one count stays visible
    frac = np.linspace(0.01, 1.0, 1000)                             # model-like fractional counts
    assert log_floor(frac) == pytest.approx(np.percentile(frac, 0.5) / 2)
    assert log_floor(np.zeros(10)) == 0.5


@pytest.mark.parametrize("lo, hi, expect", [(0, 10, "neither"), (2, 10, "min"), (0, 5, "max"), (2, 5, "both")])
def test_colourbar_extend(lo, hi, expect):
    assert colourbar_extend(np.arange(11.0), lo, hi) == expect


def test_map_colourbar_has_extend_arrows_where_clipped():
    import matplotlib.pyplot as plt

    from pixlspec.plot_maps import plot_map

    maps = make_maps("raster")
    v = maps.point_areas["Fe"] / maps.live_time_s
    fig = plot_map(maps, "Fe", vmin=np.nanmin(v) - 1, vmax=np.nanmax(v) + 1)
    assert fig.axes[-1]._colorbar.extend == "neither"
    plt.close(fig)
    fig = plot_map(maps, "Fe", vmin=np.nanmedian(v), vmax=np.nanmax(v) + 1)
    assert fig.axes[-1]._colorbar.extend == "min"
    plt.close(fig)
