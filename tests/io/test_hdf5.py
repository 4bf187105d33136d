"""Scan files (pixlspec.io.hdf5): round trips, NeXus layout, compression, lazy reads, interrupted writes,
damaged files."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import pixlspec as px
from pixlspec.errors import ConfigError, HDF5FormatError, PixlspecError
from pixlspec.io import hdf5
from pixlspec.io.hdf5 import (COMPRESSIONS, layout as hdf5_layout, open_scan, read as hdf5_read, read_process,
                              write as hdf5_write, write_scan)

from tests.helpers.paths import ROOT


N_POINTS = 40
N_CHANNELS = 256


def make_scan(n_points: int = N_POINTS, n_channels: int = N_CHANNELS, seed: int = 0) -> px.Scan:
    """Two detectors: A with fractional (float) counts, B with integer counts."""
    rng = np.random.default_rng(seed)
    instrument = dataclasses.replace(px.Instrument.pixl(), name="test PIXL", geometry_factor=1.05)
    return px.Scan(
        {"A": rng.random((n_points, n_channels)) * 10.0,
         "B": rng.poisson(20.0, (n_points, n_channels)).astype(float)},
        {"A": rng.uniform(13.5, 14.5, n_points), "B": rng.uniform(13.5, 14.5, n_points)},
        real_time_s={"A": np.full(n_points, 15.0), "B": np.full(n_points, 15.0)},
        positions_mm=rng.normal(size=(n_points, 3)),
        point_ids=np.arange(93, 93 + n_points),
        calibration={"A": (-11.8, 7.9226, 1e-6), "B": (-13.2, 7.9273, 0.0)},
        instrument=instrument,
        metadata={"target": "Naltsos", "sol": 125, "rtt": "048300551", "nested": {"a": [1, 2]}},
        point_metadata={"sclk": np.arange(n_points) * 20 + 678032243,
                        "temp_C": rng.normal(-6.3, 0.05, n_points),
                        "label": np.array([f"p{i}" for i in range(n_points)]),
                        "odd/key": np.ones(n_points)},
        source="synthetic")


@pytest.fixture
def scan():
    return make_scan()


@pytest.fixture
def scan_file(tmp_path, scan):
    path = tmp_path / "scan.h5"
    write_scan(scan, path, provenance={"attribution": "test"})
    return path


# --- round trip -----------------------------------------------------------------
def test_round_trip(scan, scan_file):
    counts_before = {d: scan.counts(d).copy() for d in scan.detectors}
    with open_scan(scan_file) as back:
        assert back.is_lazy
        assert back.detectors == ("A", "B")
        assert (back.n_points, back.n_channels) == (N_POINTS, N_CHANNELS)
        assert back.raw_counts("A").dtype == np.float64
        assert back.raw_counts("B").dtype == np.uint16
        for d in scan.detectors:
            np.testing.assert_array_equal(back.counts(d), scan.counts(d))
            np.testing.assert_array_equal(back.live_time_s[d], scan.live_time_s[d])
            np.testing.assert_array_equal(back.real_time_s[d], scan.real_time_s[d])
            assert back.calibration[d] == scan.calibration[d]
        np.testing.assert_array_equal(back.positions_mm, scan.positions_mm)
        np.testing.assert_array_equal(back.point_ids, scan.point_ids)
        assert back.metadata == scan.metadata
        assert set(back.point_metadata) == set(scan.point_metadata)
        for k, v in scan.point_metadata.items():
            np.testing.assert_array_equal(back.point_metadata[k], v)
        assert back.instrument == scan.instrument
        assert back.source == os.fspath(scan_file)
        s = back.spectrum(7, "B")
        np.testing.assert_array_equal(s.counts, scan.counts("B", 7))
        assert s.metadata["label"] == "p7"
    for d in scan.detectors:  # the input scan is not modified
        np.testing.assert_array_equal(scan.counts(d), counts_before[d])


def test_process_and_nexus_layout(scan_file):
    info = read_process(scan_file)
    assert info["program"] == "pixlspec" and info["version"] == px.__version__
    assert info["date"].endswith("+00:00")
    assert info["provenance"] == {"attribution": "test", "source": "synthetic"}
    assert info["storage"]["B"]["compression"] == hdf5.DEFAULT_COMPRESSION
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(scan_file).st_mode & 0o777 == 0o666 & ~umask  # not the 0600 of a temporary file
    with h5py.File(scan_file, "r") as f:
        assert f.attrs["default"] == "entry"
        assert f["entry"].attrs["NX_class"] == "NXentry"
        assert f["entry/instrument"].attrs["NX_class"] == "NXinstrument"
        assert f["entry/instrument/detector_A"].attrs["NX_class"] == "NXdetector"
        assert f["entry/process"].attrs["NX_class"] == "NXprocess"
        assert f["entry/sample/positions"].attrs["units"] == "mm"
        assert f["entry/instrument/detector_A/live_time_s"].attrs["units"] == "s"
        assert f["entry/instrument/detector_A/energy_calibration"].attrs["units"] == "eV"
        ds = f["entry/instrument/detector_B/spectra"]
        assert ds.chunks[1] == N_CHANNELS and ds.chunks[0] <= N_POINTS
        # the default plot is a hard link, not a copy
        assert f["entry/data/spectra"].id == f["entry/instrument/detector_A/spectra"].id
        assert json.loads(f["entry/process/instrument"][()])["name"] == "test PIXL"


def test_integer_dtypes(tmp_path):
    n = 5
    counts = np.zeros((n, 16))
    counts[0, 0] = 70_000  # needs uint32
    scan = px.Scan({"A": counts, "B": np.full((n, 16), 3.0)}, {"A": np.ones(n), "B": np.ones(n)})
    write_scan(scan, tmp_path / "s.h5")
    with open_scan(tmp_path / "s.h5") as back:
        assert back.raw_counts("A").dtype == np.uint32
        assert back.raw_counts("B").dtype == np.uint16
        np.testing.assert_array_equal(back.counts("A"), counts)
        assert back.real_time_s == {}


@pytest.mark.parametrize("compression", sorted(COMPRESSIONS) + [None])
def test_every_compression_round_trips(tmp_path, scan, compression):
    path = tmp_path / "s.h5"
    write_scan(scan, path, compression=compression, chunk_points=7)
    with open_scan(path) as back:
        assert back.raw_counts("B").chunks == (7, N_CHANNELS)
        for d in scan.detectors:
            np.testing.assert_array_equal(back.counts(d), scan.counts(d))


def test_rewrite_lazy_scan_and_instrument_override(tmp_path, scan, scan_file):
    other = px.Instrument.pixl()
    with open_scan(scan_file) as lazy:
        write_scan(lazy, tmp_path / "copy.h5", compression="lzf", chunk_points=16)
    with open_scan(tmp_path / "copy.h5", instrument=other) as back:
        assert back.instrument == other
        np.testing.assert_array_equal(back.counts("A"), scan.counts("A"))
        assert read_process(tmp_path / "copy.h5")["provenance"]["source"] == os.fspath(scan_file)


def test_bad_write_arguments(tmp_path, scan):
    with pytest.raises(ConfigError, match="unknown compression"):
        write_scan(scan, tmp_path / "s.h5", compression="zip")
    with pytest.raises(ConfigError, match="chunk_points"):
        write_scan(scan, tmp_path / "s.h5", chunk_points=0)
    assert os.listdir(tmp_path) == []


# --- atomic writes ----------------------------------------------------------------
def test_interrupted_write_leaves_nothing(tmp_path, scan, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(hdf5_write, "_write_sample", boom)  # after the spectra are written
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_scan(scan, tmp_path / "s.h5")
    assert os.listdir(tmp_path) == []  # neither the target nor the temporary file


def test_interrupted_write_keeps_existing_file(tmp_path, scan, scan_file, monkeypatch):
    before = scan_file.read_bytes()
    monkeypatch.setattr(hdf5_write, "_write_process", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        write_scan(make_scan(seed=3), scan_file)
    assert scan_file.read_bytes() == before
    assert os.listdir(tmp_path) == ["scan.h5"]


# --- bad files ----------------------------------------------------------------------
def _edit(path, func):
    with h5py.File(path, "a") as f:
        func(f)


def _replace(f, where, data):
    del f[where]
    f[where] = data


BAD_FILES = {
    "missing entry": (lambda f: f.__delitem__("entry"), "/entry"),
    "missing instrument": (lambda f: f.__delitem__("entry/instrument"), "/entry/instrument"),
    "missing detector group": (lambda f: f.__delitem__("entry/instrument/detector_B"),
                               "/entry/instrument/detector_B"),
    "no detector groups": (lambda f: [f.__delitem__("entry/instrument/detector_A"),
                                      f.__delitem__("entry/instrument/detector_B"),
                                      f["entry/instrument"].attrs.__delitem__("pixlspec_detectors")],
                           "/entry/instrument"),
    "missing spectra": (lambda f: f.__delitem__("entry/instrument/detector_A/spectra"),
                        "/entry/instrument/detector_A/spectra"),
    "spectra not 2-D": (lambda f: _replace(f, "entry/instrument/detector_A/spectra", np.zeros(N_CHANNELS)),
                        "/entry/instrument/detector_A/spectra"),
    "spectra 3-D": (lambda f: _replace(f, "entry/instrument/detector_B/spectra",
                                       np.zeros((N_POINTS, N_CHANNELS, 2))),
                    "/entry/instrument/detector_B/spectra"),
    "differing point counts": (lambda f: _replace(f, "entry/instrument/detector_B/spectra",
                                                  np.zeros((N_POINTS - 1, N_CHANNELS))),
                               "/entry/instrument/detector_B/spectra"),
    "differing channel counts": (lambda f: _replace(f, "entry/instrument/detector_B/spectra",
                                                    np.zeros((N_POINTS, N_CHANNELS // 2))),
                                 "/entry/instrument/detector_B/spectra"),
    "missing live time": (lambda f: f.__delitem__("entry/instrument/detector_B/live_time_s"),
                          "/entry/instrument/detector_B/live_time_s"),
    "live time length": (lambda f: _replace(f, "entry/instrument/detector_A/live_time_s",
                                            np.ones(N_POINTS + 1)),
                         "/entry/instrument/detector_A/live_time_s"),
    "real time length": (lambda f: _replace(f, "entry/instrument/detector_A/real_time_s", np.ones(3)),
                         "/entry/instrument/detector_A/real_time_s"),
    "missing calibration": (lambda f: f.__delitem__("entry/instrument/detector_A/energy_calibration"),
                            "/entry/instrument/detector_A/energy_calibration"),
    "calibration shape": (lambda f: _replace(f, "entry/instrument/detector_A/energy_calibration",
                                             np.ones(5)),
                          "/entry/instrument/detector_A/energy_calibration"),
    "missing positions": (lambda f: f.__delitem__("entry/sample/positions"), "/entry/sample/positions"),
    "positions shape": (lambda f: _replace(f, "entry/sample/positions", np.zeros((N_POINTS, 2))),
                        "/entry/sample/positions"),
    "point ids length": (lambda f: _replace(f, "entry/sample/point_ids", np.arange(3)),
                         "/entry/sample/point_ids"),
    "point id twice": (lambda f: _replace(f, "entry/sample/point_ids", np.r_[7, 7, np.arange(N_POINTS - 2)]),
                       "/entry/sample/point_ids"),
    "live time below 1 us": (lambda f: _replace(f, "entry/instrument/detector_A/live_time_s",
                                                np.full(N_POINTS, 1e-300)),
                             "/entry/instrument/detector_A/live_time_s"),
    "invalid instrument JSON": (lambda f: _replace(f, "entry/process/instrument", "{not json"),
                                "/entry/process/instrument"),
    "instrument JSON with bad values": (
        lambda f: _replace(f, "entry/process/instrument", json.dumps({"incidence_deg": -5})),
        "/entry/process/instrument"),
    "invalid metadata JSON": (lambda f: _replace(f, "entry/scan_metadata", "[1, 2"), "/entry/scan_metadata"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_raises_with_dataset_path(scan_file, case):
    edit, where = BAD_FILES[case]
    _edit(scan_file, edit)
    with pytest.raises(HDF5FormatError) as info:
        open_scan(scan_file)
    msg = str(info.value)
    assert os.fspath(scan_file) in msg
    assert where in msg
    assert "expected" in msg or "invalid" in msg
    # the file was closed: it can be opened for writing again
    with h5py.File(scan_file, "a"):
        pass


def test_not_hdf5(tmp_path):
    path = tmp_path / "text.h5"
    path.write_text("PMC,x,y,z\n1,2,3,4\n")
    with pytest.raises(HDF5FormatError, match="not an HDF5 file"):
        open_scan(path)


def test_truncated_file(scan_file):
    data = scan_file.read_bytes()
    scan_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(HDF5FormatError, match="truncated"):
        open_scan(scan_file)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(PixlspecError, match="no such file"):
        open_scan(tmp_path / "absent.h5")
    with pytest.raises(HDF5FormatError, match="folder"):
        open_scan(tmp_path)


def test_instrument_override_skips_bad_stored_instrument(scan_file):
    _edit(scan_file, lambda f: _replace(f, "entry/process/instrument", "{not json"))
    with open_scan(scan_file, instrument=px.Instrument.pixl()) as back:
        assert back.instrument == px.Instrument.pixl()


# --- lazy reading ---------------------------------------------------------------------
LAZY_POINTS = 10_000


LAZY_CHANNELS = 4096


#: Allowance for HDF5 metadata (chunk B-tree nodes) read besides the chunk itself.
METADATA_SLACK_BYTES = 64 * 1024


class RowGenerator:
    """Array-like of pseudo-random uint16 counts (0..63) computed per row (splitmix64 hash of the
    cell index), so the test never holds 10,000 x 4096 values and the chunks do not compress to nothing."""

    dtype = np.dtype(np.uint16)
    shape = (LAZY_POINTS, LAZY_CHANNELS)
    ndim = 2

    def __getitem__(self, index):
        rows = np.arange(LAZY_POINTS, dtype=np.uint64)[index]
        cells = np.atleast_1d(rows)[:, None] * np.uint64(LAZY_CHANNELS) + np.arange(LAZY_CHANNELS,
                                                                                   dtype=np.uint64)
        x = cells * np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        counts = ((x ^ (x >> np.uint64(31))) >> np.uint64(58)).astype(np.uint16)
        return counts.reshape(np.shape(rows) + (LAZY_CHANNELS,))


class CountingFile(io.FileIO):
    """A file that records the byte ranges read from it."""

    def __init__(self, path):
        super().__init__(path, "r")
        self.reads: list[tuple[int, int]] = []

    def readinto(self, buffer):
        pos = self.tell()
        n = super().readinto(buffer)
        self.reads.append((pos, n or 0))
        return n


def test_reading_one_point_reads_only_its_chunk(tmp_path):
    path = tmp_path / "big.h5"
    src = RowGenerator()
    write_scan(px.Scan({"A": src}, {"A": np.ones(LAZY_POINTS)}), path)
    full_bytes = LAZY_POINTS * LAZY_CHANNELS * 2

    with h5py.File(path, "r") as f:  # where each chunk lies in the file
        ds = f["entry/instrument/detector_A/spectra"]
        chunk_points = ds.chunks[0]
        chunks = [ds.id.get_chunk_info(i) for i in range(ds.id.get_num_chunks())]
    point = 5_123
    target = next(c for c in chunks if c.chunk_offset[0] == point // chunk_points * chunk_points)

    fh = CountingFile(path)
    scan = open_scan(fh)
    try:
        fh.reads.clear()
        row = scan.counts("A", point)
        np.testing.assert_array_equal(row, src[point])
        read_bytes = sum(n for _, n in fh.reads)
        # the chunk holding the point was read, and nothing of any other chunk
        touched = [c for c in chunks if any(pos < c.byte_offset + c.size and c.byte_offset < pos + n
                                            for pos, n in fh.reads)]
        assert touched == [target]
        assert target.size <= read_bytes <= target.size + METADATA_SLACK_BYTES
        assert read_bytes < full_bytes / 100
        # a neighbour in the same chunk comes from the chunk cache: no more reads
        fh.reads.clear()
        np.testing.assert_array_equal(scan.counts("A", point + 1), src[point + 1])
        assert sum(n for _, n in fh.reads) == 0
    finally:
        scan.close()
        fh.close()


def test_point_metadata_is_read_on_first_use(scan, scan_file):
    """An opened scan lists its point-metadata columns but reads a column only when it is used;
    ``load()`` reads them all; a column first used after ``close()`` is a clear error."""
    assert scan.point_metadata, "the fixture scan must carry point metadata"
    key = next(iter(scan.point_metadata))
    with open_scan(scan_file) as s:
        assert set(s.point_metadata) == set(scan.point_metadata)
        assert all(callable(v) for v in s.point_metadata._data.values())  # nothing read yet
        np.testing.assert_array_equal(s.point_metadata[key], scan.point_metadata[key])
        assert not callable(s.point_metadata._data[key])  # read once, kept
        loaded = s.load()
    for k, v in scan.point_metadata.items():
        np.testing.assert_array_equal(loaded.point_metadata[k], v)
    s2 = open_scan(scan_file)
    s2.close()
    with pytest.raises(HDF5FormatError, match="point_metadata"):
        s2.point_metadata[key]


@pytest.mark.parametrize("compression", sorted(COMPRESSIONS))
@pytest.mark.parametrize("n_points", [1, 127, 128, 300])
def test_read_rows_equals_h5py_and_visits_every_row_once(tmp_path, compression, n_points):
    """``read_rows`` (Blosc chunks decompressed by blosc2 straight into the array; other
    compressions through h5py) returns what h5py reads, partial last chunk included, and hands
    every row to ``on_rows`` exactly once, in order."""
    from pixlspec.io.hdf5 import read_rows

    rng = np.random.default_rng(n_points)
    counts = rng.poisson(3.0, (n_points, 512)).astype(np.uint16)
    s = px.Scan({"A": counts}, {"A": np.full(n_points, 10.0)})
    path = tmp_path / f"s_{compression}.h5"
    write_scan(s, path, compression=compression, chunk_points=128)
    seen = np.zeros(n_points, int)
    blocks = []

    def on_rows(start, stop, rows):
        seen[start:stop] += 1
        blocks.append((start, stop))
        np.testing.assert_array_equal(rows, counts[start:stop])

    with h5py.File(path, "r") as f:
        ds = f["entry/instrument/detector_A/spectra"]
        got = read_rows(ds, on_rows=on_rows)
        np.testing.assert_array_equal(got, ds[()])
        # the fast path is taken exactly for Blosc chunks
        assert (hdf5_read.blosc_rows_readable(ds) is not None) == compression.startswith("blosc")
    np.testing.assert_array_equal(got, counts)
    assert np.all(seen == 1)
    assert [b[0] for b in blocks] == sorted(b[0] for b in blocks)


def test_read_rows_falls_back_to_hdf5_when_blosc2_fails(tmp_path, monkeypatch):
    """A chunk blosc2 cannot decompress is read through the HDF5 filter pipeline instead."""
    import blosc2

    from pixlspec.io.hdf5 import read_rows

    counts = np.random.default_rng(3).poisson(5.0, (200, 256)).astype(np.uint16)
    path = tmp_path / "s.h5"
    write_scan(px.Scan({"A": counts}, {"A": np.full(200, 10.0)}), path, compression="blosc-lz4",
               chunk_points=64)

    def broken(*args, **kwargs):
        raise RuntimeError("cannot decompress")

    monkeypatch.setattr(blosc2, "decompress", broken)
    with h5py.File(path, "r") as f:
        ds = f["entry/instrument/detector_A/spectra"]
        assert hdf5_read.blosc_rows_readable(ds) is not None
        np.testing.assert_array_equal(read_rows(ds, 10, 150), counts[10:150])


def test_point_metadata_ignores_groups_and_unescapes_names(tmp_path, scan):
    """Members of point_metadata that are not datasets are ignored; keys are the unescaped names."""
    path = tmp_path / "s.h5"
    s = px.Scan({"A": np.asarray(scan.raw_counts("A"))}, {"A": scan.live_time_s["A"]},
                point_metadata={"a/b%": np.arange(scan.n_points)})
    write_scan(s, path)
    with h5py.File(path, "a") as f:
        f["entry/sample/point_metadata"].create_group("extra")
    with open_scan(path) as s2:
        assert set(s2.point_metadata) == {"a/b%"}
        np.testing.assert_array_equal(s2.spectrum(1).metadata["a/b%"], 1)
        np.testing.assert_array_equal(s2.load().point_metadata["a/b%"], np.arange(scan.n_points))


def test_read_rows_never_written_chunks_and_empty_ranges(tmp_path):
    """Chunks never written read as the fill value (as h5py does); empty and out-of-range row ranges
    give empty arrays without touching a chunk."""
    from pixlspec.io.hdf5 import read_rows

    path = tmp_path / "sparse.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("d", shape=(100, 64), chunks=(16, 64), dtype=np.uint16,
                              **hdf5_layout.compression_kwargs("blosc-lz4"))
        ds[:40] = 7  # chunks 0-2 written (the third partly), the rest never
    with h5py.File(path, "r") as f:
        ds = f["d"]
        assert hdf5_read.blosc_rows_readable(ds) is not None
        np.testing.assert_array_equal(read_rows(ds), ds[()])
        np.testing.assert_array_equal(read_rows(ds, 30, 70), ds[30:70])
        calls = []
        for a, b in ((5, 5), (110, 200), (50, 20)):
            assert read_rows(ds, a, b, on_rows=lambda *x: calls.append(x)).shape == (0, 64)
        assert not calls


def _damaged_chunk_copy(src: Path, dst: Path) -> None:
    shutil.copyfile(src, dst)
    dst.chmod(0o600)
    with h5py.File(dst, "r") as f:
        ds = f["entry/instrument/detector_A/spectra"]
        offset = ds.id.get_chunk_info(0).byte_offset
    with open(dst, "r+b") as fh:
        fh.seek(offset)
        fh.write(b"\xff" * 64)


def test_corrupt_chunk_is_an_hdf5_format_error_naming_the_dataset(tmp_path, seeds):
    import pixlspec as px
    from pixlspec.errors import HDF5FormatError

    p = tmp_path / "damaged.h5"
    _damaged_chunk_copy(seeds["h5"][0], p)
    with px.open_scan(p) as scan, pytest.raises(HDF5FormatError) as e:
        scan.counts("A")
    assert "detector_A/spectra" in str(e.value.where)


def test_damaged_global_heap_is_refused_without_hanging(tmp_path, seeds):
    """A zeroed global heap collection (where the JSON strings live) made HDF5 loop for ever in C."""
    import struct
    import subprocess

    p = tmp_path / "maps.h5"
    shutil.copyfile(seeds["results"][0], p)
    p.chmod(0o600)
    with h5py.File(p, "r") as f:
        ds = f["entry/sum_fit/detector_A/summary"]
        offset = ds.id.get_offset()
    with open(p, "r+b") as fh:
        fh.seek(offset)
        _, addr, _ = struct.unpack("<IQI", fh.read(16))
        fh.seek(addr + 16)                    # the objects of the collection, header kept
        fh.write(bytes(2048))
    code = ("import pixlspec as px, sys\n"
            f"try:\n    px.read_maps({str(p)!r})\n"
            "except px.HDF5FormatError as e:\n    print(e.where); sys.exit(0)\n"
            "sys.exit(3)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert res.returncode == 0, res.stderr
    # the zeroed collection holds the strings of several datasets; the error names the first one read
    where = res.stdout.strip()
    assert where.startswith("/entry/") and where in {"/entry/sum_fit/detector_A/summary", "/entry/process/config",
                                                      "/entry/process/instrument", "/entry/process/fit_config"}
