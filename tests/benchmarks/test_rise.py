"""RISE (``benchmarks/benchkit/rise.py``) against a direct reference written from the paper.

Petsiuk, Das and Saenko, "RISE: Randomized Input Sampling for Explanation of Black-box
Models", BMVC 2018, Section 3.2: N binary s x s grids (cells kept with probability p), each
upsampled bilinearly to (s + 1) * cell pixels and cropped at a random shift in [0, cell);
saliency S = sum_i f(I * M_i) * M_i / (N * p). The reference below takes the random draws
(grids and shifts) from the implementation and does everything else the obvious way: one
mask at a time, one pixel at a time, one forward call per mask. Image sides differ
(10 x 13), so a transposed grid, swapped shifts or a wrong axis shows.

NumPy only; the torch cases skip without torch.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchkit.rise import RiseMasks, rise

SHAPE = (2, 10, 13)  # (C, H, W)


def _score_fn(batch: np.ndarray) -> np.ndarray:
    """Two nonlinear scores of a (B, C, H, W) batch: (B, 2)."""
    b = np.asarray(batch, dtype=np.float64)
    w = np.linspace(-1.0, 1.0, math.prod(SHAPE)).reshape(SHAPE)
    first = 1.0 / (1.0 + np.exp(-(b * w).sum(axis=(1, 2, 3))))
    second = b[:, 0, 2:5, 3:9].mean(axis=(1, 2)) ** 2
    return np.stack([first, second], axis=1)


def _bilinear_pixel(grid: np.ndarray, row: int, col: int, out_h: int, out_w: int) -> float:
    """Value at output pixel (row, col) of ``grid`` resized to (out_h, out_w): bilinear
    interpolation with half-pixel centres, source coordinates clamped to the grid."""
    n_rows, n_cols = grid.shape
    sy = min(max((row + 0.5) * n_rows / out_h - 0.5, 0.0), n_rows - 1)
    sx = min(max((col + 0.5) * n_cols / out_w - 0.5, 0.0), n_cols - 1)
    y0, x0 = math.floor(sy), math.floor(sx)
    y1, x1 = min(y0 + 1, n_rows - 1), min(x0 + 1, n_cols - 1)
    fy, fx = sy - y0, sx - x0
    return ((1 - fy) * (1 - fx) * grid[y0, x0] + (1 - fy) * fx * grid[y0, x1]
            + fy * (1 - fx) * grid[y1, x0] + fy * fx * grid[y1, x1])


def _reference_mask(masks: RiseMasks, i: int) -> np.ndarray:
    """Mask i: grid i upsampled to (s + 1) * cell pixels, then the (H, W) window at shift i."""
    s, (cell_h, cell_w) = masks.s, masks.cell
    out_h, out_w = (s + 1) * cell_h, (s + 1) * cell_w
    grid = masks.grids[i].astype(np.float64)
    dy, dx = (int(v) for v in masks.shifts[i])
    mask = np.empty((masks.h, masks.w))
    for r in range(masks.h):
        for c in range(masks.w):
            mask[r, c] = _bilinear_pixel(grid, r + dy, c + dx, out_h, out_w)
    return mask


def _reference_rise(x: np.ndarray, masks: RiseMasks) -> np.ndarray:
    """sum_i f(x * M_i) M_i / (N p), one mask and one forward call at a time: (T, H, W)."""
    total = None
    for i in range(masks.n_masks):
        mask = _reference_mask(masks, i)
        scores = _score_fn((x * mask)[None])[0]
        term = scores[:, None, None] * mask[None]
        total = term if total is None else total + term
    return total / (masks.n_masks * masks.p)


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(7).random(SHAPE).astype(np.float32)


@pytest.mark.parametrize("batch_size", [1, 5, 12, 64])
def test_rise_matches_the_direct_reference(image, batch_size):
    n_masks, s, p, seed = 12, 3, 0.4, 3
    got = rise(_score_fn, image, n_masks=n_masks, s=s, p=p, batch_size=batch_size, seed=seed)
    expected = _reference_rise(image, RiseMasks(n_masks, SHAPE[1:], s=s, p=p, seed=seed))
    assert got.shape == (2, *SHAPE[1:])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_masks_match_the_reference_and_do_not_depend_on_the_chunk_size():
    masks = RiseMasks(7, SHAPE[1:], s=4, p=0.5, seed=1)
    assert masks.cell == (3, 4)  # ceil(10 / 4), ceil(13 / 4)
    whole = next(masks.chunks(64))
    in_threes = np.concatenate(list(masks.chunks(3)))
    np.testing.assert_array_equal(whole, in_threes)
    assert whole.dtype == np.float32 and whole.shape == (7, *SHAPE[1:])
    for i in range(7):
        np.testing.assert_allclose(whole[i], _reference_mask(masks, i), rtol=0, atol=1e-6)


def test_draws_keep_cells_with_probability_p_and_shift_within_a_cell():
    masks = RiseMasks(4000, (64, 48), s=8, p=0.3, seed=0)
    assert masks.grids.shape == (4000, 8, 8) and masks.grids.dtype == bool
    assert abs(masks.grids.mean() - 0.3) < 0.01  # 256000 Bernoulli(0.3) draws: sd 0.0009
    assert masks.shifts.shape == (4000, 2)
    assert masks.shifts[:, 0].min() == 0 and masks.shifts[:, 0].max() == masks.cell[0] - 1 == 7
    assert masks.shifts[:, 1].min() == 0 and masks.shifts[:, 1].max() == masks.cell[1] - 1 == 5


def test_reference_upsampling_is_torch_bilinear():
    """The reference's pixel rule is the usual one: torch's bilinear, align_corners=False."""
    torch = pytest.importorskip("torch")
    grid = np.random.default_rng(2).random((3, 4))
    expected = torch.nn.functional.interpolate(torch.from_numpy(grid)[None, None], size=(11, 7),
                                               mode="bilinear", align_corners=False)[0, 0].numpy()
    got = np.array([[_bilinear_pixel(grid, r, c, 11, 7) for c in range(7)] for r in range(11)])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_torch_input_gives_the_numpy_result(image):
    torch = pytest.importorskip("torch")

    def torch_score_fn(batch):
        assert isinstance(batch, torch.Tensor) and batch.dtype == torch.float32
        return torch.from_numpy(_score_fn(batch.numpy()))

    expected = rise(_score_fn, image, n_masks=9, s=3, p=0.5, batch_size=4, seed=5)
    got = rise(torch_score_fn, torch.from_numpy(image), n_masks=9, s=3, p=0.5, batch_size=4, seed=5)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)


def test_one_dimensional_scores_are_one_target(image):
    expected = rise(_score_fn, image, n_masks=6, s=3, p=0.5, seed=4)[:1]
    got = rise(lambda b: _score_fn(b)[:, 0], image, n_masks=6, s=3, p=0.5, seed=4)
    assert got.shape == (1, *SHAPE[1:])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)  # BLAS may sum one column differently
