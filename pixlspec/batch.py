"""Batch map fitting of many scans: resumable, parallel, one results file per scan.

:func:`run_batch` is what ``pixlspec batch`` runs. For each input (HDF5 scan
file, folder of per-point MSA files, PIXL RFS CSV or product folder) it fits
the element maps (:func:`pixlspec.fit_map`) and writes
``<out>/<name>_maps.h5`` atomically. A results file is *complete* when its
completion mark (written last) is present and it records the same input
(size and modification time) and the same settings; a rerun skips complete
scans and redoes the others, so a batch interrupted by a crash resumes where
it stopped. A scan that fails (corrupt file, wrong channel count, ...) is
reported and the others go on; :attr:`BatchReport.ok` says whether all succeeded.

The chunks of points of every scan run on one backend (:mod:`pixlspec.parallel`):
a local process pool by default (only when the scans hold enough points for a
pool to pay, see :func:`pixlspec.parallel.pool_pays`; else this process), or a
Dask cluster. Several scans are in flight at once so small scans keep every
worker busy.

One run at a time writes into an output folder: :func:`run_batch` holds the
lock file ``<out>/.pixlspec-batch.lock`` (an ``flock`` lock, released by the
system when the run ends however it ends; it records the holder's pid) and
refuses with :class:`OutputInUseError` when another run holds it. Ctrl-C
(``KeyboardInterrupt``) stops the work within one chunk of points: the
workers are killed, no results file is started after it, one whose
(atomic) write had already begun is finished, and a rerun resumes.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import datetime
import glob
import hashlib
import json
import logging
import math
import os
import socket
import sys
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .errors import PixlspecError
from .config import FitConfig
from .fit.maps import DEFAULT_MAP_CHUNK_POINTS, fit_map
from .instrument import Instrument
from .io.results import read_results_info, results_complete
from .parallel import Backend, Cancelled, ProcessBackend, SerialBackend, get_backend, pool_pays

__all__ = ["run_batch", "BatchReport", "ScanOutcome", "results_path", "input_identity", "OutputInUseError",
           "output_lock", "LOCK_NAME"]

log = logging.getLogger(__name__)

#: Suffix of results files.
RESULTS_SUFFIX = "_maps.h5"
#: Lock file a batch run holds in its output folder.
LOCK_NAME = ".pixlspec-batch.lock"


class OutputInUseError(PixlspecError):
    """Another run writes into the same output folder (its lock file is held)."""

    def __init__(self, message: str, *, path: str | None = None, holder: dict | None = None):
        self.holder = holder or {}
        super().__init__(message, path=path)


@dataclass
class ScanOutcome:
    """What happened to one input of a batch."""

    input: str
    output: str | None
    status: str                 # "done", "skipped" or "failed"
    n_points: int = 0
    n_valid: int = 0
    detector: str = ""
    median_chi2_reduced: float = float("nan")
    elapsed_s: float = 0.0
    message: str = ""
    #: For a failed scan: True when its input is at fault (a PixlspecError, an unreadable file),
    #: False for an unexpected failure (a bug, a worker that died, a full disk).
    bad_input: bool = False

    @property
    def ok(self) -> bool:
        return self.status != "failed"


@dataclass
class BatchReport:
    outcomes: list[ScanOutcome] = field(default_factory=list)
    elapsed_s: float = 0.0
    #: Where the scans were fitted, and why (e.g. in this process because a pool would not pay).
    backend_note: str = ""

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)

    @property
    def counts(self) -> dict[str, int]:
        out = {"done": 0, "skipped": 0, "failed": 0}
        for o in self.outcomes:
            out[o.status] = out.get(o.status, 0) + 1
        return out


def _scan_name(path: str) -> str:
    base = os.path.basename(os.path.normpath(path))
    stem, ext = os.path.splitext(base)
    return stem if ext.lower() in (".h5", ".hdf5", ".nxs", ".csv", ".msa") else base


def results_path(inputs: Sequence[str], out_dir: str) -> dict[str, str]:
    """Output file of each input: ``<out_dir>/<name>_maps.h5`` (a short hash tells apart equal names)."""
    names: dict[str, list[str]] = {}
    for p in inputs:
        names.setdefault(_scan_name(p), []).append(p)
    out = {}
    for name, paths in names.items():
        for p in paths:
            tag = name if len(paths) == 1 else \
                f"{name}-{hashlib.sha1(os.path.abspath(p).encode()).hexdigest()[:8]}"
            out[p] = os.path.join(out_dir, tag + RESULTS_SUFFIX)
    return out


def input_identity(path: str) -> dict:
    """Size and modification time of an input file (or of the files of an input folder)."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        files = sorted(f for f in glob.glob(os.path.join(path, "**", "*"), recursive=True) if os.path.isfile(f))
        sts = [os.stat(f) for f in files]
        return {"path": path, "files": len(files), "size": int(sum(s.st_size for s in sts)),
                "mtime_ns": int(max((s.st_mtime_ns for s in sts), default=0))}
    st = os.stat(path)
    return {"path": path, "size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}


def _job_key(identity: dict, settings: dict) -> str:
    return hashlib.sha256(json.dumps([identity, settings], sort_keys=True, default=str).encode()).hexdigest()


def _is_done(output: str, key: str) -> bool:
    if not results_complete(output):
        return False
    try:
        prov = read_results_info(output).get("provenance") or {}
    except PixlspecError:
        return False
    return prov.get("batch_key") == key


def _remove_stale_parts(output: str) -> None:
    """Temporary files a killed run left for ``output`` (``.<name>.*.part``)."""
    d, base = os.path.split(os.path.abspath(output))
    for p in glob.glob(os.path.join(glob.escape(d), "." + glob.escape(base) + ".*.part")):
        try:
            os.unlink(p)
        except OSError:
            pass


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _holder_text(holder: dict) -> str:
    pid = holder.get("pid")
    text = f"pid {pid}" if pid else "pid unknown"
    if holder.get("host") and holder.get("host") != socket.gethostname():
        text += f" on {holder['host']}"
    if holder.get("started"):
        text += f", started {holder['started']}"
    return text


def _read_holder(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.loads(fh.read() or "{}")
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _refuse(out_dir: str, path: str, holder: dict):
    raise OutputInUseError(f"another pixlspec batch run ({_holder_text(holder)}) is writing into this folder; "
                           f"two runs on the same output would spoil each other's results: wait for it to end "
                           f"or stop it (lock file {path})", path=out_dir, holder=holder)


@contextlib.contextmanager
def output_lock(out_dir: str):
    """Hold the batch lock of ``out_dir`` (``<out_dir>/.pixlspec-batch.lock``) while the block runs.

    Raises :class:`OutputInUseError` naming the lock file and the other run's
    pid when another run holds it. With ``fcntl`` (POSIX) the lock is an
    ``flock`` that the system releases when its holder ends, whatever the way
    (a killed run leaves no stale lock); elsewhere the file is created
    exclusively and a lock whose recorded pid no longer runs is taken over.
    """
    path = os.path.join(os.path.abspath(out_dir), LOCK_NAME)
    info = {"pid": os.getpid(), "host": socket.gethostname(),
            "started": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
            "argv": list(sys.argv)}
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        fcntl = None
    if fcntl is not None:
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                _refuse(out_dir, path, _read_holder(path))
            # the holder may have released and removed the file between our open and flock: then
            # the lock is on an orphan inode, and the next run would lock a new file; start again
            try:
                if os.path.samestat(os.fstat(fd), os.stat(path)):
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        try:
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps(info).encode())
            yield path
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)
            os.close(fd)
        return
    for _ in range(2):  # pragma: no cover - Windows
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            holder = _read_holder(path)
            if holder.get("host") in (None, socket.gethostname()) and holder.get("pid") \
                    and not _pid_alive(int(holder["pid"])):
                with contextlib.suppress(OSError):
                    os.unlink(path)  # stale: its run is gone
                continue
            _refuse(out_dir, path, holder)
        break
    else:  # pragma: no cover
        _refuse(out_dir, path, _read_holder(path))
    try:  # pragma: no cover - Windows
        os.write(fd, json.dumps(info).encode())
        os.close(fd)
        yield path
    finally:  # pragma: no cover - Windows
        with contextlib.suppress(OSError):
            os.unlink(path)


def _count_points(path: str, instrument) -> int:
    """Points of a scan input (0 when it cannot be read: its own fit then reports why)."""
    from .io.convert import read_scan

    try:
        scan = read_scan(path, instrument=instrument)
    except Exception:  # noqa: BLE001 - reported when the scan is fitted
        return 0
    try:
        return int(scan.n_points)
    finally:
        scan.close()


def _process_one(path: str, output: str, key: str, *, instrument, elements, config, backend, detector,
                 chunk_points, progress, stop: threading.Event | None = None) -> ScanOutcome:
    from .io.convert import read_scan

    t0 = time.perf_counter()
    if stop is not None and stop.is_set():
        raise Cancelled("the batch was interrupted")
    scan = read_scan(path, instrument=instrument)
    try:
        maps = fit_map(scan, elements=elements, instrument=instrument, config=config, backend=backend,
                       detector=detector, chunk_points=chunk_points, progress=progress)
    finally:
        scan.close()
    if stop is not None and stop.is_set():
        raise Cancelled("the batch was interrupted")  # start no results file after Ctrl-C
    _remove_stale_parts(output)
    maps.to_hdf5(output, provenance={"input": os.path.abspath(path), "input_identity": input_identity(path),
                                     "batch_key": key, "command": "pixlspec batch"})
    return ScanOutcome(input=path, output=output, status="done", n_points=maps.n_points,
                       n_valid=int(maps.valid.sum()), detector=maps.detector,
                       median_chi2_reduced=maps.median_chi2_reduced, elapsed_s=time.perf_counter() - t0)


def _message(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text if isinstance(e, PixlspecError) else f"{type(e).__name__}: {text}"


def _is_bad_input(e: BaseException) -> bool:
    """A failure caused by the input (bad or unreadable file), not by pixlspec or the machine."""
    return isinstance(e, (PixlspecError, FileNotFoundError, IsADirectoryError, NotADirectoryError,
                          PermissionError))


def run_batch(inputs: Sequence[str], out_dir: str, *, instrument: Instrument | None = None,
              elements: Sequence[str] | None = None, config: FitConfig | None = None, workers: int | None = None,
              scheduler=None, backend: Backend | None = None, detector=None,
              chunk_points: int = DEFAULT_MAP_CHUNK_POINTS, force: bool = False,
              on_result: Callable[[ScanOutcome], None] | None = None,
              on_points: Callable[[int], None] | None = None) -> BatchReport:
    """Fit the maps of every input scan and write one results file each.

    Parameters
    ----------
    inputs : sequence of str
        Scan files or folders (see :func:`pixlspec.read_scan`).
    out_dir : str
        Folder of the results files (created if needed).
    instrument, elements, config, detector, chunk_points
        As for :func:`pixlspec.fit_map`.
    workers : int, optional
        Local worker processes (default: one per core); 0 = in this process. A pool
        is started only when the scans to fit hold enough points for it to pay
        (:func:`pixlspec.parallel.pool_pays`); otherwise they run in this process.
    scheduler : str or distributed.Client, optional
        Dask scheduler address or client (overrides ``workers``).
    backend : Backend, optional
        An existing backend (not closed here).
    force : bool
        Refit scans whose results are complete.
    on_result : callable, optional
        Called with each :class:`ScanOutcome` as it is known (skipped, done or failed).
    on_points : callable, optional
        Called with the number of points just fitted (for progress bars).

    Returns
    -------
    BatchReport

    Raises
    ------
    OutputInUseError
        Another run holds the lock of ``out_dir``.
    KeyboardInterrupt
        After Ctrl-C: the work stopped within a chunk of points; complete
        results are kept and a rerun resumes.
    """
    t0 = time.perf_counter()
    config = config or FitConfig()
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise PixlspecError("the output folder exists and is not a folder", path=out_dir)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise PixlspecError(f"cannot create the output folder ({e.strerror or e})", path=out_dir) from None
    with output_lock(out_dir):
        return _run_locked(inputs, out_dir, instrument=instrument, elements=elements, config=config,
                           workers=workers, scheduler=scheduler, backend=backend, detector=detector,
                           chunk_points=chunk_points, force=force, on_result=on_result, on_points=on_points,
                           t0=t0)


def _run_locked(inputs, out_dir, *, instrument, elements, config, workers, scheduler, backend, detector,
                chunk_points, force, on_result, on_points, t0) -> BatchReport:
    inputs = list(dict.fromkeys(str(p) for p in inputs))
    outputs = results_path(inputs, out_dir)
    settings = {"elements": list(elements) if elements is not None else None, "config": config.to_dict(),
                "instrument": instrument.to_dict() if instrument is not None else None,
                "detector": detector if isinstance(detector, (str, type(None))) else list(detector)}
    report = BatchReport()
    lock = threading.Lock()

    def record(outcome: ScanOutcome) -> None:
        with lock:
            report.outcomes.append(outcome)
        if on_result is not None:
            on_result(outcome)

    todo = []
    for p in inputs:
        try:
            key = _job_key(input_identity(p), settings)
        except OSError as e:
            record(ScanOutcome(p, None, "failed", message=f"{p}: cannot read ({e.strerror or e})",
                               bad_input=True))
            continue
        if not force and _is_done(outputs[p], key):
            record(ScanOutcome(p, outputs[p], "skipped", message="results complete"))
            continue
        todo.append((p, key))

    own = backend is None and bool(todo)
    if own:
        n_workers = (os.cpu_count() or 1) if workers is None else int(workers)
        if scheduler is None and n_workers >= 1:
            counts: list[int] = []
            for p, _ in todo:  # stop counting as soon as the pool pays
                counts.append(_count_points(p, instrument))
                if pool_pays(counts, n_workers, chunk_points):
                    break
            if not pool_pays(counts, n_workers, chunk_points):
                report.backend_note = (f"{sum(counts):,} points to fit: too few for a pool of {n_workers} "
                                       f"worker process{'es' if n_workers > 1 else ''} to pay, fitting in "
                                       f"this process (every core)")
                log.info("batch: %s", report.backend_note)
                n_workers = 0  # too little work for a pool: this process, every core
        backend = get_backend(n_workers, scheduler)
    stop = threading.Event()
    try:
        n_threads = 1 if isinstance(backend, SerialBackend) or backend is None else max(1, backend.n_workers)
        backend_lock = threading.Lock()

        def job(item):
            nonlocal backend
            p, key = item
            t_job = time.perf_counter()
            with backend_lock:
                used = backend
            try:
                return _process_one(p, outputs[p], key, instrument=instrument, elements=elements, config=config,
                                    backend=used, detector=detector, chunk_points=chunk_points,
                                    progress=on_points, stop=stop)
            except Cancelled:
                return None
            except BrokenProcessPool as e:
                if stop.is_set():
                    return None
                with backend_lock:  # a worker died (out of memory, killed): start a new pool for the rest
                    # (once: the other scans on the broken pool fail with it and find it replaced)
                    if isinstance(used, ProcessBackend) and own and backend is used and not used.cancelled:
                        backend = used.restarted()
                return ScanOutcome(p, None, "failed", message=f"a worker process died ({e})",
                                   elapsed_s=time.perf_counter() - t_job)
            except Exception as e:  # noqa: BLE001 - one bad scan must not stop the batch
                if stop.is_set():
                    return None
                return ScanOutcome(p, None, "failed", message=_message(e), elapsed_s=time.perf_counter() - t_job,
                                   bad_input=_is_bad_input(e))

        if todo:
            pool = cf.ThreadPoolExecutor(min(n_threads, len(todo)), thread_name_prefix="pixlspec-batch")
            try:
                futures = [pool.submit(job, item) for item in todo]
                for fut in futures:  # in input order
                    outcome = fut.result()
                    if outcome is not None:
                        record(outcome)
            except BaseException:
                # Ctrl-C, SIGTERM, a closed pipe: no new scan, no new results file, workers stopped now
                stop.set()
                with backend_lock:
                    if backend is not None:
                        backend.cancel()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            pool.shutdown(wait=True)
    finally:
        if own and backend is not None:
            backend.close()
    order = {p: i for i, p in enumerate(inputs)}
    report.outcomes.sort(key=lambda o: order.get(o.input, math.inf))
    report.elapsed_s = time.perf_counter() - t0
    return report


# --- console front end (used by ``pixlspec batch``) --------------------------------------------
def _fmt_chi2(v: float) -> str:
    return "-" if not np.isfinite(v) else f"{v:.3g}"


def summary_line(o: ScanOutcome) -> str:
    if o.status == "done":
        return (f"done     {o.input}: {o.n_points} points ({o.n_valid} valid), detector {o.detector}, median "
                f"χ²ᵣ {_fmt_chi2(o.median_chi2_reduced)}, {o.elapsed_s:.1f} s -> {o.output}")
    if o.status == "skipped":
        return f"skipped  {o.input}: results complete in {o.output}"
    return f"FAILED   {o.message if o.input in o.message else f'{o.input}: {o.message}'}"


def error_line(o: ScanOutcome) -> str:
    """The one ``error:`` line of a failed scan (the input first)."""
    text = o.message if o.message.startswith(o.input) else f"{o.input}: {o.message}"
    return "error: " + " ".join(text.split())


def run_batch_console(inputs: Sequence[str], out_dir: str, *, console=None, err_console=None,
                      show_progress: bool = True, **kwargs) -> BatchReport:
    """:func:`run_batch` with a progress bar, a line per scan and a final table.

    ``console`` (stdout) gets the line of each scan done or skipped and the
    final table; ``err_console`` (stderr) gets one ``error:`` line per failed
    scan, even when ``console`` is quiet, and the progress bar (on a terminal
    only, removed when the run ends).
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    console = console or Console()
    err_console = err_console or Console(stderr=True, highlight=False, soft_wrap=True)
    styles = {"done": "green", "skipped": "cyan", "failed": "bold red"}
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("scans"), TextColumn("{task.fields[points]:,} points"), TimeElapsedColumn(),
                  console=err_console, disable=not (show_progress and err_console.is_terminal),
                  transient=True) as progress:
        task = progress.add_task("fitting maps", total=len(list(dict.fromkeys(inputs))), points=0)
        lock = threading.Lock()
        points = [0]

        def on_points(n):
            with lock:
                points[0] += n
                progress.update(task, points=points[0])

        def on_result(o):
            if o.status == "failed":
                err_console.print(error_line(o), style="red", highlight=False, markup=False, soft_wrap=True)
            else:
                console.print(summary_line(o), style=styles.get(o.status), highlight=False, markup=False,
                              soft_wrap=True)
                console.file.flush()
            progress.advance(task)

        report = run_batch(inputs, out_dir, on_result=on_result, on_points=on_points, **kwargs)
    if report.backend_note:
        console.print(f"note: {report.backend_note}", highlight=False, markup=False, soft_wrap=True)
    # on a terminal the table fits the window; written to a pipe or a file no cell is cut
    fold = not console.is_terminal
    table = Table(title=f"pixlspec batch: {len(report.outcomes)} scans in {report.elapsed_s:.1f} s",
                  title_justify="left")
    for col, just in (("scan", "left"), ("status", "left"), ("points", "right"), ("valid", "right"),
                      ("detector", "left"), ("median χ²ᵣ", "right"), ("time s", "right"), ("result / error", "left")):
        if fold:
            table.add_column(col, justify=just, overflow="fold", min_width=len(col))
        else:
            table.add_column(col, justify=just, overflow="ellipsis", no_wrap=True, min_width=len(col),
                             max_width=40 if col.startswith("result") else 24 if col == "scan" else None,
                             ratio=1 if col.startswith("result") else None)
    for o in report.outcomes:
        if o.status == "failed":
            last = o.message.replace(o.input + ": ", "")
        else:
            last = os.path.basename(o.output or "")
        table.add_row(os.path.basename(os.path.normpath(o.input)), f"[{styles[o.status]}]{o.status}[/]",
                      str(o.n_points) if o.n_points else "-", str(o.n_valid) if o.n_points else "-",
                      o.detector or "-", _fmt_chi2(o.median_chi2_reduced),
                      f"{o.elapsed_s:.1f}" if o.status != "skipped" else "-", last)
    console.print(table)
    c = report.counts
    console.print(f"{c['done']} fitted, {c['skipped']} skipped (complete), {c['failed']} failed",
                  style="bold red" if c["failed"] else "bold green", highlight=False)
    console.file.flush()
    return report
