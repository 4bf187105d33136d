"""Unsupervised views of a composition map: clusters and principal components.

Compositions are closed data (parts of a whole), so they are log-ratio
transformed before any Euclidean method (brief §4; Aitchison 1986): the
centred log-ratio ``clr(x)_j = ln x_j − mean_k ln x_k`` over the chosen oxides
plus a "rest" part (100 − their sum: the invisible deficit and unlisted
oxides), then standardised (``sklearn.preprocessing.StandardScaler``). Zeros
are replaced by :data:`ZERO_REPLACEMENT_WT` first (a simple multiplicative
replacement), the rest part is floored at :data:`REST_FLOOR_WT`. ``transform="none"`` standardises the raw wt% instead.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..errors import CompositionError
from .table import CompositionLike, CompositionTable, as_table

if TYPE_CHECKING:
    from .classify import PhaseMap

__all__ = ["ClusterResult", "PCAResult", "cluster_map", "pca_map", "clr", "ZERO_REPLACEMENT_WT", "REST_FLOOR_WT",
           "MIN_MEAN_WT"]

#: wt% that replaces zeros and values below it before the log-ratio transform (tunable default:
#: about half a typical PIXL detection limit for minor elements; smaller values let noise near
#: zero dominate the log-ratios).
ZERO_REPLACEMENT_WT = 0.1
#: Floor of the "rest" part (100 − Σ oxides) in wt%: deficits below ~2 wt% are within the
#: uncertainty of an analytical total (tunable default); halite totals > 100 also land here.
REST_FLOOR_WT = 2.0
#: Oxides whose scan mean is below this (wt%) are left out by default (noise, not signal).
MIN_MEAN_WT = 0.1


def clr(parts: np.ndarray, floor: float = ZERO_REPLACEMENT_WT) -> np.ndarray:
    """Centred log-ratio of rows of positive parts (values below ``floor`` are set to it)."""
    x = np.log(np.clip(np.asarray(parts, float), floor, None))
    return x - x.mean(axis=1, keepdims=True)


def _features(table: CompositionTable, oxides, transform: str) -> tuple[np.ndarray, list[str], np.ndarray]:
    usable = table.usable()
    if oxides is None:
        oxides = [ox for ox in table.oxides if np.nanmean(table.oxide_wt[ox][usable]) >= MIN_MEAN_WT] \
            if usable.any() else list(table.oxides)
    else:
        oxides = list(oxides)
        miss = table.missing(oxides)
        if miss:
            raise CompositionError(f"oxides {', '.join(miss)} not in the composition map (has "
                                   f"{', '.join(table.oxides)})", where=table.name or "composition map")
    if len(oxides) < 2:
        raise CompositionError(f"need at least 2 oxides above {MIN_MEAN_WT} wt% on average, got {oxides}",
                               where=table.name or "composition map")
    X = np.column_stack([table.oxide_wt[ox] for ox in oxides])[usable]
    if transform == "clr":
        rest = np.clip(100.0 - X.sum(axis=1, keepdims=True), REST_FLOOR_WT, None)
        F = clr(np.hstack([X, rest]))
        names = list(oxides) + ["rest"]
    elif transform == "none":
        F, names = X, list(oxides)
    else:
        raise CompositionError(f"transform must be 'clr' or 'none', got {transform!r}", where="transform")
    return F, names, usable


def _need(table: CompositionTable, usable: np.ndarray, k: int, what: str) -> None:
    if usable.sum() < k:
        bad = table.n_points - int(usable.sum())
        raise CompositionError(f"{what} needs at least {k} usable points, got {int(usable.sum())} "
                               f"({table.n_points} points, {bad} with NaN or valid=False)",
                               where=table.name or "composition map")


@dataclass(eq=False)
class ClusterResult:
    """Clusters of a composition map.

    Attributes
    ----------
    labels : numpy.ndarray of int
        Cluster per point (0 = largest cluster); -1 for unusable points.
    k : int
    method : str
        "kmeans" or "gmm".
    features : list of str
        Transformed parts used (oxides and "rest" for CLR).
    mean_composition : list of dict
        Per cluster: mean oxide wt% (every oxide of the map) and "total".
    sizes : list of int
    probabilities : numpy.ndarray or None
        (n_points, k) membership probabilities (gmm only; NaN rows for unusable points).
    bic : dict[int, float]
        BIC per k tried (gmm).
    inertia : float or None
        Within-cluster sum of squares (kmeans).
    """

    labels: np.ndarray
    k: int
    method: str
    features: list
    mean_composition: list
    sizes: list
    probabilities: np.ndarray | None = None
    bic: dict = field(default_factory=dict)
    inertia: float | None = None
    name: str | None = None

    def mask(self, cluster: int) -> np.ndarray:
        return self.labels == cluster

    def phase_summary(self, phase_map: PhaseMap) -> list[dict[str, int]]:
        """Per cluster: counts of the :class:`~pixlspec.minerals.PhaseMap` labels in it."""
        out = []
        for c in range(self.k):
            lab, cnt = np.unique(phase_map.phase[self.labels == c], return_counts=True)
            out.append(dict(sorted(zip(lab.tolist(), cnt.tolist()), key=lambda t: (-t[1], t[0]))))
        return out

    def report(self) -> str:
        lines = [f"{self.method} clusters of {self.name or 'composition map'}: k = {self.k} on "
                 f"{', '.join(self.features)}"]
        if self.bic:
            lines.append("  BIC: " + ", ".join(f"k={k}: {v:.0f}" for k, v in sorted(self.bic.items())))
        for c in range(self.k):
            comp = self.mean_composition[c]
            top = ", ".join(f"{ox} {v:.1f}" for ox, v in sorted(comp.items(), key=lambda kv: -kv[1])
                            if ox != "total" and v >= 1.0)
            lines.append(f"  cluster {c}: {self.sizes[c]} points; {top}; total {comp['total']:.1f} %")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"name": self.name, "method": self.method, "k": self.k, "features": list(self.features),
                "labels": self.labels.tolist(), "sizes": list(self.sizes),
                "mean_composition": [dict(c) for c in self.mean_composition],
                "bic": {int(k): float(v) for k, v in self.bic.items()}, "inertia": self.inertia}


def cluster_map(composition_map: CompositionLike, k: int | None = 4, *, method: str = "kmeans",
                oxides: Sequence[str] | None = None, transform: str = "clr",
                k_max: int = 8, random_state: int = 0) -> ClusterResult:
    """Cluster the points of a composition map (k-means or Gaussian mixture on CLR, standardised).

    Parameters
    ----------
    composition_map : CompositionMap, CompositionTable or dict
    k : int or None
        Number of clusters; None picks it by the lowest BIC of a Gaussian mixture
        over 2..``k_max`` (and then uses ``method``).
    method : {"kmeans", "gmm"}
    oxides : sequence of str, optional
        Oxides to use (default: those with a scan mean ≥ :data:`MIN_MEAN_WT` wt%).
    transform : {"clr", "none"}
    random_state : int
        Seed: results are deterministic.

    Returns
    -------
    ClusterResult
        Clusters numbered by size (0 = largest), mean compositions per cluster.

    Raises
    ------
    CompositionError
        Fewer usable points than clusters, unknown oxides, bad ``method``.
    """
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture
    from sklearn.preprocessing import StandardScaler

    table = as_table(composition_map)
    if method not in ("kmeans", "gmm"):
        raise CompositionError(f"method must be 'kmeans' or 'gmm', got {method!r}", where="cluster_map")
    F, names, usable = _features(table, oxides, transform)
    if k is not None and (not isinstance(k, (int, np.integer)) or k < 1):
        raise CompositionError(f"k must be a positive integer or None, got {k!r}", where="cluster_map")
    _need(table, usable, 2 if k is None else int(k), "cluster_map")
    Z = StandardScaler().fit_transform(F)
    bic: dict[int, float] = {}
    if k is None:
        for kk in range(2, min(k_max, Z.shape[0] - 1) + 1):
            g = GaussianMixture(kk, covariance_type="full", random_state=random_state, reg_covar=1e-4).fit(Z)
            bic[kk] = float(g.bic(Z))
        if not bic:
            raise CompositionError(f"too few usable points ({Z.shape[0]}) to choose k by BIC", where="cluster_map")
        k = min(bic, key=bic.get)
    k = int(k)
    probs = None
    inertia = None
    if method == "kmeans":
        model = KMeans(n_clusters=k, n_init=10, random_state=random_state).fit(Z)
        raw = model.labels_
        inertia = float(model.inertia_)
    else:
        model = GaussianMixture(k, covariance_type="full", random_state=random_state, reg_covar=1e-4).fit(Z)
        raw = model.predict(Z)
        p = model.predict_proba(Z)
        if k not in bic:
            bic[k] = float(model.bic(Z))
    # renumber by size (largest first), ties by first point
    sizes_raw = np.bincount(raw, minlength=k)
    first = [int(np.flatnonzero(raw == c)[0]) if sizes_raw[c] else 10 ** 9 for c in range(k)]
    order = sorted(range(k), key=lambda c: (-sizes_raw[c], first[c]))
    remap = np.empty(k, int)
    remap[order] = np.arange(k)
    labels = np.full(table.n_points, -1)
    labels[usable] = remap[raw]
    if method == "gmm":
        probs = np.full((table.n_points, k), np.nan)
        probs[usable] = p[:, order]
    means = [table.mean_composition(labels == c) for c in range(k)]
    sizes = [int(np.sum(labels == c)) for c in range(k)]
    return ClusterResult(labels, k, method, names, means, sizes, probs, bic, inertia, table.name)


@dataclass(eq=False)
class PCAResult:
    """Principal components of a composition map.

    Attributes
    ----------
    scores : numpy.ndarray (n_points, n_components)
        NaN rows for unusable points.
    loadings : dict[str, dict[str, float]]
        "PC1" -> {feature: loading}.
    explained_variance_ratio : numpy.ndarray
    features : list of str
    """

    scores: np.ndarray
    loadings: dict
    explained_variance_ratio: np.ndarray
    features: list
    transform: str = "clr"
    name: str | None = None

    def report(self, top: int = 4) -> str:
        lines = [f"PCA of {self.name or 'composition map'} ({self.transform}, standardised): "
                 f"{', '.join(self.features)}"]
        for (pc, load), ev in zip(self.loadings.items(), self.explained_variance_ratio):
            big = sorted(load.items(), key=lambda kv: -abs(kv[1]))[:top]
            lines.append(f"  {pc}: {100 * ev:.1f} % of variance; " + ", ".join(f"{f} {v:+.2f}" for f, v in big))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"name": self.name, "transform": self.transform, "features": list(self.features),
                "explained_variance_ratio": self.explained_variance_ratio.tolist(),
                "loadings": {k: dict(v) for k, v in self.loadings.items()}, "scores": self.scores.tolist()}


def pca_map(composition_map: CompositionLike, n_components: int = 3, *, oxides: Sequence[str] | None = None,
            transform: str = "clr") -> PCAResult:
    """PCA of the standardised (CLR-transformed by default) oxides of a composition map.

    Raises
    ------
    CompositionError
        Fewer than 2 usable points, fewer than 2 oxides, unknown oxides.
    """
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    table = as_table(composition_map)
    F, names, usable = _features(table, oxides, transform)
    _need(table, usable, 2, "pca_map")
    nc = int(min(n_components, F.shape[0], F.shape[1]))
    Z = StandardScaler().fit_transform(F)
    model = PCA(n_components=nc, svd_solver="full").fit(Z)
    comps = model.components_.copy()
    for c in range(nc):  # deterministic sign: largest loading positive
        if comps[c, np.argmax(np.abs(comps[c]))] < 0:
            comps[c] *= -1
    scores = np.full((table.n_points, nc), np.nan)
    scores[usable] = (Z - model.mean_) @ comps.T
    loadings = {f"PC{c + 1}": {f: float(v) for f, v in zip(names, comps[c])} for c in range(nc)}
    return PCAResult(scores, loadings, model.explained_variance_ratio_.copy(), names, transform, table.name)
