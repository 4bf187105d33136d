"""Corrupted inputs of every format: readers raise only PixlspecError, the CLI exits 2 with one line.

Seed files are real PIXL products (``../shared/data/real``: breadboard and flight
MSA spectra, the RFS/RXL CSV products, the PIQUANT FM configurations and the
PIQUANT calibration file), the shipped ``example_data/*.h5`` scans, and files
the tests write themselves (an MSA pair, a scan file, a results file of
``fit_map``, a calibration JSON, an instrument JSON/TOML, a PIQUANT
configuration), so the suite runs something even without the real data.

A variant is one seed file with one corruption: truncation, byte flips, line
drops or duplicates, a block of data lines removed (wrong channel count), a
number replaced by NaN/inf/negative/zero/huge values, a non-UTF-8 or a control
byte, an empty file; for HDF5 files also datasets overwritten with such
values, deleted, reshaped or retyped. Each variant is read by the API (which
must raise a :class:`PixlspecError` or give finite, validated data) and, for
a subset, by the CLI (exit 0, or exit 2 with exactly one ``error:`` line on
stderr and nothing written), under a timeout, with the input's hash unchanged.

Hypothesis draws the variants (derandomized, so CI is deterministic). The same
variant builder serves the survey ``python -m tests.integration.test_corruption [N]``, which
counts variants and failures per format without stopping at the first one.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import random
import re
import shutil
import signal
import stat
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.helpers.seeds import all_seeds, reader_named


#: Seconds one variant may take before it counts as a hang.
VARIANT_TIMEOUT_S = 30


#: Longest plausible live time (s): ~3 years; an X-ray tube's rated life is ~10^4 h = 3.6e7 s.
MAX_LIVE_TIME_S = 1e8


#: Values written into numeric fields.
BAD_NUMBERS = (b"NaN", b"nan", b"inf", b"-inf", b"Infinity", b"-1", b"0", b"-0.0", b"1e23", b"1e308",
               b"-1e308", b"1e400", b"99999999999999999999999999", b"1e-300")


BAD_FLOATS = (math.nan, math.inf, -math.inf, -1.0, 0.0, 1e23, 1e308, -1e308, 1e-300)
_NUMBER = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


# --------------------------------------------------------------------------- corruptions
def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def _replace_number(data: bytes, rng: random.Random, header_bias: bool) -> bytes:
    lines = _lines(data)
    if not lines:
        return data
    # half the time a number of the first lines (headers, the per-point table) where the
    # live times and calibrations are; else anywhere
    cand = [i for i, ln in enumerate(lines[:200]) if _NUMBER.search(ln)] if header_bias else []
    if not cand:
        cand = [i for i, ln in enumerate(lines) if _NUMBER.search(ln)]
    if not cand:
        return data
    i = rng.choice(cand)
    nums = list(_NUMBER.finditer(lines[i]))
    m = rng.choice(nums)
    lines[i] = lines[i][:m.start()] + rng.choice(BAD_NUMBERS) + lines[i][m.end():]
    return b"".join(lines)


def corrupt_text(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One random corruption of a text file: (description, new bytes)."""
    op = rng.choice(["truncate", "flip", "drop_line", "dup_line", "drop_block", "number", "number",
                     "number", "non_utf8", "control", "empty", "swap_lines"])
    n = len(data)
    lines = _lines(data)
    if op == "truncate":
        k = rng.randrange(0, max(n, 1))
        return f"truncate@{k}", data[:k]
    if op == "flip":
        out = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(n)
            out[i] ^= 1 << rng.randrange(8)
        return "flip", bytes(out)
    if op in ("drop_line", "dup_line", "swap_lines") and lines:
        i = rng.randrange(len(lines))
        if op == "drop_line":
            return f"drop_line@{i}", b"".join(lines[:i] + lines[i + 1:])
        if op == "dup_line":
            return f"dup_line@{i}", b"".join(lines[:i + 1] + lines[i:])
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        return f"swap_lines@{i},{j}", b"".join(lines)
    if op == "drop_block" and len(lines) > 4:
        i = rng.randrange(1, len(lines) - 2)
        k = rng.randint(1, min(50, len(lines) - i - 1))
        return f"drop_block@{i}+{k}", b"".join(lines[:i] + lines[i + k:])
    if op == "non_utf8":
        i = rng.randrange(n + 1)
        return f"non_utf8@{i}", data[:i] + rng.choice([b"\xff", b"\xe9", b"\xc3\x28", b"\xfe\xff"]) + data[i:]
    if op == "control":
        i = rng.randrange(n + 1)
        return f"control@{i}", data[:i] + rng.choice([b"\x00", b"\x01", b"\x1b"]) + data[i:]
    if op == "empty":
        return "empty", rng.choice([b"", b"\n", b"   \r\n"])
    return "number", _replace_number(data, rng, header_bias=rng.random() < 0.6)


def _datasets(f: h5py.File) -> list[str]:
    out: list[str] = []
    f.visititems(lambda name, obj: out.append(name) if isinstance(obj, h5py.Dataset) else None)
    return sorted(out)


def corrupt_hdf5(src: Path, dst: Path, rng: random.Random) -> str:
    """Write a corrupted copy of an HDF5 file to ``dst``; return a description."""
    data = src.read_bytes()
    op = rng.choice(["truncate", "flip", "zero_block", "values", "values", "values", "delete", "reshape",
                     "retype"])
    if op == "truncate":
        k = rng.randrange(0, len(data))
        dst.write_bytes(data[:k])
        return f"truncate@{k}"
    if op in ("flip", "zero_block"):
        out = bytearray(data)
        if op == "flip":
            for _ in range(rng.randint(1, 16)):
                i = rng.randrange(len(out))
                out[i] ^= 1 << rng.randrange(8)
        else:
            i = rng.randrange(len(out))
            k = rng.randint(1, 4096)
            out[i:i + k] = bytes(len(out[i:i + k]))
        dst.write_bytes(bytes(out))
        return op
    shutil.copyfile(src, dst)
    os.chmod(dst, stat.S_IRUSR | stat.S_IWUSR)
    with h5py.File(dst, "r+") as f:
        names = _datasets(f)
        # favour the datasets that carry physics (live times, calibrations, counts)
        key = [n for n in names if re.search(r"live_time|real_time|calibration|spectra|positions|areas|"
                                              r"instrument|grid|valid|point_ids|config", n)]
        name = rng.choice(key if key and rng.random() < 0.8 else names)
        ds = f[name]
        if op == "values" and ds.dtype.kind in "fiu" and ds.size:
            a = np.array(ds[()])
            flat = a.reshape(-1)
            idx = rng.randrange(flat.size)
            if a.dtype.kind == "f":
                flat[idx] = rng.choice(BAD_FLOATS)
            else:
                flat[idx] = np.iinfo(a.dtype).max if rng.random() < 0.5 else (
                    np.iinfo(a.dtype).min if a.dtype.kind == "i" else 0)
            ds[...] = a
            return f"values {name}[{idx}]"
        if op == "values" and h5py.check_string_dtype(ds.dtype) is not None and ds.shape == ():
            text = ds.asstr()[()]
            new = _replace_number(text.encode(), rng, header_bias=False).decode("utf-8", "replace")
            if new == text:
                new = text[: rng.randrange(len(text) + 1)]
            attrs = dict(ds.attrs)
            del f[name]
            nd = f.create_dataset(name, data=new)
            nd.attrs.update(attrs)
            return f"text {name}"
        attrs = dict(ds.attrs)
        del f[name]
        if op == "reshape":
            shape = tuple(max(1, s + rng.choice([-1, 1])) for s in (ds.shape or (1,)))
            f.create_dataset(name, data=np.ones(shape))
        elif op == "retype":
            f.create_dataset(name, data=rng.choice(["garbage", "1e308", "NaN"]))
        if name in f:
            f[name].attrs.update(attrs)
        return f"{op} {name}"


# --------------------------------------------------------------------------- checks
class VariantTimeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: int):
    def handler(signum, frame):
        raise VariantTimeout(f"no result after {seconds} s (hang?)")

    old = signal.signal(signal.SIGALRM, handler)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _finite(*arrays) -> None:
    for a in arrays:
        a = np.asarray(a, dtype=float)
        assert np.all(np.isfinite(a)), "non-finite value accepted as data"


def _check_spectrum(s) -> None:
    _finite(s.counts, s.offset_eV, s.gain_eV_per_channel, s.quadratic_eV, s.live_time_s)
    assert s.counts.min() >= 0 and 0 < s.live_time_s <= MAX_LIVE_TIME_S and s.gain_eV_per_channel > 0


def _check_scan(scan) -> None:
    for d in scan.detectors:
        c = scan.counts(d)
        _finite(c, scan.live_time_s[d], scan.calibration[d])
        assert not np.any(np.isinf(scan.positions_mm))     # NaN: position unknown
        assert c.min(initial=0) >= 0
        assert np.all(scan.live_time_s[d] >= 0) and np.all(scan.live_time_s[d] <= MAX_LIVE_TIME_S)
        assert scan.calibration[d][1] > 0
        if scan.n_points:
            _check_spectrum(scan.spectrum(0, d))
            _check_spectrum(scan.sum_spectrum(d))
        for k in list(scan.point_metadata):
            scan.point_metadata[k]


def _check_instrument(inst) -> None:
    def walk(v):
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)
        elif isinstance(v, float):
            assert math.isfinite(v), "non-finite instrument value accepted"
    walk(inst.to_dict())


def read_api(kind: str, path: Path) -> None:
    """Read ``path`` as ``kind`` with the library and check what comes back."""
    import pixlspec as px
    from pixlspec.io.piquant_tables import read_piquant_calibration
    from pixlspec.io.pixl_csv import read_rxl
    from pixlspec.quant.calibration import Calibration

    if kind == "msa":
        for s in px.read_msa_detectors(path).values():
            _check_spectrum(s)
    elif kind == "rfs":
        _check_scan(px.read_rfs(path, rxl=False))
    elif kind == "rxl":
        for v in read_rxl(path).values():
            if np.asarray(v).dtype.kind == "f":
                _finite(v)
    elif kind == "config":
        _check_instrument(px.read_piquant_config(path))
    elif kind == "instfile":
        _check_instrument(px.Instrument.load(path))
    elif kind == "pqcal":
        read_piquant_calibration(path)
    elif kind == "h5":
        with px.open_scan(path) as scan:
            _check_scan(scan)
    elif kind == "results":
        m = px.read_maps(path)
        _finite(m.live_time_s)
        assert not np.any(np.isinf(m.positions_mm))
        assert np.all(np.asarray(m.live_time_s) >= 0)
        if m.instrument is not None:
            _check_instrument(m.instrument)
    elif kind == "caljson":
        c = Calibration.load(path)
        _finite(c.scale, list(c.factors.values()))
        _check_instrument(c.instrument)
    else:  # pragma: no cover
        raise AssertionError(kind)


def check_api(kind: str, path: Path) -> None:
    from pixlspec.errors import PixlspecError

    before = _sha(path)
    try:
        with time_limit(VARIANT_TIMEOUT_S):
            read_api(kind, path)
    except PixlspecError as e:
        assert str(e) and "\n" not in str(e).strip()
    assert _sha(path) == before, "input modified"


def cli_args(kind: str, path: Path, out: Path, seeds: dict[str, list[Path]]) -> list[str] | None:
    """Arguments of a cheap CLI run that reads ``path`` (None: no such run for this kind)."""
    scan = str(seeds["h5"][0])
    if kind in ("msa", "h5", "rfs"):
        return ["convert", str(path), "-o", str(out / "out.h5")]
    if kind in ("config", "instfile"):
        return ["info", "--format", "json", "--instrument", str(path), scan]
    if kind == "results":
        return ["map", str(path), "--out", str(out / "maps"), "--elements", "Fe"]
    return None


def check_cli(kind: str, path: Path, seeds: dict[str, list[Path]]) -> int | None:
    """Run the CLI on ``path``: exit 0, or 2 with one ``error:`` line and nothing written."""
    from click.testing import CliRunner

    from pixlspec.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        args = cli_args(kind, path, out, seeds)
        if args is None:
            return None
        before = _sha(path)
        with time_limit(VARIANT_TIMEOUT_S):
            res = CliRunner().invoke(main, ["-q", *args], catch_exceptions=False)
        assert _sha(path) == before, "input modified"
        assert res.exit_code in (0, 2), (res.exit_code, res.stderr)
        if res.exit_code == 2:
            err = res.stderr.splitlines()
            assert len(err) == 1 and err[0].startswith("error: "), res.stderr
            assert not any(out.iterdir()), f"written on bad input: {list(out.iterdir())}"
            if "--format" in args and "json" in args:
                assert res.stdout == ""
        else:
            assert not any(p.name.startswith(".") or ".tmp" in p.name for p in out.rglob("*")), \
                "temporary file left behind"
            if "json" in args:
                import json

                json.loads(res.stdout, parse_constant=lambda c: (_ for _ in ()).throw(
                    AssertionError(f"{c} in JSON output")))
        return res.exit_code


def make_variant(kind: str, seed: Path, rng: random.Random, folder: Path) -> tuple[Path, str]:
    """Write one corrupted copy of ``seed`` into ``folder`` (same file name)."""
    dst = folder / seed.name
    if dst.exists():
        dst.chmod(0o600)
        dst.unlink()
    if kind in ("h5", "results"):
        what = corrupt_hdf5(seed, dst, rng)
    else:
        what, data = corrupt_text(seed.read_bytes(), rng)
        dst.write_bytes(data)
    dst.chmod(0o444)          # readers must not need write access
    return dst, what


# --------------------------------------------------------------------------- pytest
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@pytest.fixture(scope="module")
def seed_hashes(seeds):
    hashes = {p: _sha(p) for ps in seeds.values() for p in ps}
    yield hashes
    for p, h in hashes.items():
        assert _sha(p) == h, f"seed file {p} modified"


#: Variants per kind drawn for the API checks (CLI: about a third of them). Slow readers get fewer.
API_EXAMPLES = {"msa": 90, "config": 50, "instfile": 30, "pqcal": 20, "rfs": 8, "rxl": 12, "h5": 60,
                "results": 30, "caljson": 30}


CLI_EXAMPLES = {"msa": 20, "config": 10, "instfile": 8, "rfs": 4, "h5": 16, "results": 3}


def _settings(n: int):
    return settings(max_examples=n, derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


def _run(kind, seeds, tmp_path, data, cli: bool):
    if not seeds.get(kind):
        pytest.skip(f"no seed file of kind {kind}")
    seed = data.draw(st.sampled_from(seeds[kind]), label="seed")
    rng = random.Random(data.draw(st.integers(0, 2 ** 32 - 1), label="rng"))
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    path, what = make_variant(kind, seed, rng, folder)
    note = f"{kind} {seed.name}: {what}"
    try:
        check_cli(kind, path, seeds) if cli else check_api(kind, path)
    except BaseException as e:
        raise AssertionError(f"{note}: {type(e).__name__}: {e}") from e
    finally:
        path.chmod(0o600)
        shutil.rmtree(folder, ignore_errors=True)


def _api_test(kind):
    @_settings(API_EXAMPLES[kind])
    @given(data=st.data())
    def test(seeds, seed_hashes, tmp_path, data):
        _run(kind, seeds, tmp_path, data, cli=False)
    test.__name__ = f"test_api_{kind}"
    return test


def _cli_test(kind):
    @_settings(CLI_EXAMPLES[kind])
    @given(data=st.data())
    def test(seeds, seed_hashes, tmp_path, data):
        _run(kind, seeds, tmp_path, data, cli=True)
    test.__name__ = f"test_cli_{kind}"
    return test


#: Kinds whose only seed files are real PIXL products: their tests carry the ``real`` marker.
REAL_ONLY_KINDS = {"rfs", "rxl", "pqcal"}


def _marked(kind, test):
    return pytest.mark.real(test) if kind in REAL_ONLY_KINDS else test


for _k in API_EXAMPLES:
    globals()[f"test_api_{_k}"] = _marked(_k, _api_test(_k))


for _k in CLI_EXAMPLES:
    globals()[f"test_cli_{_k}"] = _marked(_k, _cli_test(_k))


def test_variant_count():
    """The suite covers at least 300 variants (API + CLI) of every format."""
    assert sum(API_EXAMPLES.values()) + sum(CLI_EXAMPLES.values()) >= 300
    assert set(API_EXAMPLES) >= {"msa", "rfs", "rxl", "config", "pqcal", "h5", "results", "caljson"}


# --- special files: never opened, never read without bound -----------------------------
SPECIAL_READERS = ["read_msa", "read_rfs", "read_piquant_config", "open_scan", "read_maps", "Instrument.load",
                   "Calibration.load", "read_piquant_calibration"]


@pytest.mark.parametrize("reader", SPECIAL_READERS)
def test_fifo_is_refused_without_blocking(tmp_path, reader):
    from pixlspec.errors import PixlspecError

    ext = {"read_msa": ".msa", "read_piquant_config": ".msa", "Instrument.load": ".json",
           "Calibration.load": ".json", "read_maps": ".h5", "open_scan": ".h5"}.get(reader, ".csv")
    fifo = tmp_path / f"pipe{ext}"
    os.mkfifo(fifo)
    with time_limit(10), pytest.raises(PixlspecError, match="not a regular file"):
        reader_named(reader)(fifo)


@pytest.mark.parametrize("reader", SPECIAL_READERS)
def test_dev_zero_is_refused(reader):
    from pixlspec.errors import PixlspecError

    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    with time_limit(10), pytest.raises(PixlspecError):
        reader_named(reader)("/dev/zero")


def test_oversized_text_file_is_refused(tmp_path, monkeypatch):
    import pixlspec.io.files as files
    from pixlspec.errors import MSAFormatError

    p = tmp_path / "big.msa"
    p.write_bytes(b"#FORMAT : EMSA/MAS spectral data file\n" + b"#X : 1\n" * 1000)
    monkeypatch.setitem(files.MAX_INPUT_BYTES, "text", 1000)
    with pytest.raises(MSAFormatError, match="larger than"):
        reader_named("read_msa")(p)


def test_cli_fifo_exits_2(tmp_path):
    from click.testing import CliRunner

    from pixlspec.cli import main

    fifo = tmp_path / "pipe.msa"
    os.mkfifo(fifo)
    with time_limit(10):
        res = CliRunner().invoke(main, ["info", str(fifo)])
    assert res.exit_code == 2 and len(res.stderr.splitlines()) == 1


# --------------------------------------------------------------------------- survey
def survey(n_per_kind: int, folder: Path, kinds=()) -> dict[str, tuple[int, int, list[str]]]:
    """(variants, failures, first messages) per kind, for ``n_per_kind`` variants of each kind."""
    seeds = all_seeds(folder / "seeds")
    out = {}
    for kind, paths in seeds.items():
        if kinds and kind not in kinds:
            continue
        n_fail, msgs = 0, []
        for i in range(n_per_kind):
            rng = random.Random(1000 * i + 7)
            seed = paths[i % len(paths)]
            vdir = Path(tempfile.mkdtemp(dir=folder))
            path, what = make_variant(kind, seed, rng, vdir)
            print(f"  {kind} {i} {seed.name}: {what}", file=sys.stderr, flush=True)
            try:
                check_api(kind, path)
                if i % 4 == 0:
                    check_cli(kind, path, seeds)
            except BaseException as e:  # noqa: BLE001
                n_fail += 1
                msgs.append(f"{seed.name} {what}: {type(e).__name__}: {str(e)[:160]}")
            finally:
                path.chmod(0o600)
                shutil.rmtree(vdir, ignore_errors=True)
        out[kind] = (n_per_kind, n_fail, msgs)
        print(f"{kind:9s} variants {n_per_kind:4d} failures {n_fail:4d}", flush=True)
        for m in msgs[:8]:
            print("    ", m, flush=True)
    return out


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    with tempfile.TemporaryDirectory() as tmp:
        res = survey(n, Path(tmp), kinds=sys.argv[2:])
    print(f"TOTAL variants {sum(v[0] for v in res.values())} failures {sum(v[1] for v in res.values())}")
