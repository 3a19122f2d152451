"""Images as RGB arrays: image files read safely, and in-memory pixels checked.

Every file either becomes an ``(H, W, 3)`` float32 array in [0, 1] or raises
:class:`glas_core.GLASError` with a one-line message; decoder exceptions never escape.

Image modes, and what happens to each:

* RGB, YCbCr: used as they are (YCbCr converted to RGB).
* Grayscale (L), bilevel (1), palette (P): converted to RGB by repeating the gray level or
  looking up the palette.
* With transparency (RGBA, LA, PA, P with a transparent colour): composited over a white
  background, as an image viewer shows them.
* CMYK: converted with Pillow's plain CMYK -> RGB formula (no ICC colour management).
* 16-bit grayscale (I;16 and its byte orders; I holding values in [0, 65535]): scaled by
  1/65535 to [0, 1] and repeated to RGB, so no precision is lost to an 8-bit cut.
* Refused: 32-bit float (F) and 32-bit integer images outside [0, 65535], whose pixel range is
  not defined, and any other mode Pillow cannot convert to RGB.

EXIF orientation is applied. Pillow's decompression-bomb limit stays in force.

In-memory pixels (a Ray Dataset's ``image`` column) go through :func:`rgb01`.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from glas_core.errors import GLASError, fail

_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file into an ``(H, W, 3)`` float32 RGB array in [0, 1].

    Parameters
    ----------
    path : str or path-like
        The image file (any format Pillow reads: PNG, JPEG, TIFF, BMP, WebP, GIF ...; the
        first frame of multi-frame files).

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` float32 in [0, 1].

    Raises
    ------
    GLASError
        Missing or unreadable file, a file that is not a decodable image (corrupt or
        truncated), an image too large to decode safely, or an unsupported mode.
    """
    from PIL import Image, ImageOps

    shown = os.fspath(path)
    if not os.path.exists(shown):
        raise fail("image file", f"{shown!r}, which was not found", "an existing file", "check the path")
    if os.path.isdir(shown):
        raise fail("image path", f"{shown!r}, which is a directory", "an image file",
                   f"pass image files, e.g. {shown}/*.jpg")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(shown) as im:
                im.load()
                im = ImageOps.exif_transpose(im)
                pixels = _to_rgb(im, shown)
    except GLASError:
        raise
    except PermissionError:
        raise fail("image file", f"{shown!r}, which is not readable", "a readable file",
                   "check its permissions") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise fail("image", f"{shown!r}, which is too large to decode safely",
                   f"at most Pillow's limit of {Image.MAX_IMAGE_PIXELS} pixels", "downscale it first") from None
    except Exception as exc:  # any decoder failure means the bytes are not a usable image
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise fail("image file", f"{shown!r}, which glas could not decode as an image ({reason})", "a decodable image",
                   "the file is corrupt, truncated or not an image: re-export it as PNG or JPEG") from None
    if pixels.ndim != 3 or min(pixels.shape[:2]) < 1:
        raise fail("image", f"{shown!r} with no pixels (shape {pixels.shape})", "a non-empty image",
                   "pass an image with at least one pixel")
    return pixels


def _to_rgb(im: Any, shown: str) -> np.ndarray:
    """A loaded Pillow image -> ``(H, W, 3)`` float32 in [0, 1], per the mode table above."""
    from PIL import Image

    mode = im.mode
    if mode in _SIXTEEN_BIT_MODES:
        gray = np.asarray(im).astype(np.float32) / 65535.0
        return np.repeat(gray[..., None], 3, axis=-1)
    if mode == "I":
        values = np.asarray(im)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise fail("image", f"{shown!r}, a 32-bit integer image with values in [{values.min()}, {values.max()}]",
                       "8- or 16-bit pixels", "rescale it to 0..65535 and save it as a 16-bit PNG")
        gray = values.astype(np.float32) / 65535.0
        return np.repeat(gray[..., None], 3, axis=-1)
    if mode == "F":
        raise fail("image", f"{shown!r}, a 32-bit float image (mode F) with no defined pixel range",
                   "8- or 16-bit pixels", "rescale it and save it as an 8- or 16-bit PNG")
    if mode == "P" and "transparency" in im.info:
        im, mode = im.convert("RGBA"), "RGBA"
    if mode in _ALPHA_MODES:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba)
    try:
        rgb = im.convert("RGB")
    except (ValueError, OSError):
        raise fail("image", f"{shown!r} of mode {mode!r}, which cannot be converted to RGB",
                   "RGB, grayscale, palette, CMYK or 16-bit grayscale", "re-export it as an RGB PNG or JPEG") from None
    pixels = np.asarray(rgb, dtype=np.float32)
    pixels /= 255.0  # in place: a 40-megapixel photo holds one float copy, not two (480 MB each)
    return pixels


def rgb01(pixels: Any) -> np.ndarray:
    """An in-memory ``(H, W, 3)`` image as float32 in [0, 1] (uint8 divided by 255).

    Raises
    ------
    GLASError
        Not ``(H, W, 3)``, neither uint8 nor float, or float values outside [0, 1].
    """
    arr = np.asarray(pixels)
    if arr.ndim != 3 or arr.shape[-1] != 3 or min(arr.shape[:2]) < 1:
        raise fail("image", f"an array of shape {arr.shape}", "an (H, W, 3) RGB image", "pass channels-last RGB pixels")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if not np.issubdtype(arr.dtype, np.floating):
        raise fail("image", f"pixels of dtype {arr.dtype}", "uint8 or float pixels in [0, 1]",
                   "convert the image first")
    if not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 1:
        raise fail("image", "float pixels outside [0, 1] (or not finite)", "float pixels in [0, 1]",
                   "divide 8-bit values by 255")
    return arr.astype(np.float32)


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an ``(H, W, 3)`` float image in [0, 1] to ``size = (height, width)``.

    Each channel is resampled in float (Pillow mode ``F``, bilinear with antialiasing when
    shrinking), so 16-bit inputs keep their precision.
    """
    from PIL import Image

    height, width = size
    if image.shape[:2] == (height, width):
        return image.astype(np.float32, copy=True)
    channels = [np.asarray(Image.fromarray(np.ascontiguousarray(image[..., c], dtype=np.float32), mode="F")
                           .resize((width, height), Image.BILINEAR)) for c in range(image.shape[-1])]
    return np.clip(np.stack(channels, axis=-1), 0.0, 1.0).astype(np.float32)
