"""Element maps of a scan: areas, 1σ and χ² per point on the scan's grid (:class:`ElementMaps`).

The container the map fit (:func:`pixlspec.fit_map`) fills and the results file
(:mod:`pixlspec.io.results`) writes and reads back. Like the other results, the
maps plot, save and load themselves through lazy imports of the plotting layer
and of :mod:`pixlspec.io.results` inside those methods.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import FitError
from .geometry import Grid

if TYPE_CHECKING:
    from .config import FitConfig
    from .instrument import Instrument
    from .spectrum import Spectrum

__all__ = ["ElementMaps", "SumFitRecord", "combine_detectors"]


@dataclass
class ElementMaps:
    """Element maps of one scan: areas, 1σ and χ² per point, on the scan's grid.

    Attributes
    ----------
    elements : list of str
        Element line groups fitted ("Fe", "Pb_L").
    columns : list of str
        Every reported column: the elements, then tube scatter and pile-up.
    detector : str
        "A", "B", ... or "A+B" (detectors fitted separately and their areas summed).
    point_areas, point_sigma : dict of str to ndarray
        Area (counts) and 1σ per point (n_points,), per column; NaN at invalid points.
    chi2_reduced_points : ndarray
        Pearson χ² per degree of freedom of each point's fit (≈ 1 for a model that describes the
        counts, down to the lowest counts: see ``dof``).
    dof : ndarray of float
        Effective degrees of freedom: the expected χ² of Poisson counts about the fitted means
        (``Σ min(1, μ/0.1)`` over the fitted channels, :data:`CHI2_MIN_VARIANCE`) less the
        free components.
    valid : ndarray of bool
        False for points left out (zero live time, NaN or negative counts).
    live_time_s : ndarray
        Live time per point (mean over detectors for "A+B").
    positions_mm, point_ids : ndarray
    grid : Grid
    sum_fit : dict of str to FitResult or SumFitRecord
        The nonlinear fit of each detector's sum spectrum (shapes, calibration): a FitResult when
        fitted here; after :meth:`from_hdf5`, a :class:`SumFitRecord` (the sum spectrum, the fitted
        channels and the summary, with the same attribute names).
    per_detector : dict of str to ElementMaps
        For "A+B": the maps of each detector.
    config : FitConfig
    instrument : Instrument
    source : str or None
    timing : dict
        Seconds spent reading/summing, in the sum fits and in the point fits.
    point_flags : dict of str to ndarray of bool
        Per-point flags, e.g. "diffraction peak masked" and "masked: Fe" (channels of
        that line left out in some detector).
    diffraction : DiffractionPeaks or None
        The peaks found by ``fit_map(..., diffraction="exclude")``.
    geometry_factor : ndarray or None
        Stand-off geometry factor per point (PIQUANT's ##GEOMETRY, 1 at the nominal stand-off)
        from the scan's ``point_metadata["geometry"]``; None when the scan has none.
        Quantification counts each point's exposure as live time × this factor.
    """

    elements: list[str]
    columns: list[str]
    detector: str
    point_areas: dict[str, np.ndarray]
    point_sigma: dict[str, np.ndarray]
    chi2_reduced_points: np.ndarray
    dof: np.ndarray
    valid: np.ndarray
    live_time_s: np.ndarray
    positions_mm: np.ndarray
    point_ids: np.ndarray
    grid: Grid
    sum_fit: dict = field(default_factory=dict)
    per_detector: dict = field(default_factory=dict)
    config: FitConfig | None = None
    instrument: Instrument | None = None
    source: str | None = None
    timing: dict = field(default_factory=dict)
    point_flags: dict = field(default_factory=dict)
    diffraction: Any = None
    geometry_factor: np.ndarray | None = None

    # --- views on the grid -----------------------------------------------------------------
    @property
    def n_points(self) -> int:
        return int(self.valid.size)

    @property
    def shape(self) -> tuple[int, int]:
        return self.grid.shape

    @property
    def areas(self) -> dict[str, np.ndarray]:
        """Column → areas (counts) on the grid (ny, nx); NaN where no valid point."""
        return {k: self.grid.to_grid(v) for k, v in self.point_areas.items()}

    @property
    def sigma(self) -> dict[str, np.ndarray]:
        """Column → 1σ of the areas (counts) on the grid."""
        return {k: self.grid.to_grid(v) for k, v in self.point_sigma.items()}

    @property
    def chi2_reduced(self) -> np.ndarray:
        """Reduced χ² map (ny, nx)."""
        return self.grid.to_grid(self.chi2_reduced_points)

    @property
    def median_chi2_reduced(self) -> float:
        v = self.chi2_reduced_points[self.valid]
        return float(np.median(v)) if v.size else float("nan")

    def counts_per_sec(self, column: str | None = None, *, points: bool = False):
        """Areas divided by the live time (counts/s): one column or a dict of all.

        ``points=True`` returns per-point arrays instead of grids.
        """
        def conv(name):
            with np.errstate(invalid="ignore", divide="ignore"):
                v = self.point_areas[self._col(name)] / self.live_time_s
            return v if points else self.grid.to_grid(v)
        if column is not None:
            return conv(column)
        return {k: conv(k) for k in self.columns}

    def counts_per_sec_sigma(self, column: str, *, points: bool = False):
        with np.errstate(invalid="ignore", divide="ignore"):
            v = self.point_sigma[self._col(column)] / self.live_time_s
        return v if points else self.grid.to_grid(v)

    def _col(self, name: str) -> str:
        if name in self.point_areas:
            return name
        raise FitError(f"no map of {name!r}; the maps hold {', '.join(self.columns)}", where="ElementMaps")

    def summary(self) -> str:
        nv = int(self.valid.sum())
        return (f"ElementMaps({self.detector}: {len(self.elements)} elements, {self.n_points} points "
                f"({nv} valid) on a {self.grid.kind} {self.shape[0]}×{self.shape[1]}, median χ²ᵣ "
                f"{self.median_chi2_reduced:.3g})")

    __repr__ = summary

    # --- figures ---------------------------------------------------------------------------
    def plot(self, element: str, *, ax=None, units: str = "cps", errors: bool = True, **kwargs):
        """Map (raster) or profile (line scan) of one column; returns the Figure."""
        from .plot_maps import plot_map

        return plot_map(self, element, ax=ax, units=units, errors=errors, **kwargs)

    def plot_rgb(self, elements: Sequence[str], *, ax=None, **kwargs):
        """Three columns as red, green and blue (raster) or three profiles (line); returns the Figure."""
        from .plot_maps import plot_rgb

        return plot_rgb(self, elements, ax=ax, **kwargs)

    # --- files ------------------------------------------------------------------------------
    def to_hdf5(self, path, *, provenance: Mapping[str, Any] | None = None) -> None:
        """Write the results file (NeXus /entry/maps + MAPS hard links), atomically."""
        from .io.results import write_maps

        write_maps(self, path, provenance=provenance)

    @classmethod
    def from_hdf5(cls, path) -> "ElementMaps":
        from .io.results import read_maps

        return read_maps(path)

    def to_tiff(self, directory, *, units: str = "cps") -> list[str]:
        """One float32 TIFF per column in ``directory`` with the pixel size in mm (see io.export)."""
        from .io.export import write_maps_tiff

        return write_maps_tiff(self, directory, units=units)


@dataclass(frozen=True, eq=False)
class SumFitRecord:
    """The fit of a detector's sum spectrum as a results file keeps it (``ElementMaps.sum_fit`` read back).

    It answers what a :class:`~pixlspec.fit.result.FitResult` answers from the file: the sum spectrum
    itself (``spectrum``), the fitted channels' ``energy_eV``, ``counts``, ``model`` and ``background``,
    and the summary (``areas``, ``sigma``, ``params``, ``chi2_reduced``, ... as attributes; ``to_dict()``;
    ``record["key"]`` as for the summary dictionary). Files written before the sum spectrum was stored
    give ``spectrum`` None.
    """

    summary: dict
    energy_eV: np.ndarray
    counts: np.ndarray
    model: np.ndarray
    background: np.ndarray
    spectrum: Spectrum | None = None

    def __getitem__(self, key: str) -> Any:
        return self.summary[key]

    def to_dict(self) -> dict:
        """The summary a fit wrote (:meth:`pixlspec.fit.result.FitResult.to_dict`)."""
        return dict(self.summary)

    @property
    def detector(self) -> str:
        return str(self.summary.get("detector", ""))

    @property
    def elements(self) -> list[str]:
        return list(self.summary.get("elements", []))

    @property
    def areas(self) -> dict[str, float]:
        return dict(self.summary.get("areas", {}))

    @property
    def sigma(self) -> dict[str, float]:
        return dict(self.summary.get("sigma", {}))

    @property
    def params(self) -> dict[str, float]:
        """The fitted shape parameters (as :meth:`pixlspec.model.spectrum_model.ShapeParams.to_dict`)."""
        return dict(self.summary.get("params", {}))

    @property
    def chi2_reduced(self) -> float:
        return float(self.summary.get("chi2_reduced", float("nan")))

    @property
    def dof(self) -> float:
        return float(self.summary.get("dof", float("nan")))

    @property
    def fwhm_MnKa_eV(self) -> float:
        return float(self.summary.get("fwhm_MnKa_eV", float("nan")))

    @property
    def offset_eV(self) -> float:
        return float(self.params.get("offset_eV", float("nan")))

    @property
    def gain_eV_per_channel(self) -> float:
        return float(self.params.get("gain_eV_per_channel", float("nan")))


def combine_detectors(maps: Sequence[ElementMaps]) -> ElementMaps:
    """A+B: areas summed, σ in quadrature, χ² and dof summed, live time averaged."""
    first = maps[0]
    cols = [c for c in first.columns if all(c in m.point_areas for m in maps)]
    areas = {c: np.sum([m.point_areas[c] for m in maps], axis=0) for c in cols}
    sigma = {c: np.sqrt(np.sum([m.point_sigma[c] ** 2 for m in maps], axis=0)) for c in cols}
    dof = np.sum([m.dof for m in maps], axis=0)
    chi2 = np.sum([m.chi2_reduced_points * m.dof for m in maps], axis=0) / np.maximum(dof, 1)
    valid = np.logical_and.reduce([m.valid for m in maps])
    live = np.mean([m.live_time_s for m in maps], axis=0)
    for c in cols:
        areas[c][~valid] = np.nan
        sigma[c][~valid] = np.nan
    chi2[~valid] = np.nan
    return ElementMaps(elements=[e for e in first.elements if e in cols], columns=cols,
                       detector="+".join(m.detector for m in maps), point_areas=areas, point_sigma=sigma,
                       chi2_reduced_points=chi2, dof=dof, valid=valid, live_time_s=live,
                       positions_mm=first.positions_mm, point_ids=first.point_ids, grid=first.grid,
                       sum_fit={k: v for m in maps for k, v in m.sum_fit.items()},
                       per_detector={m.detector: m for m in maps}, config=first.config,
                       instrument=first.instrument, source=first.source, geometry_factor=first.geometry_factor)
