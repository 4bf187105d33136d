"""Fundamental-parameter (FP) forward model: composition -> net line intensities.

For a thick, flat, homogeneous sample and an :class:`~pixlspec.instrument.Instrument`,
:class:`FPModel` predicts the net area (counts) of every element line group as
the fit reports it (:mod:`pixlspec.model.spectrum_model`: every recorded
photon of the group, full-energy peak + tail + escape):

    area_g = live_time x sum_{lines l of g} det_l x (P_l + S_l)

* **Excitation** S(E) (photons/s on the sample): the Ebel tube spectrum
  (continuum and Rh K/L lines, anode self-absorption or the transmission
  anode of a negative take-off angle, tube Be window; physics.md §8,
  :func:`pixlspec.physics.tube.tube_spectrum`) x source solid angle
  (``##INCSR``) x geometry factor x optic transmission table x gas path to
  the sample (``path_in_cm``).
* **Primary fluorescence** P_l (Sherman 1955; physics.md §9): photo-absorption
  tau_i(E) of the analyte, shared among its subshells by jump-ratio peeling
  with Coster–Kronig transfers for L lines (:func:`subshell_vacancy_shares`),
  fluorescence yield, line fraction (xraydb/Elam), and absorption of the
  incident and emergent beams by the whole sample (total mu/rho).
* **Secondary fluorescence** S_l (Shiraiwa & Fujino 1966; de Boer 1990):
  every line of every element of the sample whose energy lies above an
  analyte edge enhances it (K and L lines of enhancers; tertiary neglected).
* **Detection** det_l: detector solid angle / 4 pi x Be window x dead layer x
  Si absorption x gas path to the detector (the efficiency the fit uses).
* **Air in a He path** (mole fraction x, measured by the Ar K line): extra
  attenuation of both legs, and the Ar K line of that air, excited along the
  incident gas column and seen with the detector's solid angle from each point
  of it (:func:`gas_column_view_length_cm`), plus Ar excited by the sample's own
  emission (:func:`sample_gas_kernel_cm`). Geometry from the instrument only
  (path lengths and angles), nothing fitted.

All tables are built once per (instrument, detector, groups, elements) and
evaluated by the numba kernels of :mod:`pixlspec.quant.kernels`, vectorised
over many compositions (map points) at once.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import CompositionError, ConfigError
from ..instrument import Instrument
from ..model.spectrum_model import MIN_LINE_FRACTION
from ..physics import detector as det_physics
from ..physics.attenuation import mass_attenuation, parse_composition
from ..physics.edges import edge, edge_energies_eV
from ..physics.elements import atomic_number, check_element
from . import kernels
from .fp_lines import (ENHANCER_MIN_LINE_FRACTION, FP_ATOMIC_DATA, MIN_LINE_Z, FPLine, enhancer_lines, group_lines,
                       resolve_group, subshell_vacancy_shares)
from .excitation import (AIR_COMPOSITION_WT, EXCITATION_BIN_RELATIVE_WIDTH, EXCITATION_FINE_STEP_EV,
                         EXCITATION_MIN_EV, EXCITATION_STEP_EV, FLUORESCENCE_GEOMETRY_NORM, FOUR_PI,
                         GAS_COLUMN_NODES, MARS_ATMOSPHERE_DENSITY_G_CM3, MARS_ATMOSPHERE_WT, SAMPLE_GAS_KERNEL_NODES,
                         SOURCE_SOLID_ANGLE_FRACTION_PER_SR, Excitation, air_attenuation_per_cm, detector_view_ratio,
                         edge_aligned_bins, excitation_spectrum, gas_column_view_length_cm, incident_beam_factor,
                         path_transmission, recorded_fraction, sample_gas_kernel_cm, view_vectors)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["FPModel", "Excitation", "excitation_spectrum", "fp_intensities", "fp_model", "subshell_vacancy_shares",
           "resolve_group", "recorded_fraction", "EXCITATION_STEP_EV", "EXCITATION_MIN_EV", "MIN_FIT_LINE_FRACTION",
           "ENHANCER_MIN_LINE_FRACTION", "MIN_LINE_Z", "AIR_COMPOSITION_WT", "GAS_LINE_ELEMENT",
           "GAS_COLUMN_NODES", "SAMPLE_GAS_KERNEL_NODES", "path_transmission", "incident_beam_factor",
           "SOURCE_SOLID_ANGLE_FRACTION_PER_SR", "FLUORESCENCE_GEOMETRY_NORM", "MARS_ATMOSPHERE_WT",
           "MARS_ATMOSPHERE_DENSITY_G_CM3", "air_attenuation_per_cm", "detector_view_ratio",
           "gas_column_view_length_cm", "sample_gas_kernel_cm"]

#: Largest relative width dE/E of the coarser excitation bins of the secondary fluorescence (a
#: ~1-15 % correction, so 0.5 % of it is negligible; checked against the fine bins in the tests). The
#: primary on these bins (:meth:`FPModel.coarse_rates`) is within ~0.05 % of the fine one, and their ratio
#: changes by < 5e-4 from a basalt to a sulfate or a carbonate: the inversion iterates on it, corrected by
#: its ratio to the full model (:class:`pixlspec.quant.solver.Solver`).
SECONDARY_BIN_RELATIVE_WIDTH: float = 0.08
#: Lines weaker than this fraction of their group are left out, as in the fit's model, so areas
#: mean the same thing (the same constant).
MIN_FIT_LINE_FRACTION: float = MIN_LINE_FRACTION
#: The path-gas line that measures air in a He path: Ar K, from the 1.28 wt% Ar of air.
GAS_LINE_ELEMENT: str = "Ar"


# --------------------------------------------------------------------------- the model
class FPModel:
    """Fundamental-parameter model of net line-group intensities for one instrument detector.

    Parameters
    ----------
    instrument : Instrument
    groups : sequence of str
        Line groups to predict: element symbols (default shell at the tube
        voltage, as the fit chooses it) or group names ("Fe", "Ba_L").
    detector : str, optional
        Detector name (default the instrument's first).
    elements : iterable of str, optional
        Further elements that may be in the sample (absorb and, with lines,
        enhance): e.g. "O", "C", "H". The group elements and O are always in.
    secondary : bool
        Include secondary (inter-element) fluorescence.
    step_eV : float, optional
        Uniform excitation bins of this width (eV). By default the bins are at most
        :data:`~pixlspec.quant.excitation.EXCITATION_BIN_RELATIVE_WIDTH` wide and end at
        every absorption edge of the sample's elements (:func:`edge_aligned_bins`).
    excitation : Excitation, optional
        Use this excitation instead of the instrument's tube, optic and path
        (e.g. :meth:`Excitation.monochromatic`).

    Attributes
    ----------
    elements : tuple of str
        Order of the mass-fraction vectors this model takes.
    groups : tuple of str
        Order of the intensity columns it returns.
    group_elements : tuple of str
        Element of each group.

    Raises
    ------
    ConfigError
        A group has no lines excited at the tube voltage, or is an M group.
    UnknownElementError
        Unknown element or group.
    """

    def __init__(self, instrument: Instrument, groups: Sequence[str], *, detector: str | None = None,
                 elements: Iterable[str] = (), secondary: bool = True, step_eV: float | None = None,
                 excitation: Excitation | None = None):
        if not isinstance(instrument, Instrument):
            raise ConfigError(f"instrument must be an Instrument, got {type(instrument).__name__}", where="fp")
        self.instrument = instrument
        self.detector = instrument.detector(detector).name
        self.secondary = bool(secondary)
        kv = instrument.tube.voltage_kV
        resolved = []
        seen = set()
        for g in groups:
            name, el, shell = resolve_group(g, kv)
            if name in seen:
                raise ConfigError(f"line group {name} requested twice", where="fp")
            seen.add(name)
            resolved.append((name, el, shell))
        self.groups = tuple(r[0] for r in resolved)
        self.group_elements = tuple(r[1] for r in resolved)
        self.group_shells = tuple(r[2] for r in resolved)
        els = []
        for el in list(self.group_elements) + ["O"] + [check_element(x) for x in elements]:
            if el not in els:
                els.append(el)
        self.elements = tuple(els)
        self._index = {el: i for i, el in enumerate(self.elements)}
        # bins end at the absorption edges of the sample's elements and of the path gas (air in He)
        gas_elements = tuple(AIR_COMPOSITION_WT) if instrument.atmosphere == "He" else ()
        boundaries = [e for el in self.elements + gas_elements for e in edge_energies_eV(el)]
        uniform = excitation if excitation is not None else \
            excitation_spectrum(instrument, step_eV=EXCITATION_FINE_STEP_EV if step_eV is None else step_eV)
        exc = edge_aligned_bins(uniform, boundaries, EXCITATION_BIN_RELATIVE_WIDTH) \
            if excitation is None and step_eV is None else uniform
        # the secondary integral on coarser bins of the same kind (one energy: the same)
        exc2 = edge_aligned_bins(uniform, boundaries, SECONDARY_BIN_RELATIVE_WIDTH) \
            if uniform.n_continuum > 0 and uniform.step_eV > 0 else exc
        self.excitation = exc
        E = exc.energy_eV
        self._sin1 = math.sin(math.radians(instrument.incidence_deg))
        self._sin2 = math.sin(math.radians(instrument.detector(self.detector).elevation_deg))
        self._src = np.ascontiguousarray(exc.photons_per_s / self._sin1)
        self._mu_exc = np.ascontiguousarray(np.array([mass_attenuation(el, E) for el in self.elements]))

        # analyte lines
        lines: list[FPLine] = []
        line_group_idx = []
        for gi, (name, el, shell) in enumerate(resolved):
            for ln in group_lines(el, shell, kv, MIN_FIT_LINE_FRACTION):
                lines.append(ln)
                line_group_idx.append(gi)
        self._lines = lines
        self._line_el = np.array([self._index[ln.element] for ln in lines], dtype=np.int64)
        self._line_group = np.array(line_group_idx, dtype=np.int64)
        le = np.array([ln.energy_eV for ln in lines], dtype=np.float64)
        self._line_energy = le
        self._mu_line = np.ascontiguousarray(np.array([mass_attenuation(el, le) for el in self.elements])
                                             .reshape(len(self.elements), le.size))
        self._det = np.asarray(recorded_fraction(instrument, self.detector, le), dtype=np.float64).reshape(-1)
        self._q, self._q_start = self._production(lines, E)
        self._init_gas(E, le)

        # enhancers (every line of every element that may be in the sample) and the pairs they excite
        enh: list[FPLine] = []
        if self.secondary:
            for el in self.elements:
                if atomic_number(el) >= MIN_LINE_Z:
                    enh.extend(enhancer_lines(el, kv))
        pairs_l, pairs_m, pairs_qa = [], [], []
        if enh:
            ee = np.array([m.energy_eV for m in enh])
            for li, ln in enumerate(lines):
                if ln.fraction < ENHANCER_MIN_LINE_FRACTION:
                    continue  # its secondary is < 1 % of a < 15 % correction
                tau = np.asarray(mass_attenuation(ln.element, ee, kind="photo"), dtype=np.float64).reshape(-1)
                share = subshell_vacancy_shares(ln.element, ln.subshell, ee)
                omega = edge(ln.element, ln.subshell, source=FP_ATOMIC_DATA).fluorescence_yield
                qa = tau * share * omega * ln.fraction
                for mi, m in enumerate(enh):
                    if m.element != ln.element and qa[mi] > 0:
                        pairs_l.append(li), pairs_m.append(mi), pairs_qa.append(qa[mi])
            # only the enhancer lines that excite some analyte line (an Al L line at 68 eV excites none of them)
            used = sorted(set(pairs_m))
            renumber = {old: new for new, old in enumerate(used)}
            enh = [enh[i] for i in used]
            ee = ee[used]
            pairs_m = [renumber[i] for i in pairs_m]
        self._enh = enh
        if enh:
            self._enh_el = np.array([self._index[m.element] for m in enh], dtype=np.int64)
            self._mu_enh = np.ascontiguousarray(np.array([mass_attenuation(el, ee) for el in self.elements])
                                                .reshape(len(self.elements), ee.size))
        else:
            self._enh_el = np.zeros(0, dtype=np.int64)
            self._mu_enh = np.zeros((len(self.elements), 0))
        self._n_pairs = len(pairs_l)
        self._line_order, self._enh_lines, self._pair_qa = kernels.secondary_layout(
            np.array(pairs_l, dtype=np.int64), np.array(pairs_m, dtype=np.int64), np.array(pairs_qa, dtype=np.float64),
            len(lines), len(enh))
        E2, src2 = exc2.energy_eV, exc2.photons_per_s
        self._src2 = np.ascontiguousarray(src2 / self._sin1)
        self._mu_exc2 = np.ascontiguousarray(np.array([mass_attenuation(el, E2) for el in self.elements])
                                             .reshape(len(self.elements), E2.size))
        if enh:
            self._q_enh, self._q_enh_start = self._production(enh, E2)
        else:
            self._q_enh, self._q_enh_start = np.zeros((0, E2.size)), np.zeros(0, dtype=np.int64)
        # the analyte lines' production on the coarse bins (the quick primary of the inversion)
        self._q2, self._q2_start = self._production(lines, E2)
        self._gas_in2 = (air_attenuation_per_cm(instrument, E2).reshape(-1) * instrument.path_in_cm
                         if self.gas_correctable else np.zeros(E2.size))

    def _init_gas(self, E: np.ndarray, line_E: np.ndarray) -> None:
        """Air in a He path: extra attenuation per unit air fraction, and the Ar K lines of that air.

        A He-flushed path holds some air (the Ar K line in the spectrum shows it). With a
        mole fraction x of air in the gas (same pressure and temperature), the attenuation of
        the path changes by ``x (mu_air rho_air - mu_He rho_He) L`` on each leg (``path_in_cm``
        to the sample, ``path_out_cm`` to the detector).

        Ar fluorescence of that air excited by the incident beam (thin gas, physics.md §9
        primary production per unit length ``rho_Ar tau_ArK(E) omega p``) is integrated along
        the beam from the spot (s = 0) to the end of the gas column (s = ``path_in_cm``) on
        :data:`GAS_COLUMN_NODES` Gauss–Legendre nodes. At each node: the beam has crossed
        ``path_in_cm - s`` of gas; the detector is seen with the solid angle of
        :func:`detector_view_ratio` (closer to the upper column than to the spot); the Ar line
        crosses the distance rho(s) to the detector. For x -> 0 this is the spot's recorded
        fraction x :func:`gas_column_view_length_cm` (``L d/rho(L)``, 4.30 cm for the
        breadboard instead of the 2 cm of a column seen with the spot's solid angle).
        Ar excited by the sample's own emission is :meth:`sample_gas_rate`.
        """
        inst = self.instrument
        self.gas_correctable = inst.atmosphere == "He"
        n_l = line_E.size
        self._gas_in = np.zeros(E.size)
        self._gas_out = np.zeros(n_l)
        if not self.gas_correctable:
            return
        rho_air = det_physics.gas_density_g_cm3("Air", inst.gas_pressure_Pa, inst.gas_temperature_K)
        rho_he = det_physics.gas_density_g_cm3("He", inst.gas_pressure_Pa, inst.gas_temperature_K)

        def he(energy):
            return np.asarray(mass_attenuation("He", energy)).reshape(-1) * rho_he

        air_E = air_attenuation_per_cm(inst, E).reshape(-1)  # per unit air fraction, 1/cm
        self._gas_in = air_E * inst.path_in_cm
        self._gas_out = air_attenuation_per_cm(inst, line_E).reshape(-1) * inst.path_out_cm
        ar = group_lines(GAS_LINE_ELEMENT, "K", inst.tube.voltage_kV, MIN_FIT_LINE_FRACTION)
        self._gas_rho_ar = rho_air * AIR_COMPOSITION_WT[GAS_LINE_ELEMENT] / 100.0
        self._gas_lines = ar
        q_all, _ = self._production(ar, E)
        ar_E = np.array([ln.energy_eV for ln in ar])
        rec = np.asarray(recorded_fraction(inst, self.detector, ar_E)).reshape(-1)
        # nodes along the beam, from the spot towards the source
        x_n, w_n = np.polynomial.legendre.leggauss(GAS_COLUMN_NODES)
        length = float(inst.path_in_cm)
        s_n = 0.5 * length * (x_n + 1.0)
        w_n = 0.5 * length * w_n
        d, u, b = view_vectors(inst, self.detector)
        pts = s_n[:, None] * b[None, :]
        view = detector_view_ratio(inst, pts, self.detector)
        rho_n = np.linalg.norm(d * u[None, :] - pts, axis=1)
        # beam at node s relative to the beam at the spot: He over s less (the air part is x-dependent)
        he_gain = np.exp(he(E)[None, :] * s_n[:, None])                     # (nodes, E)
        # Ar line from node s: recorded fraction of the spot x view x He path rho(s) instead of path_out
        det_n = rec[:, None] * view[None, :] * np.exp(he(ar_E)[:, None] * (inst.path_out_cm - rho_n)[None, :])
        self._gas_col = dict(q=q_all, he_gain=he_gain, coeff_E=air_E,
                             coeff_ar=air_attenuation_per_cm(inst, ar_E).reshape(-1),
                             s=s_n, w=w_n, rho=rho_n, det=det_n, length=length, rec=rec)

    def gas_line_rate(self, air_fraction: float) -> float:
        """Counts per second of the Ar K group emitted by air (mole fraction ``air_fraction``) in a He
        path and excited by the incident beam (see :meth:`_init_gas`), in the model's units."""
        if not self.gas_correctable or air_fraction <= 0:
            return 0.0
        g = self._gas_col
        x = float(air_fraction)
        # photons at node s: the spot's excitation (He over the full path) x He gain x air over path_in - s
        src = self.excitation.photons_per_s[None, :] * g["he_gain"] * \
            np.exp(-x * g["coeff_E"][None, :] * (g["length"] - g["s"])[:, None])    # (nodes, E)
        prod = g["q"] @ src.T                                                          # (lines, nodes)
        out = np.exp(-x * g["coeff_ar"][:, None] * g["rho"][None, :])
        return float(x * self._gas_rho_ar * np.sum(prod * g["det"] * out * g["w"][None, :]))

    def sample_gas_rate(self, energy_eV: ArrayLike, counts_per_s: ArrayLike) -> float:
        """Ar K counts/s per unit air fraction excited by the sample's own emission (first order in x).

        The recorded spectrum R(E) (counts/s per channel) is turned into the photons the sample
        sends per steradian, ``R / (4 pi recorded_fraction(E))``, taken as the same in every
        direction above the surface (an upper bound); their Ar K vacancies in the air of the
        path are seen with the kernel of :func:`sample_gas_kernel_cm`:
        ``rho_Ar d J sum_l rec_l sum_E q_l(E) R(E) / (4 pi rec(E))`` with ``K = d J``. The result
        is in the units of ``counts_per_s`` (measured, not the model's), first order in the air
        fraction (the air's attenuation of this ~3 % part of the Ar line is neglected).

        Parameters
        ----------
        energy_eV, counts_per_s : array_like
            Channel energies and recorded count rates (e.g. ``spectrum.counts / live_time_s``).

        Returns
        -------
        float
            Counts/s of the Ar K group per unit air mole fraction (0 without a He path).
        """
        if not self.gas_correctable:
            return 0.0
        e = np.asarray(energy_eV, dtype=np.float64).reshape(-1)
        r = np.asarray(counts_per_s, dtype=np.float64).reshape(-1)
        ar = self._gas_lines
        edge_eV = edge(GAS_LINE_ELEMENT, "K", source=FP_ATOMIC_DATA).energy_eV
        keep = (e > edge_eV) & np.isfinite(r) & (r > 0) & (e <= self.instrument.tube.voltage_kV * 1000.0)
        if not keep.any():
            return 0.0
        e, r = e[keep], r[keep]
        rec_e = np.asarray(recorded_fraction(self.instrument, self.detector, e)).reshape(-1)
        n_sr = r / (FOUR_PI * rec_e)
        q, _ = self._production(ar, e)
        kernel = sample_gas_kernel_cm(self.instrument, self.detector)
        return float(self._gas_rho_ar * kernel * np.sum(self._gas_col["rec"] * (q @ n_sr)))

    @staticmethod
    def _production(lines: Sequence[FPLine], E: np.ndarray):
        q = np.zeros((len(lines), E.size))
        start = np.zeros(len(lines), dtype=np.int64)
        for i, ln in enumerate(lines):
            tau = np.asarray(mass_attenuation(ln.element, E, kind="photo"), dtype=np.float64)
            share = subshell_vacancy_shares(ln.element, ln.subshell, E)
            omega = edge(ln.element, ln.subshell, source=FP_ATOMIC_DATA).fluorescence_yield
            q[i] = tau * share * omega * ln.fraction
            nz = np.flatnonzero(q[i] > 0)
            start[i] = nz[0] if nz.size else E.size
        return np.ascontiguousarray(q), start

    # --- compositions ---------------------------------------------------------------
    def mass_fractions(self, composition: Mapping[str, float] | str) -> np.ndarray:
        """Mass-fraction vector (in :attr:`elements` order) of a composition.

        Parameters
        ----------
        composition : dict or str
            Oxide/compound/element wt% ({"SiO2": 49.9} or {"Si": 23.3}) or a
            formula ("CaSO4(H2O)2"); see :func:`pixlspec.physics.parse_composition`.

        Raises
        ------
        CompositionError
            Unparsable, negative or unphysical composition, or an element this
            model was not built for.
        """
        fr = parse_composition(composition)
        missing = sorted(set(fr) - set(self.elements))
        if missing:
            raise CompositionError(f"elements {missing} are not in this FP model (built for "
                                   f"{', '.join(self.elements)}); pass them as elements=", where="fp")
        v = np.zeros(len(self.elements))
        for el, f in fr.items():
            v[self._index[el]] = f
        return v

    # --- evaluation -----------------------------------------------------------------
    def rates(self, C: ArrayLike, secondary: bool | None = None, split: bool = False,
              air_fraction: float = 0.0) -> Any:
        """Counts per live second of every group for mass-fraction rows ``C``.

        Parameters
        ----------
        C : (n_elements,) or (n_points, n_elements) array
            Mass fractions in :attr:`elements` order (not normalised).
        secondary : bool, optional
            Override the model's setting (False: primary only).
        split : bool
            Return ``(primary, secondary)`` instead of their sum.
        air_fraction : float
            Mole fraction of air in a He path (see :meth:`_init_gas`); ignored otherwise.

        Returns
        -------
        ndarray (n_groups,) or (n_points, n_groups)
        """
        single = np.ndim(C) == 1
        C2 = self._rows(C)
        beam = self._beam(air_fraction)
        _, det, src2 = beam
        prim = self._primary(C2, beam, coarse=False)
        sec = np.zeros_like(prim)
        use_sec = self.secondary if secondary is None else (bool(secondary) and self.secondary)
        if use_sec and self._n_pairs:
            kernels.fp_secondary(C2, self._mu_exc2, self._mu_line, self._mu_enh, src2, self._q_enh,
                                 self._q_enh_start, self._enh_el, self._line_order, self._enh_lines, self._pair_qa,
                                 self._line_el, self._line_group, det, self._sin1, self._sin2, sec)
        if single:
            prim, sec = prim[0], sec[0]
        return (prim, sec) if split else prim + sec

    def coarse_rates(self, C: ArrayLike, air_fraction: float = 0.0) -> np.ndarray:
        """Primary counts per live second of every group on the coarse excitation bins of the secondary
        fluorescence (:data:`SECONDARY_BIN_RELATIVE_WIDTH`): within ~0.05 % of :meth:`rates` without secondary,
        at half its cost. The inversion iterates on it, corrected by its ratio to the full model.

        Parameters and returns as :meth:`rates` (primary only).
        """
        single = np.ndim(C) == 1
        C2 = self._rows(C)
        prim = self._primary(C2, self._beam(air_fraction), coarse=True)
        return prim[0] if single else prim

    def _grid(self, coarse: bool, beam: tuple[np.ndarray, np.ndarray, np.ndarray]
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The primary's tables on the fine or the coarse excitation bins: attenuation (K, E),
        production (L, E), its first non-zero bin per line, and the excitation (E,) of ``beam`` (:meth:`_beam`)
        on those bins."""
        src, _, src2 = beam
        if coarse:
            return self._mu_exc2, self._q2, self._q2_start, src2
        return self._mu_exc, self._q, self._q_start, src

    def _primary(self, C2: np.ndarray, beam: tuple[np.ndarray, np.ndarray, np.ndarray], coarse: bool
                 ) -> np.ndarray:
        """Primary counts per live second (n_points, n_groups) on the fine or the coarse excitation bins."""
        mu_exc, q, q_start, src = self._grid(coarse, beam)
        det = beam[1]
        prim = np.zeros((C2.shape[0], len(self.groups)))
        kernels.fp_primary(C2, mu_exc, self._mu_line, src, q, q_start, self._line_el, self._line_group, det,
                           self._sin1, self._sin2, prim)
        return prim

    def _rows(self, C: ArrayLike) -> np.ndarray:
        """Mass-fraction rows ``C`` as a contiguous (n_points, n_elements) float array, checked."""
        C2 = np.ascontiguousarray(np.atleast_2d(np.asarray(C, dtype=np.float64)))
        if C2.shape[1] != len(self.elements):
            raise CompositionError(f"expected {len(self.elements)} mass fractions ({', '.join(self.elements)}), "
                                   f"got {C2.shape[1]}", where="fp")
        if not np.all(np.isfinite(C2)) or np.any(C2 < 0):
            raise CompositionError("mass fractions must be finite and >= 0", where="fp")
        return C2

    def _beam(self, air_fraction: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Excitation (primary and secondary grids) and detection tables through ``air_fraction`` of air."""
        src, det, src2 = self._src, self._det, self._src2
        x = float(air_fraction)
        if not (math.isfinite(x) and 0.0 <= x <= 1.0):
            raise ConfigError(f"air_fraction must be in [0, 1], got {air_fraction!r}", where="fp")
        if x > 0 and self.gas_correctable:
            src = np.ascontiguousarray(src * np.exp(-x * self._gas_in))
            src2 = np.ascontiguousarray(src2 * np.exp(-x * self._gas_in2))
            det = np.ascontiguousarray(det * np.exp(-x * self._gas_out))
        return src, det, src2

    def primary_jacobian(self, C: np.ndarray, dC: np.ndarray, air_fraction: float = 0.0, coarse: bool = False
                         ) -> tuple[np.ndarray, np.ndarray]:
        """Primary counts per live second of every group and their derivatives along directions ``dC``.

        Parameters
        ----------
        C : (n_points, n_elements) array
            Mass fractions in :attr:`elements` order.
        dC : (n_points, n_elements, n_directions) array
            Derivative of ``C`` along each direction (e.g. along each analyte's concentration).
        air_fraction : float
            As in :meth:`rates`.
        coarse : bool
            On the coarse excitation bins, as :meth:`coarse_rates` (half the cost; relative to the primary,
            the derivatives agree with the fine bins' within ~1e-4).

        Returns
        -------
        primary : (n_points, n_groups) array
        jacobian : (n_points, n_groups, n_directions) array
            ``d primary / d direction``, exact (analytic), secondary fluorescence not included.
        """
        if np.ndim(C) != 2:
            raise CompositionError(f"expected C of shape (n, {len(self.elements)}), got {np.shape(C)}", where="fp")
        C2 = self._rows(C)
        dC2 = np.asarray(dC, dtype=np.float64)
        if dC2.ndim != 3 or dC2.shape[:2] != C2.shape:
            raise CompositionError(f"expected C (n, {len(self.elements)}) and dC (n, {len(self.elements)}, m), got "
                                   f"{C2.shape} and {dC2.shape}", where="fp")
        beam = self._beam(air_fraction)
        prim = np.zeros((C2.shape[0], len(self.groups)))
        jac = np.zeros((C2.shape[0], len(self.groups), dC2.shape[2]))
        mu_exc, q, q_start, src = self._grid(coarse, beam)
        kernels.fp_primary_jacobian(C2, np.ascontiguousarray(dC2), mu_exc, self._mu_line, src, q, q_start,
                                    self._line_el, self._line_group, beam[1], self._sin1, self._sin2, prim, jac)
        return prim, jac

    def intensities(self, composition: Mapping[str, float] | str, live_time_s: float = 1.0,
                    secondary: bool | None = None, air_fraction: float = 0.0) -> dict[str, float]:
        """Predicted net areas (counts in ``live_time_s``) of every group for a composition."""
        r = self.rates(self.mass_fractions(composition), secondary=secondary, air_fraction=air_fraction)
        return {g: float(v) * float(live_time_s) for g, v in zip(self.groups, r)}

    def pure_rates(self) -> np.ndarray:
        """Counts per second of each group from its pure element (sensitivity for a first guess)."""
        out = np.zeros(len(self.groups))
        C = np.zeros((len(self.groups), len(self.elements)))
        for gi, el in enumerate(self.group_elements):
            C[gi, self._index[el]] = 1.0
        r = self.rates(C, secondary=False)
        for gi in range(len(self.groups)):
            out[gi] = r[gi, gi]
        return out

    def line_table(self) -> list[dict]:
        """The analyte lines: group, line, energy, recorded fraction (for reports and tests)."""
        return [{"group": self.groups[g], "line": ln.name, "subshell": ln.subshell, "energy_eV": ln.energy_eV,
                 "fraction": ln.fraction, "recorded_fraction": float(d)}
                for ln, g, d in zip(self._lines, self._line_group, self._det)]

    def __repr__(self) -> str:
        return (f"FPModel({self.instrument.name!r}, detector {self.detector}, groups {list(self.groups)}, "
                f"elements {list(self.elements)}, secondary={self.secondary})")


@functools.lru_cache(maxsize=16)
def _cached_model(instrument: Instrument, groups: tuple, detector, elements: tuple, secondary: bool) -> FPModel:
    return FPModel(instrument, groups, detector=detector, elements=elements, secondary=secondary)


def fp_model(instrument: Instrument, groups: Sequence[str], *, detector: str | None = None,
             elements: Iterable[str] = (), secondary: bool = True) -> FPModel:
    """A cached :class:`FPModel` (tables are built once per argument set)."""
    return _cached_model(instrument, tuple(groups), detector, tuple(sorted(set(elements))), bool(secondary))


def fp_intensities(composition: Mapping[str, float] | str, instrument: Instrument | None = None,
                   groups: Sequence[str] | None = None, *, live_time_s: float = 1.0, detector: str | None = None,
                   secondary: bool = True) -> dict[str, float]:
    """Predicted net line-group areas (counts) of a thick sample of ``composition``.

    Parameters
    ----------
    composition : dict or str
        Oxide or element wt% ({"SiO2": 49.9, "FeO": 11.1}) or a formula ("CaCO3").
    instrument : Instrument, optional
        Default :meth:`Instrument.pixl`.
    groups : sequence of str, optional
        Default: every element of the composition with measurable lines.
    live_time_s : float
    detector : str, optional
    secondary : bool
        Include secondary fluorescence.

    Returns
    -------
    dict
        group -> counts.
    """
    instrument = instrument or Instrument.pixl()
    fr = parse_composition(composition)
    if groups is None:
        groups = []
        for el in sorted(fr, key=atomic_number):
            if atomic_number(el) < MIN_LINE_Z:
                continue
            try:
                groups.append(resolve_group(el, instrument.tube.voltage_kV)[0])
            except ConfigError:
                continue
    model = fp_model(instrument, groups, detector=detector, elements=fr.keys(), secondary=secondary)
    return model.intensities(composition, live_time_s=live_time_s)
