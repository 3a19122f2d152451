"""Tiny HuggingFace captioners and classifiers built from configs (no hub, no network).

The HuggingFace adapter tests need torch, transformers and tokenizers: without them this
folder is skipped. Every model has random weights (seeded) and 32 x 32 inputs, so a forward
pass costs milliseconds.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

SIZE = 32
MEAN = (0.48, 0.46, 0.41)
STD = (0.27, 0.26, 0.28)
# WordPiece vocabulary with subwords ("play" + "##ing"), BLIP's decoder BOS "[DEC]" included.
WORDPIECE = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "a", "the", "dog", "cat", "is", "play",
             "##ing", "on", "sofa", "red", "blue", ".", "run", "##s", "ball", "with"]


@pytest.fixture(scope="session")
def image_processor():
    return transformers.ViTImageProcessorPil(size={"height": SIZE, "width": SIZE}, image_mean=list(MEAN),
                                             image_std=list(STD))


@pytest.fixture(scope="session")
def wordpiece_tokenizer():
    return transformers.BertTokenizer(vocab={w: i for i, w in enumerate(WORDPIECE)}, bos_token="[DEC]")


@pytest.fixture(scope="session")
def bpe_tokenizer():
    """A byte-level BPE (GPT-2 style, ``Ġ`` word starts) trained offline on a few sentences."""
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()
    corpus = ["a dog is playing on the sofa", "the cat runs with a red ball", "dogs are playing"] * 20
    bpe.train_from_iterator(corpus, vocab_size=280, min_frequency=2, special_tokens=["<|endoftext|>"])
    return transformers.PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<|endoftext|>",
                                                eos_token="<|endoftext|>", pad_token="<|endoftext|>")


def _vision(**extra):
    return dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                image_size=SIZE, patch_size=8, **extra)


@pytest.fixture(scope="session")
def blip_model(wordpiece_tokenizer):
    tok = wordpiece_tokenizer
    config = transformers.BlipConfig(
        vision_config=_vision(),
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=32, bos_token_id=tok.bos_token_id,
                         pad_token_id=tok.pad_token_id, sep_token_id=tok.sep_token_id,
                         eos_token_id=tok.sep_token_id))
    torch.manual_seed(0)
    model = transformers.BlipForConditionalGeneration(config).eval()
    with torch.no_grad():  # BLIP's 0.02-std init lets the image barely reach the text (|dlogit| ~ 1e-8)
        for param in model.parameters():
            if param.ndim == 2:
                param.normal_(0.0, 0.2)
    return model


@pytest.fixture(scope="session")
def git_model(wordpiece_tokenizer):
    tok = wordpiece_tokenizer
    config = transformers.GitConfig(vision_config=_vision(), vocab_size=len(tok), hidden_size=32,
                                    intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                                    max_position_embeddings=64, bos_token_id=tok.cls_token_id,
                                    eos_token_id=tok.sep_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(1)
    return transformers.GitForCausalLM(config).eval()


@pytest.fixture(scope="session")
def ved_model(bpe_tokenizer):
    tok = bpe_tokenizer
    encoder = transformers.ViTConfig(**_vision(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))
    decoder = transformers.GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=2, n_head=4, n_positions=32,
                                      add_cross_attention=True, is_decoder=True, bos_token_id=tok.bos_token_id,
                                      eos_token_id=tok.eos_token_id)
    config = transformers.VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id = tok.bos_token_id
    config.pad_token_id = tok.pad_token_id
    torch.manual_seed(2)
    model = transformers.VisionEncoderDecoderModel(config).eval()
    model.generation_config.decoder_start_token_id = tok.bos_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    return model


@pytest.fixture(scope="session")
def families(blip_model, git_model, ved_model, wordpiece_tokenizer, bpe_tokenizer):
    """name -> (model, tokenizer, a caption the tokenizer covers)."""
    return {
        "blip": (blip_model, wordpiece_tokenizer, "a dog is playing on the sofa."),
        "git": (git_model, wordpiece_tokenizer, "the cat runs with a red ball"),
        "ved": (ved_model, bpe_tokenizer, "a dog is playing on the sofa"),
    }


@pytest.fixture(scope="session")
def image():
    """A uint8 (H, W, 3) image of a different size than the model's, so the processor resizes it."""
    rng = np.random.default_rng(0)
    return (rng.random((40, 48, 3)) * 255).astype(np.uint8)


@pytest.fixture(scope="session")
def vlm():
    """``vlm(name) -> (model, processor, tokenizer)`` of a tiny vision-language model (``vlms.BUILDERS``),
    built once."""
    from . import vlms

    built = {}

    def get(name):
        if name not in built:
            built[name] = vlms.BUILDERS[name]()
        return built[name]

    return get
