"""Spec-time train checks: the base model's config from a folder, the alias cache or the HF cache.

Configs are written as bare config.json files (no weights): the checks must never load a model.
"""

from __future__ import annotations

import json

import pytest

from tailorlm.spec import parse_spec
from tailorlm.train.checks import CHECKS, _alias_cache_config, check_train_model


def _spec(root, base="smollm2-135m-instruct", task=None, max_seq_len=None, **train):
    data = {"sources": [{"path": "x"}], **({"max_seq_len": max_seq_len} if max_seq_len else {})}
    raw = {"project": "c", "data": data, "model": {"base": str(base)}, "train": train}
    if task:
        raw["objective"] = {"task": task}
    return parse_spec(raw, root)


def _config_dir(path, **cfg):
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"max_position_embeddings": 2048, **cfg}))
    return path


def test_ia3_on_an_architecture_without_defaults_needs_target_modules(tmp_path):
    base = _config_dir(tmp_path / "mamba", model_type="mamba")
    [problem] = check_train_model(_spec(tmp_path, base, method="ia3"), True)
    assert problem.startswith("train.method: ia3 has no default target modules for model type 'mamba'")
    assert "train.lora.target_modules" in problem
    listed = _spec(tmp_path, base, method="ia3", lora={"target_modules": ["in_proj", "out_proj"]})
    assert check_train_model(listed, True) == []
    llama = _config_dir(tmp_path / "llama", model_type="llama")
    assert check_train_model(_spec(tmp_path, llama, method="ia3"), True) == []


@pytest.mark.parametrize("method", ["prefix", "prompt"])
def test_virtual_token_methods_refuse_an_encoder_decoder_base(method, tmp_path):
    base = _config_dir(tmp_path / "t5", model_type="t5", is_encoder_decoder=True)
    [problem] = check_train_model(_spec(tmp_path, base, method=method), True)
    assert problem == (f"train.method: {method} tuning is set up for decoder-only models here; "
                       "use lora for an encoder-decoder base.")
    assert check_train_model(_spec(tmp_path, base, method="lora"), True) == []


def test_max_seq_len_beyond_the_architecture(tmp_path):
    base = _config_dir(tmp_path / "m", model_type="llama")
    [problem] = check_train_model(_spec(tmp_path, base, max_seq_len=4096), True)
    assert problem.startswith("data.max_seq_len: 4096 exceeds the base model's max_position_embeddings (2048)")
    assert check_train_model(_spec(tmp_path, base, max_seq_len=4096), False) == []  # check_files=False: skipped


@pytest.mark.parametrize("method", ["prefix", "prompt"])
def test_continued_pretraining_and_packing_refuse_virtual_tokens(method, tmp_path):
    from tailorlm.spec.checks import check_method

    cpt = _spec(tmp_path, task="continued_pretraining", method=method)
    assert f"train.method: '{method}' is not supported for continued_pretraining; use lora or full." in \
        check_method(cpt, False)
    packed = check_method(_spec(tmp_path, method=method, packing=True), False)
    assert any(p.startswith(f"train.packing: packing cannot be combined with method '{method}'") for p in packed)
    assert check_method(_spec(tmp_path, task="continued_pretraining", method="lora"), False) == []


def test_default_alias_is_checked_from_its_safetensors_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TAILORLM_CACHE", str(tmp_path / "cache"))
    spec = _spec(tmp_path, max_seq_len=4096)
    assert check_train_model(spec, True) == []  # no cache yet: skipped quietly (nothing is converted)
    _config_dir(tmp_path / "cache" / "models" / "smollm2-135m-instruct-0123456789abcdef", model_type="llama")
    [problem] = check_train_model(spec, True)
    assert "max_position_embeddings (2048)" in problem


def test_alias_cache_location_matches_the_loader(tmp_path, monkeypatch):
    from tailorlm.models.loader import cache_root

    for env in (str(tmp_path / "c"), None):
        if env:
            monkeypatch.setenv("TAILORLM_CACHE", env)
        else:
            monkeypatch.delenv("TAILORLM_CACHE", raising=False)
            monkeypatch.setattr("pathlib.Path.home", lambda: tmp_path / "home")
        cfg = _config_dir(cache_root() / "models" / "smollm2-135m-instruct-feedfacefeedface", model_type="llama")
        assert _alias_cache_config("smollm2-135m-instruct") == cfg / "config.json"


def _fake_hub_cache(cache, repo_id, **cfg):
    """The HF cache layout huggingface_hub writes: refs/main -> snapshots/<commit>/config.json."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    _config_dir(repo / "snapshots" / commit, **cfg)


def test_hub_id_is_checked_from_the_hf_cache_only(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    _fake_hub_cache(tmp_path / "hub", "acme/tiny-llama", model_type="llama", hidden_size=64, num_attention_heads=4)
    [problem] = check_train_model(_spec(tmp_path, "acme/tiny-llama", max_seq_len=4096), True)
    assert "max_position_embeddings (2048)" in problem
    # Not cached: skipped quietly; HF_HUB_OFFLINE=1 (conftest) would turn any download attempt into an error.
    assert check_train_model(_spec(tmp_path, "acme/not-cached", max_seq_len=4096), True) == []


def test_hub_lookup_never_asks_the_network(tmp_path, monkeypatch):
    import transformers

    calls = []

    def fake(repo_id, **kwargs):
        calls.append((repo_id, kwargs))
        raise OSError("not cached")

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", fake)
    assert [p for c in CHECKS for p in c(_spec(tmp_path, "acme/x", method="ia3"), True)] == []
    assert calls == [("acme/x", {"revision": None, "local_files_only": True})]
