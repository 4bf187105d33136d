"""Quantification: fundamental parameters, standards calibration, detection limits.

Submodules: :mod:`~pixlspec.quant.fp` (forward model), :mod:`~pixlspec.quant.kernels`
(numba), :mod:`~pixlspec.quant.quantify` (inverse, :class:`Composition`,
:class:`CompositionMap`), :mod:`~pixlspec.quant.calibration` (standards,
:class:`Calibration`), :mod:`~pixlspec.quant.standards` (reference materials),
:mod:`~pixlspec.quant.solver` (the iteration). The tube's scattered lines for simulation are
:mod:`pixlspec.simulate.scatter`.
"""
