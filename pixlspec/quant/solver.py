"""The FP inversion: analyte mass fractions from measured line areas, for many points at once.

:class:`Solver` holds the FP models of a set of line groups and inverts them:
a fixed point ``C <- C x area / predicted`` (Criss & Birks 1968) until the
residuals are below :data:`QN_START_RESIDUAL`, then quasi-Newton steps in log
space with one Jacobian shared by the points (a point it does not contract takes its own), to
:data:`TOLERANCE` relative.
A chunk of at least :data:`PILOT_MIN_POINTS` starts from one of its points
solved first (:meth:`Solver.pilot`) and goes to the quasi-Newton steps
at once. Between evaluations of the full model (primary on the fine excitation
bins plus secondary fluorescence) the iteration runs on the quick primary of
the coarse bins (:meth:`FPModel.coarse_rates`, half the cost) times the
correction ``full / quick`` last evaluated, followed to first order in log C:
a defect correction, so a converged point solves the full model.
:meth:`Solver.solve` returns a :class:`Solved` (the solution and the
``full / quick`` ratios it holds); :meth:`Solver.sensitivity` gives
``d area / d C`` for the uncertainties with those ratios. A :class:`Solver`
keeps nothing from one solve to the next, so chunks of a map can be solved in threads.
A map's chunks can share one pilot and one quasi-Newton Jacobian (:meth:`Solver.start_jacobian`).
Used by :mod:`pixlspec.quant.quantify` and :mod:`pixlspec.quant.calibration` (with
:mod:`pixlspec.quant.groups`, which chooses the groups to quantify and the air of a He path).
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ..errors import CompositionError
from ..instrument import Instrument
from ..physics.attenuation import parse_composition
from ..physics.elements import atomic_mass
from ..physics.oxides import FE_OXIDES, oxide_factor, oxide_of
from .fp import fp_model
from .groups import GAS_GROUPS, analysis_groups, solve_air_fraction
from .qn_steps import QNSteps, SharedJacobian, masked_inverses, measured_patterns, qn_step

__all__ = ["Solver", "Solved", "Pilot", "SharedJacobian", "analysis_groups", "solve_air_fraction", "GAS_GROUPS", "O_EQUIVALENT_ELEMENTS",
           "MAX_ITERATIONS", "TOLERANCE", "SECONDARY_EVERY", "QN_STEP", "QN_REFERENCE_FLOOR", "QN_MIN_CONTRACTION",
           "QN_START_RESIDUAL", "QN_JUDGED_RESIDUAL", "KINK_SIDE_OFFSET", "QN_SECONDARY_DROP", "PILOT_MIN_POINTS",
           "PILOT_QN_START_RESIDUAL"]

#: Halogens reported as elements and charge-balanced by cations that the oxide table gives O:
#: the O they replace (O equivalent, 1/2 O per Cl or Br: 0.2256 g O per g Cl) is removed from
#: the matrix and from the total (as in microprobe practice; physics.md §10).
O_EQUIVALENT_ELEMENTS: tuple[str, ...] = ("Cl", "Br")
#: Most iterations of the inversion before a point is reported as not converged.
MAX_ITERATIONS: int = 300
#: Fixed-point iterations between evaluations of the full model, fine primary and secondary fluorescence
#: (held in between as its ratio to the quick primary; the solution is always confirmed by the full model).
SECONDARY_EVERY: int = 5
#: Relative step of the shared quasi-Newton Jacobian (d log area / d log c at the points' median composition).
QN_STEP: float = 1e-3
#: Mass fraction below which the reference composition of that Jacobian is floored (absent groups).
QN_REFERENCE_FLOOR: float = 1e-6
#: A point whose largest log residual shrinks by less than this factor per iteration leaves the
#: quasi-Newton step for the fixed point (its matrix is too unlike the reference).
QN_MIN_CONTRACTION: float = 0.7
#: A point whose largest |log residual| is below this is at its solution to within the rounding of the model
#: (far below :data:`TOLERANCE`): its contraction is not judged (at ~1e-15 the residual only jitters).
QN_JUDGED_RESIDUAL: float = 1e-10
#: With a balance, the shared Jacobian is also taken at its reference composition scaled to a total this far
#: (relative) on the other side of 100 %, where the intensities follow the total with the other regime's slope.
KINK_SIDE_OFFSET: float = 0.02
#: The shared Jacobian is taken once the median point's largest |log(area / predicted)| is below this
#: (before, the fixed point moves every point towards its own matrix).
QN_START_RESIDUAL: float = 0.05
#: In quasi-Newton iterations the full model (fine primary and secondary) is evaluated once the median residual has
#: dropped by this factor since the last recomputation, unless the ratios followed since then still hold
#: (:data:`FOLLOWED_SECONDARY_MAX_STEP`), and to confirm convergence.
QN_SECONDARY_DROP: float = 1e-2
#: Points of a chunk from which the iteration starts from one of them solved first (the pilot,
#: :meth:`Solver.pilot`) instead of from pure-element sensitivities.
PILOT_MIN_POINTS: int = 16
#: After a pilot start the residuals are matrix differences between points, which the shared
#: quasi-Newton Jacobian handles from the first iteration (a point it does not contract goes on with
#: the fixed point): the quasi-Newton steps start below this median residual instead.
PILOT_QN_START_RESIDUAL: float = 0.5
#: Largest relative change of any analyte's mass fraction in the last iteration of a converged point.
TOLERANCE: float = 1e-7
#: A solution reached with the full/quick ratios followed to first order from their last evaluation
#: is accepted without evaluating them again when no point's log mass fractions moved by more than this
#: since: the followed ratios are then exact to (slope differences between points) × 2e-5, a few 1e-7 of the
#: ratio at most (on the benchmark map the last ~3 iterations move them by ~1e-5; a confirming evaluation
#: was a third of the secondary's work).
FOLLOWED_SECONDARY_MAX_STEP: float = 2e-5


@dataclass(frozen=True)
class Pilot:
    """A point solved first (:meth:`Solver.pilot`): what the other points start from."""

    #: Converged counts per unit mass fraction of each group (1 where the pilot has none).
    counts_per_fraction: np.ndarray
    #: Groups the pilot measured (the others keep the pure-element start).
    good: np.ndarray
    #: Its full/quick corrections, followed from its log mass fractions ``log_c``.
    corr: np.ndarray
    log_c: np.ndarray


class Solved(NamedTuple):
    """What :meth:`Solver.solve` returns: per point (rows of ``A``) the solution and what it was solved with."""

    #: Analyte mass fractions (P, n_g).
    c: np.ndarray
    #: Predicted areas at ``c`` (P, n_g).
    pred: np.ndarray
    iterations: int
    #: (P,) bool.
    converged: np.ndarray
    #: The full/quick ratios minus one the solution holds (P, n_g).
    corr: np.ndarray
    #: The ratios at the shared Jacobian's reference composition (n_g,), where absent groups are at a trace
    #: (None when no shared Jacobian was taken).
    corr_trace: np.ndarray | None

    def sensitivity_corr(self) -> np.ndarray:
        """The ratios :meth:`Solver.sensitivity` scales with: a group absent from a point (c = 0) takes those
        of the Jacobian's reference composition, where it is at a trace."""
        if self.corr_trace is None:
            return self.corr
        return np.where(self.c > 0, self.corr, self.corr_trace[None, :])


class Solver:
    """FP inversion for one set of groups, over many points at once (see the module docstring)."""

    def __init__(self, instrument: Instrument, detectors: Sequence[str], groups: Sequence[str], factors: np.ndarray,
                 factor_sigma: np.ndarray, fe_oxide: str, balance: str | None, secondary: bool):
        if fe_oxide not in FE_OXIDES:
            raise CompositionError(f"fe_oxide must be one of {FE_OXIDES}, got {fe_oxide!r}", where="quantify")
        self.balance = balance
        bal = parse_composition(balance) if balance else {}
        # detectors with the same physics (PIXL A and B) share one model, counted n times
        sig: dict[tuple, list] = {}
        for d in detectors:
            det = instrument.detector(d)
            key = (det.window_Be_um, det.dead_layer_um, det.si_thickness_um, det.solid_angle_sr,
                   det.elevation_deg, det.azimuth_deg)
            sig.setdefault(key, []).append(d)
        self.models = [fp_model(instrument, groups, detector=ds[0], elements=tuple(bal), secondary=secondary)
                       for ds in sig.values()]
        self.multiplicity = [len(ds) for ds in sig.values()]
        m = self.models[0]
        self.groups = list(m.groups)
        self.group_elements = list(m.group_elements)
        self.n_g = len(self.groups)
        self.el_index = np.array([m.elements.index(e) for e in self.group_elements], dtype=np.int64)
        self.o_index = m.elements.index("O")
        self.factor = np.array([oxide_factor(e, oxide_of(e, fe_oxide)) for e in self.group_elements])
        self.oxides = [oxide_of(e, fe_oxide) for e in self.group_elements]
        self.oeq = np.array([atomic_mass("O") / (2.0 * atomic_mass(e)) if e in O_EQUIVALENT_ELEMENTS else 0.0
                             for e in self.group_elements])
        #: Oxygen per unit mass fraction of each analyte: its oxide's, less the O equivalent of a halogen.
        self.oxygen_per_fraction = self.factor - 1.0 - self.oeq
        self.balance_vec = np.zeros(len(m.elements))
        for el, f in bal.items():
            self.balance_vec[m.elements.index(el)] = f
        s = self.balance_vec.sum()
        if s > 0:
            self.balance_vec /= s
        self.k = np.asarray(factors, dtype=np.float64)
        self.k_sigma = np.asarray(factor_sigma, dtype=np.float64)
        self.gas_correctable = m.gas_correctable
        #: Ar K counts/s per unit air fraction excited by the sample's own emission (measured units,
        #: not scaled by the calibration); set from a spectrum by :meth:`set_sample_emission`.
        self.gas_sample_cps_per_x = 0.0
        #: Calibration scale of the gas line (set by the caller: the calibration's overall scale).
        self.gas_scale = 1.0

    def set_sample_emission(self, spectrum: Any) -> None:
        """Ar excited in the He path by the sample's recorded emission (:meth:`FPModel.sample_gas_rate`)."""
        self.gas_sample_cps_per_x = 0.0
        live = float(getattr(spectrum, "live_time_s", 0.0) or 0.0)
        if self.gas_correctable and live > 0:
            self.gas_sample_cps_per_x = self.models[0].sample_gas_rate(
                spectrum.energy_eV, np.asarray(spectrum.counts, dtype=np.float64) / live)

    def full(self, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Matrix of analyte fractions ``c``: (mass-fraction rows, intensity scale, balance fraction).

        Analysed oxides summing to T (mass fraction):

        * with a balance and T <= 1: the sample is the analysed oxides plus (1 - T) of the
          balance; intensities are those of that sample (scale 1);
        * otherwise (no balance, or T > 1): the sample is the analysed oxides normalised to
          T = 1, and intensities scale with T (the analytical total then measures how far the
          absolute intensities are from those of a 100 % sample).
        """
        C, scale, rest, _, _, _ = self._assemble(c)
        return C, scale, rest

    def _assemble(self, c: np.ndarray):
        """:meth:`full`'s (C, scale, rest) and what its derivatives need: the analysed oxides' mass
        fractions before balance or normalisation (P, K), their oxygen before clipping at 0 (P,), and
        which points are normalised (P,)."""
        P = c.shape[0]
        raw = np.zeros((P, len(self.models[0].elements)))
        raw[:, self.el_index] = c
        o_raw = c @ self.oxygen_per_fraction
        raw[:, self.o_index] += np.clip(o_raw, 0.0, None)
        T = self._total(c, o_raw)
        C = raw.copy()
        rest = np.zeros(P)
        scale = np.ones(P)
        if self.balance:
            rest = np.clip(1.0 - T, 0.0, None)
            C += rest[:, None] * self.balance_vec[None, :]
        over = (T > 1.0) | (not self.balance)
        over &= T > 0
        C[over] /= T[over, None]
        scale[over] = T[over]
        return C, scale, rest, raw, o_raw, over

    @staticmethod
    def _total(c: np.ndarray, o_raw: np.ndarray) -> np.ndarray:
        """(P,) mass fraction of the analysed oxides: the analytes ``c`` and their oxygen ``o_raw`` (clipped at 0)."""
        return c.sum(axis=1) + np.clip(o_raw, 0.0, None)

    def _kink_sides(self, steps: QNSteps, c: np.ndarray, side_prev: np.ndarray | None) -> np.ndarray:
        """(P,) which points are normalised (a total above 100 %; balance-filled below). The intensities follow
        the total with another slope on either side of that kink, and each point steps with the Jacobian of
        the side it is on: the other side's is taken when a point first is there, and a point's own Jacobian
        (of the side it was taken on) is dropped when it crossed since ``side_prev``."""
        side = self._normalised(c)
        if steps.other_side is not None and np.any(side != steps.reference_side):
            steps.other_side()
            steps.other_side = None
        if side_prev is not None:
            steps.own[side != side_prev] = -1
        return side

    def _normalised(self, c: np.ndarray) -> np.ndarray:
        """(P,) bool: the points whose sample is normalised (no balance, or a total above 100 %), as
        :meth:`full` builds them (from the total alone, without the matrix)."""
        T = self._total(c, c @ self.oxygen_per_fraction)
        if not self.balance:
            return T > 0
        return T > 1.0

    def full_derivatives(self, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`full`'s matrix and intensity scale, and their derivatives along each analyte fraction:
        (C (P, K), scale (P,), dC (P, K, n_g), dscale (P, n_g)), exact on the side of the point's own
        regime (balance filling a total below 1, or normalisation of a total above 1): a point on the
        boundary is differentiated as the balance-filled sample it is."""
        C, scale, _, raw, o_raw, over = self._assemble(c)
        n_g = self.n_g
        d_raw = np.zeros(raw.shape + (n_g,))
        d_raw[:, self.el_index, np.arange(n_g)] = 1.0
        d_raw[:, self.o_index, :] += np.where(o_raw[:, None] > 0, self.oxygen_per_fraction[None, :], 0.0)
        dT = d_raw.sum(axis=1)                                   # (P, n_g)
        # normalised points: (d_raw - C dT) / T; balance-filled ones: d_raw - dT x balance (per point, whole rows)
        T = np.where(over, raw.sum(axis=1), 1.0)
        sub = np.where(over[:, None], C, self.balance_vec[None, :] if self.balance else 0.0)
        dC = d_raw - sub[:, :, None] * dT[:, None, :]
        dC /= T[:, None, None]
        dscale = np.where(over[:, None], dT, 0.0)
        return C, scale, dC, dscale

    def predict(self, c: np.ndarray, live: np.ndarray, air: float = 0.0, corr: np.ndarray | None = None,
                return_corr: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Predicted areas (P, n_g).

        Without ``corr``, the full model: primary on the fine excitation bins plus secondary fluorescence,
        and (with ``return_corr``) its ratio to the quick primary of the coarse bins minus one, per point and
        group (:meth:`FPModel.coarse_rates`; the secondary's share plus ~1e-4). With ``corr``, the quick
        primary times ``1 + corr``: half the cost of the fine primary, and no secondary."""
        C, scale, _ = self.full(c)
        quick = np.zeros((c.shape[0], self.n_g))
        full = np.zeros_like(quick) if corr is None else None
        for m, mult in zip(self.models, self.multiplicity):
            quick += mult * m.coarse_rates(C, air_fraction=air)
            if full is not None:
                full += mult * m.rates(C, air_fraction=air)
        if corr is None:
            with np.errstate(divide="ignore", invalid="ignore"):
                corr = np.where(quick > 0, full / np.where(quick > 0, quick, 1.0) - 1.0, 0.0)
            model = full
        else:
            model = quick * (1.0 + corr)
        out = model * self.k[None, :] * (live * scale)[:, None]
        return (out, corr) if return_corr else out

    def gas_rate(self, air: float) -> float:
        return sum(n * m.gas_line_rate(air) for m, n in zip(self.models, self.multiplicity))

    def pure(self) -> np.ndarray:
        return sum(n * m.pure_rates() for m, n in zip(self.models, self.multiplicity)) * self.k

    def _start(self, A: np.ndarray, live: np.ndarray, pilot: Pilot | None) -> tuple[np.ndarray, np.ndarray]:
        """Where the iteration starts for the areas ``A`` (finite): (groups with a positive area (P, n_g), analyte
        mass fractions (P, n_g)), from the pure-element sensitivities scaled to ~100 % oxides, or for the groups
        the ``pilot`` measured from its counts per unit mass fraction."""
        pos = A > 0
        c = np.where(pos, A / (live[:, None] * self.pure()[None, :]), 0.0)
        # start from a total of ~100 % oxides
        ox = (c * self.factor).sum(axis=1)
        c = np.where(ox[:, None] > 0, c / np.maximum(ox[:, None], 1e-300), c)
        if pilot is not None:
            # groups the pilot did not measure keep the pure-element start
            c = np.where(pos & pilot.good[None, :], A / (live[:, None] * pilot.counts_per_fraction[None, :]), c)
        return pos, c

    def start_jacobian(self, A: np.ndarray, live: np.ndarray, air: float, pilot: Pilot) -> SharedJacobian | None:
        """The quasi-Newton Jacobian at the median of the compositions the points of ``A`` start from with
        ``pilot`` (:meth:`reference_jacobian`, both sides of the kink): taken once for all the chunks of a map,
        whose points then start from the same pilot (``solve(..., shared=)``)."""
        pos, c = self._start(np.where(np.isfinite(A), A, 0.0), live, pilot)
        return self.reference_jacobian(c, pos, live, air, other_side=True)

    def solve(self, A: np.ndarray, live: np.ndarray, air: float = 0.0, max_iter: int = MAX_ITERATIONS,
              tol: float = TOLERANCE, pilot: Pilot | None = None, shared: SharedJacobian | None = None) -> Solved:
        """Analyte mass fractions for areas ``A`` (P, n_g) (:class:`Solved`: c, predicted, iterations,
        converged, and the full/quick ratios the solution holds).

        ``pilot`` (from :meth:`pilot`, e.g. once for all the chunks of a map) gives the start; without it, a
        chunk of at least :data:`PILOT_MIN_POINTS` points takes its own. ``shared`` (from
        :meth:`start_jacobian` with that pilot) is the quasi-Newton Jacobian; without it, the chunk takes one
        at the median of its compositions."""
        A = np.where(np.isfinite(A), A, 0.0)
        if pilot is None and A.shape[0] >= PILOT_MIN_POINTS:
            pilot = self.pilot(A, live, air, max_iter, tol)
        pos, c = self._start(A, live, pilot)
        corr = None
        qn_start = QN_START_RESIDUAL
        log_c = _log_positive(c)  # kept with c: the log steps below are taken many times per iteration
        log_c_corr = log_c  # where the full/quick ratios (1 + corr) were evaluated
        if pilot is not None:
            corr = np.repeat(pilot.corr[None, :], A.shape[0], axis=0)
            qn_start = PILOT_QN_START_RESIDUAL
            log_c_corr = np.repeat(pilot.log_c[None, :], A.shape[0], axis=0)
        from_pilot = corr is not None
        converged = np.zeros(A.shape[0], dtype=bool)
        pred = np.zeros_like(A)
        it = 0
        w = np.where(pos, A, 0.0)
        wsum = np.maximum(w.sum(axis=1), 1e-300)
        fresh = False
        # Quasi-Newton in log space with one Jacobian shared by all points (the matrix effects of the
        # points of a scan are alike; with a balance one on each side of the kink at a total of 100 %): a
        # point whose residual stops shrinking takes its own Jacobian, and if it still does not, goes on with
        # the fixed point below, which always converges but needs ~3x more model evaluations.
        M_inv = None
        qn = np.zeros(A.shape[0], dtype=bool)
        side_prev = None  # which points were normalised (total above 100 %) at the last step
        r_prev = np.full(A.shape[0], np.inf)
        clipped = np.zeros(A.shape[0], dtype=bool)  # far from the solution the step is clipped: no verdict
        qn_tried = False
        r_corr = np.inf
        # Between fresh evaluations the full/quick ratios follow the compositions linearly in log c
        # (slope shared by the points, taken with the quasi-Newton Jacobian): a fresh evaluation then only
        # corrects the curvature and the points' differences, and fewer are needed.
        D_corr = None
        corr_trace = None  # the corrections at the Jacobian's reference, where absent groups are at a trace
        # points at their solution (converged with ratios that hold there) are left out of the iterations
        # that the others still need
        act = np.ones(A.shape[0], dtype=bool)
        for it in range(1, max_iter + 1):
            # the full/quick ratios change slowly: evaluate the full model every few fixed-point iterations,
            # in quasi-Newton iterations each time the residual has fallen by QN_SECONDARY_DROP
            if corr is None:  # far from the solution: the quick primary alone (the secondary is a few %)
                corr = corr_now = np.zeros_like(A)
                pred = self.predict(c, live, air, corr)
                full_eval = False
            elif fresh or (it % SECONDARY_EVERY == 0 and not qn.any()) or \
                    (qn.any() and np.median(r_prev[act]) < QN_SECONDARY_DROP * r_corr
                     and (D_corr is None or _followed_step(log_c, log_c_corr) >= FOLLOWED_SECONDARY_MAX_STEP)):
                # the full model where the followed ratios may no longer hold (every point before a slope is
                # known); a point that moved less than FOLLOWED_SECONDARY_MAX_STEP since its last evaluation
                # keeps them, as the solution is accepted with them
                stale = None if D_corr is None else \
                    act & (_followed_steps(log_c, log_c_corr) >= FOLLOWED_SECONDARY_MAX_STEP)
                if stale is None or stale.all():
                    pred, corr = self.predict(c, live, air, return_corr=True)
                    corr_now, log_c_corr = corr, log_c
                    stale = act
                else:
                    corr_now = self._followed_corrections(corr, D_corr, log_c, log_c_corr)
                    pred = self._predict_rows(pred, act & ~stale, c, live, air, corr_now)
                    pred[stale], corr_s = self.predict(c[stale], live[stale], air, return_corr=True)
                    corr, log_c_corr = corr.copy(), log_c_corr.copy()
                    corr[stale] = corr_now[stale] = corr_s
                    log_c_corr[stale] = log_c[stale]
                full_eval = True
            else:
                corr_now = self._followed_corrections(corr, D_corr, log_c, log_c_corr)
                pred = self._predict_rows(pred, act, c, live, air, corr_now)
                full_eval = False
            fresh = False
            c_new = c.copy()
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio, log_r, r_now = _residuals(A, pred, pos)
                side = None
                if M_inv is not None and self.balance:
                    side = side_prev = self._kink_sides(M_inv, c, side_prev)
                if not full_eval:  # a fresh full model moves the residual: judge progress between them
                    slow = qn & act & (r_now > QN_MIN_CONTRACTION * r_prev) & (r_now > QN_JUDGED_RESIDUAL) & ~clipped
                    if slow.any():
                        # a matrix unlike the chunk's median: quasi-Newton steps with the point's own Jacobian
                        # (once); a point that still does not contract goes on with the fixed point
                        got = self._own_jacobians(M_inv, slow & (M_inv.own < 0), c, pred, pos, live, air, corr_now,
                                                  D_corr)
                        qn &= ~slow | got
                r_prev = r_now
                if full_eval:
                    r_corr = float(np.median(r_now[act]))  # the residual the fresh full model left
                if M_inv is None and not qn_tried and np.median(r_now) < qn_start:
                    # close enough for the points' matrices to be alike: one Jacobian at their median
                    qn_tried = True
                    J = shared if shared is not None else self.reference_jacobian(c, pos, live, air)
                    M_inv = self._qn_steps(J, pos, air) if J is not None else None
                    D_corr, corr_trace = (J.D_corr, J.corr_trace) if M_inv is not None else (None, None)
                    qn[:] = M_inv is not None
                    if M_inv is not None and not full_eval:
                        # the full/quick ratios of these compositions: evaluated, or after a pilot the pilot's
                        # followed by the slope just taken
                        if from_pilot:
                            corr_now = self._followed_corrections(corr, D_corr, log_c, log_c_corr)
                            pred = self.predict(c, live, air, corr_now)
                        else:
                            pred, corr = self.predict(c, live, air, return_corr=True)
                            corr_now, log_c_corr = corr, log_c
                        ratio, log_r, r_prev = _residuals(A, pred, pos)
                        r_corr = float(np.median(r_prev))
                if side is None and M_inv is not None and self.balance:  # the shared Jacobian was just taken
                    side = side_prev = self._kink_sides(M_inv, c, None)
                step = qn & act
                if step.any():
                    du = qn_step(M_inv, side, log_r, step)
                    clipped[step] = np.any(np.abs(du) > 2.0, axis=1)
                    c_new[step] = np.where(pos[step], c[step] * np.exp(np.clip(du, -2.0, 2.0)), 0.0)
                fp = ~qn & act
                if fp.any():
                    c_new[fp] = self._fixed_point_step(c[fp], ratio[fp], pred[fp], pos[fp], w[fp], wsum[fp],
                                                       live[fp], air, corr_now[fp])
            change = np.max(np.abs(c_new - c) / np.maximum(np.abs(c_new), 1e-12), axis=1, initial=0.0)
            c = c_new
            log_c = _log_positive(c)
            converged = change < tol
            if D_corr is not None:
                # at its solution: converged after a fresh evaluation, or with ratios followed by less than
                # FOLLOWED_SECONDARY_MAX_STEP (their corrections are then those of the solution, kept)
                done = act & converged & ((stale if full_eval else False) | (_followed_steps(log_c, log_c_corr)
                                                                              < FOLLOWED_SECONDARY_MAX_STEP))
                if done.any():
                    corr = np.where(done[:, None], self._followed_corrections(corr, D_corr, log_c, log_c_corr), corr)
                    log_c_corr = np.where(done[:, None], log_c, log_c_corr)
                    act &= ~done
                if not act.any():
                    break
            if converged.all():
                if full_eval:
                    # converged with a fresh full model: pred and corr are those of the compositions of this
                    # iteration, which differ from the solution by less than the tolerance
                    break
                if D_corr is not None and _followed_step(log_c, log_c_corr) < FOLLOWED_SECONDARY_MAX_STEP:
                    # the followed ratios hold at the solution: no confirming evaluation
                    corr = self._followed_corrections(corr, D_corr, log_c, log_c_corr)
                    break
                fresh = True  # confirm with the full model
        return Solved(c, pred, it, converged, corr, corr_trace)

    def _predict_rows(self, pred: np.ndarray, rows: np.ndarray, c: np.ndarray, live: np.ndarray, air: float,
                      corr: np.ndarray) -> np.ndarray:
        """A copy of ``pred`` with the points ``rows`` predicted at ``c`` with the ratios ``corr`` (:meth:`predict`)."""
        if rows.all():
            return self.predict(c, live, air, corr)
        pred = pred.copy()
        pred[rows] = self.predict(c[rows], live[rows], air, corr[rows])
        return pred

    @staticmethod
    def _followed_corrections(corr: np.ndarray, D_corr: np.ndarray | None, log_c: np.ndarray, log_c_corr: np.ndarray
                              ) -> np.ndarray:
        """Corrections (full/quick - 1) at compositions ``exp(log_c)`` from those evaluated at ``exp(log_c_corr)``,
        to first order with the shared slope ``D_corr`` (as evaluated without it)."""
        if D_corr is None:
            return corr
        # never below what was evaluated nor below 0 when that was above: the secondary only adds, and the quick
        # primary differs from the fine one by < 1e-3 (the old floor of the secondary ratio at 0)
        return np.maximum(corr + _log_step(log_c, log_c_corr) @ D_corr.T, np.minimum(corr, 0.0))

    def pilot(self, A: np.ndarray, live: np.ndarray, air: float = 0.0, max_iter: int = MAX_ITERATIONS,
              tol: float = TOLERANCE) -> Pilot | None:
        """One point of ``A`` solved first, to start the others from (None when no point can be one).

        The pilot is the point whose count rates are closest to the median rates (in log). Its converged
        counts per unit mass fraction (matrix absorption and secondary fluorescence included) turn every
        point's areas into a first composition that is within the matrix differences of the scan, instead
        of the pure-element start; the iteration then needs no fixed-point steps before the quasi-Newton
        ones. Only the start changes: each point still converges to its own fixed point.
        """
        A = np.where(np.isfinite(A), A, 0.0)
        pos = A > 0
        rate = np.where(pos, np.log(np.where(pos, A, 1.0) / live[:, None]), np.nan)
        n_pos = pos.sum(axis=1)
        if not n_pos.size or not n_pos.max():
            return None
        ok = n_pos == n_pos.max()  # among the points with the most groups measured
        med = _nanmedian_columns(rate[ok])  # a group no chosen point measured has none: it is left out
        dist = np.where(ok, np.nansum(np.abs(rate - np.where(np.isfinite(med), med, 0.0)), axis=1), np.inf)
        i = int(np.argmin(dist))
        c_p, pred_p, _, conv_p, corr_p, _ = self.solve(A[i:i + 1], live[i:i + 1], air, max_iter, tol)
        good = (c_p[0] > 0) & (pred_p[0] > 0)
        if not conv_p[0] or not good.any():
            return None
        counts_per_fraction = np.where(good, pred_p[0] / (live[i] * np.where(good, c_p[0], 1.0)), 1.0)
        return Pilot(counts_per_fraction, good, corr_p[0].copy(), _log_positive(c_p[0]))

    def _fixed_point_step(self, c, ratio, pred, pos, w, wsum, live, air, corr) -> np.ndarray:
        """One step of ``c <- c x area / predicted`` (Criss & Birks 1968) for the points given."""
        c_new = np.where(pos, c * ratio, 0.0)
        if self.balance:
            # With an invisible balance the overall scale of c converges slowly (the intensities
            # change with the total only through the absorption contrast between the balance and
            # the rock): secant step on that one direction.
            eps = 1e-3
            pred_e = self.predict(c * (1.0 + eps), live, air, corr)
            lr = np.where(pos & (pred > 0) & (pred_e > 0), np.log(np.where(pred_e > 0, pred_e, 1.0)
                                                                  / np.where(pred > 0, pred, 1.0)), 0.0)
            g = np.clip((w * lr).sum(axis=1) / wsum / math.log1p(eps), 0.02, 1.0)
            rbar = (w * np.log(np.where(ratio > 0, ratio, 1.0))).sum(axis=1) / wsum
            c_new = c_new * np.exp(np.clip(rbar * (1.0 / g - 1.0), -2.0, 2.0))[:, None]
        return c_new

    def reference_jacobian(self, c0: np.ndarray, pos: np.ndarray, live: np.ndarray, air: float,
                           other_side: bool = False) -> SharedJacobian | None:
        """``d log(predicted) / d log(c)`` of the full model at the points' median composition (a group no point
        measured at :data:`QN_REFERENCE_FLOOR`), the slope of the corrections ``d corr_g / d log c_j`` (shared by
        the points) and the corrections there (the only ones a group absent from a point has), as
        :class:`SharedJacobian`; with a balance and ``other_side``, also across the kink at a total of 100 %
        (else taken when a point first is there). None when there is none."""
        n_g = self.n_g
        if n_g < 2 or not pos.any():
            return None
        # a group no point measured has no median: it takes the floor below
        ref = _nanmedian_columns(np.where(pos, c0, np.nan)) if pos.shape[0] > 1 else c0[0]
        ref = np.where(np.isfinite(ref), np.maximum(ref, QN_REFERENCE_FLOOR), QN_REFERENCE_FLOOR)
        rows = np.repeat(ref[None, :], n_g + 1, axis=0)
        rows[1:] *= 1.0 + QN_STEP * np.eye(n_g)
        live_s = float(np.median(live))
        pred, corr = self.predict(rows, np.full(n_g + 1, live_s), air, return_corr=True)  # the full model of each row
        if not np.all(pred > 0) or not np.all(np.isfinite(pred)):
            return None
        D = (np.log(pred[1:]) - np.log(pred[0])).T / math.log1p(QN_STEP)  # D[i, j] = dlog p_i / dlog c_j
        D_corr = (corr[1:] - corr[0]).T / math.log1p(QN_STEP)             # D_corr[i, j] = d corr_i / dlog c_j
        if not np.all(np.isfinite(D_corr)):
            return None
        J = SharedJacobian(D, D_corr, corr[0].copy(), ref, live_s,
                           bool(self._normalised(ref[None])[0]) if self.balance else None)
        if other_side and self.balance:
            J = dataclasses.replace(J, D_other=self._other_side_jacobian(J, air), other_taken=True)
        return J

    def _other_side_jacobian(self, J: SharedJacobian, air: float) -> np.ndarray | None:
        """``d log(predicted) / d log(c)`` at the reference of ``J`` scaled :data:`KINK_SIDE_OFFSET` across the
        kink at a total of 100 % (None when not regular)."""
        n_g = self.n_g
        ref = J.reference
        total = float(self._total(ref[None], ref[None] @ self.oxygen_per_fraction)[0])
        rows = np.repeat(ref[None, :] * ((1.0 - KINK_SIDE_OFFSET) if J.reference_side else (1.0 + KINK_SIDE_OFFSET))
                         / total, n_g + 1, axis=0)
        rows[1:] *= 1.0 + QN_STEP * np.eye(n_g)
        pred = self.predict(rows, np.full(n_g + 1, J.live_s), air)
        if np.all(pred > 0) and np.all(np.isfinite(pred)):
            return (np.log(pred[1:]) - np.log(pred[0])).T / math.log1p(QN_STEP)
        return None

    def _qn_steps(self, J: SharedJacobian, pos: np.ndarray, air: float) -> QNSteps | None:
        """The inverses of ``J`` with the rows and columns of groups without a positive area replaced by the
        identity (they stay at zero), one per pattern of measured groups, as :class:`QNSteps`; with a balance,
        those across the kink are added when a point first is there. None when one is singular."""
        # the points' matrices differ only by the groups they lack: one matrix and inverse per pattern
        patterns, which = measured_patterns(pos)

        def per_pattern(D_side):
            M_inv, ok = masked_inverses(np.repeat(D_side[None], patterns.shape[0], axis=0), ~patterns)
            return M_inv if ok.all() else None

        M_inv = per_pattern(J.D)
        if M_inv is None:
            return None
        steps = QNSteps(M_inv, which, patterns.shape[0], np.full(pos.shape[0], -1, dtype=np.int64))
        if self.balance:
            def other_side() -> None:
                """The inverses across the kink, added to ``steps`` (when regular)."""
                D_other = J.D_other if J.other_taken else self._other_side_jacobian(J, air)
                other_inv = per_pattern(D_other) if D_other is not None else None
                if other_inv is not None:
                    steps.add_side(other_inv)

            steps.other_side, steps.reference_side = other_side, J.reference_side
        return steps

    def _own_jacobians(self, steps: QNSteps, sel: np.ndarray, c: np.ndarray, pred: np.ndarray, pos: np.ndarray,
                       live: np.ndarray, air: float, corr: np.ndarray, D_corr: np.ndarray) -> np.ndarray:
        """Gives the points in ``sel`` quasi-Newton steps (in ``steps``) with the inverse of
        their own ``d log(predicted) / d log(c)`` (rows and columns of groups without a positive area replaced
        by the identity, as in :meth:`_qn_steps`), from the exact derivatives of the quick primary
        (:meth:`sensitivity`) scaled by the corrections ``corr`` the iteration uses, plus the slope ``D_corr``
        with which it follows them (the Jacobian of the model the iteration steps on). Returns (P,) bool: the
        points that got one (a singular matrix keeps the shared one)."""
        got = np.zeros(sel.shape, dtype=bool)
        idx = np.flatnonzero(sel)
        if not idx.size:
            return got
        J = self.sensitivity(c[idx], live[idx], air, corr=corr[idx])  # d area_g / d c_j
        on = pos[idx] & (pred[idx] > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            D = J * c[idx][:, None, :] / np.where(on, pred[idx], 1.0)[:, :, None]
        D += D_corr[None, :, :] / (1.0 + corr[idx])[:, :, None]
        D_inv, ok = masked_inverses(D, ~on)
        ok &= np.all(np.isfinite(D_inv), axis=(1, 2))
        got[idx[ok]] = True
        steps.own[idx[ok]] = steps.inverses.shape[0] + np.arange(int(ok.sum()))
        steps.inverses = np.concatenate([steps.inverses, D_inv[ok]])
        return got

    def sensitivity(self, c: np.ndarray, live: np.ndarray, air: float, corr: np.ndarray) -> np.ndarray:
        """d(predicted area)/d(c) per point: (P, n_g, n_g), [p, g, j] = d area_g / d c_j.

        The quick primary (coarse excitation bins) is differentiated analytically
        (:meth:`FPModel.primary_jacobian`) along the derivatives of the sample's mass fractions (oxygen,
        balance, normalisation: :meth:`full_derivatives`) and scaled by the full/quick ratios ``corr``
        (P, n_g, minus one), as in the iteration: the secondary fluorescence is held as its share of the full
        model. Relative to the area, these derivatives differ from the fine bins' by ~1e-4 (the σ by < 1e-3;
        tested). For a solution, ``corr`` is :meth:`Solved.sensitivity_corr`, where a group absent from a point
        takes the ratio of the Jacobian's reference composition, at which it is at a trace.
        """
        P = c.shape[0]
        C, scale, dC, dscale = self.full_derivatives(c)
        prim = np.zeros((P, self.n_g))
        jac = np.zeros((P, self.n_g, self.n_g))
        for m, mult in zip(self.models, self.multiplicity):
            p_, j_ = m.primary_jacobian(C, dC, air_fraction=air, coarse=True)
            prim += mult * p_
            jac += mult * j_
        f = (1.0 + corr) * self.k[None, :]
        return (jac * (f * (live * scale)[:, None])[:, :, None]
                + (prim * f * live[:, None])[:, :, None] * dscale[:, None, :])


def _nanmedian_columns(x: np.ndarray) -> np.ndarray:
    """Median of the finite values of each column of ``x`` (NaN for a column without one), without the
    all-NaN warning (and so without ``warnings.catch_warnings``, which is not thread-safe)."""
    out = np.full(x.shape[1], np.nan)
    some = np.isfinite(x).any(axis=0)
    if some.any():
        out[some] = np.nanmedian(x[:, some], axis=0)
    return out


def _log_positive(c: np.ndarray) -> np.ndarray:
    """log c where c > 0, -inf elsewhere (without a warning)."""
    out = np.full(c.shape, -np.inf)
    np.log(c, out=out, where=c > 0)
    return out


def _log_step(log_c: np.ndarray, log_c_corr: np.ndarray) -> np.ndarray:
    """log c - log c_corr over the positive fractions (finite ``log_c``, from :func:`_log_positive`) with a finite
    reference (0 elsewhere): how far the compositions have moved since the full/quick ratios were evaluated."""
    d = np.zeros(log_c.shape)
    np.subtract(log_c, log_c_corr, out=d, where=np.isfinite(log_c) & np.isfinite(log_c_corr))
    return d


def _followed_steps(log_c: np.ndarray, log_c_corr: np.ndarray) -> np.ndarray:
    """(P,) largest |log c - log c_corr| of each point: how far its full/quick ratios have been followed since
    they were evaluated."""
    return np.max(np.abs(_log_step(log_c, log_c_corr)), axis=1, initial=0.0)


def _followed_step(log_c: np.ndarray, log_c_corr: np.ndarray) -> float:
    """Largest |log c - log c_corr| over the points (:func:`_followed_steps`)."""
    return float(np.max(_followed_steps(log_c, log_c_corr), initial=0.0))


def _residuals(A: np.ndarray, pred: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per point and group, ``area / predicted`` and its log (0 where either is not positive), and per point the
    largest |log| (the residual the iteration drives to 0)."""
    ratio = np.where(pos & (pred > 0), A / pred, 0.0)
    log_r = np.where(ratio > 0, np.log(np.where(ratio > 0, ratio, 1.0)), 0.0)
    return ratio, log_r, np.max(np.abs(log_r), axis=1, initial=0.0)
