"""Teacher-forced caption scoring for each HuggingFace captioner family.

Every family feeds ``prefix + targets[:-1]`` as text and reads the last ``T`` logits, so one
forward pass of a batch of perturbed images gives ``log P(w_t | image, w_<t)`` for every
caption token ``t`` at once (the (B, T) columns GLAS fuses, one sweep for the whole caption).

- :class:`EncoderDecoderFamily`: ``VisionEncoderDecoderModel``; the prefix is
  ``decoder_start_token_id`` and the text goes in as ``decoder_input_ids``.
- :class:`BlipFamily`: ``BlipForConditionalGeneration``. Its ``generate`` replaces the
  tokenizer's ``[CLS]`` with the decoder's BOS token but its ``forward`` does not, so the
  prefix here is the BOS token.
- :class:`ImageTextToTextFamily`: GIT, LLaVA and other decoder-only ``AutoModelForImageTextToText``
  models; the caption is the last ``T`` tokens of ``input_ids`` (after a prompt or BOS) and
  ``logits_to_keep=T`` skips the vocabulary projection of every other position.
- :class:`CustomFamily`: a user callable ``token_logprobs(pixel_values, target_ids) -> (B, T)``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from glas_core.errors import fail

TokenLogprobs = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

CUSTOM_HINT = ("pass token_logprobs=fn to CaptionExplainer, where fn(pixel_values, target_ids) returns the "
               "(B, T) log-probabilities log P(target_ids[t] | image, target_ids[:t]) for a (B, C, H, W) batch of "
               "normalised pixel values (see glas_adapters.hf.CaptionExplainer)")


@dataclass
class CaptionTokens:
    """A caption as the model sees it.

    Attributes
    ----------
    prefix_ids : torch.Tensor
        ``(P,)`` context before the caption (decoder start, BOS, or a prompt with image tokens).
    target_ids : torch.Tensor
        ``(T,)`` caption tokens the model predicts, specials (EOS, SEP) included.
    extra : dict
        Other model inputs for one image (e.g. ``image_sizes``), repeated over the batch.
    """

    prefix_ids: torch.Tensor
    target_ids: torch.Tensor
    extra: dict[str, torch.Tensor] = field(default_factory=dict)


def gather_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``log softmax(logits)[..., target]`` for ``(B, T, V)`` logits and ``(T,)`` targets, in float32."""
    logits = logits.float()
    index = targets.to(logits.device).view(1, -1, 1).expand(logits.shape[0], -1, 1)
    return logits.gather(-1, index)[..., 0] - torch.logsumexp(logits, dim=-1)


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _ids(tokenizer: Any, text: str, add_special_tokens: bool) -> list[int]:
    return [int(i) for i in tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"]]


def _stop_ids(model: Any, tokenizer: Any) -> set[int]:
    """Token ids that end a generated caption."""
    found: set[int] = set()
    for source in (getattr(model, "generation_config", None), getattr(model, "config", None),
                   getattr(getattr(model, "config", None), "text_config", None)):
        value = getattr(source, "eos_token_id", None)
        found.update([value] if isinstance(value, int) else list(value or []))
    for name in ("eos_token_id", "sep_token_id"):
        value = getattr(tokenizer, name, None)
        if isinstance(value, int):
            found.add(value)
    return found


def _trim(ids: torch.Tensor, stop: set[int], pad: int | None) -> torch.Tensor:
    """Cut a generated sequence after its first stop token (kept), dropping trailing padding."""
    values = ids.tolist()
    for i, v in enumerate(values):
        if v in stop:
            return ids[: i + 1]
    end = len(values)
    while pad is not None and end > 0 and values[end - 1] == pad:
        end -= 1
    return ids[:end]


class Family:
    """How one model family turns a caption into token log-probabilities."""

    name = "family"

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer

    # -- tokens ---------------------------------------------------------------------------------
    def from_text(self, caption: str, image: Any, prompt: str | None, processor: Any) -> CaptionTokens:
        raise NotImplementedError

    def generate(self, pixel_values: torch.Tensor, image: Any, prompt: str | None, processor: Any,
                 **generate_kwargs: Any) -> CaptionTokens:
        raise NotImplementedError

    # -- scoring --------------------------------------------------------------------------------
    def logits(self, pixel_values: torch.Tensor, text_ids: torch.Tensor, keep: int,
               extra: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def token_logprobs(self, pixel_values: torch.Tensor, tokens: CaptionTokens) -> torch.Tensor:
        """``(B, T)`` teacher-forced ``log P(target_t | image, prefix, target_<t)``, one forward pass."""
        batch = pixel_values.shape[0]
        n_targets = int(tokens.target_ids.shape[0])
        text = torch.cat([tokens.prefix_ids, tokens.target_ids[:-1]]).to(pixel_values.device)
        text = text.unsqueeze(0).expand(batch, -1)
        extra = {k: v.to(pixel_values.device).expand(batch, *v.shape[1:]) for k, v in tokens.extra.items()}
        logits = self.logits(pixel_values, text, n_targets, extra)
        return gather_logprobs(logits[:, -n_targets:], tokens.target_ids)

    def _pad_id(self) -> int | None:
        pad = getattr(self.tokenizer, "pad_token_id", None)
        return pad if isinstance(pad, int) else None


class EncoderDecoderFamily(Family):
    """``VisionEncoderDecoderModel``: decoder inputs are ``decoder_start_token_id`` + ``targets[:-1]``."""

    name = "VisionEncoderDecoderModel"

    def _start(self) -> int:
        start = getattr(self.model.config, "decoder_start_token_id", None)
        if start is None:
            start = getattr(getattr(self.model, "generation_config", None), "decoder_start_token_id", None)
        if start is None:
            raise fail("model.config.decoder_start_token_id", None, "the id the decoder starts from",
                        "set model.config.decoder_start_token_id (e.g. tokenizer.bos_token_id)")
        return int(start)

    def from_text(self, caption: str, image: Any, prompt: str | None, processor: Any) -> CaptionTokens:
        # Labels are tokenizer(caption).input_ids, as in HF's VisionEncoderDecoder training recipe.
        return CaptionTokens(torch.tensor([self._start()]), torch.tensor(_ids(self.tokenizer, caption, True)))

    def generate(self, pixel_values, image, prompt, processor, **generate_kwargs) -> CaptionTokens:
        out = self.model.generate(pixel_values=pixel_values, **generate_kwargs)
        sequence = torch.as_tensor(out[0] if not hasattr(out, "sequences") else out.sequences[0]).cpu()
        targets = _trim(sequence[1:], _stop_ids(self.model, self.tokenizer), self._pad_id())
        return CaptionTokens(sequence[:1], targets)

    def logits(self, pixel_values, text_ids, keep, extra):
        return self.model(pixel_values=pixel_values, decoder_input_ids=text_ids, use_cache=False, **extra).logits


class BlipFamily(Family):
    """``BlipForConditionalGeneration``: the prefix is the decoder BOS, which ``forward`` does not insert."""

    name = "BlipForConditionalGeneration"

    def _bos(self) -> int:
        bos = getattr(self.model.config.text_config, "bos_token_id", None)
        if bos is None:
            raise fail("model.config.text_config.bos_token_id", None, "the BLIP decoder's BOS id",
                        "set it as in the pretrained config (30522 for Salesforce/blip-*)")
        return int(bos)

    def from_text(self, caption: str, image: Any, prompt: str | None, processor: Any) -> CaptionTokens:
        ids = _ids(self.tokenizer, caption, True)
        first = {getattr(self.tokenizer, "cls_token_id", None), getattr(self.tokenizer, "bos_token_id", None)}
        if ids and ids[0] in first:
            ids = ids[1:]  # [CLS] is replaced by the decoder's BOS, as BlipForConditionalGeneration.generate does
        return CaptionTokens(torch.tensor([self._bos()]), torch.tensor(ids))

    def generate(self, pixel_values, image, prompt, processor, **generate_kwargs) -> CaptionTokens:
        sequence = torch.as_tensor(self.model.generate(pixel_values=pixel_values, **generate_kwargs)[0]).cpu()
        stop = _stop_ids(self.model, self.tokenizer) | {int(self.model.config.text_config.sep_token_id)}
        return CaptionTokens(torch.tensor([self._bos()]), _trim(sequence[1:], stop, self._pad_id()))

    def logits(self, pixel_values, text_ids, keep, extra):
        kwargs = {"logits_to_keep": keep} if _accepts(self.model.forward, "logits_to_keep") else {}
        return self.model(pixel_values=pixel_values, input_ids=text_ids, **kwargs, **extra).logits


class ImageTextToTextFamily(Family):
    """Decoder-only image-text-to-text models (GIT, LLaVA, ...): the caption is the last T tokens."""

    name = "image-text-to-text (decoder-only)"
    _skip = ("input_ids", "attention_mask", "pixel_values", "token_type_ids")

    def _prefix(self, image: Any, prompt: str | None, processor: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        if prompt is not None:
            inputs = processor(images=image, text=prompt, return_tensors="pt")
            extra = {k: torch.as_tensor(v) for k, v in inputs.items()
                     if k not in self._skip and isinstance(v, torch.Tensor)}
            return torch.as_tensor(inputs["input_ids"][0]).cpu(), extra
        bos = None
        for source in (getattr(self.model, "generation_config", None), self.model.config, self.tokenizer):
            bos = bos if bos is not None else getattr(source, "bos_token_id", None)
        if bos is None:
            bos = getattr(self.tokenizer, "cls_token_id", None)
        if bos is None:
            raise fail("prompt", None, "a prompt for a model without a BOS token id",
                        "pass prompt='...' with the model's image placeholder, e.g. prompt='<image>'")
        return torch.tensor([int(bos)]), {}

    def from_text(self, caption: str, image: Any, prompt: str | None, processor: Any) -> CaptionTokens:
        prefix, extra = self._prefix(image, prompt, processor)
        return CaptionTokens(prefix, torch.tensor(_ids(self.tokenizer, caption, False)), extra)

    def generate(self, pixel_values, image, prompt, processor, **generate_kwargs) -> CaptionTokens:
        prefix, extra = self._prefix(image, prompt, processor)
        out = self.model.generate(input_ids=prefix[None].to(pixel_values.device), pixel_values=pixel_values,
                                  attention_mask=torch.ones(1, prefix.shape[0], dtype=torch.long,
                                                            device=pixel_values.device),
                                  **{k: v.to(pixel_values.device) for k, v in extra.items()}, **generate_kwargs)
        sequence = torch.as_tensor(out[0]).cpu()
        targets = _trim(sequence[prefix.shape[0]:], _stop_ids(self.model, self.tokenizer), self._pad_id())
        return CaptionTokens(prefix, targets, extra)

    def logits(self, pixel_values, text_ids, keep, extra):
        kwargs: dict[str, Any] = {"attention_mask": torch.ones_like(text_ids)}
        if _accepts(self.model.forward, "logits_to_keep"):
            kwargs["logits_to_keep"] = keep
        if _accepts(self.model.forward, "use_cache"):
            kwargs["use_cache"] = False
        return self.model(pixel_values=pixel_values, input_ids=text_ids, **kwargs, **extra).logits


class CustomFamily(Family):
    """A user-supplied ``token_logprobs(pixel_values, target_ids) -> (B, T)`` log-probabilities."""

    name = "custom token_logprobs"

    def __init__(self, model: Any, tokenizer: Any, fn: TokenLogprobs) -> None:
        super().__init__(model, tokenizer)
        self.fn = fn

    def from_text(self, caption: str, image: Any, prompt: str | None, processor: Any) -> CaptionTokens:
        return CaptionTokens(torch.zeros(0, dtype=torch.long), torch.tensor(_ids(self.tokenizer, caption, True)))

    def generate(self, pixel_values, image, prompt, processor, **generate_kwargs) -> CaptionTokens:
        raise fail("caption", None, "a caption string when token_logprobs= is given",
                    "generate the caption with your model first and pass caption='...'")

    def token_logprobs(self, pixel_values: torch.Tensor, tokens: CaptionTokens) -> torch.Tensor:
        out = torch.as_tensor(self.fn(pixel_values, tokens.target_ids.to(pixel_values.device)))
        expected = (pixel_values.shape[0], int(tokens.target_ids.shape[0]))
        if tuple(out.shape) != expected:
            raise fail("token_logprobs output", f"shape {tuple(out.shape)}",
                        f"shape {expected}: one log-probability per image and caption token",
                        "return log P(target_ids[t] | image, target_ids[:t]) for every t")
        return out.float()


def _image_text_to_text_names() -> set[str]:
    try:
        from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES as names
    except ImportError:  # pragma: no cover - very old transformers
        return {"GitForCausalLM"}
    return set(names.values()) | {"GitForCausalLM"}


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
    if "VisionEncoderDecoderModel" in names:
        return EncoderDecoderFamily(model, tokenizer)
    if "BlipForConditionalGeneration" in names:
        return BlipFamily(model, tokenizer)
    forward = getattr(model, "forward", None)
    if (names & _image_text_to_text_names() and forward is not None and _accepts(forward, "input_ids")
            and _accepts(forward, "pixel_values") and not _accepts(forward, "decoder_input_ids")):
        return ImageTextToTextFamily(model, tokenizer)
    raise fail("model", type(model).__name__,
                "a VisionEncoderDecoderModel, BlipForConditionalGeneration or a decoder-only "
                "AutoModelForImageTextToText model (GIT, LLaVA, ...)", CUSTOM_HINT)
