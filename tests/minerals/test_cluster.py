"""Clusters and PCA of composition maps (pixlspec.minerals.cluster)."""

from __future__ import annotations

import json

import pytest

from pixlspec.errors import CompositionError
from pixlspec.minerals import cluster_map, pca_map


# ---------------------------------------------------------------------------------------------
# unsupervised views
# ---------------------------------------------------------------------------------------------
def test_clusters_and_pca(scene, comp):
    g = cluster_map(comp, None, method="gmm", k_max=5)
    assert 3 <= g.k <= 6 and g.bic
    sulfate = [c for c in g.mean_composition if c["SO3"] > 30]
    carbonate = [c for c in g.mean_composition if c["total"] < 70 and c["SO3"] < 10]
    assert sulfate and carbonate
    assert g.sizes == sorted(g.sizes, reverse=True) and sum(g.sizes) == comp.n_points
    k1 = cluster_map(comp, 4)
    k2 = cluster_map(comp, 4)
    assert k1.labels.tolist() == k2.labels.tolist()
    assert "cluster 0" in k1.report()
    json.dumps(k1.to_dict())
    p = pca_map(comp, 3)
    assert p.scores.shape == (comp.n_points, 3)
    assert 0 < p.explained_variance_ratio.sum() <= 1
    assert set(p.loadings["PC1"]) == set(p.features)
    with pytest.raises(CompositionError, match="not in the composition map"):
        cluster_map(comp, 3, oxides=["SiO2", "ZrO2"])
    with pytest.raises(CompositionError, match="method"):
        cluster_map(comp, 3, method="dbscan")
