"""pixlspec.plot_minerals: every figure is drawn without a display and returned."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from pixlspec.errors import CompositionError  # noqa: E402
from pixlspec.minerals import identify_salts, make_salt_scene  # noqa: E402
from pixlspec.plot_minerals import plot_correlation, plot_phase_map, plot_ternary  # noqa: E402


@pytest.fixture(scope="module")
def raster():
    return identify_salts(make_salt_scene(seed=2).measure(2))


@pytest.fixture(scope="module")
def line():
    return identify_salts(make_salt_scene(kind="line", seed=2).measure(2))


def _legend_texts(fig):
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


def test_phase_map_raster_and_line(raster, line, tmp_path):
    import matplotlib.pyplot as plt

    fig = plot_phase_map(raster)
    assert isinstance(fig, Figure)
    texts = _legend_texts(fig)
    assert any(t.startswith("Ca-sulfate (") for t in texts) and any(t.startswith("carbonate (") for t in texts)
    numbers = [t.get_text() for t in fig.axes[0].texts]
    assert [str(k) for k in range(1, len(raster) + 1)] == [n for n in numbers if n.isdigit()]
    fig.savefig(tmp_path / "raster.png")
    plt.close(fig)
    fig = plot_phase_map(line.phase_map, detections=line)
    assert "distance along the scan line" in fig.axes[0].get_xlabel()
    plt.close(fig)
    one = line.phase_map.table.subset(np.arange(line.phase_map.n_points) == 0)
    fig = plot_phase_map(one)  # a single point still draws
    plt.close(fig)


def test_phase_map_of_a_scan_without_positions():
    """Positions are NaN where unknown (HDF5 layout): with none known the points are drawn in acquisition
    order, and the salt detections are numbered over them."""
    import dataclasses

    import matplotlib.pyplot as plt

    table = make_salt_scene(kind="line", seed=2).measure(2)
    blind = dataclasses.replace(table, positions_mm=np.full_like(table.positions_mm, np.nan))
    found = identify_salts(blind)
    fig = plot_phase_map(found.phase_map, detections=found)
    ax = fig.axes[0]
    assert "acquisition order" in ax.get_xlabel()
    assert ax.get_xlim()[1] - ax.get_xlim()[0] >= table.n_points - 1
    plt.close(fig)
    one = dataclasses.replace(table.subset(np.arange(table.n_points) == 0),
                              positions_mm=np.full((1, table.positions_mm.shape[1]), np.nan))
    plt.close(plot_phase_map(identify_salts(one).phase_map))


def test_ternaries_and_correlation(raster):
    import matplotlib.pyplot as plt

    fig = plot_ternary(raster.phase_map)
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert {"CaO", "MgO", "FeO"} <= set(labels)
    assert any("siderite" in t for t in labels) and any("dolomite" in t for t in labels)
    plt.close(fig)
    fig = plot_ternary(raster.phase_map.table, ("Al2O3", "CaO+Na2O", "K2O"), basis="molar", color_by="total")
    assert any("K-feldspar" in t.get_text() for t in fig.axes[0].texts)
    plt.close(fig)
    with pytest.raises(CompositionError, match="ZrO2"):
        plot_ternary(raster.phase_map, ("ZrO2", "CaO", "FeO"))
    fig = plot_correlation(raster, "CaO", "SO3")
    assert "Pearson r" in fig.axes[0].get_title()
    assert any(t.startswith("gypsum") for t in _legend_texts(fig))
    plt.close(fig)
    fig = plot_correlation(raster.phase_map.table, "Na2O", "Cl", endmembers=("halite", "Na-perchlorate"))
    plt.close(fig)
    with pytest.raises(CompositionError, match="Br"):
        plot_correlation(raster, "Br", "Cl")
