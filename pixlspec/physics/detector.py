"""Silicon drift detector response and the gas path: resolution, efficiency,
Si escape, atmosphere density/transmission, Compton kinematics and geometry.

Equations and check values: physics.md §1 (resolution), §3 (escape),
§5 (Compton, scattering angle), §7 (efficiency, Mars CO2).
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError
from .attenuation import checked_energies, mass_attenuation
from .edges import edge

__all__ = [
    "FWHM_PER_SIGMA", "SI_PAIR_ENERGY_EV", "SI_FANO_DEFAULT", "SI_KA_ESCAPE_EV", "SI_KB_ESCAPE_EV",
    "SI_K_EDGE_EV", "SI_ESCAPE_KB_FRACTION", "ME_C2_EV", "MN_KA_EV", "SI_DENSITY_G_CM3",
    "BE_DENSITY_G_CM3", "GAS_CONSTANT_J_MOL_K", "ATMOSPHERES",
    "fwhm_eV", "sigma_eV", "noise_from_fwhm_at_mnka", "detector_efficiency", "escape_probability",
    "gas_density_g_cm3", "gas_transmission", "compton_energy_eV", "scattering_angle_deg",
]

#: FWHM / sigma of a Gaussian, 2 sqrt(2 ln 2).
FWHM_PER_SIGMA: float = 2.0 * math.sqrt(2.0 * math.log(2.0))
#: Mean energy per electron-hole pair in Si (eV), PyMca convention (Solé et al. 2007,
#: Spectrochim. Acta B 62:63); the physical value is ~3.66 eV, only eps*F matters (physics.md §1).
SI_PAIR_ENERGY_EV: float = 3.85
#: Default Fano factor of Si used with SI_PAIR_ENERGY_EV (physics.md §1 check table).
SI_FANO_DEFAULT: float = 0.114
#: Si Ka escape energy: intensity-weighted Si Ka1/Ka2 energy (xraydb 4.5.8 xray_lines; physics.md §3).
SI_KA_ESCAPE_EV: float = 1739.5994675443242
#: Si Kb escape energy: intensity-weighted Si Kb1/Kb3 (xraydb 4.5.8).
SI_KB_ESCAPE_EV: float = 1837.0
#: Si K absorption edge (xraydb 4.5.8); no escape below it.
SI_K_EDGE_EV: float = 1839.0
#: Fraction of Si K escape going to Kb: xraylib's Si radiative rates, Kb/(Ka + Kb) = 0.0270
#: (Si K-M2,3 against K-L2,3; physics.md §3 quotes 0.02-0.05 measured). Elam's 0.113 is too high.
SI_ESCAPE_KB_FRACTION: float = 0.0270
#: Electron rest energy (eV), CODATA 2018.
ME_C2_EV: float = 510998.95
#: Mn Ka1 energy (eV) at which detector resolution is specified (xraydb 4.5.8; physics.md §1).
MN_KA_EV: float = 5900.3
#: Density of crystalline Si (g/cm³), physics.md §7 / xraydb.
SI_DENSITY_G_CM3: float = 2.329
#: Density of Be (g/cm³), xraydb default, physics.md §7.
BE_DENSITY_G_CM3: float = 1.85
#: Molar gas constant (J/(mol K)), CODATA 2018 exact.
GAS_CONSTANT_J_MOL_K: float = 8.314462618
_UM_PER_CM = 1e4
_KG_M3_PER_G_CM3 = 1000.0
_STANDARD_ATMOSPHERE_PA = 101325.0  # 1 atm (exact, definition)
_ROOM_TEMPERATURE_K = 293.15       # 20 degC

# Atmospheres: name -> (composition for mu/rho, molar mass kg/mol, default P (Pa), default T (K)).
# Mars: pure CO2 (95 % CO2 in reality; the rest N2/Ar absorbs similarly), M = 0.0440095 kg/mol,
# 650 Pa and 220 K (physics.md §7). He: M = 4.002602 g/mol (IUPAC). Air: dry air by mass
# (NIST XCOM "Air, dry (near sea level)": C 0.000124, N 0.755268, O 0.231781, Ar 0.012827),
# M = 28.9647 g/mol (U.S. Standard Atmosphere 1976).
ATMOSPHERES: dict[str, tuple[object, float, float, float] | None] = {
    "Mars": ("CO2", 0.0440095, 650.0, 220.0),
    "He": ("He", 0.004002602, _STANDARD_ATMOSPHERE_PA, _ROOM_TEMPERATURE_K),
    "Air": ({"C": 0.0124, "N": 75.5268, "O": 23.1781, "Ar": 1.2827}, 0.0289647,
            _STANDARD_ATMOSPHERE_PA, _ROOM_TEMPERATURE_K),
    "Vac": None,
}
_ATMOSPHERE_ALIASES = {"mars": "Mars", "co2": "Mars", "he": "He", "helium": "He", "air": "Air",
                       "earth": "Air", "vac": "Vac", "vacuum": "Vac", "none": "Vac"}


def _as_float_or_array(x):
    return float(x) if np.ndim(x) == 0 else x


def _energy(energy_eV) -> np.ndarray:
    return checked_energies(energy_eV, "detector")


def _nonneg(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}", where="detector") from None
    if not math.isfinite(v) or v < 0:
        raise ConfigError(f"{name} must be finite and >= 0, got {value!r}", where="detector")
    return v


# --------------------------------------------------------------------------- resolution
def fwhm_eV(energy_eV, noise_eV, fano: float = SI_FANO_DEFAULT, pair_energy_eV: float = SI_PAIR_ENERGY_EV):
    """Detector FWHM (eV): ``sqrt(N² + 2.3548² · eps · F · E)`` (physics.md §1).

    Parameters
    ----------
    energy_eV : float or array_like
        Photon energy (negative energies are treated as 0).
    noise_eV : float
        Electronic-noise FWHM N.
    fano : float
        Fano factor F.
    pair_energy_eV : float
        Energy per electron-hole pair eps.

    Returns
    -------
    float or ndarray
    """
    e = np.maximum(_energy(energy_eV), 0.0)
    n = _nonneg("noise_eV", noise_eV)
    f = _nonneg("fano", fano)
    eps = _nonneg("pair_energy_eV", pair_energy_eV)
    return _as_float_or_array(np.sqrt(n * n + FWHM_PER_SIGMA ** 2 * eps * f * e))


def sigma_eV(energy_eV, noise_eV, fano: float = SI_FANO_DEFAULT, pair_energy_eV: float = SI_PAIR_ENERGY_EV):
    """Gaussian sigma (eV) of the detector response: :func:`fwhm_eV` / 2.3548."""
    return _as_float_or_array(np.asarray(fwhm_eV(energy_eV, noise_eV, fano, pair_energy_eV)) / FWHM_PER_SIGMA)


def noise_from_fwhm_at_mnka(fwhm_mnka_eV: float, fano: float = SI_FANO_DEFAULT,
                            pair_energy_eV: float = SI_PAIR_ENERGY_EV) -> float:
    """Electronic-noise FWHM N (eV) that gives ``fwhm_mnka_eV`` at Mn Ka (5900.3 eV).

    physics.md §1: 150 eV with eps = 3.85, F = 0.114 -> N = 90.2 eV.

    Raises
    ------
    ConfigError
        If the requested FWHM is below the Fano limit at Mn Ka.
    """
    fw = _nonneg("fwhm_mnka_eV", fwhm_mnka_eV)
    fano_term_sq = FWHM_PER_SIGMA ** 2 * _nonneg("pair_energy_eV", pair_energy_eV) * _nonneg("fano", fano) * MN_KA_EV
    if fw * fw < fano_term_sq:
        raise ConfigError(f"FWHM {fw} eV at Mn Ka is below the Fano limit {math.sqrt(fano_term_sq):.1f} eV",
                          where="detector")
    return math.sqrt(fw * fw - fano_term_sq)


# --------------------------------------------------------------------------- efficiency
def detector_efficiency(energy_eV, be_window_um: float, si_thickness_um: float, dead_layer_um: float = 0.0):
    """Intrinsic efficiency ``T_Be · T_dead · (1 − exp(−mu_Si rho_Si t_Si))`` (physics.md §7).

    Parameters
    ----------
    energy_eV : float or array_like
        Photon energies (eV); below 100 eV the 100 eV attenuation is used.
    be_window_um : float
        Be entrance window thickness (µm), density 1.85 g/cm³.
    si_thickness_um : float
        Active Si thickness (µm), density 2.329 g/cm³.
    dead_layer_um : float
        Si dead layer (µm).

    Returns
    -------
    float or ndarray
        Probability that a photon reaching the window is absorbed in the active Si.
        Gas path: multiply by :func:`gas_transmission`.
    """
    e = _energy(energy_eV)
    be_cm = _nonneg("be_window_um", be_window_um) / _UM_PER_CM
    si_cm = _nonneg("si_thickness_um", si_thickness_um) / _UM_PER_CM
    dead_cm = _nonneg("dead_layer_um", dead_layer_um) / _UM_PER_CM
    mu_be = np.asarray(mass_attenuation("Be", e)) if be_cm > 0 else 0.0
    mu_si = np.asarray(mass_attenuation("Si", e))
    eff = (np.exp(-mu_be * BE_DENSITY_G_CM3 * be_cm - mu_si * SI_DENSITY_G_CM3 * dead_cm)
           * -np.expm1(-mu_si * SI_DENSITY_G_CM3 * si_cm))
    return _as_float_or_array(eff)


def escape_probability(energy_eV):
    """Si K escape probability (fraction of absorbed photons), Reed & Ware 1972.

    ``P = 0.5 ω_K (1 − 1/r_K) [1 − (μ_K/μ_I) ln(1 + μ_I/μ_K)]``, normal
    incidence, semi-infinite Si (physics.md §3); μ_I = μ_Si(E), μ_K =
    μ_Si(Si Ka), ω_K and r_K of xraylib (:mod:`.edges`). Zero at and below the Si K edge (1839 eV).
    Check: 6400 eV -> 0.003175 (0.002700 with Elam's ω_K 0.0429). Split Ka/Kb with :data:`SI_ESCAPE_KB_FRACTION`.

    Parameters
    ----------
    energy_eV : float or array_like

    Returns
    -------
    float or ndarray
    """
    e = _energy(energy_eV)
    si_k = edge("Si", "K")
    mu_k = mass_attenuation("Si", SI_KA_ESCAPE_EV)
    mu_i = np.asarray(mass_attenuation("Si", e))
    ratio = mu_k / mu_i
    p = 0.5 * si_k.fluorescence_yield * (1.0 - 1.0 / si_k.jump_ratio) * (1.0 - ratio * np.log1p(1.0 / ratio))
    return _as_float_or_array(np.where(e > si_k.energy_eV, p, 0.0))


# --------------------------------------------------------------------------- gas path
def _atmosphere(atmosphere: str) -> str:
    if not isinstance(atmosphere, str) or atmosphere.strip().lower() not in _ATMOSPHERE_ALIASES:
        raise ConfigError(f"unknown atmosphere {atmosphere!r}; expected one of Mars, He, Air/Earth, Vac",
                          where="atmosphere")
    return _ATMOSPHERE_ALIASES[atmosphere.strip().lower()]


def gas_density_g_cm3(atmosphere: str, pressure_Pa: float | None = None, temperature_K: float | None = None) -> float:
    """Ideal-gas density ``P M / (R T)`` (g/cm³) of an atmosphere (physics.md §7).

    Parameters
    ----------
    atmosphere : {"Mars", "He", "Air", "Earth", "Vac"}
        Case-insensitive. Mars = CO2 (650 Pa, 220 K -> 1.564e-5 g/cm³);
        He and Air/Earth at 1 atm, 293.15 K; Vac -> 0.
    pressure_Pa, temperature_K : float, optional
        Override the defaults.

    Raises
    ------
    ConfigError
        Unknown atmosphere, negative pressure or non-positive temperature.
    """
    name = _atmosphere(atmosphere)
    spec = ATMOSPHERES[name]
    if spec is None:
        return 0.0
    _, molar_kg, p0, t0 = spec
    p = p0 if pressure_Pa is None else _nonneg("pressure_Pa", pressure_Pa)
    t = t0 if temperature_K is None else _nonneg("temperature_K", temperature_K)
    if t <= 0:
        raise ConfigError(f"temperature_K must be > 0, got {temperature_K!r}", where="atmosphere")
    return p * molar_kg / (GAS_CONSTANT_J_MOL_K * t) / _KG_M3_PER_G_CM3


def gas_transmission(energy_eV, atmosphere: str, path_cm: float, pressure_Pa: float | None = None,
                     temperature_K: float | None = None):
    """Transmission of a gas path (physics.md §7: CO2 1.564e-5 g/cm³, 25 mm: Na Ka 0.8708).

    Parameters
    ----------
    energy_eV : float or array_like
    atmosphere : str
        See :func:`gas_density_g_cm3`.
    path_cm : float
        Path length (cm).
    pressure_Pa, temperature_K : float, optional

    Returns
    -------
    float or ndarray
    """
    e = _energy(energy_eV)
    name = _atmosphere(atmosphere)
    path = _nonneg("path_cm", path_cm)
    rho = gas_density_g_cm3(name, pressure_Pa, temperature_K)
    if rho == 0.0 or path == 0.0:
        return _as_float_or_array(np.ones_like(e))
    mu = np.asarray(mass_attenuation(ATMOSPHERES[name][0], e))
    return _as_float_or_array(np.exp(-mu * rho * path))


# --------------------------------------------------------------------------- scattering
def compton_energy_eV(energy_eV, angle_deg):
    """Compton-scattered photon energy ``E / (1 + E/mc² (1 − cos θ))`` (eV).

    Rh Ka1 20216 eV at 160° -> 18775.2 eV (physics.md §5).
    """
    e = _energy(energy_eV)
    theta = np.radians(np.asarray(angle_deg, dtype=np.float64))
    return _as_float_or_array(e / (1.0 + e / ME_C2_EV * (1.0 - np.cos(theta))))


def scattering_angle_deg(incidence_deg: float = 90.0, elevation_deg: float = 70.0,
                         azimuth_deg: float = 180.0) -> float:
    """Scattering angle θ (deg) between the incident beam and the detected photon.

    Sample surface = xy plane, normal +z. The beam arrives at ``incidence_deg``
    from the surface in the xz plane, propagating along
    ``k_in = (cos ψ1, 0, −sin ψ1)``. The detector sits at elevation ψ2 above the
    surface and azimuth φ measured from the source side (φ = 180° puts
    detector and source on opposite sides of the normal, PIQUANT's
    ``#AZIMANGLE`` default): ``k_out = (−cos ψ2 cos φ, −cos ψ2 sin φ, sin ψ2)``.
    ``θ = arccos(k_in · k_out)``. Normal incidence, 70° elevation -> 160°;
    45°/45°/180° -> 90°.

    Raises
    ------
    ConfigError
        Angles outside (0, 90] for incidence or elevation.
    """
    for name, val in (("incidence_deg", incidence_deg), ("elevation_deg", elevation_deg)):
        if not 0.0 < float(val) <= 90.0:
            raise ConfigError(f"{name} must be in (0, 90], got {val!r}", where="geometry")
    p1, p2, az = (math.radians(float(v)) for v in (incidence_deg, elevation_deg, azimuth_deg))
    k_in = np.array([math.cos(p1), 0.0, -math.sin(p1)])
    k_out = np.array([-math.cos(p2) * math.cos(az), -math.cos(p2) * math.sin(az), math.sin(p2)])
    return math.degrees(math.acos(float(np.clip(k_in @ k_out, -1.0, 1.0))))
