"""The ``pixlspec`` command line.

Commands::

    pixlspec demo [--out DIR]               the whole path on the example data, with a report
    pixlspec info FILE...                   what scan files / PIXL products hold
    pixlspec convert INPUT... -o scan.h5    PIXL products -> one HDF5 scan file
    pixlspec fit INPUT [--point N]          fit one spectrum (or a scan's sum spectrum)
    pixlspec quant INPUT                    oxide wt% ± 1σ, LOD and total of one spectrum or a scan sum
    pixlspec map INPUT --out DIR            element map PNGs (and RGB composites) of a scan or results file
    pixlspec salts INPUT                    salt detections and phase map of a scan or results file
    pixlspec rank INPUT...                  sample-candidate ranking of several scans / results files
    pixlspec simulate OUTPUT                a spectrum or scan with known truth (MSA / HDF5 + truth)
    pixlspec batch INPUT... --out DIR       element maps of many scans (resumable, parallel)
    pixlspec export RESULTS --format F -o P PIQUANT map CSV, per-point CSV, TIFF images or MSA sum spectra
    pixlspec compare A B                    per-oxide bias and scatter of two composition maps (by PMC)

The package is thin: it parses options, calls the library (most often
:mod:`pixlspec.pipeline`) and renders the result. ``app`` holds the command
group, exit codes and logging; ``common`` the option parsing shared by the
commands; ``render`` the consoles, tables and progress bars; one module per
group of commands: ``data`` (info, convert, export, compare), ``spectra``
(fit, quant), ``maps`` (map, batch, diffraction), ``minerals`` (salts, rank),
``scenes`` (simulate, demo).

Adding a command: write one function decorated with ``@main.command()``
(and click options) in the module of its group, give it a docstring with an
``Example:`` block, and raise :class:`pixlspec.PixlspecError` on bad input.
Errors are handled in one place (:class:`pixlspec.cli.app.PixlspecGroup`): a
bad input prints one red line ``error: ...`` and exits with
:data:`EXIT_BAD_INPUT` (2), any other failure exits with :data:`EXIT_FAILURE`
(1); ``--debug`` adds the traceback. Import heavy modules inside the command
functions so ``pixlspec --help`` stays fast.
"""
from __future__ import annotations

from . import data, maps, minerals, scenes, spectra
from .app import (EXIT_BAD_INPUT, EXIT_BROKEN_PIPE, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED,
                  main)

#: The modules of the commands: importing one registers its commands on :func:`main`.
COMMAND_MODULES = (data, spectra, maps, minerals, scenes)

__all__ = ["main", "EXIT_OK", "EXIT_FAILURE", "EXIT_BAD_INPUT", "EXIT_INTERRUPTED",
           "EXIT_TERMINATED", "EXIT_BROKEN_PIPE"]
