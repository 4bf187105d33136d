"""Process hygiene of ``pixlspec batch``, checked on real subprocesses.

A killed run leaves no process behind and resumes; Ctrl-C and SIGTERM stop it
with one line; a second run on the same output is refused by the lock; piped
output is complete and a closed pipe is quiet; small scans start no pool.
"""
from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from pixlspec.io.hdf5 import write_scan
from pixlspec.io.results import results_complete
from pixlspec.simulate import basalt_areas, simulate_scan
from pixlspec.spectrum import Scan

from tests.helpers.paths import ROOT

psutil = pytest.importorskip("psutil")
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX signals and /proc")

FLIGHT_SCAN = ROOT / "example_data" / "sol0125_naltsos.h5"
ELEMENTS = "Si,P,S,K,Ca,Ti,Cr,Mn,Fe"
#: Points of the large scan (the issue's acceptance asks for at least 20,000).
LARGE_POINTS = 160 * 128
#: Seconds within which every child of a killed run must be gone (the acceptance allows 10).
GONE_WITHIN_S = 10.0
#: Longest wait for one run (they take seconds; this only stops a hung test).
RUN_TIMEOUT_S = 180


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.pop("COLUMNS", None)
    return env


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from pixlspec.cli import main; sys.exit(main(prog_name='pixlspec'))",
            *args]


def _sigint_as_in_a_terminal() -> None:
    """Ctrl-C at its default in the child, as for a foreground command in a terminal: a test run started in the
    background of a non-interactive shell (``pytest &``) inherits SIGINT ignored, and Python then never
    raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
                            start_new_session=True, preexec_fn=_sigint_as_in_a_terminal, **kwargs)


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(_cmd(*args), capture_output=True, text=True, env=_env(), timeout=RUN_TIMEOUT_S)


def _descendants(pid: int) -> set[int]:
    try:
        return {c.pid for c in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def _running(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.add(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def _wait_gone(pids: set[int], timeout_s: float) -> set[int]:
    deadline = time.monotonic() + timeout_s
    while (alive := _running(pids)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def _wait_for_pool(proc: subprocess.Popen, n_workers: int, timeout_s: float = 120.0) -> set[int]:
    """The descendants of ``proc`` once its pool's workers (forkserver children) are up."""
    deadline = time.monotonic() + timeout_s
    seen: set[int] = set()
    while time.monotonic() < deadline and proc.poll() is None:
        seen |= _descendants(proc.pid)
        workers = [p for p in _running(seen) if _is_worker(p)]
        if len(workers) >= n_workers:
            return seen
        time.sleep(0.05)
    out, err = proc.communicate(timeout=RUN_TIMEOUT_S) if proc.poll() is not None else ("", "")
    pytest.fail(f"no pool of {n_workers} workers appeared (exit {proc.returncode}): {out}\n{err}")


def _is_worker(pid: int) -> bool:
    """A process forked by multiprocessing's forkserver (it shows the forkserver's command line too)."""
    try:
        parent = psutil.Process(pid).parent()
        return parent is not None and "multiprocessing.forkserver" in " ".join(parent.cmdline())
    except psutil.NoSuchProcess:
        return False


def _maps(path: Path) -> dict[str, np.ndarray]:
    out = {}
    with h5py.File(path, "r") as f:
        def grab(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "fiub" and "provenance" not in name \
                    and "timing" not in name:
                out[name] = obj[()]
        f.visititems(grab)
    return out


def _small_scan(seed: int, shape: tuple[int, int]) -> Scan:
    n = shape[0] * shape[1]
    rng = np.random.default_rng(seed)
    areas = {k: v * rng.uniform(0.7, 1.3, n) for k, v in basalt_areas(8e4).items()}
    return simulate_scan(areas, shape=shape, detectors=["A"], seed=seed + 1)


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> dict[str, Path]:
    """A small scan (64 points), a large one (20,480 points: 256 simulated spectra repeated) and a copy of the
    large one under another name."""
    d = tmp_path_factory.mktemp("hygiene")
    small = d / "small.h5"
    write_scan(_small_scan(3, (8, 8)), small)
    tile = _small_scan(5, (16, 16))
    reps = LARGE_POINTS // tile.n_points
    counts = np.tile(tile.counts("A"), (reps, 1))
    live = np.tile(np.asarray(tile.live_time_s["A"]), reps)
    ny, nx = 160, 128
    yy, xx = np.mgrid[0:ny, 0:nx]
    pos = np.column_stack([xx.ravel() * 0.125, yy.ravel() * 0.125, np.zeros(ny * nx)])
    large = d / "large.h5"
    write_scan(Scan({"A": counts}, {"A": live}, positions_mm=pos, calibration=dict(tile.calibration),
                    instrument=tile.instrument, metadata={"simulated": True, "grid_shape": [ny, nx], "step_mm": 0.125}), large)
    large2 = d / "large2.h5"
    shutil.copyfile(large, large2)
    return {"small": small, "large": large, "large2": large2}


@pytest.fixture(scope="module")
def uninterrupted(scans, tmp_path_factory) -> Path:
    """Results of the large scan by a batch run that nothing interrupts."""
    ref = tmp_path_factory.mktemp("uninterrupted")
    res = _run("-q", "batch", str(scans["large"]), "--out", str(ref), "--workers", "2", "--elements", ELEMENTS)
    assert res.returncode == 0, res.stderr
    return ref / "large_maps.h5"


def test_sigkill_leaves_no_process_and_the_rerun_matches(tmp_path, scans, uninterrupted):
    """The acceptance test: SIGKILL a 2-worker batch of 20,480 points; nothing remains; the rerun resumes."""
    out = tmp_path / "out"
    proc = _start("batch", str(scans["large"]), "--out", str(out), "--workers", "2", "--elements", ELEMENTS)
    children = _wait_for_pool(proc, 2)
    time.sleep(0.5)
    children |= _descendants(proc.pid)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=RUN_TIMEOUT_S)
    assert proc.returncode == -signal.SIGKILL
    left = _wait_gone(children, GONE_WITHIN_S)
    assert not left, [psutil.Process(p).cmdline()[:3] for p in left]
    assert not results_complete(out / "large_maps.h5") if (out / "large_maps.h5").exists() else True

    rerun = _run("batch", str(scans["large"]), "--out", str(out), "--workers", "2", "--elements", ELEMENTS)
    assert rerun.returncode == 0, rerun.stderr
    assert "done" in rerun.stdout
    a, b = _maps(uninterrupted), _maps(out / "large_maps.h5")
    assert a.keys() == b.keys() and a
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_stop_with_one_line_and_resume(tmp_path, scans, sig, code):
    # Two scans are fitted at once on one pool: the small one's chunk queues behind the large one's and
    # its results come ~50 ms before the large one's. The signal goes once both are written, while the
    # third scan (a copy of the large one) is being fitted: an interruption in the middle of the work.
    out = tmp_path / "out"
    inputs = [str(scans["small"]), str(scans["large"]), str(scans["large2"])]
    proc = _start("batch", *inputs, "--out", str(out), "--workers", "2", "--elements", ELEMENTS)
    children = _wait_for_pool(proc, 2)
    deadline = time.monotonic() + 60
    while not ((out / "small_maps.h5").exists() and (out / "large_maps.h5").exists()) \
            and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    children |= _descendants(proc.pid)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)  # as a terminal does: the whole process group
    else:
        os.kill(proc.pid, sig)
    t0 = time.monotonic()
    stdout, stderr = proc.communicate(timeout=RUN_TIMEOUT_S)
    stopped_s = time.monotonic() - t0
    assert proc.returncode == code, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "rerun" in lines[0]
    assert stopped_s < 10, stopped_s
    assert not _wait_gone(children, GONE_WITHIN_S)
    assert results_complete(out / "small_maps.h5") and results_complete(out / "large_maps.h5")
    # the third scan's results are absent, or complete when its (atomic) write had begun before the signal
    last_done = (out / "large2_maps.h5").exists()
    assert not last_done or results_complete(out / "large2_maps.h5")
    assert not list(out.glob(".*.part")), "a partial results file was left behind"
    if sig == signal.SIGTERM:
        return  # the same state as after Ctrl-C; its rerun is checked there
    rerun = _run("batch", *inputs, "--out", str(out), "--workers", "2", "--elements", ELEMENTS)
    assert rerun.returncode == 0, rerun.stderr
    expected = "0 fitted, 3 skipped" if last_done else "1 fitted, 2 skipped"
    assert expected in rerun.stdout, rerun.stdout


def test_second_run_on_the_same_output_is_refused(tmp_path, scans):
    out = tmp_path / "out"
    first = _start("batch", str(scans["large"]), "--out", str(out), "--workers", "2", "--elements", ELEMENTS)
    try:
        _wait_for_pool(first, 2)
        for quiet in ([], ["-q"]):
            second = _run(*quiet, "batch", str(scans["small"]), "--out", str(out), "--workers", "0",
                          "--elements", ELEMENTS)
            assert second.returncode == 2, second.stderr
            assert second.stdout == ""
            lines = second.stderr.strip().splitlines()
            assert len(lines) == 1 and "another pixlspec batch run" in lines[0] and str(first.pid) in lines[0]
        assert first.poll() is None
    finally:
        stdout, stderr = first.communicate(timeout=RUN_TIMEOUT_S)
    assert first.returncode == 0, stderr
    assert results_complete(out / "large_maps.h5")
    assert not (out / "small_maps.h5").exists()
    assert "1 fitted, 0 skipped (complete), 0 failed" in stdout


def test_stale_lock_of_a_killed_run_does_not_block(tmp_path, scans):
    out = tmp_path / "out"
    out.mkdir()
    # a lock file left by a run that no longer holds it (as after SIGKILL: flock is released on death)
    (out / ".pixlspec-batch.lock").write_text('{"pid": 999999999}')
    res = _run("-q", "batch", str(scans["small"]), "--out", str(out), "--workers", "0", "--elements", ELEMENTS)
    assert res.returncode == 0, res.stderr
    assert results_complete(out / "small_maps.h5")


def test_small_scan_starts_no_pool_and_says_so(tmp_path):
    """No multiprocessing process (forkserver, workers, resource tracker) for a 121-point scan. Other short
    children are not a pool: importing h5py runs ``uname -p`` (platform.processor()), which a poll may catch
    between its fork and its exec, with the parent's command line."""
    out = tmp_path / "out"
    proc = _start("batch", str(FLIGHT_SCAN), "--out", str(out), "--workers", "2")
    children: dict[int, str] = {}
    while proc.poll() is None:
        for pid in _descendants(proc.pid) - set(children):
            try:
                children[pid] = " ".join(psutil.Process(pid).cmdline()) or "?"
            except psutil.Error:
                children[pid] = "(ended before it could be named)"
            if _is_worker(pid):
                children[pid] += " (forked by the forkserver)"
        time.sleep(0.02)
    stdout, stderr = proc.communicate(timeout=RUN_TIMEOUT_S)
    assert proc.returncode == 0, stderr
    pool = {pid: cmd for pid, cmd in children.items() if "multiprocessing" in cmd or "forkserver" in cmd}
    assert not pool, f"processes were started for a 121-point scan: {pool}"
    assert "note: 121 points to fit: too few for a pool of 2 worker processes to pay" in stdout


def test_piped_output_is_complete_and_a_closed_pipe_is_quiet(tmp_path, scans):
    out = tmp_path / "out"
    to_file = tmp_path / "stdout.txt"
    with open(to_file, "w") as fh:
        res = subprocess.run(_cmd("batch", str(scans["small"]), "--out", str(out), "--workers", "0",
                                  "--elements", ELEMENTS), stdout=fh, stderr=subprocess.PIPE, text=True, env=_env(),
                             timeout=RUN_TIMEOUT_S)
    assert res.returncode == 0 and res.stderr == ""
    text = to_file.read_text()
    assert text.startswith("done ") and text.rstrip().endswith("1 fitted, 0 skipped (complete), 0 failed")
    assert str(out / "small_maps.h5") in text  # cells are not cut when written to a file

    # the reader goes away after the first line: no traceback, the exit code of a process killed by SIGPIPE
    shell = " ".join(shlex.quote(a) for a in _cmd("batch", str(scans["small"]), "--out", str(out), "--workers", "0",
                                            "--elements", ELEMENTS))
    res = subprocess.run(["bash", "-c", f"{shell} | head -1; exit ${{PIPESTATUS[0]}}"], capture_output=True,
                         text=True, env=_env(), timeout=RUN_TIMEOUT_S)
    assert res.stdout.startswith("skipped  ") and res.stdout.count("\n") == 1
    assert res.stderr == ""
    assert res.returncode == 141


def test_bad_input_exits_2_with_one_line_also_with_q(tmp_path, scans):
    broken = tmp_path / "broken.h5"
    broken.write_bytes(scans["small"].read_bytes()[:5000])
    for quiet in ([], ["-q"]):
        res = _run(*quiet, "batch", str(broken), "--out", str(tmp_path / "out"), "--workers", "0")
        assert res.returncode == 2, res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "broken.h5" in lines[0]
        if quiet:
            assert res.stdout == ""
