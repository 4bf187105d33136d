"""PyMca fit configurations (``.cfg``) read into a :class:`FitConfig` and an :class:`Instrument`.

A PyMca ``.cfg`` is an INI-style file written by PyMca's ``ConfigDict``: sections
``[fit]``, ``[detector]``, ``[peaks]``, ``[attenuators]``, ``[tube]``,
``[concentrations]``, ... whose values are Python-like literals (numbers,
comma lists, strings). It is parsed here with :mod:`configparser` and
:func:`ast.literal_eval`, so PyMca need not be installed.

What maps where
---------------
========================================  ============================================================
PyMca                                     pixlspec
========================================  ============================================================
``[peaks] El = K | Ka, Kb | L | L1.. | M`` ``FitConfig.elements``: "El" (K), "El_L", "El_M"
``[fit] xmin, xmax`` (channels, with      ``FitConfig.min_energy_eV``/``max_energy_eV`` through the
``use_limit``)                            detector calibration
``[fit] stripflag`` (strip or SNIP)       ``background="snip"``; no strip and a continuum → "continuum";
                                          neither → "none"
``[fit] escapeflag, sumflag, scatterflag`` ``escape``, ``pileup``, ``scatter``
``[fit] hypermetflag`` (bits: 2 short     ``refine_tails`` (on when any tail or step is on)
tail, 4 long tail, 8 step)
``[fit] fitweight`` 0                     ``weights="none"`` (1: pixlspec keeps Pearson weights)
``[detector] zero, gain`` (keV, keV/ch)   every ``Detector.offset_eV``/``gain_eV_per_channel``
``[detector] noise, fano``                ``Detector.fwhm_MnKa_eV`` (PyMca's resolution formula at Mn Kα)
                                          and ``Detector.fano``
``[attenuators] Detector`` (Si)           ``Detector.si_thickness_um``
``[attenuators] window`` (Be)             ``Detector.window_Be_um``
``[attenuators] deadlayer`` (Si)          ``Detector.dead_layer_um``
``[attenuators] atmosphere`` (Air, He)    ``Instrument.atmosphere`` and ``path_out_cm``
``[attenuators] Matrix`` angles           ``Instrument.incidence_deg`` (α in) and ``Detector.elevation_deg``
                                          (α out), both from the surface as in pixlspec
``[tube] anode, voltage, windowthickness, ``Tube`` anode, kV, Be window, electron incidence, take-off
alphae, alphax``
``[concentrations] area, distance``       ``Detector.solid_angle_sr`` = area / distance²
========================================  ============================================================

Everything else that is switched on (beam filters, other absorbers, the
matrix material, multilayers, the excitation energies and weights, strip
parameters, PyMca's flux and time, peak-shape ratios, pile-up factor, fit
iterations) has no place in pixlspec's configuration and is listed in
:attr:`PymcaSettings.not_mapped` with the reason.
"""
from __future__ import annotations

import ast
import configparser
import math
import os
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import ConfigError, FormatError

__all__ = ["PymcaSettings", "read_pymca_cfg", "read_pymca_config", "pymca_fwhm_eV"]

#: Mn Kα1 energy (eV) at which detector resolution is quoted (xraydb, Elam tables).
MN_KA_EV = 5898.75
#: Mean energy to create an electron-hole pair in Si (eV); PyMca's resolution formula uses 3.85 eV.
PYMCA_SI_PAIR_ENERGY_EV = 3.85
#: FWHM / σ of a Gaussian.
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
KEV = 1000.0
CM_TO_UM = 1.0e4
#: PyMca's hypermet flag bits beyond the Gaussian: short tail (2), long tail (4), step (8).
HYPERMET_TAIL_BITS = 2 | 4 | 8
#: Attenuator names that PyMca gives fixed meaning.
_DETECTOR_ATTENUATORS = ("Detector", "window", "deadlayer", "atmosphere", "Matrix")


def pymca_fwhm_eV(noise_keV: float, fano: float, energy_eV: float = MN_KA_EV) -> float:
    """PyMca's detector resolution: FWHM² = noise² + (2.3548)² · 3.85 eV · F · E (returned in eV)."""
    return math.sqrt((noise_keV * KEV) ** 2 + FWHM_PER_SIGMA ** 2 * PYMCA_SI_PAIR_ENERGY_EV * fano * energy_eV)


@dataclass
class PymcaSettings:
    """A PyMca configuration as pixlspec understands it.

    Attributes
    ----------
    config : FitConfig
    instrument : Instrument
        The base instrument (default PIXL) with every mapped setting applied.
    mapped : dict of str to str
        PyMca setting → what it became in pixlspec.
    not_mapped : dict of str to str
        PyMca setting that is on but has no pixlspec counterpart → why.
    path : str
    """

    config: Any
    instrument: Any
    mapped: dict[str, str] = field(default_factory=dict)
    not_mapped: dict[str, str] = field(default_factory=dict)
    path: str = ""

    def report(self) -> str:
        lines = [f"[[PyMca configuration]] {self.path}", "mapped:"]
        lines += [f"    {k:<34} -> {v}" for k, v in self.mapped.items()]
        lines.append("not mapped:")
        lines += [f"    {k:<34}    {v}" for k, v in self.not_mapped.items()] or ["    (nothing)"]
        return "\n".join(lines)


def _value(text: str):
    """A ConfigDict value: Python literal, comma list of literals, or a plain string."""
    t = text.strip()
    if t == "":
        return ""
    try:
        return ast.literal_eval(t)
    except (ValueError, SyntaxError):
        pass
    if "," in t:
        return [_value(p) for p in t.split(",")]
    return t


def _read(path: str) -> dict[str, dict[str, Any]]:
    cp = configparser.ConfigParser(interpolation=None, strict=False)
    cp.optionxform = str                                  # keys are case-sensitive (element symbols)
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            cp.read_file(fh)
    except configparser.Error as e:
        raise FormatError(f"not a PyMca configuration (INI) file: {e.message.splitlines()[0]}", path=path) from None
    out: dict[str, dict[str, Any]] = {}
    for sec in cp.sections():
        out[sec] = {k: _value(v) for k, v in cp.items(sec)}
    if "fit" not in out and "peaks" not in out and "detector" not in out:
        raise FormatError("not a PyMca fit configuration: no [fit], [peaks] or [detector] section", path=path)
    return out


def _num(sec: dict, key: str, path: str, where: str, default=None) -> float | None:
    if key not in sec:
        return default
    v = sec[key]
    if isinstance(v, list):
        v = v[0] if v else default
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ConfigError(f"expected a number, got {v!r}", path=path, where=f"[{where}] {key}") from None


def _lines_of(value) -> list[str]:
    vals = value if isinstance(value, list) else [value]
    return [str(v).strip() for v in vals if str(v).strip()]


def _groups(peaks: dict[str, Any], not_mapped: dict[str, str], mapped: dict[str, str]) -> list[str]:
    from ..physics.lines import line_group

    out: list[str] = []
    for el, val in peaks.items():
        shells = []
        for ln in _lines_of(val):
            shell = ln[0].upper()
            if shell not in ("K", "L", "M"):
                not_mapped[f"[peaks] {el} = {ln}"] = "only K, L and M line groups are fitted"
                continue
            if shell not in shells:
                shells.append(shell)
        for shell in shells:
            name = el if shell == "K" else f"{el}_{shell}"
            try:
                line_group(name)
            except Exception as e:  # noqa: BLE001 - unknown element or no lines: report, go on
                not_mapped[f"[peaks] {el} {shell}"] = f"not a pixlspec line group ({e})"
                continue
            out.append(name)
        if shells:
            mapped[f"[peaks] {el} = {', '.join(_lines_of(val))}"] = \
                ", ".join(el if s == "K" else f"{el}_{s}" for s in shells)
    return out


def _attenuator(att: dict[str, Any], name: str) -> list | None:
    v = att.get(name)
    if not isinstance(v, list) or len(v) < 4:
        return None
    try:
        active = int(v[0])
    except (TypeError, ValueError):
        return None
    return v if active else None


def _material(v: list) -> str:
    """The formula of an attenuator without PyMca's trailing "1" (``Be1`` → ``Be``)."""
    m = str(v[1]).strip()
    return m[:-1] if m.endswith("1") and m[:-1].isalpha() else m


def read_pymca_cfg(path: str | os.PathLike, *, base=None) -> PymcaSettings:
    """Read a PyMca ``.cfg`` fit configuration.

    Parameters
    ----------
    path : str or os.PathLike
    base : Instrument, optional
        Instrument the mapped settings are applied to (default :meth:`Instrument.pixl`).

    Returns
    -------
    PymcaSettings
        ``config``, ``instrument``, and what was and was not mapped.

    Raises
    ------
    FormatError
        Not an INI file, or no PyMca sections.
    ConfigError
        A value of the wrong kind, or values pixlspec rejects (negative gain...).
    """
    from ..config import FitConfig
    from ..instrument import Instrument, Tube

    name = os.fspath(path)
    if not os.path.isfile(name):
        raise ConfigError("no such PyMca configuration file", path=name)
    cfg = _read(name)
    mapped: dict[str, str] = {}
    nm: dict[str, str] = {}
    inst = base or Instrument.pixl()
    fit = cfg.get("fit", {})
    det = cfg.get("detector", {})
    att = cfg.get("attenuators", {})

    # --- detector calibration and resolution -------------------------------------------------
    dchanges: dict[str, Any] = {}
    zero = _num(det, "zero", name, "detector")
    gain = _num(det, "gain", name, "detector")
    if zero is not None and gain is not None:
        dchanges["offset_eV"] = zero * KEV
        dchanges["gain_eV_per_channel"] = gain * KEV
        mapped["[detector] zero, gain"] = f"offset {zero * KEV:.4g} eV, gain {gain * KEV:.6g} eV/channel"
    noise = _num(det, "noise", name, "detector")
    fano = _num(det, "fano", name, "detector")
    if noise is not None and fano is not None:
        fw = pymca_fwhm_eV(noise, fano)
        dchanges["fwhm_MnKa_eV"] = fw
        dchanges["fano"] = fano
        mapped["[detector] noise, fano"] = f"FWHM at Mn Kα {fw:.1f} eV, Fano {fano:g}"
    ele = str(det.get("detele", "Si")).strip()
    if ele and ele != "Si":
        nm["[detector] detele"] = f"{ele} detector: pixlspec models Si detectors only"
    if _num(det, "sum", name, "detector", 0.0):
        nm["[detector] sum"] = "PyMca's pile-up factor; pixlspec fits pile-up from the count rate"

    # --- attenuators ----------------------------------------------------------------------------
    ichanges: dict[str, Any] = {}
    v = _attenuator(att, "Detector")
    if v is not None:
        if _material(v) == "Si":
            dchanges["si_thickness_um"] = float(v[3]) * CM_TO_UM
            mapped["[attenuators] Detector"] = f"Si thickness {float(v[3]) * CM_TO_UM:g} µm"
        else:
            nm["[attenuators] Detector"] = f"{v[1]} detector crystal: Si only"
    v = _attenuator(att, "window")
    if v is not None:
        if _material(v) == "Be":
            dchanges["window_Be_um"] = float(v[3]) * CM_TO_UM
            mapped["[attenuators] window"] = f"detector Be window {float(v[3]) * CM_TO_UM:g} µm"
        else:
            nm["[attenuators] window"] = f"{v[1]} window: pixlspec models a Be window"
    v = _attenuator(att, "deadlayer")
    if v is not None:
        if _material(v) == "Si":
            dchanges["dead_layer_um"] = float(v[3]) * CM_TO_UM
            mapped["[attenuators] deadlayer"] = f"Si dead layer {float(v[3]) * CM_TO_UM:g} µm"
        else:
            nm["[attenuators] deadlayer"] = f"{v[1]} dead layer: Si only"
    v = _attenuator(att, "atmosphere")
    if v is not None:
        gas = _material(v)
        key = {"air": "Air", "he": "He", "helium": "He", "co2": "Mars"}.get(gas.lower())
        if key is not None:
            ichanges["atmosphere"] = key
            ichanges["path_out_cm"] = float(v[3])
            mapped["[attenuators] atmosphere"] = f"{key}, {float(v[3]):g} cm sample → detector"
        else:
            nm["[attenuators] atmosphere"] = f"{v[1]}: pixlspec knows Air, He, Mars (CO2) and vacuum"
    v = att.get("Matrix")
    if isinstance(v, list) and len(v) >= 6:
        a_in, a_out = float(v[4]), float(v[5])
        if 0 < a_in <= 90:
            ichanges["incidence_deg"] = a_in
        if 0 < a_out <= 90:
            dchanges["elevation_deg"] = a_out
        mapped["[attenuators] Matrix angles"] = f"incidence {a_in:g}°, detector elevation {a_out:g}°"
        if int(v[0]) and str(v[1]).strip() not in ("-", ""):
            nm["[attenuators] Matrix material"] = (f"{v[1]}: the sample composition is what pixlspec "
                                                   "quantifies, not an input")
    for key, val in att.items():
        if key in _DETECTOR_ATTENUATORS:
            continue
        a = _attenuator(att, key)
        if a is not None and str(a[1]).strip() not in ("-", ""):
            why = ("primary beam filter: pixlspec's instrument has none" if key.startswith("BeamFilter")
                   else "extra absorber: pixlspec's instrument has no place for it")
            nm[f"[attenuators] {key}"] = f"{a[1]}, {float(a[3]):g} cm — {why}"

    # --- tube, solid angle -------------------------------------------------------------------------
    tube = cfg.get("tube", {})
    if tube:
        t = inst.tube
        tch = {}
        if "anode" in tube:
            tch["anode"] = str(tube["anode"]).strip()
        if "voltage" in tube:
            tch["voltage_kV"] = float(tube["voltage"])
        if "windowthickness" in tube and str(tube.get("window", "Be")).strip() == "Be":
            tch["window_Be_um"] = float(tube["windowthickness"]) * CM_TO_UM
        if "alphae" in tube:
            tch["electron_incidence_deg"] = float(tube["alphae"])
        if "alphax" in tube:
            tch["takeoff_deg"] = float(tube["alphax"]) * (-1.0 if int(tube.get("transmission", 0) or 0) else 1.0)
        try:
            ichanges["tube"] = replace(t, **tch) if isinstance(t, Tube) else Tube(**tch)
        except ConfigError as e:
            raise ConfigError(f"tube settings rejected: {e.message}", path=name, where="[tube]") from None
        mapped["[tube]"] = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in tch.items())
        if str(tube.get("filter1", "-")).strip() not in ("-", "", "He") and float(tube.get("filter1thickness", 0)):
            nm["[tube] filter1"] = "tube filter: pixlspec's tube has only its Be window"
    conc = cfg.get("concentrations", {})
    area = _num(conc, "area", name, "concentrations")
    dist = _num(conc, "distance", name, "concentrations")
    if area and dist:
        dchanges["solid_angle_sr"] = area / dist ** 2
        mapped["[concentrations] area, distance"] = f"detector solid angle {area / dist ** 2:.5g} sr"
    if conc and (conc.get("flux") or conc.get("time")):
        nm["[concentrations] flux, time"] = ("pixlspec's FP takes the tube current and live time, or a "
                                             "standards calibration, instead of a photon flux")
    ex = fit.get("energy")
    if isinstance(ex, list) and any(isinstance(e, (int, float)) for e in ex) or isinstance(ex, (int, float)):
        nm["[fit] energy (excitation)"] = "pixlspec computes the excitation from the tube (Rh lines and continuum)"

    try:
        dets = tuple(replace(d, **dchanges) for d in inst.detectors)
        inst = replace(inst, detectors=dets, name=f"{inst.name} + PyMca {os.path.basename(name)}", **ichanges)
    except ConfigError as e:
        raise ConfigError(f"values rejected: {e.message}", path=name, where=e.where) from None

    # --- fit options -------------------------------------------------------------------------------
    kw: dict[str, Any] = {}
    elements = _groups(cfg.get("peaks", {}), nm, mapped)
    if elements:
        kw["elements"] = tuple(elements)
    if int(_num(fit, "use_limit", name, "fit", 0) or 0) and zero is not None and gain is not None:
        xmin = _num(fit, "xmin", name, "fit")
        xmax = _num(fit, "xmax", name, "fit")
        if xmin is not None and xmax is not None:
            kw["min_energy_eV"] = (zero + gain * xmin) * KEV
            kw["max_energy_eV"] = (zero + gain * xmax) * KEV
            mapped["[fit] xmin, xmax"] = (f"channels {xmin:g}-{xmax:g} = {kw['min_energy_eV']:.0f}-"
                                          f"{kw['max_energy_eV']:.0f} eV")
    strip = int(_num(fit, "stripflag", name, "fit", 0) or 0)
    cont = int(_num(fit, "continuum", name, "fit", 0) or 0)
    if "stripflag" in fit:
        kw["background"] = "snip" if strip else ("continuum" if cont else "none")
        mapped["[fit] stripflag, continuum"] = f"background {kw['background']}"
        if strip:
            nm["[fit] strip/SNIP parameters"] = ("pixlspec sets the SNIP width from the detector resolution "
                                                 "(snip_width_fwhm), not in channels")
        if cont:
            nm["[fit] continuum"] = ("PyMca's polynomial continuum: pixlspec's continuum is the physical "
                                     "bremsstrahlung shape times splines")
    for key, attr in (("escapeflag", "escape"), ("sumflag", "pileup"), ("scatterflag", "scatter")):
        if key in fit:
            kw[attr] = bool(int(_num(fit, key, name, "fit")))
            mapped[f"[fit] {key}"] = f"{attr} {kw[attr]}"
    if "hypermetflag" in fit:
        kw["refine_tails"] = bool(int(_num(fit, "hypermetflag", name, "fit")) & HYPERMET_TAIL_BITS)
        mapped["[fit] hypermetflag"] = f"refine_tails {kw['refine_tails']}"
        nm["[peakshape]"] = "PyMca's tail/step ratios: pixlspec refines its own hypermet tail in the fit"
    if "fitweight" in fit:
        if int(_num(fit, "fitweight", name, "fit")) == 0:
            kw["weights"] = "none"
            mapped["[fit] fitweight"] = "weights none"
        else:
            nm["[fit] fitweight"] = ("PyMca weights by the data (Neyman); pixlspec keeps Pearson weights "
                                     "(variance = model), unbiased at low counts")
    if "maxiter" in fit:
        nm["[fit] maxiter"] = "pixlspec's fit stops on its tolerance (max_nfev), not on iterations"
    layers = [k for k, v in cfg.get("multilayer", {}).items() if isinstance(v, list) and v and v[0] == 1]
    if layers:
        nm["[multilayer]"] = f"{', '.join(layers)}: pixlspec quantifies a single homogeneous layer"
    try:
        config = FitConfig(**kw)
    except ConfigError as e:
        raise ConfigError(f"fit settings rejected: {e.message}", path=name, where=e.where) from None
    return PymcaSettings(config=config, instrument=inst, mapped=mapped, not_mapped=nm, path=name)


#: Public name (``px.read_pymca_config``).
read_pymca_config = read_pymca_cfg
