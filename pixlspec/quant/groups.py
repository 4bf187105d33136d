"""Which fitted line groups are quantified as the sample's (:func:`analysis_groups`), and the air in a He beam
path from the Ar line of that air (:func:`solve_air_fraction`). Used by :mod:`pixlspec.quant.quantify` and
:mod:`pixlspec.quant.calibration` with a :class:`~pixlspec.quant.solver.Solver`."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..model.spectrum_model import kbeta_group
from .fp import resolve_group

if TYPE_CHECKING:
    from .solver import Solver

__all__ = ["GAS_GROUPS", "analysis_groups", "solve_air_fraction"]

#: Groups that come from the gas path, not the sample: never quantified as sample elements.
GAS_GROUPS: tuple[str, ...] = ("Ar",)


def analysis_groups(elements: Sequence[str], tube_kV: float, exclude: Sequence[str]) -> tuple[list, dict]:
    """Sample line groups among the fitted ones (one per element), and the skipped ones with reasons."""
    groups, skipped, seen = [], {}, {}
    excluded = set(exclude)
    for name in elements:
        if kbeta_group(name) is not None:
            continue
        if name in excluded or name.split("_")[0] in excluded:
            skipped[name] = "gas in the beam path, not the sample" if name.split("_")[0] in GAS_GROUPS else "excluded"
            continue
        try:
            g, el, shell = resolve_group(name, tube_kV)
        except ConfigError as exc:
            skipped[name] = exc.message
            continue
        if el in seen:
            # one group per element: keep K over L
            if shell == "K" and seen[el][1] != "K":
                skipped[seen[el][0]] = f"{el} is quantified from its K lines"
                groups.remove(seen[el][0])
            else:
                skipped[g] = f"{el} is quantified from its {seen[el][1]} lines"
                continue
        seen[el] = (g, shell)
        groups.append(g)
    return groups, skipped


def solve_air_fraction(solver: Solver, A_gas: float | None, live: float, air_fraction: float | None) -> float:
    """Air mole fraction of a He path from the Ar area ``A_gas`` in ``live`` seconds (or ``air_fraction``
    when given); 0 where the path holds no correctable gas."""
    if air_fraction is not None:
        return float(air_fraction)
    if not solver.gas_correctable or A_gas is None or not A_gas > 0:
        return 0.0
    k_gas = solver.gas_scale
    x = 0.01
    for _ in range(30):
        pred = float(live) * (k_gas * solver.gas_rate(x) + x * solver.gas_sample_cps_per_x)
        if not pred > 0:
            return 0.0
        x_new = min(x * A_gas / pred, 1.0)
        if abs(x_new - x) < 1e-9:
            x = x_new
            break
        x = x_new
    return x
