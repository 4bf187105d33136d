"""The demo's example-data files (pixlspec.demo.targets)."""

from __future__ import annotations

import pytest

from pixlspec.demo import REAL_SCAN, find_example_data
from pixlspec.errors import PixlspecError


def test_find_example_data(tmp_path):
    assert (find_example_data() / REAL_SCAN).is_file()
    with pytest.raises(PixlspecError, match="not in this folder"):
        find_example_data(tmp_path)
    with pytest.raises(PixlspecError, match="no such folder"):
        find_example_data(tmp_path / "nope")
