"""Instrument description: tube, optic, geometry, atmosphere path and detectors.

One frozen dataclass, :class:`Instrument`, holds every instrument-specific
number pixlspec uses; nothing instrument-specific is hard-coded elsewhere.
It round-trips through plain dictionaries, JSON and TOML, and can be read
from a PIQUANT configuration file (:meth:`Instrument.from_piquant_config`).

Default values (:meth:`Instrument.pixl`) are those of the PIXL flight model
configuration "Config_PIXL_FM_SurfaceOps_Rev2_Sept2021" (PIQUANT, FM v7;
see ``../shared/science/pixl-formats.md`` section 2 and Allwood et al. 2020,
Space Sci. Rev. 216:134).
"""
from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .errors import ConfigError

__all__ = ["Tube", "Optic", "Detector", "Instrument"]

# --- PIXL flight model, configuration Rev2 Sept 2021 (FM v7) -----------------
# Every number below is quoted from Config_PIXL_FM_SurfaceOps_Rev2_Sept2021.msa
PIXL_TUBE_KV = 28.0                 # #BEAMKV
PIXL_TUBE_CURRENT_UA = 20.0         # #EMISSION (µA)
PIXL_TUBE_INCIDENCE_DEG = 60.0      # ##TUBEINCANG
PIXL_TUBE_TAKEOFF_DEG = 30.0        # ##TUBETAKEOF
PIXL_TUBE_WINDOW_BE_UM = 152.4      # ##TUBEWINDOW 0.1524 mm (127 µm tube + 25.4 µm optic)
PIXL_SOURCE_SOLID_ANGLE_SR = 0.1095  # ##INCSR
PIXL_INCIDENCE_DEG = 90.0           # ##INCANGLE
PIXL_ELEVATION_DEG = 70.0           # #ELEVANGLE
PIXL_AZIMUTH_DEG = 180.0            # #AZIMANGLE
PIXL_DET_SOLID_ANGLE_SR = 0.027283  # #SOLIDANGLE
PIXL_DET_BE_WINDOW_UM = 17.0        # #TBEWIND 0.0017 cm
PIXL_DET_SI_THICKNESS_UM = 500.0    # #TACTLYR 0.05 cm
PIXL_DET_FWHM_MNKA_EV = 170.0       # ##DETRES (Rev2)
PIXL_PATH_IN_CM = 10.3              # ##PATHINCLEN
PIXL_PATH_OUT_CM = 3.316            # ##PATHEMGLEN
PIXL_MIN_ENERGY_EV = 810.0          # ##MINIMUM_EN
PIXL_CAL_A = (-18.5, 7.862)         # #OFFSET, #XPERCHAN, detector A
PIXL_CAL_B = (-22.4, 7.881)         # #OFFSET, #XPERCHAN, detector B
PIXL_N_CHANNELS = 4096              # #NPOINTS of the flight spectra
# Si dead layer of the SDDs is not in the PIQUANT files; 0.05 µm is a typical
# value for modern SDD entrance windows (physics.md §7 gives 0.03–0.15 µm).
DEFAULT_DEAD_LAYER_UM = 0.05
# Fano factor of Si used with the 3.85 eV pair energy (PyMca convention,
# Solé et al. 2007, Spectrochim. Acta B 62:63; physics.md §1).
DEFAULT_FANO = 0.114
# Pulse-pair resolving time of the pile-up rejector; physics.md §4 gives
# 0.1–0.5 µs for this class of pulse processor (uncertain, fitted in practice).
DEFAULT_PILEUP_TIME_S = 0.3e-6

ATMOSPHERES = ("Vac", "He", "Mars", "Air")

# --- physical ranges of the configuration fields (checked in __post_init__) ----------
#: Highest tube voltage, kV: XRF tubes run at <= 60-75 kV; 100 kV bounds every X-ray
#: fluorescence source (and the tabulated cross sections used here).
MAX_TUBE_KV = 100.0
#: Highest tube emission current, µA: 100 mA, above the 3-4 kW WDXRF tubes (PIXL: 20 µA).
MAX_TUBE_CURRENT_UA = 1e5
#: Thickest Be window (tube or detector), µm: 5 mm, ten times the thickest (0.5 mm) in use;
#: thicker windows absorb every line below ~10 keV, and huge values left no usable energy.
MAX_WINDOW_BE_UM = 5000.0
#: Thickest Si dead layer, µm (physics.md §7: 0.03-0.15 µm; 10 µm is no detector's).
MAX_DEAD_LAYER_UM = 10.0
#: Thickest active Si, µm: 1 m. Real detectors have 0.3-1 mm (SDDs) to 3-5 mm (Si(Li)); models
#: use thicknesses of ~10 cm for a detector that absorbs every photon, which stays accepted.
MAX_SI_THICKNESS_UM = 1e6
#: Worst resolution at Mn Kα, eV: gas proportional counters are ~900 eV; SDDs 120-180 eV.
MAX_FWHM_MNKA_EV = 2000.0
#: Largest Fano factor: Si is ~0.11, every semiconductor is < 0.2; 1 is Poisson statistics.
MAX_FANO = 1.0
#: Full sphere, sr: no solid angle exceeds it.
FULL_SPHERE_SR = 4.0 * 3.141592653589793
#: Longest pile-up resolving time, s: 1 ms, far above any pulse processor's (0.1-0.5 µs).
MAX_PILEUP_TIME_S = 1e-3
#: Most channels per spectrum: 2^18 (PIXL 4096; MCAs offer up to 16384-65536).
MAX_N_CHANNELS = 1 << 18
#: Longest gas path, cm: 10 m (PIXL 10.3 cm in, 3.3 cm out).
MAX_PATH_CM = 1000.0
#: Gas pressure range, Pa: vacuum to 100 bar (Mars ~600 Pa, Earth 101325 Pa).
MAX_GAS_PRESSURE_PA = 1e7
#: Gas temperature range, K: (0, 10,000 K].
MAX_GAS_TEMPERATURE_K = 1e4
#: Largest stand-off geometry factor (##GEOMETRY; 1 at nominal stand-off).
MAX_GEOMETRY_FACTOR = 1e3
#: Highest energy-axis value accepted in a configuration, eV (100 keV, above the tube voltage).
MAX_CONFIG_ENERGY_EV = 1e5
#: Largest |##DL_SLOPE| (eV per keV) of PIQUANT's low-energy correction; real ones are a few eV/keV.
MAX_ENERGY_CORRECTION_SLOPE = 1e3


def check_range(value, where: str, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
                hi_open: bool = False, what: str | None = None) -> float:
    """``value`` as a float when finite and within [lo, hi] (open ends as asked), else :class:`ConfigError`.

    ``where`` names the field (``"tube.window_Be_um"``) in the message.
    """
    name = what or where.rsplit(".", 1)[-1]
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{name} must be a number, got {value!r}", where=where) from None
    ok = v == v and abs(v) != float("inf")
    if ok and lo is not None:
        ok = v > lo if lo_open else v >= lo
    if ok and hi is not None:
        ok = v < hi if hi_open else v <= hi
    if not ok:
        lo_s = "-inf" if lo is None else f"{lo:g}"
        hi_s = "inf" if hi is None else f"{hi:g}"
        rng = f"{'(' if lo_open or lo is None else '['}{lo_s}, {hi_s}{')' if hi_open or hi is None else ']'}"
        raise ConfigError(f"{name} is {v!r}; expected a finite value in {rng}", where=where)
    return v


@dataclass(frozen=True)
class Tube:
    """X-ray tube.

    Attributes
    ----------
    anode : str
        Anode element symbol (PIXL: Rh).
    voltage_kV : float
        Accelerating voltage.
    current_uA : float
        Emission current.
    electron_incidence_deg : float
        Electron incidence angle on the anode, from the anode surface.
    takeoff_deg : float
        X-ray take-off angle from the anode surface; negative for a
        transmission (end-window) anode, as in PIQUANT.
    window_Be_um : float
        Be exit window thickness in µm (including any Be at the optic exit).
    """

    anode: str = "Rh"
    voltage_kV: float = PIXL_TUBE_KV
    current_uA: float = PIXL_TUBE_CURRENT_UA
    electron_incidence_deg: float = PIXL_TUBE_INCIDENCE_DEG
    takeoff_deg: float = PIXL_TUBE_TAKEOFF_DEG
    window_Be_um: float = PIXL_TUBE_WINDOW_BE_UM

    def __post_init__(self):
        if not isinstance(self.anode, str) or not self.anode.strip():
            raise ConfigError(f"tube anode must be an element symbol, got {self.anode!r}", where="tube.anode")
        set_ = object.__setattr__
        set_(self, "voltage_kV", check_range(self.voltage_kV, "tube.voltage_kV", 0, MAX_TUBE_KV, lo_open=True,
                                             what="tube voltage (kV)"))
        set_(self, "current_uA", check_range(self.current_uA, "tube.current_uA", 0, MAX_TUBE_CURRENT_UA,
                                             what="tube current (µA)"))
        set_(self, "electron_incidence_deg", check_range(self.electron_incidence_deg, "tube.electron_incidence_deg",
                                                         0, 90, lo_open=True, what="electron incidence angle"))
        set_(self, "takeoff_deg", check_range(self.takeoff_deg, "tube.takeoff_deg", -90, 90,
                                              what="tube take-off angle"))
        if self.takeoff_deg == 0:
            raise ConfigError("tube take-off angle must be non-zero (negative: transmission anode)",
                              where="tube.takeoff_deg")
        set_(self, "window_Be_um", check_range(self.window_Be_um, "tube.window_Be_um", 0, MAX_WINDOW_BE_UM,
                                               what="tube window (µm Be)"))

    @property
    def is_transmission(self) -> bool:
        """True for a transmission (end-window) anode (negative take-off angle)."""
        return self.takeoff_deg < 0


@dataclass(frozen=True)
class Optic:
    """X-ray optic between tube and sample (PIXL: a polycapillary lens).

    The response multiplies the incident beam (PIQUANT's convention: a gain
    over the bare source solid angle ``##INCSR``, values above 1 are normal),
    interpolated by a cubic spline; below the table it is the first value, above
    it 0 (:mod:`pixlspec.physics.optic`). :meth:`piquant` gives the flight-model
    optics PIQUANT builds in (codes 8 and 7).

    Attributes
    ----------
    name : str
        Free description or PIQUANT optic code / file name.
    energies_keV, transmission : tuple of float
        Response versus energy (empty = no optic, response 1).
    second_derivatives : tuple of float
        Spline second derivatives (per keV²) at ``energies_keV``; empty = the
        natural cubic spline through the table.
    """

    name: str = "none"
    energies_keV: tuple[float, ...] = ()
    transmission: tuple[float, ...] = ()
    second_derivatives: tuple[float, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "energies_keV", tuple(
            check_range(e, "optic.energies_keV", 0, MAX_CONFIG_ENERGY_EV / 1000.0, what="optic energy (keV)")
            for e in self.energies_keV))
        object.__setattr__(self, "transmission", tuple(
            check_range(t, "optic.transmission", 0, None, what="optic transmission") for t in self.transmission))
        object.__setattr__(self, "second_derivatives", tuple(
            check_range(t, "optic.second_derivatives", what="optic spline second derivative")
            for t in self.second_derivatives))
        if len(self.energies_keV) != len(self.transmission):
            raise ConfigError("optic energies and transmission differ in length "
                              f"({len(self.energies_keV)} vs {len(self.transmission)})", where="optic")
        if self.second_derivatives and len(self.second_derivatives) != len(self.energies_keV):
            raise ConfigError("optic second derivatives and energies differ in length "
                              f"({len(self.second_derivatives)} vs {len(self.energies_keV)})", where="optic")
        if len(self.energies_keV) == 1:
            raise ConfigError("an optic table needs at least 2 energies", where="optic.energies_keV")
        if self.transmission and max(self.transmission) <= 0.0:
            raise ConfigError("optic transmission is 0 at every energy of its table (no photon would reach the "
                              "sample); expected a response > 0 somewhere", where="optic.transmission")
        if any(b <= a for a, b in zip(self.energies_keV, self.energies_keV[1:])):
            raise ConfigError("optic energies must increase strictly", where="optic.energies_keV")

    @classmethod
    def piquant(cls, code: int) -> "Optic":
        """A PIQUANT built-in optic: 8 (PIXL FM, Apr 2021) or 7 (PIXL FM, old)."""
        from .physics.optic import builtin_optic_table

        t = builtin_optic_table(code)
        return cls(name=f"PIQUANT optic {int(code)} ({t['name']})", energies_keV=t["energy_keV"],
                   transmission=t["response"], second_derivatives=t["second_derivatives_per_keV2"])

    def transmission_at(self, energy_eV):
        """Optic response at ``energy_eV`` (1 where no table is given)."""
        import numpy as np

        e = np.asarray(energy_eV, dtype=float)
        if not self.energies_keV:
            return np.ones_like(e)
        from .physics.optic import spline_response

        return spline_response(e / 1000.0, self.energies_keV, self.transmission, self.second_derivatives or None)


@dataclass(frozen=True)
class Detector:
    """A silicon drift detector with its energy calibration and response.

    Attributes
    ----------
    name : str
        "A" or "B" on PIXL.
    offset_eV, gain_eV_per_channel, quadratic_eV : float
        Energy calibration ``E(ch) = offset + gain*ch + quadratic*ch**2`` (eV).
    n_channels : int
        Channels per spectrum.
    fwhm_MnKa_eV : float
        Resolution (FWHM) at Mn Kα, 5.9 keV.
    fano : float
        Fano factor used with ``pair_energy_eV`` in FWHM(E).
    window_Be_um, dead_layer_um, si_thickness_um : float
        Be window, Si dead layer and active Si thickness (µm).
    solid_angle_sr : float
        Solid angle subtended at the sample.
    elevation_deg, azimuth_deg : float
        Take-off (elevation) angle from the sample surface, and the azimuth
        between the incident and detected planes.
    pileup_time_s : float
        Pulse-pair resolving time of the pile-up rejector.
    """

    name: str = "A"
    offset_eV: float = PIXL_CAL_A[0]
    gain_eV_per_channel: float = PIXL_CAL_A[1]
    quadratic_eV: float = 0.0
    n_channels: int = PIXL_N_CHANNELS
    fwhm_MnKa_eV: float = PIXL_DET_FWHM_MNKA_EV
    fano: float = DEFAULT_FANO
    window_Be_um: float = PIXL_DET_BE_WINDOW_UM
    dead_layer_um: float = DEFAULT_DEAD_LAYER_UM
    si_thickness_um: float = PIXL_DET_SI_THICKNESS_UM
    solid_angle_sr: float = PIXL_DET_SOLID_ANGLE_SR
    elevation_deg: float = PIXL_ELEVATION_DEG
    azimuth_deg: float = PIXL_AZIMUTH_DEG
    pileup_time_s: float = DEFAULT_PILEUP_TIME_S

    def __post_init__(self):
        where = f"detectors[{self.name}]"
        set_ = object.__setattr__
        n = self.n_channels
        if isinstance(n, bool) or not isinstance(n, (int, float)) or n != n or n in (float("inf"), float("-inf")) \
                or int(n) != n or not 2 <= n <= MAX_N_CHANNELS:
            raise ConfigError(f"n_channels must be an integer in [2, {MAX_N_CHANNELS}], got {n!r}",
                              where=f"{where}.n_channels")
        set_(self, "n_channels", int(n))
        from .checks import check_calibration

        try:
            off, gain, quad = check_calibration(self.offset_eV, self.gain_eV_per_channel, self.quadratic_eV,
                                                self.n_channels, what="energy calibration", error_cls=ConfigError,
                                                where=f"{where}.gain_eV_per_channel")
        except ConfigError as e:
            raise ConfigError(e.message, where=e.where) from None
        set_(self, "offset_eV", off)
        set_(self, "gain_eV_per_channel", gain)
        set_(self, "quadratic_eV", quad)
        ranges = {"fwhm_MnKa_eV": (0, MAX_FWHM_MNKA_EV, True), "fano": (0, MAX_FANO, True),
                  "window_Be_um": (0, MAX_WINDOW_BE_UM, False), "dead_layer_um": (0, MAX_DEAD_LAYER_UM, False),
                  "si_thickness_um": (0, MAX_SI_THICKNESS_UM, True), "solid_angle_sr": (0, FULL_SPHERE_SR, False),
                  "elevation_deg": (0, 90, True), "azimuth_deg": (-360, 360, False),
                  "pileup_time_s": (0, MAX_PILEUP_TIME_S, False)}
        for name, (lo, hi, lo_open) in ranges.items():
            set_(self, name, check_range(getattr(self, name), f"{where}.{name}", lo, hi, lo_open=lo_open))

    @property
    def noise_eV(self) -> float:
        """Electronic-noise FWHM (eV) implied by ``fwhm_MnKa_eV`` and ``fano``."""
        from .physics.detector import noise_from_fwhm_at_mnka

        return float(noise_from_fwhm_at_mnka(self.fwhm_MnKa_eV, fano=self.fano))


@dataclass(frozen=True)
class Instrument:
    """Everything about the instrument that the physics needs.

    Build the PIXL flight-model default with :meth:`pixl`, read a PIQUANT
    configuration with :meth:`from_piquant_config`, change a field with
    :func:`dataclasses.replace` or :meth:`with_detector`.

    Attributes
    ----------
    name : str
        Description.
    tube : Tube
    optic : Optic
    detectors : tuple of Detector
        One entry per detector, looked up by name with :meth:`detector`.
    incidence_deg : float
        Beam incidence angle on the sample, from the surface (90 = normal).
    atmosphere : str
        Gas between instrument and sample: "Vac", "He", "Mars" (CO₂) or "Air".
    path_in_cm, path_out_cm : float
        Gas path tube→sample (incl. optic) and sample→detector.
    gas_pressure_Pa, gas_temperature_K : float or None
        Gas state; ``None`` takes the default of the atmosphere.
    source_solid_angle_sr : float
        PIQUANT's ``##INCSR`` ("solid angle from source in steradians, can include
        normalization for optic file"). The FP uses it as PIQUANT does, as the
        fraction INCSR / 4π of the tube output (``shared/science/absolute-scale.md`` §1).
    geometry_factor : float
        Stand-off correction (##GEOMETRY), 1 at nominal stand-off.
    min_energy_eV : float
        Lowest energy used in fits.
    energy_correction_slope, energy_correction_offset_eV : float
        PIQUANT's low-energy linear correction (##DL_SLOPE eV/keV, ##DL_OFFSET eV).
    """

    name: str = "PIXL flight model (FM v7, Sept 2021)"
    tube: Tube = field(default_factory=Tube)
    optic: Optic = field(default_factory=lambda: Optic.piquant(8))
    detectors: tuple[Detector, ...] = field(default_factory=lambda: (
        Detector("A", *PIXL_CAL_A), Detector("B", *PIXL_CAL_B)))
    incidence_deg: float = PIXL_INCIDENCE_DEG
    atmosphere: str = "Mars"
    path_in_cm: float = PIXL_PATH_IN_CM
    path_out_cm: float = PIXL_PATH_OUT_CM
    gas_pressure_Pa: float | None = None
    gas_temperature_K: float | None = None
    source_solid_angle_sr: float = PIXL_SOURCE_SOLID_ANGLE_SR
    geometry_factor: float = 1.0
    min_energy_eV: float = PIXL_MIN_ENERGY_EV
    energy_correction_slope: float = 0.0
    energy_correction_offset_eV: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "detectors", tuple(self.detectors))
        if not self.detectors:
            raise ConfigError("an instrument needs at least one detector", where="detectors")
        names = [d.name for d in self.detectors]
        if len(set(names)) != len(names):
            raise ConfigError(f"detector names must be unique, got {names}", where="detectors")
        atm = {a.lower(): a for a in ATMOSPHERES}
        atm["earth"] = "Air"
        atm["vacuum"] = "Vac"
        key = str(self.atmosphere).strip().lower()
        if key not in atm:
            raise ConfigError(f"unknown atmosphere {self.atmosphere!r}; expected one of {ATMOSPHERES}",
                              where="atmosphere")
        object.__setattr__(self, "atmosphere", atm[key])
        set_ = object.__setattr__
        set_(self, "incidence_deg", check_range(self.incidence_deg, "incidence_deg", 0, 90, lo_open=True,
                                                what="incidence angle"))
        for name in ("path_in_cm", "path_out_cm"):
            set_(self, name, check_range(getattr(self, name), name, 0, MAX_PATH_CM, what="gas path length (cm)"))
        if self.gas_pressure_Pa is not None:
            set_(self, "gas_pressure_Pa", check_range(self.gas_pressure_Pa, "gas_pressure_Pa", 0,
                                                      MAX_GAS_PRESSURE_PA))
        if self.gas_temperature_K is not None:
            set_(self, "gas_temperature_K", check_range(self.gas_temperature_K, "gas_temperature_K", 0,
                                                        MAX_GAS_TEMPERATURE_K, lo_open=True))
        set_(self, "source_solid_angle_sr", check_range(self.source_solid_angle_sr, "source_solid_angle_sr", 0,
                                                        FULL_SPHERE_SR))
        set_(self, "geometry_factor", check_range(self.geometry_factor, "geometry_factor", 0, MAX_GEOMETRY_FACTOR,
                                                  lo_open=True))
        set_(self, "min_energy_eV", check_range(self.min_energy_eV, "min_energy_eV", 0, MAX_CONFIG_ENERGY_EV))
        set_(self, "energy_correction_slope", check_range(
            self.energy_correction_slope, "energy_correction_slope", -MAX_ENERGY_CORRECTION_SLOPE,
            MAX_ENERGY_CORRECTION_SLOPE))
        set_(self, "energy_correction_offset_eV", check_range(
            self.energy_correction_offset_eV, "energy_correction_offset_eV", -MAX_CONFIG_ENERGY_EV,
            MAX_CONFIG_ENERGY_EV))
        if not all(isinstance(d, Detector) for d in self.detectors):
            raise ConfigError("detectors must be Detector objects", where="detectors")
        if not isinstance(self.tube, Tube) or not isinstance(self.optic, Optic):
            raise ConfigError("tube and optic must be Tube and Optic objects", where="tube/optic")

    # --- constructors -------------------------------------------------------
    @classmethod
    def pixl(cls) -> "Instrument":
        """The PIXL flight model as configured for surface operations (FM v7, Sept 2021).

        Rh tube at 28 kV and 20 µA, polycapillary optic, normal beam incidence,
        two SDDs "A" and "B" at 70° elevation (17 µm Be, 500 µm Si, 170 eV at
        Mn Kα), 4096 channels (A: 7.862 eV/ch, −18.5 eV; B: 7.881 eV/ch,
        −22.4 eV), Mars CO₂ path of 10.3 cm in and 3.3 cm out.
        """
        return cls()

    @classmethod
    def from_piquant_config(cls, path: str | os.PathLike) -> "Instrument":
        """Read a PIQUANT instrument configuration ``.msa`` file.

        See :func:`pixlspec.io.piquant.read_piquant_config`.
        """
        from .io.piquant import read_piquant_config

        return read_piquant_config(path)

    # --- access -------------------------------------------------------------
    @property
    def detector_names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.detectors)

    def detector(self, name: str | None = None) -> Detector:
        """The detector called ``name`` (the first one when ``None``)."""
        if name is None:
            return self.detectors[0]
        for d in self.detectors:
            if d.name == name:
                return d
        raise ConfigError(f"no detector {name!r}; this instrument has {self.detector_names}",
                          where="detectors")

    def with_detector(self, name: str, **changes) -> "Instrument":
        """A copy with the fields of detector ``name`` changed (e.g. its calibration)."""
        self.detector(name)
        dets = tuple(replace(d, **changes) if d.name == name else d for d in self.detectors)
        return replace(self, detectors=dets)

    @property
    def scattering_angle_deg(self) -> dict[str, float]:
        """Scattering angle (incident to detected direction) per detector."""
        from .physics.detector import scattering_angle_deg

        return {d.name: float(scattering_angle_deg(self.incidence_deg, d.elevation_deg, d.azimuth_deg))
                for d in self.detectors}

    # --- serialisation ------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain nested dictionary (JSON/TOML friendly)."""
        d = dataclasses.asdict(self)
        d["detectors"] = [dataclasses.asdict(x) for x in self.detectors]
        d["optic"]["energies_keV"] = list(self.optic.energies_keV)
        d["optic"]["transmission"] = list(self.optic.transmission)
        d["optic"]["second_derivatives"] = list(self.optic.second_derivatives)
        # TOML has no null: drop unset optional values
        return {k: v for k, v in d.items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str | None = None) -> "Instrument":
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        if not isinstance(data, dict):
            raise ConfigError(f"expected a table/object, got {type(data).__name__}", path=source)
        data = dict(data)
        try:
            tube = Tube(**_only_known(Tube, data.pop("tube", {}), source, "tube"))
            optic = _stored_optic(_only_known(Optic, data.pop("optic", {}), source, "optic"))
            dets = data.pop("detectors", None)
            detectors = (tuple(Detector(**_only_known(Detector, d, source, f"detectors[{i}]"))
                               for i, d in enumerate(dets)) if dets is not None else None)
            kwargs = _only_known(cls, data, source, "instrument")
            if detectors is not None:
                kwargs["detectors"] = detectors
            return cls(tube=tube, optic=optic, **kwargs)
        except ConfigError as e:
            if e.path is None and source is not None:
                raise ConfigError(e.message, path=source, where=e.where) from None
            raise
        except (TypeError, ValueError, AttributeError) as e:
            raise ConfigError(f"invalid instrument description: {e}", path=source) from None

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str, *, source: str | None = None) -> "Instrument":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"invalid JSON: {e.msg}", path=source, where=e.lineno) from None
        return cls.from_dict(data, source=source)

    def to_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps(self.to_dict())

    @classmethod
    def from_toml(cls, text: str, *, source: str | None = None) -> "Instrument":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"invalid TOML: {e}", path=source) from None
        return cls.from_dict(data, source=source)

    def save(self, path: str | os.PathLike) -> None:
        """Write to ``.json`` or ``.toml`` (by extension), atomically."""
        from .io.atomic import atomic_write_text

        p = os.fspath(path)
        if p.lower().endswith(".toml"):
            atomic_write_text(p, self.to_toml())
        elif p.lower().endswith(".json"):
            atomic_write_text(p, self.to_json())
        else:
            raise ConfigError("instrument files end in .json or .toml", path=p)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Instrument":
        """Read a ``.json``/``.toml`` instrument file or a PIQUANT configuration ``.msa``."""
        p = os.fspath(path)
        low = p.lower()
        if low.endswith(".msa"):
            return cls.from_piquant_config(p)
        from .io.files import read_text_file

        if not low.endswith((".toml", ".json")):
            raise ConfigError("instrument files end in .json, .toml or .msa (PIQUANT)", path=p)
        text = read_text_file(p, kind="config", error_cls=ConfigError)
        if low.endswith(".toml"):
            return cls.from_toml(text, source=p)
        if low.endswith(".json"):
            return cls.from_json(text, source=p)
        raise ConfigError("instrument files end in .json, .toml or .msa (PIQUANT)", path=p)

    def __str__(self) -> str:
        t = self.tube
        dets = ", ".join(f"{d.name}: {d.gain_eV_per_channel:.4f} eV/ch {d.offset_eV:+.1f} eV "
                         f"{d.fwhm_MnKa_eV:.0f} eV@MnKa" for d in self.detectors)
        return (f"Instrument({self.name}; {t.anode} tube {t.voltage_kV:g} kV {t.current_uA:g} µA; "
                f"incidence {self.incidence_deg:g}°, {self.atmosphere} path "
                f"{self.path_in_cm:g}/{self.path_out_cm:g} cm; detectors {dets})")


#: The names pixlspec gave PIQUANT's built-in optics before their tables were built in (a name alone, no
#: table; ``io.piquant.OPTIC_CODES``): scan files and instrument descriptions of that time hold them.
_LEGACY_BUILTIN_OPTIC_NAMES = {"PIQUANT optic 8 (FM, Apr 2021)": 8, "PIQUANT optic 7 (FM (old))": 7}


def _stored_optic(d: dict) -> "Optic":
    """The optic of a stored instrument description. A PIQUANT built-in optic stored under its legacy
    name without its table is that built-in optic, table included: read as "no optic", such files were
    quantified ~7x too high uncalibrated. Any other name is taken as written."""
    code = _LEGACY_BUILTIN_OPTIC_NAMES.get(str(d.get("name", "")))
    if code is not None and not d.get("energies_keV") and not d.get("transmission"):
        return Optic.piquant(code)
    return Optic(**d)


def _only_known(klass, data: dict, source, where: str) -> dict:
    if not isinstance(data, dict):
        raise ConfigError(f"expected a table/object, got {type(data).__name__}", path=source, where=where)
    known = {f.name for f in fields(klass)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown keys {unknown}; expected some of {sorted(known)}", path=source,
                          where=where)
    return dict(data)
