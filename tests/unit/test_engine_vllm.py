"""``--engine vllm``: a clear error where vLLM is missing; on a CUDA machine with vLLM, the same
greedy answer through the same Engine interface."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest


def test_engine_vllm_without_vllm_is_a_clear_error(tmp_path, tiny_model_dir, monkeypatch):
    from test_registry_helpers import make_spec

    from tailorlm.errors import UserError
    from tailorlm.inference import vllm_backend
    from tailorlm.serve.app import ServerOptions, build_app
    from tailorlm.workspace import Workspace

    monkeypatch.setattr(vllm_backend, "vllm_available", lambda: False)
    spec = make_spec(tmp_path, None)
    spec.model.base = str(tiny_model_dir)
    with pytest.raises(UserError, match="pip install vllm"):
        build_app(spec, Workspace.for_spec(spec), ServerOptions(engine="vllm"))


def test_an_unknown_engine_is_refused_with_the_choices():
    from tailorlm.errors import UserError
    from tailorlm.serve.app import ServerOptions
    from tailorlm.serve.server import check_options

    with pytest.raises(UserError, match="local .* or vllm"):
        check_options(ServerOptions(engine="tgi"))


def _no_vllm_reason() -> str:
    import torch

    if not torch.cuda.is_available():
        return "needs a CUDA GPU"
    return "" if importlib.util.find_spec("vllm") else "needs vLLM: pip install vllm"


@pytest.mark.cuda
@pytest.mark.skipif(bool(_no_vllm_reason()), reason=_no_vllm_reason() or "runs")
def test_vllm_greedy_answer_equals_the_local_engine(tmp_path, tiny_model_dir):  # pragma: no cover - CUDA only
    from test_registry_helpers import make_spec

    from tailorlm.inference.decode import SamplingParams
    from tailorlm.inference.engine import BatchEngine, Job
    from tailorlm.inference.vllm_backend import VLLMEngine
    from tailorlm.models import load_base

    spec = make_spec(tmp_path, None)
    spec.model.base, spec.model.dtype = str(tiny_model_dir), "float32"
    loaded = load_base(str(tiny_model_dir), "cuda", "float32")
    ids = loaded.tokenizer("My card was stolen and")["input_ids"]

    async def run(engine):
        text = ""
        async for deltas in engine.submit(Job(loaded, ids, SamplingParams(max_tokens=8, temperature=0))):
            text += "".join(d.text for d in deltas)
        return text

    local = BatchEngine()
    want = asyncio.run(run(local))
    local.close()
    assert asyncio.run(run(VLLMEngine(spec))) == want
