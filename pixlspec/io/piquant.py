"""PIQUANT files: instrument configuration ``.msa``, optic efficiency, standards and ECF CSVs.

Formats: ``shared/science/pixl-formats.md`` §2 (configuration, optic, ECF
calibration CSV) and §4 (standards input CSV).

Configuration keyword → :class:`~pixlspec.instrument.Instrument` mapping
-----------------------------------------------------------------------
========================  ===============================================  =================
keyword                   field                                            unit conversion
========================  ===============================================  =================
``##ANODE``               ``tube.anode`` (Z → symbol, or a symbol)
``#BEAMKV``               ``tube.voltage_kV``
``#EMISSION``             ``tube.current_uA`` (0 → 20 µA, PIQUANT default)
``##TUBEINCANG``          ``tube.electron_incidence_deg``
``##TUBETAKEOF``          ``tube.takeoff_deg`` (negative = transmission)
``##TUBEWINDOW``          ``tube.window_Be_um``                            mm → µm
``##OPTICFILE``           ``optic`` (7, 8 → built-in FM response; file → table)
``##INCSR``               ``source_solid_angle_sr`` (0 → 4π)
``##INCANGLE``            ``incidence_deg``
``#ELEVANGLE``            ``detectors[*].elevation_deg``
``#AZIMANGLE``            ``detectors[*].azimuth_deg``
``##GEOMETRY``            ``geometry_factor`` (0 → 1)
``#SOLIDANGLE``           ``detectors[*].solid_angle_sr`` (0 → 4π)
``#TBEWIND``              ``detectors[*].window_Be_um``                    cm → µm
``#TACTLYR``              ``detectors[*].si_thickness_um``                 cm → µm
``##DETRES``              ``detectors[*].fwhm_MnKa_eV``
``##ATMOSPHERE``          ``atmosphere``
``##PATHINCLEN/EMGLEN``   ``path_in_cm`` / ``path_out_cm``
``##MINIMUM_EN``          ``min_energy_eV``
``##DL_SLOPE/DL_OFFSET``  ``energy_correction_slope/offset_eV``
``#XPERCHAN/#OFFSET``     one :class:`Detector` per listed value ("A", "B"), keV → eV if ``#XUNITS`` is keV
``#NPOINTS`` (> 0)        ``detectors[*].n_channels``
``#TITLE/#OWNER``         ``name`` ("OWNER: TITLE"; unset values N/A, <tbd> dropped; else the file stem)
========================  ===============================================  =================

Absent keywords keep the :meth:`Instrument.pixl` (FM v7) value, except the
gas path lengths when ``##ATMOSPHERE`` is given without them: He → 2.0/3.2 cm
(the breadboard's, SOURCES.md), Vac → 0/0, Mars/Air → the FM 10.3/3.316 cm.
``#LIVETIME`` ("for pure calculations"), ``#EDSDET`` SDBEW/SIBEW and
``##FILTERZ``/``##WINDOWTYPE`` set to "none" have no Instrument field and are
ignored; a real primary filter, sample window, stage tilt or non-Si detector
cannot be represented and raises a :class:`UserWarning`.
"""
from __future__ import annotations

import math
import os
import re
import string
import warnings
from dataclasses import replace
from pathlib import Path

from ..errors import ConfigError, MSAFormatError, UnknownElementError
from ..instrument import Instrument, Optic
from .msa import unit_exponent
from .msa_header import MSAHeader, check_magic, is_number, parse_msa_header, read_lines, unset_value

__all__ = ["read_piquant_config", "instrument_from_header", "read_optic_file"]

# --- constants (sources: pixl-formats.md §2 and the real configuration files) ---
#: PIQUANT's default tube current when #EMISSION is 0 (µA).
PIQUANT_DEFAULT_EMISSION_UA = 20.0
#: Unit conversions as decimal exponents (exact decimal shifts).
MM_TO_UM_EXP = 3
CM_TO_UM_EXP = 4
#: Full sphere, used when #SOLIDANGLE is 0 (PIQUANT: 0 → 4π).
FULL_SOLID_ANGLE_SR = 4.0 * math.pi
#: Gas path lengths (in, out) in cm when ##ATMOSPHERE is given without them:
#: He from the breadboard configuration (SOURCES.md: 2.0 cm in / 3.2 cm out), none in vacuum.
DEFAULT_PATHS_CM = {"He": (2.0, 3.2), "Vac": (0.0, 0.0)}
#: PIQUANT optic codes (pixl-formats.md §2, ##OPTICFILE). 0 and 1 mean no optic.
OPTIC_CODES = {2: "boxcar", 3: "old PIXL", 4: "file", 5: "2017 breadboard", 7: "FM (old)",
               8: "FM, Apr 2021"}
#: Detector types PIQUANT knows; pixlspec models Si detectors only.
SI_DETECTOR_TYPES = ("SDBEW", "SIBEW")
#: Keywords that describe one spectrum, not the instrument: never applied from a spectrum header.
PER_SPECTRUM_KEYWORDS = frozenset({"XPERCHAN", "OFFSET", "QUADRATIC", "LIVETIME", "REALTIME", "NPOINTS",
                                   "NCOLUMNS", "GEOMETRY"})

_FIELD_KEYWORD = {
    "tube.voltage_kV": "BEAMKV", "tube.current_uA": "EMISSION", "tube.electron_incidence_deg": "TUBEINCANG",
    "tube.takeoff_deg": "TUBETAKEOF", "tube.window_Be_um": "TUBEWINDOW", "optic": "OPTICFILE",
    "optic.energies_keV": "OPTICFILE", "optic.transmission": "OPTICFILE", "atmosphere": "ATMOSPHERE",
    "incidence_deg": "INCANGLE",
    "path_in_cm/path_out_cm": "PATHINCLEN", "geometry_factor": "GEOMETRY", "fwhm_MnKa_eV": "DETRES",
    "window_Be_um": "TBEWIND", "si_thickness_um": "TACTLYR", "solid_angle_sr": "SOLIDANGLE",
    "elevation": "ELEVANGLE", "gain": "XPERCHAN", "n_channels": "NPOINTS",
    "source_solid_angle_sr": "INCSR", "path_in_cm": "PATHINCLEN", "path_out_cm": "PATHEMGLEN",
    "min_energy_eV": "MINIMUM_EN", "energy_correction_slope": "DL_SLOPE", "energy_correction_offset_eV": "DL_OFFSET",
}


# --------------------------------------------------------------------------- configuration
def _element_symbol(token: str, header: MSAHeader, key: str) -> str:
    from ..physics.elements import check_element, element_symbol

    try:
        if is_number(token):
            return element_symbol(int(float(token)) if float(token).is_integer() else float(token))
        return check_element(token)
    except UnknownElementError as e:
        raise ConfigError(f"#{key}: {e.message}", path=header.path, where=header.line(key)) from None


def _warn_ignored(header: MSAHeader, key: str, what: str) -> None:
    warnings.warn(f"{header.path}: line {header.line(key)}: {what} is not modelled by pixlspec and is "
                  "ignored", UserWarning, stacklevel=4)


def _resolve_beside(name: str, directory: str | None) -> Path | None:
    """``name`` (relative, absolute or a Windows path) resolved by basename next to ``directory``."""
    base = re.split(r"[\\/]", name)[-1]
    candidates = []
    if directory is not None:
        candidates += [Path(directory) / base, Path(directory) / name]
    candidates.append(Path(name))
    for c in candidates:
        if c.is_file():
            return c
    return None


def _optic(header: MSAHeader, directory: str | None) -> Optic:
    toks = header.tokens("OPTICFILE")
    if not toks:
        raise ConfigError("##OPTICFILE: expected an optic code or a file name", path=header.path,
                          where=header.line("OPTICFILE"))
    tok = toks[0]
    if is_number(tok):
        code = float(tok)
        if not code.is_integer() or code < 0:
            raise ConfigError(f"##OPTICFILE: expected an integer code >= 0, got {tok!r}", path=header.path,
                              where=header.line("OPTICFILE"))
        code = int(code)
        if code in (0, 1):
            return Optic()
        from ..physics.optic import BUILTIN_OPTIC_CODES

        if code in BUILTIN_OPTIC_CODES:  # the flight-model responses PIQUANT builds in (package data)
            return Optic.piquant(code)
        warnings.warn(f"{header.path}: line {header.line('OPTICFILE')}: PIQUANT optic code {code} "
                      f"({OPTIC_CODES.get(code, 'unknown code')}) has no response table in pixlspec; the "
                      "beam is taken without an optic (response 1)", UserWarning, stacklevel=4)
        return Optic(name=f"PIQUANT optic {code} ({OPTIC_CODES.get(code, 'unknown code')})")
    found = _resolve_beside(tok, directory)
    if found is None:
        base = re.split(r"[\\/]", tok)[-1]
        raise ConfigError(f"##OPTICFILE: optic file {base!r} not found next to the "
                          f"configuration (in {directory})", path=header.path, where=header.line("OPTICFILE"))
    return read_optic_file(found)


def _config_error(e: ConfigError, header: MSAHeader) -> ConfigError:
    """Re-raise a dataclass validation error with the file and the line of its keyword."""
    key = _FIELD_KEYWORD.get(str(e.where))
    if key is None:
        # the field named in the message, as a whole word ("source_solid_angle_sr" is not "solid_angle_sr")
        named = [f for f in _FIELD_KEYWORD if re.search(rf"(?<![\w.]){re.escape(f)}(?!\w)", e.message)]
        if named:
            key = _FIELD_KEYWORD[max(named, key=len)]
    line = header.line(key) if key else None
    msg = f"#{key}: {e.message}" if key else e.message
    return ConfigError(msg, path=header.path, where=line if line is not None else e.where)


def instrument_from_header(header: MSAHeader, *, base: Instrument | None = None, spectrum: bool = False,
                           directory: str | None = None) -> Instrument:
    """Apply the PIQUANT configuration keywords of ``header`` to ``base``.

    Parameters
    ----------
    header : MSAHeader
        Tokenized header of a configuration or spectrum file.
    base : Instrument, optional
        Values of absent keywords (default :meth:`Instrument.pixl`).
    spectrum : bool
        True for a spectrum header: the per-spectrum keywords (calibration,
        live time, NPOINTS, ##GEOMETRY) are not applied, and ``base`` itself is
        returned when no configuration keyword is present.
    directory : str, optional
        Where to look for an optic file named by ``##OPTICFILE`` (default:
        the header file's folder).

    Returns
    -------
    Instrument

    Raises
    ------
    ConfigError, MSAFormatError
        For invalid values, naming the file and line.
    """
    base = base if base is not None else Instrument.pixl()
    if directory is None and header.path is not None:
        directory = os.path.dirname(os.path.abspath(header.path))
    present = {k for k in header if not (spectrum and k in PER_SPECTRUM_KEYWORDS)}
    tube: dict = {}
    inst: dict = {}
    det: dict = {}

    def num(key, exp10=0):
        return header.number(key, exp10=exp10) if key in present else None

    if "ANODE" in present:
        toks = header.tokens("ANODE")
        if not toks:
            raise ConfigError("##ANODE: expected an atomic number or element symbol", path=header.path,
                              where=header.line("ANODE"))
        tube["anode"] = _element_symbol(toks[0], header, "ANODE")
    for key, name, exp in (("BEAMKV", "voltage_kV", 0), ("TUBEINCANG", "electron_incidence_deg", 0),
                           ("TUBETAKEOF", "takeoff_deg", 0), ("TUBEWINDOW", "window_Be_um", MM_TO_UM_EXP)):
        v = num(key, exp)
        if v is not None:
            tube[name] = v
    v = num("EMISSION")
    if v is not None:
        tube["current_uA"] = v if v != 0 else PIQUANT_DEFAULT_EMISSION_UA
    v = num("INCSR")
    if v is not None:  # PIQUANT: 0 (or absent) means the full sphere
        inst["source_solid_angle_sr"] = v if v != 0 else FULL_SOLID_ANGLE_SR
    for key, name in (("INCANGLE", "incidence_deg"),
                      ("MINIMUM_EN", "min_energy_eV"), ("DL_SLOPE", "energy_correction_slope"),
                      ("DL_OFFSET", "energy_correction_offset_eV"), ("PATHINCLEN", "path_in_cm"),
                      ("PATHEMGLEN", "path_out_cm")):
        v = num(key)
        if v is not None:
            inst[name] = v
    v = num("GEOMETRY")
    if v is not None:
        if v < 0:
            raise ConfigError(f"##GEOMETRY is {v}; expected >= 0 (0 means 1)", path=header.path,
                              where=header.line("GEOMETRY"))
        inst["geometry_factor"] = v if v != 0 else 1.0
    if "ATMOSPHERE" in present:
        toks = header.tokens("ATMOSPHERE")
        if not toks:
            raise ConfigError("##ATMOSPHERE: expected Vac, He, Mars, Earth or Air", path=header.path,
                              where=header.line("ATMOSPHERE"))
        inst["atmosphere"] = toks[0]
    if "OPTICFILE" in present:
        inst["optic"] = _optic(header, directory)
    for key, name, exp in (("ELEVANGLE", "elevation_deg", 0), ("AZIMANGLE", "azimuth_deg", 0),
                           ("TBEWIND", "window_Be_um", CM_TO_UM_EXP), ("TACTLYR", "si_thickness_um", CM_TO_UM_EXP),
                           ("DETRES", "fwhm_MnKa_eV", 0)):
        v = num(key, exp)
        if v is not None:
            det[name] = v
    v = num("SOLIDANGLE")
    if v is not None:
        det["solid_angle_sr"] = v if v != 0 else FULL_SOLID_ANGLE_SR
    # --- things Instrument cannot hold --------------------------------------
    if "FILTERTH" in present and (num("FILTERTH") or 0) > 0 and (num("FILTERZ") or 1) > 1:
        _warn_ignored(header, "FILTERTH", "a primary beam filter (##FILTERZ/##FILTERTH)")
    wt = header.tokens("WINDOWTYPE") if "WINDOWTYPE" in present else []
    if (wt and wt[0].lower() != "none") or ("WINDOWTH" in present and (num("WINDOWTH") or 0) > 0):
        _warn_ignored(header, "WINDOWTYPE", "a window between instrument and sample (##WINDOWTYPE)")
    for key in ("XTILTSTGE", "YTILTSTGE"):
        if key in present and (num(key) or 0) != 0:
            _warn_ignored(header, key, f"a stage tilt (#{key})")
    if "EDSDET" in present:
        toks = header.tokens("EDSDET")
        if toks and toks[0].upper() not in SI_DETECTOR_TYPES:
            _warn_ignored(header, "EDSDET", f"detector type {toks[0]!r} (only Si detectors are modelled)")

    # --- detectors --------------------------------------------------------------
    detectors = base.detectors
    if not spectrum and ("XPERCHAN" in present or "OFFSET" in present):
        exp = unit_exponent(header)
        gains = header.leading_numbers("XPERCHAN", exp10=exp) if "XPERCHAN" in present else []
        offsets = header.leading_numbers("OFFSET", exp10=exp) if "OFFSET" in present else []
        quads = header.leading_numbers("QUADRATIC", exp10=exp) if "QUADRATIC" in present else [0.0]
        if not gains or not offsets:
            missing = "#OFFSET" if gains else "#XPERCHAN"
            raise ConfigError(f"{missing} is missing; the calibration needs both #XPERCHAN and #OFFSET",
                              path=header.path, where=header.line("XPERCHAN" if gains else "OFFSET"))
        n = max(len(gains), len(offsets))
        lists = []
        for key, vals in (("XPERCHAN", gains), ("OFFSET", offsets), ("QUADRATIC", quads)):
            if len(vals) == 1:
                vals = vals * n
            elif len(vals) != n:
                raise ConfigError(f"#{key} lists {len(vals)} values, #XPERCHAN/#OFFSET {n}; expected one "
                                  "value per detector", path=header.path, where=header.line(key))
            lists.append(vals)
        names = string.ascii_uppercase[:n]
        templates = {d.name: d for d in base.detectors}
        try:
            detectors = tuple(replace(templates.get(nm, base.detectors[0]), name=nm, gain_eV_per_channel=g,
                                      offset_eV=o, quadratic_eV=q)
                              for nm, g, o, q in zip(names, *lists))
        except ConfigError as e:
            raise _config_error(e, header) from None
    if not spectrum:
        npts = header.integer("NPOINTS") if "NPOINTS" in present else None
        if npts:
            det["n_channels"] = npts
    if "atmosphere" in inst and "path_in_cm" not in inst and "path_out_cm" not in inst:
        key = str(inst["atmosphere"]).strip().lower()
        for atm, paths in DEFAULT_PATHS_CM.items():
            if atm.lower() == key:
                inst["path_in_cm"], inst["path_out_cm"] = paths
    if not spectrum:
        owner = header.text("OWNER")
        owner = None if unset_value(owner) else re.split(r"\s{2,}|\t", owner.strip())[0]
        titles = [" ".join(t.split()) for t in (header["TITLE"] if "TITLE" in header else [])
                  if not unset_value(t)]
        parts = [p for p in (owner, titles[0] if titles else None) if p]
        inst["name"] = ": ".join(parts) if parts else (Path(header.path).stem if header.path else "PIQUANT")
    if spectrum and not (tube or inst or det) and detectors is base.detectors:
        return base
    try:
        if det:
            detectors = tuple(replace(d, **det) for d in detectors)
        return replace(base, tube=replace(base.tube, **tube) if tube else base.tube, detectors=detectors,
                       **inst)
    except ConfigError as e:
        raise _config_error(e, header) from None


def read_piquant_config(path: str | os.PathLike) -> Instrument:
    """Read a PIQUANT instrument configuration ``.msa`` file (``#NPOINTS : 0``).

    Parameters
    ----------
    path : str or os.PathLike
        Configuration file. An optic file named in ``##OPTICFILE`` is looked up
        by its basename in the same folder.

    Returns
    -------
    Instrument
        See the module docstring for the keyword mapping and defaults. One
        detector per value listed in ``#XPERCHAN``/``#OFFSET`` ("A", "B", ...),
        whatever ``#NCOLUMNS`` says (Rev2 lists 2 values with NCOLUMNS 1).

    Raises
    ------
    MSAFormatError
        For a file that is not an MSA keyword file.
    ConfigError
        For invalid or unusable values (naming the file and line).
    """
    p = os.fspath(path)
    header = parse_msa_header(read_lines(p, MSAFormatError), p)
    check_magic(header)
    return instrument_from_header(header, base=Instrument.pixl(), spectrum=False,
                                  directory=os.path.dirname(os.path.abspath(p)))


# --------------------------------------------------------------------------- optic
def read_optic_file(path: str | os.PathLike) -> Optic:
    """Read a PIQUANT optic efficiency file: two columns, energy (keV) and relative transmission.

    Columns are separated by blanks, tabs or a comma; reading stops at the
    first empty line (as PIQUANT does); a missing final newline is fine.

    Returns
    -------
    Optic
        Named after the file's basename.

    Raises
    ------
    ConfigError
        For non-numeric, negative or non-increasing values, or fewer than 2 rows.
    """
    p = os.fspath(path)
    lines = read_lines(p, ConfigError)
    energies: list[float] = []
    trans: list[float] = []
    for i, line in enumerate(lines):
        s = line.strip()
        if not s:
            break
        toks = [t for t in re.split(r"[,\s]+", s) if t]
        if len(toks) < 2 or not is_number(toks[0]) or not is_number(toks[1]):
            raise ConfigError(f"expected two numbers (energy keV, transmission), got {s[:40]!r}", path=p,
                              where=i + 1)
        e, t = float(toks[0]), float(toks[1])
        if not (math.isfinite(e) and math.isfinite(t)) or e < 0 or t < 0:
            raise ConfigError(f"energy and transmission must be finite and >= 0, got {e}, {t}", path=p,
                              where=i + 1)
        if energies and e <= energies[-1]:
            raise ConfigError(f"energy {e} keV does not increase (previous {energies[-1]} keV)", path=p,
                              where=i + 1)
        energies.append(e)
        trans.append(t)
    if len(energies) < 2:
        raise ConfigError(f"an optic table needs >= 2 rows, found {len(energies)}", path=p, where=1)
    try:
        return Optic(name=os.path.basename(p), energies_keV=tuple(energies), transmission=tuple(trans))
    except ConfigError as e:
        raise ConfigError(e.message, path=p, where=e.where) from None

