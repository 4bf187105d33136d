"""The spectrum model: element line groups, tube scatter, escape, pile-up.

A :class:`SpectrumModel` turns a set of *columns* (one per element line
group, tube-line scatter family and pile-up) and a set of *shape parameters*
(calibration, resolution, tails, Compton broadening) into a design matrix
``A`` (n_channels × n_columns). A spectrum is ``A @ areas + background``: the
column amplitudes are the **areas in counts** of each group — every photon of
the group that the detector recorded, in its full-energy peak, its tail and its
escape peaks (the step shelf is an addition of relative height
``step_height``). Nonlinear parameters enter only ``A``; areas enter linearly,
which the fits exploit (variable projection for one spectrum, a fixed ``A`` for
maps).

Relative intensities within a group are the xraydb (Elam) line intensities
weighted by the detector efficiency and the gas path to the detector at each
line energy, so the Kβ/Kα ratio seen in the spectrum follows the detector.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

from ..errors import FitError
from ..instrument import Instrument
from ..physics import detector as det_physics
from ..physics.lines import LineGroup, default_shell, line_group, parse_group_name, tube_lines
from . import kernels

__all__ = ["ShapeParams", "SpectrumModel", "Column", "PILEUP", "SHELF", "RAYLEIGH_K", "COMPTON_K", "SCATTER_L",
           "SCATTER_L12", "VALENCE_KBETA_ELEMENTS", "KBETA_SUFFIX", "kbeta_column", "kbeta_group", "continuum_shape"]

PILEUP = "pileup"
SHELF = "shelf"
#: Suffix of the column that holds a K group's Kβ lines when they are fitted apart ("Si" -> "Si_Kb").
KBETA_SUFFIX = "_Kb"
RAYLEIGH_K = "Rh_K_Rayleigh"
COMPTON_K = "Rh_K_Compton"
#: Scatter of the tube's L3 lines: Rayleigh, with the Compton peak of each line tied to it.
SCATTER_L = "Rh_L_scatter"
#: Rayleigh scatter of the tube's L1 and L2 lines (Lβ1, Lβ3, Lβ4, Lγ), in a column of their own: the tube's
#: L-subshell ratios come from the Ebel model's L-line constants, which are uncertain (physics.md §8);
#: tied to Lα they left a −73σ/+54σ pair at Lβ1/Lα on the breadboard glasses.
SCATTER_L12 = "Rh_L12_scatter"

# kinds of line. The Compton peaks of the tube's L lines (in the L scatter columns) sit at the Compton energy
# (Rh Lα: 27 eV below it at 160°) but their Doppler broadening, which scales with the momentum
# transfer (∝ E at a fixed angle), is ~1/7.5 of that of the K lines: σ ≈ 27 eV at 2.7 keV for
# compton_sigma_eV = 200 eV at 20.2 keV, against a detector σ of 55-70 eV there. The kernels treat
# them as Rayleigh-like lines (detector response only) at the shifted energy (kind COMPTON_NARROW).
FLUORESCENCE, RAYLEIGH, COMPTON, COMPTON_NARROW = 0, 1, 2, 3
#: Lines weaker than this fraction of their group are dropped from the model
#: (below 0.1 % of a group they are under the statistical noise of any PIXL spectrum).
MIN_LINE_FRACTION = 1e-3
#: Elements whose K lines come from the gas of the beam path (the Ar of air in a He path, or of the
#: Mars atmosphere), not from the sample. ``free_kbeta`` frees a sample's Kβ because matrix
#: absorption between Kα and Kβ changes their ratio; a gas line has no matrix, so its Kβ/Kα stays
#: the atomic ratio. Freed, the weak Ar Kβ (3.19 keV) took the counts of the Rh Lγ scatter and the
#: K Kα tail beside it: 76,000-78,000 counts on the breadboard glasses, where the atomic ratio allows
#: 10,000-25,000, inflating the Ar line by 1.4-1.8x.
PATH_GAS_ELEMENTS = ("Ar",)
#: Elements whose Kβ is emitted from the valence band (their 3p level is the outer, bonding shell):
#: its intensity follows the chemical bond, not the free atom. Free-atom rates (xraylib, Scofield)
#: give Mg no Kβ at all (no 3p electron in the atom) and Al, Si Kβ/Kα 0.013, 0.028; the silicate
#: glasses BHVO-2G and BCR-2G, fitted with these Kβ free, give ~0.05, 0.055 and 0.048
#: (docs/real-spectra.md). From K (Z = 19) on, the 3p shell is full and inner: the atomic ratio holds.
#: P, S and Cl are valence emitters too but keep the atomic ratio: their Kβ lie under the Zr/Y L lines
#: (P Kβ 2.14 keV) and the Rh L scatter (Cl Kβ 2.81 keV), where a free column takes those counts. Na's
#: Kβ lies 30 eV above its Kα, inside the Kα peak, where a column of its own could not be told apart.
VALENCE_KBETA_ELEMENTS: tuple[str, ...] = ("Mg", "Al", "Si")
#: The typical rock matrix whose absorption weights the lines of a group (``matrix=``): the basalt of
#: physics.md §9 (wt%, O by stoichiometry; FeO total). Only ratios between lines of one group depend
#: on it, and only weakly on the rock type (Kβ/Kα of Mg changes by ~1 % between basalt and a sulfate).
ROCK_MATRIX_WT: tuple[tuple[str, float], ...] = (
    ("SiO2", 49.9), ("TiO2", 2.7), ("Al2O3", 13.5), ("FeO", 11.1), ("MnO", 0.17), ("MgO", 7.2), ("CaO", 11.4),
    ("Na2O", 2.2), ("K2O", 0.5), ("P2O5", 0.27))
#: Excitation energy (in units of the group's lowest edge) at which the incident-beam absorption of the
#: matrix is taken for the line weights: photo-absorption falls as ~E⁻³ above the edge, so most
#: vacancies are made within ~50 % above it (engineering choice; the term is common to all lines of
#: the group and only damps the emergent-beam contrast between them).
MATRIX_EXCITATION_PER_EDGE = 1.5
#: Energy (eV) at which ``ShapeParams.tail_fraction`` is quoted (Fe Kα, mid-range of PIXL spectra).
TAIL_REFERENCE_EV = 6400.0
#: Largest tail fraction any line may get from the energy dependence.
MAX_TAIL_FRACTION = 0.5
#: Degree of the continuum B-splines (cubic: smooth to the second derivative).
CONTINUUM_SPLINE_DEGREE = 3
#: Energy step (eV) of the grid on which the continuum shape is tabulated once.
CONTINUUM_GRID_EV = 20.0


def kbeta_column(group: str) -> str:
    """Name of the column of ``group``'s Kβ lines fitted apart ("Si" -> "Si_Kb")."""
    return group + KBETA_SUFFIX


def kbeta_group(column: str) -> str | None:
    """The group whose Kβ column ``column`` is ("Si_Kb" -> "Si"); None for any other column."""
    return column[:-len(KBETA_SUFFIX)] if column.endswith(KBETA_SUFFIX) else None


@dataclass(frozen=True)
class ShapeParams:
    """Nonlinear parameters of the spectrum model.

    Attributes
    ----------
    offset_eV, gain_eV_per_channel, quadratic_eV : float
        Energy calibration.
    noise_eV : float
        Electronic noise FWHM (eV).
    fano : float
        Fano factor (with the pair energy :data:`pixlspec.physics.detector.SI_PAIR_ENERGY_EV`).
    tail_fraction : float
        Area fraction of the low-energy (hypermet short) tail at :data:`TAIL_REFERENCE_EV`.
    tail_slope : float
        Energy dependence of the tail fraction: ``f(E) = tail_fraction *
        (E / TAIL_REFERENCE_EV) ** -tail_slope`` (incomplete charge collection near
        the entrance window grows toward low energies, physics.md §2).
    tail_beta_fwhm : float
        Tail slope in units of the line FWHM.
    step_height : float
        Step (shelf) height relative to the Gaussian peak height.
    compton_sigma_eV : float
        Doppler broadening (sigma, eV) of the Compton peaks, added in quadrature.
    compton_shift_eV : float
        Shift of the Compton peaks from the Compton formula (eV).
    compton_tail_fraction : float
        Low-energy tail fraction of the Compton peaks (bound electrons).
    """

    offset_eV: float
    gain_eV_per_channel: float
    quadratic_eV: float = 0.0
    noise_eV: float = 100.0
    fano: float = 0.114
    tail_fraction: float = 0.02
    tail_slope: float = 0.0
    tail_beta_fwhm: float = 0.6
    step_height: float = 2e-4
    compton_sigma_eV: float = 200.0
    compton_shift_eV: float = 0.0
    compton_tail_fraction: float = 0.1

    @classmethod
    def from_instrument(cls, instrument: Instrument, detector: str | None = None, **overrides) -> "ShapeParams":
        d = instrument.detector(detector)
        p = cls(offset_eV=d.offset_eV, gain_eV_per_channel=d.gain_eV_per_channel, quadratic_eV=d.quadratic_eV,
                noise_eV=d.noise_eV, fano=d.fano)
        return replace(p, **overrides)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    def fwhm_eV(self, energy_eV):
        return det_physics.fwhm_eV(energy_eV, self.noise_eV, fano=self.fano)

    def energies(self, n_channels: int) -> np.ndarray:
        ch = np.arange(n_channels, dtype=np.float64)
        return self.offset_eV + self.gain_eV_per_channel * ch + self.quadratic_eV * ch * ch


@dataclass(frozen=True)
class Column:
    """One column of the design matrix."""

    name: str
    kind: str           # "element", "scatter" or "pileup"
    group: LineGroup | None = None


class SpectrumModel:
    """Columns and line table of a spectrum model for one instrument detector.

    Parameters
    ----------
    elements : iterable of str
        Element symbols ("Fe": default shell at the tube voltage) or group
        names ("Fe_K", "Pb_L").
    instrument : Instrument
    detector : str, optional
        Detector name (default: the instrument's first).
    scatter : bool
        Add Rayleigh and Compton columns for the tube's K lines and one column
        for its L lines.
    escape : bool
        Include Si-escape peaks in every column.
    pileup : bool
        Reserve a pile-up column (its shape comes from :meth:`pileup_column`).
    free_kbeta : bool
        Fit Kβ of K groups in a column of its own ("Fe_Kb"); the reported area
        of "Fe" is then the sum. Not for the path-gas lines
        (:data:`PATH_GAS_ELEMENTS`), whose Kβ/Kα is atomic.
    own_kbeta : collection of str
        K groups whose Kβ gets a column of its own ("Si_Kb"), as ``free_kbeta`` does for every
        K group: the valence-band emitters Mg, Al, Si (:data:`VALENCE_KBETA_ELEMENTS`) on spectra that
        determine their Kβ. For Mg, which has no free-atom Kβ, the column holds xraydb's (Elam)
        Kβ line energies.
    kbeta_share : mapping of str to float, optional
        K groups whose Kβ is held at a given share of the group's area (in [0, 1), e.g. the
        ``FitResult.kbeta_fraction`` of a long-dwell standard or of the scan's sum) instead of the
        atomic ratio: one column, Kα lines weighted to ``1 - share`` and Kβ lines to ``share``
        (the column a map's plan makes from a Kβ fitted apart). Takes precedence over ``own_kbeta``.
    max_energy_eV : float, optional
        Lines above this energy are left out (default: tube voltage).
    continuum : (min_energy_eV, max_energy_eV, knot_spacing_eV), optional
        Add a continuum basis over this range: the physical continuum shape
        (:func:`continuum_shape`) times cubic B-splines with knots every
        ``knot_spacing_eV``, fitted linearly with the peaks. The splines are
        far wider than any peak, so they follow the smooth continuum but cannot
        take counts from peaks. The B-splines are non-negative, so
        non-negative coefficients keep the continuum non-negative everywhere.
    shelf : bool
        Add a "shelf" column: the detector's incomplete-charge shelf of every
        recorded photon (:func:`pixlspec.model.recorded.shelf_shape`), whose shape comes from the
        spectrum itself (like the pile-up column). It is the background below
        ~2 keV, where the tube continuum does not reach the detector.
    matrix : sequence of (formula, wt%), optional
        A sample matrix (e.g. :data:`ROCK_MATRIX_WT`): each fluorescence line is
        weighted by ``1 / (μ(E_exc)/sin ψ1 + μ(E_line)/sin ψ2)`` of a thick
        sample of it, so tied Kβ/Kα (and L-line) ratios include the matrix
        absorption between the lines. ``None``: no absorption weighting.
    """

    def __init__(self, elements: Iterable[str], instrument: Instrument, detector: str | None = None, *,
                 scatter: bool = True, escape: bool = True, pileup: bool = True, free_kbeta: bool = False,
                 own_kbeta: Iterable[str] = (), kbeta_share: Mapping[str, float] | None = None,
                 max_energy_eV: float | None = None,
                 continuum: tuple[float, float, float] | None = None,
                 shelf: bool = False, matrix: Sequence[tuple[str, float]] | None = None):
        self.instrument = instrument
        self.detector = instrument.detector(detector)
        kv = instrument.tube.voltage_kV
        self.max_energy_eV = float(max_energy_eV) if max_energy_eV is not None else kv * 1000.0
        self.escape = escape
        self.matrix = tuple(matrix) if matrix is not None else None
        self.free_kbeta = free_kbeta
        self.own_kbeta = frozenset(own_kbeta)
        self.kbeta_share = dict(kbeta_share or {})
        for g, share in self.kbeta_share.items():
            if not (isinstance(share, (int, float, np.floating)) and 0.0 <= float(share) < 1.0):
                raise FitError(f"Kβ share of {g} must be a number in [0, 1), got {share!r}", where="kbeta_share")
        fixed_share = {}  # column -> Kβ share held fixed
        self.angle_deg = float(det_physics.scattering_angle_deg(instrument.incidence_deg,
                                                                self.detector.elevation_deg,
                                                                self.detector.azimuth_deg))
        columns: list[Column] = []
        rows = []  # (energy, intensity, column index, kind)
        kb_rows: list[bool] = []  # per fluorescence row: a Kβ line
        seen = set()
        for name in elements:
            grp = self._group(name, kv)
            if grp.name in seen:
                raise FitError(f"line group {grp.name} requested twice", where="elements")
            seen.add(grp.name)
            grp = grp.lines_above(MIN_LINE_FRACTION)
            keep = grp.energies_eV <= self.max_energy_eV
            if not keep.any():
                raise FitError(f"{grp.name}: no line below {self.max_energy_eV:.0f} eV", where="elements")
            col = len(columns)
            columns.append(Column(grp.name, "element", grp))
            energies, intensities = grp.energies_eV[keep], grp.intensities[keep]
            families = np.array(grp.families)[keep]
            kb_col = None
            fixed = grp.shell == "K" and grp.name in self.kbeta_share
            if fixed:
                fixed_share[col] = float(self.kbeta_share[grp.name])
            if fixed or self._own_kbeta(grp):
                if not np.any(families == "Kb"):
                    # no free-atom Kβ (Mg): the valence Kβ at xraydb's (Elam) line energies
                    elam = line_group(grp.element, "K", source="elam")
                    kb = (np.array(elam.families) == "Kb") & (elam.energies_eV <= self.max_energy_eV)
                    energies = np.concatenate([energies, elam.energies_eV[kb]])
                    intensities = np.concatenate([intensities, elam.intensities[kb]])
                    families = np.concatenate([families, np.array(elam.families)[kb]])
                if np.any(families == "Kb") and not fixed:
                    kb_col = len(columns)
                    columns.append(Column(kbeta_column(grp.name), "element", grp))
            absorb = (self._matrix_escape(grp, energies, matrix) if matrix is not None
                      else np.ones(energies.size))
            for e, i, fam, a in zip(energies, intensities, families, absorb):
                c = kb_col if (kb_col is not None and fam == "Kb") else col
                rows.append((e, i * a, c, FLUORESCENCE))
                kb_rows.append(bool(fam == "Kb"))
        if scatter:
            t = instrument.tube
            for tg in tube_lines(t.anode, kv, electron_incidence_deg=t.electron_incidence_deg,
                                 takeoff_deg=t.takeoff_deg, window_Be_um=t.window_Be_um):
                keep = tg.energies_eV <= self.max_energy_eV
                if tg.shell == "K":
                    c_r = len(columns)
                    columns.append(Column(RAYLEIGH_K.replace("Rh", tg.element), "scatter", tg))
                    c_c = len(columns)
                    columns.append(Column(COMPTON_K.replace("Rh", tg.element), "scatter", tg))
                    for e, i in zip(tg.energies_eV[keep], tg.intensities[keep]):
                        rows.append((e, i, c_r, RAYLEIGH))
                        rows.append((e, i, c_c, COMPTON))
                elif tg.shell == "L":
                    c_r = len(columns)
                    columns.append(Column(SCATTER_L.replace("Rh", tg.element), "scatter", tg))
                    levels = tg.initial_levels or ("L3",) * len(tg)
                    c_r12 = None
                    if any(lv in ("L1", "L2") for lv, k, i in zip(levels, keep, tg.intensities)
                           if k and i >= MIN_LINE_FRACTION):
                        c_r12 = len(columns)
                        columns.append(Column(SCATTER_L12.replace("Rh", tg.element), "scatter", tg))
                    for e, i, lv in zip(tg.energies_eV[keep], tg.intensities[keep], np.array(levels)[keep]):
                        if i >= MIN_LINE_FRACTION:
                            c = c_r12 if (c_r12 is not None and lv in ("L1", "L2")) else c_r
                            rows.append((e, i, c, RAYLEIGH))
                            rows.append((e, i * _compton_per_rayleigh(e), c, COMPTON_NARROW))
        self.continuum_slice = slice(0, 0)
        self._knots = None
        if continuum is not None:
            lo, hi, spacing = (float(x) for x in continuum)
            if not (hi > lo and spacing > 0):
                raise FitError(f"continuum range {lo}-{hi} eV with knot spacing {spacing} eV is invalid",
                               where="continuum")
            n_int = max(1, int(round((hi - lo) / spacing)))
            inner = np.linspace(lo, hi, n_int + 1)
            self._knots = np.concatenate([[lo] * CONTINUUM_SPLINE_DEGREE, inner, [hi] * CONTINUUM_SPLINE_DEGREE])
            n_basis = self._knots.size - CONTINUUM_SPLINE_DEGREE - 1
            first = len(columns)
            for k in range(n_basis):
                columns.append(Column(f"continuum_{k}", "continuum"))
            self.continuum_slice = slice(first, first + n_basis)
            grid = np.arange(0.0, instrument.tube.voltage_kV * 1000.0 + CONTINUUM_GRID_EV, CONTINUUM_GRID_EV)
            self._cont_grid = grid
            self._cont_shape = continuum_shape(grid, instrument, self)
        self.pileup_index = None
        if pileup:
            self.pileup_index = len(columns)
            columns.append(Column(PILEUP, "pileup"))
        self.shelf_index = None
        if shelf:
            self.shelf_index = len(columns)
            columns.append(Column(SHELF, "shelf"))
        self.columns = tuple(columns)
        self.column_names = tuple(c.name for c in columns)
        arr = np.array(rows, dtype=float).reshape(-1, 4)
        self._energy0 = arr[:, 0].copy()
        self._intensity = arr[:, 1].copy()
        self._col = arr[:, 2].astype(np.int64)
        self._kind = arr[:, 3].astype(np.int64)
        # the kernels know fluorescence, Rayleigh and Compton (with Doppler width) lines
        self._kernel_kind = np.where(self._kind == COMPTON_NARROW, RAYLEIGH, self._kind)
        self._compton_e = np.array([float(det_physics.compton_energy_eV(e, self.angle_deg))
                                    for e in self._energy0])
        # weights: relative intensity × efficiency, normalised per column to sum 1
        self._nominal_energy = np.where((self._kind == COMPTON) | (self._kind == COMPTON_NARROW), self._compton_e,
                                        self._energy0)
        eff = self.efficiency(self._nominal_energy)
        w = self._intensity * eff
        sums = np.bincount(self._col, weights=w, minlength=len(columns))
        with np.errstate(invalid="ignore", divide="ignore"):
            self._weight = np.where(sums[self._col] > 0, w / sums[self._col], 0.0)
        is_kb = np.zeros(self._col.size, dtype=bool)
        is_kb[:len(kb_rows)] = kb_rows  # the fluorescence rows come first
        for c, share in fixed_share.items():
            # the Kα and the Kβ lines of a group with a fixed share, each normalised to their part (a
            # group without Kβ lines within reach keeps its Kα column)
            kb, ka = (self._col == c) & is_kb, (self._col == c) & ~is_kb
            if self._weight[kb].sum() > 0 and self._weight[ka].sum() > 0:
                self._weight[kb] *= share / self._weight[kb].sum()
                self._weight[ka] *= (1.0 - share) / self._weight[ka].sum()
        self._p_esc = (np.asarray(det_physics.escape_probability(self._nominal_energy), dtype=float)
                       if escape and self._energy0.size else np.zeros(self._energy0.size))

    # --- construction helpers -------------------------------------------------
    def _own_kbeta(self, grp: LineGroup) -> bool:
        """Whether the Kβ of ``grp`` gets a column of its own (``free_kbeta``, ``own_kbeta``)."""
        if grp.shell != "K" or grp.element in PATH_GAS_ELEMENTS:
            return False
        return self.free_kbeta or grp.name in self.own_kbeta

    def _matrix_escape(self, grp: LineGroup, energies_eV: np.ndarray, matrix) -> np.ndarray:
        """Relative escape of the lines of ``grp`` from a thick sample of ``matrix`` (max 1)."""
        from ..physics.attenuation import mass_attenuation

        comp = dict(matrix)
        sin1 = np.sin(np.radians(self.instrument.incidence_deg))
        sin2 = np.sin(np.radians(self.detector.elevation_deg))
        mu_in = float(mass_attenuation(comp, grp.edge_eV * MATRIX_EXCITATION_PER_EDGE))
        mu_out = np.asarray(mass_attenuation(comp, np.asarray(energies_eV, dtype=float)), dtype=float)
        chi = mu_in / sin1 + mu_out / sin2
        return chi.min() / chi

    @staticmethod
    def _group(name: str, kv: float) -> LineGroup:
        if "_" in name:
            el, shell = parse_group_name(name)
        else:
            el, shell = name, default_shell(name, tube_kV=kv)
        return line_group(el, shell, excitation_eV=kv * 1000.0)

    def efficiency(self, energy_eV) -> np.ndarray:
        """Detector efficiency × gas transmission to the detector at ``energy_eV``."""
        d = self.detector
        inst = self.instrument
        if np.size(energy_eV) == 0:
            return np.zeros(np.shape(energy_eV))
        eff = det_physics.detector_efficiency(energy_eV, d.window_Be_um, d.si_thickness_um, d.dead_layer_um)
        gas = det_physics.gas_transmission(energy_eV, inst.atmosphere, inst.path_out_cm,
                                           pressure_Pa=inst.gas_pressure_Pa,
                                           temperature_K=inst.gas_temperature_K)
        return np.asarray(eff, dtype=float) * np.asarray(gas, dtype=float)

    # --- accessors -------------------------------------------------------------
    @property
    def n_columns(self) -> int:
        return len(self.columns)

    def index(self, name: str) -> int:
        return self.column_names.index(name)

    @property
    def element_columns(self) -> list[int]:
        return [i for i, c in enumerate(self.columns) if c.kind == "element"]

    def group_lines(self, column: int, params: ShapeParams | None = None):
        """(energies_eV, weights) of the lines of one column (Compton shifted)."""
        sel = self._col == column
        e = self._line_energies(params)[sel]
        return e, self._weight[sel]

    def main_energy_eV(self, column: int) -> float:
        """Energy of the strongest line of a column (nominal)."""
        sel = np.flatnonzero(self._col == column)
        if sel.size == 0:
            return float("nan")
        j = sel[np.argmax(self._weight[sel])]
        return float(self._nominal_energy[j])

    def _line_energies(self, params: ShapeParams | None) -> np.ndarray:
        shift = params.compton_shift_eV if params is not None else 0.0
        return np.where(self._kind == COMPTON, self._compton_e + shift,
                        np.where(self._kind == COMPTON_NARROW, self._compton_e, self._energy0))

    # --- evaluation ------------------------------------------------------------
    def line_table(self, params: ShapeParams):
        """Arrays for :func:`pixlspec.model.kernels.line_responses` at ``params``."""
        e = self._line_energies(params)
        compton = self._kind == COMPTON
        fwhm = np.asarray(params.fwhm_eV(e), dtype=float)
        extra_var = np.where(compton, params.compton_sigma_eV ** 2, 0.0)
        tail_f = np.where(compton, params.compton_tail_fraction, self._tail_fractions(e, params)[0])
        compton_fwhm = np.sqrt(fwhm ** 2 + (det_physics.FWHM_PER_SIGMA * params.compton_sigma_eV) ** 2)
        beta = params.tail_beta_fwhm * np.where(compton, compton_fwhm, fwhm)
        step_h = np.where(self._kind == FLUORESCENCE, params.step_height, 0.0)
        return (e, self._weight, self._col, extra_var, tail_f, beta, step_h, self._p_esc)

    def channel_energies(self, channels, params: ShapeParams) -> tuple[np.ndarray, np.ndarray]:
        """Energy (eV) and width (eV) of ``channels`` under ``params`` and the instrument's correction.

        ``E = offset + gain*ch + quadratic*ch**2 + c(E_lin)`` where ``c`` is the
        instrument's low-energy linear correction (PIQUANT ``##DL_OFFSET`` +
        ``##DL_SLOPE`` × E in keV, applied where it is positive, i.e. below
        ``-DL_OFFSET/DL_SLOPE`` keV).
        """
        ch = np.asarray(channels, dtype=np.float64)
        e = params.offset_eV + params.gain_eV_per_channel * ch + params.quadratic_eV * ch * ch
        width = params.gain_eV_per_channel + 2.0 * params.quadratic_eV * ch
        slope = self.instrument.energy_correction_slope / 1000.0  # eV per eV
        off = self.instrument.energy_correction_offset_eV
        if slope or off:
            corr = off + slope * e
            active = corr > 0
            e = e + np.where(active, corr, 0.0)
            width = width * np.where(active, 1.0 + slope, 1.0)
        return e, width

    def _tail_fractions(self, e: np.ndarray, params: ShapeParams):
        """Tail fraction of non-Compton lines at energies ``e`` and its derivatives (fraction, slope)."""
        ratio = np.maximum(e, 1.0) / TAIL_REFERENCE_EV
        scale = ratio ** (-params.tail_slope)
        f = params.tail_fraction * scale
        capped = f > MAX_TAIL_FRACTION
        f = np.where(capped, MAX_TAIL_FRACTION, f)
        df_tail = np.where(capped, 0.0, scale)
        df_slope = np.where(capped, 0.0, -f * np.log(ratio))
        return f, df_tail, df_slope

    def design(self, energies_eV: np.ndarray, params: ShapeParams, out: np.ndarray | None = None,
               pileup_shape: np.ndarray | None = None, continuum: np.ndarray | None = None,
               channel_width_eV: np.ndarray | None = None, shelf_shape: np.ndarray | None = None) -> np.ndarray:
        """Design matrix ``A`` (n_channels, n_columns) at ``params``.

        ``energies_eV`` are the channel energies (see :meth:`channel_energies`);
        ``channel_width_eV`` their widths (default from the linear/quadratic
        calibration). ``pileup_shape`` (n_channels, unit area) fills the
        pile-up column; ``continuum`` (n_channels, n_basis), if given, is used
        for the continuum columns instead of evaluating :meth:`continuum_basis`.
        """
        n = energies_eV.size
        if out is None:
            out = np.zeros((n, self.n_columns))
        else:
            out[:] = 0.0
        fano_pair = params.fano * det_physics.SI_PAIR_ENERGY_EV
        kernels.line_responses(np.ascontiguousarray(energies_eV, dtype=np.float64), *self.line_table(params),
                               float(params.noise_eV), float(fano_pair), det_physics.SI_KA_ESCAPE_EV,
                               det_physics.SI_KB_ESCAPE_EV, det_physics.SI_ESCAPE_KB_FRACTION, out)
        # the kernel gives counts per eV: multiply by the channel width (eV) for counts per channel
        if channel_width_eV is not None:
            out *= np.asarray(channel_width_eV, dtype=float)[:, None]
        elif params.quadratic_eV:
            ch = (energies_eV - params.offset_eV) / params.gain_eV_per_channel
            out *= (params.gain_eV_per_channel + 2.0 * params.quadratic_eV * ch)[:, None]
        else:
            out *= params.gain_eV_per_channel
        if self._knots is not None:
            out[:, self.continuum_slice] = continuum if continuum is not None else self.continuum_basis(energies_eV)
        if self.pileup_index is not None and pileup_shape is not None:
            out[:, self.pileup_index] = pileup_shape
        if self.shelf_index is not None and shelf_shape is not None:
            out[:, self.shelf_index] = shelf_shape
        return out

    #: Shape parameters with analytic derivatives, in the column order of :meth:`derivatives`.
    DERIVATIVE_NAMES = ("offset_eV", "gain_eV_per_channel", "noise_eV", "fano", "tail_fraction", "tail_beta_fwhm",
                        "step_height", "compton_sigma_eV", "compton_shift_eV", "compton_tail_fraction",
                        "tail_slope", "quadratic_eV")

    def derivatives(self, channels: np.ndarray, params: ShapeParams, areas: np.ndarray) -> np.ndarray:
        """Analytic derivatives of the line counts ``A @ areas`` with respect to the shape parameters.

        Parameters
        ----------
        channels : (n,) channel numbers (float) at which the model is evaluated.
        params : ShapeParams
        areas : (n_columns,) column amplitudes.

        Returns
        -------
        (n, 10) array, columns :attr:`DERIVATIVE_NAMES` (counts per unit parameter).
        The continuum and pile-up columns are held fixed.
        """
        ch = np.asarray(channels, dtype=np.float64)
        e, width = self.channel_energies(ch, params)
        # dE/d(linear energy): 1, or 1 + DL slope where the low-energy correction is active
        de_dlin = width / (params.gain_eV_per_channel + 2.0 * params.quadratic_eV * ch)
        amp = self._weight * np.asarray(areas, dtype=float)[self._col]
        dens = np.empty(e.size)
        g = np.empty((e.size, kernels.N_GRAD))
        le = self._line_energies(params)
        compton = self._kind == COMPTON
        f, df_tail, df_slope = self._tail_fractions(le, params)
        f = np.where(compton, params.compton_tail_fraction, f)
        df_tail = np.where(compton, 0.0, df_tail)
        df_slope = np.where(compton, 0.0, df_slope)
        kernels.line_model_grad(e, le, amp, self._kernel_kind, float(params.compton_sigma_eV), f, df_tail, df_slope,
                                float(params.tail_beta_fwhm), float(params.step_height), self._p_esc,
                                float(params.noise_eV), float(params.fano), det_physics.SI_PAIR_ENERGY_EV,
                                det_physics.SI_KA_ESCAPE_EV, det_physics.SI_KB_ESCAPE_EV,
                                det_physics.SI_ESCAPE_KB_FRACTION, dens, g)
        out = np.empty((e.size, len(self.DERIVATIVE_NAMES)))
        out[:, 0] = width * g[:, kernels.GRAD_ENERGY] * de_dlin
        out[:, 1] = dens * de_dlin + width * g[:, kernels.GRAD_ENERGY] * de_dlin * ch
        out[:, 2:11] = width[:, None] * g[:, [kernels.GRAD_NOISE, kernels.GRAD_FANO, kernels.GRAD_TAIL_F,
                                             kernels.GRAD_TAIL_B, kernels.GRAD_STEP, kernels.GRAD_C_SIGMA,
                                             kernels.GRAD_C_SHIFT, kernels.GRAD_C_TAIL, kernels.GRAD_TAIL_SLOPE]]
        out[:, 11] = 2.0 * ch * dens * de_dlin + width * g[:, kernels.GRAD_ENERGY] * de_dlin * ch * ch
        return out

    def continuum_basis(self, energies_eV: np.ndarray) -> np.ndarray:
        """Continuum columns (n_channels, n_basis): physical shape × cubic B-splines."""
        from scipy.interpolate import BSpline

        t = self._knots
        x = np.clip(energies_eV, t[0], t[-1])
        B = BSpline.design_matrix(x, t, CONTINUUM_SPLINE_DEGREE).toarray()
        shape = np.interp(energies_eV, self._cont_grid, self._cont_shape)
        outside = (energies_eV < t[0]) | (energies_eV > t[-1])
        B[outside] = 0.0
        return B * shape[:, None]


def continuum_shape(energies_eV: np.ndarray, instrument: Instrument, model: "SpectrumModel") -> np.ndarray:
    """Physical continuum shape (arbitrary scale, max 1) as the detector records it.

    Scattering by the sample keeps the shape of the exciting continuum to first
    order (Rayleigh; Compton moves it by < 1.5 keV), so the recorded continuum
    follows the tube spectrum after its window and the optic, weighted by the
    detector efficiency and the gas path (physics.md §6, "physical continuum").
    With a sample matrix (``model.matrix``), a thick sample scatters a fraction
    ``σ_scatter(E) / μ(E)`` of what it receives at each energy, so the continuum
    drops above each absorption edge of the matrix (Fe K at 7.11 keV, Ca K,
    Si K ...). The shape is then seen through the detector's resolution
    (a Gaussian of the detector's FWHM at each energy), which smooths those
    steps as it smooths the peaks.
    """
    from ..physics.optic import optic_table_start_eV
    from ..physics.tube import tube_spectrum

    t = instrument.tube
    ts = tube_spectrum(voltage_kV=t.voltage_kV, anode=t.anode, electron_incidence_deg=t.electron_incidence_deg,
                       takeoff_deg=t.takeoff_deg, window_Be_um=t.window_Be_um, current_uA=t.current_uA)
    e = np.asarray(energies_eV, dtype=float)
    cont = np.interp(e, ts.continuum_energy_eV, ts.continuum, left=0.0, right=0.0)
    optic = instrument.optic
    response = np.asarray(optic.transmission_at(e), dtype=float)  # the FP's response (cubic spline)
    shape = cont * response * model.efficiency(np.maximum(e, 1.0))
    peak = shape.max()
    if not peak > 0:
        return shape
    shape = shape / peak
    # Below the measured part of the optic table the continuum reaching the detector is held flat at its
    # value there: the table does not say what the optic passes below, and what the detector records there
    # (tails and shelves of the photons above, the sample's photo-electron bremsstrahlung) does not follow
    # the product of a table's zeros and the tube's window cut-off. The splines set its level.
    start = optic_table_start_eV(optic.energies_keV, optic.transmission)
    if start is not None:
        below = e < start
        shape = np.where(below, float(np.interp(start, e, shape)), shape)
    if model.matrix is not None:
        # whatever reaches the sample, it scatters a fraction sigma_s/mu: the edges of the matrix (Si K at
        # 1.84 keV under P, Fe K at 7.11 keV) are the sample's, below the optic table too
        shape = shape * thick_target_scatter(e, model.matrix)
    d = model.detector
    shape = resolution_blur(e, shape, d.noise_eV, d.fano)
    peak = shape.max()
    return shape / peak if peak > 0 else shape


#: Lowest energy (eV) at which the matrix's scatter/attenuation ratio is evaluated: below it the
#: continuum shape is set by the flat extension under the optic table, not by the sample.
SCATTER_MIN_ENERGY_EV = 1000.0
#: Half-width of the resolution blur in Gaussian σ (the kernel beyond 5σ is < 4e-6 of its peak).
BLUR_HALF_WIDTH_SIGMA = 5.0


def thick_target_scatter(energies_eV: np.ndarray, matrix: Sequence[tuple[str, float]]) -> np.ndarray:
    """Fraction of the incident photons a thick sample of ``matrix`` scatters at each energy.

    For a sample much thicker than the photons' range, the scattered intensity at
    energy E is ``σ_s(E) / (μ(E)/sin ψ1 + μ(E)/sin ψ2)`` (Rayleigh and Compton
    mass cross sections over the total mass attenuation, xraydb/Elam). The angular
    factor is common to all energies, so only ``(σ_coh + σ_incoh)(E) / μ(E)`` is
    returned: smooth, with a step down at every absorption edge of the matrix.
    """
    from ..physics.attenuation import mass_attenuation

    comp = dict(matrix)
    e = np.maximum(np.asarray(energies_eV, dtype=float), SCATTER_MIN_ENERGY_EV)
    scatter = (np.asarray(mass_attenuation(comp, e, "coh"), dtype=float)
               + np.asarray(mass_attenuation(comp, e, "incoh"), dtype=float))
    return scatter / np.asarray(mass_attenuation(comp, e, "total"), dtype=float)


def resolution_blur(energies_eV: np.ndarray, values: np.ndarray, noise_eV: float, fano: float) -> np.ndarray:
    """``values`` on increasing ``energies_eV`` convolved with the detector's Gaussian response.

    At each energy E the kernel is a Gaussian of the detector FWHM at E
    (:func:`pixlspec.physics.detector.fwhm_eV`), weighted by the spacing of the
    energies and normalised over the points inside ±:data:`BLUR_HALF_WIDTH_SIGMA`,
    so a constant stays constant and the ends are not pulled toward zero.
    """
    e = np.asarray(energies_eV, dtype=float)
    v = np.asarray(values, dtype=float)
    if e.size < 3:
        return v.copy()
    sigma = np.asarray(det_physics.sigma_eV(e, noise_eV, fano=fano), dtype=float)
    spacing = np.gradient(e)
    lo = np.searchsorted(e, e - BLUR_HALF_WIDTH_SIGMA * sigma)
    hi = np.searchsorted(e, e + BLUR_HALF_WIDTH_SIGMA * sigma, side="right")
    # every point's window as one row of a band (n, widest window), the unused cells weighted 0
    idx = lo[:, None] + np.arange(int((hi - lo).max()))[None, :]
    inside = idx < hi[:, None]
    idx = np.minimum(idx, e.size - 1)
    w = np.exp(-0.5 * ((e[idx] - e[:, None]) / sigma[:, None]) ** 2) * spacing[idx] * inside
    return np.einsum("ij,ij->i", w, v[idx]) / w.sum(axis=1)


def _compton_per_rayleigh(energy_eV: float) -> float:
    """Compton/Rayleigh ratio of a tube L line scattered by :data:`ROCK_MATRIX_WT` (angle-integrated).

    Ratio of the incoherent to the coherent mass attenuation (xraydb/Elam) at the line energy: 0.025
    at Rh Lα. The Compton peak of an L line lies 27 eV below it, between Cl Kα and Rh Lα: with an
    amplitude of its own it took Cl's counts (σ of Cl ×3 in maps), so it is tied to its Rayleigh line.
    """
    from ..physics.attenuation import mass_attenuation

    comp = dict(ROCK_MATRIX_WT)
    return float(mass_attenuation(comp, energy_eV, "incoh") / mass_attenuation(comp, energy_eV, "coh"))
