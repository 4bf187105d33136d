"""The command line as a whole (pixlspec.cli.app): version, help of every command, exit codes, logging,
one-line errors whatever the command."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import pixlspec as px
from pixlspec.cli import EXIT_BAD_INPUT, EXIT_FAILURE, main

from tests.helpers.cli import ok, run
from tests.helpers.seeds import msa_with


COMMANDS = ["info", "convert", "fit", "batch", "quant", "map", "salts", "rank", "simulate", "demo"]


# --- help ---------------------------------------------------------------------------------
def test_every_command_has_help_with_examples():
    for cmd in COMMANDS:
        result = ok(run(cmd, "--help"))
        assert "Example" in result.output, cmd
    top = ok(run("--help"))
    for cmd in COMMANDS:
        assert cmd in top.output
    assert "Exit codes" in top.output and "130" in top.output and "pixlspec demo" in top.output


@pytest.mark.parametrize("cmd", sorted(main.commands))
def test_help_examples_keep_their_lines(cmd):
    """Each example of a command's help is a line of its own, as written: click rewraps a paragraph
    unless a line holding only the backspace character precedes it (a literal backslash-b is printed)."""
    out = ok(run(cmd, "--help")).output
    assert "\\b" not in out, cmd
    lines = out.splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.strip().startswith("Examples:"))
    examples = [ln for ln in lines[at + 1:] if ln.strip()][:2]
    assert examples and all(ln.strip().startswith("pixlspec ") for ln in examples), (cmd, examples)


# --- bad input: exit 2, one line, no traceback, nothing written ----------------------------------------
def _bad_cases(files, tmp: Path) -> dict[str, list]:
    (tmp / "garbage.h5").write_bytes(b"not an hdf5 file at all")
    (tmp / "garbage.msa").write_text("hello\n")
    scan, res, msa = files["scan"], files["results"], files["msa"]
    out = tmp / "out"
    return {
        "quant missing": ["quant", tmp / "absent.h5"],
        "quant wrong format": ["quant", tmp / "garbage.h5"],
        "quant garbage msa": ["quant", tmp / "garbage.msa"],
        "quant unknown element": ["quant", msa, "--elements", "Fe,Xx"],
        "quant bad format": ["quant", msa, "--format", "xml"],
        "quant A+B": ["quant", msa, "--detector", "A+B"],
        "quant point out of range": ["quant", scan, "--point", 999],
        "quant missing calibration": ["quant", msa, "--calibration", tmp / "cal.json"],
        "quant results file": ["quant", res],
        "map missing": ["map", tmp / "absent.h5", "--out", out],
        "map wrong format": ["map", tmp / "garbage.h5", "--out", out],
        "map unknown element": ["map", res, "--out", out, "--elements", "Xx"],
        "map element not fitted": ["map", res, "--out", out, "--elements", "U"],
        "map rgb of two": ["map", res, "--out", out, "--rgb", "Fe,Ca"],
        "map vmin above vmax": ["map", res, "--out", out, "--vmin", "5", "--vmax", "1"],
        "map log with zero": ["map", res, "--out", out, "--log", "--vmin", "0"],
        "map bad percentiles": ["map", res, "--out", out, "--percentiles", "90,10"],
        "map bad detector": ["map", scan, "--out", out, "--detector", "C"],
        "salts missing": ["salts", tmp / "absent.h5", "--out", out],
        "salts wrong format": ["salts", tmp / "garbage.h5", "--out", out],
        "salts bad balance": ["salts", res, "--balance", "N2"],
        "rank missing": ["rank", res, tmp / "absent.h5"],
        "rank unknown weight": ["rank", res, "--weights", "beauty=1"],
        "rank negative weight": ["rank", res, "--weights", "diversity=-1"],
        "rank bad weight syntax": ["rank", res, "--weights", "diversity"],
        "simulate bad suffix": ["simulate", tmp / "x.txt"],
        "simulate unknown element": ["simulate", tmp / "x.msa", "--composition", "Xx2O3"],
        "simulate bad wt": ["simulate", tmp / "x.msa", "--composition", "SiO2=lots"],
        "simulate bad shape": ["simulate", tmp / "x.h5", "--shape", "12by12"],
        "simulate tiny salts scene": ["simulate", tmp / "x.h5", "--shape", "3x3"],
        "simulate zero live time": ["simulate", tmp / "x.msa", "--live-time", "0"],
        "unknown command": ["frobnicate"],
    }


BAD = ["quant missing", "quant wrong format", "quant garbage msa", "quant unknown element", "quant bad format",
       "quant A+B", "quant point out of range", "quant missing calibration", "quant results file", "map missing",
       "map wrong format", "map unknown element", "map element not fitted", "map rgb of two", "map vmin above vmax",
       "map log with zero", "map bad percentiles", "map bad detector", "salts missing", "salts wrong format",
       "salts bad balance", "rank missing", "rank unknown weight", "rank negative weight",
       "rank bad weight syntax", "simulate bad suffix", "simulate unknown element", "simulate bad wt",
       "simulate bad shape", "simulate tiny salts scene", "simulate zero live time", "unknown command"]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_exits_2_one_line_nothing_written(files, tmp_path, case):
    args = _bad_cases(files, tmp_path)[case]
    before = sorted(os.listdir(tmp_path))
    inputs_before = sorted(os.listdir(files["dir"]))
    result = run(*args)
    assert result.exit_code == EXIT_BAD_INPUT, (case, result.output, result.stderr)
    err = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: "), (case, result.stderr)
    assert "Traceback" not in result.output + result.stderr
    assert result.stdout == ""
    assert sorted(os.listdir(tmp_path)) == before, case          # no output, no temporary file
    assert sorted(os.listdir(files["dir"])) == inputs_before, case


def test_quiet_suppresses_status_lines(files, tmp_path):
    result = ok(run("-q", "simulate", tmp_path / "q.msa"))
    assert result.stderr == "" and (tmp_path / "q.msa").is_file() and (tmp_path / "q_truth.json").is_file()


# --- help, version -------------------------------------------------------------------
def test_version_and_help(runner):
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0 and px.__version__ in result.output
    for args in ([], ["info"], ["convert"]):
        result = runner.invoke(main, [*args, "--help"])
        assert result.exit_code == 0, result.output
        assert "Example" in result.output


def test_unexpected_failure_exits_1(runner, tmp_path, scan_file, monkeypatch):
    import pixlspec.io.hdf5.write as hdf5_write

    def broken(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(hdf5_write, "_write_process", broken)
    out = tmp_path / "out.h5"
    result = runner.invoke(main, ["convert", str(scan_file), "-o", str(out)])
    assert result.exit_code == EXIT_FAILURE
    err = [line for line in result.stderr.splitlines() if line.strip()]
    assert err == ["error: RuntimeError: simulated bug (run with --debug for the traceback)"]
    assert not out.exists() and sorted(os.listdir(tmp_path)) == ["scan.h5"]

    result = runner.invoke(main, ["--debug", "convert", str(scan_file), "-o", str(out)])
    assert result.exit_code == EXIT_FAILURE
    assert "Traceback" in result.stderr and "error: RuntimeError: simulated bug" in result.stderr


def test_usage_error_exits_2(runner, scan_file):
    result = runner.invoke(main, ["convert", str(scan_file)])  # no -o
    assert result.exit_code == 2
    assert "Missing option" in result.stderr


def test_verbose_logs_to_stderr(runner, scan_file, tmp_path):
    result = runner.invoke(main, ["-v", "convert", str(scan_file), "-o", str(tmp_path / "v.h5")])
    assert result.exit_code == 0, result.output
    assert "INFO pixlspec" in result.stderr


@pytest.mark.parametrize("quiet", [[], ["-q"], ["-v"]])
def test_bad_input_is_one_stderr_line_at_any_verbosity(tmp_path, seeds, quiet):
    from click.testing import CliRunner

    from pixlspec.cli import main

    p, _ = msa_with(tmp_path, seeds, b"#LIVETIME", b"1e23, 1e23")
    res = CliRunner().invoke(main, [*quiet, "convert", str(p), "-o", str(tmp_path / "out.h5")])
    assert res.exit_code == 2 and res.stdout == ""
    lines = res.stderr.splitlines()
    if quiet != ["-v"]:                   # -v asks for progress messages before it
        assert len(lines) == 1
    assert [ln for ln in lines if ln.startswith("error: ")] == lines[-1:] and "LIVETIME" in lines[-1]
    assert not (tmp_path / "out.h5").exists()
