"""pixlspec.physics as a package: lazy import, and PixlspecError for bad inputs to any of its functions."""

from __future__ import annotations

import subprocess
import sys

import pytest

import pixlspec.physics as P
from pixlspec.errors import PixlspecError


# ----------------------------------------------------------------------------- import
def test_import_is_lazy_and_fast():
    code = ("import sys, time; t = time.perf_counter(); import pixlspec.physics; "
            "print(time.perf_counter() - t, 'xraydb' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[1] == "False"          # xraydb is imported on first use only
    assert float(out[0]) < 1.0


@pytest.mark.parametrize("call", [
    lambda: P.check_element(["Fe"]), lambda: P.atomic_mass(["Fe"]), lambda: P.edge(["Fe"], "K"),
    lambda: P.edge("Fe", ["K"]), lambda: P.coster_kronig("Fe", ["L1"], "L3"), lambda: P.line_group(["Fe"]),
    lambda: P.ebel_constants(["Rh"], 28.0), lambda: P.subshell_vacancies("Pb", ["L"], 2e4),
])
def test_unhashable_inputs_raise_pixlspec_errors(call):
    with pytest.raises(PixlspecError):
        call()
