"""Shared pytest fixtures.

``real_data``: the folder of real PIXL files (``shared/data/real`` next to the
project clone, see its SOURCES.md). Tests that use it are skipped when it is
absent, so the suite runs anywhere.

The other fixtures here are used by test modules of more than one subpackage.
Session-scoped ones build an expensive object once; no test may change it.
"""
from __future__ import annotations

from pathlib import Path

import pytest

import pixlspec as px
from pixlspec.io.hdf5 import write_scan
from pixlspec.simulate import simulate_scan

from tests.helpers.maps import basalt_maps, make_comp, make_maps
from tests.helpers.paths import FM_CONFIG, REAL_DATA_DIR
from tests.helpers.scans import small_scan
from tests.helpers.seeds import all_seeds

HAVE_REAL_DATA = REAL_DATA_DIR.is_dir()

requires_real_data = pytest.mark.skipif(not HAVE_REAL_DATA, reason=f"real PIXL data not found at {REAL_DATA_DIR}")


def pytest_collection_modifyitems(config, items):
    """Mark every test that uses ``real_data`` with the ``real`` marker (``-m "not real"`` skips them)."""
    for item in items:
        if "real_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.real)


@pytest.fixture(scope="session")
def real_data() -> Path:
    """Path of the real-data folder; skips the test when it is absent."""
    if not HAVE_REAL_DATA:
        pytest.skip(f"real PIXL data not found at {REAL_DATA_DIR}")
    return REAL_DATA_DIR


# =========================================================================== simulated scans and maps
@pytest.fixture(scope="session")
def scan_files(tmp_path_factory):
    """Two small simulated scan files (8×8 with detector A, 6×10 with A and B), for batch runs."""
    d = tmp_path_factory.mktemp("scans")
    paths = []
    for i, (shape, dets) in enumerate((((8, 8), ("A",)), ((6, 10), ("A", "B")))):
        p = d / f"scan{i}.h5"
        write_scan(small_scan(10 * i, shape, dets), p)
        paths.append(p)
    return paths


@pytest.fixture(scope="session")
def scan16():
    """16×16 scan with both detectors."""
    return simulate_scan(basalt_maps(256, 1e5, seed=21), shape=(16, 16), seed=22)


@pytest.fixture(scope="session")
def maps16(scan16):
    """``fit_map`` of ``scan16``."""
    return px.fit_map(scan16)


@pytest.fixture
def results(tmp_path):
    """A results file with known maps and composition (``make_maps``, ``make_comp``): (path, maps, comp)."""
    maps = make_maps()
    comp = make_comp(maps)
    path = tmp_path / "scan_x_results.h5"
    maps.to_hdf5(path)
    comp.to_hdf5(path)
    return path, maps, comp


# =========================================================================== damaged-file seeds
@pytest.fixture(scope="session")
def seeds(tmp_path_factory) -> dict[str, list[Path]]:
    """Seed files of every format (written by pixlspec, plus the example and real data) that the
    corruption tests copy and damage; the seeds themselves are never modified."""
    return all_seeds(tmp_path_factory.mktemp("seeds"))


# =========================================================================== real data
@pytest.fixture(scope="session")
def fm(real_data):
    """The flight model's instrument, read from its PIQUANT configuration."""
    return px.Instrument.from_piquant_config(real_data / FM_CONFIG)
