"""The composition-map protocol the minerals package reads, and its adapter.

Everything in :mod:`pixlspec.minerals` works on a *composition map*: oxide wt%
per analysed point plus where the points are. It is read by duck typing, so a
``CompositionMap`` from :mod:`pixlspec.quant`, a plain ``dict`` or a
:class:`CompositionTable` built by hand all work. The protocol:

``oxide_wt``     dict oxide -> array (n_points,) of wt%. Oxide names as PIXL
                 reports them: "SiO2", "FeO" (total iron), "SO3", "Cl" (as the
                 element), "Na2O", ... "Fe2O3" is accepted and converted to
                 FeO(T); "FeO-T", "FeOT", "FeO(T)" are read as "FeO".
``sigma``        dict oxide -> array of 1σ wt% (optional).
``total``        array of analytical totals in wt%, *not normalised* (and without
                 an O≡Cl correction; optional: the sum of ``oxide_wt`` if absent).
``positions_mm`` array (n_points, 3) of x, y, z in mm ((n_points, 2) is padded
                 with z = 0). If absent but the map has a ``grid`` (as
                 ``pixlspec.composition.CompositionMap`` does), they are rebuilt from it.
``valid``        bool array; False points are skipped (optional).
``point_ids``    point identifiers, e.g. PIXL PMC numbers (optional).
``name``         the target or scan name (optional).

:func:`as_table` turns any of these into a :class:`CompositionTable`. For
``pixlspec.composition.CompositionMap`` it reads the per-point attributes
(``point_oxide_wt``, ``point_sigma``, ``point_total``) and, when the map says
``normalised``, scales the oxides back by total/100 so the deficit survives.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, Union

import numpy as np

from ..errors import CompositionError

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ..geometry import Grid


class HasOxideWt(Protocol):
    """An object carrying per-point oxide wt% (e.g. :class:`pixlspec.CompositionMap`): what :func:`as_table` reads
    (with the optional ``sigma``, ``total``, ``positions_mm``, ``valid``, ``point_ids`` and ``name``)."""

    @property
    def oxide_wt(self) -> Mapping[str, Any]: ...


#: What the mineral functions accept as a composition map: see :func:`as_table`.
CompositionLike: TypeAlias = Union["CompositionTable", Mapping[str, Any], HasOxideWt]

__all__ = ["CompositionTable", "CompositionLike", "HasOxideWt", "as_table", "positions_from_grid", "oxide_mass",
           "cation_moles", "FE_ALIASES"]

#: Names under which total iron as FeO may arrive (PIQUANT writes "FeO-T").
FE_ALIASES: tuple[str, ...] = ("FeO-T", "FeOT", "FeO(T)", "FeO_T", "FeOt", "FeO*")
#: Attribute names tried, in order, for each protocol field (:func:`as_table`).
_ATTRS = {
    # per-point arrays first: pixlspec.composition.CompositionMap.oxide_wt is laid on the map grid (2-D),
    # its point_* attributes hold one value per point
    "oxide_wt": ("point_oxide_wt", "oxide_wt", "oxides_wt", "wt"),
    "sigma": ("point_sigma", "sigma", "oxide_sigma", "sigma_wt"),
    "total": ("point_total", "total", "total_wt", "totals"),
    "positions_mm": ("positions_mm", "positions", "xyz_mm"),
    "valid": ("valid", "valid_mask"),
    "point_ids": ("point_ids", "pmc", "pmcs"),
    "name": ("name", "target", "source"),
}


def oxide_mass(oxide: str) -> tuple[str, float, float]:
    """Cation, cations per formula and molar mass (g/mol) of an oxide name.

    Parameters
    ----------
    oxide : str
        "SiO2", "Al2O3", "Cl" (an element reported as such), ...

    Returns
    -------
    (str, float, float)
        ``(element, k, M)``: "Al2O3" -> ("Al", 2, 101.96).

    Raises
    ------
    CompositionError
        Not a simple oxide El_kO_m or an element.
    """
    from .endmembers import oxide_info

    return oxide_info(oxide)


def cation_moles(oxide: str, wt: np.ndarray | float) -> np.ndarray:
    """Moles of cation per 100 g of sample for ``wt`` wt% of ``oxide``.

    ``n = wt / M(oxide) · k`` (the brief §2 convention): "SO3" 46.5 -> 0.581 mol S.
    """
    _, k, m = oxide_mass(oxide)
    return np.asarray(wt, float) / m * k


def _canonical_oxide(name: str) -> str:
    if not isinstance(name, str):
        raise CompositionError(f"oxide name must be a string, got {name!r}", where="oxide_wt")
    text = name.strip()
    if text in FE_ALIASES:
        return "FeO"
    try:
        oxide_mass(text)
    except Exception as exc:  # unparsable, several cations, unknown element symbols
        msg = exc.message if isinstance(exc, CompositionError) else str(exc)
        raise CompositionError(f"{name!r} is not an oxide or element name ({msg})", where="oxide_wt") from None
    return text


def _as_points(values, n: int | None, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise CompositionError(f"{what} must be one value per point (1-D), got shape {arr.shape} (a map laid on "
                               "a grid? pass the per-point arrays)", where=what)
    if n is not None and arr.shape[0] != n:
        raise CompositionError(f"{what} has {arr.shape[0]} points, expected {n}", where=what)
    return arr


def _merge_fe(oxides: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Fold Fe2O3 into FeO(T) (2 FeO per Fe2O3) so end-members (Fe as FeO(T)) match."""
    if "Fe2O3" not in oxides:
        return oxides
    out = dict(oxides)
    _, _, m_feo = oxide_mass("FeO")
    _, _, m_fe2o3 = oxide_mass("Fe2O3")
    fe2o3 = out.pop("Fe2O3")
    out["FeO"] = out.get("FeO", 0.0) + fe2o3 * (2 * m_feo / m_fe2o3)
    return out


@dataclass(frozen=True, eq=False)
class CompositionTable:
    """Oxide wt% at the points of a scan: what :mod:`pixlspec.minerals` reads.

    Build it with :meth:`from_arrays` or :meth:`from_dict` (both validate and
    convert), or get one from any composition map with :func:`as_table`.

    Attributes
    ----------
    oxide_wt : dict[str, numpy.ndarray]
        oxide -> wt% per point (NaN allowed: such points are not classified).
    sigma : dict[str, numpy.ndarray]
        oxide -> 1σ wt% per point; empty if unknown.
    total : numpy.ndarray
        Analytical total wt% per point (not normalised, no O≡Cl correction).
    positions_mm : numpy.ndarray
        (n_points, 3) x, y, z in mm.
    valid : numpy.ndarray or None
        bool per point; None = all valid.
    point_ids : numpy.ndarray or None
    name : str or None
    """

    oxide_wt: dict[str, np.ndarray]
    sigma: dict[str, np.ndarray] = field(default_factory=dict)
    total: np.ndarray | None = None
    positions_mm: np.ndarray | None = None
    valid: np.ndarray | None = None
    point_ids: np.ndarray | None = None
    name: str | None = None

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping) -> "CompositionTable":
        """Build from a dict with the protocol keys (``oxide_wt`` required, see module doc).

        A dict that has no ``oxide_wt`` key but whose values are all arrays or
        numbers is taken as ``oxide_wt`` itself (``{"SiO2": [...], "FeO": [...]}``).
        """
        if not isinstance(data, Mapping):
            raise CompositionError(f"expected a dict with key 'oxide_wt', got {type(data).__name__}",
                                   where="composition map")
        if "oxide_wt" not in data:
            if data and all(isinstance(k, str) for k in data) and not (set(data) & set(_ATTRS)):
                data = {"oxide_wt": data}
            else:
                raise CompositionError("composition map has no 'oxide_wt' (dict oxide -> wt% per point); "
                                       f"keys present: {sorted(map(str, data))}", where="composition map")
        return cls._build(data.get("oxide_wt"), data.get("sigma"), data.get("total"), data.get("positions_mm"),
                          data.get("valid"), data.get("point_ids"), data.get("name"))

    @classmethod
    def from_arrays(cls, oxides: Sequence[str], wt: ArrayLike, positions_mm: ArrayLike | None = None, *,
                    total: ArrayLike | None = None, sigma: ArrayLike | None = None, valid: ArrayLike | None = None,
                    point_ids: ArrayLike | None = None, name: str | None = None) -> "CompositionTable":
        """Build from a 2-D array of wt% with one column per oxide.

        Parameters
        ----------
        oxides : sequence of str
            Column names ("SiO2", "FeO", "Cl", ...).
        wt : array_like (n_points, n_oxides)
            wt% per point and oxide.
        positions_mm : array_like (n_points, 2 or 3), optional
            Point positions in mm; default points 1 mm apart along x.
        total : array_like (n_points,), optional
            Analytical totals; default the row sums of ``wt``.
        sigma : array_like (n_points, n_oxides), optional
            1σ wt%.
        valid, point_ids, name
            As in the protocol.
        """
        wt = np.asarray(wt, float)
        if wt.ndim == 1:
            wt = wt.reshape(1, -1)
        oxides = list(oxides)
        if wt.ndim != 2 or wt.shape[1] != len(oxides):
            raise CompositionError(f"wt must have shape (n_points, {len(oxides)}) for oxides {oxides}, "
                                   f"got {wt.shape}", where="wt")
        sig = None
        if sigma is not None:
            sigma = np.asarray(sigma, float).reshape(wt.shape[0], -1)
            if sigma.shape != wt.shape:
                raise CompositionError(f"sigma must have the shape of wt {wt.shape}, got {sigma.shape}",
                                       where="sigma")
            sig = {ox: sigma[:, j] for j, ox in enumerate(oxides)}
        return cls._build({ox: wt[:, j] for j, ox in enumerate(oxides)}, sig, total, positions_mm, valid,
                          point_ids, name)

    @classmethod
    def _build(cls, oxide_wt, sigma, total, positions_mm, valid, point_ids, name) -> "CompositionTable":
        if not isinstance(oxide_wt, Mapping) or not oxide_wt:
            raise CompositionError("oxide_wt must be a non-empty dict oxide -> wt% per point, got "
                                   f"{type(oxide_wt).__name__}", where="oxide_wt")
        ox: dict[str, np.ndarray] = {}
        n = None
        for key, values in oxide_wt.items():
            canon = _canonical_oxide(key)
            arr = _as_points(values, n, f"oxide_wt[{key!r}]")
            n = arr.shape[0]
            ox[canon] = ox[canon] + arr if canon in ox else arr
        sig: dict[str, np.ndarray] = {}
        if sigma:
            if not isinstance(sigma, Mapping):
                raise CompositionError("sigma must be a dict oxide -> 1σ wt% per point", where="sigma")
            for key, values in sigma.items():
                canon = _canonical_oxide(key)
                arr = _as_points(values, n, f"sigma[{key!r}]")
                sig[canon] = np.hypot(sig[canon], arr) if canon in sig else arr
            if "Fe2O3" in sig:
                _, _, m_feo = oxide_mass("FeO")
                _, _, m_fe2o3 = oxide_mass("Fe2O3")
                s = sig.pop("Fe2O3") * (2 * m_feo / m_fe2o3)
                sig["FeO"] = np.hypot(sig["FeO"], s) if "FeO" in sig else s
        if n == 0:
            raise CompositionError("a composition map needs at least one point; oxide_wt holds none",
                                   where="oxide_wt")
        ox = _merge_fe(ox)
        if total is None:
            total_arr = np.sum([v for v in ox.values()], axis=0)
        else:
            total_arr = _as_points(total, n, "total")
        if positions_mm is None:
            pos = np.zeros((n, 3))
            pos[:, 0] = np.arange(n, dtype=float)
        else:
            pos = np.asarray(positions_mm, float)
            if pos.ndim == 1 and n == 1 and pos.shape[0] in (2, 3):
                pos = pos.reshape(1, -1)
            if pos.ndim != 2 or pos.shape[0] != n or pos.shape[1] not in (2, 3):
                raise CompositionError(f"positions_mm must have shape ({n}, 3) (x, y, z in mm), got {pos.shape}",
                                       where="positions_mm")
            if pos.shape[1] == 2:
                pos = np.column_stack([pos, np.zeros(n)])
        val = None
        if valid is not None:
            val = np.asarray(valid).reshape(-1)
            if val.shape[0] != n:
                raise CompositionError(f"valid has {val.shape[0]} points, expected {n}", where="valid")
            val = val.astype(bool)
        ids = None
        if point_ids is not None:
            ids = np.asarray(point_ids).reshape(-1)
            if ids.shape[0] != n:
                raise CompositionError(f"point_ids has {ids.shape[0]} points, expected {n}", where="point_ids")
        return cls(ox, sig, total_arr, pos, val, ids, None if name is None else str(name))

    # -- views -----------------------------------------------------------------------------
    @property
    def n_points(self) -> int:
        """Number of points."""
        return int(self.total.shape[0])

    @property
    def oxides(self) -> tuple[str, ...]:
        """Oxide names present, in insertion order."""
        return tuple(self.oxide_wt)

    def has(self, *oxides: str) -> bool:
        """True if every oxide is in the map."""
        return all(o in self.oxide_wt for o in oxides)

    def missing(self, oxides: Sequence[str]) -> list[str]:
        """Those of ``oxides`` that are not in the map."""
        return [o for o in oxides if o not in self.oxide_wt]

    def wt(self, oxide: str, default: float | None = None) -> np.ndarray:
        """wt% of ``oxide`` per point; ``default`` (a constant) if absent, else CompositionError."""
        if oxide in self.oxide_wt:
            return self.oxide_wt[oxide]
        if default is not None:
            return np.full(self.n_points, float(default))
        raise CompositionError(f"{oxide} is not in the composition map (has {', '.join(self.oxides)})",
                               where=self.name or "composition map")

    def moles(self, oxide: str) -> np.ndarray:
        """Moles of cation per 100 g per point (zeros if the oxide is absent)."""
        if oxide not in self.oxide_wt:
            return np.zeros(self.n_points)
        return cation_moles(oxide, self.oxide_wt[oxide])

    def usable(self) -> np.ndarray:
        """bool per point: valid, finite total and every oxide finite."""
        ok = np.isfinite(self.total)
        for v in self.oxide_wt.values():
            ok &= np.isfinite(v)
        if self.valid is not None:
            ok &= self.valid
        return ok

    def unusable_reasons(self) -> list[str]:
        """Per point: '' if usable, else why not ("NaN in SO3, Cl", "valid flag False")."""
        out = []
        nan_by = {k: ~np.isfinite(v) for k, v in self.oxide_wt.items()}
        nan_total = ~np.isfinite(self.total)
        for i in range(self.n_points):
            bad = [k for k, m in nan_by.items() if m[i]]
            if nan_total[i]:
                bad.append("total")
            why = []
            if bad:
                why.append("NaN in " + ", ".join(bad))
            if self.valid is not None and not self.valid[i]:
                why.append("valid flag False")
            out.append("; ".join(why))
        return out

    def subset(self, mask: np.ndarray) -> "CompositionTable":
        """A table of the points where ``mask`` is True."""
        mask = np.asarray(mask)
        pick = lambda a: None if a is None else a[mask]  # noqa: E731
        return CompositionTable({k: v[mask] for k, v in self.oxide_wt.items()},
                                {k: v[mask] for k, v in self.sigma.items()}, self.total[mask],
                                self.positions_mm[mask], pick(self.valid), pick(self.point_ids), self.name)

    def mean_composition(self, mask: np.ndarray | None = None) -> dict[str, float]:
        """Mean oxide wt% (and "total") over usable points (within ``mask``)."""
        sel = self.usable() if mask is None else (self.usable() & np.asarray(mask, bool))
        if not sel.any():
            return {k: math.nan for k in (*self.oxides, "total")}
        out = {k: float(np.mean(v[sel])) for k, v in self.oxide_wt.items()}
        out["total"] = float(np.mean(self.total[sel]))
        return out

    def to_dict(self) -> dict:
        """Plain-Python dict of the protocol keys (lists)."""
        return {"oxide_wt": {k: v.tolist() for k, v in self.oxide_wt.items()},
                "sigma": {k: v.tolist() for k, v in self.sigma.items()},
                "total": self.total.tolist(), "positions_mm": self.positions_mm.tolist(),
                "valid": None if self.valid is None else self.valid.tolist(),
                "point_ids": None if self.point_ids is None else self.point_ids.tolist(), "name": self.name}

    def __repr__(self) -> str:
        return (f"CompositionTable({self.name or 'unnamed'}: {self.n_points} points, "
                f"oxides {', '.join(self.oxides)})")


def _get(obj, key: str):
    for attr in _ATTRS[key]:
        if hasattr(obj, attr):
            value = getattr(obj, attr)
            if value is not None:
                return value
    return None


def as_table(obj: CompositionLike) -> CompositionTable:
    """Any composition map (or single composition) as a :class:`CompositionTable`.

    Accepts a :class:`CompositionTable`, a dict with the protocol keys, or any
    object with the protocol attributes (``oxide_wt``, ``sigma``, ``total``,
    ``positions_mm``, ``valid``, ``point_ids``, ``name``; the aliases ``positions``,
    ``pmc``, ``total_wt``... are tried too). A single ``Composition`` (scalar wt%
    values) becomes a one-point table.

    Raises
    ------
    CompositionError
        No oxide wt% found, or arrays of inconsistent length.
    """
    if isinstance(obj, CompositionTable):
        return obj
    if isinstance(obj, Mapping):
        return CompositionTable.from_dict(obj)
    table = getattr(obj, "table", None)
    if isinstance(table, CompositionTable):  # e.g. a PhaseMap
        return table
    oxide_wt = _get(obj, "oxide_wt")
    if oxide_wt is None:
        raise CompositionError(f"{type(obj).__name__} is not a composition map: it has no 'oxide_wt' "
                               "(dict oxide -> wt% per point)", where="composition map")
    oxide_wt = dict(oxide_wt)
    sigma = _get(obj, "sigma")
    sigma = dict(sigma) if isinstance(sigma, Mapping) else None
    name = _get(obj, "name")
    total = _get(obj, "total")
    if getattr(obj, "normalised", False) is True and total is not None:
        # oxides scaled to 100 % but the analytical total kept: undo the scaling so that
        # oxides + (100 − total) balance again (the deficit is what carbonate rules read)
        scale = np.asarray(total, float) / 100.0
        oxide_wt = {k: np.asarray(v, float) * scale for k, v in oxide_wt.items()}
        if sigma:
            sigma = {k: np.asarray(v, float) * scale for k, v in sigma.items()}
    positions = _get(obj, "positions_mm")
    if positions is None and getattr(obj, "grid", None) is not None:
        n = len(np.atleast_1d(next(iter(oxide_wt.values()))))
        positions = positions_from_grid(obj.grid, n)
    return CompositionTable._build(oxide_wt, sigma, total, positions, _get(obj, "valid"), _get(obj, "point_ids"),
                                   None if name is None else str(name))


def positions_from_grid(grid: Grid, n_points: int) -> np.ndarray | None:
    """Point positions (mm) rebuilt from a :class:`pixlspec.geometry.Grid` (cell centres).

    Used when a composition map carries a grid but no ``positions_mm``. Rasters:
    ``(x[col], y[row])``; lines: ``origin + direction · distance``. Points not
    placed on the grid get NaN. Returns None if the grid has no usable ``index``.
    """
    index = np.asarray(getattr(grid, "index", []), int)
    if index.shape[0] != n_points:
        return None
    pos = np.full((n_points, 3), np.nan)
    ok = index >= 0
    x = np.asarray(grid.x, float)
    kind = getattr(grid, "kind", "raster")
    if kind == "line" and getattr(grid, "origin_mm", None) is not None and getattr(grid, "direction", None) is not None:
        d = x[index[ok]]
        origin = np.asarray(grid.origin_mm, float)[None, :2]
        pos[ok, :2] = origin + d[:, None] * np.asarray(grid.direction, float)[None, :2]
    else:
        nx = int(grid.shape[1])
        y = np.asarray(grid.y, float)
        pos[ok, 0] = x[index[ok] % nx]
        pos[ok, 1] = y[index[ok] // nx]
    pos[ok, 2] = 0.0
    return pos
