"""Maps you can trust: bad captioner inputs get one-line GLASErrors; scores go to the core as log-probabilities."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from glas_adapters.hf import CaptionExplainer  # noqa: E402
from glas_core import GLASError  # noqa: E402
from tests.core.reference import reference_glas, reference_grid_points  # noqa: E402

from .conftest import MEAN, STD  # noqa: E402


def one_line_error(call, match):
    with pytest.raises(GLASError, match=match) as info:
        call()
    assert "\n" not in str(info.value)
    return str(info.value)


@pytest.mark.parametrize("make, hint", [
    (lambda: __import__("PIL.Image").Image.new("RGBA", (32, 32)), r"mode 'RGBA'.*image.convert\('RGB'\)"),
    (lambda: np.zeros((32, 32, 4), np.uint8), r"4 channels: RGBA.*image\[\.\.\., :3\]"),
    (lambda: np.zeros((4, 32, 32), np.uint8), "4 channels: RGBA"),
    (lambda: np.zeros((32, 32, 1), np.uint8), r"1 channel\(s\).*np.repeat"),
])
def test_alpha_and_grey_arrays_are_refused(make, hint, families, image_processor):
    model, tokenizer, caption = families["git"]
    explainer = CaptionExplainer(model, image_processor, tokenizer=tokenizer)
    one_line_error(lambda: explainer.explain(make(), caption, grid=2), hint)


def test_grey_pil_image_is_converted_to_rgb(families, image_processor):
    from PIL import Image

    model, tokenizer, caption = families["git"]
    grey = Image.fromarray((np.arange(32 * 32) % 251).astype(np.uint8).reshape(32, 32), mode="L")
    scorer = CaptionExplainer(model, image_processor, tokenizer=tokenizer).scorer(grey, caption)
    pixels = scorer.pixels
    assert pixels.shape == (3, 32, 32)
    torch.testing.assert_close(pixels[0], pixels[2])  # grey repeats in every channel
    torch.testing.assert_close(pixels[0], pixels[1])


@pytest.mark.parametrize("value", [0, -3, True, 2.5, "5"])
def test_max_new_tokens_must_be_a_positive_int(value, families, image_processor, image):
    model, tokenizer, _ = families["blip"]
    explainer = CaptionExplainer(model, image_processor, tokenizer=tokenizer)
    message = one_line_error(lambda: explainer.explain(image, grid=2, max_new_tokens=value),
                             "max_new_tokens must be a positive int")
    if isinstance(value, str):
        assert "got '5'" in message


def test_tokenizer_smaller_than_the_model_is_refused_not_a_caption_of_blanks(families, image_processor, image,
                                                                             wordpiece_tokenizer):
    """The VisionEncoderDecoder speaks the 280-token BPE; with the 22-token WordPiece its generated ids
    decode to nothing."""
    model, _, _ = families["ved"]
    explainer = CaptionExplainer(model, image_processor, tokenizer=wordpiece_tokenizer)
    one_line_error(lambda: explainer.explain(image, grid=2, max_new_tokens=5),
                   r"tokenizer must be the tokenizer the model was trained with")


def test_caption_tokens_outside_the_model_vocabulary_are_refused(families, image_processor, image, bpe_tokenizer):
    """GIT has 22 tokens; the BPE tokenizer gives ids up to 280: a raw IndexError without the check."""
    model, _, _ = families["git"]
    explainer = CaptionExplainer(model, image_processor, tokenizer=bpe_tokenizer)
    one_line_error(lambda: explainer.explain(image, "the cat runs with a red ball", grid=2),
                   r"token id \d+ \(the model's vocabulary has 22 tokens\)")


def test_processor_of_another_size_is_refused_before_the_sweep(families, image):
    import transformers

    model, tokenizer, caption = families["blip"]
    processor = transformers.ViTImageProcessorPil(size={"height": 48, "width": 48}, image_mean=list(MEAN),
                                                  image_std=list(STD))
    one_line_error(lambda: CaptionExplainer(model, processor, tokenizer=tokenizer).explain(image, caption, grid=2),
                   r"the 32 x 32 pixels the model's vision encoder is built for, got ViTImageProcessorPil resizing "
                   r"to 48 x 48 pixels")


@pytest.mark.parametrize("in_train", ["model", "text_encoder"])
def test_train_mode_model_is_scored_in_eval_mode_and_left_as_it_was(in_train, families, image_processor, image):
    """GIT has dropout 0.1: in training mode its scores would change from call to call."""
    model, tokenizer, caption = families["git"]
    explainer = CaptionExplainer(model, image_processor, tokenizer=tokenizer)
    reference = explainer.explain(image, caption, grid=2).maps
    if in_train == "model":
        model.train()
        model.git.image_encoder.eval()  # a mixed state, restored module by module
    else:
        model.git.encoder.train()  # only the text transformer (its dropout) in training mode
    modes = [m.training for m in model.modules()]
    try:
        with torch.no_grad():
            noisy = model(pixel_values=torch.zeros(2, 3, 32, 32), input_ids=torch.tensor([[2, 7], [2, 7]])).logits
        assert not torch.equal(noisy[0], noisy[1])  # the dropout is really on outside the explainer
        with pytest.warns(UserWarning, match=r"training mode.*model.eval\(\)"):
            maps = explainer.explain(image, caption, grid=2).maps
        assert [m.training for m in model.modules()] == modes
    finally:
        model.eval()
    np.testing.assert_array_equal(maps, reference)  # no dropout in the sweep


def test_word_scores_reach_the_core_as_log_probabilities(families, image_processor, image):
    """Words whose probabilities underflow in float32 (log P ~ -200 per token) still get the map a float64
    loop of Eq. 1-3 gives (up to its positive factor); P(word) itself is 0 in float32."""
    model, tokenizer, _ = families["ved"]
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)

    def token_logprobs(pixel_values, target_ids):
        bright = (pixel_values * std + mean)[:, :, :16, :16].mean(dim=(1, 2, 3))  # top-left quarter, in [0, 1]
        return (-200.0 + 60.0 * bright)[:, None].expand(-1, target_ids.shape[0])

    explainer = CaptionExplainer(object(), image_processor, tokenizer=tokenizer, token_logprobs=token_logprobs)
    caption = "a dog"
    scorer = explainer.scorer(image, caption)
    assert float(scorer(scorer.pixels[None]).max()) == 0.0  # underflows in float32
    exp = explainer.explain(image, caption, grid=2, sigma=0.7)
    assert float(exp.result.log_scale.min()) < math.log(np.finfo(np.float32).tiny)

    pixels = scorer.pixels.numpy().astype(np.float64)
    n_tokens = [len(w.positions) for w in scorer.words]

    def score64(img):
        log_p = -200.0 + 60.0 * img[:, :16, :16].mean()
        return np.array([math.exp(n * log_p) for n in n_tokens])

    sig = (0.7 * 16, 0.7 * 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref, *_ = reference_glas(score64, pixels, reference_grid_points((32, 32), (2, 2)), sig, sig, sig)
    for t in range(len(n_tokens)):
        got = exp.maps[t].astype(np.float64)
        assert np.ptp(got) > 0.1 * got.max()
        np.testing.assert_allclose(got / got.max(), ref[t] / ref[t].max(), rtol=1e-3, atol=1e-6)
