"""Forward simulation of PIXL spectra and scans with known truth.

* :mod:`~pixlspec.simulate.spectra`: one spectrum from areas or from a composition
  (the FP model of :mod:`pixlspec.quant.fp` for the fluorescence,
  :mod:`~pixlspec.simulate.scatter` for the tube's scattered lines), with the fit's
  own spectrum model, a physical continuum, pile-up and Poisson counts;
* :mod:`~pixlspec.simulate.scans`: scans whose areas or compositions vary from
  point to point (and diffraction peaks in one detector);
* :mod:`~pixlspec.simulate.scenes`: the example scene of the demo (a basalt with a
  Ca-sulfate vein, halite grains and a carbonate patch) with its truth table.

The truth travels with the data: ``spectrum.metadata["truth"]`` for spectra,
``scan.point_metadata["truth_<group>"]`` for scans. (Composition scenes made of
mineral end-members, without spectra, are :func:`pixlspec.minerals.make_salt_scene`.)
"""
from __future__ import annotations

from .scans import simulate_scan, write_point_truth_csv
from .spectra import (BASALT_FRACTIONS, DEFAULT_CONTINUUM_FRACTION, basalt_areas, composition_areas,
                      continuum_shape, expected_counts, simulate_spectrum)

__all__ = ["simulate_spectrum", "simulate_scan", "write_point_truth_csv", "basalt_areas", "continuum_shape",
           "expected_counts", "composition_areas", "BASALT_FRACTIONS", "DEFAULT_CONTINUUM_FRACTION"]
