"""The report's pictures: photos, colourised maps, overlay thumbnails and the colour bar.

Maps are drawn as glas's PNG figures draw them (:func:`glas_core.viz.draw_overlay`): the map
in float64, min-max normalised on its own (:func:`glas_core.minmax_normalize`, a flat map
becomes all zeros), coloured with :data:`glas_core.viz.DEFAULT_CMAP` through matplotlib's
colour map, and stretched over the whole photo.
"""

from __future__ import annotations

import base64
import functools
import io
import os
import shutil
import tempfile
import urllib.parse
from typing import Any

import numpy as np

from glas_core import minmax_normalize
from glas_core.viz import DEFAULT_ALPHA, DEFAULT_CMAP

#: Longest side of a photo in the per-image view; larger photos are downscaled.
PHOTO_SIDE = 512
#: Longest side of an index thumbnail.
THUMB_SIDE = 96
JPEG_QUALITY = 88
#: Photos up to this side are stored as PNG: JPEG's blocks would show on a few dozen pixels.
SMALL_PHOTO = 128
#: Marks a folder as a glas report's, so a rebuild may replace it and nothing else.
MARKER = ".glas-report"


def map_status(saliency: np.ndarray) -> str:
    """``"ok"``, ``"flat"`` (max == min: nothing is salient) or ``"nonfinite"`` (NaN or inf)."""
    arr = np.asarray(saliency, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        return "nonfinite"
    return "ok" if arr.max() > arr.min() else "flat"


def colourise(saliency: np.ndarray) -> np.ndarray:
    """``(H, W)`` finite map -> ``(H, W, 3)`` uint8 RGB: min-max normalised, then the colour map."""
    return _coloured(minmax_normalize(np.asarray(saliency, dtype=np.float64)))


def _coloured(norm: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> uint8 RGB through matplotlib's ``DEFAULT_CMAP`` (256 colours)."""
    return _colour_map()(norm, bytes=True)[..., :3]


@functools.lru_cache(maxsize=1)
def _colour_map() -> Any:
    # matplotlib.colormaps[...] hands out a new copy whose table is rebuilt on first use: keep one.
    import matplotlib

    return matplotlib.colormaps[DEFAULT_CMAP]


def colour_bar(width: int = 256, height: int = 14) -> np.ndarray:
    """The colour map from 0 (left) to 1 (right) as an ``(height, width, 3)`` uint8 image."""
    return np.repeat(_coloured(np.linspace(0.0, 1.0, width))[None], height, axis=0)


def display_photo(pixels: np.ndarray, side: int = PHOTO_SIDE) -> np.ndarray:
    """``(H, W, 3)`` float photo in [0, 1] -> uint8, downscaled so its longest side is at most ``side``."""
    from PIL import Image

    image = Image.fromarray(np.round(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.uint8))
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    return np.asarray(image)


def overlay_thumbnail(photo: np.ndarray | None, saliency: np.ndarray | None, side: int = THUMB_SIDE) -> np.ndarray:
    """A small picture of the photo with the map blended over it at ``DEFAULT_ALPHA``.

    The map is resized in data space (bilinear) to the thumbnail, then coloured, as matplotlib
    draws it; without a photo the thumbnail is the map alone, without a (finite) map the photo alone.
    """
    from PIL import Image

    if photo is None and saliency is None:
        raise ValueError("a thumbnail needs a photo or a map")
    if photo is not None:
        small = Image.fromarray(photo)
        small.thumbnail((side, side), Image.Resampling.LANCZOS)
        base = np.asarray(small).astype(np.float64)
        size = (base.shape[1], base.shape[0])
    else:
        assert saliency is not None  # checked above: a photo or a map
        h, w = saliency.shape
        scale = side / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if saliency is None:
        return base.astype(np.uint8)
    norm = minmax_normalize(np.asarray(saliency, dtype=np.float64)).astype(np.float32)
    resized = np.asarray(Image.fromarray(norm).resize(size, Image.Resampling.BILINEAR), dtype=np.float64)
    heat = _coloured(np.clip(resized, 0.0, 1.0)).astype(np.float64)
    if photo is None:
        return heat.astype(np.uint8)
    return np.round((1.0 - DEFAULT_ALPHA) * base + DEFAULT_ALPHA * heat).astype(np.uint8)


def encode(pixels: np.ndarray, fmt: str) -> bytes:
    """uint8 RGB pixels as PNG (lossless, for maps) or JPEG (photos and thumbnails) bytes."""
    from PIL import Image

    buf = io.BytesIO()
    image = Image.fromarray(pixels)
    if fmt == "png":
        image.save(buf, format="PNG")
    else:
        image.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


class Assets:
    """Where the pictures go: a folder beside the HTML (default) or data: URIs inside it.

    In folder mode files are written to a temporary folder beside the final one and moved into
    place by :meth:`commit`, so a rebuild that fails or is interrupted leaves the previous
    report whole.

    Parameters
    ----------
    folder : str or None
        Final folder (e.g. ``report_files`` beside ``report.html``); None embeds every picture.
    """

    def __init__(self, folder: str | None) -> None:
        self.folder = folder
        self.bytes_written = 0
        self._tmp: str | None = None
        if folder is not None:
            parent = os.path.dirname(os.path.abspath(folder))
            self._tmp = tempfile.mkdtemp(dir=parent, prefix=".glas-report-", suffix=".part")
            with open(os.path.join(self._tmp, MARKER), "w", encoding="utf-8") as fh:
                fh.write("written by glas report; replaced on every rebuild\n")

    def add(self, name: str, data: bytes) -> str:
        """Store one picture; returns the ``src`` the page uses for it."""
        self.bytes_written += len(data)
        if self._tmp is None:
            mime = "image/png" if name.endswith(".png") else "image/jpeg"
            return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
        assert self.folder is not None  # a sink with a temporary folder writes into a folder
        path = os.path.join(self._tmp, *name.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)
        return urllib.parse.quote(os.path.basename(self.folder)) + "/" + name

    def commit(self) -> None:
        """Put the new folder in place of the old one (folder mode)."""
        if self._tmp is None or self.folder is None:
            return
        old = None
        if os.path.exists(self.folder):
            old = self._tmp + ".old"
            os.replace(self.folder, old)
        os.replace(self._tmp, self.folder)
        self._tmp = None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def discard(self) -> None:
        """Remove the temporary folder of a build that did not finish."""
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> Assets:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.discard()
