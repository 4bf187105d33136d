"""The top-level package (pixlspec/__init__.py): fast lazy import and the public names."""

from __future__ import annotations

import subprocess
import sys

import pixlspec as px
from pixlspec.minerals import identify_salts, rank_sample_candidates
from pixlspec.quant.calibration import Calibration, calibrate
from pixlspec.quant.fp import FPModel
from pixlspec.quant.quantify import quantify, quantify_map


def test_import_is_fast_and_lazy():
    code = ("import time, sys; t = time.perf_counter(); import pixlspec; dt = time.perf_counter() - t; "
            "print(dt, 'numba' in sys.modules, 'xraydb' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert float(out[0]) < 1.0
    assert out[1] == "False" and out[2] == "False"


def test_public_names():
    for name in ("read_piquant_map", "read_piquant_maps", "write_piquant_csv", "compare_compositions",
                 "read_composition_map", "export_results"):
        assert callable(getattr(px, name))


def test_top_level_exports():
    assert px.identify_salts is identify_salts
    assert px.rank_sample_candidates is rank_sample_candidates
    assert px.get_endmember("gypsum").family == "Ca-sulfate"


def test_public_api_names():
    assert px.quantify is quantify and px.quantify_map is quantify_map and px.calibrate is calibrate
    assert px.Calibration is Calibration and px.FPModel is FPModel
    assert px.reference_material("BHVO-2G").kind == "glass"
