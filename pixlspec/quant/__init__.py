"""Quantification: fundamental parameters, standards calibration, detection limits.

Submodules: :mod:`~pixlspec.quant.fp` (forward model), :mod:`~pixlspec.quant.kernels`
(numba), :mod:`~pixlspec.quant.quantify` (inverse, :class:`Composition`,
:class:`CompositionMap`), :mod:`~pixlspec.quant.calibration` (standards,
:class:`Calibration`), :mod:`~pixlspec.quant.standards` (reference materials),
:mod:`~pixlspec.quant.scatter` (Rayleigh/Compton for simulation).
"""
