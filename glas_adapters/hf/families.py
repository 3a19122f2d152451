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
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from glas_core.errors import fail, quoted

from .vision import VisionInputs

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
    per_token : dict
        Inputs with one value per prefix token (``token_type_ids``, ``mm_token_type_ids``), ``(P,)``.
    caption_values : dict
        The value each ``per_token`` input takes on caption tokens (PaliGemma's suffix is 1).
    """

    prefix_ids: torch.Tensor
    target_ids: torch.Tensor
    extra: dict[str, torch.Tensor] = field(default_factory=dict)
    per_token: dict[str, torch.Tensor] = field(default_factory=dict)
    caption_values: dict[str, int] = field(default_factory=dict)

    def sequence_inputs(self, batch: int, device: torch.device) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(B, P + T - 1)`` text ids and the per-token inputs over that text."""
        n_caption = int(self.target_ids.shape[0]) - 1
        text = torch.cat([self.prefix_ids, self.target_ids[:-1]]).to(device).unsqueeze(0).expand(batch, -1)
        per_token = {}
        for name, values in self.per_token.items():
            tail = torch.full((n_caption,), self.caption_values.get(name, 0), dtype=values.dtype)
            per_token[name] = torch.cat([values, tail]).to(device).unsqueeze(0).expand(batch, -1)
        return text, per_token


def gather_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``log softmax(logits)[..., target]`` for ``(B, T, V)`` logits and ``(T,)`` targets, in float32 (or float64).

    The softmax of :func:`glas_core.log_probabilities`, ``z_t - m - log1p(sum_{j != top} exp(z_j - m))``,
    so a token the model is sure of keeps ``-log1p(s) ~ -s`` where ``log_softmax`` rounds it to 0
    (its shadow scores would all be lambda); evaluated at the targets only, with one ``(B, T, V)``
    temporary, since vocabularies are large.
    """
    z = logits if logits.dtype in (torch.float32, torch.float64) else logits.float()
    top_value, top_index = z.max(dim=-1, keepdim=True)
    index = targets.to(z.device).view(1, -1, 1).expand(z.shape[0], -1, 1)
    picked = (z.gather(-1, index) - top_value)[..., 0]
    others = (z - top_value).exp_().scatter_(-1, top_index, 0.0).sum(dim=-1)
    return picked - torch.log1p(others)


def accepts(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` has a parameter called ``name``."""
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def text_ids(tokenizer: Any, text: str, add_special_tokens: bool) -> list[int]:
    """Token ids of ``text``."""
    return [int(i) for i in tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"]]


def stop_ids(model: Any, tokenizer: Any) -> set[int]:
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


def trim(ids: torch.Tensor, stop: set[int], pad: int | None) -> torch.Tensor:
    """Cut a generated sequence after its first stop token (kept), dropping trailing padding."""
    values = ids.tolist()
    for i, v in enumerate(values):
        if v in stop:
            return ids[: i + 1]
    end = len(values)
    while pad is not None and end > 0 and values[end - 1] == pad:
        end -= 1
    return ids[:end]


def sequence_of(out: Any) -> torch.Tensor:
    """The first generated sequence, on the CPU."""
    return torch.as_tensor(out.sequences[0] if hasattr(out, "sequences") else out[0]).cpu()


class Family:
    """How one model family turns a caption into token log-probabilities."""

    name = "family"
    takes_prompt = True

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer

    def check_prompt(self, prompt: str | None) -> None:
        """Refuse a prompt the family cannot use, and a prompt that is not a string."""
        if prompt is None:
            return
        if not isinstance(prompt, str):
            raise fail("prompt", quoted(prompt), "a string or None", "pass the prompt text, e.g. prompt='a picture of'")
        if not self.takes_prompt:
            raise fail("prompt", quoted(prompt), f"None for a {self.name} (it is not conditioned on text)",
                       "leave prompt out; put the text in the caption instead")

    # -- tokens ---------------------------------------------------------------------------------
    def from_text(self, caption: str, image: Any, prompt: str | None, processor: Any,
                  vision: VisionInputs) -> CaptionTokens:
        raise NotImplementedError

    def generate(self, vision: VisionInputs, image: Any, prompt: str | None, processor: Any,
                 **generate_kwargs: Any) -> CaptionTokens:
        raise NotImplementedError

    # -- scoring --------------------------------------------------------------------------------
    def logits(self, inputs: dict[str, torch.Tensor], text_ids: torch.Tensor, keep: int,
               extra: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def token_logprobs(self, inputs: dict[str, torch.Tensor], tokens: CaptionTokens) -> torch.Tensor:
        """``(B, T)`` teacher-forced ``log P(target_t | image, prefix, target_<t)``, one forward pass."""
        first = next(iter(inputs.values()))
        device = first.device
        batch = _batch_size(inputs, first)
        n_targets = int(tokens.target_ids.shape[0])
        text, per_token = tokens.sequence_inputs(batch, device)
        extra = {k: v.to(device).expand(batch, *v.shape[1:]) for k, v in tokens.extra.items()}
        logits = self.logits(inputs, text, n_targets, {**extra, **per_token})
        return gather_logprobs(logits[:, -n_targets:], tokens.target_ids)

    def _pad_id(self) -> int | None:
        pad = getattr(self.tokenizer, "pad_token_id", None)
        return pad if isinstance(pad, int) else None


def _batch_size(inputs: dict[str, torch.Tensor], first: torch.Tensor) -> int:
    """Images in a batch of model inputs (flat patches count by their grid rows)."""
    grid = inputs.get("image_grid_thw")
    return int(grid.shape[0]) if grid is not None else int(first.shape[0])


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
    from .decoder_only import decoder_only_family

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
