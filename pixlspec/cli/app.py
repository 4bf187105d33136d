"""The ``pixlspec`` command group: exit codes, shared state, logging, and the one place errors become exit codes."""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
import traceback

import click

from .. import __version__
from ..errors import PixlspecError

__all__ = ["main", "cli_state", "one_line", "Terminated", "sigterm_stops_cleanly", "CLIState", "log",
           "EXIT_OK", "EXIT_FAILURE", "EXIT_BAD_INPUT", "EXIT_INTERRUPTED", "EXIT_TERMINATED", "EXIT_BROKEN_PIPE"]


EXIT_OK = 0

#: Exit code of an unexpected failure (a bug, a full disk, ...).
EXIT_FAILURE = 1

#: Exit code of bad input (a PixlspecError) and of command-line usage errors (click's convention).
EXIT_BAD_INPUT = 2

#: Exit code after Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130

#: Exit code after SIGTERM, with the same clean stop as Ctrl-C (128 + SIGTERM).
EXIT_TERMINATED = 143

#: Exit code when the reader of the output went away (``| head``), as a process killed by SIGPIPE.
EXIT_BROKEN_PIPE = 141

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

log = logging.getLogger("pixlspec")


@dataclasses.dataclass
class CLIState:
    """Options of the ``pixlspec`` group shared with every command (``ctx.obj``)."""

    verbosity: int = 0
    debug: bool = False


def cli_state() -> CLIState:
    """The options of the ``pixlspec`` group for the running command (defaults outside a command)."""
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return obj if isinstance(obj, CLIState) else CLIState()


def one_line(text: str) -> str:
    """``text`` with its whitespace runs (newlines included) collapsed to single spaces."""
    return " ".join(str(text).split())


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that the command stops as cleanly as after Ctrl-C."""


@contextlib.contextmanager
def sigterm_stops_cleanly():
    """While the block runs, SIGTERM raises :class:`Terminated` in the main thread (like Ctrl-C)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():  # pragma: no cover - embedded use
        yield
        return

    def handler(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that Python's final flush of a closed pipe prints nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # pragma: no cover - stdout without a descriptor
        pass


class PixlspecGroup(click.Group):
    """Click group that turns exceptions of any command into one error line and an exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # the reader went away (`pixlspec ... | head -1`): stop quietly, as SIGPIPE would
            _silence_stdout()
            ctx.exit(EXIT_BROKEN_PIPE)
        except click.exceptions.UsageError as e:
            # a bad option value, a missing argument, an unknown command: one line, exit 2
            cmd = e.ctx.command_path if e.ctx is not None else ctx.command_path
            self._fail(ctx, f"{one_line(e.format_message())} (see '{cmd} --help')", EXIT_BAD_INPUT,
                       traceback_ok=False)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except PixlspecError as e:
            self._fail(ctx, one_line(str(e)), EXIT_BAD_INPUT)
        except Terminated:
            self._fail(ctx, "terminated (SIGTERM)", EXIT_TERMINATED, traceback_ok=False)
        except KeyboardInterrupt:
            self._fail(ctx, "interrupted", EXIT_INTERRUPTED, traceback_ok=False)
        except Exception as e:  # noqa: BLE001 - the one place that reports unexpected failures
            msg = one_line(f"{type(e).__name__}: {e}")
            if not cli_state().debug:
                msg += " (run with --debug for the traceback)"
            self._fail(ctx, msg, EXIT_FAILURE)

    @staticmethod
    def _fail(ctx: click.Context, message: str, code: int, traceback_ok: bool = True):
        if cli_state().debug and traceback_ok:
            traceback.print_exc(file=sys.stderr)
        click.secho(f"error: {message}", fg="red", err=True)
        ctx.exit(code)

EXIT_CODES_EPILOG = """\b
Exit codes:
  0    success
  1    unexpected failure (a bug, a full disk): one 'error:' line; --debug shows the traceback
  2    bad input: missing or malformed file, unknown element, impossible option
       (one 'error:' line, nothing written); batch: another run writes into the same --out
  130  interrupted (Ctrl-C): one line; batch keeps complete results, a rerun resumes
  141  the reader of the output went away (e.g. '| head'): stopped quietly
  143  terminated (SIGTERM): stopped as after Ctrl-C
"""


@click.group(cls=PixlspecGroup, context_settings=CONTEXT_SETTINGS, epilog=EXIT_CODES_EPILOG)
@click.version_option(__version__, "--version", prog_name="pixlspec")
@click.option("-v", "--verbose", count=True, help="More messages (repeat for debug logging).")
@click.option("-q", "--quiet", count=True, help="Fewer messages (only errors).")
@click.option("--debug", is_flag=True, help="Show the traceback of errors.")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: int, debug: bool) -> None:
    """pixlspec: X-ray fluorescence spectra of PIXL (Mars 2020).

    Start with 'pixlspec demo': the whole path (fit, map, quantify, salts,
    sample candidates) on the shipped example data, with a report.

    \b
    Examples:
      pixlspec demo                                   # -> pixlspec-demo/report.html
      pixlspec info example_data/sol0125_naltsos.h5
      pixlspec fit example_data/sol0125_naltsos.h5 --out fit-sum/
      pixlspec quant example_data/sol0125_naltsos.h5
      pixlspec map example_data/sol0125_naltsos.h5 --out maps/ --rgb Fe,Ca,S
      pixlspec salts scan.h5 --out salts/
      pixlspec COMMAND --help
    """
    # the command line only writes figure files: a non-interactive backend for this process
    # (the library itself never selects one; an explicit MPLBACKEND wins)
    os.environ.setdefault("MPLBACKEND", "Agg")
    state = CLIState(verbosity=verbose - quiet, debug=debug)
    ctx.obj = state
    level = (logging.DEBUG if debug or state.verbosity >= 2 else logging.INFO if state.verbosity == 1
             else logging.WARNING if state.verbosity == 0 else logging.ERROR)
    _configure_logging(level)


class _CLIHandler(logging.StreamHandler):
    """The log handler ``pixlspec`` installs on the ``pixlspec`` logger (one at a time)."""


def _configure_logging(level: int) -> None:
    """Send ``pixlspec`` log records of ``level`` and above to the current stderr."""
    # Python warnings go through logging too, so -q silences them like the log messages
    logging.captureWarnings(True)
    for name in ("pixlspec", "py.warnings"):
        logger = logging.getLogger(name)
        for h in [h for h in logger.handlers if isinstance(h, _CLIHandler)]:
            logger.removeHandler(h)
        handler = _CLIHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s" if name == "pixlspec"
                                               else "%(levelname)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(level)
        if name == "py.warnings":
            logger.propagate = False
