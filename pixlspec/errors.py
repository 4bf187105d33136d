"""Exceptions raised by pixlspec on bad input.

Every error that pixlspec raises because of its input is a subclass of
:class:`PixlspecError`, so callers can catch one class. Each carries the
file (``path``), the place in it (``where``: a line number, keyword or HDF5
dataset) and what was expected, and formats them into one readable line.
"""
from __future__ import annotations

import os

__all__ = [
    "PixlspecError",
    "FormatError",
    "MSAFormatError",
    "CSVFormatError",
    "HDF5FormatError",
    "ConfigError",
    "UnknownElementError",
    "CompositionError",
    "SpectrumError",
    "FitError",
]


class PixlspecError(Exception):
    """Base class of every error pixlspec raises on bad input.

    Parameters
    ----------
    message : str
        What is wrong and what was expected.
    path : str or os.PathLike, optional
        The file concerned.
    where : str or int, optional
        The place in the file: a line number (int), a keyword or a dataset.
    """

    def __init__(self, message: str, *, path: str | os.PathLike | None = None,
                 where: str | int | None = None):
        self.message = message
        self.path = os.fspath(path) if path is not None else None
        self.where = where
        super().__init__(self._format())

    def _format(self) -> str:
        parts = []
        if self.path is not None:
            parts.append(str(self.path))
        if self.where is not None:
            parts.append(f"line {self.where}" if isinstance(self.where, int) else str(self.where))
        prefix = ": ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message


class FormatError(PixlspecError):
    """A file does not follow the format it claims (base of the format errors)."""


class MSAFormatError(FormatError):
    """Malformed EMSA/MSA spectrum or PIQUANT configuration file."""


class CSVFormatError(FormatError):
    """Malformed PIXL PDS-style CSV product (RFS, RXL, ...)."""


class HDF5FormatError(FormatError):
    """An HDF5 file lacks a dataset or holds one of the wrong shape or type."""


class ConfigError(PixlspecError):
    """An instrument or fit configuration is invalid."""


class UnknownElementError(PixlspecError, KeyError):
    """An element symbol or line-group name is not known."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return self._format()


class CompositionError(PixlspecError):
    """A composition (formula or wt% dictionary) cannot be parsed or is unphysical."""


class SpectrumError(PixlspecError):
    """A spectrum is unusable: NaN or negative counts, zero live time, bad calibration."""


class FitError(PixlspecError):
    """A fit cannot be set up or run with the given spectrum and elements."""
