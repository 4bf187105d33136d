"""Where pixlspec keeps what it computes once: the user cache directory.

Compiled numba kernels (``@njit(cache=True)``) are written to disk so later
processes skip compilation. numba's default puts them in ``__pycache__``
beside the source, which for an installed package is inside
``site-packages``: running the package would then modify its own install
(and leave directories ``pip uninstall`` does not remove). pixlspec sends them
to the user cache directory instead (``~/.cache/pixlspec/numba`` on Linux,
from :mod:`platformdirs`). An explicit ``NUMBA_CACHE_DIR`` still wins, and
``PIXLSPEC_CACHE_DIR`` moves pixlspec's whole cache.

:func:`configure_numba_cache` runs when ``pixlspec`` is imported, before any
kernel module is, so every kernel sees it.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["cache_dir", "numba_cache_dir", "configure_numba_cache", "CACHE_ENV", "APP_NAME"]

#: Environment variable that overrides pixlspec's cache directory.
CACHE_ENV = "PIXLSPEC_CACHE_DIR"
#: Application name under the platform's user cache directory.
APP_NAME = "pixlspec"


def cache_dir() -> Path:
    """pixlspec's user cache directory (not created here).

    ``$PIXLSPEC_CACHE_DIR`` if set, else the platform's user cache directory
    for ``pixlspec`` (``$XDG_CACHE_HOME/pixlspec`` or ``~/.cache/pixlspec`` on
    Linux, ``~/Library/Caches/pixlspec`` on macOS, ``%LOCALAPPDATA%`` on Windows).
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir(APP_NAME, appauthor=False))


def numba_cache_dir() -> Path:
    """Where compiled kernels go: ``$NUMBA_CACHE_DIR`` if set, else ``cache_dir()/numba``."""
    env = os.environ.get("NUMBA_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    return cache_dir() / "numba"


def configure_numba_cache() -> Path:
    """Point numba's on-disk kernel cache at :func:`numba_cache_dir` and return it.

    Sets ``NUMBA_CACHE_DIR`` for this process (and the worker processes it
    starts) unless already set. When numba was imported before pixlspec, its
    configuration has already read the environment, so the setting is also
    applied to ``numba.config`` directly (numba reads it when each kernel is
    decorated). A cache directory that cannot be written only costs compile
    time: numba warns and compiles in memory.
    """
    path = numba_cache_dir()
    os.environ.setdefault("NUMBA_CACHE_DIR", str(path))
    numba = sys.modules.get("numba")
    if numba is not None and not getattr(numba.config, "CACHE_DIR", ""):
        numba.config.CACHE_DIR = str(path)
    return path
