"""Caption words of today's vision-language families: PaliGemma, LLaVA, Gemma 3, Qwen2-VL, Idefics3, SmolVLM,
Pix2Struct.

For each family, a tiny model built offline (``vlms``): the word scores on the clean image
equal the teacher-forced probabilities of a full-sequence forward pass in HF's own input
layout, built here without the adapter; one sweep gives maps of the processor's resized shape
that are not flat; a generated caption is scored as ``generate`` scored it.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from glas_adapters.hf import CaptionExplainer  # noqa: E402

from . import vlms  # noqa: E402

CAPTION = "a dog is playing on the sofa"
#: The size each processor resizes the 40 x 48 test image to (worked out by hand from its settings).
RESIZED = {"paligemma": (32, 32), "llava": (32, 32), "gemma3": (32, 32), "qwen2_vl": (24, 32), "idefics3": (32, 32),
           "idefics3_split": (64, 64), "smolvlm": (64, 64), "pix2struct": (24, 32)}
# Qwen2-VL: 40 x 48 has 1920 px > 1024, so each side / sqrt(1920/1024), floored to 8: 24 x 32.
# Idefics3 split: longest edge 64 -> 53 x 64, then up to multiples of 32 -> 64 x 64 (2 x 2 crops).
# Pix2Struct: a 24 x 32 image already fills its 16 patches of 8 px, so it keeps its size and the
# processor's per-image standardisation sees the same pixels as GLAS's.


def _image(name, image):
    return image[:24, :32] if name == "pix2struct" else image


def explainer_of(parts):
    model, processor, tokenizer = parts
    return CaptionExplainer(model, processor, tokenizer=tokenizer)


def _logprobs_at_end(logits, ids, n):
    """log P(ids[i] | ids[:i]) for the last ``n`` positions of a decoder-only sequence."""
    length = ids.shape[-1]
    logp = torch.log_softmax(logits[0, -length:].double(), -1)
    return torch.stack([logp[i - 1, ids[0, i]] for i in range(length - n, length)])


def hf_inputs(name, parts, image, caption):
    """The model inputs of prompt + caption as HF documents them for each family (no adapter code)."""
    model, processor, tokenizer = parts
    words = tokenizer(caption, add_special_tokens=False)["input_ids"] if caption else []
    if name == "paligemma":
        kwargs = {"suffix": caption} if caption else {}
        out = processor(images=image, text="", **kwargs)  # lists: with tensors its labels step warns
        return {k: torch.as_tensor(np.asarray(out[k])) for k in ("input_ids", "attention_mask", "pixel_values",
                                                                 "token_type_ids")}
    if name in ("llava", "gemma3"):
        conversation = [{"role": "user", "content": [{"type": "image"}]}]
        text = processor.apply_chat_template(conversation, add_generation_prompt=True)
        return dict(processor(images=image, text=text + (caption or ""), return_tensors="pt"))
    if name in ("idefics3", "idefics3_split"):
        return dict(processor(images=image, text="<image>" + (" " + caption if caption else ""),
                              return_tensors="pt"))
    if name == "qwen2_vl":
        vision = dict(processor(images=image, return_tensors="pt"))
        n_image = int(vision["image_grid_thw"].prod()) // 4
        text = ("<|im_start|>user\n<|vision_start|>" + "<|image_pad|>" * n_image
                + "<|vision_end|><|im_end|>\n<|im_start|>assistant\n")
        ids = torch.tensor([tokenizer(text)["input_ids"] + words])
        mm = (ids == model.config.image_token_id).long()
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "mm_token_type_ids": mm, **vision}
    if name == "smolvlm":
        from transformers.models.smolvlm.processing_smolvlm import get_image_prompt_string

        vision = dict(processor(images=image, return_tensors="pt", return_row_col_info=True))
        rows, cols = vision.pop("rows")[0][0], vision.pop("cols")[0][0]
        image_text = get_image_prompt_string(rows, cols, 4, "<fake_token_around_image>", "<image>", "<global-img>")
        text = "<|im_start|>user" + image_text + "<end_of_utterance>\nassistant :"
        ids = torch.tensor([tokenizer(text)["input_ids"] + words])
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), **vision}
    raise KeyError(name)


def reference_logprobs(name, parts, image, caption):
    """Teacher-forced log P of every caption token from one full-sequence forward pass, and the token ids."""
    model, processor, tokenizer = parts
    with torch.no_grad():
        if name == "pix2struct":  # labels = tokenizer(caption).input_ids; the model shifts them right itself
            labels = torch.tensor([tokenizer(caption)["input_ids"]])
            logits = model(**processor(images=image, return_tensors="pt"), labels=labels).logits
            logp = torch.log_softmax(logits[0].double(), -1)
            return logp.gather(-1, labels[0, :, None])[:, 0], labels[0]
        inputs = hf_inputs(name, parts, image, caption)
        ids = inputs["input_ids"]
        if name == "paligemma":  # the suffix (type 1) is the caption and its EOS
            n = int((inputs["token_type_ids"] == 1).sum())
        else:
            n = len(tokenizer(caption, add_special_tokens=False)["input_ids"])
        return _logprobs_at_end(model(**inputs).logits, ids, n), ids[0, -n:]


@pytest.mark.parametrize("name", list(vlms.BUILDERS))
def test_clean_word_scores_equal_the_teacher_forced_probabilities(name, vlm, image):
    parts = vlm(name)
    picture = _image(name, image)
    scorer = explainer_of(parts).scorer(picture, CAPTION)
    expected, ids = reference_logprobs(name, parts, picture, CAPTION)
    assert scorer.tokens.target_ids.tolist() == ids.tolist()
    assert [w.text for w in scorer.words] == CAPTION.split()
    got = scorer.token_logprobs(scorer.pixels[None])[0].double()
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", list(vlms.BUILDERS))
def test_one_sweep_gives_a_map_per_word_at_the_resized_size(name, vlm, image):
    exp = explainer_of(vlm(name)).explain(_image(name, image), CAPTION, grid=2, sigma=1.0)
    assert exp.words == CAPTION.split()
    assert exp.maps.shape == (len(exp.words), *RESIZED[name])
    assert exp.image.shape == (*RESIZED[name], 3)
    for word_map in exp.maps:
        assert np.all(np.isfinite(word_map)) and np.ptp(word_map) > 0.01 * word_map.max()


@pytest.mark.parametrize("name", [n for n in vlms.BUILDERS if n != "pix2struct"])
def test_generated_caption_is_scored_as_generate_scored_it(name, vlm, image):
    parts = vlm(name)
    model = parts[0]
    scorer = explainer_of(parts).scorer(image, max_new_tokens=4)
    inputs = hf_inputs(name, parts, image, None)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=4, do_sample=False, output_logits=True,
                             return_dict_in_generate=True)
    generated = out.sequences[0, inputs["input_ids"].shape[1]:]
    n = scorer.tokens.target_ids.shape[0]
    assert scorer.tokens.target_ids.tolist() == generated[:n].tolist()
    expected = torch.stack([torch.log_softmax(out.logits[t][0].double(), -1)[generated[t]] for t in range(n)])
    got = scorer.token_logprobs(scorer.pixels[None])[0].double()
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_pix2struct_generated_caption_is_scored_as_generate_scored_it(vlm, image):
    model, processor, tokenizer = parts = vlm("pix2struct")
    picture = image[:24, :32]
    scorer = explainer_of(parts).scorer(picture, max_new_tokens=4)
    with torch.no_grad():
        out = model.generate(**processor(images=picture, return_tensors="pt"), max_new_tokens=4, do_sample=False,
                             output_logits=True, return_dict_in_generate=True)
    generated = out.sequences[0, 1:]
    n = scorer.tokens.target_ids.shape[0]
    assert scorer.tokens.target_ids.tolist() == generated[:n].tolist()
    expected = torch.stack([torch.log_softmax(out.logits[t][0].double(), -1)[generated[t]] for t in range(n)])
    torch.testing.assert_close(scorer.token_logprobs(scorer.pixels[None])[0].double(), expected, atol=1e-5, rtol=0)
