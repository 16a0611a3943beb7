"""Serving pieces without a server: prompt recipe = training tokens, keys, limits, retention, decoding."""

from __future__ import annotations

import json
import time

import pytest
from serve_helpers import project_with_version
from test_registry_helpers import MESSAGES

from tailorlm.errors import UserError
from tailorlm.registry import audit


@pytest.fixture(scope="module")
def proj(tmp_path_factory, tiny_model_dir):
    return project_with_version(tmp_path_factory.mktemp("serve-units"), tiny_model_dir)


def test_chat_prompt_ids_equal_the_training_and_evaluation_tokens(proj, tokenizer):
    from tailorlm.evaluate.baselines import plan_systems
    from tailorlm.inference import encode_chats
    from tailorlm.serve.catalog import Catalog
    from tailorlm.train.tokenize import IGNORE, encode_sft

    spec, ws = proj
    servable = Catalog(spec, ws).resolve("support-bot@1")
    assert servable.recipe.task == "classification"
    for m in MESSAGES:
        example = {"id": m["id"], "prompt": json.dumps([{"role": "user", "content": m["text"]}]),
                   "completion": m["intent"]}
        labels = ["balance", "card_lost", "close_account"]
        enc = encode_sft(example, tokenizer, spec.objective, labels)
        n_prompt = next(i for i, lab in enumerate(enc.labels) if lab != IGNORE)
        # A caller's own system message is replaced by the version's training system prompt.
        served = servable.recipe.prompt_ids(tokenizer, [{"role": "system", "content": "be brief"},
                                                        {"role": "user", "content": m["text"]}])
        assert served == enc.input_ids[:n_prompt]
        plan = plan_systems(["fine_tuned"], [example], [], spec.objective, labels, spec.eval)[0]
        assert served == encode_chats(tokenizer, plan.chats)[0]
    assert "Labels: balance, card_lost, close_account" in tokenizer.decode(served)


def test_keys_are_stored_as_argon2_hashes_and_revocation_is_immediate(proj):
    from sqlalchemy import text

    from tailorlm.serve import tables
    from tailorlm.serve.keys import KeysError, KeyVerifier, create_key, revoke_key

    spec, ws = proj
    key, row = create_key(ws, "unit-a", "user", rpm=5)
    assert key.startswith(f"tlm-{row.key_id}-") and row.key_hash.startswith("$argon2id$") and key not in row.key_hash
    with ws.store.engine.connect() as conn:
        stored = [tuple(r) for r in conn.execute(text("SELECT * FROM api_keys"))]
    assert not any(key in str(v) for r in stored for v in r)
    verifier = KeyVerifier(ws)
    who = verifier.verify(key)
    assert (who.name, who.role, who.rpm) == ("unit-a", "user", 5)
    assert verifier.verify(key) == who  # the cached path gives the same answer
    assert verifier.verify(key[:-1] + ("x" if key[-1] != "x" else "y")) is None
    assert verifier.verify("sk-not-ours") is None
    revoke_key(ws, "unit-a")
    assert verifier.verify(key) is None  # the cache does not outlive a revocation
    assert tables.get_key(ws, name="unit-a").revoked_at is not None
    with pytest.raises(KeysError, match="already exists"):
        create_key(ws, "unit-a")
    with pytest.raises(KeysError, match="role"):
        create_key(ws, "unit-b", "root")
    with pytest.raises(KeysError, match="no live key"):
        revoke_key(ws, "unit-a")
    acts = [(r["action"], r["subject"]) for r in audit.rows(ws) if r["action"].startswith("keys.")]
    assert acts[-2:] == [("keys.create", "key:unit-a"), ("keys.revoke", "key:unit-a")]
    assert not any(key in json.dumps(r) for r in audit.rows(ws))
    assert audit.verify(ws).ok


def test_open_local_is_refused_off_loopback():
    from tailorlm.serve.app import ServerOptions
    from tailorlm.serve.server import check_options, is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
    check_options(ServerOptions(host="127.0.0.1", open_local=True))
    with pytest.raises(UserError, match="loopback"):
        check_options(ServerOptions(host="0.0.0.0", open_local=True))


def test_request_log_redacts_pii_and_retention_deletes_old_rows(proj):
    from tailorlm.serve import tables
    from tailorlm.serve.requestlog import RequestLog
    from tailorlm.spec.data import PIISpec

    spec, ws = proj
    rl = RequestLog(ws, PIISpec(), retention_days=30)
    rl.add({"id": "r-new", "key_name": "k", "endpoint": "chat.completions", "status": 200,
            "request": {"messages": [{"role": "user", "content": "Mail me at jane.doe@example.com please"}]},
            "response": ["Call +44 20 7946 0958 now"]})
    rl.add({"id": "r-old", "ts": time.time() - 31 * 86400, "endpoint": "chat.completions", "status": 200,
            "request": {"messages": []}, "response": []})
    rl.flush()
    rows = {r["id"]: r for r in tables.read_requests(ws, limit=10)}
    new = rows["r-new"]
    assert new["redacted"] and "jane.doe@example.com" not in json.dumps(new)
    assert new["request"]["messages"][0]["content"] == "Mail me at <EMAIL_ADDRESS_1> please"
    assert "<PHONE_NUMBER_1>" in new["response"][0]
    assert "r-old" not in rows  # the writer enforces retention on its own (first write, then hourly)
    tables.insert_requests(ws, [{"id": "r-old2", "ts": time.time() - 40 * 86400, "endpoint": "completions",
                                 "status": 200}])
    assert rl.purge() == 1
    assert [r["id"] for r in tables.read_requests(ws, limit=10) if r["id"].startswith("r-")] == ["r-new"]
    rl.close()


def test_rate_limiter_answers_429_with_retry_after():
    from tailorlm.serve.errors import APIError
    from tailorlm.serve.keys import Identity
    from tailorlm.serve.limits import RateLimiter

    lim, who = RateLimiter(), Identity("k", "user", rpm=2, tpm=100)
    lim.request(who)
    lim.request(who)
    with pytest.raises(APIError) as exc:
        lim.request(who)
    assert exc.value.status == 429 and 1 <= int(exc.value.headers["Retry-After"]) <= 60
    lim.tokens(who, 60)
    with pytest.raises(APIError, match="100 tokens per minute"):
        lim.tokens(who, 60)
    with pytest.raises(APIError, match="request too large"):
        lim.tokens(who, 101)


def test_stop_strings_are_held_back_until_they_cannot_match():
    from tailorlm.serve.decode import _held_back

    assert _held_back("hello wor", ["world"]) == 3
    assert _held_back("hello", ["world"]) == 0
    assert _held_back("abc\ufffd", []) == 1


def test_chat_command_answers_a_piped_message_like_the_server(proj, tmp_path):
    import io

    from tailorlm.serve.catalog import Catalog
    from tailorlm.serve.chat import run_chat
    from tailorlm.serve.decode import Decoder, SamplingParams

    spec, ws = proj
    out = io.StringIO()
    assert run_chat(spec, ws, "support-bot@candidate", io.StringIO("I lost my card\n"), out, interactive=False,
                    max_tokens=6) == 1
    cat = Catalog(spec, ws)
    servable = cat.resolve("support-bot@1")
    loaded = cat.load(servable)
    ids = servable.recipe.prompt_ids(loaded.tokenizer, [{"role": "user", "content": "I lost my card"}])
    expected = "".join(d.text for step in Decoder(loaded).run(ids, SamplingParams(max_tokens=6, temperature=0))
                       for d in step)
    assert out.getvalue() == expected + "\n"
    # Interactive: two turns, /reset, /quit; the prompt shows the version that answers.
    out = io.StringIO()
    assert run_chat(spec, ws, "support-bot", io.StringIO("hi\n/reset\nhello\n/quit\n"), out, interactive=True,
                    max_tokens=3) == 2
    assert out.getvalue().startswith("support-bot@1: ") and "(conversation forgotten)" in out.getvalue()


def test_chat_command_names_the_models_when_the_reference_is_unknown(proj, tmp_path):
    import yaml
    from test_registry_helpers import raw_spec
    from typer.testing import CliRunner

    from tailorlm.cli.main import app

    spec, ws = proj
    raw = raw_spec()
    raw["model"] = {"base": spec.model.base}
    (spec.root / "tailor.yaml").write_text(yaml.safe_dump(raw))
    res = CliRunner().invoke(app, ["chat", "nope@9", "--spec", str(spec.root)], input="hi\n")
    assert res.exit_code == 1 and "support-bot@1" in res.output and "Traceback" not in res.output


def test_a_full_queue_is_refused_and_a_cancelled_job_stops_early(proj):
    import asyncio

    from tailorlm.serve.catalog import Catalog
    from tailorlm.serve.decode import SamplingParams
    from tailorlm.serve.engine import EngineBusy, Job, LocalEngine

    spec, ws = proj
    cat = Catalog(spec, ws)
    loaded = cat.load(cat.resolve("support-bot@1"))
    ids = loaded.tokenizer("hello there")["input_ids"]

    async def scenario():
        engine = LocalEngine(max_queue=1)
        long = SamplingParams(max_tokens=400, temperature=0)
        running = Job(loaded, ids, long)
        first = engine.submit(running)
        got = (await first.__anext__())[0].completion_tokens  # it is decoding now
        waiting = engine.submit(Job(loaded, ids, long))  # the one place in the queue
        refused = 0
        for _ in range(2):
            try:
                engine.submit(Job(loaded, ids, long))
            except EngineBusy:
                refused += 1
        async for deltas in first:
            got = deltas[0].completion_tokens
            if got >= 3:
                break
        await first.aclose()  # the reader goes away: the job is cancelled
        tokens = [d.completion_tokens async for step in waiting for d in step][-1:]
        engine.close()
        return refused, running.cancelled and running.steps < 400, got, tokens

    refused, cancelled, got, tokens = asyncio.run(scenario())
    assert refused == 2 and cancelled and got == 3
    assert tokens == [400]  # the waiting job ran to its budget after the cancelled one stopped


def test_the_serve_section_in_the_docs_is_valid_and_shows_the_defaults():
    import re
    from pathlib import Path

    import yaml

    from tailorlm.spec import ServeSpec

    doc = (Path(__file__).resolve().parents[2] / "docs" / "serving.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", doc, re.S) if b.startswith("serve:"))
    assert ServeSpec.model_validate(yaml.safe_load(block)["serve"]) == ServeSpec()
