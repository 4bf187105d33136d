"""Compositions: the oxide wt% of one spectrum (:class:`Composition`) or of every point of a map
(:class:`CompositionMap`), with their uncertainties, detection limits and flags.

The containers :func:`pixlspec.quantify` and :func:`pixlspec.quantify_map` fill and the results file
(:mod:`pixlspec.io.results`) writes and reads back. Like the other results, they save themselves
through lazy imports of :mod:`pixlspec.io` inside those methods.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .physics.attenuation import parse_composition
from .physics.oxides import oxide_factor, oxide_of

if TYPE_CHECKING:
    from .element_maps import ElementMaps

__all__ = ["Composition", "CompositionMap", "reference_oxides"]


@dataclass
class Composition:
    """Quantification of one spectrum.

    Attributes
    ----------
    oxide_wt, sigma, lod : dict of str to float
        Oxide (or element, for Cl, Br, ...) wt%, its 1σ (counting and
        calibration in quadrature) and its 3σ limit of detection, keyed by oxide
        formula ("SiO2", "FeO", "Cl").
    sigma_counting, sigma_calibration : dict of str to float
        The two parts of ``sigma``.
    element_wt, element_sigma : dict of str to float
        Element wt% ("Si") and 1σ.
    total : float
        Analytical total: sum of ``oxide_wt`` before any normalisation, less the O
        equivalent of Cl and Br (0.2256 x Cl: the O the oxide table gives their cations).
    normalised : bool
        True when ``oxide_wt`` was scaled to 100 %.
    oxygen_wt : float
        Oxygen by stoichiometry (wt%).
    balance : str or None
        Formula of the invisible balance; ``balance_wt`` its amount (wt%).
    air_fraction : float
        Air mole fraction in a He path, from the Ar line (0 otherwise).
    groups : list of str
        Line groups used (one per element).
    areas, predicted : dict of str to float
        Measured areas and the FP areas at the solution (counts).
    calibrated : bool
        Whether element calibration factors were applied.
    fe_oxide : str
    iterations : int
    converged : bool
    detected : dict of str to bool
        Element above its LOD.
    flags : list of str
        Everything that makes a number less trustworthy (empty = clean).
    detector : str
    live_time_s : float
    geometry_factor : float
        Stand-off geometry factor of the spectrum (PIQUANT's ##GEOMETRY, ``Spectrum.geometry_factor``):
        the FP counts the exposure as live time × this factor.
    source : str or None
    """

    oxide_wt: dict[str, float]
    sigma: dict[str, float]
    lod: dict[str, float]
    sigma_counting: dict[str, float]
    sigma_calibration: dict[str, float]
    element_wt: dict[str, float]
    element_sigma: dict[str, float]
    total: float
    normalised: bool
    oxygen_wt: float
    balance: str | None
    balance_wt: float
    air_fraction: float
    groups: list[str]
    areas: dict[str, float]
    predicted: dict[str, float]
    calibrated: bool
    fe_oxide: str
    iterations: int
    converged: bool
    detected: dict[str, bool]
    flags: list[str] = field(default_factory=list)
    detector: str = ""
    live_time_s: float = float("nan")
    source: str | None = None
    geometry_factor: float = 1.0

    @property
    def ok(self) -> bool:
        """True when nothing was flagged."""
        return not self.flags

    @property
    def oxides(self) -> list[str]:
        return list(self.oxide_wt)

    def relative_error(self, reference: Mapping[str, float], fe_oxide: str | None = None) -> dict[str, float]:
        """(measured − reference)/reference per oxide of ``reference`` (element or oxide wt%)."""
        ref = reference_oxides(reference, fe_oxide or self.fe_oxide)
        return {ox: (self.oxide_wt[ox] - v) / v for ox, v in ref.items() if ox in self.oxide_wt and v > 0}

    def report(self, reference: Mapping[str, float] | None = None) -> str:
        """A readable table: oxide, wt%, 1σ (counting, calibration), LOD (and a reference)."""
        ref = reference_oxides(reference, self.fe_oxide) if reference is not None else {}
        head = [f"[[pixlspec quantification]] {self.source or '(in memory)'} detector {self.detector}",
                f"    live time {self.live_time_s:.4g} s"
                + (f" × geometry {self.geometry_factor:.4g}" if self.geometry_factor != 1.0 else "")
                + f", {'calibrated' if self.calibrated else 'uncalibrated FP'}"
                f", {'converged' if self.converged else 'NOT converged'} in {self.iterations} iterations",
                f"    total {self.total:.2f} wt% ({'normalised to 100' if self.normalised else 'not normalised'}); "
                f"O by stoichiometry {self.oxygen_wt:.2f} wt%"
                + (f"; balance {self.balance} {self.balance_wt:.2f} wt%" if self.balance else "")
                + (f"; air in He path {100 * self.air_fraction:.2f} %" if self.air_fraction > 0 else ""),
                f"    {'oxide':<8}{'wt%':>10}{'1σ':>9}{'count':>9}{'calib':>9}{'LOD':>9}"
                + (f"{'ref':>9}{'rel err':>9}" if ref else "")]
        for ox, v in self.oxide_wt.items():
            line = (f"    {ox:<8}{v:>10.4f}{self.sigma[ox]:>9.4f}{self.sigma_counting[ox]:>9.4f}"
                    f"{self.sigma_calibration[ox]:>9.4f}{self.lod[ox]:>9.4f}")
            if ref:
                r = ref.get(ox)
                line += f"{r:>9.4f}{100 * (v - r) / r:>8.1f}%" if r else f"{'':>9}{'':>9}"
            if not self.detected.get(ox, True):
                line += "  < LOD"
            head.append(line)
        if self.flags:
            head.append("[[flags]]")
            head += [f"    {f}" for f in self.flags]
        return "\n".join(head)

    def __str__(self) -> str:
        return self.report()

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dictionary of every attribute."""
        return {
            "oxide_wt": dict(self.oxide_wt), "sigma": dict(self.sigma), "lod": dict(self.lod),
            "sigma_counting": dict(self.sigma_counting), "sigma_calibration": dict(self.sigma_calibration),
            "element_wt": dict(self.element_wt), "element_sigma": dict(self.element_sigma),
            "total": self.total, "normalised": self.normalised, "oxygen_wt": self.oxygen_wt,
            "balance": self.balance, "balance_wt": self.balance_wt, "air_fraction": self.air_fraction,
            "groups": list(self.groups), "areas": dict(self.areas), "predicted": dict(self.predicted),
            "calibrated": self.calibrated, "fe_oxide": self.fe_oxide, "iterations": self.iterations,
            "converged": self.converged, "detected": dict(self.detected), "flags": list(self.flags),
            "detector": self.detector, "live_time_s": self.live_time_s, "geometry_factor": self.geometry_factor,
            "source": self.source, "ok": self.ok,
        }

    def to_json(self, indent: int | None = 2) -> str:
        """Strict JSON of :meth:`to_dict`: non-finite values are null, with the reason under ``null_reasons``."""
        from .io.jsontext import strict_json

        return strict_json(self.to_dict(), indent=indent)


@dataclass
class CompositionMap:
    """Quantification of every point of a map.

    Attributes
    ----------
    point_oxide_wt, point_sigma, point_lod : dict of str to ndarray
        Oxide → wt%, 1σ and LOD per point (n_points,); NaN at invalid points.
    point_element_wt : dict of str to ndarray
    point_total : ndarray
        Analytical total per point (not normalised).
    valid : ndarray of bool
    normalised : bool
    balance : str or None ; point_balance_wt : ndarray
    air_fraction : float
    calibrated : bool
    fe_oxide : str
    converged : ndarray of bool
    groups : list of str
    flags : list of str
        Map-wide flags; ``point_flags`` counts flagged points per reason.
    point_flags : dict of str to ndarray of bool
    grid : object or None
        The element maps' grid (``to_grid``), when they have one.
    detector : str
    live_time_s : ndarray
    point_ids, positions_mm : ndarray or None
        The points' ids (PMC) and positions (mm), when the maps carry them.
    """

    point_oxide_wt: dict[str, np.ndarray]
    point_sigma: dict[str, np.ndarray]
    point_lod: dict[str, np.ndarray]
    point_element_wt: dict[str, np.ndarray]
    point_total: np.ndarray
    valid: np.ndarray
    normalised: bool
    balance: str | None
    point_balance_wt: np.ndarray
    air_fraction: float
    calibrated: bool
    fe_oxide: str
    converged: np.ndarray
    groups: list[str]
    flags: list[str]
    point_flags: dict[str, np.ndarray]
    grid: Any = None
    detector: str = ""
    live_time_s: np.ndarray | None = None
    source: str | None = None
    point_ids: np.ndarray | None = None
    positions_mm: np.ndarray | None = None

    @property
    def n_points(self) -> int:
        return int(self.valid.size)

    @property
    def oxides(self) -> list[str]:
        return list(self.point_oxide_wt)

    def _to_grid(self, v):
        return self.grid.to_grid(v) if self.grid is not None and hasattr(self.grid, "to_grid") else v

    @property
    def oxide_wt(self) -> dict[str, np.ndarray]:
        """Oxide → wt% on the map grid (per point when there is no grid)."""
        return {k: self._to_grid(v) for k, v in self.point_oxide_wt.items()}

    @property
    def sigma(self) -> dict[str, np.ndarray]:
        return {k: self._to_grid(v) for k, v in self.point_sigma.items()}

    @property
    def lod(self) -> dict[str, np.ndarray]:
        return {k: self._to_grid(v) for k, v in self.point_lod.items()}

    @property
    def total(self) -> np.ndarray:
        return self._to_grid(self.point_total)

    def point(self, i: int) -> dict[str, float]:
        """Oxide wt% of point ``i``."""
        return {k: float(v[i]) for k, v in self.point_oxide_wt.items()}

    def summary_table(self) -> dict[str, dict[str, float]]:
        """Per oxide: min, median, max over valid points, and the median 1σ and LOD."""
        out = {}
        ok = self.valid
        for ox, v in self.point_oxide_wt.items():
            x = v[ok]
            if not x.size:
                continue
            out[ox] = {"min": float(np.nanmin(x)), "median": float(np.nanmedian(x)), "max": float(np.nanmax(x)),
                       "sigma_median": float(np.nanmedian(self.point_sigma[ox][ok])),
                       "lod_median": float(np.nanmedian(self.point_lod[ox][ok]))}
        t = self.point_total[ok]
        if t.size:
            out["total"] = {"min": float(np.nanmin(t)), "median": float(np.nanmedian(t)), "max": float(np.nanmax(t))}
        return out

    def report(self) -> str:
        t = self.summary_table()
        lines = [f"[[pixlspec composition map]] {self.source or '(in memory)'} detector {self.detector}: "
                 f"{int(self.valid.sum())}/{self.n_points} points, "
                 f"{'calibrated' if self.calibrated else 'uncalibrated FP'}, "
                 f"{'normalised' if self.normalised else 'not normalised'}",
                 f"    {'oxide':<8}{'min':>9}{'median':>9}{'max':>9}{'1σ med':>9}{'LOD med':>9}"]
        for ox, s in t.items():
            if ox == "total":
                continue
            lines.append(f"    {ox:<8}{s['min']:>9.3f}{s['median']:>9.3f}{s['max']:>9.3f}"
                         f"{s['sigma_median']:>9.3f}{s['lod_median']:>9.3f}")
        if "total" in t:
            s = t["total"]
            lines.append(f"    {'total':<8}{s['min']:>9.2f}{s['median']:>9.2f}{s['max']:>9.2f}")
        if self.flags:
            lines.append("[[flags]]")
            lines += [f"    {f}" for f in self.flags]
        for k, v in self.point_flags.items():
            if v.any():
                lines.append(f"    {int(v.sum())} points: {k}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report()

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dictionary (per-point arrays as lists)."""
        def lst(d):
            return {k: np.asarray(v).tolist() for k, v in d.items()}
        return {"oxide_wt": lst(self.point_oxide_wt), "sigma": lst(self.point_sigma), "lod": lst(self.point_lod),
                "element_wt": lst(self.point_element_wt), "total": self.point_total.tolist(),
                "valid": self.valid.tolist(), "normalised": self.normalised, "balance": self.balance,
                "balance_wt": self.point_balance_wt.tolist(), "air_fraction": self.air_fraction,
                "calibrated": self.calibrated, "fe_oxide": self.fe_oxide, "converged": self.converged.tolist(),
                "groups": list(self.groups), "flags": list(self.flags),
                "point_flags": {k: v.tolist() for k, v in self.point_flags.items()}, "detector": self.detector,
                "source": self.source}

    def to_piquant_csv(self, path: str | os.PathLike, *, maps: ElementMaps | None = None) -> None:
        """Write a PIQUANT map CSV (``maps``: the ElementMaps, for areas, χ² and calibration)."""
        from .io.export import write_piquant_csv

        write_piquant_csv(self, path, maps=maps)

    def to_hdf5(self, path: str | os.PathLike, group: str = "entry/composition") -> None:
        """Write ``/entry/composition`` (NeXus NXdata: oxide wt% on the map grid with axes and units, and
        oxide wt%, 1σ, LOD, total per point) into ``path`` — the results file of
        :meth:`ElementMaps.to_hdf5`, extended atomically, or a new file. Layout:
        :func:`pixlspec.io.results.write_composition`.
        """
        from .io.results import write_composition

        write_composition(self, path, group)

    @classmethod
    def from_hdf5(cls, path: str | os.PathLike, group: str = "entry/composition") -> "CompositionMap":
        """The composition stored in a results file (:func:`pixlspec.io.results.read_composition_map`).

        Raises
        ------
        HDF5FormatError
            A file without a composition, or a damaged one.
        """
        from .io.results import read_composition_map

        return read_composition_map(path, group)


def reference_oxides(reference: Mapping[str, float], fe_oxide: str = "FeO") -> dict[str, float]:
    """Oxide wt% (reporting convention of :func:`quantify`) of an element or oxide wt% dictionary."""
    fr = parse_composition(dict(reference))
    out = {}
    for el, f in fr.items():
        if el == "O" or el in ("C", "H", "N"):
            continue
        ox = oxide_of(el, fe_oxide)
        out[ox] = out.get(ox, 0.0) + 100.0 * f * oxide_factor(el, ox)
    return out
