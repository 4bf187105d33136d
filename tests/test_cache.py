"""Cache directories and numba's cache (pixlspec.cache)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pixlspec
from pixlspec.cache import cache_dir, configure_numba_cache, numba_cache_dir


def test_cache_directories(monkeypatch, tmp_path):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("PIXLSPEC_CACHE_DIR", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    assert numba_cache_dir() == tmp_path / "c" / "numba"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "n"))
    assert numba_cache_dir() == tmp_path / "n"  # numba's own variable wins
    monkeypatch.delenv("PIXLSPEC_CACHE_DIR")
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert numba_cache_dir() == tmp_path / "xdg" / "pixlspec" / "numba"


def test_numba_configured_to_cache_outside_the_package():
    import numba

    # the running process was configured when pixlspec was imported
    cache = Path(numba.config.CACHE_DIR or os.environ["NUMBA_CACHE_DIR"]).resolve()
    assert cache == Path(os.environ["NUMBA_CACHE_DIR"]).expanduser().resolve()
    assert Path(pixlspec.__file__).resolve().parent not in (cache, *cache.parents)
    assert configure_numba_cache() == numba_cache_dir()
