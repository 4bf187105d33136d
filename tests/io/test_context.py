"""Context images (MCC) of the flight scan (pixlspec.io.context); skipped without ../shared."""

from __future__ import annotations

import numpy as np
import pytest

from pixlspec.errors import PixlspecError
from pixlspec.io.context import read_context_image, read_context_images
from pixlspec.io.pixl_csv import read_rxl


FLIGHT = "pixl_flight_sol0125"


@pytest.fixture(scope="module")
def folder(real_data):
    return real_data / FLIGHT


def test_images_and_pixel_table_match_rxl(folder):
    imgs = read_context_images(folder)
    assert sorted(imgs) == [91, 93, 216, 218]                    # SOURCES.md: the four MCC images
    rxl = read_rxl(next((folder / "RXL").glob("*.CSV")))
    for pmc, ctx in imgs.items():
        assert ctx.shape == (580, 752)                           # SOURCES.md: 752 × 580 pixels
        assert 0 <= ctx.image.min() and ctx.image.max() <= 255
        k = int(np.flatnonzero(rxl["pmc"] == 150)[0])
        np.testing.assert_array_equal(ctx.pixels([150])[0], [rxl[f"PMC_{pmc:04d}_MCC_i"][k],
                                                              rxl[f"PMC_{pmc:04d}_MCC_j"][k]])
    assert np.isnan(imgs[91].pixels([5000])).all()               # a PMC the table does not hold


def test_pixel_scale_agrees_with_point_spacing(folder):
    """mm per pixel from the RXL table: the 0.25 mm steps of the line (pixl-formats.md §3) are
    ~5 pixels apart, i.e. the ~38 mm MCC field at PIXL's stand-off spans the 752 pixels."""
    ctx = read_context_image(folder, pmc=93)
    assert 0.03 < ctx.mm_per_pixel < 0.08
    ij = ctx.pixels(np.arange(93, 217))
    inside = ctx.in_frame(ij)
    step_px = np.nanmedian(np.linalg.norm(np.diff(ij[inside], axis=0), axis=1))
    assert step_px * ctx.mm_per_pixel == pytest.approx(0.253, rel=0.1)


def test_default_image_shows_most_points(folder):
    ctx = read_context_image(folder, point_ids=np.arange(93, 217))
    ij = ctx.pixels(np.arange(93, 217))
    known = np.isfinite(ij).all(axis=1)
    assert known.sum() == 121                  # PMCs 133, 174 and 215 are not in the scan
    assert ctx.in_frame(ij[known]).all()
    with pytest.raises(PixlspecError, match="no context image taken at PMC 5"):
        read_context_image(folder, pmc=5)


def test_missing_folders(tmp_path):
    with pytest.raises(PixlspecError, match="RCM"):
        read_context_image(tmp_path)
    with pytest.raises(PixlspecError, match="no such folder"):
        read_context_image(tmp_path / "nope")
