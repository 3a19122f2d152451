"""CaptionExplainer.explain: one sweep for every word, pixel-space perturbation, custom scoring."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import glas_core  # noqa: E402
from glas_adapters.hf import CaptionExplainer, CaptionExplanation  # noqa: E402

from .conftest import MEAN, STD  # noqa: E402


def test_one_sweep_equals_one_run_per_word(families, image_processor, image):
    """All words in one sweep of 2k^2+1 images give the same maps as T single-word GLAS runs."""
    model, tokenizer, caption = families["git"]
    explainer = CaptionExplainer(model, image_processor, tokenizer=tokenizer)
    calls = []
    exp = explainer.explain(image, caption, grid=4, sigma=1.5, batch_size=13,
                            progress=lambda done, total: calls.append((done, total)))
    assert isinstance(exp, CaptionExplanation)
    assert exp.words == ["the", "cat", "runs", "with", "a", "red", "ball"]
    assert exp.maps.shape == (7, 32, 32) and exp.image.shape == (32, 32, 3)
    assert exp.result.n_forward == 2 * 4 * 4 + 1
    assert calls[-1] == (33, 33)

    # The sweep runs on log-probabilities: each word's map is the paper's Eq. 3 divided by
    # exp(log_scale), its largest point weight. A probability-domain run per word is the reference.
    scorer = explainer.scorer(image, caption)
    scale = np.exp(glas_core.to_numpy(exp.result.log_scale).astype(np.float64))
    for t in range(len(exp.words)):
        single = glas_core.explain(lambda b, t=t: scorer(b)[:, t:t + 1], scorer.pixels, grid=4, sigma=1.5,
                                   batch_size=13)
        expected = single.to_numpy()[0].astype(np.float64)
        np.testing.assert_allclose(exp.maps[t] * scale[t], expected, rtol=2e-4, atol=1e-6 * expected.max())
    np.testing.assert_allclose(exp.word_probs, scorer(scorer.pixels[None])[0].numpy(), rtol=1e-5)


def test_explain_generates_a_caption_when_none_is_given(families, image_processor, image):
    model, tokenizer, _ = families["blip"]
    exp = CaptionExplainer(model, image_processor, tokenizer=tokenizer).explain(image, grid=3, max_new_tokens=5)
    assert 1 <= len(exp.words) <= 5
    assert exp.maps.shape == (len(exp.words), 32, 32)
    assert exp.caption == " ".join(exp.words)
    special = set(tokenizer.all_special_ids)
    assert all(i not in special for ids in exp.token_ids for i in ids)


@pytest.mark.filterwarnings("ignore:the model's score of target")  # constant scores: every map is flat
def test_masks_act_on_pixels_and_normalisation_follows(families, image_processor, image):
    """The model sees (mask * pixels - mean) / std: a shadow is black, not the dataset mean."""
    model, tokenizer, caption = families["ved"]
    seen = []

    def token_logprobs(pixel_values, target_ids):
        seen.append(pixel_values.clone())
        return torch.full((pixel_values.shape[0], target_ids.shape[0]), -0.5)

    explainer = CaptionExplainer(model, image_processor, tokenizer=tokenizer, token_logprobs=token_logprobs)
    explainer.explain(image, caption, grid=2, sigma_px=2.0, batch_size=64)
    assert seen[0].shape[0] == 1  # the clean image, scored once before the sweep (a probe of the inputs)
    rows = torch.cat(seen[1:])
    assert rows.shape[0] == 2 * 4 + 1
    mean = torch.tensor(MEAN).view(3, 1, 1)
    std = torch.tensor(STD).view(3, 1, 1)
    clean = image_processor(images=image, return_tensors="pt")["pixel_values"][0]  # the processor's own normalisation
    torch.testing.assert_close(rows[0], clean, atol=1e-5, rtol=1e-5)
    # Row 1 is the light at the first grid point, pixel (7.5, 7.5) for k=2 on 32 px, sigma 2 px:
    # pixel (7, 7) keeps exp(-(0.5^2 + 0.5^2) / (2 * 2^2)) of its clean value, and the far corner
    # (G ~ 1e-80) is black, (0 - mean) / std, not the dataset mean.
    pixels01 = clean * std + mean
    lit = rows[1] * std + mean
    torch.testing.assert_close(lit[:, 7, 7], pixels01[:, 7, 7] * float(np.exp(-0.5 / 8.0)), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(rows[1][:, 31, 31], ((0.0 - mean) / std)[:, 0, 0], atol=1e-5, rtol=0)
    # The last shadow row darkens around (23.5, 23.5) and leaves the top-left corner as it was.
    shadowed = rows[-1] * std + mean
    torch.testing.assert_close(shadowed[:, 23, 23], pixels01[:, 23, 23] * float(1 - np.exp(-0.5 / 8.0)),
                               atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(shadowed[:, 0, 0], pixels01[:, 0, 0], atol=1e-5, rtol=1e-5)


def test_custom_token_logprobs_path(families, image_processor, image):
    """A callable scoring path for unsupported families: word scores follow its log-probs."""
    model, tokenizer, caption = families["ved"]

    def token_logprobs(pixel_values, target_ids):
        brightness = pixel_values.mean(dim=(1, 2, 3))  # (B,)
        return -torch.nn.functional.softplus(-brightness)[:, None].expand(-1, target_ids.shape[0]) * 0.1

    explainer = CaptionExplainer(object(), image_processor, tokenizer=tokenizer, token_logprobs=token_logprobs)
    scorer = explainer.scorer(image, caption)
    ids = tokenizer(caption)["input_ids"]
    assert scorer.tokens.target_ids.tolist() == ids
    x = scorer.pixels[None]
    normalised = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    per_token = -torch.nn.functional.softplus(-normalised.mean()) * 0.1
    for column, word in enumerate(scorer.words):
        expected = torch.exp(per_token * len(word.positions))
        assert torch.isclose(scorer(x)[0, column], expected, rtol=1e-5)
    exp = explainer.explain(image, caption, grid=3)
    assert exp.maps.shape == (len(scorer.words), 32, 32) and np.all(np.isfinite(exp.maps))


def test_plot_draws_one_titled_panel_per_word(families, image_processor, image):
    pytest.importorskip("matplotlib")
    model, tokenizer, caption = families["git"]
    exp = CaptionExplainer(model, image_processor, tokenizer=tokenizer).explain(image, caption, grid=3)
    fig = exp.plot(cols=3)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["image", *exp.words]


def test_explanation_renders_inline_in_a_notebook(families, image_processor, image):
    pytest.importorskip("matplotlib")
    model, tokenizer, caption = families["git"]
    exp = CaptionExplainer(model, image_processor, tokenizer=tokenizer).explain(image, caption, grid=3)
    assert exp._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"


def test_progress_true_draws_a_bar(families, image_processor, image, capsys):
    pytest.importorskip("tqdm")
    model, tokenizer, caption = families["git"]
    exp = CaptionExplainer(model, image_processor, tokenizer=tokenizer).explain(image, caption, grid=2,
                                                                               progress=True)
    assert exp.result.n_forward == 9
    assert "9/9" in capsys.readouterr().err
