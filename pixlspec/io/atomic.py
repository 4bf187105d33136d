"""Atomic file writes: write to a temporary file beside the target, then rename.

An interrupted write (exception, kill) never leaves a partial file at the
target path: the temporary file is removed on error, and ``os.replace`` is
atomic on POSIX and Windows.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator

from ..errors import PixlspecError

__all__ = ["atomic_path", "atomic_write_text", "staged_dir"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[str]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    On any exception the temporary file is deleted and the target is untouched.
    """
    target = os.path.abspath(os.fspath(path))
    directory = os.path.dirname(target) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(target) + ".", suffix=suffix + ".part",
                               dir=directory)
    os.close(fd)
    try:
        yield tmp
        # mkstemp creates the file 0600; give the result the permissions of a normal new file
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str, newline: str | None = None) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline=newline) as fh:
            fh.write(text)


@contextlib.contextmanager
def staged_dir(out_dir: str | os.PathLike, *, overwrite: bool = True) -> Iterator[str]:
    """Yield a temporary folder beside ``out_dir``; on success move its files into ``out_dir``.

    Commands that write several files write them into the staging folder;
    only when everything succeeded is ``out_dir`` created and each file moved
    into it (``os.replace``, same file system: atomic per file). On any
    exception the staging folder is deleted and ``out_dir`` is left as it
    was, so a failure never leaves partial output. Files of ``out_dir`` with
    other names are kept. With ``overwrite=False`` a file of ``out_dir`` that
    would be replaced raises :class:`PixlspecError` and nothing is moved.
    """
    target = os.path.abspath(os.fspath(out_dir))
    if os.path.exists(target) and not os.path.isdir(target):
        raise PixlspecError("exists and is not a folder", path=os.fspath(out_dir))
    parent = os.path.dirname(target) or "."
    try:
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix="." + os.path.basename(target) + ".part-", dir=parent)
    except OSError as e:
        raise PixlspecError(f"cannot write the output here: {e.strerror or e}", path=parent) from None
    try:
        yield tmp
        moves = [(os.path.join(root, name), os.path.join(target, os.path.relpath(os.path.join(root, name), tmp)))
                 for root, _, names in os.walk(tmp) for name in names]
        if not overwrite:
            existing = [dst for _, dst in moves if os.path.lexists(dst)]
            if existing:
                raise PixlspecError(f"would overwrite {len(existing)} existing file(s) "
                                    f"({', '.join(os.path.basename(p) for p in existing[:4])}"
                                    f"{', ...' if len(existing) > 4 else ''}); pass --overwrite to replace them",
                                    path=os.fspath(out_dir))
        _move_all(target, moves, os.path.join(tmp, ".replaced"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _move_all(target: str, moves: list[tuple[str, str]], backup_dir: str) -> None:
    """Create the folder ``target`` and move each ``(src, dst)`` into place, all or none.

    The files the moves would replace are set aside in ``backup_dir`` first; when any step fails (a
    read-only folder, a folder where a file should go) the files moved in are removed, those set aside put
    back and the folders created removed, and the failure is a :class:`PixlspecError` naming the path.
    """
    set_aside: list[tuple[str, str]] = []  # (backup, original place)
    moved_in: list[str] = []
    made: list[str] = []  # folders created
    path = target
    try:
        for dst in [os.path.join(target, "-")] + [dst for _, dst in moves]:
            folder = os.path.dirname(dst)
            while folder and not os.path.isdir(folder):  # remember what is created, to undo it
                made.append(folder)
                folder = os.path.dirname(folder)
            path = os.path.dirname(dst)
            os.makedirs(path, exist_ok=True)
        for k, (_, dst) in enumerate(moves):
            path = dst
            if os.path.isdir(dst) and not os.path.islink(dst):
                raise IsADirectoryError(21, "a folder of that name is in the way", dst)
            if os.path.lexists(dst):
                os.makedirs(backup_dir, exist_ok=True)
                backup = os.path.join(backup_dir, str(k))
                os.replace(dst, backup)
                set_aside.append((backup, dst))
        for src, dst in moves:
            path = dst
            os.replace(src, dst)
            moved_in.append(dst)
    except OSError as e:
        for dst in reversed(moved_in):
            with contextlib.suppress(OSError):
                os.unlink(dst)
        for backup, dst in reversed(set_aside):
            with contextlib.suppress(OSError):
                os.replace(backup, dst)
        for folder in sorted(set(made), key=len, reverse=True):
            with contextlib.suppress(OSError):
                os.rmdir(folder)
        raise PixlspecError(f"cannot write the output: {e.strerror or e}; nothing was replaced",
                            path=path) from None
