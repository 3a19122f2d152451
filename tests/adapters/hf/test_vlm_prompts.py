"""Each family's own prompting (LLaVA's chat template, BLIP and GIT prompts), PaliGemma's prefix-LM, and the
refusals."""

from __future__ import annotations

import functools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from glas_adapters.hf import CaptionExplainer  # noqa: E402
from glas_core import GLASError  # noqa: E402

from . import vlms  # noqa: E402

CAPTION = "a dog is playing on the sofa"


def decoder_logprobs(model, n, **inputs):
    """log P(ids[i] | ids[:i]) of the last ``n`` tokens of one full-sequence forward pass.

    GIT also returns logits at its image positions, in front of the text: the text's are the last ones.
    """
    ids = inputs["input_ids"][0]
    with torch.no_grad():
        logp = torch.log_softmax(model(**inputs).logits[0, -len(ids):].double(), -1)
    return torch.stack([logp[i - 1, ids[i]] for i in range(len(ids) - n, len(ids))])


def clean_logprobs(scorer):
    return scorer.token_logprobs(scorer.pixels[None])[0].double()


# -- LLaVA: plain-text prompts through the chat template, prompts with <image> as written ------------------------

def test_llava_plain_prompt_goes_through_the_chat_template_with_the_image(vlm, image):
    model, processor, tokenizer = vlm("llava")
    scorer = CaptionExplainer(model, processor).scorer(image, CAPTION, prompt="describe the image")
    conversation = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "describe the image"}]}]
    text = processor.apply_chat_template(conversation, add_generation_prompt=True) + CAPTION
    inputs = dict(processor(images=image, text=text, return_tensors="pt"))
    expected = decoder_logprobs(model, len(CAPTION.split()), **inputs)
    torch.testing.assert_close(clean_logprobs(scorer), expected, atol=1e-5, rtol=0)
    image_id = model.config.image_token_id
    assert int((scorer.tokens.prefix_ids == image_id).sum()) == (vlms.SIZE // 8) ** 2


def test_llava_prompt_with_the_image_token_is_used_as_written(vlm, image):
    model, processor, _ = vlm("llava")
    prompt = "user : <image> what is this assistant :"
    scorer = CaptionExplainer(model, processor).scorer(image, CAPTION, prompt=prompt)
    inputs = dict(processor(images=image, text=prompt + " " + CAPTION, return_tensors="pt"))
    expected = decoder_logprobs(model, len(CAPTION.split()), **inputs)
    torch.testing.assert_close(clean_logprobs(scorer), expected, atol=1e-5, rtol=0)


def _llava_without_template(vlm):
    import transformers

    model, processor, tokenizer = vlm("llava")
    bare = transformers.LlavaProcessor(image_processor=processor.image_processor, tokenizer=tokenizer, patch_size=8,
                                       vision_feature_select_strategy="default", num_additional_image_tokens=1)
    return model, bare


def test_prompt_without_image_token_and_no_chat_template_is_refused_before_any_forward_pass(vlm, image,
                                                                                            monkeypatch):
    model, bare = _llava_without_template(vlm)
    calls = []
    original = model.forward

    @functools.wraps(original)
    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "forward", spy)
    with pytest.raises(GLASError, match=r"prompt must be a prompt with the image token '<image>'.*got 'describe the "
                                        r"image'; write the model's prompt format with the image token, e.g. "
                                        r"prompt='<image> describe the image'"):
        CaptionExplainer(model, bare).explain(image, CAPTION, prompt="describe the image", grid=2)
    assert calls == []


def test_no_prompt_and_no_chat_template_uses_the_image_token_alone(vlm, image):
    model, bare = _llava_without_template(vlm)
    scorer = CaptionExplainer(model, bare).scorer(image, CAPTION)
    inputs = dict(bare(images=image, text="<image> " + CAPTION, return_tensors="pt"))
    torch.testing.assert_close(clean_logprobs(scorer), decoder_logprobs(model, 7, **inputs), atol=1e-5, rtol=0)


def test_chat_template_that_drops_the_image_is_refused(vlm, image):
    import transformers

    model, processor, tokenizer = vlm("llava")
    textual = transformers.LlavaProcessor(
        image_processor=processor.image_processor, tokenizer=tokenizer, patch_size=8,
        vision_feature_select_strategy="default", num_additional_image_tokens=1,
        chat_template="{% for m in messages %}{% for c in m['content'] %}{% if c['type'] == 'text' %}"
                      "{{ c['text'] }} {% endif %}{% endfor %}{% endfor %}")
    with pytest.raises(GLASError, match="a chat template that places the image token '<image>'"):
        CaptionExplainer(model, textual).scorer(image, CAPTION, prompt="describe the image")


def test_chat_model_with_only_an_image_processor_needs_its_processor(vlm, image):
    model, processor, tokenizer = vlm("llava")
    with pytest.raises(GLASError, match=r"the model's full processor for LlavaForConditionalGeneration.*"
                                        r"AutoProcessor.from_pretrained"):
        CaptionExplainer(model, processor.image_processor, tokenizer=tokenizer).scorer(image, CAPTION,
                                                                                       prompt="<image>")


# -- BLIP and GIT prompts --------------------------------------------------------------------------------------

def test_blip_prompt_is_bos_and_its_tokens_as_generate_builds_it(families, image_processor, image):
    model, tokenizer, _ = families["blip"]
    explainer = CaptionExplainer(model, image_processor, tokenizer=tokenizer)
    prompt, caption = "a picture of", "a dog on the sofa"
    scorer = explainer.scorer(image, caption, prompt=prompt)
    ids = torch.tensor([tokenizer(prompt + " " + caption)["input_ids"]])  # [CLS] prompt caption [SEP]
    ids[0, 0] = model.config.text_config.bos_token_id
    pixel_values = image_processor(images=image, return_tensors="pt")["pixel_values"]
    n = len(caption.split()) + 1  # the caption's words and [SEP]
    expected = decoder_logprobs(model, n, pixel_values=pixel_values, input_ids=ids)
    torch.testing.assert_close(clean_logprobs(scorer), expected, atol=1e-5, rtol=0)
    unprompted = clean_logprobs(explainer.scorer(image, caption))
    assert not torch.allclose(unprompted, expected, atol=1e-3)  # the prompt does reach the scores


def test_blip_generation_with_a_prompt_continues_it(families, image_processor, image):
    model, tokenizer, _ = families["blip"]
    prompt = "a picture of"
    scorer = CaptionExplainer(model, image_processor, tokenizer=tokenizer).scorer(image, prompt=prompt,
                                                                                  max_new_tokens=4)
    pixel_values = image_processor(images=image, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        out = model.generate(pixel_values=pixel_values, input_ids=torch.tensor([tokenizer(prompt)["input_ids"]]),
                             max_new_tokens=4, do_sample=False, output_logits=True, return_dict_in_generate=True)
    generated = out.sequences[0, -len(out.logits):]
    n = scorer.tokens.target_ids.shape[0]
    assert scorer.tokens.prefix_ids.tolist() == [model.config.text_config.bos_token_id,
                                                 *tokenizer(prompt, add_special_tokens=False)["input_ids"]]
    assert scorer.tokens.target_ids.tolist() == generated[:n].tolist()
    expected = torch.stack([torch.log_softmax(out.logits[t][0].double(), -1)[generated[t]] for t in range(n)])
    torch.testing.assert_close(clean_logprobs(scorer), expected, atol=1e-5, rtol=0)


def test_git_prompt_is_cls_and_its_tokens_without_sep(families, image_processor, image):
    model, tokenizer, _ = families["git"]
    prompt, caption = "a picture of", "the cat runs with a red ball"
    scorer = CaptionExplainer(model, image_processor, tokenizer=tokenizer).scorer(image, caption, prompt=prompt)
    assert tokenizer.sep_token_id not in scorer.tokens.prefix_ids.tolist()
    ids = torch.tensor([[tokenizer.cls_token_id] + tokenizer(prompt, add_special_tokens=False)["input_ids"]
                        + tokenizer(caption, add_special_tokens=False)["input_ids"]])
    pixel_values = image_processor(images=image, return_tensors="pt")["pixel_values"]
    n = len(tokenizer(caption, add_special_tokens=False)["input_ids"])  # "runs" is run + ##s
    expected = decoder_logprobs(model, n, pixel_values=pixel_values, input_ids=ids)
    torch.testing.assert_close(clean_logprobs(scorer), expected, atol=1e-5, rtol=0)


# -- PaliGemma: the caption never sees what it predicts --------------------------------------------------------

def test_paligemma_prompt_is_laid_out_by_its_processor(vlm, image):
    """Image tokens, BOS, the prompt and a newline (prefix, type 0), then the caption and EOS (type 1)."""
    model, processor, tokenizer = vlm("paligemma")
    scorer = CaptionExplainer(model, processor).scorer(image, CAPTION, prompt="caption en")
    out = processor(images=image, text="caption en", suffix=CAPTION)
    types = torch.as_tensor(np.asarray(out["token_type_ids"]))
    inputs = {k: torch.as_tensor(np.asarray(out[k])) for k in ("input_ids", "attention_mask", "pixel_values")}
    n = int(types.sum())
    expected = decoder_logprobs(model, n, token_type_ids=types, **inputs)
    assert scorer.tokens.prefix_ids.tolist()[-4:] == tokenizer("<bos>caption en\n")["input_ids"]
    torch.testing.assert_close(clean_logprobs(scorer), expected, atol=1e-5, rtol=0)


def test_paligemma_scores_of_the_full_caption_equal_those_of_each_truncated_caption(vlm, image):
    """Prefix-LM attention: caption tokens are causal. With bidirectional attention everywhere (no
    token_type_ids) a word would see the words after it; here its score cannot depend on them."""
    model, processor, _ = vlm("paligemma")
    explainer = CaptionExplainer(model, processor)
    words = CAPTION.split()
    full = clean_logprobs(explainer.scorer(image, CAPTION))
    for k in range(1, len(words)):
        truncated = clean_logprobs(explainer.scorer(image, " ".join(words[:k])))
        torch.testing.assert_close(truncated[:k], full[:k], atol=1e-6, rtol=0)
    # The leak this guards against is real: without token_type_ids the model's own scores of the
    # first word change when later words are appended.
    short = processor(images=image, text="", suffix=words[0])
    longer = processor(images=image, text="", suffix=CAPTION)

    def first_word_without_types(out):
        ids = torch.as_tensor(np.asarray(out["input_ids"]))
        start = int((torch.as_tensor(np.asarray(out["token_type_ids"]))[0] == 0).sum())
        with torch.no_grad():
            logits = model(input_ids=ids, pixel_values=torch.as_tensor(np.asarray(out["pixel_values"]))).logits
        return float(torch.log_softmax(logits[0, start - 1].double(), -1)[ids[0, start]])

    assert abs(first_word_without_types(short) - first_word_without_types(longer)) > 1e-4


# -- refusals --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["ved", "pix2struct"])
def test_encoder_decoder_models_refuse_a_prompt_instead_of_ignoring_it(name, families, vlm, image_processor, image):
    if name == "ved":
        model, tokenizer, _ = families["ved"]
        explainer = CaptionExplainer(model, image_processor, tokenizer=tokenizer)
    else:
        model, processor, tokenizer = vlm("pix2struct")
        explainer = CaptionExplainer(model, processor, tokenizer=tokenizer)
    with pytest.raises(GLASError, match=r"prompt must be None for a vision encoder-decoder model.*got 'a picture "
                                        r"of'"):
        explainer.explain(image, "a dog", prompt="a picture of", grid=2)


def test_pix2struct_vqa_processor_is_refused_with_the_reason(vlm):
    import transformers

    model, _, tokenizer = vlm("pix2struct")
    vqa = transformers.Pix2StructImageProcessorPil(patch_size={"height": 8, "width": 8}, max_patches=16, is_vqa=True)
    with pytest.raises(GLASError, match="draw the question into the image"):
        CaptionExplainer(model, vqa, tokenizer=tokenizer)


def test_anyres_patches_are_refused_naming_the_supported_layouts(families, image):
    import transformers

    model, tokenizer, caption = families["git"]
    anyres = transformers.LlavaNextImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                                                     image_grid_pinpoints=[[32, 64], [64, 32]])
    with pytest.raises(GLASError, match=r"pixel_values of shape \(1, \d+, 3, 32, 32\).*Qwen2-VL, Idefics3/SmolVLM "
                                        r"and Pix2Struct"):
        CaptionExplainer(model, anyres, tokenizer=tokenizer).scorer(image, caption)


def test_patch_layout_the_processor_does_not_rebuild_is_refused(vlm, image):
    """A Qwen2-VL image processor whose patch order differs: rebuilding the image from its output and
    patching it again does not give that output back, so it is refused rather than explained wrongly."""
    import transformers

    class Shuffled(transformers.Qwen2VLImageProcessorPil):
        def patchify(self, image, **kwargs):
            patches, grid_h, grid_w = super().patchify(image, **kwargs)
            return patches[::-1].copy(), grid_h, grid_w

    model, processor, tokenizer = vlm("qwen2_vl")
    shuffled = Shuffled(patch_size=4, merge_size=2, temporal_patch_size=2,
                        size={"shortest_edge": 16 * 16, "longest_edge": 32 * 32})
    with pytest.raises(GLASError, match=r"Shuffled \(its 'pixel_values' is not rebuilt from the resized image\)"):
        CaptionExplainer(model, shuffled, tokenizer=tokenizer).scorer(image, CAPTION)
