"""Checks that a HuggingFace model, its processor and its tokenizer fit together, and eval-mode scoring.

A processor or tokenizer from another checkpoint does not always fail: a tokenizer whose
vocabulary is smaller than the model's decodes generated tokens to empty words, and a caption
explained with it would be a map of nothing. Each mismatch is refused with a one-line
:class:`~glas_core.GLASError` before any sweep.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from glas_core.errors import fail

from .family_base import CaptionTokens
from .vision import NormalizedPixels, VisionInputs
from .words import Word


def in_training(model: Any) -> bool:
    """Whether any submodule of a torch model is in training mode (dropout on)."""
    return isinstance(model, torch.nn.Module) and any(m.training for m in model.modules())


@contextmanager
def evaluating(model: Any) -> Iterator[None]:
    """Run in eval mode (dropout off) and give every submodule its own mode back afterwards."""
    modules = list(model.modules()) if isinstance(model, torch.nn.Module) else []
    modes = [m.training for m in modules]
    if not any(modes):
        yield
        return
    model.eval()
    try:
        yield
    finally:
        for module, mode in zip(modules, modes):
            module.training = mode


def model_image_size(model: Any) -> tuple[int, int] | None:
    """``(height, width)`` the model's vision encoder is built for, when its config says so."""
    config = getattr(model, "config", None)
    for source in (getattr(config, "vision_config", None), getattr(config, "encoder", None), config):
        size = getattr(source, "image_size", None)
        if isinstance(size, int):
            return size, size
        if isinstance(size, (tuple, list)) and len(size) == 2 and all(isinstance(s, int) for s in size):
            return int(size[0]), int(size[1])
    return None


def check_image_size(model: Any, image_processor: Any, vision: VisionInputs) -> None:
    """Refuse a fixed-size processor that resizes to another size than the model's vision encoder takes."""
    if not isinstance(vision.layout, NormalizedPixels):
        return
    expected = model_image_size(model)
    got = tuple(int(s) for s in vision.pixels.shape[-2:])
    if expected is not None and got != expected:
        raise fail("processor", f"{type(image_processor).__name__} resizing to {got[0]} x {got[1]} pixels",
                   f"the {expected[0]} x {expected[1]} pixels the model's vision encoder is built for",
                   "use the processor saved with the model (AutoProcessor.from_pretrained of the same name), or set "
                   f"its size to {{'height': {expected[0]}, 'width': {expected[1]}}}")


def model_vocab_size(model: Any) -> int | None:
    """Rows of the model's output projection (its vocabulary), or the config's ``vocab_size``."""
    get = getattr(model, "get_output_embeddings", None)
    head = get() if callable(get) else None
    if isinstance(head, torch.nn.Linear):
        return int(head.out_features)
    config = getattr(model, "config", None)
    for source in (getattr(config, "text_config", None), getattr(config, "decoder", None), config):
        size = getattr(source, "vocab_size", None)
        if isinstance(size, int):
            return size
    return None


def _tokenizer_size(tokenizer: Any) -> int | None:
    try:
        return int(len(tokenizer))
    except TypeError:
        return None


#: A model's vocabulary may be padded beyond its tokenizer (to a multiple of 64, image tokens, ...):
#: LLaVA 32064 rows for 32002 tokens, Qwen2-VL 151936 for 151657. Below this share it is another tokenizer.
_MIN_VOCAB_SHARE = 0.9
#: The config ids that start a caption, which must be special tokens of the tokenizer. EOS and PAD
#: are left out: configs carry defaults that are ordinary tokens of their own tokenizer (BLIP's
#: text config names eos_token_id 2, "[unused1]" in its BERT vocabulary).
_SPECIAL_ID_NAMES = ("bos_token_id", "decoder_start_token_id")


def _special_ids(tokenizer: Any) -> set[int] | None:
    """The ids the tokenizer treats as special tokens, or None when it does not say."""
    listed = getattr(tokenizer, "all_special_ids", None)
    if listed is None:
        return None
    ids = {int(i) for i in listed}
    added = getattr(tokenizer, "added_tokens_decoder", None)
    if isinstance(added, dict):
        ids |= {int(i) for i, token in added.items() if getattr(token, "special", False)}
    return ids


def _config_special_ids(model: Any) -> list[tuple[str, int]]:
    """``(name, id)`` of the special token ids the model's config names (top level, text config, decoder)."""
    config = getattr(model, "config", None)
    found: list[tuple[str, int]] = []
    for source in (config, getattr(config, "text_config", None), getattr(config, "decoder", None)):
        for name in _SPECIAL_ID_NAMES:
            value = getattr(source, name, None) if source is not None else None
            values = value if isinstance(value, (list, tuple)) else [value]
            found += [(name, int(v)) for v in values if isinstance(v, int) and not isinstance(v, bool) and v >= 0]
    return found


def check_tokenizer(model: Any, tokenizer: Any) -> None:
    """Refuse a tokenizer whose vocabulary does not fit the model's, before anything runs.

    Its size must not exceed the model's vocabulary nor fall far below it (see
    ``_MIN_VOCAB_SHARE``), and the ids the model's config starts a caption with (BOS, decoder
    start) must be special tokens of the tokenizer. A tokenizer from another checkpoint otherwise
    explains a given caption silently, as ids the model reads as other words.
    """
    fix = "load it with AutoProcessor.from_pretrained(<the model's name>) or AutoTokenizer.from_pretrained(<the same>)"
    size, vocab = _tokenizer_size(tokenizer), model_vocab_size(model)
    if size is not None and vocab is not None and (size > vocab or size < _MIN_VOCAB_SHARE * vocab):
        raise fail("tokenizer", f"a tokenizer of {size} tokens for a model whose vocabulary has {vocab}",
                   "the tokenizer the model was trained with", fix)
    special = _special_ids(tokenizer)
    if special is None:
        return
    for name, token_id in _config_special_ids(model):
        if token_id not in special and (size is None or token_id < size):
            try:
                shown = repr(tokenizer.convert_ids_to_tokens(token_id))
            except Exception:  # noqa: BLE001 - only for the message
                shown = "?"
            raise fail("tokenizer", f"a tokenizer for which token {token_id} ({shown}), the model config's "
                       f"{name}, is not a special token", "the tokenizer the model was trained with", fix)


def check_token_ids(model: Any, tokenizer: Any, tokens: CaptionTokens, generated: bool) -> None:
    """Refuse token ids the model cannot embed, and generated ids the tokenizer does not know."""
    ids = torch.cat([tokens.prefix_ids, tokens.target_ids])
    vocab = model_vocab_size(model)
    if vocab is not None and ids.numel() and int(ids.max()) >= vocab:
        raise fail("tokenizer", f"token id {int(ids.max())} (the model's vocabulary has {vocab} tokens)",
                   "the tokenizer the model was trained with", "load it with AutoProcessor.from_pretrained("
                   "<the model's name>) or AutoTokenizer.from_pretrained(<the model's name>)")
    size = _tokenizer_size(tokenizer)
    targets = tokens.target_ids
    if generated and size is not None and targets.numel() and int(targets.max()) >= size:
        raise fail("tokenizer", f"a tokenizer of {size} tokens for a model that generated token id "
                   f"{int(targets.max())}", "the tokenizer the model was trained with",
                   "load it with AutoTokenizer.from_pretrained(<the model's name>)")


def check_word_texts(words: Sequence[Word], tokens: CaptionTokens) -> None:
    """Refuse words the tokenizer decodes to nothing: the tokenizer does not match the model."""
    empty = [w for w in words if not w.text.strip()]
    if empty:
        ids = [int(tokens.target_ids[p]) for p in empty[0].positions]
        raise fail("tokenizer", f"a tokenizer that decodes {len(empty)} of {len(words)} caption words to empty "
                   f"text (token ids {ids})", "the tokenizer the model was trained with",
                   "load it with AutoTokenizer.from_pretrained(<the model's name>)")
