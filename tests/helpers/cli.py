"""Running the ``pixlspec`` command line in-process (click's runner) and checking it succeeded."""

from __future__ import annotations

from click.testing import CliRunner

from pixlspec.cli import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def ok(result):
    assert result.exit_code == 0, result.output + result.stderr
    return result
