"""The excitation bins of the FP (pixlspec.quant.excitation)."""
from __future__ import annotations

import numpy as np
import pytest

from pixlspec.quant.excitation import Excitation, edge_aligned_bins


def test_edge_aligned_bins_split_the_uniform_bins_exactly():
    """Rebinning a continuum of linear density: the photons are conserved, every new bin holds the integral
    of the density over its range at its mean energy, a bin ends at every given boundary in range, none is
    wider than asked, and tube lines pass through."""
    step, a, b = 10.0, 3.0, 1e-3
    centres = 1000.0 + step * (np.arange(500) + 0.5)
    # uniform bins of a linear density a + b E hold its integral over the bin
    photons = step * (a + b * centres)
    exc = Excitation(energy_eV=np.r_[centres, 2696.0], photons_per_s=np.r_[photons, 7.0], n_continuum=500,
                     step_eV=step)
    edges = [1839.0, 2472.0, 5500.0]  # the last one is outside the range
    out = edge_aligned_bins(exc, edges, 0.05)
    nc = out.n_continuum
    assert out.energy_eV[nc:].tolist() == [2696.0] and out.photons_per_s[nc:].tolist() == [7.0]
    assert np.sum(out.photons_per_s[:nc]) == pytest.approx(np.sum(photons), rel=1e-12)
    # reconstruct each bin's range from the cumulative photons and check it against the density
    cum = np.r_[0.0, np.cumsum(out.photons_per_s[:nc])]
    F = lambda e: a * (e - 1000.0) + 0.5 * b * (e ** 2 - 1000.0 ** 2)   # noqa: E731
    grid = np.linspace(1000.0, 6000.0, 500001)
    bounds = np.interp(cum, F(grid), grid)
    for e in edges[:2]:
        assert np.min(np.abs(bounds - e)) < 0.01   # a bin ends at each edge (bins are > 20 eV wide)
    assert np.all(np.diff(bounds) / bounds[:-1] <= 0.05 + 1e-4)
    mean = (a * 0.5 * (bounds[1:] ** 2 - bounds[:-1] ** 2) + b / 3 * (bounds[1:] ** 3 - bounds[:-1] ** 3)) / \
        np.diff(cum)
    # (each uniform bin is taken as evenly filled: against the linear density that is 1e-6 of E at most)
    np.testing.assert_allclose(out.energy_eV[:nc], mean, rtol=1e-5)


@pytest.mark.parametrize("edges", [[3000.0, np.nextafter(3000.0, 4000.0)], [5000.0, 5000.0 + 1e-10],
                                   [1000.0 + 1e-9], [5999.999999], [2000.0, 2000.0, 2000.0005]])
def test_edge_aligned_bins_make_no_slivers(edges):
    """Boundaries closer than MIN_BIN_RELATIVE_WIDTH (or at the grid's ends) make no bin of rounding noise:
    energies ascend, each inside the range, the photons conserved."""
    step = 10.0
    centres = 1000.0 + step * (np.arange(500) + 0.5)
    photons = step * (3.0 + 1e-3 * centres)
    exc = Excitation(energy_eV=centres, photons_per_s=photons, n_continuum=500, step_eV=step)
    out = edge_aligned_bins(exc, edges, 0.02)
    e = out.energy_eV
    assert np.all(np.diff(e) > 0) and e[0] > 1000.0 and e[-1] < 6000.0
    assert np.sum(out.photons_per_s) == pytest.approx(np.sum(photons), rel=1e-12)
    assert out.photons_per_s.min() > 1e-3 * np.median(out.photons_per_s)
