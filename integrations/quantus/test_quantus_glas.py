"""Quantus localisation metrics accept glas_adapters.quantus.explain_func (a CNN trained here).

Same synthetic task as integrations/captum (a class shape and an equally bright distractor on
32x32 images). Measured when written (24 test images, grid 8, sigma 1 cell): PointingGame
1.00, AttributionLocalisation 0.46, RelevanceMassAccuracy 0.46; a uniform-random
explain_func scores 0.08, 0.05, 0.05 (the box covers 5% of the image). The bars are set
between the two.
"""

from __future__ import annotations

import numpy as np
import pytest

quantus = pytest.importorskip("quantus")

from glas_adapters.quantus import explain_func  # noqa: E402
from integrations.captum.synthetic import make_dataset, train_tiny_cnn  # noqa: E402

pytestmark = pytest.mark.integration

KWARGS = {"grid": 8, "sigma": 1.0}


def random_explain_func(model, inputs, targets, **kwargs):
    """The chance baseline: a uniform random map per example."""
    rng = np.random.default_rng(0)
    return rng.random((inputs.shape[0], 1) + tuple(inputs.shape[2:])).astype(np.float32)


@pytest.fixture(scope="module")
def batch():
    model = train_tiny_cnn()
    x, y, boxes = make_dataset(24, seed=7)
    return model, x.numpy(), y.numpy(), boxes[:, None].numpy().astype(np.float32)


def evaluate(metric, batch, fn, kwargs):
    model, x, y, s = batch
    scores = metric(model=model, x_batch=x, y_batch=y, a_batch=None, s_batch=s, explain_func=fn,
                    explain_func_kwargs=kwargs, device="cpu")
    assert len(scores) == len(x)
    return float(np.mean(scores))


@pytest.mark.parametrize("metric_name, bar", [
    ("PointingGame", 0.85),
    ("AttributionLocalisation", 0.25),
    ("RelevanceMassAccuracy", 0.25),
])
def test_localisation_metrics_accept_glas_and_score_above_chance(batch, metric_name, bar):
    metric = getattr(quantus, metric_name)(disable_warnings=True, display_progressbar=False)
    glas = evaluate(metric, batch, explain_func, KWARGS)
    chance = evaluate(metric, batch, random_explain_func, {})
    assert glas >= bar, f"{metric_name}: GLAS {glas:.3f} < {bar}"
    assert glas > chance + 0.15
