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


def test_tokenizer_smaller_than_the_model_is_refused_at_construction(families, image_processor, wordpiece_tokenizer):
    """The VisionEncoderDecoder speaks the 280-token BPE. With the 22-token WordPiece its generated ids
    decode to nothing, and a given caption (ids < 22) used to be explained silently, as other words:
    the sizes are compared when the explainer is built, before any caption."""
    model, _, _ = families["ved"]
    message = one_line_error(lambda: CaptionExplainer(model, image_processor, tokenizer=wordpiece_tokenizer),
                             r"tokenizer must be the tokenizer the model was trained with, got a tokenizer of 22 "
                             r"tokens for a model whose vocabulary has \d+")
    assert "from_pretrained" in message


def test_tokenizer_larger_than_the_model_is_refused_at_construction(families, image_processor, bpe_tokenizer):
    """GIT has 22 tokens; the BPE tokenizer gives ids up to 280 (a raw IndexError without a check)."""
    model, _, _ = families["git"]
    one_line_error(lambda: CaptionExplainer(model, image_processor, tokenizer=bpe_tokenizer),
                   r"got a tokenizer of \d+ tokens for a model whose vocabulary has 22")


def test_caption_start_token_that_the_tokenizer_reads_as_a_word_is_refused(wordpiece_tokenizer, image_processor):
    """Same size, other special tokens: the config starts captions with id 8, which this tokenizer reads as
    'dog'."""
    import transformers

    from .conftest import _vision

    tok = wordpiece_tokenizer
    config = transformers.GitConfig(vision_config=_vision(), vocab_size=len(tok), hidden_size=32,
                                    intermediate_size=37, num_hidden_layers=1, num_attention_heads=4,
                                    max_position_embeddings=64, bos_token_id=tok.convert_tokens_to_ids("dog"),
                                    eos_token_id=tok.sep_token_id, pad_token_id=tok.pad_token_id)
    model = transformers.GitForCausalLM(config).eval()
    one_line_error(lambda: CaptionExplainer(model, image_processor, tokenizer=tok),
                   r"got a tokenizer for which token 8 \('dog'\), the model config's bos_token_id, is not a "
                   r"special token")


def test_the_matching_tokenizers_pass_the_construction_check(families, image_processor):
    for model, tokenizer, _ in families.values():
        CaptionExplainer(model, image_processor, tokenizer=tokenizer)


def test_caption_tokens_outside_the_model_vocabulary_are_refused_when_scored(families, image_processor, image,
                                                                           bpe_tokenizer):
    """Past the construction check (a custom scorer on a model without a vocabulary to compare), ids the
    model cannot embed are still refused before the sweep, not as a raw IndexError."""
    from glas_adapters.hf.checks import check_token_ids
    from glas_adapters.hf.family_base import CaptionTokens

    model, _, _ = families["git"]
    tokens = CaptionTokens(torch.tensor([2]), torch.tensor([7, 250]))
    one_line_error(lambda: check_token_ids(model, bpe_tokenizer, tokens, generated=False),
                   r"token id 250 \(the model's vocabulary has 22 tokens\)")


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
