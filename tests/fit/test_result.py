"""A fit result's report, figure and JSON (pixlspec.fit.result)."""

from __future__ import annotations

import numpy as np
import pytest

import pixlspec as px

from tests.helpers.fit import ELEMENTS, noisy_spectrum


def test_report_plot_and_json(basalt_truth, tmp_path):
    import json

    import matplotlib

    matplotlib.use("Agg")
    rng = np.random.default_rng(1)
    r = px.fit_spectrum(noisy_spectrum(basalt_truth["total"], rng), elements=ELEMENTS)
    text = r.report()
    assert "reduced chi-square" in text and "Fe" in text and "offset_eV" in text
    fig = r.plot()
    fig.savefig(tmp_path / "fit.png")
    assert (tmp_path / "fit.png").stat().st_size > 10_000
    d = json.loads(r.to_json())
    assert d["areas"]["Fe"] == pytest.approx(r.areas["Fe"])
    assert r.model.shape == r.counts.shape == r.background.shape == r.residual.shape
