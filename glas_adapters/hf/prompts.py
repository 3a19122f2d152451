"""The prompt of a chat-style vision-language model, with its image tokens, as the model's own processor builds it.

The text before a caption is the user's prompt in the model's format: a prompt that holds the
image placeholder (``<image>``, ``<|image_pad|>``) is used as written; plain text, or no
prompt, goes through the chat template (the processor's, else the tokenizer's) with the image
first, as HF's ``apply_chat_template`` renders a conversation. The placeholder is then
expanded to the model's image tokens by the full processor, or, when only an image processor
and a tokenizer are given (Qwen2-VL and SmolVLM without torchvision, whose video processors do
not load), from the image processor's output for the image: Qwen2-VL's grid, Idefics3 and
SmolVLM's crop rows and columns.
"""

from __future__ import annotations

from typing import Any

import torch

from glas_core.errors import fail, quoted

from .family_base import accepts
from .pixels import is_float_image
from .vision import IdeficsCrops, QwenPatches, VisionInputs

#: Inputs of one value per text token; everything else a processor returns with the text is per image.
TEXT_KEYS = ("input_ids", "attention_mask", "token_type_ids", "mm_token_type_ids", "labels")
PER_TOKEN_KEYS = ("token_type_ids", "mm_token_type_ids")


def image_token_id(model: Any) -> int | None:
    """The id of the model's image placeholder token, when its config has one."""
    config = model.config
    for name in ("image_token_id", "image_token_index"):
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    return None


def _image_token(processor: Any, tokenizer: Any, model: Any, vision: VisionInputs) -> str:
    for source in (processor, tokenizer):
        token = getattr(source, "image_token", None)
        if isinstance(token, str):
            return token
    token_id = image_token_id(model)
    if token_id is not None:
        token = tokenizer.convert_ids_to_tokens(token_id)
        if isinstance(token, str):
            return token
    return "<|image_pad|>" if isinstance(vision.layout, QwenPatches) else "<image>"


def _template(processor: Any, tokenizer: Any) -> Any:
    """The object whose ``apply_chat_template`` renders the conversation, or None without a template."""
    for source in (processor, tokenizer):
        if getattr(source, "chat_template", None):
            return source
    return None


def _placeholder(image_token: str, vision: VisionInputs) -> str:
    """The text of one image where no chat template says it (Qwen2-VL wraps it in vision marks)."""
    if isinstance(vision.layout, QwenPatches) and image_token == "<|image_pad|>":
        return "<|vision_start|><|image_pad|><|vision_end|>"
    return image_token


def prompt_text(prompt: str | None, image_token: str, processor: Any, tokenizer: Any, vision: VisionInputs) -> str:
    """The prompt with one image placeholder, before expansion to the model's image tokens."""
    if prompt is not None and image_token in prompt:
        return prompt
    source = _template(processor, tokenizer)
    if source is None:
        if prompt is None:
            return _placeholder(image_token, vision)
        raise fail("prompt", quoted(prompt), f"a prompt with the image token {image_token!r} (the processor has no "
                   "chat template to place it)",
                   f"write the model's prompt format with the image token, e.g. prompt='{image_token} {prompt}'")
    content: list[dict[str, str]] = [{"type": "image"}]
    if prompt:
        content.append({"type": "text", "text": prompt})
    conversation = [{"role": "user", "content": content}]
    text = source.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
    text = text[0] if isinstance(text, list) else text
    if image_token not in text:
        raise fail("prompt", quoted(prompt), f"a chat template that places the image token {image_token!r}",
                   f"write the prompt yourself with {image_token!r} where the image goes")
    return text


def _special_tokens(text: str, tokenizer: Any) -> bool:
    """Add the tokenizer's specials unless the rendered text already starts with BOS (HF's rule)."""
    bos = getattr(tokenizer, "bos_token", None)
    return not (isinstance(bos, str) and text.startswith(bos))


def _expand(text: str, image_token: str, model: Any, tokenizer: Any, vision: VisionInputs) -> str:
    """Expand the image placeholder without a full processor (Qwen2-VL and Idefics3/SmolVLM layouts)."""
    output = vision.clean_output
    if isinstance(vision.layout, QwenPatches):
        merge = int(vision.layout.image_processor.merge_size)
        count = int(torch.as_tensor(output["image_grid_thw"][0]).prod()) // (merge * merge)
        return text.replace(image_token, image_token * count)
    if isinstance(vision.layout, IdeficsCrops):
        from transformers.models.smolvlm.processing_smolvlm import get_image_prompt_string

        config = model.config
        seq_len = int((config.vision_config.image_size // config.vision_config.patch_size) ** 2
                      / (config.scale_factor ** 2))
        expanded = get_image_prompt_string(
            int(output["rows"][0][0]), int(output["cols"][0][0]), seq_len,
            fake_token_around_image=getattr(tokenizer, "fake_image_token", "<fake_token_around_image>"),
            image_token=image_token, global_image_token=getattr(tokenizer, "global_image_token", "<global-img>"))
        return text.replace(image_token, expanded)
    raise fail("processor", "an image processor without the model's processor",
               f"the model's full processor for {type(model).__name__} (it places the image tokens)",
               "pass AutoProcessor.from_pretrained(...) of the model")


def _full_processor(processor: Any) -> bool:
    return hasattr(processor, "tokenizer") and hasattr(processor, "image_processor") and callable(processor)


def chat_prefix(model: Any, tokenizer: Any, processor: Any, image: Any, prompt: str | None,
                vision: VisionInputs) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Prefix ids ``(P,)``, per-token inputs ``(P,)`` and per-image inputs of a chat-style model's prompt.

    Raises
    ------
    GLASError
        When the prompt holds no image token the model can see (before any forward pass).
    """
    image_token = _image_token(processor, tokenizer, model, vision)
    text = prompt_text(prompt, image_token, processor, tokenizer, vision)
    add_special = True if (prompt is not None and image_token in prompt) else _special_tokens(text, tokenizer)
    if _full_processor(processor):
        kwargs: dict[str, Any] = {"do_rescale": False} if is_float_image(image) else {}
        out = dict(processor(images=image, text=text, add_special_tokens=add_special, return_tensors="pt", **kwargs))
    else:
        expanded = _expand(text, image_token, model, tokenizer, vision)
        out = dict(tokenizer(expanded, add_special_tokens=add_special, return_tensors="pt"))
        token_id = image_token_id(model)
        if accepts(model.forward, "mm_token_type_ids") and token_id is not None:
            out["mm_token_type_ids"] = (out["input_ids"] == token_id).long()
    ids = torch.as_tensor(out["input_ids"])[0].cpu()
    check_image_tokens(model, ids, prompt)
    per_token = {k: torch.as_tensor(out[k])[0].cpu() for k in PER_TOKEN_KEYS
                 if k in out and accepts(model.forward, k)}
    skip = set(TEXT_KEYS) | set(vision.clean_output) | {"pixel_values", "rows", "cols"}
    extra = {k: torch.as_tensor(v).cpu() for k, v in out.items() if k not in skip and isinstance(v, torch.Tensor)}
    return ids, per_token, extra


def check_image_tokens(model: Any, ids: torch.Tensor, prompt: str | None) -> None:
    """Refuse a prefix without the model's image token: the model would never see the image."""
    token_id = image_token_id(model)
    if token_id is not None and not bool((ids == token_id).any()):
        raise fail("prompt", quoted(prompt), "a prompt whose tokens include the model's image token "
                   f"(id {token_id})", "put the processor's image token (e.g. '<image>') in the prompt, or leave "
                   "prompt=None to use the chat template")

