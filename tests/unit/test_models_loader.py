"""Base-model references: a Hugging Face id resolves to its cached snapshot with a real weight hash."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from tailorlm.models.loader import ModelNotFound, load_base, resolve_base


def _fake_hub_cache(cache: Path, repo: str, model_dir: Path) -> str:
    """Lay ``model_dir`` out as the HF cache does: blobs named by sha256, a snapshot of symlinks."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    root = cache / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    snap = root / "snapshots" / commit
    snap.mkdir(parents=True)
    (root / "blobs").mkdir()
    for f in model_dir.iterdir():
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        shutil.copy(f, root / "blobs" / digest)
        os.symlink(os.path.relpath(root / "blobs" / digest, snap), snap / f.name)
    return commit


@pytest.fixture()
def hub_cache(tmp_path, monkeypatch):
    import huggingface_hub.constants as C

    cache = tmp_path / "hf-cache"
    monkeypatch.setattr(C, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(C, "HF_HUB_OFFLINE", True)
    return cache


def test_hub_id_resolves_to_the_cached_snapshot_with_a_content_hash(hub_cache, tiny_model_dir):
    commit = _fake_hub_cache(hub_cache, "acme/tiny-llama", tiny_model_dir)
    resolved = resolve_base("acme/tiny-llama")
    assert Path(resolved.path).name == commit and (Path(resolved.path) / "config.json").exists()
    # The hash is over the weights' content: the same as the local-folder reference to the same files.
    assert resolved.weight_hash == resolve_base(str(tiny_model_dir)).weight_hash
    assert not resolved.weight_hash.startswith("hub:")
    loaded = load_base("acme/tiny-llama", device="cpu", dtype="float32")
    assert loaded.model.config.num_hidden_layers == 2


def test_hub_id_not_cached_offline_names_the_way_out(hub_cache):
    with pytest.raises(ModelNotFound, match=r"acme/missing.*not in the local Hugging Face cache.*air-gapped"):
        resolve_base("acme/missing")
