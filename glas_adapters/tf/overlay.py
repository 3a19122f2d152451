"""Heat-map overlays as uint8 RGB arrays, drawn without matplotlib (tf-explain's conventions)."""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np

from glas_core.errors import fail
from glas_core.normalize import minmax_normalize

#: weight of the image in an overlay (tf-explain's default ``image_weight``)
DEFAULT_IMAGE_WEIGHT = 0.7


def jet(values: np.ndarray) -> np.ndarray:
    """The classic 'jet' colour map: values in [0, 1] -> float RGB in [0, 1] (last axis)."""
    v = np.clip(values, 0.0, 1.0)[..., None]
    centres = np.array([3.0, 2.0, 1.0])  # red, green, blue peak at 3/4, 1/2, 1/4
    return np.clip(1.5 - np.abs(4.0 * v - centres), 0.0, 1.0)


def _colorize(heat: np.ndarray, colormap: str) -> np.ndarray:
    if colormap == "jet":
        return jet(heat)
    try:
        from matplotlib import colormaps
    except ImportError:
        raise fail("colormap", repr(colormap), "'jet' when matplotlib is not installed",
                   "pip install matplotlib for other colour maps, or use colormap='jet'") from None
    return colormaps[colormap](heat)[..., :3]


def _display_rgb(image: np.ndarray) -> np.ndarray:
    """One (H, W, C) image min-max scaled to [0, 1] RGB (grey and alpha channels handled)."""
    image = minmax_normalize(np.asarray(image, dtype=np.float64))
    if image.shape[-1] >= 3:
        return image[..., :3]
    return np.repeat(image[..., :1], 3, axis=-1)


def overlay(images: np.ndarray, maps: np.ndarray, *, colormap: str = "jet",
            image_weight: float = DEFAULT_IMAGE_WEIGHT) -> np.ndarray:
    """Blend min-max normalised heat maps over images: ``(N, H, W, C), (N, H, W) -> (N, H, W, 3)`` uint8.

    Each pixel is ``image_weight * image + (1 - image_weight) * colour(map)``.
    """
    if not 0.0 <= image_weight <= 1.0:
        raise fail("image_weight", image_weight, "a number in [0, 1]", "use 0.7 (tf-explain's default)")
    out = []
    for image, heat in zip(images, maps):
        heat = minmax_normalize(np.asarray(heat))
        rgb = image_weight * _display_rgb(image) + (1.0 - image_weight) * _colorize(heat, colormap)
        out.append(np.round(255.0 * rgb).astype(np.uint8))
    return np.stack(out)


def grid_display(tiles: np.ndarray) -> np.ndarray:
    """Tile ``(N, H, W, 3)`` images in a near-square grid (row-major, black padding), as tf-explain does."""
    n, h, w, c = tiles.shape
    n_rows = math.ceil(math.sqrt(n))
    n_cols = math.ceil(n / n_rows)
    grid = np.zeros((n_rows * h, n_cols * w, c), dtype=tiles.dtype)
    for i, tile in enumerate(tiles):
        r, q = divmod(i, n_cols)
        grid[r * h:(r + 1) * h, q * w:(q + 1) * w] = tile
    return grid


def encode_png(image: np.ndarray) -> bytes:
    """A uint8 ``(H, W, C)`` image (C = 1, 3 or 4) as PNG bytes, with no imaging library.

    Eight bits per channel, no filtering, zlib-compressed rows: what any PNG reader (and
    TensorBoard) reads.
    """
    height, width, channels = image.shape
    colour_type = {1: 0, 3: 2, 4: 6}[channels]
    rows = np.concatenate([np.zeros((height, 1), np.uint8), image.reshape(height, width * channels)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
            + chunk(b"IEND", b""))
