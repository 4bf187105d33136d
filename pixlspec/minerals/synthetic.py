"""Synthetic scans with known phases: a basalt with a Ca-sulfate vein, halite grains and a carbonate patch.

The scene is defined at the composition level: every point is a mass-weighted
mixture of end-members computed from formulas (:mod:`.endmembers`), the basalt
matrix varies from point to point (a Dirichlet draw of its mineral mode), and
points near a vein or grain edge see both (the X-ray spot is sampled as a
Gaussian of 120 µm FWHM). :meth:`SaltScene.measure` adds measurement noise
and returns a :class:`~pixlspec.minerals.table.CompositionTable`;
:meth:`SaltScene.element_wt` gives the full element wt% (O, H, C included) per
point for a forward model, so the same scene can later be run through
spectra → fit → quantify.

Area fractions in the spot are used as mass fractions (density differences
ignored): fine for testing the classifier, not a physical model of the beam.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .endmembers import EndMember, endmember_from_formula, get_endmember, olivine, plagioclase, pyroxene
from .spatial import SPOT_DIAMETER_MM
from .table import CompositionTable

__all__ = ["SaltScene", "make_salt_scene", "BASALT_MODE", "MATRIX_TRACE_WT"]

#: Basalt matrix mode (mass fractions) used by :func:`make_salt_scene`: an illustrative Máaz-like
#: basalt, not a measured mode.
BASALT_MODE: dict[str, float] = {"plagioclase An50": 0.40, "augite Wo35En45Fs20": 0.24,
                                 "pigeonite Wo10En50Fs40": 0.14, "olivine Fo55": 0.08, "ilmenite": 0.03,
                                 "magnetite": 0.05, "K-feldspar": 0.04, "fluorapatite": 0.02}
#: Oxides in the matrix that no end-member carries (wt%): S and Cl of the surface, Mn, Cr, Ni traces.
MATRIX_TRACE_WT: dict[str, float] = {"SO3": 0.7, "Cl": 0.45, "MnO": 0.35, "Cr2O3": 0.08, "NiO": 0.04}
#: Dirichlet concentration of the matrix mode per point (higher = more homogeneous at the spot scale).
MATRIX_CONCENTRATION = 40.0


def _matrix_phases() -> dict[str, EndMember]:
    out = {}
    for name in BASALT_MODE:
        if name == "plagioclase An50":
            em = plagioclase(0.5)
        elif name == "augite Wo35En45Fs20":
            em = pyroxene(0.35, 0.45, 0.20)
        elif name == "pigeonite Wo10En50Fs40":
            em = pyroxene(0.10, 0.50, 0.40)
        elif name == "olivine Fo55":
            em = olivine(0.55)
        else:
            em = get_endmember(name)
        out[name] = em
    return out


@dataclass(eq=False)
class SaltScene:
    """A synthetic scan with known phases.

    Attributes
    ----------
    positions_mm : numpy.ndarray (n_points, 3)
    phases : list of EndMember
        Columns of ``fractions`` (matrix minerals first, then salts).
    phase_family : list of str
        "matrix" for matrix minerals, else the salt family ("Ca-sulfate", ...).
    fractions : numpy.ndarray (n_points, n_phases)
        Mass fractions; rows sum to 1 − Σ trace/100 on matrix and 1 elsewhere.
    trace_wt : dict[str, numpy.ndarray]
        Trace oxides (wt%) carried by the matrix part of each point.
    name : str
    """

    positions_mm: np.ndarray
    phases: list
    phase_family: list
    fractions: np.ndarray
    trace_wt: dict
    name: str = "synthetic basalt with salts"
    features: dict = field(default_factory=dict)

    @property
    def n_points(self) -> int:
        return int(self.positions_mm.shape[0])

    def family_fraction(self, family: str) -> np.ndarray:
        """True mass fraction of a family ("Ca-sulfate", "chloride", "carbonate", "matrix") per point."""
        cols = [j for j, f in enumerate(self.phase_family) if f == family]
        out = self.fractions[:, cols].sum(axis=1) if cols else np.zeros(self.n_points)
        if family == "matrix":
            out = out + sum(self.trace_wt.values()) / 100.0
        return out

    def truth(self, family: str, min_fraction: float = 0.5) -> np.ndarray:
        """Points where ``family`` makes at least ``min_fraction`` of the analysed mass."""
        return self.family_fraction(family) >= min_fraction

    def matrix_only(self) -> np.ndarray:
        """Points with no salt at all."""
        salt = [f for f in set(self.phase_family) if f != "matrix"]
        return np.all([self.family_fraction(f) == 0 for f in salt], axis=0)

    def true_oxide_wt(self) -> dict[str, np.ndarray]:
        """Noise-free oxide wt% per point as PIXL reports them (visible oxides only)."""
        out: dict[str, np.ndarray] = {}
        for j, em in enumerate(self.phases):
            for ox, v in em.oxide_wt.items():
                out[ox] = out.get(ox, 0.0) + self.fractions[:, j] * v
        for ox, v in self.trace_wt.items():
            out[ox] = out.get(ox, 0.0) + v
        return {k: np.asarray(v, float) for k, v in out.items()}

    def element_wt(self) -> dict[str, np.ndarray]:
        """Full element wt% per point (O, H, C, F included) for forward models; traces as oxides."""
        from .table import oxide_mass
        from .endmembers import atom_mass, formula_atoms

        out: dict[str, np.ndarray] = {}
        for j, em in enumerate(self.phases):
            for el, v in em.element_wt.items():
                out[el] = out.get(el, 0.0) + self.fractions[:, j] * v
        for ox, v in self.trace_wt.items():
            el, k, m = oxide_mass(ox)
            m_el = k * atom_mass(el)
            out[el] = out.get(el, 0.0) + v * m_el / m
            o = dict(formula_atoms(ox)).get("O", 0.0)
            if o:
                out["O"] = out.get("O", 0.0) + v * o * atom_mass("O") / m
        return {k: np.asarray(v, float) for k, v in out.items()}

    def measure(self, rng: np.random.Generator | int | None = 0, *, rel_sigma: float = 0.03,
                abs_sigma_wt: float = 0.2, roughness: float = 0.02, nan_points: int = 0) -> CompositionTable:
        """Noisy composition map of the scene.

        Parameters
        ----------
        rng : numpy Generator or seed
        rel_sigma : float
            Relative 1σ on every oxide (3 %).
        abs_sigma_wt : float
            Absolute 1σ floor (0.2 wt%): dominates on minors.
        roughness : float
            Relative 1σ of a per-point factor on all oxides (2 %): totals scatter as on a rough surface.
        nan_points : int
            Number of random points set to NaN (bad-input tests).
        """
        rng = np.random.default_rng(rng)
        true = self.true_oxide_wt()
        n = self.n_points
        g = 1.0 + roughness * rng.standard_normal(n)
        wt, sig = {}, {}
        for ox, v in true.items():
            s = np.hypot(rel_sigma * v, abs_sigma_wt)
            wt[ox] = np.clip(g * v + s * rng.standard_normal(n), 0.0, None)
            sig[ox] = s
        total = np.sum(list(wt.values()), axis=0)
        if nan_points:
            bad = rng.choice(n, size=nan_points, replace=False)
            for ox in wt:
                wt[ox][bad] = np.nan
            total[bad] = np.nan
        return CompositionTable._build(wt, sig, total, self.positions_mm, None, np.arange(n), self.name)


def _spot_offsets(n_side: int = 9) -> tuple[np.ndarray, np.ndarray]:
    """Sub-sample offsets (mm) and Gaussian weights of a 120 µm FWHM spot."""
    sigma = SPOT_DIAMETER_MM / 2.3548
    u = np.linspace(-2.5 * sigma, 2.5 * sigma, n_side)
    dx, dy = np.meshgrid(u, u)
    r2 = dx ** 2 + dy ** 2
    keep = r2 <= (2.5 * sigma) ** 2
    w = np.exp(-0.5 * r2[keep] / sigma ** 2)
    return np.column_stack([dx[keep], dy[keep]]), w / w.sum()


def make_salt_scene(kind: str = "raster", shape: tuple[int, int] = (20, 20), spacing_mm: float = 0.15,
                    seed: int = 0, carbonate_formula: str = "Mg0.55Fe0.4Ca0.05CO3",
                    include: tuple[str, ...] = ("vein", "halite", "carbonate"), name: str | None = None) -> SaltScene:
    """A basalt with a Ca-sulfate vein, halite grains and an Fe-Mg carbonate patch.

    Parameters
    ----------
    kind : {"raster", "line"}
        A ``shape`` raster, or a line of ``2 * shape[1]`` points along x at
        y = 1.2 mm (for the default 3 mm field it crosses the vein, a halite
        grain and the carbonate patch).
    shape : (ny, nx)
        Raster size.
    spacing_mm : float
        Point spacing (PIXL rasters: ~0.1–0.2 mm).
    seed : int
        Seed of the matrix heterogeneity.
    carbonate_formula : str
        Composition of the carbonate patch (default Séítah-like Fe-Mg carbonate,
        not in the unmixing basis on purpose).
    include : tuple of str
        Features to put in: "vein" (Ca-sulfate), "halite" (grains), "carbonate" (patch);
        ``()`` gives plain basalt.
    name : str, optional

    Returns
    -------
    SaltScene
    """
    unknown = set(include) - {"vein", "halite", "carbonate"}
    if unknown:
        raise ValueError(f"unknown features {sorted(unknown)}; use 'vein', 'halite', 'carbonate'")
    rng = np.random.default_rng(seed)
    ny, nx = shape
    if kind == "raster":
        yy, xx = np.mgrid[0:ny, 0:nx]
        xy = np.column_stack([xx.ravel(), yy.ravel()]) * spacing_mm
    elif kind == "line":
        m = 2 * nx
        step = spacing_mm * nx / m
        xy = np.column_stack([np.arange(m) * step, np.full(m, 1.2)])
    else:
        raise ValueError(f"kind must be 'raster' or 'line', got {kind!r}")
    width, height = nx * spacing_mm, ny * spacing_mm
    # features in mm, relative to a 3 mm x 3 mm field scaled to the scan
    sx, sy = width / 3.0, height / 3.0
    vein = {"point": (1.1 * sx, 0.0), "direction": (0.35, 1.0), "half_width_mm": 0.2}
    grains = [((0.5 * sx, 1.2 * sy), 0.17), ((2.5 * sx, 2.6 * sy), 0.19), ((0.6 * sx, 2.5 * sy), 0.15),
              ((2.6 * sx, 0.35 * sy), 0.16), ((1.35 * sx, 2.75 * sy), 0.14)]
    patch = {"centre": (2.2 * sx, 1.1 * sy), "radii_mm": (0.55, 0.4)}
    d = np.asarray(vein["direction"], float)
    d /= np.linalg.norm(d)
    normal = np.array([-d[1], d[0]])

    def feature(p: np.ndarray) -> np.ndarray:
        """0 matrix, 1 vein, 2 halite, 3 carbonate at sub-sample points p (m, 2)."""
        lab = np.zeros(len(p), int)
        if "carbonate" in include:
            cx, cy = patch["centre"]
            ax_, ay_ = patch["radii_mm"]
            lab[((p[:, 0] - cx) / ax_) ** 2 + ((p[:, 1] - cy) / ay_) ** 2 <= 1] = 3
        if "halite" in include:
            for (gx, gy), r in grains:
                lab[(p[:, 0] - gx) ** 2 + (p[:, 1] - gy) ** 2 <= r ** 2] = 2
        if "vein" in include:
            dist = np.abs((p - np.asarray(vein["point"])) @ normal)
            lab[dist <= vein["half_width_mm"]] = 1
        return lab

    offsets, weights = _spot_offsets()
    n = xy.shape[0]
    share = np.zeros((n, 4))
    for i in range(n):
        lab = feature(xy[i] + offsets)
        share[i] = np.bincount(lab, weights=weights, minlength=4)
    share[share < 1e-3] = 0.0
    share /= share.sum(axis=1, keepdims=True)

    matrix = _matrix_phases()
    names = list(matrix)
    mode = np.array([BASALT_MODE[k] for k in names])
    mix = rng.dirichlet(mode * MATRIX_CONCENTRATION, size=n)
    trace_frac = sum(MATRIX_TRACE_WT.values()) / 100.0
    carbonate = endmember_from_formula("Fe-Mg carbonate (scene)", carbonate_formula, "carbonate")
    salts = [get_endmember("gypsum"), get_endmember("bassanite"), get_endmember("halite"), carbonate]
    phases = [matrix[k] for k in names] + salts
    family = ["matrix"] * len(names) + ["Ca-sulfate", "Ca-sulfate", "chloride", "carbonate"]
    gyp_share = 0.7  # of the vein: gypsum, rest bassanite
    frac = np.zeros((n, len(phases)))
    frac[:, :len(names)] = mix * (share[:, [0]] * (1 - trace_frac))
    frac[:, len(names)] = share[:, 1] * gyp_share
    frac[:, len(names) + 1] = share[:, 1] * (1 - gyp_share)
    frac[:, len(names) + 2] = share[:, 2]
    frac[:, len(names) + 3] = share[:, 3]
    trace = {ox: v * share[:, 0] for ox, v in MATRIX_TRACE_WT.items()}
    pos = np.column_stack([xy, np.zeros(n)])
    label = name or ("synthetic basalt with " + ", ".join(include) if include else "synthetic basalt")
    return SaltScene(pos, phases, family, frac, trace, name=label,
                     features={"vein": vein, "halite_grains": grains, "carbonate_patch": patch, "kind": kind})
