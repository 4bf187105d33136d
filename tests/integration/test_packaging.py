"""Packaging: what the wheel holds, and that running an installed pixlspec never modifies its install."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

import pixlspec

from tests.helpers.paths import ROOT


PYPROJECT = ROOT / "pyproject.toml"


def _pyproject() -> dict:
    with open(PYPROJECT, "rb") as fh:
        return tomllib.load(fh)


def test_package_list_is_the_source_tree():
    """Every directory with an ``__init__.py`` is listed, and nothing else but the mapped example data."""
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "pixlspec").rglob("__init__.py")}
    mapped = set(_pyproject()["tool"]["setuptools"].get("package-dir", {}))
    assert listed == on_disk | mapped
    assert all(name == "pixlspec" or name.startswith("pixlspec.") for name in listed)


def test_version_has_one_source():
    """``pixlspec.__version__`` comes from the installed metadata, which comes from pyproject.toml."""
    from importlib.metadata import version

    assert pixlspec.__version__ == version("pixlspec")
    # the version string is written in pyproject.toml only
    hits = [p for p in (ROOT / "pixlspec").rglob("*.py") if _pyproject()["project"]["version"] in p.read_text()]
    assert hits == []


def _snapshot(tree: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(tree)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(tree.rglob("*"))}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{proc.stdout}\n{proc.stderr}")
    (whl,) = out.glob("pixlspec-*.whl")
    return whl


def test_wheel_holds_example_data_licence_and_typing(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in ("sol0125_naltsos.h5", "simulated_salts.h5", "simulated_salts_truth.csv", "README.md",
              "sol0125_context/RXL/PE__0125_0678031418_000RXL_N004171204830055100910__J01.CSV"):
        assert f"pixlspec/example_data/{f}" in names
    assert "pixlspec/py.typed" in names
    assert "pixlspec/data/standards.json" in names
    assert any(n.endswith("licenses/LICENSE") for n in names)
    assert any(n.endswith("licenses/NOTICE") for n in names)
    assert not any(n.startswith("pixlspec-demo") or n.startswith("tests/") for n in names)


def test_running_an_installed_pixlspec_leaves_its_install_unchanged(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    # borrow the running environment's dependencies through a path file (its own .pth files, such as an
    # editable pixlspec's finder, are not processed): only pixlspec itself is installed here
    inner_site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                capture_output=True, text=True, check=True).stdout.strip()
    outer = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    (Path(inner_site) / "pixlspec-test-deps.pth").write_text("\n".join(sorted(outer)) + "\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_CACHE_DIR", "PIXLSPEC_CACHE_DIR", "PYTHONPATH", "VIRTUAL_ENV")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "user-cache")
    env["HOME"] = str(tmp_path / "home")

    def run(*args, **kw):
        proc = subprocess.run([str(python), *args], capture_output=True, text=True, cwd=tmp_path, env=env,
                              timeout=600, **kw)
        assert proc.returncode == 0, f"{args}:\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout

    run("-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--ignore-installed", str(wheel))
    site = Path(run("-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    package = site / "pixlspec"
    assert run("-c", "import pixlspec, os; print(os.path.dirname(pixlspec.__file__))").strip() == str(package)
    before = _snapshot(package)

    # compile and run a kernel, and fit an array, from a directory outside the repository
    out = run("-c", "import numpy as np, pixlspec\n"
                    "from pixlspec.model import kernels\n"
                    "print(sum(kernels.gaussian(x, 1.0) for x in np.linspace(-3.0, 3.0, 7)))\n"
                    "from pixlspec.demo import find_example_data\n"
                    "print(find_example_data())\n"
                    "s = pixlspec.simulate_spectrum(composition={'SiO2': 50, 'CaO': 20, 'FeO': 15, 'MgO': 15}, seed=2)\n"
                    "fit = pixlspec.fit_spectrum(np.asarray(s.counts), elements=['Si', 'Ca', 'Fe'],\n"
                    "                            energy_offset_eV=s.offset_eV, energy_gain_eV=s.gain_eV_per_channel)\n"
                    "print('Fe area', fit.areas['Fe'])\n")
    assert str(package / "example_data") in out
    assert float(out.split("Fe area")[1]) > 0
    assert _snapshot(package) == before, "running the installed package modified its install"
    cached = list((tmp_path / "user-cache" / "pixlspec" / "numba").rglob("*.nbi"))
    assert cached, "the compiled kernel was not cached in the user cache directory"

    run("-m", "pip", "uninstall", "--quiet", "-y", "pixlspec")
    assert not package.exists(), f"pip uninstall left {sorted(p.name for p in package.rglob('*'))}"
