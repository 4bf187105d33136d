"""Regenerate ``example_data/sol0125_naltsos.h5`` from the real PIXL products.

Usage (from the repository root)::

    python example_data/make_example_data.py [--source ../shared/data/real/pixl_flight_sol0125]

The source is the PDS-style product tree of the Mars 2020 PIXL scan of the
target "Naltsos" (sol 125, 121 points, detectors A and B) as distributed in
pixlise/core (Apache-2.0); see ``example_data/README.md``. The spectra come
from the RFS CSV, positions and point ids from RFS/RXL. The scan file records
where it came from in ``/entry/process/provenance``.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)  # run from a source checkout without installing

from pixlspec import Scan, __version__  # noqa: E402
from pixlspec.io.convert import read_scan, source_files  # noqa: E402
from pixlspec.io.hdf5 import write_scan  # noqa: E402

DEFAULT_SOURCE = os.path.join(REPO, os.pardir, "shared", "data", "real", "pixl_flight_sol0125")
DEFAULT_OUTPUT = os.path.join(HERE, "sol0125_naltsos.h5")
#: The example must stay small enough to ship in the repository.
MAX_SIZE_BYTES = 5_000_000

SCAN_FACTS = {"target": "Naltsos", "sol": 125, "date": "2021-06-27", "rtt": "048300551",
              "mission": "Mars 2020 (rover Perseverance), instrument PIXL"}
ATTRIBUTION = {
    "attribution": ("PIXL flight data of the Mars 2020 mission, target Naltsos, sol 125; files from "
                    "pixlise/core (https://github.com/pixlise/core), "
                    "api/dataimport/test-data/Archive_OK/, Apache-2.0"),
    "license": "Apache-2.0",
    "source_repository": "https://github.com/pixlise/core",
    "source_commit": "2d6f3826b11388dd03efd3d0934d010f5c30e3ba",
    "source_path": "api/dataimport/test-data/Archive_OK/ (zip archives, unzipped)",
}


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=DEFAULT_SOURCE, help="PIXL PDS product folder (RFS/, RXL/ ...)")
    ap.add_argument("--output", default=DEFAULT_OUTPUT)
    args = ap.parse_args()

    files = source_files(args.source)
    scan = read_scan(args.source)
    # the same arrays, with the facts about the scan added to (not replacing) the reader's metadata,
    # and file paths of this machine made relative to the source folder
    metadata = {k: (os.path.relpath(v, args.source) if isinstance(v, str) and os.path.isabs(v) else v)
                for k, v in scan.metadata.items()}
    scan = Scan({d: scan.raw_counts(d) for d in scan.detectors}, scan.live_time_s,
                positions_mm=scan.positions_mm, point_ids=scan.point_ids, real_time_s=scan.real_time_s,
                calibration=scan.calibration, instrument=scan.instrument,
                metadata={**SCAN_FACTS, **metadata}, source=scan.source,
                point_metadata=scan.point_metadata)
    provenance = {
        **ATTRIBUTION,
        "source_files": [{"name": os.path.relpath(p, args.source), "size_bytes": os.path.getsize(p),
                          "sha256": sha256(p)} for p in files],
        "source": "pixl_flight_sol0125 (RFS spectra CSV + RXL beam locations)",
        "made_by": f"example_data/make_example_data.py, pixlspec {__version__}",
    }
    write_scan(scan, args.output, provenance=provenance)
    size = os.path.getsize(args.output)
    print(f"wrote {args.output}: {scan.n_points} points x {scan.n_channels} channels, detectors "
          f"{'+'.join(scan.detectors)}, {size / 1e6:.2f} MB")
    if size > MAX_SIZE_BYTES:
        raise SystemExit(f"error: {args.output} is {size / 1e6:.1f} MB, more than the "
                         f"{MAX_SIZE_BYTES / 1e6:.0f} MB an example may take")


if __name__ == "__main__":
    main()
