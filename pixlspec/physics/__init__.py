"""X-ray physics for pixlspec: elements, lines, edges, attenuation, tube, detector, oxides.

All data come from xraydb (Elam et al. 2002 tables), which is imported on first
use only, so importing this package is cheap. Every lookup is cached once per
process. Equations and check values: ``shared/science/physics.md``.
"""
from __future__ import annotations

from .attenuation import (COMPOSITION_MAX_TOTAL_WT, ELAM_MAX_ENERGY_EV, ELAM_MIN_ENERGY_EV, MU_KINDS, density,
                          mass_attenuation, parse_composition, parse_formula, photo_absorption, transmission)
from .detector import (ATMOSPHERES, BE_DENSITY_G_CM3, FWHM_PER_SIGMA, ME_C2_EV, MN_KA_EV, SI_DENSITY_G_CM3,
                       SI_ESCAPE_KB_FRACTION, SI_FANO_DEFAULT, SI_K_EDGE_EV, SI_KA_ESCAPE_EV, SI_KB_ESCAPE_EV,
                       SI_PAIR_ENERGY_EV, compton_energy_eV, detector_efficiency, escape_probability, fwhm_eV,
                       gas_density_g_cm3, gas_transmission, noise_from_fwhm_at_mnka, scattering_angle_deg,
                       sigma_eV)
from .edges import SHELLS, Edge, coster_kronig, edge, fluorescence_yield, jump_ratio, subshell_vacancies
from .elements import ELEMENT_SYMBOLS, atomic_mass, atomic_number, check_element, element_symbol
from .lines import (DEFAULT_EXCITATION_EV, K_LINE_NAMES, LINE_INTENSITY_MIN, MAX_Z_LINES, MIN_Z_LINES, LineGroup,
                    default_shell, group_name, line_group, parse_group_name, tube_lines)
from .oxides import (FE_OXIDES, OXIDES, element_of, elements_to_oxides, oxide_factor, oxide_of,
                     oxides_to_elements)
from .tube import (EbelConstants, TubeSpectrum, ebel_backscatter_factor, ebel_constants, ebel_continuum,
                   ebel_line_factor, ebel_rho_z_bar, ebel_self_absorption, ebel_transmission_factor,
                   kramers_spectrum, tube_spectrum)

__all__ = [
    # elements
    "ELEMENT_SYMBOLS", "atomic_number", "element_symbol", "atomic_mass", "check_element",
    # lines
    "LineGroup", "line_group", "parse_group_name", "group_name", "default_shell", "tube_lines",
    "LINE_INTENSITY_MIN", "K_LINE_NAMES", "MIN_Z_LINES", "MAX_Z_LINES", "DEFAULT_EXCITATION_EV",
    # edges
    "Edge", "SHELLS", "edge", "fluorescence_yield", "jump_ratio", "coster_kronig", "subshell_vacancies",
    # attenuation
    "parse_composition", "parse_formula", "mass_attenuation", "photo_absorption", "transmission", "density",
    "MU_KINDS", "ELAM_MIN_ENERGY_EV", "ELAM_MAX_ENERGY_EV", "COMPOSITION_MAX_TOTAL_WT",
    # tube
    "TubeSpectrum", "EbelConstants", "tube_spectrum", "ebel_constants", "ebel_rho_z_bar", "ebel_self_absorption",
    "ebel_transmission_factor", "ebel_continuum", "ebel_line_factor", "ebel_backscatter_factor",
    "kramers_spectrum",
    # detector
    "FWHM_PER_SIGMA", "SI_PAIR_ENERGY_EV", "SI_FANO_DEFAULT", "SI_KA_ESCAPE_EV", "SI_KB_ESCAPE_EV",
    "SI_K_EDGE_EV", "SI_ESCAPE_KB_FRACTION", "ME_C2_EV", "MN_KA_EV", "SI_DENSITY_G_CM3", "BE_DENSITY_G_CM3",
    "ATMOSPHERES", "fwhm_eV", "sigma_eV", "noise_from_fwhm_at_mnka", "detector_efficiency",
    "escape_probability", "gas_density_g_cm3", "gas_transmission", "compton_energy_eV", "scattering_angle_deg",
    # oxides
    "OXIDES", "FE_OXIDES", "oxide_factor", "oxide_of", "element_of", "oxides_to_elements", "elements_to_oxides",
]
