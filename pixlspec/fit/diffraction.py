"""Diffraction peaks: sharp peaks that one detector records and the other does not.

A crystalline grain at a Bragg angle for one of PIXL's two detectors sends it
a sharp peak of the polychromatic beam; the other detector, looking from
another direction, does not see it. Fluorescence is the same in both up to
small response differences, so the difference of the two live-time
normalised spectra, divided by its counting standard deviation, shows the
diffraction peaks and cancels the fluorescence.

Method (vectorised numpy, chunks of points):

1. detector B's counts are rebinned onto detector A's energy grid;
2. the response ratio R(E) = A/B is learned from the scan itself: the median,
   over groups of points, of the ratio of their summed rates, smoothed over a
   fraction of the instrumental width; each point gets its own overall scale
   (the A/B ratio over :data:`SCALE_BLOCKS` runs of channels, leaving out the runs that
   disagree with the others' median: robust to the peaks themselves);
3. the difference ``d = r_A − s_p R r_B`` (counts/s) is summed over a window of
   :data:`WINDOW_FWHM` times the instrumental FWHM at each energy (the box
   width that maximises the signal-to-noise ratio of a Gaussian on flat noise,
   ~2.8σ), together with its Poisson variance;
4. the per-channel median of the windowed difference (rate units) and the
   robust spread (MAD) of its significance over the points are taken out, so
   that systematic A/B differences (e.g. at strong fluorescence lines) do not
   read as peaks;
5. local maxima of |z| above ``threshold_sigma`` (positive: a peak in A,
   negative: in B), one per instrumental width.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import SpectrumError
from ..spectrum import Scan

__all__ = ["find_diffraction_peaks", "DiffractionPeaks", "DEFAULT_THRESHOLD_SIGMA"]

#: Full width of the summing window in units of the instrumental FWHM: a box of ~2.8σ (1.19 FWHM)
#: maximises the signal-to-noise ratio of a Gaussian peak on flat noise.
WINDOW_FWHM = 1.19
#: Detection threshold (σ of the windowed A−B difference). With ~250 independent windows per
#: spectrum and two signs, 4.5σ gives ~2e-3 false peaks per point of pure counting noise.
DEFAULT_THRESHOLD_SIGMA = 4.5
#: Half-width (in FWHM) of the channels masked around a found peak: ±1.25 FWHM = ±2.9σ holds 99.6 % of it.
EXCLUDE_HALF_WIDTH_FWHM = 1.25
#: Points (at most) used to learn the response ratio and the per-channel noise calibration.
STAT_POINTS = 1024
#: Groups of points whose summed-rate ratios give the median response ratio.
RATIO_GROUPS = 16
#: Runs of channels (equal numbers of channels) whose A/B rate ratios give each point's overall A/B
#: scale: the runs whose ratio differs from their median beyond counting errors are left out, so
#: that a strong diffraction peak does not scale B up and hide the point's other peaks (with the
#: ratio of the totals, 1 in 4 Ca Kα peaks was missed at points that also held an Fe Kα peak of
#: 15 % of the Fe line). Runs of equal B rate would crowd onto the strong lines, where peaks sit.
SCALE_BLOCKS = 32
#: MAD of a normal distribution in units of its σ (1/Φ⁻¹(3/4)).
MAD_TO_SIGMA = 1.4826
#: Points per chunk of the detection pass.
CHUNK_POINTS = 1024
#: Lowest energy searched (eV): below ~1 keV the spectra hold few counts and the window is wide in channels.
MIN_ENERGY_EV = 1000.0


def _fwhm_channels(scan: Scan, det: str, energy_eV: np.ndarray) -> np.ndarray:
    from ..physics.detector import fwhm_eV

    try:
        d = scan.instrument.detector(det)
    except Exception:
        d = scan.instrument.detectors[0]
    gain = scan.calibration[det][1]
    return fwhm_eV(np.maximum(energy_eV, 1.0), d.noise_eV, fano=d.fano) / gain


def _rebin_matrix(scan: Scan, src: str, dst: str):
    """Index and fraction to rebin ``src`` counts onto the channel edges of ``dst`` (cumulative interpolation)."""
    n = scan.n_channels
    e_src = scan.energy_eV(src)
    e_dst = scan.energy_eV(dst)

    def edges(e):
        mid = 0.5 * (e[1:] + e[:-1])
        return np.concatenate([[e[0] - (mid[0] - e[0])], mid, [e[-1] + (e[-1] - mid[-1])]])

    pos = np.interp(edges(e_dst), edges(e_src), np.arange(n + 1, dtype=float))
    idx = np.clip(np.floor(pos).astype(np.int64), 0, n - 1)
    frac = np.clip(pos - idx, 0.0, 1.0)
    return idx, frac


def _rebin(counts: np.ndarray, idx: np.ndarray, frac: np.ndarray) -> np.ndarray:
    cum = np.zeros((counts.shape[0], counts.shape[1] + 1))
    np.cumsum(counts, axis=1, out=cum[:, 1:])
    c = cum[:, idx] * (1.0 - frac) + cum[:, idx + 1] * frac
    return np.maximum(np.diff(c, axis=1), 0.0)


def _box(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Sums of ``x[:, lo_j:hi_j]`` for every j (via cumulative sums)."""
    cum = np.zeros((x.shape[0], x.shape[1] + 1))
    np.cumsum(x, axis=1, out=cum[:, 1:])
    return cum[:, hi] - cum[:, lo]


@dataclass
class _Prep:
    a: str
    b: str
    idx: np.ndarray
    frac: np.ndarray
    ratio: np.ndarray          # R(E) on A's grid
    lo: np.ndarray
    hi: np.ndarray
    chan: np.ndarray           # searched channels
    fwhm_ch: np.ndarray
    offset: np.ndarray | None = None   # median windowed difference rate per searched channel
    scale: np.ndarray | None = None    # noise scale per searched channel


def _windowed(prep: _Prep, cA, cB, lA, lB, threshold: float | None = None):
    """``(N, S, s[, Z, cnt])``: windowed difference (counts/s), its σ, the per-point scale; with
    ``threshold``, also the significance Z and the number of candidate peaks per point (numba kernel)."""
    from ..model.kernels import diffraction_windows

    def arr(c):
        c = np.asarray(c)
        return np.ascontiguousarray(c if c.dtype in (np.uint16, np.float64) else c.astype(np.float64))

    cA, cB = arr(cA), arr(cB)
    if cA.dtype != cB.dtype:
        cA, cB = cA.astype(np.float64), cB.astype(np.float64)
    n, m = cA.shape[0], prep.lo.size
    N = np.empty((n, m))
    S = np.empty((n, m))
    s = np.empty(n)
    cnt = np.zeros(n, np.int64)
    if threshold is None:
        off = scl = np.zeros(0)
        Z = np.zeros((0, 0))
    else:
        off, scl, Z = prep.offset, prep.scale, np.empty((n, m))
    diffraction_windows(cA, cB, np.ascontiguousarray(lA, dtype=np.float64),
                        np.ascontiguousarray(lB, dtype=np.float64), prep.idx, prep.frac, prep.ratio,
                        prep.lo, prep.hi, int(prep.chan[0]), int(prep.chan[-1]) + 1, SCALE_BLOCKS, N, S, s,
                        off, scl, float(threshold or 0.0), Z, cnt)
    return (N, S, s) if threshold is None else (N, S, s, Z, cnt)


def _difference_row(prep: _Prep, cA, cB, lA, lB, s):
    """The difference spectrum ``d`` (counts/s, all channels) of one point."""
    rb = _rebin(np.asarray(cB, dtype=np.float64)[None, :], prep.idx, prep.frac)[0]
    return np.asarray(cA, dtype=np.float64) / lA - s * prep.ratio * rb / lB


def _raw(scan: Scan, det: str, start: int, stop: int) -> np.ndarray:
    """Counts of points start:stop as stored (uint16 stays uint16: the kernel reads it directly)."""
    src = scan.raw_counts(det)
    if isinstance(src, np.ndarray) and src.dtype in (np.uint16, np.float64):
        return src[start:stop]
    return scan.counts(det, slice(start, stop))


def _prepare(scan: Scan, a: str, b: str, points: np.ndarray) -> _Prep:
    n_ch = scan.n_channels
    e = scan.energy_eV(a)
    emax = min(scan.instrument.tube.voltage_kV * 1000.0, float(e[-1]))
    fw = _fwhm_channels(scan, a, e)
    half = np.maximum(1, np.round(0.5 * WINDOW_FWHM * fw)).astype(np.int64)
    ch = np.arange(n_ch)
    ok = (e >= MIN_ENERGY_EV) & (e <= emax) & (ch - half >= 0) & (ch + half + 1 <= n_ch)
    chan = np.flatnonzero(ok)
    if chan.size < 3:
        raise SpectrumError("no channel of the scan lies in the searched energy range", path=scan.source)
    idx, frac = _rebin_matrix(scan, b, a)
    cA = scan.counts(a, points)
    cBraw = scan.counts(b, points)
    lA = scan.live_time_s[a][points]
    lB = scan.live_time_s[b][points]
    groups = np.array_split(np.arange(points.size), min(RATIO_GROUPS, points.size))
    ratios = []
    k = max(1, int(round(np.median(fw) / 4)))
    ker = np.ones(2 * k + 1) / (2 * k + 1)
    gsum_b = _rebin(np.array([cBraw[g].sum(axis=0) for g in groups]), idx, frac)   # rebinning is linear
    for gi, g in enumerate(groups):
        sa = np.convolve(cA[g].sum(axis=0) / lA[g].sum(), ker, mode="same")
        sb = np.convolve(gsum_b[gi] / lB[g].sum(), ker, mode="same")
        with np.errstate(invalid="ignore", divide="ignore"):
            ratios.append(np.where(sb > 0, sa / sb, np.nan))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # channels without counts in any group: NaN, replaced below
        ratio = np.nanmedian(np.array(ratios), axis=0) if len(ratios) > 1 else ratios[0]
    glob = cA.sum() / max(gsum_b.sum(), 1.0) * lB.sum() / lA.sum()
    ratio = np.where(np.isfinite(ratio) & (ratio > 0), ratio, glob)
    prep = _Prep(a, b, idx, frac, ratio, (chan - half[chan]), (chan + half[chan] + 1), chan, fw[chan])
    valid = (lA > 0) & (lB > 0)
    N, S, _ = _windowed(prep, cA[valid], cBraw[valid], lA[valid], lB[valid])
    off = np.median(N, axis=0)
    z = (N - off) / S
    mad = MAD_TO_SIGMA * np.median(np.abs(z - np.median(z, axis=0)), axis=0)
    prep.offset = off
    prep.scale = np.maximum(mad, 1.0) if valid.sum() >= 8 else np.ones_like(mad)
    return prep


def find_diffraction_peaks(scan, *, detectors: tuple[str, str] | None = None,
                           threshold_sigma: float = DEFAULT_THRESHOLD_SIGMA, elements=None,
                           chunk_points: int = CHUNK_POINTS) -> "DiffractionPeaks":
    """Find peaks present in one detector and not in the other, point by point.

    Parameters
    ----------
    scan : Scan or path
        A scan with two detectors (PIXL: A and B), or a file :func:`pixlspec.read_scan` opens.
    detectors : (str, str), optional
        The two detectors compared (default the scan's first two).
    threshold_sigma : float
        Significance (σ of the windowed A−B difference) a peak needs.
    elements : sequence of str, optional
        Element groups whose lines are checked for overlap (default :data:`ROCK_ELEMENTS`).
    chunk_points : int
        Points per chunk (the memory bound).

    Returns
    -------
    DiffractionPeaks

    Raises
    ------
    SpectrumError
        The scan has fewer than two detectors.
    """
    owned = False
    if not isinstance(scan, Scan):
        from ..io.convert import read_scan

        scan, owned = read_scan(str(scan)), True
    try:
        dets = tuple(detectors or scan.detectors[:2])
        if len(dets) != 2 or any(d not in scan.detectors for d in dets):
            raise SpectrumError(f"diffraction peaks need two detectors; the scan has {scan.detectors}",
                                path=scan.source)
        a, b = dets
        n = scan.n_points
        stat = np.unique(np.linspace(0, n - 1, min(n, STAT_POINTS)).astype(np.int64))
        prep = _prepare(scan, a, b, stat)
        e_a = scan.energy_eV(a)
        gain = scan.calibration[a][1]
        rows = []
        for start in range(0, n, chunk_points):
            stop = min(start + chunk_points, n)
            cA = _raw(scan, a, start, stop)
            cB = _raw(scan, b, start, stop)
            lA = scan.live_time_s[a][start:stop]
            lB = scan.live_time_s[b][start:stop]
            good = (lA > 0) & (lB > 0)
            lAs, lBs = np.where(good, lA, 1.0), np.where(good, lB, 1.0)
            N, S, s, z, cnt = _windowed(prep, cA, cB, lAs, lBs, threshold_sigma)
            hit = np.flatnonzero((cnt > 0) & good)
            if hit.size:
                rows += _peaks(z[hit], N[hit] - prep.offset, (cA[hit], cB[hit]), prep, start + hit,
                               lAs[hit], lBs[hit], s[hit], threshold_sigma)
        peaks = _table(rows, prep, e_a, gain)
        res = DiffractionPeaks(peaks=peaks, n_points=n, detectors=dets, threshold_sigma=float(threshold_sigma),
                               source=scan.source, point_ids=np.asarray(scan.point_ids),
                               positions_mm=np.asarray(scan.positions_mm),
                               calibration={d: tuple(scan.calibration[d]) for d in dets},
                               n_channels=scan.n_channels)
        res.threshold_sigma = float(threshold_sigma)
        sel = np.abs(res.peaks["significance"]) >= threshold_sigma
        res.peaks = res.peaks[sel]
        res._label_lines(scan.instrument, elements)
        return res
    finally:
        if owned:
            scan.close()


def _centroid(d: np.ndarray, c0: float, sigma_ch: float, sign: int) -> float:
    """Peak position (channels): centroid of the difference weighted by the instrumental Gaussian, iterated."""
    x = c0
    half = int(math.ceil(CENTROID_HALF_SIGMA * sigma_ch))
    for _ in range(CENTROID_ITERATIONS):
        lo, hi = max(int(round(x)) - half, 0), min(int(round(x)) + half + 1, d.size)
        i = np.arange(lo, hi, dtype=float)
        w = sign * d[lo:hi] * np.exp(-0.5 * ((i - x) / sigma_ch) ** 2)
        if not w.sum() > 0:
            break
        x_new = float((w * i).sum() / w.sum())
        if abs(x_new - c0) > sigma_ch:
            break
        x = x_new
    return x


#: Half-width (σ) of the centroid window and the number of its iterations.
CENTROID_HALF_SIGMA = 2.0
CENTROID_ITERATIONS = 4


def _peaks(z, N, raw, prep: _Prep, start, lA, lB, s, threshold):
    out = []
    az = np.abs(z)
    cand = (az[:, 1:-1] >= threshold) & (az[:, 1:-1] >= az[:, :-2]) & (az[:, 1:-1] > az[:, 2:]) & \
        (np.sign(z[:, 1:-1]) == np.sign(z[:, :-2])) & (np.sign(z[:, 1:-1]) == np.sign(z[:, 2:]))
    pi, ji = np.nonzero(cand)
    ji = ji + 1
    order = np.lexsort((-az[pi, ji], pi))
    taken: dict[int, list] = {}
    for p, j in zip(pi[order], ji[order]):
        sign = 1 if z[p, j] > 0 else -1
        acc = taken.setdefault((p, sign), [])
        if any(abs(j - k) < prep.fwhm_ch[j] for k in acc):
            continue
        acc.append(j)
        if abs(z[p, j]) < threshold:
            continue
        # sub-channel position: parabola through the windowed difference at j-1, j, j+1
        y0, y1, y2 = N[p, j - 1], N[p, j], N[p, j + 1]
        den = y0 - 2 * y1 + y2
        dx = 0.5 * (y0 - y2) / den if den != 0 else 0.0
        dx = float(np.clip(dx, -1.0, 1.0))

        sigma_ch = prep.fwhm_ch[j] / (2 * math.sqrt(2 * math.log(2)))
        d = _difference_row(prep, raw[0][p], raw[1][p], lA[p], lB[p], s[p])
        dx = _centroid(d, prep.chan[j] + dx, sigma_ch, sign) - prep.chan[j]
        out.append((int(start[p]), sign, j, dx, float(z[p, j]), float(N[p, j]), float(lA[p]), float(lB[p]),
                    float(s[p])))
    return out


_DTYPE = [("point", np.int64), ("detector", "U8"), ("energy_keV", np.float64), ("area", np.float64),
          ("sigma_area", np.float64), ("significance", np.float64), ("line", "U16")]


def _table(rows, prep: _Prep, e_a, gain):
    from math import erf, sqrt

    t = np.zeros(len(rows), dtype=_DTYPE)
    for i, (p, sign, j, dx, z, net, lA, lB, s) in enumerate(rows):
        ch = prep.chan[j]
        sigma_ch = prep.fwhm_ch[j] / (2 * math.sqrt(2 * math.log(2)))
        half = 0.5 * (prep.hi[j] - prep.lo[j])
        f = erf(half / (sigma_ch * sqrt(2)))       # fraction of a Gaussian peak inside the window
        if sign > 0:
            det, area = prep.a, net * lA / f
        else:
            det, area = prep.b, -net * lB / (s * prep.ratio[ch]) / f
        t[i] = (p, det, (e_a[ch] + dx * gain) / 1000.0, area, abs(area / z) if z else np.nan, abs(z), "")
    return t[np.lexsort((t["energy_keV"], t["point"]))] if len(t) else t


@dataclass
class DiffractionPeaks:
    """Diffraction peaks found in a scan (one row per peak, point and detector).

    Attributes
    ----------
    peaks : structured ndarray
        Fields ``point`` (0-based row), ``detector``, ``energy_keV``, ``area`` (counts in
        that detector), ``sigma_area``, ``significance`` (σ), ``line`` (an element line
        within one FWHM, "" if none).
    n_points : int
    detectors : (str, str)
    threshold_sigma : float
    """

    peaks: np.ndarray
    n_points: int
    detectors: tuple
    threshold_sigma: float
    source: str | None = None
    point_ids: np.ndarray | None = None
    positions_mm: np.ndarray | None = None
    calibration: dict = field(default_factory=dict)
    n_channels: int = 0

    def __len__(self) -> int:
        return int(self.peaks.size)

    def _label_lines(self, instrument, elements) -> None:
        from ..physics.lines import line_group
        from ..config import ROCK_ELEMENTS
        from .single import resolve_elements

        kv = instrument.tube.voltage_kV
        lines = []
        for g in resolve_elements(list(elements or ROCK_ELEMENTS), kv):
            try:
                lg = line_group(g, excitation_eV=kv * 1000.0)
            except Exception:
                continue
            el = g.split("_")[0]
            for name, e, w in zip(lg.line_names, lg.energies_eV, lg.intensities):
                if w >= 0.05 * np.max(lg.intensities):
                    lines.append((f"{el} {name}", float(e)))
        if not lines or not len(self.peaks):
            return
        from ..physics.detector import fwhm_eV

        det = instrument.detectors[0]
        names = np.array([n for n, _ in lines])
        energies = np.array([e for _, e in lines])
        for i, ek in enumerate(self.peaks["energy_keV"]):
            d = np.abs(energies - ek * 1000.0)
            k = int(np.argmin(d))
            if d[k] <= fwhm_eV(ek * 1000.0, det.noise_eV, fano=det.fano):
                self.peaks["line"][i] = names[k]

    # --- views ---------------------------------------------------------------------------
    def counts_map(self, detector: str | None = None) -> np.ndarray:
        """Diffraction counts per point (sum of found peak areas; one detector or both)."""
        sel = np.ones(len(self.peaks), bool) if detector is None else self.peaks["detector"] == detector
        return np.bincount(self.peaks["point"][sel], weights=self.peaks["area"][sel], minlength=self.n_points)

    def strongest(self):
        """The row of the most significant peak (None if there is none)."""
        return None if not len(self.peaks) else self.peaks[int(np.argmax(self.peaks["significance"]))]

    def exclude_masks(self, scan=None, half_width_fwhm: float = EXCLUDE_HALF_WIDTH_FWHM) -> dict[str, np.ndarray]:
        """Boolean channel masks (n_points, n_channels) per detector: True where a found peak lies.

        ``scan`` gives the detectors' calibration and resolution (default: what was recorded here).
        """
        from ..physics.detector import fwhm_eV
        from ..instrument import Instrument

        inst = scan.instrument if scan is not None else Instrument.pixl()
        cal = scan.calibration if scan is not None else self.calibration
        n_ch = scan.n_channels if scan is not None else self.n_channels
        out = {}
        for d in self.detectors:
            m = np.zeros((self.n_points, n_ch), bool)
            off, gain, quad = cal[d]
            e = off + gain * np.arange(n_ch) + quad * np.arange(n_ch) ** 2
            try:
                det = inst.detector(d)
            except Exception:
                det = inst.detectors[0]
            for r in self.peaks[self.peaks["detector"] == d]:
                ek = r["energy_keV"] * 1000.0
                hw = half_width_fwhm * fwhm_eV(ek, det.noise_eV, fano=det.fano)
                m[r["point"]] |= np.abs(e - ek) <= hw
            out[d] = m
        return out

    # --- tables -------------------------------------------------------------------------
    def to_dataframe(self):
        """A pandas DataFrame of the peaks (or, without pandas, a dict of columns)."""
        cols = {k: self.peaks[k].copy() for k in self.peaks.dtype.names}
        if self.point_ids is not None:
            cols["point_id"] = np.asarray(self.point_ids)[self.peaks["point"]]
        try:
            import pandas as pd
        except ImportError:
            return cols
        return pd.DataFrame(cols)

    def to_csv(self, path) -> None:
        """Write the table as CSV (one row per peak)."""
        import csv

        names = list(self.peaks.dtype.names) + (["point_id"] if self.point_ids is not None else [])
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(names)
            for r in self.peaks:
                row = [r["point"], r["detector"], f"{r['energy_keV']:.4f}", f"{r['area']:.1f}",
                       f"{r['sigma_area']:.1f}", f"{r['significance']:.2f}", r["line"]]
                if self.point_ids is not None:
                    row.append(np.asarray(self.point_ids)[r["point"]])
                w.writerow(row)

    def report(self, max_rows: int = 50) -> str:
        lines = [f"{len(self)} diffraction peaks in {self.n_points} points (detectors {'/'.join(self.detectors)}, "
                 f"threshold {self.threshold_sigma:g}σ)"
                 + (f" of {self.source}" if self.source else "")]
        if len(self):
            per = {d: int((self.peaks["detector"] == d).sum()) for d in self.detectors}
            lines.append("  " + ", ".join(f"{d}: {k}" for d, k in per.items()) +
                         f"; {np.unique(self.peaks['point']).size} points with a peak")
            lines.append(f"  {'point':>6} {'det':>3} {'E (keV)':>8} {'area':>9} {'σ':>7} {'signif.':>7}  line")
            order = np.argsort(-self.peaks["significance"])[:max_rows]
            for r in self.peaks[order]:
                lines.append(f"  {r['point']:>6} {r['detector']:>3} {r['energy_keV']:>8.3f} {r['area']:>9.0f} "
                             f"{r['sigma_area']:>7.0f} {r['significance']:>7.1f}  {r['line'] or '-'}")
            if len(self) > max_rows:
                lines.append(f"  ... {len(self) - max_rows} more (to_csv writes them all)")
        return "\n".join(lines)

    __str__ = report

    def __repr__(self) -> str:
        return f"DiffractionPeaks({len(self)} peaks, {self.n_points} points, detectors {self.detectors})"

    def plot(self, scan=None, **kwargs):
        """Figure: diffraction counts per point and, with ``scan``, the strongest peak's A−B difference."""
        from ..plot_diffraction import plot_diffraction

        return plot_diffraction(self, scan, **kwargs)
