"""The documentation site builds without warnings (mkdocs --strict), when mkdocs is installed."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.paths import ROOT


@pytest.mark.skipif(shutil.which("mkdocs") is None and not (Path(sys.executable).parent / "mkdocs").exists(),
                    reason="mkdocs not installed (pip install -e '.[docs]')")
def test_docs_build_strict(tmp_path):
    exe = shutil.which("mkdocs") or str(Path(sys.executable).parent / "mkdocs")
    res = subprocess.run([exe, "build", "--strict", "-q", "-d", str(tmp_path / "site")], cwd=ROOT,
                         capture_output=True, text=True, env={"NO_MKDOCS_2_WARNING": "1",
                                                              "PATH": str(Path(sys.executable).parent)})
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / "site" / "index.html").exists()
    # the API reference is generated from the docstrings (mkdocstrings): signatures and parameter tables
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("pixlspec.fit.single.fit_spectrum", "pixlspec.quant.quantify.quantify_map",
                 "pixlspec.element_maps.ElementMaps", "pixlspec.pipeline"):
        assert name in api, name
    assert api.count("Parameters") >= 10
