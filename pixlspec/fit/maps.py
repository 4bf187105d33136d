"""Element maps: linear fit of every point of a scan with peak shapes fixed from its sum spectrum.

The nonlinear work is done once per scan and detector: :func:`fit_spectrum`
on the scan's sum spectrum refines the calibration, resolution, tails and
Compton shape. Its design matrix ``A`` (fit channels × columns: element line
groups, tube scatter, pile-up and — with the default ``background="continuum"``
— the continuum basis) is then fixed, and every point ``y`` is fitted by
non-negative weighted least squares ``min ||W^½ (y − A c)||², c >= 0``.

Shared work, once per scan (physics.md §13, "compromise for maps"):

* one weight vector for all points, ``W = 1/max(μ_mean, 1)`` with ``μ_mean`` the
  sum-spectrum model divided by the number of points, so ``H = AᵀWA``, its
  inverse and ``G = H⁻¹AᵀW`` are shared;
* ``M = (G∘G) A`` (K × K): the variance of the areas of a point with model
  ``μ_p = A c_p`` is ``diag(G diag(μ_p) Gᵀ) = (G∘G) μ_p = M c_p`` — the exact
  Poisson variance of this linear estimator, for the price of a K×K product.

Per chunk of points, one numba ``prange`` kernel over tiles of 8 points
(no Python loop over points, no BLAS): ``f = (WA)ᵀ y`` over the channel
blocks where each column is non-zero, ``c = H⁻¹ f``, the exact NNLS for the
points with a negative component (active set warm-started from ``c``,
subproblems through ``H⁻¹`` by Schur complement), the model ``A c`` block by
block for the Pearson χ² ``Σ (y − μ)²/max(μ, 0.1)``, and ``σ² = M c``. Only
peaks, scatter and pile-up are constrained to be >= 0: the continuum
coefficients are free, which keeps the background unbiased under small
peaks (clamping a near-zero spline at the low-energy edge biased P by −5 %).

With ``FitConfig(background="snip")`` each point's SNIP background is
subtracted first (PyMca-like; slower and biased under small peaks — see
docs/maps.md) and only the peak columns are fitted.

Points with zero or negative live time, or NaN / negative counts, are flagged
in ``ElementMaps.valid`` and left out of the sum spectrum and of the fit.
"""
from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import FitError, SpectrumError
from ..instrument import Instrument
from ..parallel import Backend, Lazy, SerialBackend, get_backend, pool_pays
from ..spectrum import Scan, Spectrum, as_scan
from ..config import FitConfig
from ..element_maps import ElementMaps, combine_detectors
from ..geometry import grid_from_positions
from .plan import (KERNEL_DTYPES, DetectorPlan, build_plan, fit_points, fit_points_masked, joint_kbeta_fraction,
                   row_validity_of, single_threaded_blas)

__all__ = ["fit_map", "DEFAULT_MAP_CHUNK_POINTS", "IN_MEMORY_BYTES"]

#: Points per chunk (the unit of work handed to a worker, and the memory bound:
#: a chunk of 2048 points × 4096 channels is 64 MB as float64).
DEFAULT_MAP_CHUNK_POINTS = 2048
#: File-backed scans up to this size are read into memory once when fitted in this process
#: (saves the second read); larger scans are streamed chunk by chunk.
IN_MEMORY_BYTES = 256 << 20
#: Detector name of combined (summed) detector results.
COMBINED = "+"


# --- rows of a scan, read where the task runs -------------------------------------------------
_OPEN_FILES: dict[tuple, Any] = {}


class H5Rows(Lazy):
    """Rows ``start:stop`` of an HDF5 dataset, read (and decompressed) by whoever runs the task."""

    def __init__(self, path: str, dataset: str, start: int, stop: int):
        self.path, self.dataset, self.start, self.stop = path, dataset, int(start), int(stop)

    def load(self) -> np.ndarray:
        import h5py
        import hdf5plugin  # noqa: F401  (registers the Blosc/LZ4 filters)

        from ..io.hdf5 import read_rows

        try:
            st = os.stat(self.path)
            key = (self.path, st.st_mtime_ns, st.st_size)
            f = _OPEN_FILES.get(key)
            if f is None or not f.id.valid:
                if len(_OPEN_FILES) > 8:
                    for k in list(_OPEN_FILES):
                        _OPEN_FILES.pop(k).close()
                f = h5py.File(self.path, "r")
                _OPEN_FILES[key] = f
            return read_rows(f[self.dataset], self.start, self.stop, path=self.path)
        except (OSError, KeyError) as e:
            raise SpectrumError(f"cannot read points {self.start}-{self.stop}: {e}", path=self.path,
                                where=self.dataset) from None


class ArrayRows(Lazy):
    """Rows of an in-memory array or of an open h5py dataset (same process)."""

    def __init__(self, source, start: int, stop: int, path: str | None = None):
        self.source, self.start, self.stop, self.path = source, int(start), int(stop), path

    def load(self) -> np.ndarray:
        import h5py

        from ..io.hdf5 import read_rows

        try:
            if isinstance(self.source, h5py.Dataset):
                return read_rows(self.source, self.start, self.stop, path=self.path)
            return np.asarray(self.source[self.start:self.stop])
        except OSError as e:
            raise SpectrumError(f"cannot read points {self.start}-{self.stop}: {e}", path=self.path) from None


def _rows(scan: Scan, det: str, start: int, stop: int, remote: bool):
    src = scan.raw_counts(det)
    if isinstance(src, np.ndarray):
        return src[start:stop] if remote else ArrayRows(src, start, stop)
    f = getattr(src, "file", None)
    if remote and f is not None:
        return H5Rows(f.filename, src.name, start, stop)
    if remote:
        return np.asarray(src[start:stop])
    return ArrayRows(src, start, stop, path=scan.source)


def _sum_rows(raw: np.ndarray, live: np.ndarray, total: np.ndarray, parallel: bool = True) -> np.ndarray:
    """Add the valid rows of ``raw`` to ``total`` (channel sums); returns the validity of each row.
    ``parallel=False`` for small blocks of rows (one HDF5 chunk)."""
    from ..model.map_kernels import column_sums, column_sums_serial

    raw = np.asarray(raw)
    if raw.dtype not in KERNEL_DTYPES:
        raw = raw.astype(np.float64)
    raw = np.ascontiguousarray(raw)
    valid = row_validity_of(raw, live)
    # rows added in order whichever kernel: the same bits for a chunk summed whole or block by block
    (column_sums if parallel else column_sums_serial)(raw, valid, total)
    return valid


def _sum_task(dets: Sequence[str], raws: Sequence[np.ndarray], lives: Sequence[np.ndarray]):
    """Channel sums over the valid points of a chunk, and the validity of each point."""
    out = {}
    for det, raw, live in zip(dets, raws, lives):
        raw = np.asarray(raw)
        total = np.zeros(raw.shape[1])
        valid = _sum_rows(raw, live, total)
        out[det] = (total, valid)
    return out


def _fit_task(plans: Sequence[DetectorPlan], raws: Sequence[np.ndarray], lives: Sequence[np.ndarray]):
    return {p.detector: fit_points(p, raw, live) for p, raw, live in zip(plans, raws, lives)}


def _sum_fit_task(spectrum: Spectrum, elements, instrument, config):
    """Fit a sum spectrum.

    BLAS runs single-threaded here (and where the plans are made) so that the fit and the shared
    matrices are bit-identical whichever backend (and however many threads) runs the task.
    """
    from .single import fit_spectrum

    with single_threaded_blas():
        fit = fit_spectrum(spectrum, elements=elements, instrument=instrument, config=config)
    return _portable_fit(fit)


def _portable_fit(fit):
    """The FitResult without the lmfit internals (which hold closures and do not pickle)."""
    return dataclasses.replace(fit, lmfit_result=None)


# ---------------------------------------------------------------------------------------------
# the driver
# ---------------------------------------------------------------------------------------------
def _open_input(scan_or_path, instrument, **array_keywords):
    """``(scan, opened_here)``: a Scan as is, a path opened, an array wrapped (:func:`as_scan`)."""
    if isinstance(scan_or_path, (str, os.PathLike)):
        if any(v is not None for v in array_keywords.values()):
            raise SpectrumError(f"{', '.join(k for k, v in array_keywords.items() if v is not None)} apply "
                                "to a counts array; a scan file carries its own", path=scan_or_path)
        from ..io.convert import read_scan

        return read_scan(os.fspath(scan_or_path), instrument=instrument), True
    if isinstance(scan_or_path, Scan) and any(v is not None for v in array_keywords.values()):
        raise SpectrumError(f"{', '.join(k for k, v in array_keywords.items() if v is not None)} apply to a "
                            "counts array; a Scan carries its own")
    return as_scan(scan_or_path, instrument=instrument, **array_keywords), False


def _raw_bytes(scan: Scan, dets) -> int:
    return sum(int(np.prod(scan.raw_counts(d).shape)) * np.dtype(scan.raw_counts(d).dtype).itemsize for d in dets)


def _in_memory(scan: Scan, dets, lives: Mapping[str, np.ndarray], chunk_points: int):
    """Read a file-backed scan into memory, summing the valid spectra on the way.

    Returns ``(scan, sums)``: the in-memory scan and, per detector, ``(channel sums over
    the valid points, validity of each point)`` — pass 1 of the map fit, done on each
    block of rows while it is still in the CPU cache. The rows of each range of
    ``chunk_points`` points are summed into their own buffer, then added to the total:
    the same grouping, and so the same bits, as pass 1 over chunks (:func:`_sum_task`).
    """
    import h5py

    from ..io.hdf5 import read_rows

    counts, sums = {}, {}
    for d in dets:
        src = scan.raw_counts(d)
        total = np.zeros(scan.n_channels)
        part = np.zeros(scan.n_channels)  # the sum of the current range of chunk_points points
        valid = np.zeros(scan.n_points, bool)

        def on_rows(start, stop, rows, total=total, part=part, valid=valid, live=lives[d]):
            while start < stop:  # split at the boundaries of the ranges of chunk_points points
                end = min(stop, (start // chunk_points + 1) * chunk_points)
                valid[start:end] = _sum_rows(rows[:end - start], live[start:end], part, parallel=False)
                rows = rows[end - start:]
                if end % chunk_points == 0 or end == scan.n_points:
                    total += part
                    part[:] = 0.0
                start = end

        try:
            if isinstance(src, h5py.Dataset):
                counts[d] = read_rows(src, on_rows=on_rows, path=scan.source)
            else:
                counts[d] = np.asarray(src[()])
                on_rows(0, scan.n_points, counts[d])
        except OSError as e:
            raise SpectrumError(f"cannot read the spectra: {e}", path=scan.source, where=f"detector {d}") from None
        sums[d] = (total, valid)
    out = Scan.__new__(Scan)
    out.__dict__.update(scan.__dict__)
    out._counts = {**scan._counts, **counts}
    out._file = None  # the original scan keeps (and closes) the file
    return out, sums


def _detectors(scan: Scan, detector) -> list[str]:
    if detector is None or detector in ("all", "combined", "sum"):
        return list(scan.detectors)
    if isinstance(detector, str):
        names = [d for d in detector.replace(COMBINED, " ").replace(",", " ").split() if d]
    else:
        names = list(detector)
    for d in names:
        if d not in scan.detectors:
            raise SpectrumError(f"no detector {d!r} in this scan; it has {', '.join(scan.detectors)}",
                                path=scan.source)
    if not names:
        raise SpectrumError(f"no detector given; the scan has {', '.join(scan.detectors)}", path=scan.source)
    return names


def _instrument_detector(instrument: Instrument, det: str):
    try:
        return instrument.detector(det)
    except Exception:
        return instrument.detectors[0]


def fit_map(scan_or_path, elements: Sequence[str] | None = None, instrument: Instrument | None = None,
            config: FitConfig | None = None, workers: int | None = None, *, detector=None,
            scheduler=None, backend: Backend | None = None, chunk_points: int = DEFAULT_MAP_CHUNK_POINTS,
            progress: Callable[[int], None] | None = None, sum_fits: Mapping[str, Any] | None = None,
            energy_offset_eV: float | None = None, energy_gain_eV: float | None = None,
            live_time_s=None, exclude=None, diffraction: str | None = None) -> ElementMaps:
    """Fit every point of a scan: element areas, 1σ and χ² maps.

    Parameters
    ----------
    scan_or_path : Scan, str, os.PathLike or array
        A scan (in memory or file-backed), a path that :func:`pixlspec.read_scan`
        opens (HDF5 scan file, folder of per-point MSA files, PIXL RFS CSV), or
        counts as an array ``(n_points, n_channels)`` (a line of points) or
        ``(ny, nx, n_channels)`` (a raster), fitted as detector "A" (see
        :func:`pixlspec.spectrum.as_scan`).
    elements : sequence of str or str, optional
        As :func:`fit_spectrum` ("Fe,Ca" or ["Fe", "Ca"]). Default ``config.elements`` or :data:`ROCK_ELEMENTS`.
    instrument : Instrument, optional
        Default: the scan's.
    config : FitConfig, optional
        How the sum spectrum is fitted; ``config.background`` also chooses the
        map background: "continuum" (default, fitted linearly with the peaks) or
        "snip" (per-point SNIP subtracted first).
    workers : int, optional
        None: this process, every core (numba threads, BLAS). N: a pool of N processes
        when the scan is large enough for a pool to pay (:func:`pixlspec.parallel.pool_pays`),
        else this process.
    detector : str or sequence, optional
        "A", "B": that detector alone; None (default), "A+B" or ["A", "B"]: each
        detector fitted separately and the areas summed (``per_detector`` keeps each).
    scheduler : str or distributed.Client, optional
        Run the chunks on a Dask cluster instead (address or client).
    backend : Backend, optional
        An existing backend (reused across scans by :mod:`pixlspec.batch`).
    chunk_points : int
        Points per chunk: the unit of work and the memory bound.
    progress : callable, optional
        Called with the number of points just fitted.
    sum_fits : mapping of detector to FitResult, optional
        Reuse these sum-spectrum fits instead of fitting the sum spectra.
    energy_offset_eV, energy_gain_eV : float, optional
        Energy calibration of a counts array; each missing term comes from the
        instrument's detector.
    live_time_s : float or array, optional
        Live time of a counts array, one value or one per point (default 1 s).
    exclude : mapping of detector to bool array (n_points, n_channels), or DiffractionPeaks, optional
        Channels to leave out of each point's fit (zero weight). The points with
        a mask are refitted one by one; with detectors combined, their areas are
        the detectors' estimates weighted by what remains (each scaled by its
        live time and response), and ``point_flags`` marks them.
    diffraction : {"exclude"}, optional
        Find diffraction peaks (:func:`find_diffraction_peaks`) and exclude them.

    Returns
    -------
    ElementMaps

    Raises
    ------
    SpectrumError
        The scan's channel count disagrees with the instrument, or no point is valid.
    """
    t_start = time.perf_counter()
    config = config or FitConfig()
    if chunk_points < 1:
        raise FitError(f"chunk_points must be >= 1, got {chunk_points}", where="chunk_points")
    scan, owned = _open_input(scan_or_path, instrument, energy_offset_eV=energy_offset_eV,
                              energy_gain_eV=energy_gain_eV, live_time_s=live_time_s)
    opened = scan
    own_backend = backend is None
    try:
        instrument = instrument or scan.instrument or Instrument.pixl()
        dets = _detectors(scan, detector)
        for det in dets:
            expected = _instrument_detector(instrument, det).n_channels
            if expected and scan.n_channels != expected:
                raise SpectrumError(f"the scan has {scan.n_channels} channels per spectrum but the instrument "
                                    f"{instrument.name!r} detector {det} has {expected}; give the matching "
                                    "instrument", path=scan.source, where=f"detector {det}")
        if scan.n_points == 0:
            raise SpectrumError("the scan has no points", path=scan.source)
        masks, found = _exclusion_masks(scan, exclude, diffraction)
        if backend is None:
            if scheduler is None and workers and not pool_pays(scan.n_points, workers, chunk_points):
                backend = SerialBackend()  # too little work for a pool to pay (pixlspec.parallel.pool_pays)
            else:
                backend = get_backend(workers, scheduler)
        remote = backend.remote
        n = scan.n_points
        ranges = [(s, min(s + chunk_points, n)) for s in range(0, n, chunk_points)]
        lives = {d: np.asarray(scan.live_time_s[d], dtype=np.float64) for d in dets}
        t_read = time.perf_counter()
        sums = None
        if not remote and scan.is_lazy and _raw_bytes(scan, dets) <= IN_MEMORY_BYTES:
            # small file-backed scan, fitted here: read it once (both passes need every spectrum)
            # and sum it on the way (pass 1)
            scan, sums = _in_memory(scan, dets, lives, chunk_points)
        t_read = time.perf_counter() - t_read

        # pass 1: sum spectra over the valid points
        t0 = time.perf_counter()
        if sums is not None:
            totals = {d: sums[d][0] for d in dets}
            valid = {d: sums[d][1] for d in dets}
        else:
            totals = {d: np.zeros(scan.n_channels) for d in dets}
            valid = {d: np.zeros(n, bool) for d in dets}
            tasks = [(dets, [_rows(scan, d, s, e, remote) for d in dets], [lives[d][s:e] for d in dets])
                     for s, e in ranges]
            for i, out in backend.map(_sum_task, tasks):
                s, e = ranges[i]
                for d in dets:
                    totals[d] += out[d][0]
                    valid[d][s:e] = out[d][1]
        t_sum = time.perf_counter() - t0 + t_read

        # the sum-spectrum fits
        t0 = time.perf_counter()
        plans, fits, n_valid = {}, {}, {}
        todo = []
        for d in dets:
            nv = n_valid[d] = int(valid[d].sum())
            if nv == 0:
                raise SpectrumError("no valid point (every point has zero live time or bad counts)",
                                    path=scan.source, where=f"detector {d}")
            if totals[d].sum() <= 0:
                raise SpectrumError("all counts of the valid points are zero: nothing to fit",
                                    path=scan.source, where=f"detector {d}")
            if sum_fits and d in sum_fits:
                fits[d] = sum_fits[d]
                continue
            off, gain, quad = scan.calibration[d]
            spec = Spectrum(counts=totals[d], offset_eV=off, gain_eV_per_channel=gain, quadratic_eV=quad,
                            live_time_s=float(lives[d][valid[d]].sum()), detector=d, instrument=instrument,
                            metadata={"n_summed": nv}, source=scan.source)
            todo.append((d, (spec, elements, instrument, config)))
        # in this process, whatever the backend: a nonlinear fit is not bit-reproducible across
        # processes (BLAS/LAPACK paths depend on threads and memory alignment), and the plans
        # made here then give every backend identical results
        for d, args in todo:
            fits[d] = _sum_fit_task(*args)
        # the Kβ/Kα of Mg, Al, Si is the sample's chemistry, the same seen by every detector: the points
        # take the detectors' common share, not what each sum fit alone gave it (on the flight scan A and B
        # differ by 13σ in Si Kβ/Kα, a detector response the share then absorbs)
        joint = joint_kbeta_fraction([fits[d] for d in dets]) if len(dets) > 1 else None
        with single_threaded_blas():
            plans = {d: build_plan(fits[d], n_valid[d], scan.n_channels, kbeta_fraction=joint) for d in dets}
        t_sumfit = time.perf_counter() - t0

        # pass 2: the points
        t0 = time.perf_counter()
        results = {d: {"areas": np.full((n, len(plans[d].reported)), np.nan),
                       "sigma": np.full((n, len(plans[d].reported)), np.nan),
                       "chi2": np.full(n, np.nan), "dof": np.zeros(n)} for d in dets}
        shared = [backend.share(plans[d]) for d in dets] if remote else [plans[d] for d in dets]
        tasks = [(shared, [_rows(scan, d, s, e, remote) for d in dets], [lives[d][s:e] for d in dets])
                 for s, e in ranges]
        for i, out in backend.map(_fit_task, tasks):
            s, e = ranges[i]
            for d in dets:
                r = out[d]
                for key in ("areas", "sigma", "chi2", "dof"):
                    results[d][key][s:e] = r[key]
                valid[d][s:e] &= r["valid"]
            if progress is not None:
                progress(e - s)
        point_flags = {}
        if masks:
            point_flags = _refit_masked(scan, dets, plans, results, valid, lives, masks)
        t_fit = time.perf_counter() - t0

        grid = grid_from_positions(scan.positions_mm)
        per = []
        for d in dets:
            plan = plans[d]
            rep = [plan.column_names[i] for i in plan.reported]
            r = results[d]
            v = valid[d]
            chi2r = r["chi2"] / np.maximum(r["dof"], 1)
            chi2r[~v] = np.nan
            elements_fitted = [c for c, k in zip(plan.column_names, plan.column_kinds) if k == "element"]
            per.append(ElementMaps(
                elements=elements_fitted, columns=rep, detector=d,
                point_areas={c: np.ascontiguousarray(r["areas"][:, j]) for j, c in enumerate(rep)},
                point_sigma={c: np.ascontiguousarray(r["sigma"][:, j]) for j, c in enumerate(rep)},
                chi2_reduced_points=chi2r, dof=r["dof"], valid=v, live_time_s=lives[d],
                positions_mm=np.asarray(scan.positions_mm), point_ids=np.asarray(scan.point_ids), grid=grid,
                sum_fit={d: fits[d]}, config=config, instrument=instrument, source=scan.source,
                geometry_factor=scan.geometry_factor))
        maps = per[0] if len(per) == 1 else combine_detectors(per)
        if masks:
            if len(per) > 1:
                _combine_masked(maps, per, point_flags["diffraction peak masked"])
            maps.point_flags = point_flags
            maps.diffraction = found
        maps.timing = {"read_s": t_read, "sum_pass_s": t_sum, "sum_fit_s": t_sumfit, "point_fit_s": t_fit,
                       "total_s": time.perf_counter() - t_start, "n_points": n, "n_detectors": len(dets),
                       "chunk_points": chunk_points, "backend": backend.name}
        return maps
    except BaseException:
        if own_backend and backend is not None:
            backend.cancel()  # Ctrl-C or an error: stop the workers now rather than finishing their chunks
        raise
    finally:
        if own_backend and backend is not None:
            backend.close()
        if owned:
            opened.close()


# ---------------------------------------------------------------------------------------------
# excluded channels (diffraction peaks)
# ---------------------------------------------------------------------------------------------
#: A line counts as masked (flagged) when the mask removes more than this fraction of its weighted norm.
MASKED_LINE_FRACTION = 0.1


def _exclusion_masks(scan: Scan, exclude, diffraction):
    """``(masks, peaks)``: detector → (n_points, n_channels) bool masks (or {}), and the peaks found."""
    found = None
    if diffraction not in (None, "exclude"):
        raise FitError(f"diffraction must be None or 'exclude', got {diffraction!r}", where="fit_map")
    if diffraction == "exclude":
        from .diffraction import find_diffraction_peaks

        found = find_diffraction_peaks(scan)
        exclude = found if exclude is None else exclude
    if exclude is None:
        return {}, found
    if hasattr(exclude, "exclude_masks"):
        found = found or exclude
        exclude = exclude.exclude_masks(scan)
    out = {}
    for d, m in dict(exclude).items():
        m = np.asarray(m, dtype=bool)
        if m.shape != (scan.n_points, scan.n_channels):
            raise FitError(f"exclude mask of detector {d} has shape {m.shape}, expected "
                           f"({scan.n_points}, {scan.n_channels})", where="exclude")
        if m.any():
            out[str(d)] = m
    return out, found


def _refit_masked(scan, dets, plans, results, valid, lives, masks) -> dict[str, np.ndarray]:
    """Refit the points with a mask (in place in ``results``); returns the per-point flags."""
    n = scan.n_points
    flags = {"diffraction peak masked": np.zeros(n, bool)}
    for d in dets:
        m = masks.get(d)
        if m is None:
            continue
        pts = np.flatnonzero(m.any(axis=1))
        if not pts.size:
            continue
        plan = plans[d]
        r = fit_points_masked(plan, scan.counts(d, pts), lives[d][pts], m[pts])
        for key in ("areas", "sigma", "chi2", "dof"):
            results[d][key][pts] = r[key]
        flags["diffraction peak masked"][pts] = True
        rep = [plan.column_names[i] for i in plan.reported]
        kinds = [plan.column_kinds[i] for i in plan.reported]
        for j, (c, k) in enumerate(zip(rep, kinds)):
            hit = r["kept"][:, j] < 1.0 - MASKED_LINE_FRACTION
            if k == "element" and hit.any():
                f = flags.setdefault(f"masked: {c}", np.zeros(n, bool))
                f[pts[hit]] = True
    return flags


def _combine_masked(maps: ElementMaps, per: Sequence[ElementMaps], flagged: np.ndarray) -> None:
    """Combined areas of the flagged points: each detector's estimate weighted by what remains.

    Detector d is expected to record ``t_p ρ_d L_dp`` counts of a column at point p
    (ρ_d: its counts per live second over the unflagged points, L_dp its live time);
    ``t_p`` is the inverse-variance mean of ``a_dp / (ρ_d L_dp)`` over the detectors
    with an area, and the combined area is ``t_p Σ_d ρ_d L_dp`` (the plain sum when
    nothing is masked).
    """
    pts = np.flatnonzero(flagged & maps.valid)
    if not pts.size:
        return
    ok = maps.valid & ~flagged
    for c in maps.columns:
        rho = []
        for m in per:
            a = m.point_areas[c][ok]
            rho.append(float(np.nansum(a) / max(np.sum(m.live_time_s[ok]), 1e-300)) if ok.any() else np.nan)
        if not all(np.isfinite(r) and r > 0 for r in rho):
            continue
        num = np.zeros(pts.size)
        den = np.zeros(pts.size)
        expect = np.zeros(pts.size)
        for m, r in zip(per, rho):
            k = r * m.live_time_s[pts]
            a = m.point_areas[c][pts] / k
            s = m.point_sigma[c][pts] / k
            good = np.isfinite(a) & np.isfinite(s) & (s > 0)
            wgt = np.where(good, 1.0 / np.where(good, s, 1.0) ** 2, 0.0)
            num += wgt * np.where(good, a, 0.0)
            den += wgt
            expect += k
        has = den > 0
        maps.point_areas[c][pts[has]] = expect[has] * num[has] / den[has]
        maps.point_sigma[c][pts[has]] = expect[has] / np.sqrt(den[has])
