"""What reaches the sample and the detector: the excitation spectrum (Ebel tube spectrum, optic response,
incident gas path, PIQUANT's absolute conventions), the fraction of a line the detector records, and the
geometry of the gas column the beam crosses (for the path-gas line). Used by the FP model
(:mod:`pixlspec.quant.fp`) and the simulated tube scatter (:mod:`pixlspec.simulate.scatter`).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError
from ..instrument import Instrument
from ..physics import detector as det_physics
from ..physics.attenuation import mass_attenuation
from ..physics.tube import tube_spectrum

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["Excitation", "excitation_spectrum", "edge_aligned_bins", "path_transmission", "incident_beam_factor",
           "recorded_fraction", "air_attenuation_per_cm", "view_vectors", "detector_view_ratio",
           "gas_column_view_length_cm", "sample_gas_kernel_cm", "EXCITATION_STEP_EV", "EXCITATION_MIN_EV",
           "EXCITATION_FINE_STEP_EV", "EXCITATION_BIN_RELATIVE_WIDTH", "MIN_BIN_RELATIVE_WIDTH", "FOUR_PI",
           "AIR_COMPOSITION_WT", "GAS_COLUMN_NODES", "SAMPLE_GAS_KERNEL_NODES", "SOURCE_SOLID_ANGLE_FRACTION_PER_SR",
           "FLUORESCENCE_GEOMETRY_NORM", "MARS_ATMOSPHERE_WT", "MARS_ATMOSPHERE_DENSITY_G_CM3"]

#: Width (eV) of the uniform excitation bins of :func:`excitation_spectrum` (the simulated tube scatter,
#: and an FP model given ``step_eV``). A uniform grid puts bin boundaries anywhere relative to the
#: absorption edges, where the integrand jumps: 50 eV bins are within 0.6 % of the converged integral.
EXCITATION_STEP_EV: float = 50.0
#: The FP's own excitation bins (:func:`edge_aligned_bins`) are built from the tube spectrum on this
#: uniform grid (eV), each of its bins split exactly at the bin boundaries.
EXCITATION_FINE_STEP_EV: float = 10.0
#: Largest relative width dE/E of an FP excitation bin. The bins end at every absorption edge of the
#: sample's elements (and of air in a He path), so the integrand (excitation x photo-absorption /
#: attenuation) is smooth inside each: 2 % bins are within 0.05 % of the converged integral (checked in the
#: tests), with ~200 bins instead of 557 of 50 eV. The tube and path transmissions need no boundaries: they
#: are inside the photons of the 10 eV grid.
EXCITATION_BIN_RELATIVE_WIDTH: float = 0.02
#: Boundaries closer than this relative gap are one boundary (two edges 0.01 eV apart make no bin).
MIN_BIN_RELATIVE_WIDTH: float = 1e-6
#: Lowest excitation energy (eV): just below the Na K edge (1070.8 eV), the lightest analyte.
EXCITATION_MIN_EV: float = 1000.0
#: Dry air by mass (NIST XCOM "Air, dry (near sea level)"), as in
#: :data:`pixlspec.physics.detector.ATMOSPHERES`; Ar is 1.2827 wt%.
AIR_COMPOSITION_WT: dict[str, float] = {"C": 0.0124, "N": 75.5268, "O": 23.1781, "Ar": 1.2827}
#: Gauss–Legendre nodes along the incident gas column for the gas-line emission. The integrand
#: (detector solid angle x gas attenuation) is smooth on [0, path_in_cm]; 32 nodes reproduce the
#: closed form of :func:`gas_column_view_length_cm` to < 1e-10 (checked in the tests).
GAS_COLUMN_NODES: int = 32
#: Midpoint nodes per angle of the direction integral of :func:`sample_gas_kernel_cm`; the
#: integrand is bounded and piecewise smooth, 256 nodes give the zenith-detector closed form
#: (pi^2) to < 1e-4 (checked in the tests).
SAMPLE_GAS_KERNEL_NODES: int = 256
FOUR_PI = 4.0 * math.pi
#: PIQUANT's absolute-scale conventions (``shared/science/absolute-scale.md`` §1, read from the PIQUANT
#: sources): the source solid angle ``##INCSR`` enters as a fraction of the full sphere (INCSR / 4 pi), and
#: the fluorescence integral carries a geometry term (sin psi_in / sin psi_out) / 4 pi; the sin ratio is the
#: usual thick-target factor (the ``mu_s(E)/sin psi1`` denominators below), the 1 / 4 pi is this constant.
#: PIQUANT's ECFs (measured / calculated) are 0.75-1.13 for the flight model with these conventions, so they
#: are what ``##INCSR`` (tuned "to make ECF average unity") and the optic responses mean. We fold the
#: 1 / 4 pi into the incident beam, so the scattered tube radiation (:mod:`pixlspec.simulate.scatter`) sees
#: the same photons as the fluorescence.
SOURCE_SOLID_ANGLE_FRACTION_PER_SR: float = 1.0 / FOUR_PI
FLUORESCENCE_GEOMETRY_NORM: float = 1.0 / FOUR_PI
#: PIQUANT's Mars atmosphere (absolute-scale.md §1): 95.5 % CO2, 2.7 % N2, 0.2 % O2, 1.6 % Ar by volume,
#: as mass fractions, at a density of 2e-5 g/cm^3. Used for a "Mars" path unless the instrument sets
#: its own gas pressure or temperature.
MARS_ATMOSPHERE_WT: dict[str, float] = {"C": 26.5, "N": 1.7, "O": 70.7, "Ar": 1.1}
MARS_ATMOSPHERE_DENSITY_G_CM3: float = 2.0e-5


# --------------------------------------------------------------------------- excitation
@dataclass(frozen=True, eq=False)
class Excitation:
    """Photons per second incident on the sample, per excitation bin and per tube line.

    Attributes
    ----------
    energy_eV : ndarray
        Bin centres of the continuum followed by the tube-line energies.
    photons_per_s : ndarray
        Photons/s reaching the sample in each bin (continuum x bin width) or
        line, after tube window, optic, solid angle, geometry and gas path.
    n_continuum : int
        Number of continuum bins (the first entries).
    step_eV : float
        Width of the continuum bins of a uniform grid; 0 for bins of varying width
        (:func:`edge_aligned_bins`) and for a monochromatic excitation.
    """

    energy_eV: np.ndarray
    photons_per_s: np.ndarray
    n_continuum: int
    step_eV: float

    @property
    def total_photons_per_s(self) -> float:
        return float(self.photons_per_s.sum())

    @classmethod
    def monochromatic(cls, energy_eV: float, photons_per_s: float = 1.0) -> "Excitation":
        """A single excitation energy (for checks against hand calculations and other codes)."""
        e = np.array([float(energy_eV)])
        n = np.array([float(photons_per_s)])
        for a in (e, n):
            a.setflags(write=False)
        return cls(energy_eV=e, photons_per_s=n, n_continuum=0, step_eV=0.0)


def excitation_spectrum(instrument: Instrument, step_eV: float = EXCITATION_STEP_EV,
                        min_energy_eV: float = EXCITATION_MIN_EV) -> Excitation:
    """The spectrum that excites the sample (see module docstring), cached per instrument.

    Raises
    ------
    ConfigError
        Invalid tube or grid.
    """
    return _excitation(instrument, float(step_eV), float(min_energy_eV))


@functools.lru_cache(maxsize=32)
def _excitation(instrument: Instrument, step_eV: float, min_energy_eV: float) -> Excitation:
    t = instrument.tube
    ts = tube_spectrum(voltage_kV=t.voltage_kV, anode=t.anode, electron_incidence_deg=t.electron_incidence_deg,
                       takeoff_deg=t.takeoff_deg, window_Be_um=t.window_Be_um, current_uA=t.current_uA,
                       energy_step_eV=step_eV, min_energy_eV=min_energy_eV)
    e = np.concatenate([ts.continuum_energy_eV, ts.line_energies_eV])
    n = np.concatenate([ts.continuum * ts.energy_step_eV, ts.line_intensities])  # photons/(s sr)
    n = n * incident_beam_factor(instrument, e)
    keep = n > 0
    e, n = e[keep], n[keep]
    for a in (e, n):
        a.setflags(write=False)
    return Excitation(energy_eV=e, photons_per_s=n, n_continuum=int(keep[:ts.continuum.size].sum()),
                      step_eV=ts.energy_step_eV)


def edge_aligned_bins(excitation: Excitation, boundaries_eV: ArrayLike, relative_width: float) -> Excitation:
    """The continuum of a uniform-grid ``excitation`` in bins of at most ``relative_width`` (dE/E) that end
    at each of ``boundaries_eV`` (absorption edges); the tube lines stay as they are.

    Each uniform bin holds its photons evenly over its width and is split exactly where a new bin
    boundary crosses it. A new bin's energy is the photon-weighted mean energy of what it holds.

    Raises
    ------
    ConfigError
        An excitation without a uniform continuum, or a width that is not positive.
    """
    if not (excitation.n_continuum > 0 and excitation.step_eV > 0):
        raise ConfigError("edge_aligned_bins needs an excitation with a uniform continuum grid", where="fp")
    w = float(relative_width)
    if not (math.isfinite(w) and w > 0):
        raise ConfigError(f"relative_width must be > 0, got {relative_width!r}", where="fp")
    nc, h = excitation.n_continuum, float(excitation.step_eV)
    centre = np.asarray(excitation.energy_eV[:nc], dtype=np.float64)
    n = np.asarray(excitation.photons_per_s[:nc], dtype=np.float64)
    lo, hi = centre[0] - 0.5 * h, centre[-1] + 0.5 * h
    ratio = math.log1p(w)
    geometric = lo * np.exp(ratio * np.arange(1, int(math.ceil(math.log(hi / lo) / ratio))))
    edges = np.asarray(boundaries_eV, dtype=np.float64).reshape(-1)
    bounds = np.unique(np.concatenate([[lo, hi], geometric[geometric < hi], edges[(edges > lo) & (edges < hi)]]))
    # boundaries closer than MIN_BIN_RELATIVE_WIDTH make a sliver whose photons and moment are differences of
    # large running sums (rounding, not physics): keep the first of such a cluster (and the last boundary)
    keep = np.r_[True, np.diff(bounds) > MIN_BIN_RELATIVE_WIDTH * bounds[1:]]
    if not keep[-1]:  # the last boundary (the grid's end) stays; the one just before it goes
        keep[-1] = True
        before = np.flatnonzero(keep[:-1])[-1]
        keep[before] = before == 0
    bounds = bounds[keep]
    # photons and their first moment below each uniform-bin boundary, then at each new boundary (the
    # density is constant within a uniform bin: linear and quadratic between its boundaries)
    fine = lo + h * np.arange(nc + 1)
    k = np.clip(np.searchsorted(fine, bounds, side="right") - 1, 0, nc - 1)
    density = n / h
    cum_n = np.concatenate([[0.0], np.cumsum(n)])
    cum_m = np.concatenate([[0.0], np.cumsum(n * centre)])
    dx = bounds - fine[k]
    at_n = cum_n[k] + density[k] * dx
    at_m = cum_m[k] + density[k] * 0.5 * (bounds ** 2 - fine[k] ** 2)
    photons = np.diff(at_n)
    moment = np.diff(at_m)
    keep = photons > 0
    energy = moment[keep] / photons[keep]
    e = np.concatenate([energy, excitation.energy_eV[nc:]])
    p = np.concatenate([photons[keep], excitation.photons_per_s[nc:]])
    for a in (e, p):
        a.setflags(write=False)
    return Excitation(energy_eV=e, photons_per_s=p, n_continuum=int(keep.sum()), step_eV=0.0)


def path_transmission(instrument: Instrument, energy_eV: ArrayLike, path_cm: float) -> np.ndarray:
    """Transmission of ``path_cm`` of the instrument's gas; a "Mars" path is PIQUANT's Mars atmosphere
    (:data:`MARS_ATMOSPHERE_WT` at :data:`MARS_ATMOSPHERE_DENSITY_G_CM3`) unless the instrument sets
    its gas pressure or temperature."""
    e = np.asarray(energy_eV, dtype=np.float64)
    if (instrument.atmosphere == "Mars" and instrument.gas_pressure_Pa is None
            and instrument.gas_temperature_K is None):
        mu = np.asarray(mass_attenuation(MARS_ATMOSPHERE_WT, e), dtype=np.float64)
        return np.exp(-mu * MARS_ATMOSPHERE_DENSITY_G_CM3 * float(path_cm))
    return np.asarray(det_physics.gas_transmission(e, instrument.atmosphere, path_cm,
                                                   pressure_Pa=instrument.gas_pressure_Pa,
                                                   temperature_K=instrument.gas_temperature_K), dtype=np.float64)


def incident_beam_factor(instrument: Instrument, energy_eV: ArrayLike) -> np.ndarray:
    """Multiplier from tube output (photons / (s sr)) to photons / s on the sample, per energy.

    PIQUANT's incident-beam factor (absolute-scale.md §1): optic response x gas path to the sample
    (``path_in_cm``, the optic included) x ``##INCSR`` / 4 pi x ``##GEOMETRY``, times the 1 / 4 pi of
    the fluorescence geometry term (:data:`FLUORESCENCE_GEOMETRY_NORM`).
    """
    e = np.asarray(energy_eV, dtype=np.float64)
    optic = np.asarray(instrument.optic.transmission_at(e), dtype=np.float64)
    gas = path_transmission(instrument, e, instrument.path_in_cm)
    return (optic * gas * instrument.source_solid_angle_sr * SOURCE_SOLID_ANGLE_FRACTION_PER_SR
            * FLUORESCENCE_GEOMETRY_NORM * instrument.geometry_factor)


def recorded_fraction(instrument: Instrument, detector: str | None, energy_eV: ArrayLike) -> np.ndarray:
    """Probability that a photon emitted by the sample is recorded: Omega/4pi x efficiency x gas path
    (PIQUANT's emergent-beam factor ``#SOLIDANGLE`` / 4 pi x gas path, times the detector efficiency)."""
    d = instrument.detector(detector)
    e = np.asarray(energy_eV, dtype=np.float64)
    eff = det_physics.detector_efficiency(e, d.window_Be_um, d.si_thickness_um, d.dead_layer_um)
    gas = path_transmission(instrument, e, instrument.path_out_cm)
    return d.solid_angle_sr / FOUR_PI * np.asarray(eff) * gas


# --------------------------------------------------------------------------- gas-path geometry
def air_attenuation_per_cm(instrument: Instrument, energy_eV: ArrayLike) -> np.ndarray:
    """Extra attenuation (1/cm) of a He path per unit mole fraction of air in it.

    ``mu_air rho_air - mu_He rho_He`` at the path's pressure and temperature (air replaces He
    molecule for molecule); zero for any other atmosphere.
    """
    e = np.asarray(energy_eV, dtype=np.float64)
    if instrument.atmosphere != "He":
        return np.zeros_like(e)
    rho_air = det_physics.gas_density_g_cm3("Air", instrument.gas_pressure_Pa, instrument.gas_temperature_K)
    rho_he = det_physics.gas_density_g_cm3("He", instrument.gas_pressure_Pa, instrument.gas_temperature_K)
    return (np.asarray(mass_attenuation(AIR_COMPOSITION_WT, e)) * rho_air
            - np.asarray(mass_attenuation("He", e)) * rho_he)


def view_vectors(instrument: Instrument, detector: str | None) -> tuple[float, np.ndarray, np.ndarray]:
    """(distance to the detector d (cm), unit vector to the detector, unit vector to the source).

    Sample surface = xy plane, normal +z, beam spot at the origin; directions as in
    :func:`pixlspec.physics.detector.scattering_angle_deg` (the source side is +x).
    """
    d = instrument.detector(detector)
    p1, p2, az = (math.radians(float(v)) for v in (instrument.incidence_deg, d.elevation_deg, d.azimuth_deg))
    to_det = np.array([-math.cos(p2) * math.cos(az), -math.cos(p2) * math.sin(az), math.sin(p2)])
    to_src = np.array([-math.cos(p1), 0.0, math.sin(p1)])  # minus the beam's propagation direction
    return float(instrument.path_out_cm), to_det, to_src


def detector_view_ratio(instrument: Instrument, points_cm: ArrayLike, detector: str | None = None) -> np.ndarray:
    """Solid angle of the detector seen from points of the gas, relative to that from the beam spot.

    The detector is small and flat, at ``path_out_cm`` from the spot in the direction of its
    elevation and azimuth, its face normal to the line to the spot (the geometry of the
    instrument's ``solid_angle_sr``). From a point Q at distance rho from the detector centre
    D, its solid angle is ``Omega0 d^2 cos(theta)/rho^2`` with ``cos(theta) = (d - Q.u)/rho``
    (u the unit vector to the detector); zero behind the detector plane.

    Parameters
    ----------
    instrument : Instrument
    points_cm : (..., 3) array_like
        Points (cm), beam spot at the origin, sample surface z = 0.
    detector : str, optional

    Returns
    -------
    ndarray
        ``Omega(Q)/Omega(spot)``, shape ``points_cm.shape[:-1]``.
    """
    d, u, _ = view_vectors(instrument, detector)
    q = np.asarray(points_cm, dtype=np.float64)
    rel = d * u - q
    rho = np.sqrt(np.sum(rel * rel, axis=-1))
    cos_t = (d - q @ u) / np.maximum(rho, 1e-300)
    return np.where(cos_t > 0.0, d * d * cos_t / np.maximum(rho, 1e-300) ** 2, 0.0)


def gas_column_view_length_cm(instrument: Instrument, detector: str | None = None) -> float:
    """Length of the incident gas column weighted by the detector solid angle it sees (cm).

    ``integral_0^L Omega(s)/Omega(spot) ds`` along the beam (``L = path_in_cm``, s measured
    from the spot towards the source) for the small flat detector of
    :func:`detector_view_ratio`. With ``c`` the cosine of the angle between the beam axis
    and the line to the detector, ``rho(s)^2 = d^2 - 2 s d c + s^2`` and the integrand
    ``d^2 (d - s c)/rho^3`` has the antiderivative ``d s / rho(s)``, so the view length is
    ``L d / rho(L)`` (the column above the detector plane, s > d/c, is not seen). The
    simpler picture of the whole column seen with the spot's solid angle gives ``L``.

    Returns
    -------
    float
        View length (cm); 0 for a vacuum path or ``path_in_cm = 0``.
    """
    d, u, b = view_vectors(instrument, detector)
    c = float(u @ b)
    s_end = float(instrument.path_in_cm)
    if c > 0.0:
        s_end = min(s_end, d / c)
    if s_end <= 0.0:
        return 0.0
    rho = math.sqrt(max(d * d - 2.0 * s_end * d * c + s_end * s_end, 0.0))
    if rho <= 0.0:
        raise ConfigError("the incident beam axis passes through the detector: the gas-line geometry is "
                          "undefined", where="fp")
    return s_end * d / rho


def sample_gas_kernel_cm(instrument: Instrument, detector: str | None = None,
                         nodes: int = SAMPLE_GAS_KERNEL_NODES) -> float:
    """Geometric kernel (cm) of the gas fluorescence excited by the sample's own emission.

    A sample emitting N photons/s per steradian (the same in every direction above the
    surface: an upper bound, since a thick sample emits less at grazing angles) excites the
    gas at Q with a fluence N/s^2 (s = |Q|); the detector sees that gas with
    ``Omega(Q)/4 pi``. Per unit (density x cross section) the recorded gas line is N x
    ``Omega0/(4 pi)`` x K with ``K = integral dOmega_u integral_0^{s1} ds Omega(s u)/Omega0``
    over directions u above the surface. Along one ray, with the antiderivative of
    :func:`gas_column_view_length_cm`, the inner integral is ``d s1/rho(s1)``: ``d/sin(alpha)``
    for rays towards the detector side (cos alpha = u.u_det > 0, ending on the detector plane
    s1 = d/cos alpha) and ``d`` for the others (s1 -> infinity). So
    ``K = d integral [u_z > 0] (1 if cos alpha > 0 else sin alpha) dalpha dphi``, computed
    on a midpoint grid in (alpha, phi) about the detector direction. Detector at the zenith:
    ``K = pi^2 d`` exactly.

    Returns
    -------
    float
        K (cm).
    """
    d, u, _ = view_vectors(instrument, detector)
    # orthonormal frame about the detector direction
    e1 = np.cross(u, [0.0, 1.0, 0.0]) if abs(u[1]) < 0.9 else np.cross(u, [1.0, 0.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(u, e1)
    n = int(nodes)
    alpha = (np.arange(n) + 0.5) * (math.pi / n)
    phi = (np.arange(2 * n) + 0.5) * (math.pi / n)
    a, p = np.meshgrid(alpha, phi, indexing="ij")
    uz = np.cos(a) * u[2] + np.sin(a) * (np.cos(p) * e1[2] + np.sin(p) * e2[2])
    w = np.where(np.cos(a) > 0.0, 1.0, np.sin(a)) * (uz > 0.0)
    return float(d * w.sum() * (math.pi / n) ** 2)
