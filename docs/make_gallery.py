"""The figure gallery of docs/gallery.md, made from the shipped example data.

Run from the repository root: ``python docs/make_gallery.py``. Fits the real
Mars line scan (example_data/sol0125_naltsos.h5) and the simulated raster
with salts (example_data/simulated_salts.h5), quantifies them and writes
every kind of pixlspec figure into docs/figures/gallery/. When the real-data
folder ``../shared/data/real/pixl_flight_sol0125`` (RCM/ + RXL/, not shipped)
is present, the flight-scan maps over the MCC context image are drawn too.
Takes a few minutes on 2 cores.
"""
from __future__ import annotations

import os
import sys
import warnings

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)
sys.path.insert(0, ROOT)

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import pixlspec as px  # noqa: E402
from pixlspec.plot_minerals import plot_correlation, plot_phase_map, plot_ternary  # noqa: E402
from pixlspec.plot_maps import plot_chi2, plot_context_maps, plot_map, plot_rgb  # noqa: E402

DATA = os.path.join(ROOT, "example_data")
OUT = os.path.join(ROOT, "docs", "figures", "gallery")
CONTEXT = os.path.join(ROOT, os.pardir, "shared", "data", "real", "pixl_flight_sol0125")
#: Resolution of the gallery PNGs.
DPI = 110


def save(fig, name: str) -> None:
    path = os.path.join(OUT, f"{name}.png")
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    print("wrote", os.path.relpath(path, ROOT))


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    flight = px.fit_map(os.path.join(DATA, "sol0125_naltsos.h5"))
    save(flight.sum_fit["A"].plot(), "flight_sum_fit_A")
    save(plot_map(flight, "Fe"), "flight_Fe_profile")
    save(plot_rgb(flight, ("Fe", "Ca", "S")), "flight_rgb_Fe_Ca_S")
    save(plot_chi2(flight), "flight_chi2")
    if os.path.isdir(CONTEXT):
        ctx = px.read_context_image(CONTEXT, point_ids=flight.point_ids)
        save(plot_map(flight, "Fe", context=ctx), "flight_Fe_context")
        save(plot_context_maps(flight, ("Si", "Ca", "Fe", "S", "Cl", "Ti"), ctx), "flight_maps_context")
        save(plot_rgb(flight, ("Fe", "Ca", "S"), context=ctx), "flight_rgb_context")
    else:
        print(f"no context images at {CONTEXT}: skipping the maps over the MCC image")

    sim = px.fit_map(os.path.join(DATA, "simulated_salts.h5"))
    save(plot_map(sim, "S"), "simulated_S_map")
    save(plot_map(sim, "Rh_K_Compton"), "simulated_compton_map")
    save(plot_rgb(sim, ("Fe", "Ca", "S")), "simulated_rgb_Fe_Ca_S")
    save(plot_chi2(sim), "simulated_chi2")
    comp = px.quantify_map(sim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        salts = px.identify_salts(comp)
    save(plot_phase_map(salts, title="Phases — simulated_salts"), "simulated_phase_map")
    save(plot_ternary(salts), "simulated_ternary_CaO_MgO_FeO")
    save(plot_correlation(salts, "CaO", "SO3"), "simulated_CaO_SO3")


if __name__ == "__main__":
    main()
