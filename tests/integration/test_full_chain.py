"""The whole path on the shipped simulated scan: spectra → map fit → quantification → salts.

``example_data/simulated_salts.h5`` is a basalt matrix with a Ca-sulfate vein, halite grains and a
Mg–Fe carbonate patch, made by ``pixlspec simulate --scene salts`` (:mod:`pixlspec.simulate.scenes`) from compositions; the true
phase fractions per point are in ``simulated_salts_truth.csv`` beside it (issue 7 accuracy).
"""
from __future__ import annotations

import csv

import numpy as np
import pytest

import pixlspec as px

from tests.helpers.paths import ROOT

EXAMPLE = ROOT / "example_data"
#: Minerals family of each simulated phase (Detection.phase values).
FAMILIES = {"Ca-sulfate": "Ca-sulfate", "halite": "chloride", "carbonate": "carbonate"}


@pytest.fixture(scope="module")
def chain():
    scan_path = EXAMPLE / "simulated_salts.h5"
    if not scan_path.exists():
        pytest.skip("example_data/simulated_salts.h5 not present")
    with open(EXAMPLE / "simulated_salts_truth.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    with px.open_scan(scan_path) as scan:
        maps = px.fit_map(scan)
    comp = px.quantify_map(maps)
    return rows, maps, comp, px.identify_salts(comp)


def test_map_fit_is_good(chain):
    _, maps, _, _ = chain
    assert 0.8 < np.nanmedian(maps.chi2_reduced_points) < 1.2


@pytest.mark.parametrize("phase", list(FAMILIES))
def test_salts_found_with_high_recall_and_few_false_positives(chain, phase):
    rows, _, _, detections = chain
    family = FAMILIES[phase]
    found = np.zeros(len(rows), bool)
    for d in detections:
        if d.phase == family:
            found |= np.asarray(d.mask, bool)
    true = np.array([float(r[f"f_{phase}"]) for r in rows]) >= 0.5
    matrix = np.array([float(r["f_basalt"]) for r in rows]) > 0.999
    recall = found[true].mean()
    fpr = found[matrix].mean()
    print(f"\n{phase}: recall {recall:.3f} of {true.sum()} points, false positives {fpr:.4f} of {matrix.sum()} "
          "matrix points")
    assert recall >= 0.90
    assert fpr <= 0.02


def test_totals_show_the_missing_volatiles(chain):
    rows, _, comp, _ = chain
    phase = np.array([r["phase"] for r in rows])
    total = np.asarray(comp.point_total)
    assert np.nanmedian(total[phase == "basalt"]) == pytest.approx(100, abs=3)
    # calcite-like carbonate: ~45 wt% CO2 unseen; gypsum: ~21 % H2O
    assert np.nanmedian(total[phase == "carbonate"]) < 70
    assert np.nanmedian(total[phase == "Ca-sulfate"]) < 92
