"""Shared helpers of the CLI tests: run ``glas`` in-process, build tiny models and image files."""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass

import numpy as np


@dataclass
class Run:
    code: int
    out: str
    err: str


def run_glas(capsys, *argv: str) -> Run:
    """Call ``glas_adapters.cli.main`` and capture its exit status and output."""
    from glas_adapters.cli import main

    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse exits on usage errors
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


def assert_one_line_error(run: Run, *fragments: str) -> None:
    """Exit status 2, exactly one ``glas: error:`` line on stderr, no traceback."""
    assert run.code == 2, (run.code, run.err)
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert len(lines) == 1, run.err
    assert lines[0].startswith("glas: error: "), run.err
    assert "Traceback" not in run.err
    for fragment in fragments:
        assert fragment.lower() in lines[0].lower(), (fragment, lines[0])


def files_under(path: str) -> list[str]:
    """Every file below ``path`` (hidden temporaries included), relative; [] if it does not exist."""
    found = []
    for root, _, names in os.walk(path):
        found += [os.path.relpath(os.path.join(root, n), path) for n in names]
    return sorted(found)


def png16(pixels: np.ndarray) -> bytes:
    """A 16-bit PNG (grayscale for 2-D, RGB for 3-D uint16 input), written by hand."""
    height, width = pixels.shape[:2]
    colour_type = 2 if pixels.ndim == 3 else 0

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + pixels[r].astype(">u2").tobytes() for r in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def save_rgb(path: str, pixels01: np.ndarray) -> str:
    """Save an (H, W, 3) float image in [0, 1] as an 8-bit PNG (exactly representable values)."""
    from PIL import Image

    Image.fromarray(np.round(pixels01 * 255).astype(np.uint8), mode="RGB").save(path)
    return path


def make_quadrant_model():
    """Two classes: logit_0 = 8 * mean(red channel in the top-left quadrant), logit_1 = 2."""
    import torch

    class Quadrant(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = x.shape[-2] // 2
            w = x.shape[-1] // 2
            a = 8.0 * x[:, 0, :h, :w].mean(dim=(1, 2))
            return torch.stack([a, torch.full_like(a, 2.0)], dim=1)

    return Quadrant().eval()


def quadrant_probabilities(batch: np.ndarray) -> np.ndarray:
    """NumPy reference of the quadrant model: softmax probabilities ``(B, 2)`` of a (B, 3, H, W) batch."""
    h, w = batch.shape[-2] // 2, batch.shape[-1] // 2
    a = 8.0 * batch[:, 0, :h, :w].mean(axis=(1, 2))
    logits = np.stack([a, np.full_like(a, 2.0)], axis=1)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def per_map_peak(maps: np.ndarray) -> np.ndarray:
    """Each (H, W) map of ``(..., H, W)`` divided by its own maximum |value|.

    GLAS maps are defined up to one positive factor per map (log-domain adapters divide Eq. 3 by
    one), so the command's maps are compared with a reference after this.
    """
    arr = np.asarray(maps, dtype=np.float64)
    peak = np.abs(arr).max(axis=(-2, -1), keepdims=True)
    return arr / np.where(peak > 0, peak, 1.0)


def assert_maps_match(actual: np.ndarray, reference: np.ndarray, atol: float = 1e-4) -> None:
    """Same shape and, map by map, the same values up to one positive factor (atol of the peak)."""
    assert np.shape(actual) == np.shape(reference), (np.shape(actual), np.shape(reference))
    np.testing.assert_allclose(per_map_peak(actual), per_map_peak(reference), rtol=0, atol=atol)


def make_slow_quadrant_model(work: int = 60):
    """The quadrant model, plus ``work`` small matrix products per row that change nothing.

    It makes each image take a noticeable time, so a test can interrupt a run in the middle.
    """
    import torch

    class SlowQuadrant(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.work = work

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = x.shape[-2] // 2
            w = x.shape[-1] // 2
            a = 8.0 * x[:, 0, :h, :w].mean(dim=(1, 2))
            y = x.reshape(x.shape[0], -1)[:, :64]
            m = torch.eye(64, dtype=x.dtype)
            for _ in range(self.work):
                y = torch.tanh(y @ m)
            a = a + 0.0 * y.sum(dim=1)  # keeps the work from being optimised away; adds exactly 0
            return torch.stack([a, torch.full_like(a, 2.0)], dim=1)

    return SlowQuadrant().eval()
