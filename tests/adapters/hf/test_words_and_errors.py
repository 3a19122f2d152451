"""Word grouping of subword tokens, and the GLASError messages for bad input."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from glas_adapters.hf import CaptionExplainer, group_words  # noqa: E402
from glas_core import GLASError  # noqa: E402


def test_wordpiece_subwords_group_into_words(wordpiece_tokenizer):
    tok = wordpiece_tokenizer
    ids = tok("the dog is playing.")["input_ids"]  # [CLS] the dog is play ##ing . [SEP]
    words = group_words(tok, ids)
    assert [(w.text, w.positions) for w in words] == [
        ("the", (1,)), ("dog", (2,)), ("is", (3,)), ("playing", (4, 5)), (".", (6,))]


def test_byte_level_bpe_subwords_group_into_words(bpe_tokenizer):
    tok = bpe_tokenizer
    ids = tok("a doggy runs")["input_ids"] + [tok.eos_token_id]
    pieces = tok.convert_ids_to_tokens(ids)
    # Independent reference: a word starts at a piece beginning with "Ġ" (or the first piece).
    starts = [i for i, p in enumerate(pieces[:-1]) if i == 0 or p.startswith("Ġ")]
    expected = [tuple(range(a, b)) for a, b in zip(starts, starts[1:] + [len(pieces) - 1])]
    words = group_words(tok, ids)
    assert [w.positions for w in words] == expected
    assert [w.text for w in words] == ["a", "doggy", "runs"]
    assert len(words[1].positions) > 1  # "doggy" is not in the vocabulary: several pieces


def test_marker_fallback_when_ids_do_not_round_trip(wordpiece_tokenizer):
    """Generated ids that re-tokenise differently ("##ing" alone) still group by the ## marker."""
    tok = wordpiece_tokenizer
    ids = [tok.convert_tokens_to_ids(t) for t in ["a", "##ing", "dog", "run", "##s", "[SEP]"]]
    words = group_words(tok, ids)
    assert [w.positions for w in words] == [(0, 1), (2,), (3, 4)]


def test_special_tokens_only_give_no_words(wordpiece_tokenizer):
    assert group_words(wordpiece_tokenizer, [2, 3, 0]) == []


@pytest.mark.parametrize("caption", ["", "   ", "[SEP]"])
def test_empty_caption_is_an_error(caption, families, image_processor, image):
    model, tokenizer, _ = families["git"]
    with pytest.raises(GLASError, match="caption"):
        CaptionExplainer(model, image_processor, tokenizer=tokenizer).explain(image, caption, grid=2)


def test_caption_must_be_a_string(families, image_processor, image):
    model, tokenizer, _ = families["git"]
    with pytest.raises(GLASError, match="non-empty string"):
        CaptionExplainer(model, image_processor, tokenizer=tokenizer).scorer(image, ["a", "cat"])


@pytest.mark.parametrize("shape, hint", [((32, 32), "channel axis"), ((2, 32, 32, 3), "one image at a time"),
                                         ((3,), "rank 3")])
def test_image_of_wrong_rank_is_an_error(shape, hint, families, image_processor):
    model, tokenizer, caption = families["git"]
    explainer = CaptionExplainer(model, image_processor, tokenizer=tokenizer)
    with pytest.raises(GLASError, match=hint):
        explainer.explain(np.zeros(shape, np.uint8), caption, grid=2)


def test_float_image_outside_unit_range_is_an_error(families, image_processor):
    model, tokenizer, caption = families["git"]
    with pytest.raises(GLASError, match=r"\[0, 1\]"):
        CaptionExplainer(model, image_processor, tokenizer=tokenizer).scorer(np.full((32, 32, 3), 200.0), caption)


def test_float_image_in_unit_range_is_not_rescaled_twice(families, image_processor, image):
    model, tokenizer, caption = families["git"]
    explainer = CaptionExplainer(model, image_processor, tokenizer=tokenizer)
    from_uint8 = explainer.scorer(image, caption).pixels
    from_float = explainer.scorer(image.astype(np.float32) / 255.0, caption).pixels
    torch.testing.assert_close(from_float, from_uint8, atol=2e-2, rtol=0)  # resampling differs slightly
    assert float(from_float.max()) > 0.5


def test_processor_without_mean_and_std_is_an_error(families):
    import transformers

    model, tokenizer, _ = families["git"]
    processor = transformers.ViTImageProcessorPil(size={"height": 32, "width": 32})
    processor.image_mean = None
    with pytest.raises(GLASError, match="image_mean"):
        CaptionExplainer(model, processor, tokenizer=tokenizer)


def test_processor_that_does_not_normalise_needs_no_mean(families, image):
    import transformers

    model, tokenizer, caption = families["git"]
    processor = transformers.ViTImageProcessorPil(size={"height": 32, "width": 32}, do_normalize=False)
    processor.image_mean = None
    scorer = CaptionExplainer(model, processor, tokenizer=tokenizer).scorer(image, caption)
    raw = processor(images=image, return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(scorer.space.normalize(scorer.pixels[None]), raw, atol=1e-6, rtol=0)


def test_not_a_processor_is_an_error(families):
    model, tokenizer, _ = families["git"]
    with pytest.raises(GLASError, match="processor"):
        CaptionExplainer(model, "vit-base", tokenizer=tokenizer)


def test_unknown_family_says_how_to_pass_a_scoring_callable(image_processor, wordpiece_tokenizer):
    with pytest.raises(GLASError, match="token_logprobs=fn"):
        CaptionExplainer(torch.nn.Linear(2, 2), image_processor, tokenizer=wordpiece_tokenizer)


def test_custom_callable_needs_a_caption(image_processor, wordpiece_tokenizer, image):
    explainer = CaptionExplainer(object(), image_processor, tokenizer=wordpiece_tokenizer,
                                 token_logprobs=lambda pv, ids: torch.zeros(pv.shape[0], ids.shape[0]))
    with pytest.raises(GLASError, match="caption"):
        explainer.explain(image, grid=2)


def test_custom_callable_with_wrong_output_shape_is_an_error(image_processor, wordpiece_tokenizer, image):
    explainer = CaptionExplainer(object(), image_processor, tokenizer=wordpiece_tokenizer,
                                 token_logprobs=lambda pv, ids: torch.zeros(pv.shape[0]))
    with pytest.raises(GLASError, match="token_logprobs output"):
        explainer.explain(image, "a dog", grid=2)


def test_newline_tokens_are_scored_but_not_explained():
    from . import vlms

    tok = vlms.word_tokenizer(["<unk>", "<eos>"], unk_token="<unk>", eos_token="<eos>")
    newline = tok.convert_tokens_to_ids("\n")
    ids = [tok.convert_tokens_to_ids("a"), newline, tok.convert_tokens_to_ids("dog"), tok.eos_token_id]
    words = group_words(tok, ids)
    assert [(w.text, w.positions) for w in words] == [("a", (0,)), ("dog", (2,))]


def test_ids_the_tokenizer_does_not_know_stay_as_empty_words(wordpiece_tokenizer):
    """They are what a mismatched tokenizer gives; the explainer refuses them (not a map of nothing)."""
    words = group_words(wordpiece_tokenizer, [8, 500, 3])
    assert [w.text for w in words][0] == "dog" and any(w.text == "" for w in words)
