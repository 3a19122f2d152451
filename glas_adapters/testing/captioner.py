"""A toy image captioner of coloured shapes, trained offline on one CPU thread and cached.

Scenes hold two shapes of different colours, one in each half of a black image, and each
scene has exactly one true caption, ``"a red circle left of a blue square"``: the object
whose colour comes first in :data:`COLOURS` is named first, and the relation word says on
which side of the other one it is. (Naming a random object first would give every image two
true captions, and no captioner can tell which one a scene was labelled with.)

The tokenizer is a word-level ``tokenizers`` model wrapped in ``PreTrainedTokenizerFast``, the
image processor is ``ViTImageProcessorPil`` built from arguments, and the model is a tiny ViT
encoder + GPT-2 decoder (``VisionEncoderDecoderModel``). Nothing is downloaded. Trained
weights are cached in ``tempfile.gettempdir()/glas-hf-captioner-<hash>``, so only the first
call of a machine trains.

>>> from glas_adapters.testing import captioner                      # doctest: +SKIP
>>> model, processor, tokenizer = captioner.train_captioner()         # doctest: +SKIP
>>> scene = captioner.make_scene(np.random.default_rng(0))            # doctest: +SKIP
>>> captioner.generate_caption(model, processor, tokenizer, scene.image) == scene.caption  # doctest: +SKIP
True
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

#: Colours in naming order: of two objects, the one whose colour comes first is named first.
COLOURS = {"red": (0.95, 0.15, 0.1), "green": (0.1, 0.85, 0.2), "blue": (0.15, 0.3, 1.0), "yellow": (0.95, 0.9, 0.1)}
SHAPES = ("circle", "square", "triangle")
SPECIALS = ("[PAD]", "[BOS]", "[EOS]", "[UNK]")
WORDS = ("a", "left", "right", "of", *COLOURS, *SHAPES)
IMAGE_SIZE = 32
RADIUS = 5
#: Word positions of the first and second named object's colour and shape in a caption.
OBJECT_WORDS = {1: 0, 2: 0, 6: 1, 7: 1}
#: The training recipe of :func:`train_captioner`.
TRAIN_STEPS = 1000
TRAIN_BATCH = 48
TRAIN_LR = 3e-3
TRAIN_VERSION = 2  # bump when the data, model or recipe changes: a new cache directory
#: Standard deviation of the ViT position embeddings at initialisation (see :func:`make_model`).
POSITION_STD = 0.5

__all__ = ["COLOURS", "SHAPES", "SPECIALS", "WORDS", "IMAGE_SIZE", "RADIUS", "OBJECT_WORDS", "TRAIN_STEPS",
           "Scene", "make_scene", "make_tokenizer", "make_image_processor", "make_model", "training_batch",
           "train_captioner", "is_trained", "generate_caption"]


@dataclass
class Scene:
    """One synthetic scene: image, its one true caption and the pixel mask of each named object.

    Attributes
    ----------
    image : numpy.ndarray
        ``(H, W, 3)`` float32 in [0, 1].
    caption : str
        ``"a <colour> <shape> <left|right> of a <colour> <shape>"``.
    masks : tuple of numpy.ndarray
        Boolean ``(H, W)`` masks of the first and the second named object.
    words : tuple of (str, str)
        ``(colour, shape)`` of the first and the second named object.
    """

    image: np.ndarray
    caption: str
    masks: tuple[np.ndarray, np.ndarray]
    words: tuple[tuple[str, str], tuple[str, str]]


def _shape_mask(shape: str, cy: float, cx: float, size: int) -> np.ndarray:
    """The pixels of a shape of radius :data:`RADIUS` centred at ``(cy, cx)``.

    The square fills the circle's bounding box: its corners are what tells the two apart (a
    square of the circle's area differs from it by a few pixels, which the tiny model learns
    only slowly).
    """
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    if shape == "circle":
        return (yy - cy) ** 2 + (xx - cx) ** 2 <= RADIUS ** 2
    if shape == "square":
        return (np.abs(yy - cy) <= RADIUS) & (np.abs(xx - cx) <= RADIUS)
    # triangle pointing up: apex at top, base at the bottom
    top, bottom = cy - RADIUS, cy + RADIUS
    half_width = (yy - top) / (bottom - top) * RADIUS
    return (yy >= top) & (yy <= bottom) & (np.abs(xx - cx) <= half_width)


def make_scene(rng: np.random.Generator, size: int = IMAGE_SIZE) -> Scene:
    """A black image with one shape per half in two distinct colours, and its one true caption."""
    colours = [str(c) for c in rng.choice(list(COLOURS), size=2, replace=False)]
    shapes = [str(s) for s in rng.choice(SHAPES, size=2)]
    image = rng.uniform(0.0, 0.06, size=(size, size, 3)).astype(np.float32)
    masks = []
    for side in range(2):  # 0: left object, 1: right object
        cy = rng.uniform(RADIUS + 1, size - RADIUS - 2)
        cx = rng.uniform(RADIUS + 1, size / 2 - RADIUS - 1) + side * size / 2
        mask = _shape_mask(shapes[side], cy, cx, size)
        image[mask] = COLOURS[colours[side]]
        masks.append(mask)
    order = list(COLOURS)
    first = 0 if order.index(colours[0]) < order.index(colours[1]) else 1
    second = 1 - first
    relation = "left of" if first == 0 else "right of"
    caption = f"a {colours[first]} {shapes[first]} {relation} a {colours[second]} {shapes[second]}"
    return Scene(image, caption, (masks[first], masks[second]),
                 ((colours[first], shapes[first]), (colours[second], shapes[second])))


def make_tokenizer() -> Any:
    """Word-level tokenizer over :data:`WORDS`; appends ``[EOS]`` to every caption."""
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
    """A tiny ViT + GPT-2 ``VisionEncoderDecoderModel`` from configs (untrained), deterministic for ``seed``."""
    from transformers import GPT2Config, VisionEncoderDecoderConfig, VisionEncoderDecoderModel, ViTConfig

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
    with torch.no_grad():
        # ViT starts its position embeddings at std 0.02: the patches then barely say where they
        # are, and the tiny model does not learn "left of" / "right of" within the training
        # budget. Unit-scale embeddings carry the position from the first step.
        model.encoder.embeddings.position_embeddings.normal_(0.0, POSITION_STD)
    generation = model.generation_config
    generation.decoder_start_token_id = generation.bos_token_id = tokenizer.bos_token_id
    generation.eos_token_id = tokenizer.eos_token_id
    generation.pad_token_id = tokenizer.pad_token_id
    return model.eval()


def training_batch(rng: np.random.Generator, n: int, tokenizer: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` fresh scenes as normalised pixel values ``(n, 3, H, W)`` and caption labels ``(n, 9)``."""
    scenes = [make_scene(rng) for _ in range(n)]
    pixels = torch.from_numpy(np.stack([s.image for s in scenes])).permute(0, 3, 1, 2)
    labels = torch.tensor([tokenizer(s.caption)["input_ids"] for s in scenes])  # 8 words and [EOS]
    return (pixels - 0.5) / 0.5, labels


def _cache_dir(steps: int, seed: int, batch_size: int, lr: float) -> Path:
    import transformers

    key = json.dumps([TRAIN_VERSION, steps, seed, batch_size, lr, IMAGE_SIZE, RADIUS, WORDS, transformers.__version__,
                      torch.__version__.split("+")[0]])
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"glas-hf-captioner-{digest}"


def is_trained(steps: int = TRAIN_STEPS, seed: int = 0, batch_size: int = TRAIN_BATCH, lr: float = TRAIN_LR) -> bool:
    """Whether :func:`train_captioner` with these arguments loads cached weights instead of training."""
    return (_cache_dir(steps, seed, batch_size, lr) / "model.pt").exists()


def train_captioner(steps: int = TRAIN_STEPS, seed: int = 0, batch_size: int = TRAIN_BATCH, lr: float = TRAIN_LR,
                    log: Callable[[str], None] | None = None) -> tuple[Any, Any, Any]:
    """Train (or load from the temp-dir cache) the toy captioner.

    The default recipe takes about 1.5 minutes on one free CPU thread (longer on a busy
    machine); every later call loads the cached weights in a second. Training uses the
    calling process's torch threads and leaves the global RNG seeded.

    Parameters
    ----------
    steps, seed, batch_size, lr
        The recipe: AdamW with a one-cycle schedule over ``steps`` batches of fresh scenes.
    log : callable, optional
        Receives a line with the loss every 100 steps.

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
        pixel_values, labels = training_batch(rng, batch_size, tokenizer)
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


def generate_caption(model: Any, processor: Any, tokenizer: Any, image: np.ndarray, max_new_tokens: int = 10) -> str:
    """The model's greedy caption of one ``(H, W, 3)`` float image in [0, 1]."""
    pixel_values = processor(images=image, do_rescale=False, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        ids = model.generate(pixel_values=pixel_values, max_new_tokens=max_new_tokens, do_sample=False)
    return tokenizer.decode(ids[0], skip_special_tokens=True)
