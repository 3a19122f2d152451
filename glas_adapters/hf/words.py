"""Group caption tokens into words.

A word's score is the product of its tokens' probabilities (a sum of log-probabilities), so
words need a token -> word map. We take it from the fast tokenizer's ``word_ids`` when the
caption tokens re-encode to themselves, else from the tokenizer's word-start markers
(``Ġ`` byte-level BPE, ``▁`` SentencePiece, ``##`` WordPiece continuation). Special tokens
(BOS, EOS, SEP, PAD) and whitespace tokens (a newline) are scored by the model but never
explained.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

_WORD_START = ("Ġ", "▁", " ")


@dataclass(frozen=True)
class Word:
    """One explained word: its text and the positions of its tokens among the caption targets."""

    text: str
    positions: tuple[int, ...]


def special_ids(tokenizer: Any) -> set[int]:
    """Ids the tokenizer calls special (BOS, EOS, PAD, ...), added special tokens included.

    A processor may re-register its own special tokens and drop others from
    ``all_special_ids`` (Idefics3's ``<row_i_col_j>``); decoding still skips them, so they are
    special here too.
    """
    found = {int(i) for i in (getattr(tokenizer, "all_special_ids", None) or [])}
    added = getattr(tokenizer, "added_tokens_decoder", None) or {}
    found.update(int(i) for i, token in added.items() if getattr(token, "special", False))
    return found


def _runs_from_word_ids(tokenizer: Any, ids: list[int]) -> list[list[int]] | None:
    """Token runs per word from ``word_ids``, or None when ids do not round-trip through text."""
    text = tokenizer.decode(ids, skip_special_tokens=True)
    try:
        enc = tokenizer(text, add_special_tokens=False)
        word_ids = enc.word_ids()
    except (ValueError, AttributeError, NotImplementedError, TypeError):
        return None
    if list(enc["input_ids"]) != list(ids) or any(w is None for w in word_ids):
        return None
    runs: list[list[int]] = []
    previous = object()
    for index, word_id in enumerate(word_ids):
        if word_id != previous:
            runs.append([])
            previous = word_id
        runs[-1].append(index)
    return runs


def _runs_from_markers(tokenizer: Any, ids: list[int]) -> list[list[int]]:
    """Token runs per word from word-start markers (``Ġ``/``▁``) or WordPiece ``##`` continuations."""
    pieces = [str(p) for p in tokenizer.convert_ids_to_tokens(ids)]
    wordpiece = any(p.startswith("##") for p in pieces)
    marked = any(p.startswith(_WORD_START) for p in pieces)
    runs: list[list[int]] = []
    for index, piece in enumerate(pieces):
        if wordpiece:
            starts = not piece.startswith("##")
        elif marked:
            starts = piece.startswith(_WORD_START)
        else:
            starts = True  # word-level vocabulary: one token, one word
        if starts or not runs:
            runs.append([])
        runs[-1].append(index)
    return runs


def group_words(tokenizer: Any, target_ids: Sequence[int]) -> list[Word]:
    """Words of a caption given as its target token ids (special tokens are left out).

    Parameters
    ----------
    tokenizer : transformers tokenizer
        The captioner's tokenizer.
    target_ids : sequence of int
        Caption tokens as the model predicts them, specials included.

    Returns
    -------
    list of Word
        In caption order; ``positions`` index into ``target_ids``.
    """
    specials = special_ids(tokenizer)
    kept = [i for i, t in enumerate(target_ids) if int(t) not in specials]
    ids = [int(target_ids[i]) for i in kept]
    if not ids:
        return []
    runs = _runs_from_word_ids(tokenizer, ids) or _runs_from_markers(tokenizer, ids)
    words = []
    for run in runs:
        run_ids = [ids[i] for i in run]
        text = tokenizer.decode(run_ids, skip_special_tokens=True).strip()
        if not text and tokenizer.decode(run_ids, skip_special_tokens=False):
            continue  # whitespace (a newline) or a special token: scored, not a word to explain
        words.append(Word(text=text, positions=tuple(kept[i] for i in run)))
    return words


def word_matrix(words: Sequence[Word], n_tokens: int, dtype: torch.dtype = torch.float32,
                device: torch.device | str = "cpu") -> torch.Tensor:
    """``(n_tokens, n_words)`` 0/1 matrix: token log-probs @ matrix = word log-probs."""
    matrix = torch.zeros(n_tokens, len(words), dtype=dtype, device=device)
    for column, word in enumerate(words):
        matrix[list(word.positions), column] = 1.0
    return matrix
