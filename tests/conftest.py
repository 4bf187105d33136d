"""Shared pytest fixtures.

``real_data``: the folder of real PIXL files (``shared/data/real`` next to the
project clone, see its SOURCES.md). Tests that use it are skipped when it is
absent, so the suite runs anywhere.
"""
from __future__ import annotations

from pathlib import Path

import pytest

#: ``<clone>/../shared/data/real``, wherever the clone lives.
REAL_DATA_DIR = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real").resolve()
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
