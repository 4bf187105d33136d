"""The result of a single-spectrum fit (:class:`FitResult`): areas with their uncertainties, the fitted
shape, the model and its parts, a readable report, JSON and a figure."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..config import FitConfig
from ..instrument import Instrument
from ..model.spectrum_model import ShapeParams, SpectrumModel, kbeta_group
from ..physics.detector import MN_KA_EV
from ..spectrum import Spectrum

__all__ = ["FitResult", "MIN_VARIANCE", "DETECTION_SIGMAS"]

#: The Poisson variance equals the model μ; the floor only keeps nearly empty channels
#: (μ < 0.1 counts, e.g. above the tube voltage) from receiving unbounded weight. A higher
#: floor (e.g. 1) would push χ²ᵣ of low-count spectra well below 1.
MIN_VARIANCE = 0.1
#: An area is reported as detected when it exceeds this many standard deviations.
DETECTION_SIGMAS = 3.0


@dataclass
class FitResult:
    """Result of :func:`fit_spectrum`.

    Attributes
    ----------
    spectrum : Spectrum
        The fitted spectrum.
    instrument : Instrument
    config : FitConfig
    elements : list of str
        Element line groups in the fit ("Fe", "Pb_L").
    areas, sigma : dict of str to float
        Area (counts, every recorded photon of the group incl. tail and
        escape) and its 1σ uncertainty, per element group and for the
        scatter ("Rh_K_Rayleigh", "Rh_K_Compton", "Rh_L_scatter") and
        "pileup" columns.
    params : ShapeParams
        Fitted calibration, resolution and peak-shape parameters.
    params_sigma : dict of str to float
        1σ of the refined parameters.
    covariance : ndarray
        Covariance of ``covariance_names`` (areas then refined parameters).
    chi2, chi2_reduced : float
        Pearson χ² of the final fit and χ² per degree of freedom.
    dof : float
        Effective degrees of freedom: ``Σ min(1, μ/0.1)`` over the fitted channels (the expected
        χ² of Poisson counts about the model, channels far below the variance floor counting for
        less than one) less the free parameters.
    energy_eV, counts, model, background : ndarray
        Over the fit range (channels ``channels``).
    skipped : dict of str to str
        Requested elements that could not be fitted, with the reason.
    nfev : int
        Model evaluations.
    elapsed_s : float
    design : ndarray
        Design matrix (fit channels × ``column_names``) at the fitted parameters;
        columns "continuum_k" hold the background basis when it is fitted.
    lmfit_result : lmfit.MinimizerResult
        The last nonlinear pass (refined shape parameters).
    spectrum_model : SpectrumModel
        The model, to rebuild the design at other parameters or energies.
    excluded : ndarray of bool or None
        Channels left out of the fit (``exclude=``), over the whole spectrum.
    kbeta_fraction : dict of str to float
        For groups whose Kβ had a column of its own ("Si_Kb" in ``column_names``:
        ``FitConfig.free_kbeta``, ``valence_kbeta``), the fitted Kβ share of the group's area.
    """

    spectrum: Spectrum
    instrument: Instrument
    config: FitConfig
    elements: list[str]
    areas: dict[str, float]
    sigma: dict[str, float]
    params: ShapeParams
    params_sigma: dict[str, float]
    covariance: np.ndarray
    covariance_names: list[str]
    chi2: float
    chi2_reduced: float
    dof: float
    channels: np.ndarray
    energy_eV: np.ndarray
    counts: np.ndarray
    model: np.ndarray
    background: np.ndarray
    design: np.ndarray
    column_names: list[str]
    skipped: dict[str, str]
    nfev: int
    elapsed_s: float
    lmfit_result: object = None
    spectrum_model: SpectrumModel | None = None
    excluded: np.ndarray | None = None
    kbeta_fraction: dict[str, float] = field(default_factory=dict)

    # --- derived quantities --------------------------------------------------------
    @property
    def residual(self) -> np.ndarray:
        """Normalised residual (counts − model)/√model over the fit range."""
        return (self.counts - self.model) / np.sqrt(np.maximum(self.model, MIN_VARIANCE))

    @property
    def offset_eV(self) -> float:
        return self.params.offset_eV

    @property
    def gain_eV_per_channel(self) -> float:
        return self.params.gain_eV_per_channel

    @property
    def fwhm_MnKa_eV(self) -> float:
        """Fitted detector resolution at Mn Kα."""
        return float(self.params.fwhm_eV(MN_KA_EV))

    @property
    def detected(self) -> dict[str, bool]:
        """Element groups whose area exceeds 3σ."""
        return {e: bool(self.areas[e] > DETECTION_SIGMAS * self.sigma[e]) for e in self.elements}

    @property
    def count_rates_cps(self) -> dict[str, float]:
        """Areas per live second."""
        return {k: v / self.spectrum.live_time_s for k, v in self.areas.items()}

    def components(self) -> dict[str, np.ndarray]:
        """Counts of each column over the fit range (area × unit response); a Kβ column of its own
        ("Si_Kb") with its share of the group's area."""
        out = {}
        for i, n in enumerate(self.column_names):
            kb_of = kbeta_group(n)
            group = n if kb_of is None else kb_of
            if group not in self.areas:
                continue
            share = self.kbeta_fraction.get(group, 0.0)
            out[n] = self.design[:, i] * self.areas[group] * (1.0 - share if kb_of is None else share)
        return out

    def area_correlation(self, a: str, b: str) -> float:
        i, j = self.covariance_names.index(a), self.covariance_names.index(b)
        c = self.covariance
        return float(c[i, j] / math.sqrt(c[i, i] * c[j, j]))

    # --- output ------------------------------------------------------------------------
    def report(self, min_sigma: float | None = None) -> str:
        """A readable fit report (like lmfit's ``fit_report``)."""
        s = self.spectrum
        p = self.params
        ps = self.params_sigma
        lines = ["[[pixlspec fit]]",
                 f"    spectrum          = {s.source or '(in memory)'} detector {s.detector}",
                 f"    live time         = {s.live_time_s:.4g} s, {s.total_counts:.6g} counts",
                 f"    fit range         = {self.energy_eV[0]:.0f}-{self.energy_eV[-1]:.0f} eV "
                 f"({self.counts.size} channels), background {self.config.background}",
                 f"    chi-square        = {self.chi2:.6g}",
                 f"    reduced chi-square= {self.chi2_reduced:.4f} ({self.dof:.1f} degrees of freedom)",
                 f"    evaluations       = {self.nfev} in {self.elapsed_s * 1000:.0f} ms",
                 "[[calibration and resolution]]"]

        def fmt(name, value, unit=""):
            sig = ps.get(name)
            err = f" +/- {sig:.3g}" if sig is not None else " (fixed)"
            return f"    {name:<22}= {value:.6g}{err} {unit}".rstrip()

        lines += [fmt("offset_eV", p.offset_eV, "eV"), fmt("gain_eV_per_channel", p.gain_eV_per_channel, "eV/ch"),
                  fmt("noise_eV", p.noise_eV, "eV FWHM"), fmt("fano", p.fano),
                  f"    {'FWHM at Mn Ka':<22}= {self.fwhm_MnKa_eV:.1f} eV",
                  fmt("tail_fraction", p.tail_fraction), fmt("tail_slope", p.tail_slope),
                  fmt("tail_beta_fwhm", p.tail_beta_fwhm),
                  fmt("step_height", p.step_height)]
        if any(c.startswith(("Rh_K", "Rh_L")) or "_K_" in c for c in self.column_names):
            lines += [fmt("compton_sigma_eV", p.compton_sigma_eV, "eV"),
                      fmt("compton_shift_eV", p.compton_shift_eV, "eV"),
                      fmt("compton_tail_fraction", p.compton_tail_fraction)]
        lines.append("[[line groups]]")
        lines.append(f"    {'group':<16}{'E (keV)':>8}{'area':>14}{'sigma':>12}{'rel %':>8}{'cps':>12}  detected")
        for name in self.column_names:
            if name not in self.areas:
                continue
            a, sg = self.areas[name], self.sigma[name]
            if min_sigma is not None and name in self.elements and a < min_sigma * sg:
                continue
            i = self.column_names.index(name)
            e = self._model_main_energy(i)
            rel = 100 * sg / a if a > 0 else float("inf")
            det = ("yes" if a > DETECTION_SIGMAS * sg else "no") if name in self.elements else ""
            lines.append(f"    {name:<16}{e / 1000 if np.isfinite(e) else float('nan'):>8.3f}{a:>14.6g}"
                         f"{sg:>12.4g}{rel:>8.2f}{a / s.live_time_s:>12.5g}  {det}")
        if self.kbeta_fraction:
            lines.append("[[Kβ fitted apart]] (Kβ/Kα; the group's area above is Kα + Kβ)")
            lines.append("    " + ", ".join(f"{g} {f / (1 - f) if f < 1 else float('inf'):.4f}"
                                           for g, f in self.kbeta_fraction.items()))
        if self.skipped:
            lines.append("[[not fitted]]")
            for k, v in self.skipped.items():
                lines.append(f"    {k:<16}{v}")
        return "\n".join(lines)

    def _model_main_energy(self, column: int) -> float:
        model = self.spectrum_model
        return model.main_energy_eV(column) if model is not None else float("nan")

    def __str__(self) -> str:
        return self.report()

    def to_dict(self) -> dict:
        """JSON-friendly summary (areas, sigma, parameters, χ²)."""
        return {
            "source": self.spectrum.source, "detector": self.spectrum.detector,
            "live_time_s": self.spectrum.live_time_s,
            "elements": list(self.elements), "areas": dict(self.areas), "sigma": dict(self.sigma),
            "params": self.params.to_dict(), "params_sigma": dict(self.params_sigma),
            "fwhm_MnKa_eV": self.fwhm_MnKa_eV, "chi2": self.chi2, "chi2_reduced": self.chi2_reduced,
            "dof": self.dof, "skipped": dict(self.skipped), "kbeta_fraction": dict(self.kbeta_fraction),
            "config": self.config.to_dict(), "instrument": self.instrument.to_dict(),
        }

    def to_json(self, indent: int | None = 2) -> str:
        """Strict JSON of :meth:`to_dict`: non-finite values are null, with the reason under ``null_reasons``."""
        from ..io.jsontext import strict_json

        return strict_json(self.to_dict(), indent=indent)

    def plot(self, ax=None, *, components: int = 8, log: bool = True, markers: bool = True):
        """Spectrum (log scale), model, background, strongest components and residual.

        Returns the matplotlib Figure.
        """
        from ..plot import plot_fit

        return plot_fit(self, ax=ax, components=components, log=log, markers=markers)
