"""Tiny vision-language models of today's families, built offline from configs (random weights).

Each builder returns ``(model, processor, tokenizer)``: word-level tokenizers built with
``tokenizers``, image processors built from arguments (PIL backends: torchvision does not
import beside this torch), 32 px images, hidden size 32, two layers. Qwen2-VL and SmolVLM get
no full processor: theirs need the video processor, which needs torchvision, so they are used
as a user without video would, image processor plus tokenizer.
"""

from __future__ import annotations

from typing import Any

import torch
import transformers

SIZE = 32
WORDS = ["a", "the", "dog", "cat", "is", "playing", "on", "sofa", "red", "blue", ".", "runs", "with", "ball",
         "picture", "of", "describe", "image", "user", "assistant", ":", "caption", "en", "what", "this"]
#: A chat template in the shape of LLaVA's: the image placeholder where the conversation puts the image.
LLAVA_TEMPLATE = ("{% for m in messages %}{{ m['role'] }} : {% for c in m['content'] %}{% if c['type'] == 'image' %}"
                  "<image> {% else %}{{ c['text'] }} {% endif %}{% endfor %}{% endfor %}"
                  "{% if add_generation_prompt %}assistant : {% endif %}")
QWEN_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% for c in m['content'] %}"
                 "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>{% else %}{{ c['text'] }}"
                 "{% endif %}{% endfor %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n"
                 "{% endif %}")
GEMMA3_TEMPLATE = ("{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m['role'] }}\n{% for c in m['content'] %}"
                   "{% if c['type'] == 'image' %}<start_of_image>{% else %}{{ c['text'] }}{% endif %}{% endfor %}"
                   "<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>assistant\n{% endif %}")
SMOLVLM_TEMPLATE = ("<|im_start|>{% for m in messages %}{{ m['role'] }}{% for c in m['content'] %}"
                    "{% if c['type'] == 'image' %}<image>{% else %} {{ c['text'] }}{% endif %}{% endfor %}"
                    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}assistant :{% endif %}")


def word_tokenizer(specials: list[str], extra_specials: tuple[str, ...] = (), eos_after: bool = False,
                   **special_tokens: str) -> Any:
    """A whitespace word-level tokenizer: ``specials`` first (ids 0, 1, ...), then :data:`WORDS`, then ``\\n``.

    ``eos_after`` appends ``eos_token`` to every text (T5 and Pix2Struct labels end with it).
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    vocab = {token: i for i, token in enumerate([*specials, *extra_specials, *WORDS])}
    core = Tokenizer(models.WordLevel(vocab, unk_token=special_tokens["unk_token"]))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.decoder = decoders.WordPiece(prefix="##")
    if eos_after:
        eos = special_tokens["eos_token"]
        core.post_processor = processors.TemplateProcessing(single=f"$A {eos}", special_tokens=[(eos, vocab[eos])])
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=core, **special_tokens)
    tokenizer.add_special_tokens({"additional_special_tokens": list(extra_specials)})
    tokenizer.add_tokens([AddedToken("\n", normalized=False)])
    return tokenizer


def _vision(**extra: Any) -> dict[str, Any]:
    return dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                image_size=SIZE, patch_size=8, **extra)


def _text(tokenizer: Any, **extra: Any) -> dict[str, Any]:
    return {**dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                   num_attention_heads=4, num_key_value_heads=2), **extra}


def _seeded(cls: Any, config: Any, seed: int) -> Any:
    torch.manual_seed(seed)
    return cls(config).eval()


def paligemma() -> tuple[Any, Any, Any]:
    tokenizer = word_tokenizer(["<unk>", "<pad>", "<bos>", "<eos>"], ("<image>",), unk_token="<unk>",
                               pad_token="<pad>", bos_token="<bos>", eos_token="<eos>")
    image_processor = transformers.SiglipImageProcessorPil(size={"height": SIZE, "width": SIZE})
    image_processor.image_seq_length = (SIZE // 8) ** 2
    processor = transformers.PaliGemmaProcessor(image_processor=image_processor, tokenizer=tokenizer)
    config = transformers.PaliGemmaConfig(
        vision_config=_vision(), text_config=_text(tokenizer, num_key_value_heads=1, head_dim=8),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"), projection_dim=32, vocab_size=len(tokenizer),
        tie_word_embeddings=False)  # tied, a random Gemma predicts the token it reads (every caption "\n\n\n")
    return _seeded(transformers.PaliGemmaForConditionalGeneration, config, 10), processor, tokenizer


def llava() -> tuple[Any, Any, Any]:
    tokenizer = word_tokenizer(["<unk>", "<pad>", "<s>", "</s>"], ("<image>",), unk_token="<unk>",
                               pad_token="<pad>", bos_token="<s>", eos_token="</s>")
    image_processor = transformers.CLIPImageProcessorPil(size={"shortest_edge": SIZE},
                                                         crop_size={"height": SIZE, "width": SIZE})
    processor = transformers.LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=8,
                                            vision_feature_select_strategy="default", chat_template=LLAVA_TEMPLATE,
                                            num_additional_image_tokens=1)
    config = transformers.LlavaConfig(
        vision_config=dict(model_type="clip_vision_model", **_vision()), text_config=dict(model_type="llama",
                                                                                          **_text(tokenizer)),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"), vision_feature_select_strategy="default",
        vision_feature_layer=-1)
    return _seeded(transformers.LlavaForConditionalGeneration, config, 11), processor, tokenizer


def gemma3() -> tuple[Any, Any, Any]:
    """Gemma 3: its processor marks the image tokens with token_type_ids = 1 (bidirectional among themselves)."""
    marks = {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"}
    tokenizer = word_tokenizer(["<unk>", "<pad>", "<bos>", "<eos>"], (*marks.values(), "<start_of_turn>",
                                                                      "<end_of_turn>"),
                               unk_token="<unk>", pad_token="<pad>", bos_token="<bos>", eos_token="<eos>")
    for name, token in marks.items():  # what Gemma's own tokenizer exposes
        setattr(tokenizer, name, token)
        setattr(tokenizer, f"{name}_id", tokenizer.convert_tokens_to_ids(token))
    image_processor = transformers.Gemma3ImageProcessorPil(size={"height": SIZE, "width": SIZE})
    processor = transformers.Gemma3Processor(image_processor=image_processor, tokenizer=tokenizer, image_seq_length=4,
                                             chat_template=GEMMA3_TEMPLATE)
    config = transformers.Gemma3Config(
        text_config=_text(tokenizer, num_key_value_heads=1, head_dim=8, sliding_window=16), vision_config=_vision(),
        mm_tokens_per_image=4, boi_token_index=tokenizer.boi_token_id, eoi_token_index=tokenizer.eoi_token_id,
        image_token_index=tokenizer.image_token_id, tie_word_embeddings=False)
    model = _seeded(transformers.Gemma3ForConditionalGeneration, config, 16)
    with torch.no_grad():  # at its 0.02-std init the image barely reaches the text: every map would be flat
        for param in model.model.multi_modal_projector.parameters():
            if param.ndim == 2:
                param.normal_(0.0, 1.0)
    return model, processor, tokenizer


def qwen2_vl() -> tuple[Any, Any, Any]:
    tokenizer = word_tokenizer(["<unk>", "<|endoftext|>"], ("<|im_start|>", "<|im_end|>", "<|vision_start|>",
                                                           "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"),
                               unk_token="<unk>", eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.chat_template = QWEN_TEMPLATE
    image_processor = transformers.Qwen2VLImageProcessorPil(patch_size=4, merge_size=2, temporal_patch_size=2,
                                                            size={"shortest_edge": 16 * 16,
                                                                  "longest_edge": SIZE * SIZE})
    ids = tokenizer.convert_tokens_to_ids
    config = transformers.Qwen2VLConfig(
        vision_config=dict(depth=2, embed_dim=32, hidden_size=32, num_heads=4, mlp_ratio=2, patch_size=4,
                           spatial_merge_size=2, temporal_patch_size=2),
        text_config=_text(tokenizer, rope_scaling={"type": "mrope", "mrope_section": [1, 1, 2]},
                          bos_token_id=None, eos_token_id=ids("<|im_end|>"), pad_token_id=ids("<|endoftext|>")),
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"))
    model = _seeded(transformers.Qwen2VLForConditionalGeneration, config, 12)
    model.generation_config.eos_token_id = ids("<|im_end|>")
    model.generation_config.pad_token_id = ids("<|endoftext|>")
    model.generation_config.bos_token_id = None
    return model, image_processor, tokenizer


def _idefics_tokenizer() -> Any:
    cells = tuple(f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6))
    return word_tokenizer(["<unk>", "<pad>", "<s>", "</s>"], ("<fake_token_around_image>", "<image>",
                                                              "<end_of_utterance>", "<global-img>", "<|im_start|>",
                                                              *cells),
                          unk_token="<unk>", pad_token="<pad>", bos_token="<s>", eos_token="</s>")


def _idefics_config(cls: Any, tokenizer: Any) -> Any:
    return cls(vision_config=_vision(), text_config=dict(model_type="llama", **_text(tokenizer, pad_token_id=1)),
               image_token_id=tokenizer.convert_tokens_to_ids("<image>"), scale_factor=2)


def idefics3(split: bool) -> tuple[Any, Any, Any]:
    """Idefics3 with its full processor; ``split``: crops of the 64 px resized image plus a global image."""
    tokenizer = _idefics_tokenizer()
    image_processor = transformers.Idefics3ImageProcessorPil(size={"longest_edge": 2 * SIZE},
                                                             max_image_size={"longest_edge": SIZE},
                                                             do_image_splitting=split)
    processor = transformers.Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer,
                                               image_seq_len=(SIZE // 8) ** 2 // 4)
    config = _idefics_config(transformers.Idefics3Config, tokenizer)
    return _seeded(transformers.Idefics3ForConditionalGeneration, config, 13), processor, tokenizer


def smolvlm() -> tuple[Any, Any, Any]:
    """SmolVLM with image splitting, as image processor plus tokenizer (its processor needs torchvision)."""
    tokenizer = _idefics_tokenizer()
    tokenizer.chat_template = SMOLVLM_TEMPLATE
    image_processor = transformers.SmolVLMImageProcessorPil(size={"longest_edge": 2 * SIZE},
                                                            max_image_size={"longest_edge": SIZE},
                                                            do_image_splitting=True)
    config = _idefics_config(transformers.SmolVLMConfig, tokenizer)
    return _seeded(transformers.SmolVLMForConditionalGeneration, config, 14), image_processor, tokenizer


def pix2struct() -> tuple[Any, Any, Any]:
    """Pix2Struct captioning: at most 16 patches of 8 x 8, T5-style labels ending in ``</s>``."""
    tokenizer = word_tokenizer(["<pad>", "</s>", "<unk>"], unk_token="<unk>", pad_token="<pad>", eos_token="</s>",
                               eos_after=True)
    image_processor = transformers.Pix2StructImageProcessorPil(patch_size={"height": 8, "width": 8}, max_patches=16)
    config = transformers.Pix2StructConfig(
        vision_config=dict(hidden_size=32, patch_embed_hidden_size=3 * 8 * 8, d_ff=37, d_kv=8, num_hidden_layers=2,
                           num_attention_heads=4, seq_len=16, dropout_rate=0.0),
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, d_ff=37, d_kv=8, num_layers=2, num_heads=4,
                         dropout_rate=0.0, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0))
    return _seeded(transformers.Pix2StructForConditionalGeneration, config, 14), image_processor, tokenizer


BUILDERS = {"paligemma": paligemma, "llava": llava, "gemma3": gemma3, "qwen2_vl": qwen2_vl,
            "idefics3": lambda: idefics3(False), "idefics3_split": lambda: idefics3(True), "smolvlm": smolvlm,
            "pix2struct": pix2struct}
