"""The library never selects a matplotlib backend, and plotting keeps the caller's."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pixlspec as px


def test_library_never_selects_a_matplotlib_backend():
    root = Path(px.__file__).resolve().parent
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if re.search(r"matplotlib\.use\(|pyplot\.switch_backend\(|plt\.switch_backend\(", p.read_text())]
    assert offenders == []


def test_plotting_keeps_the_callers_backend(tmp_path):
    """In a fresh process with a non-Agg backend chosen by the caller, a figure leaves it in place."""
    code = ("import matplotlib; matplotlib.use('svg')\n"
            "import pixlspec as px\n"
            "s = px.simulate_spectrum(composition={'SiO2': 50, 'FeO': 10, 'CaO': 10, 'MgO': 15, 'Al2O3': 15}, seed=1)\n"
            "fig = px.fit_spectrum(s, elements=['Si', 'Ca', 'Fe']).plot()\n"
            f"fig.savefig({str(tmp_path / 'fit.svg')!r})\n"
            "print(matplotlib.get_backend())\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("svg")
    assert (tmp_path / "fit.svg").stat().st_size > 1000
