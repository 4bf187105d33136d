"""PIQUANT's element-calibration (ECF) tables as a :class:`~pixlspec.quant.calibration.Calibration`.

:func:`read_piquant_calibration` reads the table's standards, their compositions, PIQUANT's ECFs and the
measured intensities (``shared/science/pixl-formats.md`` §2), and makes pixlspec factors from them:
the table's intensities over this FP's counts, or PIQUANT's own ECFs.
"""
from __future__ import annotations

import math
import os
import re
import numpy as np

from ..errors import ConfigError
from ..instrument import Instrument
from ..physics.attenuation import parse_composition
from .calibration import SCALE_MIN_ENERGY_EV, Calibration, line_series
from .fp import fp_model

__all__ = ["read_piquant_calibration", "PIQUANT_MIN_REL_SIGMA"]


#: Dwell time written into a PIQUANT calibration file name ("..._5minECFs_..."): minutes.
_DWELL_IN_NAME = re.compile(r"(\d+(?:\.\d+)?)\s*min", re.IGNORECASE)
#: Detector letter in PIQUANT standard spectrum names ("Dwell_B_0611873973_...msa").
_DETECTOR_IN_NAME = re.compile(r"(?:^|[_\\-])([A-Z])_\d")
#: Floor of the relative 1σ of one standard's factor (the table's ECF sigma is counting only).
PIQUANT_MIN_REL_SIGMA: float = 0.005
_SECONDS_PER_MINUTE = 60.0


def _standard_composition(entry) -> tuple[dict[str, float], str]:
    """Mass fractions of a pure-compound standard of a PIQUANT table, and how they were obtained.

    The standard's name is taken as its formula when it parses ("NaCl", "Al2O3", "MgCO3", "Fe"):
    the table's percent column is PIQUANT's input and mixes conventions (Al 100 % with oxide
    ratio 1.5 for the Al2O3 puck, Mg 82.39 % for MgCO3 with a "Carbonates" option). Otherwise
    the listed element amounts with O by their oxide ratios, normalised to 100 % when above it.
    """
    from ..errors import PixlspecError
    from .standards import reference_from_piquant

    try:
        fr = parse_composition(entry.name)
        return dict(fr), f"formula {entry.name}"
    except PixlspecError:
        pass
    comp = reference_from_piquant(entry).composition_wt
    total = sum(comp.values())
    if total > 100.0:
        comp = {k: 100.0 * v / total for k, v in comp.items()}
    return dict(parse_composition(comp)), "listed amounts"


def read_piquant_calibration(path: str | os.PathLike[str], instrument: Instrument | None = None, *,
                             method: str = "auto", live_time_s: float | None = None, detector: str | None = None,
                             secondary: bool = True) -> Calibration:
    """A :class:`Calibration` from a PIQUANT element-calibration (ECF) table.

    PIQUANT's ECF of an element line is *measured ÷ calculated* net intensity on a
    standard (``shared/science/pixl-formats.md`` §2, ``absolute-scale.md`` §3): it
    multiplies PIQUANT's calculated intensity, exactly as a pixlspec factor multiplies
    the FP area (``area = live time x k x FP rate``). The table lists, per pure standard,
    its composition, PIQUANT's ECF (and 1σ) and the measured intensity of each line.

    Parameters
    ----------
    path : str or os.PathLike
        ``Calibration_*.csv`` written by PIQUANT.
    instrument : Instrument, optional
        The instrument the table calibrates (default :meth:`Instrument.pixl`, the flight
        model as configured by Rev2; give the PIQUANT configuration the table belongs to).
    method : {"auto", "intensities", "ecf"}
        ``"intensities"``: pixlspec's own factors, from the table's measured intensities and
        this FP model: ``k = I / (live_time_s x FP rate of the standard)`` (PIQUANT's
        numbers are not needed, only its measurements; the factor then corrects *this*
        model). ``"ecf"``: PIQUANT's ECFs taken as the factors — right only insofar as
        pixlspec's FP reproduces PIQUANT's absolute intensities. ``"auto"``:
        ``"intensities"`` when the dwell live time is known (``live_time_s`` or a
        ``<n>min`` in the file name, e.g. ``..._5minECFs_...`` -> 300 s), else ``"ecf"``.
    live_time_s : float, optional
        Live time of the standards' spectra (the table does not carry it).
    detector : str, optional
        Detector of the standards (default: the letter of the table's spectrum names,
        ``Dwell_B_...`` -> "B", when the instrument has it; else its first detector).
    secondary : bool
        Secondary fluorescence in the FP of the standards.

    Returns
    -------
    Calibration
        ``factors`` per line group ("Fe", "Zr", "Zr_L", "Ce_L"), combined over standards
        (inverse-variance weighted mean with the table's weights; 1σ the larger of the
        formal error and the spread); ``ratios`` per standard; groups without a factor
        (P, Mn, Cr in the flight table) are interpolated by :meth:`Calibration.factors_for`.
        ``notes`` say how the factors were made (and, for ``"intensities"``, the live time
        assumed, and PIQUANT's ECF for comparison).

    Raises
    ------
    CSVFormatError
        Not a PIQUANT calibration table (names the file and line).
    ConfigError
        ``method="intensities"`` without a known live time, or no usable line in the table.
    """
    from ..errors import PixlspecError
    from ..io.piquant_tables import read_piquant_calibration as read_table
    from .fp import resolve_group

    p = os.fspath(path)
    base = os.path.basename(p)
    if method not in ("auto", "intensities", "ecf"):
        raise ConfigError(f"method must be 'auto', 'intensities' or 'ecf', got {method!r}", path=p)
    entries = read_table(p)
    instrument = instrument or Instrument.pixl()
    if live_time_s is None and method in ("auto", "intensities"):
        m = _DWELL_IN_NAME.search(base)
        if m:
            live_time_s = float(m.group(1)) * _SECONDS_PER_MINUTE
    if method == "auto":
        method = "intensities" if live_time_s else "ecf"
    if method == "intensities" and not (live_time_s and live_time_s > 0):
        raise ConfigError("method 'intensities' needs the standards' live time (live_time_s=...): the table "
                          "does not carry it and its name gives no '<n>min'", path=p)
    if detector is None:
        letters = {m.group(1) for e in entries if e.spectrum_basename
                   for m in [_DETECTOR_IN_NAME.search(e.spectrum_basename)] if m}
        detector = letters.pop() if len(letters) == 1 else None
    if detector not in instrument.detector_names:
        detector = instrument.detectors[0].name
    kv = instrument.tube.voltage_kV

    rows = []   # (standard label, group, k, rel sigma, weight, piquant ecf, intensity)
    seen = set()
    skipped = []
    for e in entries:
        lines = [x for x in e.elements if x.type == "element" and x.ecf and x.ecf > 0 and x.intensity
                 and x.intensity > 0]
        if not lines:
            continue
        comp, how = _standard_composition(e) if method == "intensities" else ({}, "")
        for x in lines:
            key = (e.name, e.spectrum_basename, x.element, x.line)
            if key in seen:
                continue
            seen.add(key)
            try:
                if x.line and x.line != "K":
                    g = resolve_group(f"{x.element}_{x.line}", kv)[0]
                else:
                    g, _, shell = resolve_group(x.element, kv)
                    if x.line == "K" and shell != "K":
                        g = resolve_group(f"{x.element}_K", kv)[0]
            except PixlspecError as exc:
                skipped.append(f"{e.name} {x.element} {x.line or ''}: {exc.message}")
                continue
            rel = max((x.ecf_sigma_percent or 0.0) / 100.0, PIQUANT_MIN_REL_SIGMA)
            if method == "ecf":
                k = float(x.ecf)
            else:
                if x.element not in comp:
                    skipped.append(f"{e.name} {x.element}: not in the standard's composition ({how})")
                    continue
                els = tuple(sorted(set(comp) | {x.element}))
                model = fp_model(instrument, [g], detector=detector, elements=els, secondary=secondary)
                C = np.zeros(len(model.elements))
                for el, f in comp.items():
                    C[model.elements.index(el)] = f
                rate = float(model.rates(C)[0])
                if not rate > 0:
                    skipped.append(f"{e.name} {g}: the FP predicts no intensity")
                    continue
                k = float(x.intensity) / (float(live_time_s) * rate)
            label = e.name + ("" if line_series(g) == "K" else f" ({line_series(g)})")
            rows.append((label, g, k, rel, float(x.weight if x.weight is not None else 1.0), float(x.ecf),
                         float(x.intensity)))
    if not rows:
        raise ConfigError("no element line with an ECF and an intensity in the table", path=p)
    standards: list[str] = []
    R: dict[str, dict[str, float]] = {}
    RS: dict[str, dict[str, float]] = {}
    W: dict[str, dict[str, float]] = {}
    for label, g, k, rel, w, ecf, inten in rows:
        if label not in R:
            standards.append(label)
            R[label], RS[label], W[label] = {}, {}, {}
        R[label][g], RS[label][g], W[label][g] = k, k * rel, w
    factors, sig, chi = {}, {}, {}
    for g in dict.fromkeys(r[1] for r in rows):
        v = np.array([R[s][g] for s in standards if g in R[s]])
        sd = np.array([RS[s][g] for s in standards if g in R[s]])
        w = np.array([W[s][g] for s in standards if g in R[s]]) / sd ** 2
        if not np.any(w > 0):
            continue
        mean = float(np.sum(w * v) / np.sum(w))
        formal = float(1.0 / math.sqrt(np.sum(w)))
        spread = float(np.std(v, ddof=1) / math.sqrt(v.size)) if v.size > 1 else 0.0
        factors[g], sig[g] = mean, max(formal, spread)
        chi[g] = float(np.sum(w * (v - mean) ** 2) / (v.size - 1)) if v.size > 1 else float("nan")
    # the scale (Ar line of a He path; a series without factors): K groups above 4 keV
    from ..physics.lines import line_group

    hi = [g for g in factors if line_series(g) == "K"
          and line_group(g.split("_")[0], "K", excitation_eV=kv * 1000.0).main_energy_eV >= SCALE_MIN_ENERGY_EV]
    sel = hi or list(factors)
    lk = np.log([factors[g] for g in sel])
    scale = float(math.exp(lk.mean()))
    scale_sigma = float(scale * (lk.std(ddof=1) if lk.size > 1 else 0.1))
    notes = []
    if method == "ecf":
        notes.append(f"PIQUANT's ECFs from {base} used as the factors: valid insofar as pixlspec's FP reproduces "
                     "PIQUANT's absolute intensities")
    else:
        notes.append(f"factors from the measured intensities of {base} and this FP, over an assumed live time of "
                     f"{live_time_s:g} s per standard (the table does not carry it"
                     + (", taken from its name" if _DWELL_IN_NAME.search(base) else "")
                     + "); dead time would make the true live time shorter and every factor larger by the "
                       "same ratio (an absolute-scale uncertainty, not a shape one)")
        ecfs = {}
        for label, g, k, rel, w, ecf, inten in rows:
            ecfs.setdefault(g, ecf)
        notes.append("PIQUANT's ECFs for comparison: " + ", ".join(f"{g} {v:.3f}" for g, v in ecfs.items()))
    notes += [f"skipped {s}" for s in skipped]
    return Calibration(instrument=instrument, detector=detector, factors=factors, factor_sigma=sig, scale=scale,
                       scale_sigma=scale_sigma, standards=standards, ratios=R, ratio_sigma=RS, consistency=chi,
                       weights=W, secondary=secondary, balance=None, source=base, notes=notes)
