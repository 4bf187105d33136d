"""Spectrum and Scan containers with their energy calibration.

:class:`Spectrum` is one detector's histogram of one point (or a sum).
:class:`Scan` holds all points of a scan for one or more detectors; its
counts may live in memory (numpy arrays) or stay on disk (h5py datasets),
in which case only the points asked for are read.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .checks import (MAX_ABS_OFFSET_EV, MAX_GAIN_EV_PER_CHANNEL, MAX_LIVE_TIME_S, MIN_GAIN_EV_PER_CHANNEL,
                     MIN_LIVE_TIME_S, check_calibration, check_live_time, check_point_ids, check_point_times,
                     check_real_time)
from .errors import HDF5FormatError, SpectrumError
from .instrument import Instrument

__all__ = ["Spectrum", "Scan", "channel_energies_eV", "validate_counts", "check_live_time",
           "check_real_time", "check_calibration", "MAX_LIVE_TIME_S", "MAX_COUNTS_PER_CHANNEL",
           "MIN_GAIN_EV_PER_CHANNEL", "MAX_GAIN_EV_PER_CHANNEL", "MAX_ABS_OFFSET_EV", "as_spectrum", "as_scan",
           "GEOMETRY_KEY", "geometry_factors"]

#: Default number of points read per chunk when streaming a scan.
DEFAULT_CHUNK_POINTS = 1024
#: Metadata key (``Spectrum.metadata``, ``Scan.point_metadata``) of PIQUANT's ``##GEOMETRY``: the
#: stand-off correction of each flight point's emergent beam, 1 at the nominal stand-off
#: (``science/absolute-scale.md`` §1).
GEOMETRY_KEY = "geometry"

# --- physical bounds of the data every reader and container accepts -----------
#: Highest accepted count in one channel: a detector at 10^7 counts/s (an order of magnitude
#: above what any SDD processes) for MAX_LIVE_TIME_S.
MAX_COUNTS_PER_CHANNEL = 1e7 * MAX_LIVE_TIME_S


def channel_energies_eV(n_channels: int, offset_eV: float, gain_eV_per_channel: float,
                        quadratic_eV: float = 0.0) -> np.ndarray:
    """Energy (eV) of the centre of each channel: ``offset + gain*ch + quad*ch**2``."""
    ch = np.arange(n_channels, dtype=np.float64)
    return offset_eV + gain_eV_per_channel * ch + quadratic_eV * ch * ch


def validate_counts(counts, *, where: str = "counts", path=None, error_cls=SpectrumError) -> np.ndarray:
    """Return ``counts`` as a float64 array, rejecting NaN, inf, negative and absurdly large values."""
    try:
        a = np.asarray(counts, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise error_cls(f"counts must be numbers ({e})", path=path, where=where) from None
    if a.size and not np.all(np.isfinite(a)):
        bad = np.argwhere(~np.isfinite(a))[0]
        raise error_cls(f"non-finite count at index {tuple(int(i) for i in bad)}; counts must be "
                        "finite", path=path, where=where)
    if a.size and a.min() < 0:
        bad = np.argwhere(a < 0)[0]
        raise error_cls(f"negative count {a[tuple(bad)]} at index {tuple(int(i) for i in bad)}; "
                        "counts must be >= 0", path=path, where=where)
    if a.size and a.max() > MAX_COUNTS_PER_CHANNEL:
        bad = np.argwhere(a > MAX_COUNTS_PER_CHANNEL)[0]
        raise error_cls(f"count {a[tuple(bad)]:.6g} at index {tuple(int(i) for i in bad)} exceeds "
                        f"{MAX_COUNTS_PER_CHANNEL:.0e} (not a physical count)", path=path, where=where)
    return a


@dataclass(frozen=True, eq=False)
class Spectrum:
    """One X-ray spectrum (one detector, one point or a sum of points).

    Parameters
    ----------
    counts : array_like
        Counts per channel (non-negative, finite); stored read-only as float64.
    offset_eV, gain_eV_per_channel : float
        Energy calibration ``E(ch) = offset + gain*ch (+ quadratic*ch**2)``.
    live_time_s : float
        Live time (dead-time corrected where the source allows it); > 0.
    real_time_s : float, optional
        Clock time. For summed spectra it may be smaller than the live time.
    quadratic_eV : float
        Quadratic calibration term (eV per channel²).
    detector : str
        Detector name ("A", "B", "A+B", ...).
    position_mm : tuple of 3 floats, optional
        Beam position (x, y, z) in mm.
    instrument : Instrument, optional
        The instrument the spectrum was recorded with.
    metadata : dict
        Everything else read from the file (PMC, SCLK, events, ...).
    source : str, optional
        File the spectrum was read from.
    """

    counts: np.ndarray
    offset_eV: float
    gain_eV_per_channel: float
    live_time_s: float
    real_time_s: float | None = None
    quadratic_eV: float = 0.0
    detector: str = "A"
    position_mm: tuple[float, float, float] | None = None
    instrument: Instrument | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str | None = None

    def __post_init__(self):
        where = f"detector {self.detector}"
        counts = validate_counts(self.counts, where=where, path=self.source)
        if counts.ndim != 1 or counts.size < 2:
            raise SpectrumError(f"counts must be a 1-D array of >= 2 channels, got shape {counts.shape}",
                                path=self.source, where=where)
        counts = counts.copy() if counts is self.counts or counts.base is not None else counts
        counts.flags.writeable = False
        object.__setattr__(self, "counts", counts)
        off, gain, quad = check_calibration(self.offset_eV, self.gain_eV_per_channel, self.quadratic_eV,
                                            counts.size, path=self.source, where=where)
        object.__setattr__(self, "offset_eV", off)
        object.__setattr__(self, "gain_eV_per_channel", gain)
        object.__setattr__(self, "quadratic_eV", quad)
        object.__setattr__(self, "live_time_s", check_live_time(self.live_time_s, path=self.source, where=where))
        if self.real_time_s is not None:
            object.__setattr__(self, "real_time_s", check_real_time(self.real_time_s, path=self.source,
                                                                    where=where))
        if self.position_mm is not None:
            pos = tuple(float(x) for x in self.position_mm)
            if any(math.isinf(x) for x in pos):     # NaN: a coordinate not known
                raise SpectrumError(f"position must be finite or NaN (unknown), got {pos}", path=self.source,
                                    where=where)
            if len(pos) != 3:
                raise SpectrumError(f"position must have 3 coordinates, got {len(pos)}", path=self.source,
                                    where=where)
            object.__setattr__(self, "position_mm", pos)
        object.__setattr__(self, "metadata", dict(self.metadata))

    # --- energy axis --------------------------------------------------------
    @property
    def n_channels(self) -> int:
        return int(self.counts.size)

    @property
    def energy_eV(self) -> np.ndarray:
        """Energy of each channel centre in eV."""
        return channel_energies_eV(self.n_channels, self.offset_eV, self.gain_eV_per_channel,
                                   self.quadratic_eV)

    @property
    def energy_keV(self) -> np.ndarray:
        return self.energy_eV / 1000.0

    def energy_at(self, channel) -> np.ndarray | float:
        ch = np.asarray(channel, dtype=float)
        e = self.offset_eV + self.gain_eV_per_channel * ch + self.quadratic_eV * ch * ch
        return float(e) if e.ndim == 0 else e

    def channel_of(self, energy_eV) -> np.ndarray | float:
        """Fractional channel of ``energy_eV`` (inverse of the calibration)."""
        e = np.asarray(energy_eV, dtype=float)
        if self.quadratic_eV == 0.0:
            ch = (e - self.offset_eV) / self.gain_eV_per_channel
        else:
            a, b, c = self.quadratic_eV, self.gain_eV_per_channel, self.offset_eV - e
            ch = (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a)
        return float(ch) if ch.ndim == 0 else ch

    @property
    def total_counts(self) -> float:
        return float(self.counts.sum())

    @property
    def count_rate_cps(self) -> float:
        """Total counts per live second."""
        return self.total_counts / self.live_time_s

    @property
    def geometry_factor(self) -> float:
        """Stand-off geometry factor of this spectrum (``metadata["geometry"]``, ##GEOMETRY); 1 if unknown."""
        return float(geometry_factors(self.metadata.get(GEOMETRY_KEY, np.nan), 1)[0])

    @property
    def exposure_s(self) -> float:
        """Live time × stand-off geometry factor: what the FP's count rates are multiplied by (PIQUANT)."""
        return self.live_time_s * self.geometry_factor

    # --- derived spectra ----------------------------------------------------
    def replace(self, **changes) -> "Spectrum":
        """A copy with some fields changed (see :func:`dataclasses.replace`)."""
        return dataclasses.replace(self, **changes)

    def crop(self, min_energy_eV: float | None = None, max_energy_eV: float | None = None) -> "Spectrum":
        """The channels whose centre lies in ``[min_energy_eV, max_energy_eV]``.

        The calibration offset is shifted so energies are unchanged.
        """
        e = self.energy_eV
        keep = np.ones(e.size, bool)
        if min_energy_eV is not None:
            keep &= e >= min_energy_eV
        if max_energy_eV is not None:
            keep &= e <= max_energy_eV
        idx = np.flatnonzero(keep)
        if idx.size < 2:
            raise SpectrumError(f"cropping to [{min_energy_eV}, {max_energy_eV}] eV leaves fewer than 2 "
                                "channels", path=self.source, where=f"detector {self.detector}")
        first = int(idx[0])
        off = self.energy_at(first) - 0.0
        gain = self.gain_eV_per_channel + 2 * self.quadratic_eV * first
        return self.replace(counts=self.counts[idx[0]:idx[-1] + 1], offset_eV=off, gain_eV_per_channel=gain,
                            metadata={**self.metadata, "first_channel": first})

    def rebin_to(self, offset_eV: float, gain_eV_per_channel: float, n_channels: int,
                 quadratic_eV: float = 0.0) -> "Spectrum":
        """Redistribute the counts onto another calibration, conserving counts.

        Each channel's counts are spread uniformly over its energy width and
        reassigned in proportion to the overlap with the new channels.
        """
        counts = rebin_counts(self.counts, self.energy_edges_eV(),
                              _edges(n_channels, offset_eV, gain_eV_per_channel, quadratic_eV))
        return self.replace(counts=counts, offset_eV=offset_eV, gain_eV_per_channel=gain_eV_per_channel,
                            quadratic_eV=quadratic_eV)

    def energy_edges_eV(self) -> np.ndarray:
        """Channel boundaries (n_channels + 1 values) in eV."""
        return _edges(self.n_channels, self.offset_eV, self.gain_eV_per_channel, self.quadratic_eV)

    def __add__(self, other: "Spectrum") -> "Spectrum":
        return Spectrum.sum([self, other])

    @staticmethod
    def sum(spectra: Sequence["Spectrum"], detector: str | None = None) -> "Spectrum":
        """Channel-wise sum; live and real times add.

        Spectra on a different calibration are rebinned onto the first one's.
        """
        spectra = list(spectra)
        if not spectra:
            raise SpectrumError("cannot sum an empty list of spectra")
        ref = spectra[0]
        total = np.zeros(ref.n_channels)
        live = real = 0.0
        has_real = True
        for s in spectra:
            if (s.n_channels, s.offset_eV, s.gain_eV_per_channel, s.quadratic_eV) != (
                    ref.n_channels, ref.offset_eV, ref.gain_eV_per_channel, ref.quadratic_eV):
                s = s.rebin_to(ref.offset_eV, ref.gain_eV_per_channel, ref.n_channels, ref.quadratic_eV)
            total += s.counts
            live += s.live_time_s
            if s.real_time_s is None:
                has_real = False
            else:
                real += s.real_time_s
        names = sorted({s.detector for s in spectra})
        return ref.replace(counts=total, live_time_s=live, real_time_s=real if has_real else None,
                           detector=detector or "+".join(names),
                           metadata={**ref.metadata, "n_summed": len(spectra)})

    def combine(self, other: "Spectrum") -> "Spectrum":
        """Detector A + B: ``other`` rebinned onto this calibration and added.

        The live time is the mean of the two (both detectors see the same point
        for the same time), so count rates stay per detector-pair.
        """
        s = Spectrum.sum([self, other])
        return s.replace(live_time_s=0.5 * (self.live_time_s + other.live_time_s),
                         real_time_s=None if self.real_time_s is None or other.real_time_s is None
                         else 0.5 * (self.real_time_s + other.real_time_s))

    def __repr__(self) -> str:
        return (f"Spectrum(detector={self.detector!r}, n_channels={self.n_channels}, "
                f"counts={self.total_counts:.6g}, live_time_s={self.live_time_s:.6g}, "
                f"calibration={self.offset_eV:+.3f} eV + {self.gain_eV_per_channel:.5f} eV/ch"
                + (f", source={self.source!r}" if self.source else "") + ")")


def _edges(n: int, offset: float, gain: float, quad: float) -> np.ndarray:
    ch = np.arange(n + 1, dtype=float) - 0.5
    return offset + gain * ch + quad * ch * ch


def rebin_counts(counts: np.ndarray, old_edges: np.ndarray, new_edges: np.ndarray) -> np.ndarray:
    """Counts on ``new_edges`` from counts on ``old_edges`` (uniform within each old bin)."""
    cum = np.concatenate([[0.0], np.cumsum(counts, dtype=float)])
    c_new = np.interp(new_edges, old_edges, cum)
    return np.maximum(np.diff(c_new), 0.0)


class PointMetadata(MutableMapping):
    """Per-point metadata of a scan (key → array over the points), read on first use.

    Values are arrays, or callables returning one (a file-backed scan's columns:
    reading every column when a scan is opened cost more than opening it). A
    column is read once, then kept.
    """

    def __init__(self, columns: Mapping[str, Any] | None = None):
        self._data: dict[str, Any] = {}
        for k, v in (columns or {}).items():
            self[k] = v

    def __getitem__(self, key: str) -> np.ndarray:
        v = self._data[key]
        if callable(v):
            v = np.asarray(v())
            self._data[key] = v
        return v

    def __setitem__(self, key: str, value) -> None:
        self._data[key] = value if callable(value) else np.asarray(value)

    def __delitem__(self, key: str) -> None:
        del self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"PointMetadata({list(self._data)})"


class Scan:
    """All spectra of one scan: ``(n_points, n_channels)`` counts per detector.

    Counts may be numpy arrays (in memory) or h5py datasets (read on demand:
    indexing reads only the requested points). Build one in memory with the
    constructor, or open a file with :func:`pixlspec.open_scan`.

    Parameters
    ----------
    counts : mapping of str to array_like
        Detector name → counts of shape ``(n_points, n_channels)``.
    live_time_s : mapping of str to array_like
        Detector name → live time per point (s), shape ``(n_points,)``.
    positions_mm : array_like, optional
        Beam positions ``(n_points, 3)`` in mm (x, y, z); zeros when unknown.
    point_ids : array_like, optional
        Point ids (PIXL PMC); ``0..n_points-1`` when absent.
    real_time_s : mapping of str to array_like, optional
    calibration : mapping of str to (offset_eV, gain_eV_per_channel[, quadratic_eV]), optional
        Per-detector calibration; taken from ``instrument`` when absent.
    instrument : Instrument, optional
        Default :meth:`Instrument.pixl`.
    metadata : dict, optional
    source : str, optional
        File the scan came from.
    """

    def __init__(self, counts: Mapping[str, Any], live_time_s: Mapping[str, Any], *,
                 positions_mm=None, point_ids=None, real_time_s: Mapping[str, Any] | None = None,
                 calibration: Mapping[str, Sequence[float]] | None = None,
                 instrument: Instrument | None = None, metadata: dict | None = None,
                 source: str | None = None, point_metadata: dict[str, np.ndarray] | None = None,
                 _file=None):
        self.source = source
        self._file = _file
        if not counts:
            raise SpectrumError("a scan needs counts for at least one detector", path=source)
        self._counts = {}
        shape = None
        for det, c in counts.items():
            if not hasattr(c, "shape") or not hasattr(c, "__getitem__"):
                c = np.asarray(c)
            if isinstance(c, np.ndarray):
                c = validate_counts(c, where=f"counts of detector {det}", path=source)
            if len(c.shape) != 2:
                raise SpectrumError(f"counts of detector {det} must be 2-D (n_points, n_channels), got "
                                    f"shape {tuple(c.shape)}", path=source)
            if shape is not None and tuple(c.shape) != shape:
                raise SpectrumError(f"detector {det} counts have shape {tuple(c.shape)}, others {shape}",
                                    path=source)
            shape = tuple(c.shape)
            self._counts[str(det)] = c
        self.n_points, self.n_channels = shape
        self.detectors = tuple(self._counts)
        self.instrument = instrument if instrument is not None else Instrument.pixl()

        self.live_time_s = {d: self._per_point(live_time_s, d, "live_time_s") for d in self.detectors}
        self.real_time_s = ({d: self._per_point(real_time_s, d, "real_time_s") for d in self.detectors
                             if d in real_time_s} if real_time_s else {})
        self.calibration: dict[str, tuple[float, float, float]] = {}
        for d in self.detectors:
            if calibration and d in calibration:
                cal = tuple(float(x) for x in calibration[d])
            else:
                try:
                    det = self.instrument.detector(d)
                except Exception:
                    det = self.instrument.detectors[0]
                cal = (det.offset_eV, det.gain_eV_per_channel, det.quadratic_eV)
            if len(cal) == 2:
                cal = (*cal, 0.0)
            if len(cal) != 3:
                raise SpectrumError(f"calibration of detector {d} must be (offset_eV, gain>0[, quadratic]), "
                                    f"got {cal}", path=source)
            self.calibration[d] = check_calibration(*cal, self.n_channels, what=f"calibration of detector {d}",
                                                    path=source)

        if positions_mm is None:
            positions_mm = np.zeros((self.n_points, 3))
        pos = np.asarray(positions_mm, dtype=float)
        if pos.shape != (self.n_points, 3):
            raise SpectrumError(f"positions_mm must have shape ({self.n_points}, 3), got {pos.shape}",
                                path=source)
        if np.any(np.isinf(pos)):               # NaN: a position not known (e.g. a PMC missing from the RXL)
            bad = int(np.argwhere(np.isinf(pos))[0][0])
            raise SpectrumError(f"positions_mm of point {bad} are infinite: {pos[bad].tolist()}", path=source)
        self.positions_mm = pos
        ids = np.arange(self.n_points) if point_ids is None else np.asarray(point_ids)
        if ids.shape != (self.n_points,):
            raise SpectrumError(f"point_ids must have shape ({self.n_points},), got {ids.shape}", path=source)
        check_point_ids(ids, path=source)
        self.point_ids = ids
        self.metadata = dict(metadata or {})
        self.point_metadata = PointMetadata(point_metadata)

    def _per_point(self, mapping, det, name) -> np.ndarray:
        if mapping is None or det not in mapping:
            raise SpectrumError(f"{name} missing for detector {det}", path=self.source)
        a = np.asarray(mapping[det], dtype=float)
        if a.ndim == 0:
            a = np.full(self.n_points, float(a))
        if a.shape != (self.n_points,):
            raise SpectrumError(f"{name} of detector {det} must have shape ({self.n_points},), got {a.shape}",
                                path=self.source)
        # a zero live time marks a point without data (a dropped point): map fits flag it
        # invalid and spectrum() refuses it; negative, non-finite or absurd values are errors
        if name == "live_time_s":
            check_point_times(a, what=f"{name} of detector {det}", path=self.source)
        else:  # real (clock) times: [0, MAX_LIVE_TIME_S], as a single spectrum's
            for bad in np.flatnonzero(~(np.isfinite(a) & (a >= 0) & (a <= MAX_LIVE_TIME_S)))[:1]:
                check_real_time(a[bad], what=f"{name} of detector {det} at point {bad}", path=self.source)
        return a

    # --- access -------------------------------------------------------------
    def counts(self, detector: str | None = None, points=slice(None)) -> np.ndarray:
        """Counts of ``points`` (index, slice or index array) as a float64 array.

        For a file-backed scan only those points are read.
        """
        det = self._det(detector)
        src = self._counts[det]
        if isinstance(src, np.ndarray):             # validated by the constructor
            return self._take(src, points)
        try:                                        # file-backed: validated as read
            data = self._take(src, points)
        except (OSError, RuntimeError, ValueError, KeyError, TypeError) as e:
            raise HDF5FormatError(f"cannot read the counts of these points (truncated or damaged file?): {e}",
                                  path=self.source, where=getattr(src, "name", f"counts of detector {det}"))\
                from None
        return validate_counts(data, where=getattr(src, "name", f"counts of detector {det}"), path=self.source,
                               error_cls=HDF5FormatError)

    @staticmethod
    def _take(src, points) -> np.ndarray:
        if isinstance(points, (list, np.ndarray)):
            idx = np.asarray(points)
            if idx.dtype == bool:
                idx = np.flatnonzero(idx)
            order = np.argsort(idx)
            data = np.asarray(src[np.sort(idx).tolist()] if not isinstance(src, np.ndarray)
                              else src[np.sort(idx)], dtype=np.float64)
            out = np.empty_like(data)
            out[order] = data
            return out
        return np.asarray(src[points], dtype=np.float64)

    def raw_counts(self, detector: str | None = None):
        """The underlying array or h5py dataset of a detector (not copied, not read)."""
        return self._counts[self._det(detector)]

    def _det(self, detector: str | None) -> str:
        if detector is None:
            return self.detectors[0]
        if detector not in self._counts:
            raise SpectrumError(f"no detector {detector!r} in this scan; it has {self.detectors}",
                                path=self.source)
        return detector

    def energy_eV(self, detector: str | None = None) -> np.ndarray:
        off, gain, quad = self.calibration[self._det(detector)]
        return channel_energies_eV(self.n_channels, off, gain, quad)

    def spectrum(self, index: int, detector: str | None = None) -> Spectrum:
        """The spectrum of point ``index`` (0-based row, not PMC) for one detector."""
        det = self._det(detector)
        if not -self.n_points <= index < self.n_points:
            raise IndexError(f"point {index} out of range for a scan of {self.n_points} points")
        off, gain, quad = self.calibration[det]
        meta = {"point_id": self.point_ids[index].item(), "index": int(index)}
        for k, v in self.point_metadata.items():
            meta[k] = v[index].item() if hasattr(v[index], "item") else v[index]
        return Spectrum(counts=self.counts(det, index), offset_eV=off, gain_eV_per_channel=gain,
                        quadratic_eV=quad, live_time_s=self.live_time_s[det][index],
                        real_time_s=self.real_time_s[det][index] if det in self.real_time_s else None,
                        detector=det, position_mm=tuple(self.positions_mm[index]),
                        instrument=self.instrument, metadata=meta, source=self.source)

    def iter_chunks(self, detector: str | None = None, chunk_points: int = DEFAULT_CHUNK_POINTS,
                    points=None) -> Iterator[tuple[int, int, np.ndarray]]:
        """Yield ``(start, stop, counts[start:stop])`` over the scan, chunk by chunk."""
        det = self._det(detector)
        lo, hi = (0, self.n_points) if points is None else (points.start or 0, points.stop or self.n_points)
        for start in range(lo, hi, chunk_points):
            stop = min(start + chunk_points, hi)
            yield start, stop, self.counts(det, slice(start, stop))

    def sum_spectrum(self, detector: str | None = None, points=None,
                     chunk_points: int = DEFAULT_CHUNK_POINTS) -> Spectrum:
        """Channel-wise sum over all points (or the boolean/int ``points``), streamed in chunks."""
        det = self._det(detector)
        total = np.zeros(self.n_channels)
        if points is None:
            for _, _, c in self.iter_chunks(det, chunk_points):
                total += c.sum(axis=0)
            sel = np.ones(self.n_points, bool)
        else:
            sel = np.zeros(self.n_points, bool)
            sel[np.asarray(points)] = True
            for start, stop, c in self.iter_chunks(det, chunk_points):
                total += c[sel[start:stop]].sum(axis=0)
        off, gain, quad = self.calibration[det]
        live = np.asarray(self.live_time_s[det], dtype=float)[sel]
        meta: dict[str, Any] = {"n_summed": int(sel.sum())}
        g = self.geometry_factor
        if g is not None and live.sum() > 0:
            # the points' counts add up as live time x geometry: the sum's factor is their live-time mean
            meta[GEOMETRY_KEY] = float(np.dot(g[sel], live) / live.sum())
        return Spectrum(counts=total, offset_eV=off, gain_eV_per_channel=gain, quadratic_eV=quad,
                        live_time_s=float(live.sum()),
                        real_time_s=float(self.real_time_s[det][sel].sum()) if det in self.real_time_s
                        else None, detector=det, instrument=self.instrument,
                        metadata=meta, source=self.source)

    @property
    def geometry_factor(self) -> np.ndarray | None:
        """Stand-off geometry factor per point (``point_metadata["geometry"]``, PIQUANT's ##GEOMETRY).

        None when the scan carries none; points without a usable value (NaN, ≤ 0) get 1.
        """
        if GEOMETRY_KEY not in self.point_metadata:
            return None
        return geometry_factors(self.point_metadata[GEOMETRY_KEY], self.n_points)

    def load(self) -> "Scan":
        """A copy with every detector's counts read into memory."""
        return Scan({d: self.counts(d) for d in self.detectors}, self.live_time_s,
                    positions_mm=self.positions_mm, point_ids=self.point_ids, real_time_s=self.real_time_s,
                    calibration=self.calibration, instrument=self.instrument, metadata=self.metadata,
                    source=self.source, point_metadata=dict(self.point_metadata))

    @property
    def is_lazy(self) -> bool:
        return any(not isinstance(c, np.ndarray) for c in self._counts.values())

    def close(self) -> None:
        """Close the underlying file (file-backed scans)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __len__(self) -> int:
        return self.n_points

    def __repr__(self) -> str:
        return (f"Scan(n_points={self.n_points}, n_channels={self.n_channels}, detectors={self.detectors}, "
                f"lazy={self.is_lazy}" + (f", source={self.source!r}" if self.source else "") + ")")


# --- plain arrays in ---------------------------------------------------------------------------------------
#: Live time given to a counts array that comes without one (s): areas stay counts, rates are per second.
DEFAULT_ARRAY_LIVE_TIME_S = 1.0
#: Beam step given to the points of a (ny, nx, n_channels) array that comes without positions (mm).
DEFAULT_ARRAY_STEP_MM = 1.0


def _array_calibration(instrument: Instrument, detector: str, energy_offset_eV, energy_gain_eV):
    try:
        det = instrument.detector(detector)
    except Exception:  # a detector name the instrument does not know: its first detector's calibration
        det = instrument.detectors[0]
    offset = det.offset_eV if energy_offset_eV is None else float(energy_offset_eV)
    gain = det.gain_eV_per_channel if energy_gain_eV is None else float(energy_gain_eV)
    return offset, gain


def _counts_array(counts, kind: str, dims: tuple[int, ...]) -> np.ndarray:
    if isinstance(counts, (str, bytes)) or not hasattr(counts, "__len__") and not hasattr(counts, "shape"):
        raise SpectrumError(f"expected {kind}, got {type(counts).__name__}")
    try:
        a = np.asarray(counts)
    except Exception as e:  # ragged nested lists and the like
        raise SpectrumError(f"expected {kind}; could not read it as an array ({e})") from None
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise SpectrumError(f"expected {kind} of numbers, got an array of dtype {a.dtype}")
    if a.ndim not in dims:
        raise SpectrumError(f"expected {kind}, got an array of shape {a.shape}")
    return a


def as_spectrum(spectrum, *, energy_offset_eV: float | None = None, energy_gain_eV: float | None = None,
                live_time_s: float | None = None, instrument: Instrument | None = None,
                detector: str = "A") -> Spectrum:
    """A :class:`Spectrum` from a Spectrum or a 1-D array of counts per channel.

    A Spectrum is returned unchanged (the keywords must then be left unset).
    For an array, the energy calibration ``E(ch) = energy_offset_eV +
    energy_gain_eV * ch`` is taken from the keywords, each missing term from
    the ``instrument``'s detector (default :meth:`Instrument.pixl`); the live
    time defaults to :data:`DEFAULT_ARRAY_LIVE_TIME_S`.

    Raises
    ------
    SpectrumError
        Neither a Spectrum nor a 1-D array of finite, non-negative numbers, or
        keywords given with a Spectrum.
    """
    if isinstance(spectrum, Spectrum):
        given = [k for k, v in (("energy_offset_eV", energy_offset_eV), ("energy_gain_eV", energy_gain_eV),
                                ("live_time_s", live_time_s)) if v is not None]
        if given:
            raise SpectrumError(f"{', '.join(given)} apply to a counts array; a Spectrum carries its own "
                                "(use spectrum.replace(...) to change them)")
        return spectrum
    kind = "a Spectrum or a 1-D array of counts per channel"
    counts = _counts_array(spectrum, kind, (1,))
    instrument = instrument if instrument is not None else Instrument.pixl()
    offset, gain = _array_calibration(instrument, detector, energy_offset_eV, energy_gain_eV)
    live = DEFAULT_ARRAY_LIVE_TIME_S if live_time_s is None else live_time_s
    return Spectrum(counts=counts, offset_eV=offset, gain_eV_per_channel=gain, live_time_s=live,
                    detector=detector, instrument=instrument)


def as_scan(scan, *, energy_offset_eV: float | None = None, energy_gain_eV: float | None = None,
            live_time_s=None, instrument: Instrument | None = None, detector: str = "A",
            step_mm: float = DEFAULT_ARRAY_STEP_MM) -> Scan:
    """A :class:`Scan` from a Scan or an array of spectra.

    ``scan`` may be a Scan (returned unchanged), an array ``(n_points,
    n_channels)`` (points in a line) or ``(ny, nx, n_channels)`` (a raster,
    row-major, ``step_mm`` apart). The array becomes the counts of one
    ``detector``; calibration and live time as in :func:`as_spectrum`
    (``live_time_s`` may also be one value per point).

    Raises
    ------
    SpectrumError
        Neither a Scan nor a 2-D/3-D array of finite, non-negative numbers.
    """
    if isinstance(scan, Scan):
        return scan
    kind = "a Scan, a scan file path, or an array of spectra (n_points, n_channels) or (ny, nx, n_channels)"
    counts = _counts_array(scan, kind, (2, 3))
    if not np.isfinite(step_mm) or step_mm <= 0:
        raise SpectrumError(f"step_mm must be a finite length > 0 mm, got {step_mm}")
    positions = None
    if counts.ndim == 3:
        ny, nx = counts.shape[:2]
        iy, ix = np.divmod(np.arange(ny * nx), nx)
        positions = np.column_stack([ix * step_mm, iy * step_mm, np.zeros(ny * nx)])
        counts = counts.reshape(ny * nx, counts.shape[2])
    instrument = instrument if instrument is not None else Instrument.pixl()
    offset, gain = _array_calibration(instrument, detector, energy_offset_eV, energy_gain_eV)
    live = DEFAULT_ARRAY_LIVE_TIME_S if live_time_s is None else live_time_s
    try:
        live = np.broadcast_to(np.asarray(live, dtype=np.float64), (counts.shape[0],)).copy()
    except (TypeError, ValueError):
        raise SpectrumError(f"live_time_s must be one value or one per point ({counts.shape[0]}), got "
                            f"{np.shape(live_time_s)}") from None
    if counts.shape[0] == 0:
        raise SpectrumError(f"the spectra hold no point (shape {counts.shape}); expected at least one spectrum")
    bad = np.flatnonzero(~(np.isfinite(live) & (live >= MIN_LIVE_TIME_S) & (live <= MAX_LIVE_TIME_S)))
    if bad.size:
        raise SpectrumError(f"live_time_s of point {int(bad[0])} is {float(live[bad[0]])!r} s; expected a finite "
                            f"value in [{MIN_LIVE_TIME_S:.0e}, {MAX_LIVE_TIME_S:.0e}] s at every point")
    return Scan({detector: counts}, {detector: live}, positions_mm=positions,
                calibration={detector: (offset, gain)}, instrument=instrument)


def geometry_factors(values, n: int) -> np.ndarray:
    """Stand-off geometry factors (##GEOMETRY) as ``n`` floats; missing, non-finite or ≤ 0 values → 1.

    PIQUANT reads a ##GEOMETRY of 0 as 1 (no correction); NaN marks a point the
    housekeeping did not give one for.
    """
    g = np.array(np.broadcast_to(np.asarray(values, dtype=float), (n,)), dtype=float)
    g[~(np.isfinite(g) & (g > 0))] = 1.0
    return g
