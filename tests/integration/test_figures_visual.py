"""Visual check: figures rendered now against stored reference images (pixel RMS with a tolerance).

Regenerate the references after an intended change of a figure with
``PIXLSPEC_UPDATE_REFERENCE_IMAGES=1 python -m pytest tests/integration/test_figures_visual.py`` and look at them.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.maps import make_maps

REF_DIR = Path(__file__).parent / "reference_images"
#: Largest pixel RMS (grey levels 0..1) accepted: anti-aliasing and font hinting differ between
#: FreeType builds by far less; a moved, recoloured or missing element changes far more.
RMS_TOLERANCE = 0.03
#: Resolution of the compared renderings.
DPI = 60
UPDATE = os.environ.get("PIXLSPEC_UPDATE_REFERENCE_IMAGES") == "1"


def render(fig) -> np.ndarray:
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    buf.seek(0)
    return mpimg.imread(buf)[..., :3]


def rms(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return float("inf")
    return float(np.sqrt(np.mean((a.astype(float) - b.astype(float)) ** 2)))


def _figures():
    from pixlspec.plot_maps import plot_chi2, plot_map, plot_rgb

    line, raster = make_maps("line", n=24), make_maps("raster")
    return {
        "map_raster_Fe": lambda: plot_map(raster, "Fe", title="Fe"),
        "map_line_Fe": lambda: plot_map(line, "Fe", title="Fe profile"),
        "rgb_line": lambda: plot_rgb(line, ["Fe", "Ca", "Si"], title="Fe / Ca / Si"),
        "rgb_raster": lambda: plot_rgb(raster, ["Fe", "Ca", "Si"], title="RGB"),
        "chi2_raster": lambda: plot_chi2(raster, title="chi2"),
    }


@pytest.mark.parametrize("name", sorted(_figures()))
def test_figure_matches_reference(name):
    import matplotlib.image as mpimg

    img = render(_figures()[name]())
    ref = REF_DIR / f"{name}.png"
    if UPDATE or not ref.exists():
        if not UPDATE:
            pytest.fail(f"no reference image {ref}; create it with PIXLSPEC_UPDATE_REFERENCE_IMAGES=1")
        REF_DIR.mkdir(exist_ok=True)
        mpimg.imsave(ref, img)
        pytest.skip(f"wrote {ref}")
    expect = mpimg.imread(ref)[..., :3]
    d = rms(img, expect)
    assert d <= RMS_TOLERANCE, f"{name}: pixel RMS {d:.4f} > {RMS_TOLERANCE} against {ref}"


def test_comparison_catches_a_changed_figure():
    """The check can fail: another element, or another colour map, is far beyond the tolerance."""
    import matplotlib.image as mpimg

    from pixlspec.plot_maps import plot_map

    ref = mpimg.imread(REF_DIR / "map_raster_Fe.png")[..., :3]
    raster = make_maps("raster")
    assert rms(render(plot_map(raster, "Ca", title="Fe")), ref) > RMS_TOLERANCE
    assert rms(render(plot_map(raster, "Fe", title="Fe", cmap="magma")), ref) > RMS_TOLERANCE
