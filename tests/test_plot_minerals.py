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
