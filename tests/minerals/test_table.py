"""Composition tables (pixlspec.minerals.table)."""

from __future__ import annotations

import numpy as np
import pytest

from pixlspec.errors import CompositionError
from pixlspec.minerals import CompositionTable, as_table


# ---------------------------------------------------------------------------------------------
# the composition-map protocol
# ---------------------------------------------------------------------------------------------
def test_table_from_arrays_dict_and_aliases():
    t = CompositionTable.from_arrays(["SiO2", "Fe2O3", "FeO-T"], [[50, 10, 1], [40, 0, 5]], [[0, 0], [0.1, 0]])
    assert t.n_points == 2 and t.oxides == ("SiO2", "FeO")
    assert t.oxide_wt["FeO"][0] == pytest.approx(1 + 10 * 0.8998, abs=1e-3)
    assert t.positions_mm.shape == (2, 3)
    d = CompositionTable.from_dict({"oxide_wt": {"SiO2": [45.0]}, "total": [99.0], "positions_mm": [[0, 0, 0]]})
    assert d.total[0] == 99.0
    plain = as_table({"SiO2": [1.0, 2.0], "CaO": [3.0, 4.0]})
    assert plain.total.tolist() == [4.0, 6.0]
    with pytest.raises(CompositionError, match="3 points, expected 2"):
        CompositionTable.from_dict({"oxide_wt": {"SiO2": [1, 2], "CaO": [1, 2, 3]}})
    with pytest.raises(CompositionError, match="per-point arrays"):
        CompositionTable.from_dict({"oxide_wt": {"SiO2": np.ones((2, 2))}})
    with pytest.raises(CompositionError, match="not an oxide"):
        CompositionTable.from_dict({"oxide_wt": {"Quartz": [1.0]}})
    with pytest.raises(CompositionError, match="at least one point"):  # salts/classify indexed an empty list
        CompositionTable.from_dict({"SiO2": [], "CaO": [], "SO3": []})
    with pytest.raises(CompositionError, match="at least one point"):
        CompositionTable.from_arrays(["SiO2", "CaO"], np.zeros((0, 2)))
    with pytest.raises(CompositionError, match="no 'oxide_wt'"):
        as_table(object())


def test_as_table_reads_a_quant_style_composition_map(comp):
    """Duck-typed like pixlspec.quant.CompositionMap: point_* arrays, grid-shaped oxide_wt, a grid, normalised."""
    from pixlspec.geometry import grid_from_positions

    class FakeQuantMap:
        def __init__(self, t):
            self.grid = grid_from_positions(t.positions_mm)
            self.point_total = t.total
            self.point_oxide_wt = {k: v * 100 / t.total for k, v in t.oxide_wt.items()}  # normalised oxides
            self.point_sigma = dict(t.sigma)
            self.valid = np.ones(t.n_points, bool)
            self.normalised = True
            self.source = "fake.h5"

        @property
        def oxide_wt(self):  # laid on the grid, as the real one
            return {k: self.grid.to_grid(v) for k, v in self.point_oxide_wt.items()}

    t = as_table(FakeQuantMap(comp))
    assert t.name == "fake.h5" and t.n_points == comp.n_points
    np.testing.assert_allclose(t.oxide_wt["SO3"], comp.oxide_wt["SO3"], rtol=1e-9)  # scaling undone
    np.testing.assert_allclose(t.positions_mm[:, :2], comp.positions_mm[:, :2], atol=1e-9)
