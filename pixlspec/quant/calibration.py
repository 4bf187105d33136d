"""Calibration on standards: per-element factors (ECFs) of the FP model.

For every standard s of certified composition and every fitted element group
g, the ratio ``r_sg = measured area / FP area`` (the FP area computed for the
certified composition, the instrument and the spectrum's live time) is the
element calibration factor that standard implies (PIQUANT's ECF convention:
measured ÷ calculated, physics.md §9 "ECFs"). The factor of a group is the
inverse-variance weighted mean over the standards (variances from counting
and the certificate uncertainty); its 1σ is the larger of the formal error
and the scatter between standards. ``scale`` is the weighted geometric mean
of the factors of groups above 4 keV (insensitive to the gas path and the
low-energy response) of major elements (>= 1 wt% in a standard: Ti, Fe in a
basalt; traces carry instrumental lines and rounded certificates): it stands
for any element without a standard and normalises the Ar line of a He path.

Factors far from 1 (or differing between standards beyond their errors) say
the physics model (tube, optic, detector, geometry) or a certificate is off —
they are reported (:meth:`Calibration.report`), never hidden.

A :class:`Calibration` carries its :class:`~pixlspec.instrument.Instrument`
and saves with it (``save``/``load``: one JSON file ``{"instrument": ...,
"calibration": ...}``).
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import CompositionError, ConfigError, FitError, UnknownElementError
from ..instrument import Instrument
from ..physics.attenuation import parse_composition
from ..physics.lines import parse_group_name
from .fp import GAS_LINE_ELEMENT, fp_model
from .quantify import DEFAULT_BALANCE, quantify
from .groups import GAS_GROUPS, analysis_groups, solve_air_fraction
from .solver import Solver

if TYPE_CHECKING:
    from ..config import FitConfig
    from ..fit.result import FitResult
    from ..io.piquant_tables import StandardEntry
    from ..spectrum import Spectrum
    from .standards import ReferenceMaterial

__all__ = ["Calibration", "calibrate", "load_calibration", "line_series", "SCALE_MIN_ENERGY_EV", "SCALE_MIN_WT_PERCENT", "MIN_RATIO_SIGNIFICANCE"]

#: Groups whose main line lies above this energy define the global ``scale``.
SCALE_MIN_ENERGY_EV: float = 4000.0
#: ... and whose element is a major element (at least this wt%) of some standard: trace lines carry
#: instrumental contributions (Cr, Ni, Cu of the breadboard: factors 5-10x those of Fe) and
#: certificates rounded to 0.01 wt% (the breadboard data set's BHVO-2), which would pull the scale
#: (and the air fraction the Ar line implies) by 10-25 %.
SCALE_MIN_WT_PERCENT: float = 1.0
#: A standard calibrates a group only where its area exceeds this many σ.
MIN_RATIO_SIGNIFICANCE: float = 5.0
_FORMAT = "pixlspec-calibration-1"
#: A standard's composition (O by stoichiometry included) must sum within this range (wt%) unless
#: calibrate() is told what fills the rest (``balance``): element wt% without their O (~50 %) or a
#: typo would otherwise be silently completed and give a wrong calibration.
CERTIFICATE_TOTAL_RANGE_WT: tuple[float, float] = (90.0, 105.0)
#: A standard whose leave-one-out ratios disagree beyond this mean chi² per group is flagged and
#: down-weighted (its ratio 1σ multiplied by sqrt(chi²)).
MAX_STANDARD_CHI2: float = 4.0
#: Relative 1σ of a factor extrapolated beyond the calibrated groups of its series.
EXTRAPOLATION_REL_SIGMA: float = 0.10


def line_series(group: str) -> str:
    """Line series of a group name: "L" for "Ba_L", "M" for "Pb_M", else "K"."""
    parts = group.split("_")
    return parts[1][:1] if len(parts) > 1 and parts[1][:1] in ("K", "L", "M") else "K"


@dataclass
class Calibration:
    """Element calibration factors of the FP model for one instrument detector.

    Attributes
    ----------
    instrument : Instrument
    detector : str
    factors, factor_sigma : dict of str to float
        Group → factor (measured / FP area) and its absolute 1σ.
    scale, scale_sigma : float
        Global factor (weighted geometric mean above 4 keV) and its 1σ; used
        for groups without a factor.
    standards : list of str
    ratios, ratio_sigma : dict of str to dict of str to float
        Standard → group → measured/FP ratio and its 1σ.
    consistency : dict of str to float
        Group → χ²/dof of the ratios of the standards about the factor
        (> ~4: the standards disagree beyond their errors).
    air_fractions : dict of str to float
        Air in a He path per standard (from its Ar line).
    residuals : dict of str to dict of str to float
        Standard → oxide → relative error of the calibrated quantification
        of that standard against its certificate.
    fe_oxide, balance : str ; secondary : bool
        Settings the factors were made with (quantify with the same).
    """

    instrument: Instrument
    detector: str
    factors: dict[str, float]
    factor_sigma: dict[str, float]
    scale: float
    scale_sigma: float
    standards: list[str] = field(default_factory=list)
    ratios: dict[str, dict[str, float]] = field(default_factory=dict)
    ratio_sigma: dict[str, dict[str, float]] = field(default_factory=dict)
    consistency: dict[str, float] = field(default_factory=dict)
    air_fractions: dict[str, float] = field(default_factory=dict)
    residuals: dict[str, dict[str, float]] = field(default_factory=dict)
    fe_oxide: str = "FeO"
    balance: str | None = DEFAULT_BALANCE
    secondary: bool = True
    flags: list[str] = field(default_factory=list)
    weights: dict[str, dict[str, float]] = field(default_factory=dict)
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        if not isinstance(self.instrument, Instrument):
            raise ConfigError("a Calibration needs an Instrument", where="calibration")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ConfigError(f"calibration scale must be > 0, got {self.scale}", where="calibration")
        if not (math.isfinite(self.scale_sigma) and self.scale_sigma >= 0):
            raise ConfigError(f"calibration scale 1σ must be finite and >= 0, got {self.scale_sigma}",
                              where="scale_sigma")
        for g, v in self.factors.items():
            try:
                parse_group_name(g)
            except UnknownElementError as e:  # a KeyError too: from_dict would read it as a missing key
                raise ConfigError(f"calibration factor of {g!r}: {e.message}", where=f"factors.{g}") from None
            if not (math.isfinite(v) and v > 0):
                raise ConfigError(f"calibration factor of {g} must be > 0, got {v}", where=f"factors.{g}")
        for g, v in self.factor_sigma.items():
            if not (math.isfinite(v) and v >= 0):
                raise ConfigError(f"1σ of the factor of {g} must be finite and >= 0, got {v}",
                                  where=f"factor_sigma.{g}")
        for name in ("fe_oxide", "detector"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f"{name} must be a string, got {getattr(self, name)!r}", where=name)
        for name in ("ratios", "ratio_sigma", "consistency", "air_fractions", "residuals"):
            if not isinstance(getattr(self, name), Mapping):
                raise ConfigError(f"{name} must be an object, got {type(getattr(self, name)).__name__}",
                                  where=name)

    def factors_for(self, groups: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(factors, 1σ, groups without a factor of their own) for ``groups``.

        A group without a factor gets one interpolated from the groups of the same series
        (K or L) that have one (:meth:`interpolated_factor`); ``scale`` only when its series
        has none.
        """
        k, s, missing = [], [], []
        for g in groups:
            if g in self.factors:
                k.append(self.factors[g])
                s.append(self.factor_sigma.get(g, 0.0))
            else:
                missing.append(g)
                kk, ss = self.interpolated_factor(g)
                k.append(kk)
                s.append(ss)
        return np.array(k), np.array(s), missing

    def interpolated_factor(self, group: str) -> tuple[float, float]:
        """Factor and 1σ of ``group`` from the factors of its series, interpolated in Z.

        ``log k`` is interpolated linearly in the atomic number between the nearest
        calibrated groups of the same series (K lines with K lines, L with L) below and above,
        and held at the end value beyond them: the factors absorb smooth errors of the
        model (yields, detector efficiency, optic response) that vary with the line energy,
        which rises monotonically with Z within a series. The 1σ is the interpolated
        relative 1σ, plus half the log-difference of the two neighbours (interior) or
        :data:`EXTRAPOLATION_REL_SIGMA` (beyond the ends). Without any factor in the
        series: ``scale`` and its 1σ (at least 10 %).
        """
        from ..physics.elements import atomic_number

        series = line_series(group)
        z0 = atomic_number(group.split("_")[0])
        known = sorted((atomic_number(g.split("_")[0]), math.log(v), self.factor_sigma.get(g, 0.0) / v)
                       for g, v in self.factors.items() if line_series(g) == series and v > 0)
        if not known:
            return self.scale, max(self.scale_sigma, 0.1 * self.scale)
        zs = np.array([z for z, _, _ in known], dtype=float)
        lk = np.array([x for _, x, _ in known])
        rs = np.array([r for _, _, r in known])
        logk = float(np.interp(z0, zs, lk))
        rel = float(np.interp(z0, zs, rs))
        if zs[0] <= z0 <= zs[-1] and zs.size > 1:
            j = int(np.clip(np.searchsorted(zs, z0), 1, zs.size - 1))
            rel = math.hypot(rel, 0.5 * abs(lk[j] - lk[j - 1]))
        else:
            rel = max(rel, EXTRAPOLATION_REL_SIGMA)
        k = math.exp(logk)
        return k, k * rel

    # --- reports ------------------------------------------------------------------------
    def report(self) -> str:
        """Factors, their spread over standards and the residual per standard."""
        lines = [f"[[pixlspec calibration]] {self.instrument.name}, detector {self.detector}, "
                 f"{len(self.standards)} standards: {', '.join(self.standards)}"
                 + (f" (from {self.source})" if self.source else ""),
                 f"    global scale {self.scale:.5g} ± {self.scale_sigma:.2g}",
                 f"    {'group':<8}{'factor':>11}{'1σ':>9}{'/scale':>8}{'χ²/dof':>8}  "
                 + "".join(f"{s[:10]:>11}" for s in self.standards)]
        for g, k in self.factors.items():
            row = (f"    {g:<8}{k:>11.5g}{self.factor_sigma[g]:>9.2g}{k / self.scale:>8.3f}"
                   f"{self.consistency.get(g, float('nan')):>8.2f}  ")
            row += "".join(f"{self.ratios.get(s, {}).get(g, float('nan')) / self.scale:>11.3f}"
                           for s in self.standards)
            lines.append(row)
        for n in self.notes:
            lines.append(f"    note: {n}")
        for f in self.flags:
            lines.append(f"    FLAG: {f}")
        if self.air_fractions:
            lines.append("    air in He path: "
                         + ", ".join(f"{s} {100 * x:.2f} %" for s, x in self.air_fractions.items()))
        if self.residuals:
            lines.append("[[residuals: calibrated quantification vs certificate, relative %]]")
            oxides = sorted({o for r in self.residuals.values() for o in r})
            lines.append(f"    {'standard':<12}" + "".join(f"{o:>8}" for o in oxides))
            for s, r in self.residuals.items():
                lines.append(f"    {s[:12]:<12}" + "".join(
                    f"{100 * r[o]:>8.1f}" if o in r else f"{'':>8}" for o in oxides))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report()

    def to_dict(self, include_instrument: bool = True) -> dict[str, Any]:
        d = {"format": _FORMAT, "detector": self.detector, "factors": dict(self.factors),
             "factor_sigma": dict(self.factor_sigma), "scale": self.scale, "scale_sigma": self.scale_sigma,
             "standards": list(self.standards), "ratios": self.ratios, "ratio_sigma": self.ratio_sigma,
             "consistency": dict(self.consistency), "air_fractions": dict(self.air_fractions),
             "residuals": self.residuals, "fe_oxide": self.fe_oxide, "balance": self.balance,
             "secondary": self.secondary, "flags": list(self.flags), "weights": self.weights,
             "source": self.source, "notes": list(self.notes)}
        if include_instrument:
            d["instrument"] = self.instrument.to_dict()
        return d

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(_finite(self.to_dict()), indent=indent)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], instrument: Instrument | None = None,
                  *, source: str | None = None) -> "Calibration":
        if not isinstance(data, Mapping) or data.get("format") != _FORMAT:
            raise ConfigError(f"not a pixlspec calibration (expected format {_FORMAT!r})", path=source)
        try:
            inst = instrument or Instrument.from_dict(dict(data["instrument"]), source=source)
            return cls(instrument=inst, detector=str(data["detector"]),
                       factors={k: float(v) for k, v in data["factors"].items()},
                       factor_sigma={k: float(v) for k, v in data["factor_sigma"].items()},
                       scale=float(data["scale"]), scale_sigma=float(data["scale_sigma"]),
                       standards=list(data.get("standards", [])), ratios=_nan_back(data.get("ratios", {})),
                       ratio_sigma=_nan_back(data.get("ratio_sigma", {})),
                       consistency=_nan_back(data.get("consistency", {})),
                       air_fractions=dict(data.get("air_fractions", {})),
                       residuals=_nan_back(data.get("residuals", {})), fe_oxide=data.get("fe_oxide", "FeO"),
                       balance=data.get("balance", DEFAULT_BALANCE), secondary=bool(data.get("secondary", True)),
                       flags=list(data.get("flags", [])), weights=_nan_back(data.get("weights", {})),
                       source=str(data.get("source", "")), notes=list(data.get("notes", [])))
        except KeyError as e:
            raise ConfigError(f"calibration lacks {e.args[0]!r}", path=source) from None
        except ConfigError as e:
            if e.path is None and source is not None:
                raise ConfigError(e.message, path=source, where=e.where) from None
            raise
        except (TypeError, ValueError, AttributeError, OverflowError) as e:
            raise ConfigError(f"invalid calibration: {e}", path=source) from None

    @classmethod
    def from_json(cls, text: str, instrument: Instrument | None = None, *, source: str | None = None) -> "Calibration":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"invalid JSON: {e.msg}", path=source, where=e.lineno) from None
        return cls.from_dict(data, instrument, source=source)

    def save(self, path: str | os.PathLike) -> None:
        """Write the instrument and the calibration to one ``.json`` file, atomically."""
        from ..io.atomic import atomic_write_text

        p = os.fspath(path)
        if not p.lower().endswith(".json"):
            raise ConfigError("calibration files end in .json", path=p)
        atomic_write_text(p, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Calibration":
        """Read a file written by :meth:`save` (the instrument comes with it)."""
        from ..io.files import read_text_file

        p = os.fspath(path)
        return cls.from_json(read_text_file(p, kind="config", error_cls=ConfigError), source=p)


def _finite(obj):
    """NaN/inf -> None for strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _nan_back(obj):
    if obj is None:
        return float("nan")
    if isinstance(obj, Mapping):
        return {k: _nan_back(v) for k, v in obj.items()}
    return obj


def _composition_of(item) -> tuple[str, dict[str, float], dict[str, float]]:
    """(name, wt% dict, relative 1σ per element) of a composition, reference-material name or StandardEntry."""
    from .standards import ReferenceMaterial, reference_from_piquant, reference_material

    if isinstance(item, str):
        rm = reference_material(item)
        return rm.name, dict(rm.composition_wt), rm.element_relative_sigma()
    if isinstance(item, ReferenceMaterial):
        return item.name, dict(item.composition_wt), item.element_relative_sigma()
    if hasattr(item, "composition_wt") and hasattr(item, "elements"):  # PIQUANT StandardEntry: O by its oxide ratios
        rm = reference_from_piquant(item)
        return rm.name, dict(rm.composition_wt), rm.element_relative_sigma()
    if isinstance(item, Mapping):
        parse_composition(dict(item))  # validates (negative, unparsable -> CompositionError)
        return "", dict(item), {}
    raise CompositionError(f"a standard's composition must be a dict of wt%, a reference-material name or a "
                           f"PIQUANT StandardEntry, got {type(item).__name__}", where="calibrate")


def _certificate_intensities(model, fractions: Mapping[str, float], live_time_s: float, air_fraction: float,
                             balance: str | None) -> dict[str, float]:
    """FP areas of a certified composition, with the matrix convention of :func:`quantify`.

    A certificate summing to T < 1 (loss on ignition, unlisted traces) is, like a
    quantified sample, normalised to 1 in the matrix with intensities x T — or, with a
    balance, completed with (1 - T) of the balance.
    """
    total = float(sum(fractions.values()))
    comp = dict(fractions)
    if balance and total < 1.0:
        for el, f in parse_composition(balance).items():
            comp[el] = comp.get(el, 0.0) + (1.0 - total) * f
        scale = 1.0
    else:
        comp = {el: f / total for el, f in comp.items()}
        scale = total
    C = np.zeros(len(model.elements))
    for el, f in comp.items():
        C[model.elements.index(el)] = f
    r = model.rates(C, air_fraction=air_fraction) * scale * live_time_s
    return dict(zip(model.groups, map(float, r)))


def calibrate(spectra: Sequence[Spectrum | FitResult],
              compositions: Sequence[Mapping[str, float] | str | ReferenceMaterial | StandardEntry],
              instrument: Instrument | None = None, elements: Sequence[str] | None = None,
              *, names: Sequence[str] | None = None, fit_config: FitConfig | None = None, fe_oxide: str = "FeO",
              balance: str | None = DEFAULT_BALANCE, secondary: bool = True, exclude: Sequence[str] = GAS_GROUPS
              ) -> Calibration:
    """Fit per-element calibration factors of the FP model from standards.

    Parameters
    ----------
    spectra : sequence of Spectrum or FitResult
        The standards' spectra (fitted here with :func:`pixlspec.fit_spectrum`
        and ``elements``) or their fits.
    compositions : sequence
        Certified compositions, one per spectrum: dicts of element or oxide
        wt% ({"Si": 23.3} or {"SiO2": 49.9}; a dict is the whole sample, O
        included), names of reference materials shipped with pixlspec
        ("BHVO-2G", see :func:`pixlspec.quant.standards.reference_materials`),
        :class:`~pixlspec.quant.standards.ReferenceMaterial` objects, or PIQUANT
        ``StandardEntry`` objects (O added by their oxide ratios,
        :func:`~pixlspec.quant.standards.reference_from_piquant`).
    instrument : Instrument, optional
        Default: the first spectrum's (or fit's) instrument.
    elements : sequence of str, optional
        Groups to fit when spectra are given (default :data:`ROCK_ELEMENTS`
        plus Ar for a He path). Only these groups get factors.
    names : sequence of str, optional
        Names of the standards (default from the reference materials).
    fit_config : FitConfig, optional
    fe_oxide, balance, secondary, exclude
        As :func:`pixlspec.quantify`.

    Returns
    -------
    Calibration

    Raises
    ------
    FitError
        Different numbers of spectra and compositions, none given, or no
        group that any standard calibrates.
    CompositionError
        A composition that does not parse or has negative amounts.
    """
    from ..config import ROCK_ELEMENTS
    from ..fit.single import fit_spectrum

    spectra = list(spectra)
    compositions = list(compositions)
    if not spectra or len(spectra) != len(compositions):
        raise FitError(f"calibrate needs as many compositions as spectra (got {len(spectra)} spectra, "
                       f"{len(compositions)} compositions)", where="calibrate")
    comps = [_composition_of(c) for c in compositions]
    std_names = list(names) if names is not None else [c[0] or f"standard {i + 1}" for i, c in enumerate(comps)]
    if len(std_names) != len(comps):
        raise FitError(f"calibrate got {len(std_names)} names for {len(comps)} standards", where="calibrate")
    if not balance:
        for name, (_, comp, _) in zip(std_names, comps):
            total = 100.0 * sum(parse_composition(comp).values())
            if not (CERTIFICATE_TOTAL_RANGE_WT[0] <= total <= CERTIFICATE_TOTAL_RANGE_WT[1]):
                raise CompositionError(
                    f"standard {name!r}: its composition sums to {total:.1f} wt% (O by stoichiometry included), "
                    f"outside {CERTIFICATE_TOTAL_RANGE_WT[0]:g}-{CERTIFICATE_TOTAL_RANGE_WT[1]:g} %: give it as oxides "
                    "(or with its O), or name what fills the rest with balance= (e.g. 'CO2', 'H2O')",
                    where="calibrate")
    fits = []
    for sp in spectra:
        if hasattr(sp, "areas") and hasattr(sp, "spectrum"):
            fits.append(sp)
            continue
        inst = instrument or getattr(sp, "instrument", None) or Instrument.pixl()
        els = list(elements) if elements is not None else list(ROCK_ELEMENTS) + (
            [GAS_LINE_ELEMENT] if inst.atmosphere == "He" else [])
        fits.append(fit_spectrum(sp, elements=els, instrument=inst, config=fit_config))
    instrument = instrument or fits[0].instrument or Instrument.pixl()
    det = fits[0].spectrum.detector if fits[0].spectrum.detector in instrument.detector_names \
        else instrument.detectors[0].name

    # groups that the standards can calibrate
    all_groups: list[str] = []
    for f in fits:
        gs, _ = analysis_groups(f.elements, instrument.tube.voltage_kV, exclude)
        for g in gs:
            if g not in all_groups:
                all_groups.append(g)
    if elements is not None:
        wanted, _ = analysis_groups(list(elements), instrument.tube.voltage_kV, exclude)
        all_groups = [g for g in all_groups if g in wanted]
    if not all_groups:
        raise FitError("no element group to calibrate", where="calibrate")

    # the FP model needs every element of every certificate
    extra = set()
    for _, comp, _ in comps:
        extra |= set(parse_composition(comp))
    if balance:
        extra |= set(parse_composition(balance))
    solver = Solver(instrument, [det], all_groups, np.ones(len(all_groups)), np.zeros(len(all_groups)), fe_oxide,
                     None, secondary)
    model = fp_model(instrument, all_groups, detector=det, elements=tuple(sorted(extra)), secondary=secondary)
    main_e = {}
    for row in model.line_table():
        if row["group"] not in main_e or row["fraction"] > main_e[row["group"]][1]:
            main_e[row["group"]] = (row["energy_eV"], row["fraction"])

    def ratios_for(scale: float):
        R, RS, X = {}, {}, {}
        for name, f, (_, comp, rel) in zip(std_names, fits, comps):
            # exposure: live time x the spectrum's stand-off geometry factor (##GEOMETRY), as in quantify
            live = f.spectrum.exposure_s
            solver.gas_scale = scale
            x = 0.0
            if model.gas_correctable and GAS_LINE_ELEMENT in f.areas:
                solver.set_sample_emission(f.spectrum)
                x = solve_air_fraction(solver, f.areas[GAS_LINE_ELEMENT], live, None)
            X[name] = x
            fr = parse_composition(comp)
            pred = _certificate_intensities(model, fr, live, x, balance)
            R[name], RS[name] = {}, {}
            for g in all_groups:
                el = g.split("_")[0]
                a, s = float(f.areas.get(g, np.nan)), float(f.sigma.get(g, np.nan))
                p = pred.get(g, 0.0)
                if not (fr.get(el, 0.0) > 0 and p > 0 and np.isfinite(a) and np.isfinite(s) and s > 0
                        and a > MIN_RATIO_SIGNIFICANCE * s):
                    continue
                r = a / p
                R[name][g] = r
                RS[name][g] = r * math.hypot(s / a, rel.get(el, 0.0))
        return R, RS, X

    def combine(R, RS):
        k, ks, chi = {}, {}, {}
        for g in all_groups:
            vals = [(R[s][g], RS[s][g]) for s in std_names if g in R[s]]
            if not vals:
                continue
            v, w, mean, formal = _inverse_variance_mean(vals)
            if len(vals) > 1:
                c2 = float(np.sum(w * (v - mean) ** 2) / (len(vals) - 1))
                spread = float(np.std(v, ddof=1) / math.sqrt(len(vals)))
            else:
                c2, spread = float("nan"), 0.0
            k[g], ks[g], chi[g] = mean, max(formal, spread), c2
        return k, ks, chi

    majors = {el for _, comp, _ in comps for el, f in parse_composition(comp).items()
              if 100.0 * f >= SCALE_MIN_WT_PERCENT}

    def global_scale(k, ks):
        high = [g for g in k if main_e.get(g, (0,))[0] >= SCALE_MIN_ENERGY_EV]
        sel = [g for g in high if g.split("_")[0] in majors] or high or list(k)
        lv = np.array([math.log(k[g]) for g in sel])
        w = 1.0 / np.array([max(ks[g] / k[g], 1e-6) for g in sel]) ** 2
        m = float(np.sum(w * lv) / np.sum(w))
        sd = float(np.std(lv, ddof=1)) if len(sel) > 1 else float(1.0 / math.sqrt(np.sum(w)))
        return math.exp(m), math.exp(m) * sd

    scale = 1.0
    R, RS, X = ratios_for(scale)
    for _ in range(4):  # the Ar line needs the scale, the scale hardly needs the Ar line
        k, ks, chi = combine(R, RS)
        if not k:
            raise FitError(f"no standard calibrates any of {all_groups} (areas below {MIN_RATIO_SIGNIFICANCE:g}σ "
                           "or elements absent from the certificates)", where="calibrate")
        new_scale, scale_sigma = global_scale(k, ks)
        if abs(new_scale / scale - 1.0) < 1e-6:
            break
        scale = new_scale
        R, RS, X = ratios_for(scale)
    # standards whose ratios disagree with the others beyond their errors: flagged, down-weighted
    inflate, cal_flags = _inconsistent_standards(R, RS, std_names)
    W = {s: {g: 1.0 / inflate.get(s, 1.0) ** 2 for g in R[s]} for s in std_names}
    RSw = {s: {g: v * inflate.get(s, 1.0) for g, v in RS[s].items()} for s in std_names}
    k, ks, chi = combine(R, RSw)
    scale, scale_sigma = global_scale(k, ks)
    cal = Calibration(instrument=instrument, detector=det, factors=k, factor_sigma=ks, scale=scale,
                      scale_sigma=scale_sigma, standards=std_names, ratios=R, ratio_sigma=RS, consistency=chi,
                      air_fractions={s: x for s, x in X.items() if x > 0}, fe_oxide=fe_oxide, balance=balance,
                      secondary=secondary, flags=cal_flags, weights=W)
    for name, f, (_, comp, _) in zip(std_names, fits, comps):
        q = quantify(f, instrument, cal, fe_oxide=fe_oxide, balance=balance, secondary=secondary, exclude=exclude)
        cal.residuals[name] = q.relative_error(comp)
    return cal


def _inverse_variance_mean(pairs) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Values, weights 1/σ², inverse-variance mean and its formal 1σ of ``(value, σ)`` pairs."""
    v = np.array([a for a, _ in pairs])
    w = 1.0 / np.array([b for _, b in pairs]) ** 2
    return v, w, float(np.sum(w * v) / np.sum(w)), float(1.0 / math.sqrt(np.sum(w)))


def _inconsistent_standards(R, RS, names) -> tuple[dict[str, float], list[str]]:
    """Standards whose ratios disagree with the other standards beyond their errors.

    For each standard s and each group it shares with others, the normalised residual
    ``z = (r_sg - k_g^(-s)) / sqrt(sigma_sg^2 + sigma(k_g^(-s))^2)`` against the factor of
    the *other* standards (leave-one-out, inverse-variance mean). The standard with the largest
    mean z² above :data:`MAX_STANDARD_CHI2` is flagged and left out of the others' comparisons,
    and the test is repeated on the rest (one wrong certificate among three makes each good
    one look off against a leave-one-out mean that holds it; removed first, it no longer does).
    A flagged standard's ratio 1σ are multiplied by sqrt(mean z²) (Birge), so it no longer
    dominates the factors. When two standards remain that disagree, both are flagged (neither
    can be preferred).

    Returns
    -------
    (inflation factor per flagged standard, flag messages)
    """
    def test(s, others):
        z2, worst = [], []
        for g, r in R[s].items():
            ref = [(R[o][g], RS[o][g]) for o in others if g in R[o]]
            if not ref:
                continue
            _, _, k, sk = _inverse_variance_mean(ref)
            z = (r - k) / math.hypot(RS[s][g], sk)
            z2.append(z * z)
            worst.append((abs(z), g, r / k - 1.0))
        return (float(np.mean(z2)), sorted(worst, reverse=True)[:3]) if z2 else None

    def flag(s, chi2, worst):
        inflate[s] = math.sqrt(chi2)
        flags.append(f"standard {s!r} disagrees with the other standards beyond its errors (mean chi² "
                     f"{chi2:.3g} per group; " + ", ".join(f"{g} {100 * d:+.1f} %" for _, g, d in worst)
                     + f"): down-weighted by {chi2:.3g}")

    inflate: dict[str, float] = {}
    flags: list[str] = []
    active = list(names)
    while len(active) >= 2:
        stats = {s: t for s in active if (t := test(s, [o for o in active if o != s])) is not None}
        bad = {s: t for s, t in stats.items() if t[0] > MAX_STANDARD_CHI2}
        if not bad:
            break
        if len(active) == 2:
            for s, (chi2, worst) in bad.items():
                flag(s, chi2, worst)
            break
        s = max(bad, key=lambda name: bad[name][0])
        flag(s, *bad[s])
        active.remove(s)
    return inflate, flags


def load_calibration(path: str | os.PathLike[str], instrument: Instrument | None = None) -> Calibration:
    """Read a calibration file, by content: a pixlspec JSON (:meth:`Calibration.save`) or a PIQUANT ECF table.

    ``instrument`` is the instrument a PIQUANT table calibrates (see
    :func:`read_piquant_calibration`); a pixlspec JSON carries its own.

    Raises
    ------
    ConfigError
        A file that is neither (naming the file and what was expected).
    """
    p = os.fspath(path)
    try:
        with open(p, encoding="utf-8", errors="replace") as fh:
            head = fh.read(4096)
    except OSError as e:
        raise ConfigError(f"cannot read calibration file: {e.strerror}", path=p) from None
    stripped = head.lstrip("\ufeff \t\r\n")
    if stripped.startswith("{"):
        return Calibration.load(p)
    first = stripped.splitlines()[0] if stripped else ""
    if [t.strip().lower() for t in first.split(",")[:2]] == ["piquant", "calibration file"]:
        from .piquant_calibration import read_piquant_calibration

        return read_piquant_calibration(p, instrument)
    raise ConfigError("not a calibration file: expected a pixlspec calibration (JSON written by "
                      "Calibration.save) or a PIQUANT ECF table (first line 'PIQUANT, Calibration File, ...'); "
                      f"the file starts with {first[:40]!r}", path=p)
