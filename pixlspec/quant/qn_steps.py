"""The quasi-Newton steps of the FP inversion (:mod:`pixlspec.quant.solver`).

The points of a chunk step in log c with inverse Jacobians ``d log(predicted) / d log(c)``: one per
pattern of measured groups (a group without a positive area stays at zero: its row and column are the
identity) taken at the chunk's reference composition, with an invisible balance one more per pattern at
that composition scaled to the other side of the kink at a total of 100 % (balance-filled below, normalised
above), and a point's own where the shared one does not contract it. :class:`QNSteps` holds them and
chooses each point's; :func:`qn_step` applies them. :class:`SharedJacobian` is the matrix they are inverted
from, shared by the chunks of a map.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import kernels

__all__ = ["SharedJacobian", "QNSteps", "masked_inverses", "measured_patterns", "qn_step"]


@dataclass(frozen=True)
class SharedJacobian:
    """The quasi-Newton Jacobian the points of a chunk (or of every chunk of a map) share
    (:meth:`~pixlspec.quant.solver.Solver.reference_jacobian`), before it is inverted per pattern of measured groups."""

    #: d log(predicted) / d log(c) at the reference composition (n_g, n_g).
    D: np.ndarray
    #: Slope of the full/quick corrections there, d corr_i / d log c_j (n_g, n_g).
    D_corr: np.ndarray
    #: The corrections at the reference (n_g,): those of a group absent from a point (at a trace there).
    corr_trace: np.ndarray
    #: The reference: analyte mass fractions (n_g,), groups without a median at :data:`~pixlspec.quant.solver.QN_REFERENCE_FLOOR`.
    reference: np.ndarray
    #: Live time of its rows (s; the log derivatives do not depend on it).
    live_s: float
    #: With a balance, whether the reference sample is normalised (a total above 100 %); None without.
    reference_side: bool | None = None
    #: With a balance, d log(predicted) / d log(c) across the kink (:data:`~pixlspec.quant.solver.KINK_SIDE_OFFSET`), when taken
    #: already (``other_taken``; None there when it is not regular); else taken by a chunk when a point first is there.
    D_other: np.ndarray | None = None
    other_taken: bool = False


@dataclass
class QNSteps:
    """The inverse Jacobians of the quasi-Newton steps of a chunk (built by :class:`~pixlspec.quant.solver.Solver`:
    the shared ones at the reference composition, the points' own, the other side of the kink when needed)."""

    #: (n, n_g, n_g) inverses of d log(predicted) / d log(c): one per pattern of measured groups at the
    #: reference regime, then (with a balance) one per pattern at the other, then the points' own.
    inverses: np.ndarray
    #: (P,) each point's pattern among the first ``n_patterns``.
    pattern: np.ndarray
    n_patterns: int
    #: (P,) index of a point's own inverse, -1 for none.
    own: np.ndarray
    #: With a balance: whether the reference composition is normalised (total above 100 %).
    reference_side: bool | None = None
    #: With a balance, until called: adds the inverses of the other side of the kink (:meth:`add_side`); taken
    #: when a point first is on that side.
    other_side: Callable[[], None] | None = None
    #: Whether the inverses of the other side follow the reference's.
    two_sided: bool = False

    def add_side(self, inverses: np.ndarray) -> None:
        """Insert the inverses of the other regime after the reference's (before any point's own)."""
        n = self.n_patterns
        self.own[self.own >= 0] += n
        self.inverses = np.concatenate([self.inverses[:n], inverses, self.inverses[n:]])
        self.two_sided = True

    def which(self, side: np.ndarray | None) -> np.ndarray:
        """(P,) the inverse each point steps with: its own, or its pattern's on the side of the kink it is on
        (``side``: (P,) bool, whether each point's sample is normalised; None without a balance)."""
        shared = self.pattern
        if self.two_sided:
            shared = shared + self.n_patterns * (side != self.reference_side)
        return np.where(self.own >= 0, self.own, shared)


def masked_inverses(D: np.ndarray, off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverses of the matrices ``D`` (n, n_g, n_g) d log(predicted) / d log(c) with the rows and columns of the
    groups ``off`` (n, n_g) (no positive area: they stay at zero) replaced by the identity, in place; returns
    (inverses, (n,) bool: regular)."""
    D[off[:, :, None] | off[:, None, :]] = 0.0
    g = np.arange(D.shape[1])
    D[:, g, g] = np.where(off, 1.0, D[:, g, g])
    inverses = np.empty_like(D)
    return inverses, kernels.batched_inverse(np.ascontiguousarray(D), inverses)


def measured_patterns(pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of the boolean ``pos`` (P, n) and the index of each point's row among them, as
    ``np.unique(pos, axis=0, return_inverse=True)`` (same order) but on the rows packed into bytes."""
    packed = np.ascontiguousarray(np.packbits(pos, axis=1))
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).reshape(-1)
    _, first, which = np.unique(keys, return_index=True, return_inverse=True)
    return pos[first], which.reshape(-1)


def qn_step(steps: QNSteps, side: np.ndarray | None, log_r: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Quasi-Newton steps in log c of the points in ``mask``: each point's log residuals times its inverse
    Jacobian (:meth:`QNSteps.which`: its own, or that of its pattern of measured groups on its side of the kink)."""
    return np.einsum("pij,pj->pi", steps.inverses[steps.which(side)[mask]], log_r[mask])
