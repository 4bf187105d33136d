"""Scan files: NeXus-style HDF5 holding every spectrum of a scan.

:func:`write_scan` writes a :class:`~pixlspec.spectrum.Scan` atomically,
:func:`open_scan` opens one lazily (the spectra stay on disk and only the
points asked for are read), :func:`read_process` returns the provenance a
file records.

Layout (see DESIGN.md, "HDF5 layout")::

    /                                  @default="entry"
    /entry                             NXentry, @default="data"
      title, scan_metadata             Scan.metadata as JSON
      instrument/                      NXinstrument, @pixlspec_detectors=["A", "B"]
        name                           Instrument.name
        detector_A/                    NXdetector (one per detector)
          spectra      [n_points, n_channels]  uint16/uint32 (exact integer counts) or float64,
                                       chunked along points, compressed (Blosc LZ4 + shuffle)
          energy_calibration [3]       offset, gain, quadratic; E(ch) = c0 + c1*ch + c2*ch**2 (eV)
          live_time_s, real_time_s [n_points]  @units="s"
      sample/                          NXsample
        positions      [n_points, 3]   @units="mm" (x, y, z)
        point_ids      [n_points]      PIXL Motor Counts (PMC)
        point_metadata/                NXcollection: one [n_points] dataset per key
      process/                         NXprocess
        program, version, date, xraydb_version, h5py_version, hdf5_version
        instrument                     Instrument JSON
        provenance                     JSON: source files, attribution, ...
      data/                            NXdata for viewers: hard link to detector_A/spectra, energy

The spectra are compressed with Blosc (LZ4, byte shuffle) from ``hdf5plugin``
by default; viewers need that plugin too (silx and h5web ship it). Measured
with ``benchmarks/bench_io.py`` (4096 PIXL-like points x 4096 uint16
channels, 128-point chunks, one core, file in the page cache): Blosc-LZ4
decompresses ~380,000 spectra/s, LZF ~52,000/s and gzip ~49,000/s;
uncompressed chunks read ~1,100,000/s but the file is 3-6x larger (real PIXL
spectra: 2.0 MB -> 0.65 MB). Converting to float64 in :meth:`Scan.counts` caps
reads through a Scan at ~130,000-170,000 spectra/s. Pass
``compression="none"`` or ``"lzf"`` for files that tools without
``hdf5plugin`` must open.
"""
from __future__ import annotations

from .layout import (CHUNK_CACHE_BYTES, COMPRESSIONS, DEFAULT_COMPRESSION, DETECTOR_PREFIX, INSTRUMENT, PROCESS,
                     SAMPLE, SCAN_FILE_SUFFIXES)
from .read import open_scan, read_process, read_rows
from .write import write_scan

__all__ = ["write_scan", "open_scan", "read_process", "read_rows", "COMPRESSIONS", "DEFAULT_COMPRESSION",
           "CHUNK_CACHE_BYTES", "SCAN_FILE_SUFFIXES", "DETECTOR_PREFIX", "INSTRUMENT", "PROCESS", "SAMPLE"]
