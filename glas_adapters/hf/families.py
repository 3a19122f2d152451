"""Teacher-forced caption scoring for each HuggingFace captioner family.

Every family feeds ``prefix + targets[:-1]`` as text and reads the last ``T`` logits, so one
forward pass of a batch of perturbed images gives ``log P(w_t | image, w_<t)`` for every
caption token ``t`` at once (the (B, T) columns GLAS fuses, one sweep for the whole caption).

- :class:`EncoderDecoderFamily`: ``VisionEncoderDecoderModel`` and Pix2Struct; the prefix is
  ``decoder_start_token_id`` and the text goes in as ``decoder_input_ids``. No prompt.
- :class:`BlipFamily`: ``BlipForConditionalGeneration``. Its ``generate`` replaces the
  tokenizer's ``[CLS]`` with the decoder's BOS token and drops the prompt's ``[SEP]``; its
  ``forward`` does neither, so the prefix here is BOS + the prompt's tokens.
- Decoder-only models (GIT, LLaVA, PaliGemma, Qwen2-VL, Idefics3, SmolVLM, ...) are in
  :mod:`.decoder_only`.
- :class:`CustomFamily`: a user callable ``token_logprobs(pixel_values, target_ids) -> (B, T)``.

The :class:`Family` interface, :class:`CaptionTokens` and the token helpers are in
:mod:`.family_base` (re-exported here).
"""

from __future__ import annotations

from typing import Any

import torch

from glas_core.errors import fail

from .decoder_only import decoder_only_family
from .family_base import (
    CaptionTokens,
    Family,
    TokenLogprobs,
    accepts,
    gather_logprobs,
    sequence_of,
    stop_ids,
    text_ids,
    trim,
)

__all__ = ["CUSTOM_HINT", "BlipFamily", "CaptionTokens", "CustomFamily", "EncoderDecoderFamily", "Family",
           "TokenLogprobs", "accepts", "detect_family", "gather_logprobs", "sequence_of", "stop_ids", "text_ids",
           "trim"]

CUSTOM_HINT = ("pass token_logprobs=fn to CaptionExplainer, where fn(pixel_values, target_ids) returns the "
               "(B, T) log-probabilities log P(target_ids[t] | image, target_ids[:t]) for a (B, C, H, W) batch of "
               "normalised pixel values (see glas_adapters.hf.CaptionExplainer)")


class EncoderDecoderFamily(Family):
    """``VisionEncoderDecoderModel`` and Pix2Struct: decoder inputs are the start token + ``targets[:-1]``."""

    name = "vision encoder-decoder model"
    takes_prompt = False

    def _start(self) -> int:
        for source in (self.model.config, getattr(self.model, "generation_config", None),
                       getattr(self.model.config, "text_config", None)):
            start = getattr(source, "decoder_start_token_id", None)
            if start is not None:
                return int(start)
        raise fail("model.config.decoder_start_token_id", None, "the id the decoder starts from",
                   "set model.config.decoder_start_token_id (e.g. tokenizer.bos_token_id)")

    def from_text(self, caption, image, prompt, processor, vision) -> CaptionTokens:
        # Labels are tokenizer(caption).input_ids, as in HF's VisionEncoderDecoder training recipe.
        return CaptionTokens(torch.tensor([self._start()]), torch.tensor(text_ids(self.tokenizer, caption, True)))

    def generate(self, vision, image, prompt, processor, **generate_kwargs) -> CaptionTokens:
        sequence = sequence_of(self.model.generate(**vision(vision.pixels[None]), **generate_kwargs))
        targets = trim(sequence[1:], stop_ids(self.model, self.tokenizer), self._pad_id())
        return CaptionTokens(sequence[:1], targets)

    def logits(self, inputs, text_ids, keep, extra):
        return self.model(**inputs, decoder_input_ids=text_ids, use_cache=False, **extra).logits


class BlipFamily(Family):
    """``BlipForConditionalGeneration``: the prefix is the decoder BOS and the prompt, as ``generate`` builds it."""

    name = "BlipForConditionalGeneration"

    def _bos(self) -> int:
        bos = getattr(self.model.config.text_config, "bos_token_id", None)
        if bos is None:
            raise fail("model.config.text_config.bos_token_id", None, "the BLIP decoder's BOS id",
                       "set it as in the pretrained config (30522 for Salesforce/blip-*)")
        return int(bos)

    def _prefix(self, prompt: str | None) -> torch.Tensor:
        prompt_ids = text_ids(self.tokenizer, prompt, False) if prompt else []
        return torch.tensor([self._bos(), *prompt_ids])

    def from_text(self, caption, image, prompt, processor, vision) -> CaptionTokens:
        ids = text_ids(self.tokenizer, caption, True)
        first = {getattr(self.tokenizer, "cls_token_id", None), getattr(self.tokenizer, "bos_token_id", None)}
        if ids and ids[0] in first:
            ids = ids[1:]  # [CLS] is replaced by the decoder's BOS, as BlipForConditionalGeneration.generate does
        return CaptionTokens(self._prefix(prompt), torch.tensor(ids))

    def generate(self, vision, image, prompt, processor, **generate_kwargs) -> CaptionTokens:
        prefix = self._prefix(prompt)
        kwargs = dict(generate_kwargs)
        if prompt:  # generate() swaps [CLS] for BOS and drops the last token ([SEP]) itself
            kwargs["input_ids"] = torch.tensor([text_ids(self.tokenizer, prompt, True)], device=vision.pixels.device)
        sequence = sequence_of(self.model.generate(**vision(vision.pixels[None]), **kwargs))
        stop = stop_ids(self.model, self.tokenizer) | {int(self.model.config.text_config.sep_token_id)}
        return CaptionTokens(prefix, trim(sequence[prefix.shape[0]:], stop, self._pad_id()))

    def logits(self, inputs, text_ids, keep, extra):
        kwargs = {"logits_to_keep": keep} if accepts(self.model.forward, "logits_to_keep") else {}
        return self.model(**inputs, input_ids=text_ids, **kwargs, **extra).logits


class CustomFamily(Family):
    """A user-supplied ``token_logprobs(pixel_values, target_ids) -> (B, T)`` log-probabilities."""

    name = "custom token_logprobs"

    def __init__(self, model: Any, tokenizer: Any, fn: TokenLogprobs) -> None:
        super().__init__(model, tokenizer)
        self.fn = fn

    def from_text(self, caption, image, prompt, processor, vision) -> CaptionTokens:
        return CaptionTokens(torch.zeros(0, dtype=torch.long), torch.tensor(text_ids(self.tokenizer, caption, True)))

    def generate(self, vision, image, prompt, processor, **generate_kwargs) -> CaptionTokens:
        raise fail("caption", None, "a caption string when token_logprobs= is given",
                   "generate the caption with your model first and pass caption='...'")

    def token_logprobs(self, inputs: dict[str, torch.Tensor], tokens: CaptionTokens) -> torch.Tensor:
        pixel_values = inputs.get("pixel_values", next(iter(inputs.values())))
        out = torch.as_tensor(self.fn(pixel_values, tokens.target_ids.to(pixel_values.device)))
        expected = (pixel_values.shape[0], int(tokens.target_ids.shape[0]))
        if tuple(out.shape) != expected:
            raise fail("token_logprobs output", f"shape {tuple(out.shape)}",
                       f"shape {expected}: one log-probability per image and caption token",
                       "return log P(target_ids[t] | image, target_ids[:t]) for every t")
        return out.float()


def detect_family(model: Any, tokenizer: Any, token_logprobs: TokenLogprobs | None = None) -> Family:
    """Pick the scoring family for ``model``; unknown families get a GLASError naming ``token_logprobs=``."""
    if tokenizer is None:
        raise fail("processor", "a processor without a tokenizer", "a processor with .tokenizer, or tokenizer=",
                   "pass CaptionExplainer(model, processor, tokenizer=tokenizer)")
    if token_logprobs is not None:
        if not callable(token_logprobs):
            raise fail("token_logprobs", type(token_logprobs).__name__, "a callable", CUSTOM_HINT)
        return CustomFamily(model, tokenizer, token_logprobs)
    names = {cls.__name__ for cls in type(model).__mro__}
    if names & {"VisionEncoderDecoderModel", "Pix2StructForConditionalGeneration"}:
        return EncoderDecoderFamily(model, tokenizer)
    if "BlipForConditionalGeneration" in names:
        return BlipFamily(model, tokenizer)
    family = decoder_only_family(model, tokenizer, names)
    if family is not None:
        return family
    raise fail("model", type(model).__name__,
               "a VisionEncoderDecoderModel, Pix2Struct, BlipForConditionalGeneration or a decoder-only "
               "AutoModelForImageTextToText model (GIT, LLaVA, PaliGemma, Qwen2-VL, Idefics3, SmolVLM, ...)",
               CUSTOM_HINT)
