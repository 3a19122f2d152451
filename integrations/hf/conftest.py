"""The HuggingFace suite needs torch, transformers and tokenizers: without them this folder is skipped.

The toy captioner is trained once per machine (about 1.5 minutes on one thread) and cached in
the temp folder; every test of the suite shares it.
"""

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")


@pytest.fixture(scope="session")
def captioner_parts():
    """``(model, image_processor, tokenizer)`` of the trained toy captioner."""
    from glas_adapters.testing import captioner

    return captioner.train_captioner()
