"""Batch fitting: local pool vs Dask, resume after a crash, failing scans, bad input."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

import pixlspec as px
from pixlspec.batch import results_path, run_batch
from pixlspec.io.hdf5 import write_scan
from pixlspec.io.results import COMPLETE_ATTR, results_complete
from pixlspec.parallel import ProcessBackend

from tests.helpers.scans import ELEMENTS, small_scan


@pytest.fixture(scope="module")
def pool(scan_files):
    # compile (or load) the kernels here first: the workers then load one numba cache instead of
    # compiling it at the same time as this process
    px.fit_map(scan_files[1])
    backend = ProcessBackend(2)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_local_pool_dask_and_in_process_give_identical_maps(scan_files, pool, dask_client):
    path = scan_files[1]
    local = px.fit_map(path, elements=ELEMENTS, backend=pool, chunk_points=16)
    dask = px.fit_map(path, elements=ELEMENTS, scheduler=dask_client, chunk_points=16)
    assert local.timing["backend"] == "processes" and dask.timing["backend"] == "dask"
    # the same tasks on the local pool and on Dask: bit-identical, sum fits included
    assert dask.columns == local.columns
    for d in ("A", "B"):
        assert dask.sum_fit[d].params == local.sum_fit[d].params, d
        np.testing.assert_array_equal(dask.sum_fit[d].design, local.sum_fit[d].design)
    for c in local.columns:
        np.testing.assert_array_equal(dask.point_areas[c], local.point_areas[c])
        np.testing.assert_array_equal(dask.point_sigma[c], local.point_sigma[c])
    np.testing.assert_array_equal(dask.chi2_reduced_points, local.chi2_reduced_points)
    # in this process (all cores) and with any chunk size, the point fits are identical too
    sums = {d: local.sum_fit[d] for d in ("A", "B")}
    for kw in ({"chunk_points": 16}, {"chunk_points": 1000}):
        other = px.fit_map(path, elements=ELEMENTS, sum_fits=sums, **kw)
        for c in local.columns:
            np.testing.assert_array_equal(other.point_areas[c], local.point_areas[c])
            np.testing.assert_array_equal(other.point_sigma[c], local.point_sigma[c])
        np.testing.assert_array_equal(other.chi2_reduced_points, local.chi2_reduced_points)
    # and its own sum fit agrees to rounding: a last-bit change of the sum fit can round the float32
    # design (map_kernels products) the other way, ~1e-7 relative, far below every 1σ
    inproc = px.fit_map(path, elements=ELEMENTS)
    for c in local.columns:
        diff = np.abs(inproc.point_areas[c] - local.point_areas[c])
        assert np.all(diff <= 1e-4 * local.point_sigma[c] + 1e-6 * np.abs(local.point_areas[c]) + 1e-9), c


def test_batch_resumes_and_survives_failing_scans(tmp_path, scan_files, pool):
    bad_dir = tmp_path / "in"
    bad_dir.mkdir()
    truncated = bad_dir / "truncated.h5"
    data = scan_files[0].read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    wrong = bad_dir / "wrong_channels.h5"
    s = small_scan(5)
    write_scan(px.Scan({"A": s.raw_counts("A")[:, :1024]}, s.live_time_s, positions_mm=s.positions_mm), wrong)
    inputs = [str(scan_files[0]), str(truncated), str(wrong), str(scan_files[1])]
    out = tmp_path / "out"

    report = run_batch(inputs, str(out), elements=ELEMENTS, backend=pool)
    status = {Path(o.input).name: o.status for o in report.outcomes}
    assert status == {"scan0.h5": "done", "truncated.h5": "failed", "wrong_channels.h5": "failed",
                      "scan1.h5": "done"}
    assert not report.ok
    msgs = {Path(o.input).name: o.message for o in report.outcomes}
    assert "truncated.h5" in msgs["truncated.h5"] and "1024 channels" in msgs["wrong_channels.h5"]
    outputs = results_path(inputs, str(out))
    assert sorted(os.listdir(out)) == ["scan0_maps.h5", "scan1_maps.h5"]  # nothing half-written
    assert results_complete(outputs[inputs[0]]) and results_complete(outputs[inputs[3]])
    maps1 = px.ElementMaps.from_hdf5(outputs[inputs[3]])
    assert maps1.detector == "A+B" and maps1.shape == (6, 10)

    # rerun: complete results are skipped
    mtime = os.path.getmtime(outputs[inputs[0]])
    report = run_batch([inputs[0], inputs[3]], str(out), elements=ELEMENTS, backend=pool)
    assert [o.status for o in report.outcomes] == ["skipped", "skipped"] and report.ok
    assert os.path.getmtime(outputs[inputs[0]]) == mtime

    # a crash mid-write: a partial file without the completion mark, and a stray temporary file
    with h5py.File(outputs[inputs[3]], "r+") as f:
        del f.attrs[COMPLETE_ATTR]
    stray = out / ".scan1_maps.h5.abc123.part"
    stray.write_bytes(b"partial")
    report = run_batch([inputs[0], inputs[3]], str(out), elements=ELEMENTS, backend=pool)
    assert [o.status for o in report.outcomes] == ["skipped", "done"] and report.ok
    assert results_complete(outputs[inputs[3]]) and not stray.exists()

    # other settings: redone
    report = run_batch([inputs[0]], str(out), elements=ELEMENTS[:-1], backend=pool)
    assert [o.status for o in report.outcomes] == ["done"]


def test_batch_on_dask_matches_local(tmp_path, scan_files, pool, dask_client):
    a = run_batch([str(scan_files[0])], str(tmp_path / "local"), elements=ELEMENTS, backend=pool)
    b = run_batch([str(scan_files[0])], str(tmp_path / "dask"), elements=ELEMENTS, scheduler=dask_client)
    assert a.ok and b.ok
    ma = px.ElementMaps.from_hdf5(a.outcomes[0].output)
    mb = px.ElementMaps.from_hdf5(b.outcomes[0].output)
    for c in ma.columns:
        np.testing.assert_array_equal(ma.point_areas[c], mb.point_areas[c])


def test_batch_folder_of_msa_files(tmp_path):
    pytest.importorskip("pixlspec.io.msa")
    scan = small_scan(7, shape=(3, 4))
    folder = tmp_path / "msa_scan"
    folder.mkdir()
    for i in range(scan.n_points):
        px.write_msa(scan.spectrum(i, "A"), folder / f"point_{i:04d}.msa")
    report = run_batch([str(folder)], str(tmp_path / "out"), elements=ELEMENTS, workers=0)
    assert report.ok, report.outcomes[0].message
    m = px.ElementMaps.from_hdf5(report.outcomes[0].output)
    assert m.n_points == 12 and np.all(m.point_areas["Fe"] > 0)
