"""Seed files of every format for the corruption tests, and the reader of each kind.

Seeds are real PIXL products (``../shared/data/real``: breadboard and flight MSA spectra, the RFS/RXL CSV
products, the PIQUANT FM configurations and calibration file), the shipped ``example_data/*.h5`` scans, and
files pixlspec writes itself (an MSA pair, a scan file, a results file of ``fit_map``, a calibration JSON, an
instrument JSON/TOML, a PIQUANT configuration), so the suite runs something even without the real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.helpers.paths import REAL_DATA_DIR, ROOT


REAL = REAL_DATA_DIR
EXAMPLE_DATA = ROOT / "example_data"


#: Real seed files (relative to the real-data folder) and their kinds.
REAL_SEEDS = {
    "msa": ["breadboard_glasses/Calibration_box_BCR-2G_28kV_230uA_03_28_2019_bulk_sum.msa",
            "breadboard_glasses/Calibration_box_BHVO-2G_28kV_230uA_03_28_2019_bulk_sum.msa",
            "pixl_flight_sol0125/RFS_MSA_per_PMC/PS__0125_0678031418_000RFS_N004171204830055100880__J01_0095.MSA",
            "pixl_flight_sol0125/RFS_MSA_per_PMC/PS__0125_0678031418_000RFS_N004171204830055100880__J01_0119.MSA",
            "pixl_fm_ground/Normal_A_0612672997_000001C5_000007.msa"],
    "rfs": ["pixl_flight_sol0125/RFS/PS__0125_0678031418_000RFS_N004171204830055100880__J01.CSV"],
    "rxl": ["pixl_flight_sol0125/RXL/PE__0125_0678031418_000RXL_N004171204830055100910__J01.CSV"],
    "config": ["pixl_fm_config/Config_PIXL_FM_SurfaceOps_Rev2_Sept2021.msa",
               "pixl_fm_config/Config_PIXL_FM_SurfaceOps_Rev1_Jul2021.msa",
               "breadboard_glasses/Breadboard_Configuration_2019_01_14_2020.msa"],
    "pqcal": ["pixl_fm_config/Calibration_PIXL_FM_SurfaceOps_5minECFs_Rev1_Jul2021.csv"],
}


MADE_CONFIG = """\
#FORMAT      : EMSA/MAS spectral data file
#VERSION     : TC202v2.0 PIXL
#TITLE       : test configuration
#BEAMKV      : 28.0
#EMISSION    : 20.0
##ANODE      : 45
##TUBEINCANG : 60
##TUBETAKEOF : 30
##TUBEWINDOW : 0.1524
#ELEVANGLE   : 70
#AZIMANGLE   : 180
#SOLIDANGLE  : 0.027283
#TBEWIND     : 0.0017
#TACTLYR     : 0.05
##DETRES     : 170
##INCANGLE   : 90
##ATMOSPHERE : Mars
##PATHINCLEN : 10.3
##PATHEMGLEN : 3.316
#XPERCHAN    : 7.862, 7.881
#OFFSET      : -18.5, -22.4
"""


# --------------------------------------------------------------------------- seeds
def make_seeds(folder: Path) -> dict[str, list[Path]]:
    """Files of every format written by pixlspec itself (no real data needed)."""
    import pixlspec as px
    from pixlspec.io.hdf5 import write_scan
    from pixlspec.io.results import write_maps
    from pixlspec.quant.calibration import Calibration
    from pixlspec.simulate import basalt_areas, simulate_scan, simulate_spectrum

    folder.mkdir(parents=True, exist_ok=True)
    seeds: dict[str, list[Path]] = {}
    inst = px.Instrument.pixl()
    a = simulate_spectrum(basalt_areas(2e5), inst, detector="A", seed=1, live_time_s=9.5)
    b = simulate_spectrum(basalt_areas(2e5), inst, detector="B", seed=2, live_time_s=9.6)
    px.write_msa([a, b], folder / "made_pair.msa")
    seeds["msa"] = [folder / "made_pair.msa"]
    rng = np.random.default_rng(3)
    areas = {k: v * rng.uniform(0.7, 1.3, 9) for k, v in basalt_areas(1e5).items()}
    scan = simulate_scan(areas, inst, shape=(3, 3), seed=4)
    write_scan(scan, folder / "made_scan.h5")
    seeds["h5"] = [folder / "made_scan.h5"]
    maps = px.fit_map(scan.load(), elements=["Si", "Ca", "Fe"])
    write_maps(maps, folder / "made_maps.h5")
    seeds["results"] = [folder / "made_maps.h5"]
    cal = Calibration(instrument=inst, detector="A", factors={"Fe_K": 1.05, "Ca_K": 0.97},
                      factor_sigma={"Fe_K": 0.02, "Ca_K": 0.03}, scale=1.01, scale_sigma=0.04,
                      standards=["BHVO-2G"])
    cal.save(folder / "made_calibration.json")
    seeds["caljson"] = [folder / "made_calibration.json"]
    inst.save(folder / "made_instrument.json")
    inst.save(folder / "made_instrument.toml")
    seeds["instfile"] = [folder / "made_instrument.json", folder / "made_instrument.toml"]
    (folder / "made_config.msa").write_text(MADE_CONFIG)
    seeds["config"] = [folder / "made_config.msa"]
    return seeds


def all_seeds(folder: Path) -> dict[str, list[Path]]:
    seeds = make_seeds(folder)
    seeds.setdefault("h5", []).extend(sorted(EXAMPLE_DATA.glob("*.h5")))
    if REAL.is_dir():
        for kind, names in REAL_SEEDS.items():
            seeds.setdefault(kind, []).extend(REAL / n for n in names if (REAL / n).is_file())
    return seeds


def reader_named(name):
    import pixlspec as px
    from pixlspec.io.piquant_tables import read_piquant_calibration
    from pixlspec.quant.calibration import Calibration

    return {"read_msa": px.read_msa, "read_rfs": px.read_rfs, "read_piquant_config": px.read_piquant_config,
            "open_scan": px.open_scan, "read_maps": px.read_maps, "Instrument.load": px.Instrument.load,
            "Calibration.load": Calibration.load, "read_piquant_calibration": read_piquant_calibration}[name]


# --------------------------------------------------------------------------- targeted cases
def msa_with(tmp_path, seeds, pattern: bytes, value: bytes) -> Path:
    data = seeds["msa"][0].read_bytes()
    lines = data.splitlines(keepends=True)
    i = next(k for k, ln in enumerate(lines) if ln.upper().startswith(pattern))
    key = lines[i].split(b":", 1)[0]
    lines[i] = key + b": " + value + b"\n"
    p = tmp_path / "bad.msa"
    p.write_bytes(b"".join(lines))
    return p, i + 1
