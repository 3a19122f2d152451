"""A toy captioner of coloured shapes, trained offline in about a minute on one CPU thread.

Used by the HF integration suite, ``examples/caption_words.py`` and ``benchmarks/caption.py``:
scenes hold two shapes of different colours, one in each half, and captions read
``"a red circle left of a blue square"`` (which object is named first is random, so the
model must look at positions). The tokenizer is a word-level ``tokenizers`` model wrapped in
``PreTrainedTokenizerFast``; the image processor is ``ViTImageProcessorPil`` built from
arguments; the model is a tiny ViT encoder + GPT-2 decoder (``VisionEncoderDecoderModel``).
Nothing is downloaded. Trained weights are cached in
``tempfile.gettempdir()/glas-hf-captioner-<hash>``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

COLOURS = {"red": (0.95, 0.15, 0.1), "green": (0.1, 0.85, 0.2), "blue": (0.15, 0.3, 1.0), "yellow": (0.95, 0.9, 0.1)}
SHAPES = ("circle", "square", "triangle")
SPECIALS = ("[PAD]", "[BOS]", "[EOS]", "[UNK]")
WORDS = ("a", "left", "right", "of", *COLOURS, *SHAPES)
IMAGE_SIZE = 32
RADIUS = 5
TRAIN_VERSION = 1  # bump when the data, model or recipe changes: a new cache directory


@dataclass
class Scene:
    """One synthetic scene: image, caption and the pixel mask of each named object."""

    image: np.ndarray          # (H, W, 3) float32 in [0, 1]
    caption: str
    masks: tuple[np.ndarray, np.ndarray]   # bool (H, W) of the first and second named object
    words: tuple[tuple[str, str], tuple[str, str]]  # (colour, shape) of first and second object


def _shape_mask(shape: str, cy: float, cx: float, size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    if shape == "circle":
        return (yy - cy) ** 2 + (xx - cx) ** 2 <= RADIUS ** 2
    if shape == "square":
        return (np.abs(yy - cy) <= RADIUS - 0.8) & (np.abs(xx - cx) <= RADIUS - 0.8)
    # triangle pointing up: apex at top, base at the bottom
    top, bottom = cy - RADIUS, cy + RADIUS
    half_width = (yy - top) / (bottom - top) * RADIUS
    return (yy >= top) & (yy <= bottom) & (np.abs(xx - cx) <= half_width)


def make_scene(rng: np.random.Generator, size: int = IMAGE_SIZE) -> Scene:
    """A black image with one shape per half, distinct colours, caption naming both."""
    colours = rng.choice(list(COLOURS), size=2, replace=False)
    shapes = rng.choice(SHAPES, size=2)
    image = rng.uniform(0.0, 0.06, size=(size, size, 3)).astype(np.float32)
    masks = []
    for side in range(2):  # 0: left object, 1: right object
        cy = rng.uniform(RADIUS + 1, size - RADIUS - 2)
        cx = rng.uniform(RADIUS + 1, size / 2 - RADIUS - 1) + side * size / 2
        mask = _shape_mask(str(shapes[side]), cy, cx, size)
        image[mask] = COLOURS[str(colours[side])]
        masks.append(mask)
    first = int(rng.integers(2))
    second = 1 - first
    relation = "left of" if first == 0 else "right of"
    caption = f"a {colours[first]} {shapes[first]} {relation} a {colours[second]} {shapes[second]}"
    return Scene(image, caption, (masks[first], masks[second]),
                 ((str(colours[first]), str(shapes[first])), (str(colours[second]), str(shapes[second]))))


def make_tokenizer() -> Any:
    """Word-level tokenizer over the toy vocabulary; appends [EOS] to every caption."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate((*SPECIALS, *WORDS))}
    core = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.post_processor = processors.TemplateProcessing(single="$A [EOS]", special_tokens=[("[EOS]", vocab["[EOS]"])])
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="[PAD]", bos_token="[BOS]",
                                   eos_token="[EOS]", unk_token="[UNK]")


def make_image_processor(size: int = IMAGE_SIZE) -> Any:
    """``ViTImageProcessorPil`` from arguments (no hub): resize to ``size``, normalise to [-1, 1]."""
    from transformers import ViTImageProcessorPil

    return ViTImageProcessorPil(size={"height": size, "width": size}, image_mean=[0.5, 0.5, 0.5],
                                image_std=[0.5, 0.5, 0.5])


def make_model(tokenizer: Any, size: int = IMAGE_SIZE, hidden: int = 64, layers: int = 2, seed: int = 0) -> Any:
    """A tiny ViT + GPT-2 ``VisionEncoderDecoderModel`` from configs, deterministic for ``seed``."""
    from transformers import GPT2Config, ViTConfig, VisionEncoderDecoderConfig, VisionEncoderDecoderModel

    encoder = ViTConfig(image_size=size, patch_size=4, hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=4, intermediate_size=2 * hidden, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    decoder = GPT2Config(vocab_size=len(tokenizer), n_embd=hidden, n_layer=layers, n_head=4, n_positions=16,
                         add_cross_attention=True, is_decoder=True, resid_pdrop=0.0, embd_pdrop=0.0,
                         attn_pdrop=0.0, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id = tokenizer.bos_token_id
    config.pad_token_id = tokenizer.pad_token_id
    config.eos_token_id = tokenizer.eos_token_id
    torch.manual_seed(seed)
    model = VisionEncoderDecoderModel(config)
    model.generation_config.decoder_start_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return model.eval()


def batch(rng: np.random.Generator, n: int, tokenizer: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` scenes as normalised pixel values ``(n, 3, H, W)`` and labels ``(n, L)``."""
    scenes = [make_scene(rng) for _ in range(n)]
    pixels = torch.from_numpy(np.stack([s.image for s in scenes])).permute(0, 3, 1, 2)
    labels = torch.tensor([tokenizer(s.caption)["input_ids"] for s in scenes])  # all captions have 8 tokens
    return (pixels - 0.5) / 0.5, labels


def _cache_dir(steps: int, seed: int, batch_size: int, lr: float) -> Path:
    import transformers

    key = json.dumps([TRAIN_VERSION, steps, seed, batch_size, lr, IMAGE_SIZE, RADIUS, WORDS, transformers.__version__,
                      torch.__version__.split("+")[0]])
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"glas-hf-captioner-{digest}"


def train_captioner(steps: int = 1000, seed: int = 0, batch_size: int = 48, lr: float = 3e-3,
                    log: Any = None) -> tuple[Any, Any, Any]:
    """Train (or load from the temp-dir cache) the toy captioner.

    1000 steps take about 1.5 minutes on one free CPU thread (longer on a busy machine); every
    later call loads the cached weights in a second.

    Returns
    -------
    model, image_processor, tokenizer
        The model in eval mode on CPU.
    """
    tokenizer = make_tokenizer()
    processor = make_image_processor()
    model = make_model(tokenizer, seed=seed)
    cache = _cache_dir(steps, seed, batch_size, lr)
    weights = cache / "model.pt"
    if weights.exists():
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        return model.eval(), processor, tokenizer
    rng = np.random.default_rng(seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps, pct_start=0.1)
    model.train()
    for step in range(steps):
        pixel_values, labels = batch(rng, batch_size, tokenizer)
        loss = model(pixel_values=pixel_values, labels=labels).loss
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        if log is not None and (step % 100 == 0 or step == steps - 1):
            log(f"step {step} loss {loss.item():.4f}")
    model.eval()
    cache.mkdir(parents=True, exist_ok=True)
    partial = cache / f"model.pt.{os.getpid()}.tmp"
    torch.save(model.state_dict(), partial)
    os.replace(partial, weights)  # atomic: a concurrent run never reads half a file
    return model, processor, tokenizer
