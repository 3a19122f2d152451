"""CaptionExplainer.explain speaks the adapters' keyword vocabulary: config=, None defaults, baseline."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from glas_adapters.hf import CaptionExplainer  # noqa: E402
from glas_core import DEFAULT_SIGMA, GLASConfig, GLASError  # noqa: E402

from .conftest import MEAN, STD  # noqa: E402


def spy_explainer(families, image_processor, seen):
    """An explainer whose custom scoring records every batch it is given."""
    model, tokenizer, _ = families["ved"]

    def token_logprobs(pixel_values, target_ids):
        seen.append(pixel_values.clone())
        brightness = pixel_values.mean(dim=(1, 2, 3))
        return -torch.nn.functional.softplus(-brightness)[:, None].expand(-1, target_ids.shape[0]) * 0.1

    return CaptionExplainer(model, image_processor, tokenizer=tokenizer, token_logprobs=token_logprobs)


def test_config_gives_the_same_maps_as_the_keywords(families, image_processor, image):
    model, tokenizer, caption = families["git"]
    explainer = CaptionExplainer(model, image_processor, tokenizer=tokenizer)
    by_config = explainer.explain(image, caption, config=GLASConfig(grid=3, sigma=1.5, lam=1e-3))
    by_keywords = explainer.explain(image, caption, grid=3, sigma=1.5, lam=1e-3)
    np.testing.assert_array_equal(by_config.maps, by_keywords.maps)
    assert not np.allclose(by_config.maps, explainer.explain(image, caption, grid=3).maps)
    with pytest.raises(GLASError, match="config must be either config= or the setting keywords"):
        explainer.explain(image, caption, grid=3, config=GLASConfig(grid=3))


def test_none_defaults_and_sigma_with_sigma_px(families, image_processor, image):
    model, tokenizer, caption = families["git"]
    explainer = CaptionExplainer(model, image_processor, tokenizer=tokenizer)
    default = explainer.explain(image, caption, grid=3)
    explicit = explainer.explain(image, caption, grid=3, sigma=DEFAULT_SIGMA, mode="fusion", lam=1e-5)
    np.testing.assert_array_equal(default.maps, explicit.maps)
    with pytest.raises(GLASError, match="sigma must be left out when sigma_px is given"):
        explainer.explain(image, caption, grid=3, sigma=DEFAULT_SIGMA, sigma_px=2.0)


def test_batch_size_is_32_by_default_and_the_config_s_otherwise(families, image_processor, image):
    seen = []
    explainer = spy_explainer(families, image_processor, seen)
    caption = families["ved"][2]
    explainer.explain(image, caption, grid=4)  # the clean-image probe, then 2 * 16 + 1 = 33 rows
    assert [b.shape[0] for b in seen] == [1, 32, 1]
    seen.clear()
    explainer.explain(image, caption, config=GLASConfig(grid=4, batch_size=20))
    assert [b.shape[0] for b in seen] == [1, 20, 13]


def test_baseline_is_what_the_masks_fade_to_in_pixel_space(families, image_processor, image):
    seen = []
    explainer = spy_explainer(families, image_processor, seen)
    explainer.explain(image, families["ved"][2], grid=2, sigma_px=2.0, baseline=0.5)
    rows = torch.cat(seen[1:])  # seen[0] is the clean-image probe
    mean, std = torch.tensor(MEAN), torch.tensor(STD)
    # row 1 is the light at pixel (7.5, 7.5); the far corner (G ~ 1e-80) has faded to the baseline
    torch.testing.assert_close(rows[1][:, 31, 31], (0.5 - mean) / std, atol=1e-5, rtol=0)
