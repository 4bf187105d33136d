"""Where the composition maps of the minerals accuracy tests come from: ``COMPOSITION_SOURCE`` (one line;
swap it for a function that simulates spectra from ``scene.element_wt()``, fits and quantifies them)."""

from __future__ import annotations


def measured_composition(scene, seed):
    """Composition level: end-member mixtures + noise (4 % relative, 0.2 wt% absolute, 2 % roughness)."""
    return scene.measure(seed, rel_sigma=0.04, abs_sigma_wt=0.2, roughness=0.02)


#: Where the composition maps of the accuracy tests come from (swap for the spectra → fit → quantify chain).
COMPOSITION_SOURCE = measured_composition
