"""Shared fixtures: a tiny random Llama (2 layers) with the real SmolLM2 tokenizer and chat template.

The tokenizer files in tests/fixtures/tokenizer come from SmolLM2-135M-Instruct (Apache-2.0), so
label masks and chat templates are tested on the real format while the model stays tiny and fast.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FIXTURES = Path(__file__).parent / "fixtures"


def build_tiny_llama(out: Path, seed: int = 0) -> Path:
    """Write a 2-layer random Llama + the real tokenizer to ``out`` (a transformers folder)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(FIXTURES / "tokenizer")
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    model = LlamaForCausalLM(cfg)
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A folder holding a tiny random Llama that ``from_pretrained`` (and model.base) can load."""
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(FIXTURES / "tokenizer")


@pytest.fixture()
def tiny_model_copy(tiny_model_dir, tmp_path) -> Path:
    """A private copy of the tiny model, for tests that write next to it."""
    dst = tmp_path / "tiny"
    shutil.copytree(tiny_model_dir, dst)
    return dst
