"""How the commands show things: rich consoles (stdout, stderr, pipes), progress bars, tables, CSV, numbers."""
from __future__ import annotations

import contextlib
import errno
import functools
import sys

from .app import cli_state

__all__ = ["stderr_console", "pipe_console", "stdout_console", "NoProgress", "progress_bar", "StageProgress",
           "csv_text", "rich_table", "fmt_num", "fmt_g", "PIPE_WIDTH"]


#: Width of tables written to a pipe or file (no terminal to fit).
PIPE_WIDTH = 160


def stderr_console():
    """A rich console on stderr (messages, progress) that leaves stdout to the results."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


@functools.cache
def _pipe_console_class():
    from rich.console import Console

    class PipeConsole(Console):
        """A rich console whose closed pipe ends the command like any other (exit 141, quietly)."""

        def on_broken_pipe(self) -> None:
            # rich's default exits with 1 on its own; PixlspecGroup handles it for every command
            raise BrokenPipeError(errno.EPIPE, "the reader of the output went away")

    return PipeConsole


def pipe_console(**kwargs):
    """A rich console (see :func:`_pipe_console_class`)."""
    return _pipe_console_class()(**kwargs)


def stdout_console():
    """Rich console on stdout; wide when piped so table rows stay one line each."""
    console = pipe_console(file=sys.stdout, highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console.width = max(console.width, PIPE_WIDTH)
    return console


class NoProgress:
    """Stands in for a rich Progress when none is shown (pipes, -q, tests)."""

    def add_task(self, *args, **kwargs) -> int:
        return 0

    def update(self, *args, **kwargs) -> None:
        pass

    def advance(self, *args, **kwargs) -> None:
        pass


@contextlib.contextmanager
def progress_bar():
    """A rich progress bar on stderr while long work runs (only on a terminal and without -q).

    The bar is transient: it disappears when the work is done, so the one
    ``error:`` line of a failure stays alone on stderr.
    """
    console = stderr_console()
    if cli_state().verbosity < 0 or not console.is_terminal:
        yield NoProgress()
        return
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                               TimeElapsedColumn)

    with Progress(SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True) as progress:
        yield progress


def csv_text(headers: list[str], rows: list[list]) -> str:
    """CSV text of a header row and rows."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(headers)
    w.writerows(rows)
    return buf.getvalue()


def rich_table(headers: list[str], rows: list[list], right: str = "", title: str | None = None):
    """A borderless rich table; ``right`` marks the right-aligned columns ("r" per column)."""
    from rich.table import Table

    table = Table(box=None, pad_edge=False, padding=(0, 1), title=title, title_justify="left",
                  title_style="bold")
    for i, h in enumerate(headers):
        table.add_column(h, justify="right" if i < len(right) and right[i] == "r" else "left",
                         overflow="fold")
    for r in rows:
        table.add_row(*[str(c) for c in r])
    return table


def fmt_num(v: float) -> str:
    """wt% for a terminal table: 3 decimals, small values with 2 significant digits."""
    import math

    if v is None or not math.isfinite(v):
        return "nan"
    if v == 0 or abs(v) >= 0.01:
        return f"{v:.3f}"
    return f"{v:.1e}"


def fmt_g(v: float, nd: int = 4) -> str:
    """``v`` with ``nd`` significant digits, "nan" when not finite."""
    import math

    return "nan" if v is None or not math.isfinite(v) else f"{v:.{nd}g}"


class StageProgress:
    """The :data:`pixlspec.pipeline.Progress` callback drawn on a rich progress bar: one task per stage."""

    def __init__(self, bar, label: str):
        self.bar, self.label, self.tasks = bar, label, {}

    def __call__(self, stage: str, advance: int, total: int | None) -> None:
        task = self.tasks.get(stage)
        if task is None:
            task = self.tasks[stage] = self.bar.add_task(f"{stage} {self.label}", total=total)
        elif total is not None:
            self.bar.update(task, total=total)
        if advance:
            self.bar.advance(task, advance)
