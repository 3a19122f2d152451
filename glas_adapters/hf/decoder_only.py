"""Decoder-only image-text-to-text models: the caption is the last ``T`` tokens of ``input_ids``.

- :class:`ChatFamily`: LLaVA, Qwen2-VL, Idefics3, SmolVLM, Gemma 3 and other
  ``AutoModelForImageTextToText`` models whose text holds image tokens. The prompt is built by
  :func:`.prompts.chat_prefix`; per-token inputs the processor returns (``token_type_ids``,
  ``mm_token_type_ids``) go with it, 0 on caption tokens.
- :class:`PaliGemmaFamily`: PaliGemma's prefix-LM. The prompt (image tokens, BOS, prompt, newline)
  attends bidirectionally, the caption causally: ``token_type_ids`` are 0 on the prefix and 1 on
  the caption, in scoring and in generation (without them transformers 5 lets every position
  see the token it predicts). The processor lays the caption out itself (``suffix=``).
- :class:`GitFamily`: GIT puts the image before the text internally; the prefix is ``[CLS]``
  (its BOS) and the prompt's tokens without the trailing ``[SEP]``, as HF's GIT prompting does.
"""

from __future__ import annotations

from typing import Any

import torch

from glas_core.errors import fail

from .family_base import CaptionTokens, Family, accepts, sequence_of, stop_ids, text_ids, trim
from .prompts import chat_prefix, check_image_tokens


class DecoderOnlyFamily(Family):
    """Shared scoring and generation: ``prefix + targets[:-1]`` with ``logits_to_keep=T``."""

    name = "image-text-to-text (decoder-only)"

    def _prefix(self, image: Any, prompt: str | None, processor: Any, vision: Any) -> CaptionTokens:
        raise NotImplementedError

    def from_text(self, caption, image, prompt, processor, vision) -> CaptionTokens:
        tokens = self._prefix(image, prompt, processor, vision)
        tokens.target_ids = torch.tensor(text_ids(self.tokenizer, caption, False))
        return tokens

    def generate(self, vision, image, prompt, processor, **generate_kwargs) -> CaptionTokens:
        tokens = self._prefix(image, prompt, processor, vision)
        device = vision.pixels.device
        prefix = tokens.prefix_ids[None].to(device)
        inputs = {**vision(vision.pixels[None]),
                  **{k: v[None].to(device) for k, v in tokens.per_token.items()},
                  **{k: v.to(device) for k, v in tokens.extra.items()}}
        out = self.model.generate(input_ids=prefix, attention_mask=torch.ones_like(prefix), **inputs,
                                  **generate_kwargs)
        sequence = sequence_of(out)
        tokens.target_ids = trim(sequence[prefix.shape[1]:], stop_ids(self.model, self.tokenizer), self._pad_id())
        return tokens

    def logits(self, inputs, text_ids, keep, extra):
        kwargs: dict[str, Any] = {"attention_mask": torch.ones_like(text_ids)}
        if accepts(self.model.forward, "logits_to_keep"):
            kwargs["logits_to_keep"] = keep
        if accepts(self.model.forward, "use_cache"):
            kwargs["use_cache"] = False
        return self.model(**inputs, input_ids=text_ids, **kwargs, **extra).logits


class ChatFamily(DecoderOnlyFamily):
    """Models whose text carries image tokens (LLaVA, Qwen2-VL, Idefics3, SmolVLM, Gemma 3, ...)."""

    def _prefix(self, image, prompt, processor, vision) -> CaptionTokens:
        ids, per_token, extra = chat_prefix(self.model, self.tokenizer, processor, image, prompt, vision)
        return CaptionTokens(ids, torch.zeros(0, dtype=torch.long), extra, per_token)


class PaliGemmaFamily(DecoderOnlyFamily):
    """PaliGemma: prefix-LM attention through ``token_type_ids`` (0: prompt, 1: caption)."""

    name = "PaliGemmaForConditionalGeneration"

    def _call(self, processor: Any, image: Any, prompt: str | None, **kwargs: Any) -> dict[str, torch.Tensor]:
        if not (callable(processor) and hasattr(processor, "tokenizer") and hasattr(processor, "image_processor")):
            raise fail("processor", type(processor).__name__, "a PaliGemmaProcessor (it lays out the prefix-LM "
                       "prompt)", "pass AutoProcessor.from_pretrained(...) of the model")
        from .pixels import is_float_image

        if is_float_image(image):
            kwargs["do_rescale"] = False
        token = getattr(processor, "image_token", "<image>")
        text = prompt if prompt and token in prompt else token + (prompt or "")  # its layout, without its warning
        out = processor(images=image, text=text, **kwargs)  # lists: its labels step warns on tensors
        return {k: torch.as_tensor(out[k][0]) for k in ("input_ids", "token_type_ids")}

    def _prefix(self, image, prompt, processor, vision) -> CaptionTokens:
        out = self._call(processor, image, prompt)
        check_image_tokens(self.model, out["input_ids"], prompt)
        return CaptionTokens(out["input_ids"], torch.zeros(0, dtype=torch.long),
                             per_token={"token_type_ids": torch.zeros_like(out["input_ids"])},
                             caption_values={"token_type_ids": 1})

    def from_text(self, caption, image, prompt, processor, vision) -> CaptionTokens:
        out = self._call(processor, image, prompt, suffix=caption)  # HF's own layout: suffix + EOS, types 1
        suffix = out["token_type_ids"] == 1
        tokens = CaptionTokens(out["input_ids"][~suffix], out["input_ids"][suffix],
                               per_token={"token_type_ids": out["token_type_ids"][~suffix]},
                               caption_values={"token_type_ids": 1})
        check_image_tokens(self.model, tokens.prefix_ids, prompt)
        return tokens


class GitFamily(DecoderOnlyFamily):
    """GIT: ``[CLS]`` + the prompt's tokens (no ``[SEP]``); the image is prepended inside the model."""

    name = "GitForCausalLM"

    def _bos(self) -> int:
        for source in (getattr(self.model, "generation_config", None), self.model.config, self.tokenizer):
            bos = getattr(source, "bos_token_id", None)
            if bos is not None:
                return int(bos)
        cls = getattr(self.tokenizer, "cls_token_id", None)
        if cls is None:
            raise fail("model.config.bos_token_id", None, "GIT's start token ([CLS])",
                       "set model.config.bos_token_id = tokenizer.cls_token_id")
        return int(cls)

    def _prefix(self, image, prompt, processor, vision) -> CaptionTokens:
        prompt_ids = text_ids(self.tokenizer, prompt, False) if prompt else []
        return CaptionTokens(torch.tensor([self._bos(), *prompt_ids]), torch.zeros(0, dtype=torch.long))


def _image_text_to_text_names() -> set[str]:
    try:
        from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES as names
    except ImportError:  # pragma: no cover - very old transformers
        return {"GitForCausalLM"}
    return set(names.values()) | {"GitForCausalLM"}


def decoder_only_family(model: Any, tokenizer: Any, names: set[str]) -> Family | None:
    """The decoder-only family of ``model`` (class names of its MRO in ``names``), or None."""
    if "GitForCausalLM" in names:
        return GitFamily(model, tokenizer)
    if "PaliGemmaForConditionalGeneration" in names:
        return PaliGemmaFamily(model, tokenizer)
    forward = getattr(model, "forward", None)
    if (names & _image_text_to_text_names() and forward is not None and accepts(forward, "input_ids")
            and accepts(forward, "pixel_values") and not accepts(forward, "decoder_input_ids")):
        return ChatFamily(model, tokenizer)
    return None
