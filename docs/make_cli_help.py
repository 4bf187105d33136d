"""Regenerate the help texts in docs/cli.md from the real command line.

    python docs/make_cli_help.py

Everything between the BEGIN/END GENERATED HELP markers of docs/cli.md is
replaced by the ``--help`` output of ``pixlspec`` and of every command it has
(at 100 columns), so the reference cannot drift from the code.
"""
from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))    # document this checkout's pixlspec, whatever is installed

from click.testing import CliRunner  # noqa: E402

from pixlspec.cli import main  # noqa: E402

PAGE = REPO / "docs" / "cli.md"
BEGIN = "<!-- BEGIN GENERATED HELP (docs/make_cli_help.py) -->"
END = "<!-- END GENERATED HELP -->"
WIDTH = 100


def help_text(args: list[str]) -> str:
    result = CliRunner().invoke(main, args + ["--help"], terminal_width=WIDTH, prog_name="pixlspec")
    if result.exit_code != 0:
        raise SystemExit(f"pixlspec {' '.join(args)} --help exited with {result.exit_code}:\n{result.output}")
    return result.output.rstrip() + "\n"


def section(title: str, args: list[str], anchor: str) -> str:
    return (f"### {title} {{#{anchor}}}\n\n```text\n$ pixlspec {' '.join(args + ['--help'])}\n"
            f"{help_text(args)}```\n")


def main_() -> None:
    parts = [section("pixlspec", [], "help-pixlspec")]
    for name in sorted(main.commands):
        parts.append(section(f"pixlspec {name}", [name], f"help-{name}"))
    text = PAGE.read_text(encoding="utf-8")
    head, sep1, rest = text.partition(BEGIN)
    _, sep2, tail = rest.partition(END)
    if not (sep1 and sep2):
        raise SystemExit(f"{PAGE}: markers {BEGIN!r} / {END!r} not found")
    PAGE.write_text(head + BEGIN + "\n\n" + "\n".join(parts) + "\n" + END + tail, encoding="utf-8")
    print(f"wrote the help of {len(parts) - 1} commands ({', '.join(sorted(main.commands))}) into {PAGE}")


if __name__ == "__main__":
    main_()
