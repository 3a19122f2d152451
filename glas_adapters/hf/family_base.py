"""What every captioner family shares: the caption as tokens, the :class:`Family` interface with
its teacher-forced scoring, and the tokenizer and ``generate`` helpers.

:mod:`.families` (encoder-decoder, BLIP, custom), :mod:`.decoder_only` and :mod:`.prompts` import
this module; it imports none of them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from glas_core.errors import fail, quoted

from .vision import VisionInputs

#: A user callable ``token_logprobs(pixel_values, target_ids) -> (B, T)`` log-probabilities.
TokenLogprobs = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


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
