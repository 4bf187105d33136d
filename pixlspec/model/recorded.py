"""Model columns whose shape comes from the recorded spectrum itself: pile-up (the spectrum convolved with
itself) and the detector's incomplete-charge shelf (the photons recorded above each energy).

Both are unit-area shapes; the fit gives each one non-negative amplitude
(:class:`pixlspec.model.spectrum_model.SpectrumModel` reserves their columns).
"""
from __future__ import annotations

import numpy as np

__all__ = ["pileup_shape", "shelf_shape"]


def shelf_shape(counts: np.ndarray, energies_eV: np.ndarray, min_energy_eV: float = 0.0) -> np.ndarray:
    """Unit-area incomplete-charge shelf of a recorded spectrum.

    A photon of energy E' whose charge is partly lost (in the entrance dead
    layer and at the detector's edges) is recorded anywhere between ~0 and E'
    with nearly uniform probability (Campbell et al. 1997, X-Ray Spectrom.
    26:159; Scholze & Procop 2009, X-Ray Spectrom. 38:312: a flat shelf of
    ~1e-4 of the peak per keV). Summed over the spectrum, the shelf at E is
    proportional to the number of photons recorded above E: ``S(E) ∝ Σ_{E'>E}
    y(E') / E'`` (each photon spreads over E' eV). Channels below
    ``min_energy_eV`` (noise) are not a source. The result is ≥ 0 and never
    zero below the highest count.
    """
    y = np.where(np.asarray(energies_eV) >= max(min_energy_eV, 0.0), np.maximum(counts, 0.0), 0.0)
    e = np.maximum(np.asarray(energies_eV, dtype=float), 1.0)
    density = y / e
    # photons above each channel: reverse cumulative sum, excluding the channel itself
    above = np.concatenate([np.cumsum(density[::-1])[::-1][1:], [0.0]])
    total = above.sum()
    return above / total if total > 0 else above


def pileup_shape(net_counts: np.ndarray, offset_eV: float, gain_eV_per_channel: float,
                 min_energy_eV: float = 0.0) -> np.ndarray:
    """Unit-area pile-up spectrum from the self-convolution of a net spectrum.

    Two photons of energies E1, E2 sum to E1 + E2: in channels
    ``ch = ch1 + ch2 + offset/gain`` (physics.md §4, option 1). Channels below
    ``min_energy_eV`` are left out of the source (noise, not photons).
    """
    from scipy.signal import fftconvolve

    n = net_counts.size
    ch = np.arange(n)
    e = offset_eV + gain_eV_per_channel * ch
    src = np.where(e >= max(min_energy_eV, 0.0), np.maximum(net_counts, 0.0), 0.0)
    if src.sum() <= 0:
        return np.zeros(n)
    conv = fftconvolve(src, src)[: 2 * n]
    conv = np.maximum(conv, 0.0)
    # conv[k] sits at energy 2*offset + gain*k; resample to this spectrum's channels
    e_conv = 2 * offset_eV + gain_eV_per_channel * np.arange(conv.size)
    out = np.interp(e, e_conv, conv, left=0.0, right=0.0)
    total = out.sum()
    return out / total if total > 0 else out
