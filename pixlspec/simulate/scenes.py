"""Make a simulated PIXL scan with known composition at every point.

A basalt matrix crossed by a Ca-sulfate (gypsum) vein, with a few halite
grains and a Mg–Fe carbonate patch, on a raster of ``ny x nx`` points
0.125 mm apart, both detectors. Each point's spectrum comes from the
fundamental-parameter model (:func:`pixlspec.simulate_scan` with
``compositions=``): fluorescence, Rayleigh/Compton scatter, continuum,
escape, pile-up and Poisson noise. Phase boundaries are mixed over about one
beam width (the 120 µm spot).

The truth travels with the scan (``point_metadata``: ``truth_wt_<oxide>``
per point, ``phase`` codes; ``metadata["phases"]`` names the codes) and is
also written beside it as ``<name>_truth.csv`` (point, x, y, phase, oxide wt%
including the invisible CO2 and H2O).

From the command line: ``pixlspec simulate OUT.h5 --scene salts --shape 32x32``.

The absolute intensities are those of the default flight-model instrument
(configuration Rev2 with PIQUANT's optic 8 response, ``pixlspec/data``): a basalt
gives ~7.5e3 counts/s, so the default live time per point (17.5 s, a little
more than a flight dwell of ~14 s) gives flight-like ~1.3e5 counts per spectrum.
"""
from __future__ import annotations

import csv
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..instrument import Instrument
    from ..spectrum import Scan

__all__ = ["PHASES", "make_composition_grid", "make_scan", "write_truth_csv"]

#: Phase compositions (wt%; oxides, volatiles as CO2/H2O). Basalt after the BHVO-2 certificate
#: (USGS), gypsum, halite and a magnesite–siderite carbonate from their formulas.
PHASES: dict[str, dict[str, float]] = {
    "basalt": {"SiO2": 49.9, "TiO2": 2.73, "Al2O3": 13.5, "FeO": 11.07, "MnO": 0.17, "MgO": 7.23, "CaO": 11.4,
               "Na2O": 2.22, "K2O": 0.52, "P2O5": 0.27, "Cr2O3": 0.04, "NiO": 0.015, "SrO": 0.046,
               "ZrO2": 0.023},
    "Ca-sulfate": {"CaSO4·2H2O": 100.0},
    "halite": {"NaCl": 100.0},
    "carbonate": {"Mg0.75Fe0.25CO3": 100.0},
}
PHASE_CODES = {name: i for i, name in enumerate(PHASES)}


def _smoothstep(d: np.ndarray, width: float) -> np.ndarray:
    """1 inside (d < 0), 0 outside, linear over ``width`` points around the boundary."""
    return np.clip(0.5 - d / width, 0.0, 1.0)


def make_composition_grid(ny: int = 32, nx: int = 32, seed: int = 125
                          ) -> tuple[dict[str, np.ndarray], list[dict[str, float]], np.ndarray]:
    """Phase fractions per point and the per-point compositions.

    Returns
    -------
    (fractions, compositions, labels)
        ``fractions``: phase → (n_points,) mass fraction; ``compositions``: list of
        wt% dicts; ``labels``: dominant phase name per point.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
    yy, xx = yy.ravel(), xx.ravel()
    n = yy.size
    # vein: a band along a line across the map, ~3 points wide
    a, b = 0.35, ny * 0.25
    dist = np.abs(yy - (a * xx + b)) / np.hypot(1.0, a)
    vein = _smoothstep(dist - 1.5, 1.0)
    # halite grains: 4 discs of radius ~1.3 points
    grains = np.zeros(n)
    for _ in range(4):
        cy, cx = rng.uniform(0.1 * ny, 0.9 * ny), rng.uniform(0.1 * nx, 0.9 * nx)
        grains = np.maximum(grains, _smoothstep(np.hypot(yy - cy, xx - cx) - 1.3, 1.0))
    # carbonate patch: an ellipse in the lower right
    cy, cx = 0.72 * ny, 0.7 * nx
    patch = _smoothstep(np.hypot((yy - cy) / (0.16 * ny), (xx - cx) / (0.2 * nx)) * 4.0 - 4.0, 1.0)
    f_vein = vein
    f_grain = grains * (1.0 - f_vein)
    f_carb = patch * (1.0 - f_vein - f_grain)
    f_bas = np.clip(1.0 - f_vein - f_grain - f_carb, 0.0, 1.0)
    fractions = {"basalt": f_bas, "Ca-sulfate": f_vein, "halite": f_grain, "carbonate": f_carb}
    # a little natural variability of the basalt (±3 % relative on each oxide, then renormalised)
    comps = []
    for i in range(n):
        c: dict[str, float] = {}
        for ph, f in fractions.items():
            if f[i] <= 0:
                continue
            base = PHASES[ph]
            if ph == "basalt":
                jit = rng.normal(1.0, 0.03, len(base))
                vals = {k: v * j for (k, v), j in zip(base.items(), jit)}
                s = sum(vals.values())
                base = {k: v * sum(PHASES[ph].values()) / s for k, v in vals.items()}
            for k, v in base.items():
                c[k] = c.get(k, 0.0) + f[i] * v
        comps.append(c)
    labels = np.array(list(fractions))[np.argmax(np.column_stack(list(fractions.values())), axis=1)]
    return fractions, comps, labels


def _truth_oxides(comps, fe_oxide: str = "FeO") -> dict[str, np.ndarray]:
    from ..physics.attenuation import parse_composition
    from ..composition import reference_oxides

    rows = []
    for c in comps:
        ox = reference_oxides(c, fe_oxide)
        fr = parse_composition(c)
        # invisible volatiles carried by the phases
        ox["CO2"] = sum(v * _volatile_share(k, "CO2") for k, v in c.items())
        ox["H2O"] = sum(v * _volatile_share(k, "H2O") for k, v in c.items())
        del fr
        rows.append(ox)
    keys = sorted({k for r in rows for k in r})
    return {k: np.array([r.get(k, 0.0) for r in rows]) for k in keys}


def _volatile_share(formula: str, volatile: str) -> float:
    """Mass fraction of CO2 (from C) or H2O (from H) in a formula (0 for oxides)."""
    from ..physics.attenuation import parse_composition
    from ..physics.elements import atomic_mass

    fr = parse_composition(formula)
    if volatile == "CO2" and "C" in fr:
        return fr["C"] * (atomic_mass("C") + 2 * atomic_mass("O")) / atomic_mass("C")
    if volatile == "H2O" and "H" in fr:
        return fr["H"] * (2 * atomic_mass("H") + atomic_mass("O")) / (2 * atomic_mass("H"))
    return 0.0


def make_scan(ny: int = 32, nx: int = 32, seed: int = 125, live_time_s: float = 17.5,
              instrument: Instrument | None = None) -> tuple[Scan, dict[str, Any]]:
    """The simulated scan (in memory) and its truth table.

    Returns
    -------
    (Scan, truth)
        ``truth``: column → per-point array (``phase`` names, ``f_<phase>``
        fractions, oxide wt% including CO2 and H2O).
    """
    from ..instrument import Instrument
    from .scans import simulate_scan

    instrument = instrument or Instrument.pixl()
    fractions, comps, labels = make_composition_grid(ny, nx, seed)
    scan = simulate_scan(compositions=comps, instrument=instrument, live_time_s=live_time_s, shape=(ny, nx),
                         step_mm=0.125, seed=seed)
    truth_ox = _truth_oxides(comps)
    for k, v in truth_ox.items():
        scan.point_metadata[f"truth_wt_{k}"] = v
    for ph, f in fractions.items():
        scan.point_metadata[f"truth_fraction_{ph}"] = f
    scan.point_metadata["phase"] = np.array([PHASE_CODES[p] for p in labels], dtype=np.int16)
    scan.metadata["phases"] = {str(v): k for k, v in PHASE_CODES.items()}
    scan.metadata["description"] = ("simulated PIXL scan: basalt with a Ca-sulfate vein, halite grains and a "
                                    "Mg-Fe carbonate patch (pixlspec.simulate.scenes)")
    truth = {"phase": labels, **{f"f_{k}": v for k, v in fractions.items()}, **truth_ox}
    return scan, truth


def write_truth_csv(path: str, scan: Scan, truth: Mapping[str, Any]) -> None:
    """Per-point truth table as CSV (point, x_mm, y_mm, phase, fractions, oxide wt%)."""
    from ..io.atomic import atomic_path

    pos = scan.positions_mm
    keys = [k for k in truth if k != "phase"]
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["point", "x_mm", "y_mm", "phase"] + keys)
            for i in range(len(truth["phase"])):
                w.writerow([i, f"{pos[i, 0]:.4f}", f"{pos[i, 1]:.4f}", truth["phase"][i]]
                           + [f"{float(truth[k][i]):.5g}" for k in keys])
