"""Paths the tests share: the clone's root and the real PIXL files next to the clone."""
from __future__ import annotations

from pathlib import Path

#: The root of the clone (``tests/helpers/paths.py`` is two levels below it).
ROOT = Path(__file__).resolve().parents[2]
#: ``<clone>/../shared/data/real``, wherever the clone lives (see its SOURCES.md).
REAL_DATA_DIR = (ROOT / ".." / "shared" / "data" / "real").resolve()

#: The flight model's PIQUANT configuration and ECF table, relative to the real-data folder.
FM_CONFIG = "pixl_fm_config/Config_PIXL_FM_SurfaceOps_Rev2_Sept2021.msa"
FM_ECF = "pixl_fm_config/Calibration_PIXL_FM_SurfaceOps_5minECFs_Rev1_Jul2021.csv"
