"""PIQUANT ECF tables as calibrations (pixlspec.quant.piquant_calibration); skipped without ../shared."""

from __future__ import annotations

import numpy as np
import pytest

import pixlspec as px
from pixlspec.errors import ConfigError
from pixlspec.quant.calibration import Calibration, load_calibration
from pixlspec.quant.fp import fp_model
from pixlspec.quant.piquant_calibration import read_piquant_calibration

from tests.helpers.paths import FM_ECF


def test_ecf_table_as_piquant_ecfs(real_data, fm):
    """method="ecf": the factors are the table's own ECFs (Fe 0.9792, Zr K from the Zr and BaZrO3 pucks)."""
    cal = read_piquant_calibration(real_data / FM_ECF, fm, method="ecf")
    assert cal.detector == "B" and cal.source.startswith("Calibration_PIXL_FM")
    assert cal.factors["Fe"] == pytest.approx(0.9792)
    assert cal.factors["Na"] == pytest.approx(0.7542) and cal.factors["Zr_L"] == pytest.approx(1.1141)
    assert 0.8619 < cal.factors["Zr"] < 0.8696
    assert "Ba" not in cal.factors  # ECF 0, no intensity


def test_ecf_table_intensities_against_the_model(real_data, fm):
    """method="intensities": k = measured / (300 s x FP rate). The ratios of the table's measured
    intensities between standards do not depend on the dwell: for the K lines above 4 keV (Ti to Zr, not
    touched by the light-element yields) this model's factors agree with Fe's within 10 %."""
    cal = read_piquant_calibration(real_data / FM_ECF, fm)
    assert any("300 s" in n for n in cal.notes)
    table = {e.name: e for e in px.io.piquant_tables.read_piquant_calibration(real_data / FM_ECF)}
    # the factor is the table's intensity over the model's counts in 300 s
    model = fp_model(fm, ["Fe"], detector="B")
    assert cal.factors["Fe"] == pytest.approx(table["Fe"].element("Fe").intensity
                                              / (300.0 * float(model.rates(np.array([1.0, 0.0]))[0])), rel=1e-6)
    for g in ("Ti", "Zn", "Ge", "Br", "Y", "Zr"):
        assert cal.factors[g] / cal.factors["Fe"] == pytest.approx(1.0, abs=0.10), g
    for g in ("Na", "Mg", "Al", "Si", "S", "Cl", "K", "Ca"):
        assert 0.7 < cal.factors[g] / cal.factors["Fe"] < 1.6, g


def test_load_calibration_by_content(tmp_path, real_data, fm):
    cal = read_piquant_calibration(real_data / FM_ECF, fm, method="ecf")
    p = tmp_path / "x.txt"           # a pixlspec JSON under any name
    p.write_text(cal.to_json())
    assert load_calibration(p).factors == cal.factors
    q = tmp_path / "y.json"          # a PIQUANT table under a .json name
    q.write_text((real_data / FM_ECF).read_text(encoding="latin-1"))
    assert "Fe" in load_calibration(q, fm).factors
    with pytest.raises(ConfigError, match="y.json"):
        Calibration.load(q)
