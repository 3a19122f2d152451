"""The faithfulness metrics on a batch of all-zero maps: NaN (deletion, correlation) and misses
(pointing), as the "flat maps" column counts them, instead of Quantus's refusal of the batch."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("quantus")

from benchkit import faith_metrics as F  # noqa: E402


def test_all_zero_maps_give_nan_and_misses_and_a_real_map_does_not():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten()).eval()
    x = np.random.default_rng(0).uniform(size=(2, 3, 8, 8)).astype(np.float32)
    y = np.array([0, 1])
    zero = [np.zeros((8, 8), np.float32)] * 2
    box = np.zeros((8, 8), bool)
    box[2:5, 2:5] = True
    assert np.all(np.isnan(F.deletion_curves(model, x, y, zero, 3)[:, 1:]))
    assert np.all(np.isnan(F.faithfulness_correlation(model, x, y, zero, runs=3)))
    assert F.pointing_game(model, x, y, zero, [box, box]).tolist() == [0.0, 0.0]
    peak = np.zeros((8, 8), np.float32)
    peak[3, 3] = 1.0
    assert F.pointing_game(model, x, y, [peak, peak], [box, box]).tolist() == [1.0, 1.0]
    assert np.all(np.isfinite(F.deletion_curves(model, x, y, [peak + 0.1, peak], 3)))
