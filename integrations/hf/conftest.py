"""The HuggingFace suite needs torch, transformers and tokenizers: without them this folder is skipped."""

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")
