"""X-ray tube spectrum: Ebel model (continuum + characteristic lines), Kramers fallback.

Ebel H. (1999) X-Ray Spectrom. 28:255 "X-ray tube spectra"; equations,
constants and check values as restated in physics.md §8. Side-window
(reflection) anodes use Ebel's self-absorption factor f(chi); a negative
take-off angle selects a transmission (end-window) anode, modelled as a thin
anode foil (PIQUANT: 1.2 µm, pixl-formats.md §2) on the Be window.

Transmission variant (physics.md §8, "use the same generation terms but
replace f(chi) by depth-resolved absorption exp(-mu (t - z)) averaged over
the generation depth distribution"): we take the depth distribution that
underlies Ebel's f(chi) itself, uniform in normal depth over
[0, 2 rho z_bar sin(phi)] (its mean is rho z_bar sin(phi), and its emerging
fraction in reflection is exactly f(chi)). The factor replacing f(chi) is

    g * exp(-a (t - D)) * (1 - exp(-a D)) / (a D),   a = mu / sin|eps|,
    D = min(2 rho z_bar sin(phi), t),   g = D / (2 rho z_bar sin(phi)),

where t is the foil mass thickness and g the fraction of generation that
happens inside the foil (if t < 2 rho z_bar sin phi the electrons reach the
Be substrate, whose bremsstrahlung, proportional to Z = 4, is neglected).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..errors import ConfigError, UnknownElementError
from .attenuation import density, mass_attenuation
from .edges import coster_kronig, edge
from .elements import atomic_mass, atomic_number, check_element, element_symbol
from .lines import K_LINE_NAMES, LINE_INTENSITY_MIN

__all__ = ["TubeSpectrum", "EbelConstants", "tube_spectrum", "ebel_constants", "ebel_rho_z_bar",
           "ebel_self_absorption", "ebel_transmission_factor", "ebel_continuum", "ebel_line_factor",
           "ebel_backscatter_factor", "kramers_spectrum", "EBEL_CONTINUUM_CONSTANT", "EBEL_C_K", "EBEL_C_L",
           "EBEL_ZB_K", "EBEL_ZB_L", "KRAMERS_CONSTANT", "TRANSMISSION_ANODE_THICKNESS_UM"]

# ---- Ebel 1999 constants (physics.md §8) ---------------------------------------------------
_J_PER_Z_KEV = 0.0135                       # mean ionisation energy J = 0.0135 Z keV
_ZM_A = 0.787e-5                            # rho z_m = (A/Z)(0.787e-5 sqrt(J) E0^1.5 + 0.735e-6 E0^2)
_ZM_B = 0.735e-6
_ETA_POLY = (0.1904, -0.2236, 0.1292, -0.01491)   # eta = E0^m * sum c_k (ln Z)^k
_M_A, _M_B = 0.1382, 0.9211                 # m = 0.1382 - 0.9211 / sqrt(Z)
_ZBAR_NUM = (0.49269, -1.0987, 0.78557)     # rho z_bar / rho z_m numerator coefficients in eta
_ZBAR_DEN = (0.70256, -1.09865, 1.0046)     # ... denominator (+ ln U0)
_X_A, _X_B, _X_C = 1.109, 0.00435, 0.00175  # x = 1.109 - 0.00435 Z + 0.00175 E0
_STOP_C = 16.05                             # stopping-power correction coefficient
_R_COEF = (1.0, -0.0081517, 3.613e-5, 0.009583, 0.001141)  # backscatter factor R
#: Continuum constant C_c, photons / (s sr mA keV) (Ebel 1999; physics.md §8).
EBEL_CONTINUUM_CONSTANT: float = 1.35e9
#: K-line constant, photons / (s sr mA); physics.md §8: ~6e13, Ebel quotes 5-6e13 (uncertain,
#: absorbed by calibration).
EBEL_C_K: float = 6.0e13
#: L-line constant, photons / (s sr mA); Ebel 1999 value as recalled, 6.9e13 (uncertain;
#: physics.md §8 notes L-line constants were revised in Ebel 2003).
EBEL_C_L: float = 6.9e13
#: z_K b_K = 2 x 0.35 and z_L b_L = 8 x 0.25 (electrons in shell x Ebel's b), physics.md §8.
EBEL_ZB_K: float = 2 * 0.35
EBEL_ZB_L: float = 8 * 0.25
#: Electrons per L subshell (L1, L2, L3) to split z_L b_L among subshells (2 + 2 + 4 = 8).
_L_OCCUPANCY = {"L1": 2, "L2": 2, "L3": 4}
_L_ELECTRONS = 8
#: Kramers constant K, photons / (s sr mA keV) (Kramers 1923; physics.md §8).
KRAMERS_CONSTANT: float = 1.35e9
#: PIQUANT's transmission-anode foil thickness (µm) for negative take-off angles (pixl-formats.md §2).
TRANSMISSION_ANODE_THICKNESS_UM: float = 1.2
_EV_PER_KEV = 1000.0
_UA_PER_MA = 1000.0
_UM_PER_CM = 1e4
_TINY = 1e-12  # below this 2 chi rho z_bar, f(chi) = 1 to machine precision


class EbelConstants(NamedTuple):
    """Electron-penetration constants of Ebel's model for one anode and voltage."""

    J_keV: float          #: mean ionisation energy
    m: float              #: exponent of E0 in eta
    eta: float            #: backscatter coefficient
    rho_zm_g_cm2: float   #: mass depth of maximum penetration
    x: float              #: continuum exponent
    A: float              #: atomic mass of the anode (g/mol)


def _anode_z(anode) -> int:
    if isinstance(anode, str):
        return atomic_number(anode)
    element_symbol(anode)  # validates
    return int(anode)


def ebel_constants(anode_z: int, voltage_keV: float) -> EbelConstants:
    """Ebel's penetration constants (physics.md §8).

    Rh, 28 kV: J = 0.6075 keV, m = 0.0009, eta = 0.3901, rho z_m = 3.396e-3
    g/cm², x = 0.9623.

    Parameters
    ----------
    anode_z : int or str
        Anode atomic number (or symbol).
    voltage_keV : float
        Tube voltage E0 (kV = keV for the electrons).
    """
    z = _anode_z(anode_z)
    try:
        e0 = float(voltage_keV)
    except (TypeError, ValueError):
        raise ConfigError(f"tube voltage must be a number, got {voltage_keV!r}", where="tube") from None
    if not e0 > 0 or not math.isfinite(e0):
        raise ConfigError(f"tube voltage must be > 0 kV, got {voltage_keV!r}", where="tube")
    return _ebel_constants(z, e0)


@functools.lru_cache(maxsize=None)
def _ebel_constants(z: int, e0: float) -> EbelConstants:
    a = atomic_mass(element_symbol(z))
    j = _J_PER_Z_KEV * z
    lnz = math.log(z)
    m = _M_A - _M_B / math.sqrt(z)
    eta = e0 ** m * sum(c * lnz ** k for k, c in enumerate(_ETA_POLY))
    rho_zm = (a / z) * (_ZM_A * math.sqrt(j) * e0 ** 1.5 + _ZM_B * e0 ** 2)
    x = _X_A - _X_B * z + _X_C * e0
    return EbelConstants(j, m, eta, rho_zm, x, a)


def ebel_rho_z_bar(anode_z, voltage_keV: float, energy_keV):
    """Mean generation depth rho z_bar (g/cm²) for U0 = E0/energy (continuum: photon
    energy; lines: edge energy). Zero where U0 <= 1. Rh 28 kV, 10 keV -> 4.408e-4."""
    c = ebel_constants(_anode_z(anode_z), float(voltage_keV))
    e = np.asarray(energy_keV, dtype=np.float64)
    ln_u0 = np.log(np.maximum(float(voltage_keV) / np.maximum(e, _TINY), 1.0))
    num = sum(k * c.eta ** i for i, k in enumerate(_ZBAR_NUM))
    den = sum(k * c.eta ** i for i, k in enumerate(_ZBAR_DEN))
    out = c.rho_zm_g_cm2 * num * ln_u0 / (den + ln_u0)
    return float(out) if out.ndim == 0 else out


def ebel_self_absorption(chi, rho_z_bar):
    """Ebel's anode self-absorption ``f = (1 − exp(−2 chi rho z_bar)) / (2 chi rho z_bar)``.

    ``chi = (mu/rho)_anode(E) sin(phi)/sin(eps)`` (cm²/g). 1 in the limit chi rho z_bar -> 0.
    """
    arg = 2.0 * np.asarray(chi, dtype=np.float64) * np.asarray(rho_z_bar, dtype=np.float64)
    safe = np.where(arg > _TINY, arg, 1.0)
    out = np.where(arg > _TINY, -np.expm1(-safe) / safe, 1.0)
    return float(out) if out.ndim == 0 else out


def ebel_transmission_factor(mu_cm2_g, rho_z_bar, foil_g_cm2: float, incidence_deg: float, takeoff_deg: float):
    """Factor replacing f(chi) for a transmission anode (see module docstring).

    Parameters
    ----------
    mu_cm2_g : float or ndarray
        Anode mass attenuation at the photon energy.
    rho_z_bar : float or ndarray
        Mean generation depth (g/cm²).
    foil_g_cm2 : float
        Anode foil mass thickness (g/cm²).
    incidence_deg, takeoff_deg : float
        Electron incidence angle and |take-off angle| (deg, from the surface).
    """
    mu = np.asarray(mu_cm2_g, dtype=np.float64)
    d_max = 2.0 * np.asarray(rho_z_bar, dtype=np.float64) * math.sin(math.radians(incidence_deg))
    d = np.minimum(d_max, foil_g_cm2)
    gen = np.where(d_max > _TINY, d / np.where(d_max > _TINY, d_max, 1.0), 1.0)
    a = mu / math.sin(math.radians(abs(takeoff_deg)))
    ad = a * d
    avg = np.exp(-a * (foil_g_cm2 - d)) * np.where(ad > _TINY, -np.expm1(-ad) / np.where(ad > _TINY, ad, 1.0), 1.0)
    out = gen * avg
    return float(out) if out.ndim == 0 else out


def _check_geometry(incidence_deg, takeoff_deg):
    if not 0.0 < float(incidence_deg) <= 90.0:
        raise ConfigError(f"electron incidence angle must be in (0, 90] deg, got {incidence_deg!r}", where="tube")
    if not (-90.0 <= float(takeoff_deg) <= 90.0) or float(takeoff_deg) == 0.0:
        raise ConfigError(f"take-off angle must be in [-90, 90] deg and non-zero (negative = transmission "
                          f"anode), got {takeoff_deg!r}", where="tube")


def _anode_factor(el, e0_keV, energy_eV, u_energy_keV, incidence_deg, takeoff_deg, anode_thickness_um):
    """f(chi) (reflection) or the transmission factor, at photon energies ``energy_eV``,
    with generation depth from U0 = E0/u_energy_keV."""
    z = atomic_number(el)
    mu = np.asarray(mass_attenuation(el, energy_eV))
    zbar = ebel_rho_z_bar(z, e0_keV, u_energy_keV)
    if takeoff_deg > 0:
        chi = mu * math.sin(math.radians(incidence_deg)) / math.sin(math.radians(takeoff_deg))
        return np.asarray(ebel_self_absorption(chi, zbar))
    foil = density(el) * anode_thickness_um / _UM_PER_CM
    return np.asarray(ebel_transmission_factor(mu, zbar, foil, incidence_deg, takeoff_deg))


def _window(energy_eV, window_Be_um):
    if window_Be_um <= 0:
        return np.ones_like(np.asarray(energy_eV, dtype=np.float64))
    mu = np.asarray(mass_attenuation("Be", energy_eV))
    return np.exp(-mu * density("Be") * window_Be_um / _UM_PER_CM)


def ebel_continuum(energy_eV, voltage_kV: float = 28.0, anode="Rh", electron_incidence_deg: float = 60.0,
                   takeoff_deg: float = 30.0, window_Be_um: float = 0.0,
                   anode_thickness_um: float = TRANSMISSION_ANODE_THICKNESS_UM):
    """Ebel continuum ``dN/dE = C_c Z (E0/E − 1)^x f(chi) T_window`` (photons / (s sr mA keV)).

    Rh, 28 kV, 10 keV, phi = 90°, eps = 20°, no window: 9.37e10.

    Parameters
    ----------
    energy_eV : float or array_like
        Photon energy (eV); zero at and above E0.
    voltage_kV : float
    anode : str or int
    electron_incidence_deg, takeoff_deg : float
        Angles from the anode surface; negative take-off = transmission anode.
    window_Be_um : float
        Tube Be window (µm); 0 = before the window.
    anode_thickness_um : float
        Foil thickness of a transmission anode.
    """
    el = element_symbol(_anode_z(anode))
    _check_geometry(electron_incidence_deg, takeoff_deg)
    e0 = float(voltage_kV)
    c = ebel_constants(atomic_number(el), e0)
    e = np.asarray(energy_eV, dtype=np.float64)
    e_keV = e / _EV_PER_KEV
    below = (e_keV < e0) & (e_keV > 0)
    base = np.where(below, e0 / np.where(below, e_keV, 1.0) - 1.0, 0.0) ** c.x
    f = _anode_factor(el, e0, e, np.where(below, e_keV, e0), electron_incidence_deg, takeoff_deg,
                      anode_thickness_um)
    out = EBEL_CONTINUUM_CONSTANT * atomic_number(el) * base * f * _window(e, window_Be_um)
    out = np.where(below, out, 0.0)
    return float(out) if out.ndim == 0 else out


def ebel_line_factor(anode_z, voltage_keV: float, edge_keV: float, shell: str = "K") -> float:
    """Ebel's inverse stopping-power term ("1/S", physics.md §8):

    ``(z b / Z) [U0 ln U0 + 1 − U0] [1 + 16.05 sqrt(J/E_s) (sqrt(U0) ln U0 + 2(1 − sqrt(U0))) / (U0 ln U0 + 1 − U0)]``

    with U0 = E0/E_s, z b = 0.7 (K) or 2.0 (L). Rh 28 kV: K 6.857e-4, L3 1.424.
    Zero if the edge is not excited.
    """
    z = _anode_z(anode_z)
    zb = {"K": EBEL_ZB_K, "L": EBEL_ZB_L}.get(shell[:1] if isinstance(shell, str) else None)
    if zb is None:
        raise UnknownElementError(f"Ebel line factor needs shell 'K' or 'L*', got {shell!r}", where="tube")
    c = ebel_constants(z, float(voltage_keV))
    u0 = float(voltage_keV) / float(edge_keV)
    if u0 <= 1.0:
        return 0.0
    ln_u0 = math.log(u0)
    core = u0 * ln_u0 + 1.0 - u0
    corr = 1.0 + _STOP_C * math.sqrt(c.J_keV / edge_keV) * (math.sqrt(u0) * ln_u0 + 2.0 * (1.0 - math.sqrt(u0))) / core
    return zb / z * core * corr


def ebel_backscatter_factor(anode_z, voltage_keV: float, edge_keV: float) -> float:
    """Ebel's backscatter loss factor
    ``R = 1 − 0.0081517 Z + 3.613e-5 Z² + 0.009583 Z exp(−U0) + 0.001141 E0``.
    Rh 28 kV: K 0.8674, L3 0.7383."""
    z = _anode_z(anode_z)
    u0 = float(voltage_keV) / float(edge_keV)
    c0, c1, c2, c3, c4 = _R_COEF
    return c0 + c1 * z + c2 * z * z + c3 * z * math.exp(-u0) + c4 * float(voltage_keV)


@dataclass(frozen=True, eq=False)
class TubeSpectrum:
    """Tube output per steradian at the given current, after the tube window.

    Attributes
    ----------
    continuum_energy_eV : ndarray
        Bin centres of the continuum grid (eV), step ``energy_step_eV``.
    continuum : ndarray
        Continuum photons / (s sr eV) at the bin centres.
    line_energies_eV, line_intensities : ndarray
        Characteristic lines (eV) and their photons / (s sr).
    line_names : tuple of str
        xraydb line names ("Ka1", "La1").
    line_shells, line_levels : tuple of str
        Shell ("K", "L") and emitting subshell ("K", "L3") of each line.
    anode : str
    voltage_kV, current_uA, energy_step_eV : float
    """

    continuum_energy_eV: np.ndarray
    continuum: np.ndarray
    line_energies_eV: np.ndarray
    line_intensities: np.ndarray
    line_names: tuple[str, ...]
    line_shells: tuple[str, ...]
    line_levels: tuple[str, ...]
    anode: str
    voltage_kV: float
    current_uA: float
    energy_step_eV: float

    @property
    def bin_edges_eV(self) -> np.ndarray:
        """Edges of the continuum bins (eV), length n + 1."""
        half = self.energy_step_eV / 2.0
        return np.append(self.continuum_energy_eV - half, self.continuum_energy_eV[-1] + half)

    def on_grid(self) -> np.ndarray:
        """Photons / (s sr) per bin: continuum x step plus the lines added into their bins."""
        total = self.continuum * self.energy_step_eV
        edges = self.bin_edges_eV
        idx = np.searchsorted(edges, self.line_energies_eV, side="right") - 1
        ok = (idx >= 0) & (idx < total.size)
        np.add.at(total, idx[ok], self.line_intensities[ok])
        return total

    @property
    def total_photons(self) -> float:
        """All photons / (s sr) on the grid (continuum + lines)."""
        return float(self.on_grid().sum())

    @property
    def mean_energy_eV(self) -> float:
        """Photon-number weighted mean energy of the spectrum (eV)."""
        n = self.on_grid()
        return float(np.sum(n * self.continuum_energy_eV) / np.sum(n))


def _ro(a) -> np.ndarray:
    arr = np.array(a, dtype=np.float64)
    arr.setflags(write=False)
    return arr


def tube_spectrum(voltage_kV: float = 28.0, anode: str = "Rh", electron_incidence_deg: float = 60.0,
                  takeoff_deg: float = 30.0, window_Be_um: float = 152.4, current_uA: float = 20.0,
                  energy_step_eV: float = 50.0, min_energy_eV: float = 500.0,
                  anode_thickness_um: float = TRANSMISSION_ANODE_THICKNESS_UM) -> TubeSpectrum:
    """Ebel-model tube spectrum (cached per argument set).

    Parameters
    ----------
    voltage_kV : float
        Tube voltage (PIXL 28 kV).
    anode : str
        Anode element (PIXL Rh).
    electron_incidence_deg : float
        Electron incidence angle on the anode, from its surface (PIQUANT ``##TUBEINCANG``).
    takeoff_deg : float
        X-ray take-off angle from the anode surface (``##TUBETAKEOF``); negative =
        transmission (end-window) anode of thickness ``anode_thickness_um``.
    window_Be_um : float
        Be window (µm; PIXL FM 152.4 µm = 0.1524 mm).
    current_uA : float
        Emission current (µA).
    energy_step_eV, min_energy_eV : float
        Continuum grid: bins of ``energy_step_eV`` from ``min_energy_eV`` up to E0.
    anode_thickness_um : float
        Foil thickness for a transmission anode (PIQUANT 1.2 µm).

    Returns
    -------
    TubeSpectrum

    Notes
    -----
    K lines: ``C_K (1/S)_K R_K omega_K p f T``. L lines: per subshell Li the
    Ebel L term with U0 = E0/E_Li and z_L b_L split over L1:L2:L3 = 2:2:4
    electrons, Coster-Kronig transfers (xraydb totals) move vacancies to
    L2/L3, then ``C_L n_Li omega_Li p f T``. M lines are not modelled.

    Raises
    ------
    ConfigError
        Invalid voltage, angles, window, current or grid.
    """
    args = []
    for name, val in (("voltage_kV", voltage_kV), ("electron_incidence_deg", electron_incidence_deg),
                      ("takeoff_deg", takeoff_deg), ("window_Be_um", window_Be_um), ("current_uA", current_uA),
                      ("energy_step_eV", energy_step_eV), ("min_energy_eV", min_energy_eV),
                      ("anode_thickness_um", anode_thickness_um)):
        try:
            v = float(val)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a number, got {val!r}", where="tube") from None
        if not math.isfinite(v):
            raise ConfigError(f"{name} must be finite, got {val!r}", where="tube")
        args.append(v)
    return _tube_spectrum(check_element(anode) if isinstance(anode, str) else element_symbol(anode), *args)


@functools.lru_cache(maxsize=64)
def _tube_spectrum(el, e0, phi, eps, window_um, current_uA, step, e_min, foil_um) -> TubeSpectrum:
    _check_geometry(phi, eps)
    if e0 <= 0:
        raise ConfigError(f"voltage_kV must be > 0, got {e0}", where="tube")
    for name, v in (("window_Be_um", window_um), ("current_uA", current_uA), ("min_energy_eV", e_min)):
        if v < 0:
            raise ConfigError(f"{name} must be >= 0, got {v}", where="tube")
    if step <= 0:
        raise ConfigError(f"energy_step_eV must be > 0, got {step}", where="tube")
    if eps < 0 and foil_um <= 0:
        raise ConfigError(f"anode_thickness_um must be > 0 for a transmission anode, got {foil_um}", where="tube")
    e0_eV = e0 * _EV_PER_KEV
    if e_min >= e0_eV:
        raise ConfigError(f"min_energy_eV {e_min} must be below the tube voltage ({e0_eV} eV)", where="tube")
    z = atomic_number(el)
    n_bins = int(math.ceil((e0_eV - e_min) / step - _TINY))
    centres = e_min + step * (np.arange(n_bins) + 0.5)
    current_mA = current_uA / _UA_PER_MA
    continuum = ebel_continuum(centres, e0, el, phi, eps, window_um, foil_um) * current_mA / _EV_PER_KEV

    from .lines import raw_xray_lines  # lazy helper (cached xraydb lines)

    lines = raw_xray_lines(el)
    names, energies, intens, shells, levels = [], [], [], [], []

    def add(name, energy_eV, n_vac, omega, p, u_keV, shell, level):
        factor = _anode_factor(el, e0, energy_eV, u_keV, phi, eps, foil_um)
        value = n_vac * omega * p * float(factor) * float(_window(energy_eV, window_um)) * current_mA
        names.append(name), energies.append(energy_eV), intens.append(value)
        shells.append(shell), levels.append(level)

    # K lines
    try:
        k_edge = edge(el, "K")
    except UnknownElementError:
        k_edge = None
    if k_edge is not None and k_edge.energy_eV < e0_eV:
        k_keV = k_edge.energy_eV / _EV_PER_KEV
        n_k = (EBEL_C_K * ebel_line_factor(z, e0, k_keV, "K") * ebel_backscatter_factor(z, e0, k_keV))
        k_total = sum(i for (_, i, lv) in lines.values() if lv == "K")
        for name, (energy, p, lv) in lines.items():
            if lv == "K" and name in K_LINE_NAMES:
                add(name, energy, n_k, k_edge.fluorescence_yield, p / k_total, k_keV, "K", "K")

    # L lines, per subshell, with Coster-Kronig transfers
    direct, l_edges = {}, {}
    for s in ("L1", "L2", "L3"):
        try:
            l_edges[s] = edge(el, s)
        except UnknownElementError:
            continue
        s_keV = l_edges[s].energy_eV / _EV_PER_KEV
        if s_keV < e0 and l_edges[s].fluorescence_yield > 0:
            direct[s] = (EBEL_C_L * _L_OCCUPANCY[s] / _L_ELECTRONS * ebel_line_factor(z, e0, s_keV, "L")
                         * ebel_backscatter_factor(z, e0, s_keV))
        else:
            direct[s] = 0.0
    if any(direct.values()):
        subs = [s for s in ("L1", "L2", "L3") if s in direct]
        vac = {}
        for j, s in enumerate(subs):
            vac[s] = direct[s] + sum(coster_kronig(el, i, s) * direct[i] for i in subs[:j])
        for name, (energy, p, lv) in lines.items():
            if lv in vac and vac[lv] > 0 and energy >= e_min:
                add(name, energy, vac[lv], l_edges[lv].fluorescence_yield, p,
                    l_edges[lv].energy_eV / _EV_PER_KEV, "L", lv)

    # drop lines weaker than LINE_INTENSITY_MIN of their shell, sort by energy
    intens_a = np.array(intens, dtype=np.float64)
    keep = np.ones(len(names), dtype=bool)
    for shell in ("K", "L"):
        sel = np.array([s == shell for s in shells], dtype=bool)
        if sel.any() and intens_a[sel].sum() > 0:
            keep &= ~sel | (intens_a / intens_a[sel].sum() >= LINE_INTENSITY_MIN)
    order = [i for i in np.argsort(np.array(energies, dtype=np.float64), kind="stable") if keep[i]]
    return TubeSpectrum(
        continuum_energy_eV=_ro(centres), continuum=_ro(continuum),
        line_energies_eV=_ro([energies[i] for i in order]), line_intensities=_ro(intens_a[order]),
        line_names=tuple(names[i] for i in order), line_shells=tuple(shells[i] for i in order),
        line_levels=tuple(levels[i] for i in order), anode=el, voltage_kV=e0, current_uA=current_uA,
        energy_step_eV=step)


def kramers_spectrum(energy_eV, voltage_kV: float = 28.0, anode="Rh", current_uA: float = 20.0,
                     window_Be_um: float = 0.0):
    """Kramers continuum ``K i Z (E0/E − 1)`` in photons / (s sr eV) (physics.md §8 fallback).

    No anode self-absorption; optional Be window. N(5 keV)/N(10 keV) = 4.6/1.8 at 28 kV.
    """
    el = element_symbol(_anode_z(anode))
    e0 = float(voltage_kV)
    if not e0 > 0:
        raise ConfigError(f"voltage_kV must be > 0, got {voltage_kV!r}", where="tube")
    if not float(current_uA) >= 0:
        raise ConfigError(f"current_uA must be >= 0, got {current_uA!r}", where="tube")
    e = np.asarray(energy_eV, dtype=np.float64)
    e_keV = e / _EV_PER_KEV
    below = (e_keV < e0) & (e_keV > 0)
    shape = np.where(below, e0 / np.where(below, e_keV, 1.0) - 1.0, 0.0)
    out = (KRAMERS_CONSTANT * float(current_uA) / _UA_PER_MA * atomic_number(el) * shape / _EV_PER_KEV
           * _window(e, float(window_Be_um)))
    return float(out) if out.ndim == 0 else out
