"""Where chunks of work run: in this process, a local process pool, or a Dask cluster.

A *backend* runs task functions over argument tuples and yields
``(index, result)`` as tasks finish. The map fit (:func:`pixlspec.fit_map`)
and the batch command (:mod:`pixlspec.batch`) cut their work into the same
tasks — sums of chunks of points, fits of chunks of points — and hand them to
whichever backend they are given:

* :class:`SerialBackend` (``workers=None``): tasks run in this process, one
  after the other, each using every core through numba ``prange`` and
  multithreaded BLAS; a reader thread streams the next chunk from HDF5 while
  the current one is fitted.
* :class:`ProcessBackend` (``workers=N``): a pool of N single-threaded worker
  processes (started with ``forkserver``/``spawn``, safe with threads).
  Chunks of file-backed scans are read by the workers themselves: only the
  file name and the point range travel.
* :class:`DaskBackend` (``scheduler="tcp://host:8786"`` or a
  ``distributed.Client``): the same tasks run on a Dask distributed cluster;
  the workers must see the scan files at the same paths (shared file system).

Tasks are deterministic and work row by row, so every backend gives
bit-identical results.
"""
from __future__ import annotations

import abc

import concurrent.futures as cf
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from .errors import ConfigError

__all__ = ["Backend", "SerialBackend", "ProcessBackend", "DaskBackend", "get_backend", "Lazy", "resolve",
           "resolve_args"]


class Lazy(abc.ABC):
    """An argument the worker computes itself before the task runs (e.g. reads rows of a file).

    Subclasses implement :meth:`load`. The serial backend loads the next
    task's lazy arguments in a background thread while the current task runs.
    """

    @abc.abstractmethod
    def load(self):
        """The argument's value."""


def resolve(obj):
    """``obj.load()`` for a :class:`Lazy`, else ``obj``."""
    return obj.load() if isinstance(obj, Lazy) else obj


def resolve_args(args: Sequence) -> tuple:
    """Load every :class:`Lazy` in ``args`` (also inside lists, tuples and dicts one level deep)."""
    out = []
    for a in args:
        if isinstance(a, Lazy):
            a = a.load()
        elif isinstance(a, (list, tuple)):
            a = type(a)(resolve(x) for x in a)
        elif isinstance(a, dict):
            a = {k: resolve(v) for k, v in a.items()}
        out.append(a)
    return tuple(out)


def _call(fn: Callable, args: tuple):
    return fn(*resolve_args(args))


class Backend(abc.ABC):
    """Runs tasks; see the module docstring."""

    #: True when tasks run in other processes (arguments are pickled, in-memory arrays travel).
    remote: bool = False
    name: str = "backend"

    @abc.abstractmethod
    def map(self, fn: Callable, arg_tuples: Iterable[tuple]) -> Iterator[tuple[int, Any]]:
        """Run ``fn(*args)`` for each tuple; yield ``(index, result)`` as tasks finish.

        The first exception raised by a task is raised here (remaining tasks are cancelled).
        """

    def share(self, obj):
        """A handle to pass ``obj`` (large, read-only, used by many tasks) to tasks."""
        return obj

    @property
    def n_workers(self) -> int:
        return 1

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(workers={self.n_workers})"


class SerialBackend(Backend):
    """Tasks in this process, in order; lazy arguments of the next task load in a thread."""

    name = "serial"

    def map(self, fn, arg_tuples):
        items = list(arg_tuples)
        if not items:
            return
        with cf.ThreadPoolExecutor(1, thread_name_prefix="pixlspec-prefetch") as reader:
            pending = reader.submit(resolve_args, items[0])
            for i in range(len(items)):
                args = pending.result()
                if i + 1 < len(items):
                    pending = reader.submit(resolve_args, items[i + 1])
                yield i, fn(*args)

    @property
    def n_workers(self) -> int:
        return os.cpu_count() or 1


def _init_worker(threads: int) -> None:
    """Worker process set-up: one compute thread each (the pool supplies the parallelism)."""
    os.environ.setdefault("BLOSC_NTHREADS", str(threads))
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    except ImportError:  # pragma: no cover
        pass
    try:
        import numba

        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    except Exception:  # pragma: no cover - numba without threading layer
        pass


def _mp_context():
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


class ProcessBackend(Backend):
    """A local pool of ``workers`` processes with ``threads_per_worker`` compute threads each."""

    remote = True
    name = "processes"

    def __init__(self, workers: int | None = None, threads_per_worker: int = 1):
        workers = int(workers or os.cpu_count() or 1)
        if workers < 1:
            raise ConfigError(f"workers must be >= 1, got {workers}", where="workers")
        self._workers = workers
        self._pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context(),
                                            initializer=_init_worker, initargs=(int(threads_per_worker),))
        self._lock = threading.Lock()

    @property
    def n_workers(self) -> int:
        return self._workers

    def map(self, fn, arg_tuples):
        with self._lock:
            futures = {self._pool.submit(_call, fn, tuple(args)): i for i, args in enumerate(arg_tuples)}
        try:
            for fut in cf.as_completed(futures):
                yield futures[fut], fut.result()
        finally:
            for fut in futures:
                fut.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskBackend(Backend):
    """Tasks on a Dask distributed cluster (``distributed.Client`` or scheduler address)."""

    remote = True
    name = "dask"

    def __init__(self, scheduler):
        try:
            from distributed import Client
        except ImportError as e:  # pragma: no cover - optional dependency
            raise ConfigError("a Dask scheduler needs the 'distributed' package "
                              "(pip install 'dask[distributed]')", where="scheduler") from e
        if isinstance(scheduler, Client):
            self.client, self._own = scheduler, False
        else:
            try:
                self.client, self._own = Client(scheduler, timeout="20s"), True
            except (OSError, TimeoutError) as e:
                raise ConfigError(f"cannot reach the Dask scheduler {scheduler!r}: {e}", where="scheduler") from None

    @property
    def n_workers(self) -> int:
        try:
            info = self.client.scheduler_info()
            return max(1, sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))
        except Exception:  # pragma: no cover
            return 1

    def share(self, obj):
        return self.client.scatter(obj, broadcast=True, hash=False)

    def map(self, fn, arg_tuples):
        from distributed import as_completed

        futures = {}
        for i, args in enumerate(arg_tuples):
            futures[self.client.submit(_call, fn, tuple(args), pure=False)] = i
        try:
            for fut in as_completed(list(futures)):
                yield futures[fut], fut.result()
        finally:
            for fut in futures:
                fut.cancel()

    def close(self) -> None:
        if self._own:
            self.client.close()


def get_backend(workers: int | None = None, scheduler=None) -> Backend:
    """The backend for ``workers``/``scheduler``.

    Parameters
    ----------
    workers : int, optional
        ``None`` or ``0``: this process (all cores through threads). ``N >= 1``:
        a local pool of N worker processes.
    scheduler : str or distributed.Client, optional
        A Dask scheduler address (``"tcp://host:8786"``) or client; overrides ``workers``.
    """
    if isinstance(scheduler, Backend):
        return scheduler
    if scheduler is not None:
        return DaskBackend(scheduler)
    if workers is None or int(workers) == 0:
        return SerialBackend()
    if int(workers) < 0:
        raise ConfigError(f"workers must be >= 0, got {workers}", where="workers")
    return ProcessBackend(int(workers))
