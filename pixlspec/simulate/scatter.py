"""Scattered tube radiation from a thick sample: Rayleigh and Compton peaks, scattered continuum.

Used by the simulator to give a composition its scatter peaks and continuum
with the same FP geometry as the fluorescence (:mod:`pixlspec.quant.fp`).
A documented simple approximation, good to ~10-20 %:

* Rayleigh: ``dsigma/dOmega = r_e^2 (1 + cos^2 theta)/2 |f0(q)|^2`` per atom,
  with the Waasmaier–Kirfel atomic form factor f0 of xraydb at
  ``q = sin(theta/2)/lambda`` (no anomalous terms);
* Compton: Klein–Nishina times the incoherent scattering function
  approximated as ``S(q) = Z (1 - (f0(q)/Z)^2)`` (independent-electron
  limit; at PIXL's q ~ 1.6 /Å for Rh K it is within a few % of Z for O–Si);
* thick target, one scattering: per incident photon at energy E,
  ``(dsigma/dOmega)_mass / sin psi1 / (mu(E)/sin psi1 + mu(E')/sin psi2) x Omega``,
  then detector efficiency and gas path at E' (E' = E for Rayleigh).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import functools
import math

import numpy as np

from ..instrument import Instrument
from ..physics import detector as det_physics
from ..physics.attenuation import mass_attenuation, parse_composition
from ..physics.elements import atomic_mass, atomic_number
from ..physics.tube import tube_spectrum
from ..quant.fp import (EXCITATION_MIN_EV, EXCITATION_STEP_EV, air_attenuation_per_cm, incident_beam_factor,
                 recorded_fraction)

__all__ = ["scatter_intensities", "ScatterModel", "CLASSICAL_ELECTRON_RADIUS_CM", "AVOGADRO", "HC_KEV_ANGSTROM"]

#: Classical electron radius (cm), CODATA 2018.
CLASSICAL_ELECTRON_RADIUS_CM: float = 2.8179403262e-13
#: Avogadro constant (1/mol), SI exact.
AVOGADRO: float = 6.02214076e23
#: h c (keV Å), CODATA 2018.
HC_KEV_ANGSTROM: float = 12.398419843


@functools.lru_cache(maxsize=None)
def _f0(element: str, q: float) -> float:
    import xraydb  # lazy

    return float(xraydb.f0(element, q)[0])


def _differential_mass_cross_sections(fractions: dict, energy_eV: np.ndarray, theta_deg: float):
    """(Rayleigh, Compton) dsigma/dOmega per gram (cm²/g/sr) and the Compton energy."""
    th = math.radians(theta_deg)
    cos_t = math.cos(th)
    e = np.asarray(energy_eV, dtype=np.float64)
    lam = HC_KEV_ANGSTROM / (e / 1000.0)
    q = math.sin(th / 2.0) / lam
    e_c = e / (1.0 + e / det_physics.ME_C2_EV * (1.0 - cos_t))
    ratio = e_c / e
    kn = 0.5 * CLASSICAL_ELECTRON_RADIUS_CM ** 2 * ratio ** 2 * (ratio + 1.0 / ratio - math.sin(th) ** 2)
    thomson = CLASSICAL_ELECTRON_RADIUS_CM ** 2 * (1.0 + cos_t ** 2) / 2.0
    ray = np.zeros_like(e)
    comp = np.zeros_like(e)
    # q on a coarse grid per element (f0 is smooth in q)
    qg = np.linspace(max(q.min(), 1e-3), q.max() + 1e-9, 64)
    for el, w in fractions.items():
        z = atomic_number(el)
        f0 = np.interp(q, qg, [_f0(el, float(x)) for x in qg])
        n_atoms = AVOGADRO / atomic_mass(el)
        ray += w * n_atoms * thomson * f0 ** 2
        comp += w * n_atoms * kn * np.clip(z * (1.0 - (f0 / z) ** 2), 0.0, None)
    return ray, comp, e_c


class ScatterModel:
    """Scatter areas of thick samples, vectorised over compositions (see module docstring).

    Parameters
    ----------
    instrument : Instrument
    elements : sequence of str
        Order of the mass-fraction rows :meth:`rates` takes.
    detector : str, optional
    """

    def __init__(self, instrument: Instrument, elements: Iterable[str], detector: str | None = None):
        self.elements = tuple(elements)
        d = instrument.detector(detector)
        self.anode = instrument.tube.anode
        theta = float(det_physics.scattering_angle_deg(instrument.incidence_deg, d.elevation_deg, d.azimuth_deg))
        self._sin1 = math.sin(math.radians(instrument.incidence_deg))
        self._sin2 = math.sin(math.radians(d.elevation_deg))
        t = instrument.tube
        ts = tube_spectrum(voltage_kV=t.voltage_kV, anode=t.anode, electron_incidence_deg=t.electron_incidence_deg,
                           takeoff_deg=t.takeoff_deg, window_Be_um=t.window_Be_um, current_uA=t.current_uA,
                           energy_step_eV=EXCITATION_STEP_EV, min_energy_eV=EXCITATION_MIN_EV)
        e = np.concatenate([ts.line_energies_eV, ts.continuum_energy_eV])
        n = np.concatenate([ts.line_intensities, ts.continuum * ts.energy_step_eV])
        self._n = n * incident_beam_factor(instrument, e)
        n_lines = ts.line_energies_eV.size
        self._kind = np.array([0 if s == "K" else 2 for s in ts.line_shells] + [3] * ts.continuum_energy_eV.size)
        self._is_line = np.arange(e.size) < n_lines
        ray, comp, e_c = [], [], None
        for el in self.elements:
            r, c, e_c = _differential_mass_cross_sections({el: 1.0}, e, theta)
            ray.append(r)
            comp.append(c)
        self._ray = np.array(ray)
        self._comp = np.array(comp)
        self._mu0 = np.array([np.asarray(mass_attenuation(el, e)) for el in self.elements])
        self._muc = np.array([np.asarray(mass_attenuation(el, e_c)) for el in self.elements])
        # 4 pi x recorded fraction = Omega x efficiency x gas path
        self._rec0 = 4.0 * math.pi * np.asarray(recorded_fraction(instrument, d.name, e))
        self._recc = 4.0 * math.pi * np.asarray(recorded_fraction(instrument, d.name, e_c))
        # air in a He path (per unit mole fraction): incident leg at E, emergent leg at E or E'
        a_in = np.asarray(air_attenuation_per_cm(instrument, e)) * instrument.path_in_cm
        self._air0 = a_in + np.asarray(air_attenuation_per_cm(instrument, e)) * instrument.path_out_cm
        self._airc = a_in + np.asarray(air_attenuation_per_cm(instrument, e_c)) * instrument.path_out_cm

    def rates(self, C: np.ndarray, air_fraction: float = 0.0) -> dict[str, np.ndarray]:
        """Counts per second per point: K Rayleigh, K Compton, L scatter and the scattered continuum.

        ``C`` (n_points, n_elements) mass fractions (normalised per row here); ``air_fraction``:
        mole fraction of air in a He path (attenuates both legs; see :mod:`pixlspec.quant.fp`).
        """
        C = np.atleast_2d(np.asarray(C, dtype=np.float64))
        x = float(air_fraction)
        C = C / C.sum(axis=1, keepdims=True)
        mu0 = C @ self._mu0
        muc = C @ self._muc
        ray = C @ self._ray
        comp = C @ self._comp
        r = self._n * ray / self._sin1 / (mu0 / self._sin1 + mu0 / self._sin2) * self._rec0 * np.exp(-x * self._air0)
        c = self._n * comp / self._sin1 / (mu0 / self._sin1 + muc / self._sin2) * self._recc * np.exp(-x * self._airc)
        a = self.anode
        k = self._kind == 0
        lines_l = self._kind == 2
        cont = self._kind == 3
        return {f"{a}_K_Rayleigh": r[:, k].sum(axis=1), f"{a}_K_Compton": c[:, k].sum(axis=1),
                f"{a}_L_scatter": (r[:, lines_l] + c[:, lines_l]).sum(axis=1),
                "continuum": (r[:, cont] + c[:, cont]).sum(axis=1)}


def scatter_intensities(composition: Mapping[str, float] | str, instrument: Instrument, detector: str | None = None,
                        live_time_s: float = 1.0, air_fraction: float = 0.0) -> dict[str, float]:
    """Scatter areas (counts) as the fit defines them, and the scattered continuum.

    Parameters
    ----------
    composition : dict or str
        As :func:`pixlspec.physics.parse_composition`.
    instrument : Instrument
    detector : str, optional
    live_time_s : float
    air_fraction : float
        Mole fraction of air in a He path.

    Returns
    -------
    dict
        ``"<anode>_K_Rayleigh"``, ``"<anode>_K_Compton"``, ``"<anode>_L_scatter"``
        (recorded counts of the tube lines scattered by the sample) and
        ``"continuum"`` (recorded counts of the scattered bremsstrahlung).
    """
    fr = parse_composition(composition)
    model = ScatterModel(instrument, list(fr), detector)
    r = model.rates(np.array([list(fr.values())]), air_fraction=air_fraction)
    return {k: float(v[0]) * float(live_time_s) for k, v in r.items()}
