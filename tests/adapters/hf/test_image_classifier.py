"""HFImageClassifier: HF image classifiers take raw [0, 1] pixels in GLASAttribution and explain."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import glas_core  # noqa: E402
from glas_adapters.hf import HFImageClassifier  # noqa: E402
from glas_core import GLASError  # noqa: E402

from .conftest import MEAN, SIZE, STD  # noqa: E402


@pytest.fixture(scope="module")
def classifier(image_processor):
    import transformers

    config = transformers.ViTConfig(image_size=SIZE, patch_size=8, hidden_size=32, num_hidden_layers=2,
                                    num_attention_heads=4, intermediate_size=37, num_labels=5)
    torch.manual_seed(4)
    model = transformers.ViTForImageClassification(config).eval()
    return model, HFImageClassifier(model, image_processor)


def reference_score(model, target):
    """Independent score: normalise with the processor's mean/std by hand, then softmax."""
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)

    @torch.no_grad()
    def score(batch):
        return torch.softmax(model(pixel_values=(batch - mean) / std).logits, -1)[:, [target]]

    return score


def test_logits_match_the_processor_pipeline(classifier, image_processor, image):
    model, clf = classifier
    x = clf.prepare(image)
    assert x.shape == (3, SIZE, SIZE) and float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    with torch.no_grad():
        ours = clf(x[None])
        theirs = model(pixel_values=image_processor(images=image, return_tensors="pt")["pixel_values"]).logits
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def unit_max(a):
    """A map divided by its maximum: the torch adapter fuses log-probabilities, which scales each map by a
    positive factor, so maps are compared after this (the paper's Eq. 3 up to that factor)."""
    a = np.asarray(a, dtype=np.float64)
    return a / a.max()


def test_glas_attribution_takes_raw_pixels(classifier, image):
    from glas_adapters.torch import GLASAttribution

    model, clf = classifier
    x = clf.prepare(image)[None]
    maps = GLASAttribution(clf).attribute(x, target=2, grid=3, sigma=1.0, perturbations_per_eval=7)
    expected = glas_core.explain(reference_score(model, 2), x[0], grid=3, sigma=1.0).to_numpy()[0]
    assert maps.shape == x.shape
    np.testing.assert_allclose(unit_max(maps[0, 0].detach().numpy()), unit_max(expected), rtol=1e-4, atol=1e-6)


def test_functional_explain_and_score_fn(classifier, image):
    from glas_adapters import torch as glas_torch

    model, clf = classifier
    x = clf.prepare(image)
    both = glas_torch.explain(clf, x, targets=[1, 3], grid=3, sigma=1.0, return_result=True)
    ours = glas_core.explain(clf.score_fn([1, 3]), x, grid=3, sigma=1.0).to_numpy()
    logged = glas_core.explain(clf.score_fn([1, 3], log=True), x, grid=3, sigma=1.0, log_scores=True)
    scale = np.exp(glas_core.to_numpy(logged.log_scale).astype(np.float64))
    for column, target in enumerate([1, 3]):
        expected = glas_core.explain(reference_score(model, target), x, grid=3, sigma=1.0).to_numpy()[0]
        np.testing.assert_allclose(unit_max(glas_core.to_numpy(both.saliency)[column]), unit_max(expected),
                                   rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(ours[column], expected, rtol=1e-4, atol=1e-7)
        # log=True: the same map divided by exp(log_scale), the target's largest point weight
        np.testing.assert_allclose(logged.to_numpy()[column] * scale[column], expected, rtol=2e-4,
                                   atol=1e-6 * expected.max())


def test_unbatched_pixels_are_an_error(classifier, image):
    _, clf = classifier
    with pytest.raises(GLASError, match="batch"):
        clf(clf.prepare(image))


@pytest.mark.parametrize("target, message", [
    (5, r"target must be a class index in \[0, 5\), got 5"),
    (-1, r"in \[0, 5\), got -1"),
    ("LABEL_2", r"target must be a class index \(int\), got 'LABEL_2'; pass the class index: "
                r"model.config.label2id\['LABEL_2'\] is 2"),
    ([1, "cat"], r"got 'cat'"),
    (True, "class index"),
    ([], "empty list"),
])
def test_score_fn_refuses_labels_the_model_has_not(classifier, target, message):
    _, clf = classifier
    with pytest.raises(GLASError, match=message) as info:
        clf.score_fn(target)
    assert "\n" not in str(info.value)


def test_processor_of_another_size_is_refused(classifier, image):
    import transformers

    model, _ = classifier
    wrong = HFImageClassifier(model, transformers.ViTImageProcessorPil(size={"height": 48, "width": 48}))
    with pytest.raises(GLASError, match=r"32 x 32 pixels the model is built for, got ViTImageProcessorPil "
                                        r"resizing to 48 x 48"):
        wrong.prepare(image)
