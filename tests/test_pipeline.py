"""pixlspec.pipeline: the one balance and normalisation policy of the CLI and the demo."""

from __future__ import annotations

import numpy as np

import pixlspec as px
from pixlspec.pipeline import minerals_input, quantify_maps, stored_composition
from pixlspec.simulate import composition_areas

from tests.helpers.lookalikes import AreaMaps


BASALT = {"SiO2": 49.9, "TiO2": 2.73, "Al2O3": 13.5, "FeO": 11.07, "MnO": 0.17, "MgO": 7.23, "CaO": 11.4,
          "Na2O": 2.22, "K2O": 0.52, "P2O5": 0.27}


def _maps(scale: float) -> AreaMaps:
    inst = px.Instrument.pixl()
    live = np.full(4, 60.0)
    areas, _, groups = composition_areas([BASALT] * 4, inst, live)
    return AreaMaps({g: scale * areas[g] for g in groups}, live, inst)


def test_balance_only_where_absolute_intensities_can_be_trusted():
    right = quantify_maps(_maps(1.0))          # uncalibrated, totals ~100 %: the CO2 balance
    assert right.balance == "CO2"
    assert np.allclose(right.point_total, 100.0, rtol=0.02)
    off = quantify_maps(_maps(3.0))            # uncalibrated, totals ~300 %: no balance
    assert off.balance is None
    assert np.median(off.point_total) > 200
    given = quantify_maps(_maps(3.0), balance="CO2")  # an explicit choice is kept
    assert given.balance == "CO2"


def test_minerals_input_normalises_only_implausible_uncalibrated_totals():
    off = quantify_maps(_maps(3.0))
    table, note = minerals_input(off, name="x")
    assert note and "normalised to 100 %" in note
    assert np.allclose(table.total[table.valid], 100.0)
    table, note = minerals_input(quantify_maps(_maps(1.0)))
    assert note is None


def test_stored_composition_of_a_results_file(tmp_path):
    maps = _maps(1.0)
    comp = quantify_maps(maps)
    path = tmp_path / "r.h5"
    comp.to_hdf5(path)
    back = stored_composition(path)
    assert back is not None
    np.testing.assert_allclose(back.point_total, comp.point_total)
    import h5py

    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as f:
        f.create_group("entry")
    assert stored_composition(empty) is None


def test_file_level_path_scan_then_results_file(tmp_path):
    """element_maps_of fits a scan and reads a results file back; composition_of prefers the composition a
    results file holds; the progress callback sees every fitted point; detected_elements keeps the
    elements the simulated basalt has in abundance and drops one it does not hold."""
    from pixlspec.pipeline import AUTO_BALANCE, composition_of, detected_elements, element_maps_of, salts_of

    scan = px.simulate_scan(compositions=[BASALT] * 16, shape=(4, 4), live_time_s=2.0, seed=3)
    path = tmp_path / "basalt.h5"
    px.write_scan(scan, path)
    events = []
    maps, fitted = element_maps_of(path, elements=["Si", "K", "Ca", "Ti", "Fe", "Zn"],
                                   progress=lambda stage, n, total: events.append((stage, n, total)))
    assert fitted and maps.n_points == 16
    fitting = [e for e in events if e[0] == "fitting"]
    assert sum(n for _, n, _ in fitting) == 16 and fitting[-1][2] == 16
    shown = detected_elements(maps)
    assert {"Si", "Ca", "Fe"} <= set(shown) and "Zn" not in shown
    res = tmp_path / "basalt_results.h5"
    maps.to_hdf5(res)
    back, fitted = element_maps_of(res)
    assert not fitted and back.columns == maps.columns
    comp = quantify_maps(maps)
    comp.to_hdf5(res)
    none, stored, fitted = composition_of(res, balance=AUTO_BALANCE)
    assert none is None and not fitted
    np.testing.assert_array_equal(stored.point_oxide_wt["SiO2"], comp.point_oxide_wt["SiO2"])
    again, fresh, _ = composition_of(res, balance=None)      # another balance: quantified from the areas
    assert again is not None and fresh.balance is None
    found, notes, normalisation = salts_of(stored, name="basalt")
    assert len(found) == 0 and normalisation is None      # a basalt holds no salt


def test_minerals_input_normalises_off_totals():
    n = 5
    comp = {"oxide_wt": {"SiO2": np.full(n, 3.0), "FeO": np.full(n, 1.0), "CaO": np.full(n, 1.0)},
            "total": np.full(n, 5.0), "positions_mm": np.column_stack([np.arange(n) * 0.1, np.zeros(n)])}

    class Uncalibrated(dict):
        calibrated = False

    table, note = minerals_input(Uncalibrated(comp))
    assert note and "normalised to 100 %" in note
    assert np.allclose(table.total, 100.0) and np.allclose(table.oxide_wt["SiO2"], 60.0)
    table, note = minerals_input(comp)  # a plain dict is taken as calibrated: left alone
    assert note is None and np.allclose(table.total, 5.0)
