"""Suggest the elements present in a spectrum from a peak search, with reasons.

Peaks are found with a matched filter (a zero-area Gaussian second-derivative
kernel, so a smooth background filters to ~0) whose output is divided by its
Poisson standard deviation: each peak gets a significance in σ. Every peak is
then explained, in order, by tube-line scatter (Rayleigh and Compton), by the
main line of an element, by a Si-escape peak or a pile-up peak of stronger
peaks. An element is suggested when its main line is found; its other lines
(Kβ, Lβ) are checked and reported as supporting or missing evidence.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..instrument import Instrument
from ..physics import detector as det_physics
from ..physics.lines import default_shell, line_group, tube_lines
from ..spectrum import Spectrum

__all__ = ["find_elements", "ElementSuggestion", "find_peaks"]

#: Significance (σ) a filtered peak needs to count as found.
DEFAULT_MIN_SIGNIFICANCE = 5.0
#: A peak matches a line within this fraction of the local FWHM.
MATCH_FWHM_FRACTION = 0.35
#: A found element whose peak exceeds this multiple of the minimum significance can
#: have Si-escape and pile-up peaks worth explaining.
STRONG_PARENT_FACTOR = 20.0
#: An escape/pile-up position matches a peak within this distance (eV).
ARTEFACT_TOLERANCE_EV = 70.0
#: A peak is taken as an escape/pile-up artefact only if its weakest parent is this many times more
#: significant (Fe Kα+Kα pile-up is ~50 times weaker than Fe Kα, a Si-escape ~30 times).
ARTEFACT_RATIO = 15.0
#: Candidates: Na..U; noble gases other than Ar (Mars atmosphere, residual air) left out.
_SKIP = {"Ne", "Kr", "Xe", "Rn", "Tc", "Pm", "Po", "At", "Fr", "Ra", "Ac", "Pa"}


@dataclass
class ElementSuggestion:
    """An element the peak search suggests, with the evidence."""

    element: str
    group: str
    significance: float
    energy_eV: float
    expected_eV: float
    reasons: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.group:<6} {self.significance:8.1f} σ  " + "; ".join(self.reasons)


def find_peaks(spectrum: Spectrum, fwhm_eV_at, min_significance: float = DEFAULT_MIN_SIGNIFICANCE,
               min_energy_eV: float = 0.0) -> list[tuple[float, float, float]]:
    """Peaks as (energy_eV, significance_sigma, net_height_counts), strongest first."""
    y = spectrum.counts
    e = spectrum.energy_eV
    gain = spectrum.gain_eV_per_channel
    # matched filter: -d2/dx2 of a Gaussian with the local width, evaluated at one width per decade of energy
    sig_ch = np.maximum(fwhm_eV_at(np.maximum(e, 100.0)) / 2.3548 / gain, 0.8)
    out_s = np.zeros(y.size)
    out_h = np.zeros(y.size)
    for s in np.unique(np.round(sig_ch, 1)):
        half = int(np.ceil(3 * s))
        x = np.arange(-half, half + 1, dtype=float)
        k = (1 - (x / s) ** 2) * np.exp(-0.5 * (x / s) ** 2)
        k -= k.mean()
        filt = np.convolve(y, k[::-1], mode="same")
        var = np.convolve(y, (k * k)[::-1], mode="same")
        sig = filt / np.sqrt(np.maximum(var, 1.0))
        # height of a Gaussian peak of sigma s that gives this filter output
        g = np.exp(-0.5 * (x / s) ** 2)
        h = filt / max(float(np.dot(k, g)), 1e-12)
        sel = np.round(sig_ch, 1) == s
        out_s[sel] = sig[sel]
        out_h[sel] = h[sel]
    peaks = []
    for i in range(1, y.size - 1):
        if out_s[i] >= min_significance and out_s[i] >= out_s[i - 1] and out_s[i] > out_s[i + 1] \
                and e[i] >= min_energy_eV:
            # parabolic refinement of the position
            a, b, c = out_s[i - 1], out_s[i], out_s[i + 1]
            d = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
            peaks.append((float(spectrum.energy_at(i + d)), float(out_s[i]), float(out_h[i])))
    peaks.sort(key=lambda p: -p[1])
    return peaks


def find_elements(spectrum: Spectrum, instrument: Instrument | None = None, *,
                  min_significance: float = DEFAULT_MIN_SIGNIFICANCE, candidates=None) -> list[ElementSuggestion]:
    """Suggest the elements present in ``spectrum``, strongest first, with reasons.

    Parameters
    ----------
    spectrum : Spectrum
    instrument : Instrument, optional
        For the tube (scatter lines, which shells are excited) and the
        detector resolution. Default: the spectrum's, else PIXL.
    min_significance : float
        Peaks below this significance (σ of the matched filter) are ignored.
    candidates : iterable of str, optional
        Elements to consider (default Na..U).

    Returns
    -------
    list of ElementSuggestion
        ``reasons`` say which peak was matched, at what energy and
        significance, and which companion lines were or were not found.
        Peaks no element explains are listed by :func:`find_elements` as a
        last suggestion named "?" so nothing is silently dropped; the tube-line
        scatter peaks found are listed in a suggestion whose group is "scatter".
    """
    from ..physics.elements import ELEMENT_SYMBOLS

    inst = instrument or spectrum.instrument or Instrument.pixl()
    det = inst.detector(spectrum.detector) if spectrum.detector in inst.detector_names else inst.detectors[0]
    kv = inst.tube.voltage_kV

    def fwhm_at(energy):
        return det_physics.fwhm_eV(energy, det.noise_eV, fano=det.fano)

    peaks = find_peaks(spectrum, fwhm_at, min_significance, min_energy_eV=inst.min_energy_eV)
    unexplained = list(peaks)

    def take(energy, tol):
        """The strongest unexplained peak within tol of energy (removed), or None."""
        best = None
        for p in unexplained:
            if abs(p[0] - energy) <= tol and (best is None or p[1] > best[1]):
                best = p
        if best is not None:
            unexplained.remove(best)
        return best

    def near(energy, tol):
        return [p for p in peaks if abs(p[0] - energy) <= tol]

    # 1. tube K-line scatter (high energy, unambiguous); L-line scatter is assigned after the elements
    angle = det_physics.scattering_angle_deg(inst.incidence_deg, det.elevation_deg, det.azimuth_deg)
    t = inst.tube
    tube_groups = tube_lines(t.anode, kv, electron_incidence_deg=t.electron_incidence_deg,
                             takeoff_deg=t.takeoff_deg, window_Be_um=t.window_Be_um)
    scatter_notes = []

    def take_scatter(groups):
        for tg in groups:
            main = tg.energies_eV[int(np.argmax(tg.intensities))]
            hit = take(main, MATCH_FWHM_FRACTION * fwhm_at(main) + 30.0)
            if hit is not None:
                scatter_notes.append(f"{tg.name} Rayleigh at {hit[0] / 1000:.3f} keV ({hit[1]:.0f} σ)")
            ec = float(det_physics.compton_energy_eV(main, angle))
            hit = take(ec, fwhm_at(ec) * 1.5 + 100.0)
            if hit is not None and tg.shell == "K":
                scatter_notes.append(f"{tg.name} Compton at {hit[0] / 1000:.3f} keV ({hit[1]:.0f} σ)")

    take_scatter([g for g in tube_groups if g.shell == "K"])

    # 2. elements, by the strength of the peak at their main line
    cand = list(candidates) if candidates is not None else [s for s in ELEMENT_SYMBOLS[10:92] if s not in _SKIP]
    emax = min(kv * 1000.0, float(spectrum.energy_eV[-1]))
    options = []
    for el in cand:
        try:
            grp = line_group(el, default_shell(el, tube_kV=kv), excitation_eV=kv * 1000.0)
        except Exception:
            continue
        main = grp.main_energy_eV
        if not inst.min_energy_eV <= main <= emax:
            continue
        tol = MATCH_FWHM_FRACTION * fwhm_at(main) + 5.0
        hits = near(main, tol)
        if hits:
            best = max(hits, key=lambda p: p[1])
            options.append((best[1], el, grp, best))
    options.sort(key=lambda o: -o[0])
    suggestions = []
    strong_sig = STRONG_PARENT_FACTOR * min_significance

    def artefact_of(peak):
        """Why ``peak`` is an escape or pile-up peak of a strong element already found, or None."""
        strong = [s for s in suggestions if s.significance > strong_sig]
        for s in strong:
            if abs(peak[0] - (s.energy_eV - det_physics.SI_KA_ESCAPE_EV)) < ARTEFACT_TOLERANCE_EV \
                    and s.energy_eV > det_physics.SI_K_EDGE_EV and peak[1] < s.significance / ARTEFACT_RATIO:
                return s, f"Si-escape peak at {peak[0] / 1000:.3f} keV ({peak[1]:.0f} σ)"
        for a in strong:
            for b in strong:
                if a.energy_eV <= b.energy_eV and abs(peak[0] - a.energy_eV - b.energy_eV) < ARTEFACT_TOLERANCE_EV \
                        and peak[1] < min(a.significance, b.significance) / ARTEFACT_RATIO:
                    return a, f"pile-up {a.group}+{b.group} at {peak[0] / 1000:.3f} keV ({peak[1]:.0f} σ)"
        return None

    for _, el, grp, peak in options:
        if peak not in unexplained:
            # the peak is already explained by a stronger candidate: report it as an alternative
            for s in suggestions:
                if abs(s.energy_eV - peak[0]) < 1e-6:
                    s.reasons.append(f"{grp.name} main line {grp.main_energy_eV / 1000:.3f} keV also fits this peak")
            continue
        art = artefact_of(peak)
        if art is not None:
            unexplained.remove(peak)
            art[0].reasons.append(art[1] + f"; not {grp.name}")
            continue
        unexplained.remove(peak)
        reasons = [f"{grp.main_family} peak at {peak[0] / 1000:.3f} keV (expected {grp.main_energy_eV / 1000:.3f}), "
                   f"{peak[1]:.0f} σ"]
        # companion lines: the next strongest family of the group
        fams = {}
        for f_, e_, i_ in zip(grp.families, grp.energies_eV, grp.intensities):
            fams.setdefault(f_, [0.0, 0.0])
            fams[f_][0] += i_
            fams[f_][1] += i_ * e_
        others = sorted(((v[0], v[1] / v[0], f_) for f_, v in fams.items() if f_ != grp.main_family), reverse=True)
        main_int = fams[grp.main_family][0]
        for inten, energy, fam in others[:1]:
            if not inst.min_energy_eV <= energy <= emax:
                continue
            expected_sig = peak[1] * inten / main_int
            hit = take(energy, MATCH_FWHM_FRACTION * fwhm_at(energy) + 5.0)
            if hit is not None:
                reasons.append(f"{fam} at {hit[0] / 1000:.3f} keV found ({hit[1]:.0f} σ)")
            elif expected_sig > 2 * min_significance:
                reasons.append(f"{fam} at {energy / 1000:.3f} keV expected (~{expected_sig:.0f} σ) but not "
                               "resolved (overlap or misidentification)")
        suggestions.append(ElementSuggestion(el, grp.name, peak[1], peak[0], grp.main_energy_eV, reasons))

    take_scatter([g for g in tube_groups if g.shell != "K"])
    if scatter_notes:
        suggestions.append(ElementSuggestion(inst.tube.anode, "scatter", 0.0, float("nan"), float("nan"),
                                             ["tube lines scattered by the sample: " + "; ".join(scatter_notes)]))

    # 3. escape and pile-up peaks of what was found
    strong = [s for s in suggestions if s.significance > strong_sig and s.group != "scatter"]
    for s in strong:
        for esc in (det_physics.SI_KA_ESCAPE_EV,):
            hit = take(s.energy_eV - esc, ARTEFACT_TOLERANCE_EV)
            if hit is not None:
                s.reasons.append(f"Si-escape peak at {hit[0] / 1000:.3f} keV ({hit[1]:.0f} σ)")
    for a in strong:
        for b in strong:
            if a.energy_eV <= b.energy_eV:
                hit = take(a.energy_eV + b.energy_eV, ARTEFACT_TOLERANCE_EV)
                if hit is not None:
                    a.reasons.append(f"pile-up {a.group}+{b.group} at {hit[0] / 1000:.3f} keV ({hit[1]:.0f} σ)")
    if unexplained:
        text = ", ".join(f"{p[0] / 1000:.3f} keV ({p[1]:.0f} σ)" for p in sorted(unexplained)[:12])
        suggestions.append(ElementSuggestion("?", "?", max(p[1] for p in unexplained), float("nan"), float("nan"),
                                             [f"peaks no candidate explains: {text}"]))
    return suggestions
