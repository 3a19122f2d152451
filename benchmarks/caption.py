"""Caption explanation cost: all T words in one sweep vs T single-word sweeps vs the bare forward passes.

One GLAS sweep scores every word of the caption (T columns of one teacher-forced forward pass),
so explaining the whole caption should cost about what one word costs (goal: close to T x
faster than T separate runs) and barely more than the model's own forward passes over the same
2k^2 + 1 images (goal: <= 1.10). All three are measured side by side in one run, interleaved,
best of ``--repeats``.

    python benchmarks/caption.py                      # CPU, one thread
    python benchmarks/caption.py --quick              # seconds: grid 3, 32 px, one tiny layer (CI smoke run)
    python benchmarks/caption.py --device cuda --grid 15 --image-size 224 --hidden 384

The model is a VisionEncoderDecoder (ViT + GPT-2) with random weights built from configs
(timing does not depend on training); the caption has 8 words. On CPU the benchmark calls
``torch.set_num_threads(1)`` (the machine's 2 cores are shared); on a GPU it leaves torch's
default. The first output line says which.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import glas_core  # noqa: E402
from glas_adapters.hf import CaptionExplainer  # noqa: E402
from glas_adapters.testing import captioner as toy  # noqa: E402

CAPTION = "a red circle left of a blue square"


def build(image_size: int, hidden: int, layers: int, device: str):
    from transformers import GPT2Config, VisionEncoderDecoderConfig, VisionEncoderDecoderModel, ViTConfig

    tokenizer = toy.make_tokenizer()
    processor = toy.make_image_processor(image_size)
    encoder = ViTConfig(image_size=image_size, patch_size=max(4, image_size // 14), hidden_size=hidden,
                        num_hidden_layers=layers, num_attention_heads=4, intermediate_size=4 * hidden)
    decoder = GPT2Config(vocab_size=len(tokenizer), n_embd=hidden, n_layer=layers, n_head=4, n_positions=32,
                         add_cross_attention=True, is_decoder=True,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id = tokenizer.bos_token_id
    config.pad_token_id = tokenizer.pad_token_id
    torch.manual_seed(0)
    model = VisionEncoderDecoderModel(config).eval().to(device)
    return model, processor, tokenizer


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--grid", type=int, default=10)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="grid 3, 32 px, hidden 32, one layer, one repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.grid, args.image_size, args.hidden, args.layers, args.repeats = 3, 32, 32, 1, 1
    if args.device == "cpu":
        torch.set_num_threads(1)

    model, processor, tokenizer = build(args.image_size, args.hidden, args.layers, args.device)
    image = (np.random.default_rng(0).random((args.image_size, args.image_size, 3)) * 255).astype(np.uint8)
    explainer = CaptionExplainer(model, processor, tokenizer=tokenizer)
    scorer = explainer.scorer(image, CAPTION)
    n_words = len(scorer.words)
    rows = 2 * args.grid ** 2 + 1
    kwargs = dict(grid=args.grid, batch_size=args.batch_size)

    # Bare forward passes: the same rows, batches and decoder inputs, no masks, no fusion.
    pixel_values = scorer.space.normalize(scorer.pixels[None]).expand(args.batch_size, -1, -1, -1).contiguous()
    text = torch.cat([scorer.tokens.prefix_ids, scorer.tokens.target_ids[:-1]]).to(args.device)

    @torch.no_grad()
    def bare() -> None:
        done = 0
        while done < rows:
            b = min(args.batch_size, rows - done)
            model(pixel_values=pixel_values[:b], decoder_input_ids=text.expand(b, -1), use_cache=False)
            done += b

    def all_words() -> None:
        explainer.explain(image, CAPTION, **kwargs)

    def one_word_at_a_time() -> None:
        for t in range(n_words):
            glas_core.explain(lambda b, t=t: scorer(b)[:, t:t + 1], scorer.pixels, **kwargs)

    timings: dict[str, list[float]] = {"bare": [], "all": [], "per_word": []}
    runs = {"bare": bare, "all": all_words, "per_word": one_word_at_a_time}
    for fn in runs.values():  # warm-up
        fn()
    for _ in range(args.repeats):
        for name, fn in runs.items():
            sync(args.device)
            start = time.perf_counter()
            fn()
            sync(args.device)
            timings[name].append(time.perf_counter() - start)
    best = {name: min(ts) for name, ts in timings.items()}
    print(f"device {args.device}, torch.set_num_threads({torch.get_num_threads()}), "
          f"grid {args.grid} ({rows} image passes), {n_words} words, image {args.image_size}px, "
          f"hidden {args.hidden}, layers {args.layers}, batch {args.batch_size}")
    print(f"bare forward passes      {best['bare']:.3f} s")
    print(f"GLAS, all words at once  {best['all']:.3f} s")
    print(f"GLAS, one word per run   {best['per_word']:.3f} s  ({n_words} sweeps)")
    speedup = best["per_word"] / best["all"]
    overhead = best["all"] / best["bare"]
    print(f"speed-up of one sweep over {n_words} single-word runs: {speedup:.2f}x (goal: close to {n_words}x)")
    print(f"all-words sweep / bare forward passes: {overhead:.3f} (goal: <= 1.10)")
    return {"speedup": speedup, "overhead": overhead, "words": n_words}


if __name__ == "__main__":
    main()
