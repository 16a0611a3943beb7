"""A live server on 127.0.0.1 driven by the official ``openai`` client (tiny random model)."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from serve_helpers import project_with_version, start_server

VERSION = "support-bot@1"
HELLO = [{"role": "user", "content": "I lost my card"}]


@pytest.fixture(scope="module")
def live(tmp_path_factory, tiny_model_dir):
    from tailorlm.serve.keys import create_key

    spec, ws = project_with_version(tmp_path_factory.mktemp("serve-api"), tiny_model_dir, max_tokens=64, max_n=4)
    keys = {"admin": create_key(ws, "ops", "admin")[0], "user": create_key(ws, "app", "user")[0],
            "slow": create_key(ws, "slow", "user", rpm=2)[0]}
    srv = start_server(spec, ws, max_queue=8)
    srv.keys = keys
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(live):
    return openai.OpenAI(base_url=live.base_url, api_key=live.keys["user"], max_retries=0)


def _greedy(client, **kw):
    args = {"model": VERSION, "messages": HELLO, "temperature": 0, "max_tokens": 12, **kw}
    return client.chat.completions.create(**args)


def test_models_list_names_versions_with_base_and_aliases(client, live):
    models = {m.id: m for m in client.models.list()}
    assert set(models) == {VERSION, live.spec.model.base}
    v = models[VERSION].model_dump()
    assert v["version"] == 1 and v["parent"] == "tiny" and v["aliases"] == ["support-bot@candidate"]
    assert client.models.retrieve("support-bot@candidate").id == VERSION


def test_greedy_chat_equals_the_evaluation_engine(client, live):
    """Free text (the base model: a classification version's answers are constrained to its labels,
    tests/unit/test_serve_labels.py) equals inference.generate's greedy answer token for token."""
    from tailorlm.inference import generate
    from tailorlm.serve.catalog import Catalog

    base = live.spec.model.base
    r = _greedy(client, model=base)
    cat = Catalog(live.spec, live.ws)
    servable = cat.resolve(base)
    loaded = cat.load(servable)
    ids = servable.recipe.prompt_ids(loaded.tokenizer, HELLO)
    ref = generate(loaded, [ids], max_new_tokens=12, progress=False)[0]
    assert r.model == base
    assert r.choices[0].message.content.strip() == ref.text
    assert r.usage.prompt_tokens == len(ids) == ref.prompt_tokens
    assert r.usage.completion_tokens == ref.completion_tokens
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert r.choices[0].finish_reason == ("stop" if ref.finished else "length")
    # An alias resolves to the same version and so gives the same answer (a label of the version's set).
    label = _greedy(client).choices[0].message.content
    assert _greedy(client, model="support-bot@candidate").choices[0].message.content == label
    version = cat.resolve(VERSION).recipe
    assert label in (version.objective.labels or version.labels)


def test_streaming_gives_the_same_text_usage_last_then_done(client, live):
    whole = _greedy(client)
    chunks = list(client.chat.completions.create(model=VERSION, messages=HELLO, temperature=0, max_tokens=12,
                                                 stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == whole.choices[0].finish_reason
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == whole.usage.total_tokens
    with httpx.stream("POST", live.base_url + "/chat/completions", headers={"Authorization": f"Bearer {live.keys['user']}"},
                      json={"model": VERSION, "messages": HELLO, "max_tokens": 3, "stream": True}) as resp:
        lines = [ln for ln in resp.iter_lines() if ln]
    assert resp.headers["content-type"].startswith("text/event-stream") and lines[-1] == "data: [DONE]"


def test_n2_seeded_sampling_is_repeatable_and_usage_adds_up(client):
    a = _greedy(client, n=2, temperature=1.0, seed=7)
    b = _greedy(client, n=2, temperature=1.0, seed=7)
    assert [c.index for c in a.choices] == [0, 1]
    assert [c.message.content for c in a.choices] == [c.message.content for c in b.choices]
    assert a.choices[0].message.content != a.choices[1].message.content  # two different samples
    assert a.usage.completion_tokens <= 24
    if all(c.finish_reason == "length" for c in a.choices):
        assert a.usage.completion_tokens == 24  # both choices spent their 12-token budget


def test_stop_string_cuts_the_answer_before_it(client):
    full = _greedy(client, max_tokens=20).choices[0].message.content
    stop = full[len(full) // 2: len(full) // 2 + 3]
    cut = _greedy(client, max_tokens=20, stop=[stop]).choices[0]
    assert cut.message.content == full[: full.index(stop)]
    assert cut.finish_reason == "stop"


def test_logprobs_and_top_logprobs(client, live):
    r = _greedy(client, model=live.spec.model.base, max_tokens=5, logprobs=True, top_logprobs=3)
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens
    for t in content:
        assert len(t.top_logprobs) == 3 and t.logprob <= 0
        assert t.top_logprobs[0].logprob == pytest.approx(t.logprob, abs=1e-5)  # greedy took the top token
        assert [a.logprob for a in t.top_logprobs] == sorted((a.logprob for a in t.top_logprobs), reverse=True)
    # A classification version decodes constrained to its labels: the log-probabilities are those of the
    # distribution it decoded from (finite, the allowed tokens only), and the answer is a label.
    c = _greedy(client, logprobs=True, top_logprobs=3)
    for t in c.choices[0].logprobs.content:
        assert t.logprob <= 0 and all(a.logprob > float("-inf") for a in t.top_logprobs)
        assert t.top_logprobs[0].logprob == pytest.approx(t.logprob, abs=1e-5)


def test_json_schema_answer_parses_and_validates(client):
    schema = {"type": "object", "properties": {"intent": {"type": "string", "enum": ["balance", "card_lost"]},
                                               "urgent": {"type": "boolean"}},
              "required": ["intent", "urgent"], "additionalProperties": False}
    r = client.chat.completions.create(
        model=VERSION, messages=HELLO, max_tokens=60, seed=3,
        response_format={"type": "json_schema", "json_schema": {"name": "triage", "schema": schema, "strict": True}})
    data = json.loads(r.choices[0].message.content)
    assert set(data) == {"intent", "urgent"} and data["intent"] in {"balance", "card_lost"}
    assert isinstance(data["urgent"], bool) and r.choices[0].finish_reason == "stop"
    obj = client.chat.completions.create(model=VERSION, messages=HELLO, max_tokens=60, temperature=0,
                                         response_format={"type": "json_object"})
    # Any JSON object: a random model may still be inside a string when the budget ends ("length"),
    # as with OpenAI; an answer that stopped on its own is a whole object.
    text, why = obj.choices[0].message.content, obj.choices[0].finish_reason
    assert text.lstrip().startswith("{") and (why == "length" or isinstance(json.loads(text), dict))


def test_text_completions_and_ignored_documented_fields(client, live):
    r = client.completions.create(model=live.spec.model.base, prompt=["Hello", "Bye"], max_tokens=4, temperature=0,
                                  logprobs=2)
    assert [c.index for c in r.choices] == [0, 1] and r.object == "text_completion"
    assert len(r.choices[0].logprobs.tokens) == 4 and r.usage.completion_tokens == 8
    ok = _greedy(client, max_tokens=2, store=True, metadata={"team": "support"}, user="u-1",
                 tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}])
    assert ok.choices[0].message.role == "assistant"


def _status(fn) -> openai.APIStatusError:
    with pytest.raises(openai.APIStatusError) as exc:
        fn()
    return exc.value


def test_error_statuses_use_the_openai_envelope(client, live):
    anon = openai.OpenAI(base_url=live.base_url, api_key="tlm-00000000-nope", max_retries=0)
    e401 = _status(lambda: anon.models.list())
    assert e401.status_code == 401 and e401.body["code"] == "invalid_api_key"
    r = httpx.get(live.base_url + "/models")
    assert r.status_code == 401 and set(r.json()["error"]) == {"message", "type", "param", "code"}
    e403 = httpx.get(live.base_url + "/admin/keys", headers={"Authorization": f"Bearer {live.keys['user']}"})
    assert e403.status_code == 403 and "admin" in e403.json()["error"]["message"]
    e404 = _status(lambda: _greedy(client, model="nope@2"))
    assert e404.status_code == 404 and VERSION in e404.message and e404.body["param"] == "model"
    big = _status(lambda: _greedy(client, max_tokens=10_000))
    assert big.status_code == 400 and "at most 64" in big.message and big.body["param"] == "max_tokens"
    bad = _status(lambda: _greedy(client, temperature="hot"))
    assert bad.status_code == 400 and bad.body["param"] == "temperature"
    long_prompt = [{"role": "user", "content": "card " * 1200}]
    ctx = _status(lambda: _greedy(client, messages=long_prompt))
    assert ctx.status_code == 400 and "context is 1024 tokens" in ctx.message
    slow = openai.OpenAI(base_url=live.base_url, api_key=live.keys["slow"], max_retries=0)
    slow.models.list()
    slow.models.list()
    e429 = _status(lambda: slow.models.list())
    assert e429.status_code == 429 and int(e429.response.headers["Retry-After"]) >= 1
    admin = httpx.get(live.base_url + "/admin/keys", headers={"Authorization": f"Bearer {live.keys['admin']}"})
    assert admin.status_code == 200 and {k["name"] for k in admin.json()["data"]} >= {"ops", "app", "slow"}
    assert not any(k in admin.text for k in live.keys.values())


def test_a_revoked_key_is_refused_at_once(live):
    from tailorlm.serve.keys import create_key, revoke_key

    key, _ = create_key(live.ws, "short-lived", "user")
    c = openai.OpenAI(base_url=live.base_url, api_key=key, max_retries=0)
    assert c.models.list().data
    revoke_key(live.ws, "short-lived")
    assert _status(lambda: c.models.list()).status_code == 401


def test_request_log_rows_name_the_key_and_version_never_the_key(client, live):
    r = _greedy(client, messages=[{"role": "user", "content": "I am reachable at sam.lee@example.org"}], max_tokens=3)
    rows = httpx.get(live.base_url + "/admin/requests?limit=200",
                     headers={"Authorization": f"Bearer {live.keys['admin']}"}).json()["data"]
    row = next(x for x in rows if x["id"] == r.id)
    assert (row["key_name"], row["version"], row["model"], row["status"]) == ("app", VERSION, VERSION, 200)
    assert row["prompt_tokens"] == r.usage.prompt_tokens and row["completion_tokens"] == r.usage.completion_tokens
    assert row["latency_ms"] > 0 and row["redacted"]
    assert row["request"]["messages"][0]["content"] == "I am reachable at <EMAIL_ADDRESS_1>"
    assert any(x["status"] == 404 and x["key_name"] == "app" for x in rows)  # refused requests are logged too
    assert not any(k in json.dumps(rows) for k in live.keys.values())


def test_open_local_serves_without_keys_on_loopback(live):
    from serve_helpers import start_server as start

    local = start(live.spec, live.ws, open_local=True)
    try:
        c = openai.OpenAI(base_url=local.base_url, api_key="unused", max_retries=0)
        assert VERSION in {m.id for m in c.models.list()}
        forbidden = httpx.get(local.base_url + "/admin/keys")
        assert forbidden.status_code == 403  # local callers are users, not admins
    finally:
        local.stop()
