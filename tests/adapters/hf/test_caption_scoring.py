"""Teacher-forced caption scores against each model's own loss and its own generate()."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from glas_adapters.hf import CaptionExplainer  # noqa: E402

FAMILIES = ["blip", "git", "ved"]


def reference_loss(name, model, tokenizer, pixel_values, caption):
    """The model's own mean cross-entropy for the caption, inputs built the way HF documents them."""
    if name == "ved":  # labels = tokenizer(text).input_ids; the model shifts them right itself
        labels = torch.tensor([tokenizer(caption)["input_ids"]])
        return model(pixel_values=pixel_values, labels=labels).loss, labels.shape[1]
    if name == "blip":  # [CLS] -> decoder BOS, as BlipForConditionalGeneration.generate does
        ids = torch.tensor([tokenizer(caption)["input_ids"]])
        ids[:, 0] = model.config.text_config.bos_token_id
        return model(pixel_values=pixel_values, input_ids=ids, labels=ids).loss, ids.shape[1] - 1
    ids = torch.tensor([[model.config.bos_token_id] + tokenizer(caption, add_special_tokens=False)["input_ids"]])
    return model(pixel_values=pixel_values, input_ids=ids, labels=ids).loss, ids.shape[1] - 1


@pytest.mark.parametrize("name", FAMILIES)
def test_token_logprobs_match_model_loss(name, families, image_processor, image):
    model, tokenizer, caption = families[name]
    scorer = CaptionExplainer(model, image_processor, tokenizer=tokenizer).scorer(image, caption)
    logprobs = scorer.token_logprobs(scorer.pixels[None])
    # The processor's own normalised pixels: checks that normalising after masking matches it.
    pixel_values = image_processor(images=image, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        loss, n_targets = reference_loss(name, model, tokenizer, pixel_values, caption)
    assert logprobs.shape == (1, n_targets)
    assert torch.allclose(-logprobs.mean(), loss, atol=1e-5)


@pytest.mark.parametrize("name", FAMILIES)
def test_generated_caption_scores_match_generate_logits(name, families, image_processor, image):
    """caption=None: the scorer's clean log-probs equal generate()'s own step logits (BLIP's BOS swap included)."""
    model, tokenizer, _ = families[name]
    scorer = CaptionExplainer(model, image_processor, tokenizer=tokenizer).scorer(image, max_new_tokens=6)
    pixel_values = image_processor(images=image, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        out = model.generate(pixel_values=pixel_values, max_new_tokens=6, do_sample=False, output_logits=True,
                             return_dict_in_generate=True)
    generated = out.sequences[0, -len(out.logits):]
    n = scorer.tokens.target_ids.shape[0]
    assert scorer.tokens.target_ids.tolist() == generated[:n].tolist()
    expected = torch.stack([torch.log_softmax(out.logits[t][0].float(), -1)[generated[t]] for t in range(n)])
    got = scorer.token_logprobs(scorer.pixels[None])[0]
    assert torch.allclose(got, expected, atol=1e-4)


@pytest.mark.parametrize("name", FAMILIES)
def test_batch_scores_equal_single_image_scores(name, families, image_processor, image):
    model, tokenizer, caption = families[name]
    scorer = CaptionExplainer(model, image_processor, tokenizer=tokenizer).scorer(image, caption)
    rng = np.random.default_rng(3)
    masks = torch.from_numpy(rng.random((5, 1, 32, 32)).astype(np.float32))
    batch = scorer.pixels[None] * masks
    together = scorer(batch)
    alone = torch.cat([scorer(batch[i:i + 1]) for i in range(5)])
    assert together.shape == (5, len(scorer.words))
    assert torch.allclose(together, alone, atol=1e-5)
    assert not torch.equal(together[0], together[1])  # the image does reach the scores


def test_word_score_is_product_of_its_token_probabilities(families, image_processor, image):
    """"playing" is "play" + "##ing": its score is P(play) * P(##ing | play)."""
    model, tokenizer, caption = families["blip"]
    scorer = CaptionExplainer(model, image_processor, tokenizer=tokenizer).scorer(image, caption)
    # targets: a dog is play ##ing on the sofa . [SEP]  (hand-tokenised; [SEP] is not explained)
    assert scorer.tokens.target_ids.tolist() == [6, 8, 10, 11, 12, 13, 7, 14, 17, 3]
    assert [w.text for w in scorer.words] == ["a", "dog", "is", "playing", "on", "the", "sofa", "."]
    x = scorer.pixels[None] * 0.7
    token_probs = scorer.token_logprobs(x)[0].exp()
    words = scorer(x)[0]
    assert torch.isclose(words[3], token_probs[3] * token_probs[4], rtol=1e-5)
    assert torch.isclose(words[1], token_probs[1], rtol=1e-5)
    assert torch.isclose(words[7], token_probs[8], rtol=1e-5)


def test_prefix_is_decoder_bos_for_blip(families, image_processor):
    model, tokenizer, caption = families["blip"]
    scorer = CaptionExplainer(model, image_processor, tokenizer=tokenizer).scorer(
        np.zeros((32, 32, 3), np.uint8), caption)
    assert scorer.tokens.prefix_ids.tolist() == [tokenizer.convert_tokens_to_ids("[DEC]")]


def test_token_log_probabilities_keep_a_sure_token_below_zero():
    """A top logit 30 above the rest: float32 log_softmax rounds its log-probability to 0, while it is
    -(V - 1) e^-30 (about -9e-13 here); the other tokens match a float64 log_softmax too."""
    from glas_adapters.hf.families import gather_logprobs

    rng = np.random.default_rng(5)
    logits = rng.normal(size=(2, 3, 11)).astype(np.float32)
    logits[:, :, 4] += 30.0
    targets = torch.tensor([4, 2, 4])
    from decimal import Decimal, getcontext

    getcontext().prec = 50  # 50 digits: log(1 + 1e-12) is exact enough, unlike float64's 1 + 1e-12

    def log_p(row, t):
        values = [Decimal(float(v)) for v in row]
        return float(values[t] - sum((v.exp() for v in values), Decimal(0)).ln())

    reference = torch.tensor([[log_p(logits[b, i], int(targets[i])) for i in range(3)] for b in range(2)],
                             dtype=torch.float64)
    got = gather_logprobs(torch.from_numpy(logits), targets)
    assert got.dtype == torch.float32
    assert float(torch.log_softmax(torch.from_numpy(logits), -1)[0, 0, 4]) == 0.0  # what float32 log_softmax gives
    torch.testing.assert_close(got.double(), reference, rtol=1e-5, atol=0)
    assert bool((got[:, [0, 2]] < 0).all())
