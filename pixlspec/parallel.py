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
  file name and the point range travel. :func:`pool_pays` tells whether a
  pool can be faster than this process for a given amount of work.
* :class:`DaskBackend` (``scheduler="tcp://host:8786"`` or a
  ``distributed.Client``): the same tasks run on a Dask distributed cluster;
  the workers must see the scan files at the same paths (shared file system).

Tasks are deterministic and work row by row, so every backend gives
bit-identical results.

Process hygiene: a worker process never outlives the process that started
its pool. Each worker ignores SIGINT (Ctrl-C in a terminal reaches the whole
process group; the parent alone decides what to do) and runs a watchdog
thread that ends the worker as soon as the parent process is gone, however it
died (SIGKILL included): on Linux it waits on a pidfd of the parent, elsewhere
it checks every :data:`PARENT_POLL_S` seconds. The forkserver and the resource
tracker of :mod:`multiprocessing` end by themselves once the parent and the
workers are gone. :meth:`Backend.cancel` stops a running ``map`` promptly
(killing the pool's workers) for Ctrl-C and SIGTERM.
"""
from __future__ import annotations

import abc

import concurrent.futures as cf
import contextlib
import logging
import math
import multiprocessing
import numbers
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from .errors import ConfigError

log = logging.getLogger(__name__)

__all__ = ["Backend", "SerialBackend", "ProcessBackend", "DaskBackend", "get_backend", "Lazy", "resolve",
           "resolve_args", "Cancelled", "pool_pays", "POOL_MIN_POINTS", "POOL_MIN_CHUNKS_PER_WORKER"]

#: Seconds between two checks of a worker that its parent process still runs (platforms without pidfd).
PARENT_POLL_S = 0.5
#: Seconds to wait for a killed worker process to be gone.
WORKER_JOIN_S = 5.0
#: Exit status of a worker process that ends because its parent died (EX_SOFTWARE of sysexits.h).
ORPHAN_EXIT_STATUS = 70
#: Fewest points of work for which a local pool is started. Starting a pool costs seconds (each worker
#: imports the library and loads the compiled kernels: the 121-point flight scan took 6-30 s longer
#: with ``--workers 2`` than in process, docs/performance.md), while this process fits ~50,000 points/s
#: on two cores: below this many points the whole fit takes less than the start-up of the pool.
POOL_MIN_POINTS = 10_000
#: Fewest chunks of points per worker for which a local pool is started: a chunk is the unit of work,
#: so with fewer chunks than this some workers would idle while this process alone uses every core.
POOL_MIN_CHUNKS_PER_WORKER = 2


class Cancelled(Exception):
    """Raised by :meth:`Backend.map` after :meth:`Backend.cancel` (Ctrl-C, SIGTERM)."""


def pool_pays(points: int | Sequence[int], workers: int, chunk_points: int) -> bool:
    """True when a local pool of ``workers`` processes can be faster than this process.

    ``points`` is the number of points of one scan, or of each scan of a
    batch; the points of a scan are cut into chunks of ``chunk_points``. In
    this process every core is used already (numba threads), so a pool only
    pays when there is enough work to hide its start-up and to keep every
    worker busy: at least :data:`POOL_MIN_POINTS` points in all and
    :data:`POOL_MIN_CHUNKS_PER_WORKER` chunks per worker.
    """
    per_scan = [int(points)] if isinstance(points, numbers.Integral) else [int(n) for n in points]
    workers = int(workers)
    if workers < 1 or sum(per_scan) < POOL_MIN_POINTS:
        return False
    n_chunks = sum(math.ceil(n / max(1, int(chunk_points))) for n in per_scan)
    return n_chunks >= POOL_MIN_CHUNKS_PER_WORKER * workers


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
    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self._cancel_event().is_set()

    def _cancel_event(self) -> threading.Event:
        ev = self.__dict__.get("_cancel")
        if ev is None:
            ev = self.__dict__.setdefault("_cancel", threading.Event())
        return ev

    def cancel(self) -> None:
        """Stop promptly: running and later ``map`` calls raise :class:`Cancelled`.

        For Ctrl-C and SIGTERM; safe to call from any thread. A cancelled
        backend cannot run tasks any more.
        """
        self._cancel_event().set()

    def _check(self) -> None:
        if self.cancelled:
            raise Cancelled("the work was cancelled")

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
        self._check()
        with cf.ThreadPoolExecutor(1, thread_name_prefix="pixlspec-prefetch") as reader:
            pending = reader.submit(resolve_args, items[0])
            for i in range(len(items)):
                args = pending.result()
                self._check()  # between two chunks: a cancel waits for one chunk at most
                if i + 1 < len(items):
                    pending = reader.submit(resolve_args, items[i + 1])
                yield i, fn(*args)

    @property
    def n_workers(self) -> int:
        return os.cpu_count() or 1


def _parent_gone(parent_pid: int) -> bool:
    try:
        os.kill(parent_pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # pragma: no cover - the pid was reused by another user's process
        return True
    return False


def _watch_parent(parent_pid: int) -> None:
    """End this process as soon as ``parent_pid`` has ended (a daemon thread waits for it).

    Linux: a pidfd of the parent becomes readable when the parent exits (a
    zombie counts as gone). Elsewhere: the parent pid is checked every
    :data:`PARENT_POLL_S` s, together with this process's own parent (the
    forkserver or the parent itself), which changes when it dies.
    """
    pidfd = None
    if hasattr(os, "pidfd_open"):
        try:
            pidfd = os.pidfd_open(parent_pid)
        except ProcessLookupError:
            os._exit(ORPHAN_EXIT_STATUS)
        except OSError:  # pragma: no cover - kernel without pidfd
            pidfd = None
    elif _parent_gone(parent_pid):  # pragma: no cover - non-Linux
        os._exit(ORPHAN_EXIT_STATUS)
    ppid = os.getppid()

    def watch() -> None:
        if pidfd is not None:
            while True:
                readable, _, _ = select.select([pidfd], [], [])
                if readable:
                    break
        else:  # pragma: no cover - non-Linux
            while os.getppid() == ppid and not _parent_gone(parent_pid):
                time.sleep(PARENT_POLL_S)
        os._exit(ORPHAN_EXIT_STATUS)

    threading.Thread(target=watch, name="pixlspec-parent-watchdog", daemon=True).start()


def _init_worker(threads: int, parent_pid: int | None = None) -> None:
    """Worker process set-up: parent watchdog, no Ctrl-C, one compute thread each."""
    # Ctrl-C in a terminal reaches the whole process group: the parent stops the workers itself
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if parent_pid is not None:
        _watch_parent(parent_pid)
    os.environ.setdefault("BLOSC_NTHREADS", str(threads))
    # numba guards the start of its thread pool with a multiprocessing lock when the start method
    # is a "fork" one (a named semaphore, recorded by the resource tracker). Created here, in a
    # process of its own, it guards nothing, and a worker that is killed or ends with its parent
    # would leave it behind (the tracker then warns on stderr). This process starts no processes:
    # its default start method only tells numba to use no such lock.
    multiprocessing.set_start_method("spawn", force=True)
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
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if ctx.get_start_method() == "forkserver" and threading.current_thread() is threading.main_thread():
        # start the forkserver (if not running yet) with SIGINT ignored: it passes its signal
        # handlers on to the workers it forks, which then ignore Ctrl-C from their first instant
        from multiprocessing import forkserver

        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            forkserver.ensure_running()
        finally:
            signal.signal(signal.SIGINT, previous)
    return ctx


class ProcessBackend(Backend):
    """A local pool of ``workers`` processes with ``threads_per_worker`` compute threads each."""

    remote = True
    name = "processes"

    def __init__(self, workers: int | None = None, threads_per_worker: int = 1):
        workers = int(workers or os.cpu_count() or 1)
        if workers < 1:
            raise ConfigError(f"workers must be >= 1, got {workers}", where="workers")
        self._workers = workers
        self._threads = int(threads_per_worker)
        self._pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context(),
                                            initializer=_init_worker, initargs=(self._threads, os.getpid()))
        self._lock = threading.Lock()

    @property
    def n_workers(self) -> int:
        return self._workers

    def map(self, fn, arg_tuples):
        self._check()
        with self._lock:
            futures = {self._pool.submit(_call, fn, tuple(args)): i for i, args in enumerate(arg_tuples)}
        try:
            for fut in cf.as_completed(futures):
                self._check()
                try:
                    result = fut.result()
                except (cf.CancelledError, BrokenProcessPool):
                    self._check()  # the workers were stopped by cancel(): say so
                    raise
                yield futures[fut], result
        finally:
            # after cancel() the killed pool fails every pending future itself; cancelling them here as
            # well races with that on Python 3.11 (the pool's manager thread dies on a cancelled future,
            # gh-94777's cleanup never runs and the exit hangs on the queue's feeder thread)
            if not self.cancelled:
                for fut in futures:
                    fut.cancel()

    def restarted(self) -> "ProcessBackend":
        """A new pool of the same size (after a worker died and broke this one)."""
        self.close()
        return ProcessBackend(self._workers, self._threads)

    def cancel(self) -> None:
        """Kill the workers now (running tasks are lost) and refuse further tasks."""
        super().cancel()
        # concurrent.futures has no public way to stop running tasks: end the worker processes, then
        # let the pool notice (it is broken now) and release its queues, so that nothing is left over
        processes = dict(getattr(self._pool, "_processes", None) or {})
        call_queue = getattr(self._pool, "_call_queue", None)
        if call_queue is not None:  # tasks still queued for the killed workers are dropped, never waited on
            with contextlib.suppress(OSError, ValueError, AttributeError):
                call_queue.cancel_join_thread()
        for proc in processes.values():
            with contextlib.suppress(OSError, ValueError, AttributeError):  # already gone or closed
                proc.kill()
        for proc in processes.values():
            with contextlib.suppress(OSError, ValueError, AssertionError, AttributeError):
                proc.join(timeout=WORKER_JOIN_S)
        # A worker killed while writing its result leaves half a message in the result pipe, and the
        # pool's manager thread would wait for the rest forever (the pipe's write end stays open in
        # this process). With every worker dead, closing that last write end turns the wait into
        # end-of-file, which the pool treats as broken: it then fails the pending futures and exits.
        result_queue = getattr(self._pool, "_result_queue", None)
        with contextlib.suppress(OSError, ValueError, AttributeError):
            result_queue._writer.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
        manager = getattr(self._pool, "_executor_manager_thread", None)
        if manager is not None:
            manager.join(timeout=WORKER_JOIN_S)
            if manager.is_alive():
                log.warning("the cancelled process pool did not stop within %.0f s", WORKER_JOIN_S)

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

        self._check()
        futures = {}
        for i, args in enumerate(arg_tuples):
            futures[self.client.submit(_call, fn, tuple(args), pure=False)] = i
        self._futures = list(futures)
        try:
            for fut in as_completed(list(futures)):
                self._check()
                yield futures[fut], fut.result()
        finally:
            for fut in futures:
                fut.cancel()

    def cancel(self) -> None:
        """Cancel the tasks of the running ``map`` on the cluster (the cluster itself goes on)."""
        super().cancel()
        futures = getattr(self, "_futures", None)
        if futures:
            try:
                self.client.cancel(futures)
            except Exception:  # pragma: no cover - client already closed
                pass

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
