"""Results files (pixlspec.io.results): round trips, MAPS layout, standard NeXus (checked with silx's
NXdata helpers), MAPS v10 with v9 links."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

import pixlspec as px
from pixlspec.element_maps import ElementMaps
from pixlspec.errors import HDF5FormatError
from pixlspec.io.results import COMPLETE_ATTR, read_maps, results_complete
from pixlspec.simulate import simulate_scan

from tests.helpers.maps import OXIDES, basalt_maps, make_comp, make_maps


try:  # silx's NXdata helpers: the NeXus tests skip without silx (their ``results`` fixture says so)
    from silx.io import nxdata
except ImportError:
    nxdata = None


@pytest.fixture(params=["line", "raster"])
def results(request, tmp_path):
    """A line or raster results file with known maps and composition: (kind, path, maps, comp).
    Overrides tests/conftest.py's ``results`` here; skips without silx."""
    pytest.importorskip("silx.io.nxdata")
    maps = make_maps(request.param)
    comp = make_comp(maps)
    path = tmp_path / "r.h5"
    maps.to_hdf5(path)
    comp.to_hdf5(path)
    return request.param, path, maps, comp


def test_maps_nxdata_is_valid_and_a_line_is_one_dimensional(results):
    kind, path, maps, _ = results
    import silx.io

    with silx.io.open(str(path)) as f:
        g = f["entry/maps"]
        assert nxdata.is_valid_nxdata(g)
        d = nxdata.NXdata(g)
        assert d.signal.name.endswith("counts_per_sec")
        x = d.axes[-1]
        np.testing.assert_allclose(x[()], maps.grid.x)
        if kind == "line":
            assert d.signal.shape == (len(maps.columns), maps.n_points)
            assert d.is_curve and not d.is_image                    # profiles, not a 1×n image
            assert d.interpretation == "spectrum"
            # x is the distance along the line: 0.25 mm steps from the first point (make_maps)
            np.testing.assert_allclose(x[()], 0.25 * np.arange(maps.n_points), atol=1e-9)
            assert x.attrs["units"] == "mm"
            fe = d.signal[maps.columns.index("Fe")]
            order = np.argsort(maps.grid.index)
            np.testing.assert_allclose(fe, (maps.point_areas["Fe"] / maps.live_time_s)[order], equal_nan=True)
        else:
            assert d.signal.shape == (len(maps.columns),) + maps.shape
            assert d.is_image
            np.testing.assert_allclose(d.axes[-2][()], maps.grid.y)
        assert d.errors is not None and d.errors.shape == d.signal.shape


def test_composition_nxdata_has_axes_and_units(results):
    kind, path, maps, comp = results
    import silx.io

    with silx.io.open(str(path)) as f:
        g = f["entry/composition"]
        assert nxdata.is_valid_nxdata(g)
        d = nxdata.NXdata(g)
        assert d.signal.attrs["units"] == "wt%"
        names = [n.decode() if isinstance(n, bytes) else n for n in g["oxide_names"][()]]
        assert names == OXIDES
        assert all(a is not None for a in d.axes[1:])             # every spatial dimension has an axis
        assert d.axes[-1].attrs["units"] == "mm"
        k = OXIDES.index("FeO")
        expect = maps.grid.to_grid(comp.point_oxide_wt["FeO"])
        if kind == "line":
            assert d.is_curve and d.signal.shape == (len(OXIDES), maps.n_points)
            np.testing.assert_allclose(d.signal[k], expect[0], equal_nan=True)
        else:
            assert d.is_image and d.signal.shape == (len(OXIDES),) + maps.shape
            np.testing.assert_allclose(d.signal[k], expect, equal_nan=True)
        np.testing.assert_allclose(d.errors[k], np.squeeze(maps.grid.to_grid(comp.point_sigma["FeO"])),
                                   equal_nan=True)
        # per-point arrays stay for programs (acquisition order)
        np.testing.assert_array_equal(g["oxide_wt"][k], comp.point_oxide_wt["FeO"])


def test_maps_layout_v10_with_v9_links(results):
    kind, path, maps, _ = results
    with h5py.File(path, "r") as f:
        assert float(f["MAPS/version"][()]) == 10.0
        x = f["MAPS/Scan/x_axis"]
        assert x == f["MAPS/x_axis"] == f["entry/maps/x"]          # one dataset, three names (hard links)
        assert f["MAPS/Scan/y_axis"] == f["MAPS/y_axis"] == f["entry/maps/y"]
        cps = f["MAPS/XRF_Analyzed/NNLS/Counts_Per_Sec"]
        assert cps.shape == (len(maps.columns),) + maps.shape      # MAPS readers want [channels, y, x]
        names = [n.decode() for n in f["MAPS/XRF_Analyzed/NNLS/Channel_Names"][()]]
        assert names == list(maps.columns)
        if kind == "raster":
            assert cps == f["entry/maps/counts_per_sec"]            # hard link
        else:
            np.testing.assert_array_equal(cps[:, 0, :], f["entry/maps/counts_per_sec"][()])
        # the default chain leads to a plottable NXdata
        assert f.attrs["default"] == "entry" and f["entry"].attrs["default"] == "maps"


def test_results_still_read_back(results):
    from pixlspec.io.results import read_composition_map, read_maps

    _, path, maps, comp = results
    m = read_maps(path)
    np.testing.assert_array_equal(m.point_areas["Fe"], maps.point_areas["Fe"])
    assert m.grid.shape == maps.grid.shape
    c = read_composition_map(path)
    np.testing.assert_array_equal(c.point_oxide_wt["SiO2"], comp.point_oxide_wt["SiO2"])


def test_results_file_round_trip_and_maps_layout(tmp_path, maps16):
    out = tmp_path / "res" / "scan_maps.h5"
    maps16.to_hdf5(out)
    assert results_complete(out)
    assert [p.name for p in out.parent.iterdir()] == ["scan_maps.h5"]  # no temporary file left
    with h5py.File(out, "r") as f:
        g = f["entry/maps"]
        assert f.attrs["default"] == "entry" and f["entry"].attrs["default"] == "maps"
        assert g.attrs["NX_class"] == "NXdata" and g.attrs["signal"] == "counts_per_sec"
        assert list(g.attrs["axes"]) == [".", "y", "x"]
        n_col = len(maps16.columns)
        assert g["counts_per_sec"].shape == (n_col, 16, 16)
        assert g["counts_per_sec_errors"].shape == (n_col, 16, 16)
        assert g["x"].attrs["units"] == "mm" and g["x"].shape == (16,)
        names = [s.decode() for s in g["element_names"][()]]
        assert names == maps16.columns
        nn = f["MAPS/XRF_Analyzed/NNLS"]
        assert nn["Counts_Per_Sec"] == g["counts_per_sec"]          # the same object: hard links
        assert nn["Channel_Names"] == g["element_names"]
        assert nn["Channel_Units"] == g["element_units"]
        assert "config" in f["entry/process"] and "instrument" in f["entry/process"]
        fe = names.index("Fe")
        np.testing.assert_allclose(g["counts_per_sec"][fe], maps16.counts_per_sec("Fe"))
    back = ElementMaps.from_hdf5(out)
    assert back.columns == maps16.columns and back.detector == "A+B"
    for c in maps16.columns:
        np.testing.assert_array_equal(back.point_areas[c], maps16.point_areas[c])
        np.testing.assert_array_equal(back.point_sigma[c], maps16.point_sigma[c])
    np.testing.assert_array_equal(back.chi2_reduced_points, maps16.chi2_reduced_points)
    assert set(back.per_detector) == {"A", "B"}
    assert back.config == maps16.config
    assert back.sum_fit["A"]["chi2_reduced"] == pytest.approx(maps16.sum_fit["A"].chi2_reduced)
    # the sum fits come back as records with the attributes of a FitResult, the sum spectrum included, so
    # quantify_map gives the same compositions from the file as from the maps fitted here
    rec, live = back.sum_fit["A"], maps16.sum_fit["A"]
    assert rec.chi2_reduced == live.chi2_reduced and rec.areas == live.areas and rec.elements == live.elements
    np.testing.assert_array_equal(rec.model, live.model)
    np.testing.assert_array_equal(rec.spectrum.counts, live.spectrum.counts)
    assert rec.spectrum.live_time_s == live.spectrum.live_time_s and rec.offset_eV == live.offset_eV
    np.testing.assert_array_equal(px.quantify_map(back).point_oxide_wt["SiO2"],
                                  px.quantify_map(maps16).point_oxide_wt["SiO2"])
    # a file whose completion mark is missing is not taken for a result
    with h5py.File(out, "r+") as f:
        del f.attrs[COMPLETE_ATTR]
    assert not results_complete(out)
    with pytest.raises(HDF5FormatError, match="complete"):
        ElementMaps.from_hdf5(out)


def test_geometry_factor_travels_from_scan_to_results_file(tmp_path):
    """The scan's per-point ##GEOMETRY reaches the maps (for quantify_map) and the results file; a bad
    stored value is refused with the file and the place named."""
    scan = simulate_scan(basalt_maps(16, 1e5, seed=41), shape=(4, 4), detectors=["A"], seed=42)
    g = np.linspace(0.95, 1.12, 16)
    scan.point_metadata["geometry"] = g
    maps = px.fit_map(scan)
    np.testing.assert_array_equal(maps.geometry_factor, g)
    out = tmp_path / "g.h5"
    maps.to_hdf5(out)
    np.testing.assert_array_equal(ElementMaps.from_hdf5(out).geometry_factor, g)
    with h5py.File(out, "r+") as f:
        f["entry/results/geometry_factor"][3] = -1.0
    with pytest.raises(HDF5FormatError, match="geometry_factor of point 3") as e:
        ElementMaps.from_hdf5(out)
    assert "g.h5" in str(e.value)
    with h5py.File(out, "r+") as f:
        f["entry/results/geometry_factor"][3] = 1.0
        f["entry/results/live_time_s"][5] = 1e-300      # a corrupt live time: below 1 µs
    with pytest.raises(HDF5FormatError, match="live time of point 5") as e:
        ElementMaps.from_hdf5(out)
    assert "g.h5" in str(e.value) and "/entry/results" in str(e.value)
    plain = px.fit_map(simulate_scan(basalt_maps(16, 1e5, seed=41), shape=(4, 4), detectors=["A"], seed=42))
    assert plain.geometry_factor is None


def test_read_results_gives_the_maps_and_the_composition_as_objects(tmp_path):
    """``read_results`` gives an ElementMaps and a CompositionMap (``CompositionMap.from_hdf5`` the latter
    alone) equal to what was written; a file of maps alone has no composition."""
    from pixlspec.composition import CompositionMap
    from pixlspec.io.results import read_results

    maps = make_maps()
    comp = make_comp(maps)
    path = tmp_path / "r.h5"
    maps.to_hdf5(path)
    only_maps = read_results(path)
    assert isinstance(only_maps.maps, ElementMaps) and only_maps.composition is None
    comp.to_hdf5(path)
    back = px.read_results(path)
    assert isinstance(back.maps, ElementMaps) and isinstance(back.composition, CompositionMap)
    np.testing.assert_array_equal(back.maps.point_areas["Fe"], maps.point_areas["Fe"])
    for ox in comp.oxides:
        np.testing.assert_array_equal(back.composition.point_oxide_wt[ox], comp.point_oxide_wt[ox])
        np.testing.assert_array_equal(CompositionMap.from_hdf5(path).point_sigma[ox], comp.point_sigma[ox])
    with pytest.raises(px.PixlspecError, match="no such file"):
        read_results(tmp_path / "missing.h5")


@pytest.mark.parametrize("edit, fragment", [
    (lambda g: _renew(g, "oxide_wt", g["oxide_wt"][:-3]), "oxide_wt: has shape"),
    (lambda g: _renew(g, "lod_wt", g["lod_wt"][:2]), "lod_wt: has shape"),
    (lambda g: _renew(g, "total_wt", g["total_wt"][:-1]), "has shape"),
    (lambda g: _renew(g, "valid", np.ones(3, bool)), "valid: has shape"),
    (lambda g: g["oxide_names"].__setitem__(1, g["oxide_names"][0]), "named twice"),
    (lambda g: g["oxide_wt"].__setitem__((0, 3), 1e300), r"of point 3 is 1e\+300"),
    (lambda g: g["oxide_wt"].__setitem__((1, 2), -np.inf), "of point 2 is -inf"),
])
def test_damaged_stored_composition_names_the_dataset(tmp_path, edit, fragment):
    """A results file's composition whose datasets disagree in shape, repeat an oxide or hold absurd wt%
    is refused when read, naming the dataset (it crashed salts/rank/export, or paired the wrong values)."""
    from pixlspec.composition import CompositionMap

    maps = make_maps()
    path = tmp_path / "r.h5"
    maps.to_hdf5(path)
    make_comp(maps).to_hdf5(path)
    with h5py.File(path, "r+") as f:
        edit(f["entry/composition"])
    with pytest.raises(HDF5FormatError, match=fragment) as e:
        CompositionMap.from_hdf5(path)
    assert "r.h5" in str(e.value)


def _renew(group, key, data):
    del group[key]
    group.create_dataset(key, data=data)


def _strings(group, key, values):
    del group[key]
    group.create_dataset(key, data=np.array(values, dtype=h5py.string_dtype()))


def _grid_kind(f, kind):
    grid = json.loads(f["entry/results/grid"][()])
    grid["kind"] = kind
    del f["entry/results/grid"]
    f["entry/results/grid"] = json.dumps(grid)


@pytest.mark.parametrize("edit, fragment", [
    (lambda f: _strings(f["entry/results"], "column_names", ["Si", "Si", "Fe", "Rh_K_Compton"]),
     "column_names names Si more than once"),
    (lambda f: _strings(f["entry/results"], "elements", ["Si", "Ca", "Fe", "Zn"]), "elements Zn have no column"),
    (lambda f: _grid_kind(f, "banana"), "grid kind 'banana'"),
])
def test_inconsistent_maps_are_refused_naming_the_dataset(tmp_path, edit, fragment):
    """Columns named twice drew one map twice, an element without a column failed `map` with KeyError and an
    unknown grid kind passed: refused when read, naming the dataset."""
    maps = make_maps()
    path = tmp_path / "r.h5"
    maps.to_hdf5(path)
    assert list(maps.columns) == ["Si", "Ca", "Fe", "Rh_K_Compton"]
    with h5py.File(path, "r+") as f:
        edit(f)
    with pytest.raises(HDF5FormatError, match=fragment) as e:
        read_maps(path)
    assert "r.h5" in str(e.value)
