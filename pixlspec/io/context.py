"""PIXL context images (MCC) and where each scan point falls on them.

PIXL's Micro Context Camera (MCC) photographs the rock during a scan; the
``RCM`` products hold the images (here 752 × 580 pixel, 8-bit grey PNGs, as
PIXLISE converts them) and the ``RXL`` beam-location product gives, for every
point (PMC), the pixel column ``i`` and row ``j`` of the beam in each image
(columns ``PMC_<nnnn>_MCC_i``/``_j``, one pair per image, ``nnnn`` the PMC at
which that image was taken). Pixel coordinates are floats, 0 at the centre of
the first pixel, and can fall outside the frame. See
``shared/science/pixl-formats.md`` §3 and the data set's SOURCES.md.

:func:`read_context_image` reads one image with its point → pixel table from a
scan folder laid out as the PDS product tree (``RCM/`` and ``RXL/`` side by
side); :meth:`ContextImage.pixels` maps point ids of element maps onto it, and
:attr:`ContextImage.mm_per_pixel` (from the RXL positions in mm against
their pixel positions) sizes scale bars.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FormatError, PixlspecError

__all__ = ["ContextImage", "read_context_image", "read_context_images", "context_image_pmcs"]

#: RXL image-coordinate column: ``PMC_0093_MCC_i`` (the PMC of the image, then the axis).
_IMAGE_COLUMN = re.compile(r"PMC_(\d+)_MCC_([ij])")
#: The image's PMC in an RCM product name: four digits, then the 3-digit product version and the
#: ``J<nn>`` suffix before the extension (``..._N00417120483005510093075J02.png`` → 93).
_RCM_PMC = re.compile(r"(\d{4})\d{3}J\d{2}$")
IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")


@dataclass
class ContextImage:
    """One MCC context image and the pixel position of every point in it.

    Attributes
    ----------
    image : ndarray
        Grey levels (rows, columns), as stored (8-bit → 0..255 float).
    pmc : int
        The PMC at which the image was taken.
    point_pmc : ndarray of int
        Points of the RXL table.
    point_ij : ndarray (n, 2)
        Their pixel column ``i`` and row ``j`` in this image (may lie outside the frame).
    point_xyz_mm : ndarray (n, 3)
        Their positions (mm, instrument frame).
    mm_per_pixel : float
        Size of a pixel on the rock, from the positions and pixels of the points in the frame.
    path : str
    """

    image: np.ndarray
    pmc: int
    point_pmc: np.ndarray
    point_ij: np.ndarray
    point_xyz_mm: np.ndarray
    mm_per_pixel: float
    path: str = ""

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.image.shape[:2])

    def in_frame(self, ij: np.ndarray) -> np.ndarray:
        """True for pixel positions inside the image."""
        ij = np.asarray(ij, dtype=np.float64).reshape(-1, 2)
        h, w = self.shape
        return (np.isfinite(ij).all(axis=1) & (ij[:, 0] >= -0.5) & (ij[:, 0] <= w - 0.5)
                & (ij[:, 1] >= -0.5) & (ij[:, 1] <= h - 0.5))

    def pixels(self, point_ids) -> np.ndarray:
        """Pixel (i, j) of each point id (PMC); NaN for ids the RXL table does not hold.

        ``point_ids`` may also be an object with ``point_ids`` (ElementMaps, CompositionMap).
        """
        ids = getattr(point_ids, "point_ids", point_ids)
        ids = np.asarray(ids).ravel()
        try:
            ids = ids.astype(np.int64)
        except (TypeError, ValueError):
            raise PixlspecError("context images are keyed by integer PMCs; these point ids are not") from None
        where = {int(p): k for k, p in enumerate(self.point_pmc)}
        out = np.full((ids.size, 2), np.nan)
        for n, p in enumerate(ids):
            k = where.get(int(p))
            if k is not None:
                out[n] = self.point_ij[k]
        return out


def _scale_mm_per_pixel(ij: np.ndarray, xyz: np.ndarray) -> float:
    """Least-squares ratio of distances in mm to distances in pixels, from the first point in view."""
    ok = np.isfinite(ij).all(axis=1) & np.isfinite(xyz).all(axis=1)
    if ok.sum() < 2:
        return float("nan")
    d_px = np.linalg.norm(ij[ok] - ij[ok][0], axis=1)
    d_mm = np.linalg.norm(xyz[ok] - xyz[ok][0], axis=1)
    den = float(np.sum(d_px * d_px))
    return float(np.sum(d_mm * d_px) / den) if den > 0 else float("nan")


def _folders(folder: str | os.PathLike) -> tuple[Path, Path]:
    p = Path(folder)
    if not p.exists():
        raise PixlspecError("no such folder", path=p)
    if p.is_file():
        p = p.parent
    if p.name.upper() in ("RCM", "RXL"):
        p = p.parent
    rcm, rxl = p / "RCM", p / "RXL"
    if not rcm.is_dir() or not rxl.is_dir():
        raise PixlspecError("expected the scan's product folder with RCM/ (context images) and RXL/ "
                            "(beam locations) side by side", path=p)
    return rcm, rxl


def _rxl_file(rxl: Path) -> Path:
    cands = sorted(q for q in rxl.iterdir() if q.is_file() and q.suffix.lower() == ".csv")
    if not cands:
        raise PixlspecError("no RXL .csv product", path=rxl)
    return cands[0]


def context_image_pmcs(rxl_table: dict) -> list[int]:
    """The PMCs of the images an RXL table (:func:`pixlspec.io.pixl_csv.read_rxl`) has coordinates for."""
    out = []
    for name in rxl_table:
        m = _IMAGE_COLUMN.fullmatch(name)
        if m and m.group(2) == "i":
            out.append(int(m.group(1)))
    return sorted(out)


def _image_files(rcm: Path) -> dict[int, Path]:
    out = {}
    for q in sorted(rcm.iterdir()):
        if q.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        m = _RCM_PMC.search(q.stem)
        if m:
            out[int(m.group(1))] = q
    return out


def _load_image(path: Path) -> np.ndarray:
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        img = tifffile.imread(path)
    else:
        from matplotlib import image as mpimg

        try:
            img = mpimg.imread(path)
        except (OSError, ValueError, SyntaxError) as e:
            raise FormatError(f"cannot read the image: {e}", path=path) from None
        if img.dtype.kind == "f" and img.max() <= 1.0:     # PNG → 0..1 floats; back to grey levels
            img = img * 255.0
    img = np.asarray(img, dtype=np.float64)
    if img.ndim == 3:
        img = img[..., :3].mean(axis=2)
    return img


def read_context_images(folder: str | os.PathLike) -> dict[int, ContextImage]:
    """Every context image of a scan folder (``RCM/`` + ``RXL/``), keyed by the PMC it was taken at."""
    from .pixl_csv import read_rxl

    rcm, rxl = _folders(folder)
    table = read_rxl(_rxl_file(rxl))
    files = _image_files(rcm)
    out = {}
    xyz = np.column_stack([table["x_mm"], table["y_mm"], table["z_mm"]])
    for pmc in context_image_pmcs(table):
        if pmc not in files:
            continue
        ij = np.column_stack([table[f"PMC_{pmc:04d}_MCC_i"], table[f"PMC_{pmc:04d}_MCC_j"]])
        img = _load_image(files[pmc])
        ctx = ContextImage(image=img, pmc=pmc, point_pmc=np.asarray(table["pmc"], dtype=np.int64), point_ij=ij,
                           point_xyz_mm=xyz, mm_per_pixel=float("nan"), path=str(files[pmc]))
        inside = ctx.in_frame(ij)
        ctx.mm_per_pixel = _scale_mm_per_pixel(ij[inside], xyz[inside])
        out[pmc] = ctx
    if not out:
        raise PixlspecError(f"no context image in {rcm} matches the images of the RXL table "
                            f"(PMCs {context_image_pmcs(table)})", path=rcm)
    return out


def read_context_image(folder: str | os.PathLike, pmc: int | None = None, point_ids=None) -> ContextImage:
    """One context image of a scan with its point → pixel mapping.

    Parameters
    ----------
    folder : str or os.PathLike
        The scan's product folder holding ``RCM/`` and ``RXL/`` (or one of them).
    pmc : int, optional
        The PMC the image was taken at. Default: the image that shows the most
        points (of ``point_ids`` when given, e.g. the PMCs of the element maps;
        of the whole RXL table otherwise); ties go to the earliest image.
    point_ids : array_like, optional
    """
    images = read_context_images(folder)
    if pmc is not None:
        if int(pmc) not in images:
            raise PixlspecError(f"no context image taken at PMC {pmc}; there are {sorted(images)}", path=folder)
        return images[int(pmc)]
    best, score = None, -1
    for k in sorted(images):
        ctx = images[k]
        ij = ctx.pixels(point_ids) if point_ids is not None else ctx.point_ij
        n = int(ctx.in_frame(ij).sum())
        if n > score:
            best, score = ctx, n
    return best
