"""Fixtures of the command-line tests: a CLI runner, a small scan file, and the simulated inputs
and results file that the tests of several commands read (built once per session, never modified)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from pixlspec.io.hdf5 import write_scan

from tests.helpers.cli import ok, run
from tests.helpers.scans import make_scan


@pytest.fixture
def runner():
    """click's in-process runner."""
    return CliRunner()


@pytest.fixture
def scan_file(tmp_path):
    """A small simulated scan written to a file (``tests.helpers.scans.make_scan``)."""
    path = tmp_path / "scan.h5"
    write_scan(make_scan(), path)
    return path


@pytest.fixture(scope="session")
def files(tmp_path_factory):
    """Simulated inputs (via the CLI) and a results file with a composition (via ``salts --out``)."""
    d = tmp_path_factory.mktemp("inputs")
    ok(run("simulate", d / "salts.h5", "--shape", "12x12", "--seed", "5"))
    ok(run("simulate", d / "basalt.h5", "--scene", "uniform", "--composition", "basalt", "--shape", "4x4"))
    ok(run("simulate", d / "basalt.msa", "--live-time", "20", "--seed", "2"))
    salts = ok(run("salts", d / "salts.h5", "--out", d / "salts-out", "--format", "json"))
    return {"dir": d, "scan": d / "salts.h5", "basalt_scan": d / "basalt.h5", "msa": d / "basalt.msa",
            "results": d / "salts-out" / "salts_results.h5", "salts_json": json.loads(salts.stdout)}
