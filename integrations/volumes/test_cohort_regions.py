"""End to end: a 3-D CNN trained here on synthetic atlas volumes; the two regions that
decide the class must top the cohort ranking of region-centroid GLAS.

The data (examples/volume_regions.py): 24^3 volumes, 12 Voronoi atlas regions; "AD" when both
`hippocampus` and `amygdala` are brighter (+0.3 over a 0.45 +- 0.06 tissue level), with hard
negatives where only one of them is. Torch runs with 1 thread (the root conftest.py).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.integration

from glas_adapters import torch as glas_torch  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "volume_regions.py"


@pytest.fixture(scope="module")
def trained():
    spec = importlib.util.spec_from_file_location("volume_regions", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    atlas = mod.make_atlas()
    model = mod.train(*mod.make_cohort(atlas, 300, seed=1))
    test_x, test_y = mod.make_cohort(atlas, 60, seed=2)
    return mod, atlas, model, test_x, test_y


def test_model_learned_the_task(trained):
    _, _, model, test_x, test_y = trained
    with torch.no_grad():
        accuracy = (model(torch.from_numpy(test_x)).argmax(1).numpy() == test_y).mean()
    assert accuracy >= 0.9, accuracy  # the class is a clean function of two region means


def test_known_regions_top_the_cohort_ranking(trained):
    mod, atlas, model, test_x, test_y = trained
    cohort, n_forward = mod.cohort_ranking(model, test_x[test_y == 1], atlas)
    assert n_forward == (2 * 12 + 1) * int((test_y == 1).sum())
    by_point = cohort.ranking("point_score")
    by_map = cohort.ranking("map_mean")
    assert {n for n, _ in by_point[:2]} == set(mod.KNOWN), by_point
    assert {n for n, _ in by_map[:2]} == set(mod.KNOWN), by_map
    # a clear margin: the best other region scores under half of the weaker known region
    assert by_point[2][1] < 0.5 * by_point[1][1], by_point
    cmap = cohort.map()
    assert cmap.shape == atlas.shape and cmap.min() == 0.0 and cmap.max() == 1.0


def test_attribution_on_volumes_has_the_input_shape(trained):
    _, atlas, model, test_x, _ = trained
    x = torch.from_numpy(test_x[:2])
    attr = glas_torch.GLASAttribution(model).attribute(x, target=1, grid=4, sigma=1.0, perturbations_per_eval=32)
    assert attr.shape == x.shape
    single = glas_torch.explain(model, x[0], targets=1, grid=4, sigma=1.0, spatial_dims=3, return_result=True)
    np.testing.assert_allclose(attr[0, 0].numpy(), single.saliency[0].numpy(), rtol=1e-5, atol=1e-8)
