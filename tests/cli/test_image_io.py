"""The CLI's image loader: every mode converted as documented (or refused), and fuzzed.

Expected pixel values are written out by hand from the mode's definition, not read back
through the loader.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

Image = pytest.importorskip("PIL.Image")

from glas_adapters.cli.image_io import load_image  # noqa: E402
from glas_core import GLASError  # noqa: E402

from .helpers import png16  # noqa: E402


def _save(tmp_path, name, im, fmt=None, **kw):
    path = tmp_path / name
    im.save(path, fmt, **kw)
    return str(path)


def test_rgb_is_scaled_to_unit_range(tmp_path):
    px = np.array([[[0, 128, 255], [10, 20, 30]]], dtype=np.uint8)
    out = load_image(_save(tmp_path, "rgb.png", Image.fromarray(px)))
    assert out.dtype == np.float32 and out.shape == (1, 2, 3)
    np.testing.assert_allclose(out, px / 255.0, rtol=1e-6)


def test_grayscale_and_bilevel_become_grey_rgb(tmp_path):
    grey = np.array([[0, 100, 255]], dtype=np.uint8)
    out = load_image(_save(tmp_path, "l.png", Image.fromarray(grey, mode="L")))
    np.testing.assert_allclose(out, np.repeat(grey[..., None] / 255.0, 3, axis=-1), rtol=1e-6)
    bits = Image.fromarray(np.array([[True, False]]))
    np.testing.assert_allclose(load_image(_save(tmp_path, "1.png", bits)), [[[1, 1, 1], [0, 0, 0]]])


def test_transparency_is_composited_over_white(tmp_path):
    rgba = np.array([[[255, 0, 0, 255], [0, 0, 255, 0], [0, 0, 0, 128]]], dtype=np.uint8)
    out = load_image(_save(tmp_path, "rgba.png", Image.fromarray(rgba, mode="RGBA")))
    # opaque red stays red; fully transparent is white; half-transparent black is mid grey
    np.testing.assert_allclose(out[0, 0], [1, 0, 0], atol=1 / 255)
    np.testing.assert_allclose(out[0, 1], [1, 1, 1], atol=1 / 255)
    np.testing.assert_allclose(out[0, 2], [127 / 255] * 3, atol=1.5 / 255)


def test_palette_with_transparent_index(tmp_path):
    im = Image.new("P", (2, 1))
    im.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    im.putpixel((0, 0), 0)
    im.putpixel((1, 0), 1)
    path = _save(tmp_path, "p.png", im, transparency=1)
    np.testing.assert_allclose(load_image(path)[0], [[1, 0, 0], [1, 1, 1]], atol=1e-6)


def test_cmyk_is_converted(tmp_path):
    cmyk = Image.new("CMYK", (2, 1))
    cmyk.putpixel((0, 0), (0, 255, 0, 0))      # pure magenta ink
    cmyk.putpixel((1, 0), (0, 0, 0, 255))      # pure black ink
    out = load_image(_save(tmp_path, "c.tiff", cmyk))
    np.testing.assert_allclose(out[0], [[1, 0, 1], [0, 0, 0]], atol=1e-6)


def test_sixteen_bit_grayscale_keeps_its_precision(tmp_path):
    values = np.array([[0, 1, 257, 65535]], dtype=np.uint16)
    path = tmp_path / "g16.png"
    path.write_bytes(png16(values))
    out = load_image(str(path))
    np.testing.assert_allclose(out[..., 0], values / 65535.0, rtol=1e-6)
    assert out[0, 1, 0] > 0  # value 1 of 65535 survives (an 8-bit cut would make it 0)
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


def test_sixteen_bit_rgb_is_read(tmp_path):
    values = np.array([[[65535, 0, 32896]]], dtype=np.uint16)
    path = tmp_path / "rgb16.png"
    path.write_bytes(png16(values))
    np.testing.assert_allclose(load_image(str(path))[0, 0], [1.0, 0.0, 128 / 255], atol=1 / 255)


def test_wide_int32_and_float_images_are_refused(tmp_path):
    wide = Image.fromarray(np.array([[0, 70000]], dtype=np.int32), mode="I")
    with pytest.raises(GLASError, match="32-bit integer"):
        load_image(_save(tmp_path, "i.tiff", wide))
    narrow = Image.fromarray(np.array([[0, 65535]], dtype=np.int32), mode="I")
    np.testing.assert_allclose(load_image(_save(tmp_path, "i16.tiff", narrow))[0, :, 0], [0, 1])
    with pytest.raises(GLASError, match="32-bit float"):
        load_image(_save(tmp_path, "f.tiff", Image.fromarray(np.zeros((2, 2), np.float32), mode="F")))


def test_exif_orientation_is_applied(tmp_path):
    im = Image.fromarray(np.zeros((10, 20, 3), dtype=np.uint8))      # 10 high, 20 wide
    exif = Image.Exif()
    exif[0x0112] = 6                                                 # "rotate 90 CW to display"
    out = load_image(_save(tmp_path, "rot.jpg", im, exif=exif))
    assert out.shape == (20, 10, 3)


def test_missing_directory_and_empty_files(tmp_path):
    with pytest.raises(GLASError, match="not found"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(GLASError, match="directory"):
        load_image(tmp_path)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(GLASError, match="could not decode"):
        load_image(empty)


def test_decompression_bombs_are_refused(tmp_path, monkeypatch):
    path = _save(tmp_path, "big.png", Image.new("RGB", (64, 64)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)       # 64*64 > 1000: warning zone
    with pytest.raises(GLASError, match="too large"):
        load_image(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)        # > 2x the limit: Pillow's error
    with pytest.raises(GLASError, match="too large"):
        load_image(path)


def _encoded(fmt: str) -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    mode = "P" if fmt == "GIF" else "RGB"
    Image.fromarray((rng.random((24, 32, 3)) * 255).astype(np.uint8)).convert(mode).save(buf, fmt)
    return buf.getvalue()


VALID = {fmt: _encoded(fmt) for fmt in ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")}


def _loads_or_refuses(tmp_path, data: bytes) -> None:
    """The loader's contract: a finite (H, W, 3) float32 image in [0, 1], or a one-line GLASError."""
    path = tmp_path / "fuzz.img"
    path.write_bytes(data)
    try:
        out = load_image(path)
    except GLASError as exc:
        assert "\n" not in str(exc)
        return
    assert out.dtype == np.float32 and out.ndim == 3 and out.shape[-1] == 3 and min(out.shape[:2]) >= 1
    assert np.all(np.isfinite(out)) and out.min() >= 0.0 and out.max() <= 1.0


_FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_FUZZ
@given(fmt=st.sampled_from(sorted(VALID)), fraction=st.floats(0.0, 1.0))
def test_fuzz_truncated_files(tmp_path, fmt, fraction):
    data = VALID[fmt]
    _loads_or_refuses(tmp_path, data[: int(len(data) * fraction)])


@_FUZZ
@given(data=st.binary(max_size=2048))
def test_fuzz_random_bytes(tmp_path, data):
    _loads_or_refuses(tmp_path, data)


@_FUZZ
@given(fmt=st.sampled_from(sorted(VALID)), header=st.binary(max_size=512))
def test_fuzz_valid_magic_with_random_body(tmp_path, fmt, header):
    _loads_or_refuses(tmp_path, VALID[fmt][:16] + header)


@_FUZZ
@given(fmt=st.sampled_from(sorted(VALID)), flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)),
                                                           min_size=1, max_size=8))
def test_fuzz_corrupted_bytes(tmp_path, fmt, flips):
    data = bytearray(VALID[fmt])
    for pos, value in flips:
        data[pos % len(data)] = value
    _loads_or_refuses(tmp_path, bytes(data))
