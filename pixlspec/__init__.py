"""pixlspec: X-ray fluorescence spectra of PIXL, the X-ray instrument of Mars 2020.

Read PIXL files, fit spectra, map elements across scans, quantify oxide wt%,
find salts and rank sample candidates. The public API is re-exported here;
submodules are imported on first use so ``import pixlspec`` stays fast (no
numba compilation, no X-ray database load at import).
"""
from __future__ import annotations

import importlib
import importlib.metadata as _metadata
import os

#: OpenMP threads of the numba kernels sleep when idle instead of GNU OpenMP's default
#: spin-then-yield: between parallel kernels the process runs single-threaded Python (the
#: nonlinear fit), and spinning threads took the second core from it (a map fit ran ~15 %
#: slower on 2 cores). Set before the OpenMP runtime starts; an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .cache import configure_numba_cache

#: Compiled kernels are cached in the user cache directory, never inside the install.
configure_numba_cache()

from .errors import (CompositionError, ConfigError, CSVFormatError, FitError, FormatError,
                     HDF5FormatError, MSAFormatError, PixlspecError, SpectrumError, UnknownElementError)
from .instrument import Detector, Instrument, Optic, Tube
from .spectrum import Scan, Spectrum

try:  # one source for the version: the installed distribution's metadata (pyproject.toml)
    __version__ = _metadata.version("pixlspec")
except _metadata.PackageNotFoundError:  # a source tree on sys.path without an install
    __version__ = "0+unknown"

# public name -> module that defines it (imported lazily, PEP 562)
_LAZY = {
    "read_msa": "pixlspec.io.msa",
    "write_msa": "pixlspec.io.msa",
    "read_msa_detectors": "pixlspec.io.msa",
    "read_rfs": "pixlspec.io.pixl_csv",
    "read_msa_folder": "pixlspec.io.pixl_csv",
    "read_piquant_config": "pixlspec.io.piquant",
    "open_scan": "pixlspec.io.hdf5",
    "write_scan": "pixlspec.io.hdf5",
    "read_scan": "pixlspec.io.convert",
    "fit_spectrum": "pixlspec.fit.single",
    "FitResult": "pixlspec.fit.result",
    "FitConfig": "pixlspec.config",
    "ROCK_ELEMENTS": "pixlspec.config",
    "VALENCE_KBETA_MIN_COUNTS": "pixlspec.config",
    "find_elements": "pixlspec.fit.detect",
    "fit_map": "pixlspec.fit.maps",
    "find_diffraction_peaks": "pixlspec.fit.diffraction",
    "DiffractionPeaks": "pixlspec.fit.diffraction",
    "ElementMaps": "pixlspec.element_maps",
    "plot_map": "pixlspec.plot_maps",
    "plot_rgb": "pixlspec.plot_maps",
    "read_maps": "pixlspec.io.results",
    "read_composition_map": "pixlspec.io.results",
    "read_results": "pixlspec.io.results",
    "read_piquant_map": "pixlspec.io.export",
    "read_piquant_maps": "pixlspec.io.export",
    "write_piquant_csv": "pixlspec.io.export",
    "compare_compositions": "pixlspec.io.export",
    "export_results": "pixlspec.pipeline",
    "read_pymca_config": "pixlspec.io.pymca_cfg",
    "read_context_image": "pixlspec.io.context",
    "read_context_images": "pixlspec.io.context",
    "ContextImage": "pixlspec.io.context",
    "plot_context_maps": "pixlspec.plot_maps",
    "run_batch": "pixlspec.batch",
    "quantify": "pixlspec.quant.quantify",
    "quantify_map": "pixlspec.quant.quantify",
    "Composition": "pixlspec.composition",
    "CompositionMap": "pixlspec.composition",
    "calibrate": "pixlspec.quant.calibration",
    "Calibration": "pixlspec.quant.calibration",
    "read_piquant_calibration": "pixlspec.quant.piquant_calibration",
    "load_calibration": "pixlspec.quant.calibration",
    "FPModel": "pixlspec.quant.fp",
    "fp_intensities": "pixlspec.quant.fp",
    "reference_material": "pixlspec.quant.standards",
    "reference_materials": "pixlspec.quant.standards",
    "simulate_spectrum": "pixlspec.simulate",
    "simulate_scan": "pixlspec.simulate",
    "LineGroup": "pixlspec.physics.lines",
    "line_group": "pixlspec.physics.lines",
    "identify_salts": "pixlspec.minerals.salts",
    "Detection": "pixlspec.minerals.salts",
    "SaltDetections": "pixlspec.minerals.salts",
    "classify_points": "pixlspec.minerals.classify",
    "PhaseMap": "pixlspec.minerals.classify",
    "rank_sample_candidates": "pixlspec.minerals.candidates",
    "Candidate": "pixlspec.minerals.candidates",
    "cluster_map": "pixlspec.minerals.cluster",
    "pca_map": "pixlspec.minerals.cluster",
    "CompositionTable": "pixlspec.minerals.table",
    "EndMember": "pixlspec.minerals.endmembers",
    "get_endmember": "pixlspec.minerals.endmembers",
    "formula_oxides": "pixlspec.minerals.endmembers",
    "plot_phase_map": "pixlspec.plot_minerals",
    "plot_ternary": "pixlspec.plot_minerals",
    "plot_correlation": "pixlspec.plot_minerals",
}

__all__ = [
    "__version__", "PixlspecError", "FormatError", "MSAFormatError", "CSVFormatError", "HDF5FormatError",
    "ConfigError", "UnknownElementError", "CompositionError", "SpectrumError", "FitError",
    "Instrument", "Tube", "Optic", "Detector", "Spectrum", "Scan", *_LAZY,
]


def __getattr__(name: str):
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'pixlspec' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
