"""Map figures (pixlspec.plot_maps): rasters, lines, and maps over context images."""

from __future__ import annotations

import numpy as np
import pytest

import pixlspec as px
from pixlspec.io.context import read_context_image
from pixlspec.simulate import simulate_scan

from tests.helpers.maps import basalt_maps, make_maps


FLIGHT = "pixl_flight_sol0125"


@pytest.fixture(scope="module")
def folder(real_data):
    return real_data / FLIGHT


def test_plot_map_over_context(folder):
    import matplotlib.pyplot as plt

    from pixlspec.plot_maps import plot_context_maps, plot_map, plot_rgb

    maps = make_maps("line", n=40)
    maps.point_ids = np.arange(120, 160)
    ctx = read_context_image(folder, point_ids=maps.point_ids)
    fig = plot_map(maps, "Fe", context=ctx)
    ax = fig.axes[0]
    assert ax.images[0].get_array().shape == (580, 752)          # the context image underneath
    coll = [c for c in ax.collections if c.get_array() is not None]
    ij = ctx.pixels(maps.point_ids)
    shown = maps.valid & np.isfinite(ij).all(axis=1)          # PMC 133 is not in the scan: not drawn
    assert shown.sum() == 38
    assert len(coll) == 1 and coll[0].get_array().size == int(shown.sum())
    # the markers sit at the RXL pixels of the points, coloured by their values
    np.testing.assert_allclose(coll[0].get_offsets(), ij[shown])
    np.testing.assert_allclose(coll[0].get_array(), (maps.point_areas["Fe"] / maps.live_time_s)[shown])
    assert any(t.get_text().endswith("mm") for t in fig.findobj(lambda a: hasattr(a, "get_text")))
    plt.close(fig)
    fig = plot_context_maps(maps, ["Fe", "Ca", "Si"], ctx)
    assert sum(a.get_visible() and bool(a.images) for a in fig.axes) == 3
    plt.close(fig)
    plt.close(plot_rgb(maps, ["Fe", "Ca", "Si"], context=ctx))


def test_figures_for_rasters_and_lines(maps16):
    import matplotlib.figure

    for fig in (maps16.plot("Fe"), maps16.plot("Ca", units="counts"), maps16.plot_rgb(("Fe", "Ca", "Si")),
                px.plot_rgb(maps16, ("Fe", "Ca", "S"))):
        assert isinstance(fig, matplotlib.figure.Figure)
        fig.canvas.draw()
    # a line scan draws profiles placed by position
    n = 30
    areas = basalt_maps(n, 5e4, seed=3)
    line = simulate_scan(areas, shape=(1, n), detectors=["A"], seed=4, step_mm=0.25)
    m = px.fit_map(line)
    assert m.grid.kind == "line" and m.shape == (1, n)
    fig = m.plot("Fe")
    ax = fig.axes[0]
    assert "distance" in ax.get_xlabel() and "mm" in ax.get_xlabel()
    fig.canvas.draw()
    m.plot_rgb(("Fe", "Ca", "Si")).canvas.draw()
    with pytest.raises(px.PixlspecError):
        m.plot("Unobtainium")
