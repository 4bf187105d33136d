"""Results files are standard NeXus (checked with silx's NXdata helpers) and MAPS v10 with v9 links."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from test_export import OXIDES, make_comp, make_maps

nxdata = pytest.importorskip("silx.io.nxdata")


@pytest.fixture(params=["line", "raster"])
def results(request, tmp_path):
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
