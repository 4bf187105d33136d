"""Fit configuration and PIXL defaults."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

from .errors import ConfigError

__all__ = ["FitConfig", "ROCK_ELEMENTS", "PATH_GAS_ELEMENTS", "VALENCE_KBETA_MIN_COUNTS", "path_gas_elements"]

#: Elements fitted by default in rocks and soils at PIXL (K lines at 28 kV; Ba by its L lines).
#: V sits under Ti Kβ (0.03-0.04 wt% V in basalts: 1e5-2e5 counts in the breadboard glasses, which
#: a model without it puts into Ti Kβ and Cr); Ba L (Ba Lα 4.47 keV, beside Ti Kα) is 0.01-0.07 wt%
#: in basalts and far more in Ba sulfates. Rh (tube) scatter and the beam-path gas
#: (:func:`path_gas_elements`) are always added; see :class:`FitConfig`.
ROCK_ELEMENTS: tuple[str, ...] = ("Na", "Mg", "Al", "Si", "P", "S", "Cl", "K", "Ca", "Ti", "V", "Cr", "Mn", "Fe",
                                  "Ni", "Zn", "Ge", "Br", "Rb", "Sr", "Y", "Zr", "Ba")

#: Lines of the beam-path gas, per atmosphere: the 1.6 vol% Ar of the Mars atmosphere (Ar Kα 2.96 keV,
#: science/absolute-scale.md §1) and of the air left in a He-flushed path (breadboard) or an air path.
PATH_GAS_ELEMENTS: dict[str, tuple[str, ...]] = {"mars": ("Ar",), "co2": ("Ar",), "he": ("Ar",), "helium": ("Ar",),
                                                 "air": ("Ar",), "earth": ("Ar",)}


def path_gas_elements(atmosphere: str) -> tuple[str, ...]:
    """Line groups of the gas in the beam path of an instrument with ``atmosphere``.

    They belong to the instrument, not to the sample: every fit adds them to the
    user's element list (an unmodelled Ar Kα at 2.96 keV otherwise lands in the
    Rh L scatter, K and Ca and, through the scatter, in every matrix correction).
    Vacuum has none.
    """
    return PATH_GAS_ELEMENTS.get(str(atmosphere).strip().lower(), ())

#: Counts within ±1 FWHM of a Kα line from which ``FitConfig.valence_kbeta`` fits the Kβ of Mg, Al or Si
#: apart. The Kβ (~5 % of Kα in a silicate) then holds ≥ 2,500 counts: on the flight bulk sums (Mg:
#: 6-7·10⁴ counts in the window) the fitted Mg Kβ/Kα is known to ±0.008 and Si's (2·10⁶) to ±0.001. A
#: single PIXL point (Si: ~1.5·10⁴ counts in the window, Mg ~500) stays below and keeps the tied ratio.
VALENCE_KBETA_MIN_COUNTS: float = 5e4

_BACKGROUNDS = ("continuum", "snip", "none")
_WEIGHTS = ("pearson", "neyman", "none")


@dataclass(frozen=True)
class FitConfig:
    """How a spectrum is fitted. Defaults suit PIXL rock spectra.

    Attributes
    ----------
    elements : tuple of str, optional
        Line groups to fit when ``fit_spectrum`` gets none (default :data:`ROCK_ELEMENTS`).
    min_energy_eV, max_energy_eV : float, optional
        Fit range. Default: the instrument's ``min_energy_eV`` up to the tube voltage.
    background : {"continuum", "snip", "none"}
        "continuum" (default) fits the background together with the peaks: the
        physical continuum shape (tube bremsstrahlung × optic × detector
        efficiency) times cubic B-splines every ``continuum_knot_spacing_eV``,
        with free coefficients. Its uncertainty enters the area errors,
        and it does not rise under small peaks beside large ones. "snip"
        subtracts a SNIP background (Ryan et al. 1988) before the peak fit.
    continuum_knot_spacing_eV : float
        Knot spacing of the continuum splines (much wider than any peak).
    snip_width_fwhm : float
        SNIP clipping half-width in units of the local FWHM (physics.md §6: 2–3).
    snip_smooth_channels : int
        Half-width of the boxcar smoothing applied before SNIP.
    refine_calibration, refine_resolution, refine_tails, refine_compton : bool
        Which nonlinear parameters are refined (energy offset and gain; noise
        and Fano; tail fraction, tail slope and step; Compton width, shift and tail
        — the latter only when the Compton peaks hold at least 2e4 counts, as a
        single 15-s point cannot determine them).
    refine_quadratic : bool
        Also refine a quadratic term of the energy calibration (SDDs are
        linear to a few eV; at ~1e8 counts a few eV show).
    refine_tail_slope : bool
        Also refine the energy dependence of the tail fraction (worth it on
        spectra of ~1e7 counts and more, where one tail fraction cannot serve
        Na to Fe).
    scatter, escape, pileup : bool
        Model the tube-line scatter peaks, Si-escape peaks and pile-up.
    shelf : bool
        With the continuum background, also fit the detector's incomplete-charge
        shelf of all recorded photons (one non-negative column whose shape is
        the spectrum's own reverse cumulative sum): the background below ~2 keV,
        where the tube's continuum does not reach the detector. Off by default: on the
        breadboard glasses and the flight sums the fit gives it ≤ 7,000 counts (the continuum
        below the optic table takes the low-energy background), and on simulated spectra
        without a shelf its non-negative amplitude biases Si and Ti by ~0.2σ.
    free_kbeta : bool
        Fit Kβ of K groups with a free amplitude (reported area = Kα + Kβ); the
        Kβ of the path gas (Ar) stays tied to its Kα. Off by default: Kβ is tied
        to Kα by the atomic ratio (xraylib) corrected for the detector and for
        the matrix absorption (``matrix_absorption``).
    valence_kbeta : bool
        Fit the Kβ of Mg, Al and Si with a free amplitude (reported area = Kα + Kβ) where the
        spectrum holds at least :data:`VALENCE_KBETA_MIN_COUNTS` counts within ±1 FWHM of their Kα
        (bulk sums, long dwells). Their Kβ is valence-band emission whose strength follows the
        chemical bond: the silicate glasses emit ~4.5x the free-atom Kβ/Kα of Al and ~1.7x that
        of Si, and Mg, which as a free atom has none, a Kβ/Kα of 0.05-0.07
        (docs/real-spectra.md). Below the threshold (single points) Kβ stays tied; a map's
        points take the Kβ share fitted on their sum spectrum. Default on.
    matrix_absorption : bool
        Weight the lines of each group by their escape from a typical rock
        matrix (a basalt; thick target, the instrument's incidence and take-off
        angles), as a thick sample absorbs Kβ and Kα differently (up to ~10 %
        between them for Mg-K in basalt); the continuum shape then also follows
        what a thick rock scatters (σ_scatter/μ: a step down at each absorption
        edge of the matrix, e.g. Fe K at 7.11 keV).
    weights : {"pearson", "neyman", "none"}
        Least-squares weights. "pearson" (default) iterates with the variance
        equal to the model (unbiased for Poisson counts, physics.md §13);
        "neyman" uses the data (biased low at low counts); "none" is unweighted.
    pearson_iterations : int
        Linear reweighting passes (variance = model) before the nonlinear fit;
        one more follows it.
    scale_covar : bool
        Scale the covariance by the reduced χ² (lmfit's default); off by
        default so that σ is the counting-statistics uncertainty.
    max_nfev : int
        Limit of model evaluations of the nonlinear fit.
    ftol : float
        Relative change of χ² (and of the parameters) at which the nonlinear
        fit stops; 1e-6 changes χ² by far less than its statistical spread.
    """

    elements: tuple[str, ...] | None = None
    min_energy_eV: float | None = None
    max_energy_eV: float | None = None
    background: str = "continuum"
    continuum_knot_spacing_eV: float = 1500.0
    snip_width_fwhm: float = 2.5
    snip_smooth_channels: int = 2
    refine_calibration: bool = True
    refine_resolution: bool = True
    refine_tails: bool = True
    refine_compton: bool = True
    refine_tail_slope: bool = False
    refine_quadratic: bool = False
    scatter: bool = True
    escape: bool = True
    pileup: bool = True
    shelf: bool = False
    free_kbeta: bool = False
    valence_kbeta: bool = True
    matrix_absorption: bool = True
    weights: str = "pearson"
    pearson_iterations: int = 1
    scale_covar: bool = False
    max_nfev: int = 200
    ftol: float = 1e-6

    def __post_init__(self):
        if self.elements is not None:
            if isinstance(self.elements, str):
                object.__setattr__(self, "elements", tuple(self.elements.replace(",", " ").split()))
            else:
                object.__setattr__(self, "elements", tuple(self.elements))
        if self.background not in _BACKGROUNDS:
            raise ConfigError(f"background must be one of {_BACKGROUNDS}, got {self.background!r}",
                              where="FitConfig.background")
        if self.weights not in _WEIGHTS:
            raise ConfigError(f"weights must be one of {_WEIGHTS}, got {self.weights!r}", where="FitConfig.weights")
        if not self.continuum_knot_spacing_eV >= 300.0:
            raise ConfigError("continuum_knot_spacing_eV must be >= 300 eV (wider than any peak)",
                              where="FitConfig.continuum_knot_spacing_eV")
        if not self.snip_width_fwhm > 0:
            raise ConfigError("snip_width_fwhm must be > 0", where="FitConfig.snip_width_fwhm")
        if self.snip_smooth_channels < 0 or self.pearson_iterations < 0 or self.max_nfev < 1:
            raise ConfigError("snip_smooth_channels and pearson_iterations must be >= 0, max_nfev >= 1",
                              where="FitConfig")
        if (self.min_energy_eV is not None and self.max_energy_eV is not None
                and self.max_energy_eV <= self.min_energy_eV):
            raise ConfigError(f"max_energy_eV ({self.max_energy_eV}) must exceed min_energy_eV "
                              f"({self.min_energy_eV})", where="FitConfig")

    def to_dict(self) -> dict:
        d = asdict(self)
        if d["elements"] is not None:
            d["elements"] = list(d["elements"])
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_pymca(cls, path) -> "FitConfig":
        """The fit settings of a PyMca ``.cfg`` (elements, fit range, background, escape, pile-up).

        The detector, attenuators and tube map onto an Instrument, and settings
        with no pixlspec counterpart are listed: see :func:`pixlspec.io.pymca_cfg.read_pymca_cfg`
        (``px.read_pymca_config``), which returns all three.
        """
        from .io.pymca_cfg import read_pymca_cfg

        return read_pymca_cfg(path).config

    @classmethod
    def from_dict(cls, data: dict) -> "FitConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown FitConfig keys {unknown}", where="FitConfig")
        return cls(**data)
