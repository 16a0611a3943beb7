"""Real data, first try (issue 10): many labels under the default budget, a dataset's own splits,
test copies removed from training, a stratified ``eval.limit``, relative criteria, the classical system."""

from __future__ import annotations

import json
import random

import pyarrow.parquet as pq
import pytest
import yaml

from tailorlm.data.prepare import prepare_dataset
from tailorlm.evaluate.gates import evaluate_gates
from tailorlm.evaluate.runner import stratified_sample
from tailorlm.spec import SpecError, load_spec, parse_spec
from tailorlm.workspace import Workspace

WORDS = ("card", "transfer", "refund", "pin", "atm", "fee", "limit", "account", "statement", "cash", "travel", "loan",
         "salary", "rent", "savings", "mortgage", "cheque", "wallet", "phone", "branch", "crypto", "euro", "dollar")


def label_names(n: int) -> list[str]:
    return [f"intent_{i:02d}_{WORDS[i % len(WORDS)]}_{WORDS[(i * 7) % len(WORDS)]}" for i in range(n)]


def many_label_messages(n_labels: int, per_label: int, seed: int = 0, prefix: str = "m") -> list[dict]:
    rng = random.Random(seed)
    out = []
    for k, lab in enumerate(label_names(n_labels)):
        for j in range(per_label):
            words = " ".join(rng.choice(WORDS) + str(rng.randint(0, 999)) for _ in range(6))
            out.append({"id": f"{prefix}{k:02d}-{j}", "text": f"question {k} {j}: {words}", "intent": lab})
    return out


def write_project(tmp_path, sources: dict[str, list[dict]], data: dict | None = None, extra: dict | None = None):
    for name, rows in sources.items():
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    spec = {"project": "real", "objective": {"task": "classification"},
            "data": {"sources": [{"path": n, **({"split": n.split(".")[0]} if n.split(".")[0] in ("train", "test")
                                                  else {})} for n in sources],
                     "fields": {"input": "text", "label": "intent", "id": "id"},
                     "pii": {"enabled": False}, **(data or {})}, **(extra or {})}
    (tmp_path / "tailor.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    spec = load_spec(tmp_path / "tailor.yaml")
    return spec, Workspace.for_spec(spec)


def split_ids(dv, split: str) -> set[str]:
    return {r["id"] for r in pq.read_table(dv.split_path(split), columns=["id"]).to_pylist()}


def test_77_labels_keep_every_valid_record_under_the_default_budget(tmp_path, tokenizer):
    rows = many_label_messages(77, 4)
    spec, ws = write_project(tmp_path, {"messages.jsonl": rows})
    assert spec.data.max_seq_len == 256  # the default budget
    dv = prepare_dataset(spec, ws, tokenizer=tokenizer, progress=False)
    assert dv.counts["quarantined_by_code"] == {}
    assert dv.counts["kept"] == len(rows) and len(dv.labels) == 77


def test_a_source_marked_test_lands_only_in_the_test_split(tmp_path, tokenizer):
    train = many_label_messages(5, 30, seed=1, prefix="tr")
    test = many_label_messages(5, 6, seed=2, prefix="te")
    spec, ws = write_project(tmp_path, {"train.jsonl": train, "test.jsonl": test})
    dv = prepare_dataset(spec, ws, tokenizer=tokenizer, progress=False)
    assert split_ids(dv, "test") == {r["id"] for r in test}
    assert split_ids(dv, "validation") and not split_ids(dv, "validation") & {r["id"] for r in test}
    assert split_ids(dv, "train") | split_ids(dv, "validation") == {r["id"] for r in train}
    manifest = json.loads((dv.split_path("test").parent / "manifest.json").read_text())
    assert {s["path"]: s.get("split") for s in manifest["sources"]} == {"test.jsonl": "test", "train.jsonl": "train"}


def test_a_training_near_duplicate_of_a_test_record_is_removed_and_counted(tmp_path, tokenizer):
    train = many_label_messages(4, 25, seed=3, prefix="tr")
    test = many_label_messages(4, 5, seed=4, prefix="te")
    copy = dict(test[0], id="tr-copy", text=test[0]["text"] + " thanks")  # one word added: a near duplicate
    exact = dict(test[1], id="tr-exact")
    test.append(dict(test[2], id="te-again"))  # the test file's own duplicate stays: it is evaluated whole
    spec, ws = write_project(tmp_path, {"train.jsonl": [copy, *train, exact], "test.jsonl": test})
    dv = prepare_dataset(spec, ws, tokenizer=tokenizer, progress=False)
    assert dv.counts["duplicates_test_overlap"] == 2
    kept = split_ids(dv, "train") | split_ids(dv, "validation")
    assert "tr-copy" not in kept and "tr-exact" not in kept
    assert split_ids(dv, "test") == {r["id"] for r in test}  # the test file is intact
    removed = [json.loads(x) for x in (dv.split_path("test").parent / "removed.jsonl").read_text().splitlines()]
    overlap = {r["id"]: r["duplicate_of"] for r in removed if r["reason"] == "duplicate:test_overlap"}
    assert overlap == {"tr-copy": test[0]["id"], "tr-exact": test[1]["id"]}
    card = (dv.split_path("test").parent / "card.md").read_text()
    assert "| training copies of test records removed | 2 |" in card


def test_eval_limit_draws_a_seeded_sample_that_covers_every_label():
    labels = sorted(label_names(77) * 40)  # a file sorted by label: the first 1,000 hold ~25 labels
    picked = stratified_sample(labels, 1000, seed=0)
    assert len(picked) == 1000 and len({labels[i] for i in picked}) == 77
    assert len({labels[i] for i in range(1000)}) < 30  # what taking the first N would have covered
    assert picked == stratified_sample(labels, 1000, seed=0) != stratified_sample(labels, 1000, seed=1)
    counts = [sum(labels[i] == lab for i in picked) for lab in label_names(77)]
    assert max(counts) - min(counts) <= 1  # proportional: 40 each in the file, 12-13 each in the sample


def test_a_relative_criterion_passes_and_fails_as_it_should():
    systems = {"classical": {"accuracy": 0.90}, "fine_tuned": {"accuracy": 0.93}}
    [ok] = evaluate_gates(["accuracy >= classical + 0.02"], systems["fine_tuned"], systems)
    assert ok["passed"] and ok["threshold"] == pytest.approx(0.92) and ok["reference_system"] == "classical"
    [bad] = evaluate_gates(["accuracy >= classical + 0.05"], systems["fine_tuned"], systems)
    assert not bad["passed"] and bad["criterion"] == "accuracy >= classical + 0.05"
    [missing] = evaluate_gates(["accuracy > few_shot"], systems["fine_tuned"], systems)
    assert not missing["passed"] and missing["threshold"] is None  # the other system was not evaluated


def test_an_unknown_system_in_a_criterion_is_a_spec_error_with_its_line(tmp_path):
    (tmp_path / "m.jsonl").write_text('{"text": "hi", "label": "a"}\n')
    (tmp_path / "tailor.yaml").write_text(
        "project: p\nobjective:\n  task: classification\n  criteria:\n    - accuracy >= 0.5\n"
        "    - accuracy >= clasical + 0.02\ndata:\n  sources: [{path: m.jsonl}]\n")
    with pytest.raises(SpecError) as err:
        load_spec(tmp_path / "tailor.yaml")
    msg = str(err.value)
    assert "line 6" in msg and "'clasical'" in msg and "Did you mean 'classical'?" in msg


def test_train_max_seq_len_is_refused_with_the_fix(tmp_path):
    with pytest.raises(SpecError, match=r"train.max_seq_len was removed: data.max_seq_len is the one length budget"):
        parse_spec({"project": "p", "data": {"sources": [{"path": "x"}]}, "train": {"max_seq_len": 1024}}, tmp_path)


@pytest.mark.parametrize("task,systems", [
    ("classification", ["base", "few_shot", "classical", "fine_tuned"]),
    ("generation", ["base", "classical", "fine_tuned"]),
    ("continued_pretraining", ["base", "fine_tuned"]),
])
def test_default_systems_follow_the_task(tmp_path, task, systems):
    spec = parse_spec({"project": "p", "objective": {"task": task}, "data": {"sources": [{"path": "x"}]}}, tmp_path)
    assert spec.eval.systems == systems


def test_spec_check_says_when_a_typical_example_exceeds_the_budget(tmp_path, tiny_model_dir):
    long = [{"id": str(i), "text": " ".join(f"word{j}" for j in range(100)), "intent": "a" if i % 2 else "b"}
            for i in range(20)]
    with pytest.raises(SpecError, match=r"data.max_seq_len: a typical example needs about \d+ tokens"):
        write_project(tmp_path, {"messages.jsonl": long}, extra={"model": {"base": str(tiny_model_dir)}})
    spec, _ = write_project(tmp_path, {"messages.jsonl": long}, {"max_seq_len": 512},
                            extra={"model": {"base": str(tiny_model_dir)}})
    assert spec.data.max_seq_len == 512


def test_spec_check_passes_77_labels_at_the_default_budget(tmp_path, tiny_model_dir):
    spec, _ = write_project(tmp_path, {"messages.jsonl": many_label_messages(77, 2)},
                            extra={"objective": {"task": "classification", "labels": label_names(77)},
                                   "model": {"base": str(tiny_model_dir)}})
    assert len(spec.objective.labels) == 77


def test_classical_classifier_and_nearest_answer():
    from tailorlm.evaluate.classical import classical_answers

    def row(i, text, answer, label=None):
        return {"id": str(i), "prompt": json.dumps([{"role": "user", "content": text}]), "completion": answer,
                "label": label}

    train = [row(i, f"my card was {w} at the shop", "card", "card") for i, w in enumerate(("lost", "stolen", "taken"))]
    train += [row(10 + i, f"send money to {w} today", "transfer", "transfer") for i, w in enumerate(("mum", "bob", "rent"))]
    test = [row(100, "my card was lost at the station", "card"), row(101, "send money to my landlord", "transfer")]
    answers, info = classical_answers("classification", train, [], test)
    assert [a.text for a in answers] == ["card", "transfer"] and all(0.5 < a.probability <= 1 for a in answers)
    assert info["fit_seconds"] >= 0 and info["train_examples"] == 6
    gen_train = [row(1, "where is my parcel", "It ships in 2 days."), row(2, "reset my password", "Use the link.")]
    answers, _ = classical_answers("generation", gen_train, [], [row(3, "how do I reset a password", "")])
    assert answers[0].text == "Use the link." and answers[0].neighbour == "2" and answers[0].prompt_tokens == 0


def test_roi_names_the_best_system_that_is_not_fine_tuned():
    from tailorlm.evaluate.roi import compute_roi
    from tailorlm.spec.evaluate import PricingSpec

    systems = {"base": {"accuracy": 0.1}, "few_shot": {"accuracy": 0.3}, "classical": {"accuracy": 0.91},
               "fine_tuned": {"accuracy": 0.88}}
    best = compute_roi(systems, "classification", PricingSpec(), None)["best_alternative"]
    assert best["system"] == "classical" and best["beats_best_alternative"] is False
    assert best["gain"] == pytest.approx(-0.03)


def test_served_and_evaluated_prompts_follow_the_stored_prompt_recipe(tmp_path):
    """A version trained without the label list is asked without it, by evaluation and by the server."""
    from tailorlm.evaluate.runner import fine_tuned_lists_labels
    from tailorlm.prompting import build_messages, prompt_recipe
    from tailorlm.results import TrainRun
    from tailorlm.serve.catalog import Recipe, _lists_labels
    from tailorlm.spec import ObjectiveSpec

    objective = ObjectiveSpec(task="classification", instruction="Pick the intent.")
    recipe = prompt_recipe(objective, ["a", "b"], list_labels=False)
    assert recipe["labels_in_prompt"] is False and recipe["system"] == "Pick the intent."
    (tmp_path / "provenance.json").write_text(json.dumps({"prompt_recipe": recipe}))
    run = TrainRun("r", str(tmp_path), str(tmp_path), "lora", "b", "b", "h", "v")
    assert fine_tuned_lists_labels(run) is False and _lists_labels(str(tmp_path)) is False
    served = Recipe(objective, ("a", "b"), _lists_labels(str(tmp_path))).messages([{"role": "user", "content": "hi"}])
    trained = build_messages({"prompt": json.dumps([{"role": "user", "content": "hi"}])}, objective, ["a", "b"],
                             list_labels=False)
    assert served == trained and "Labels:" not in served[0]["content"]
    (tmp_path / "provenance.json").write_text(json.dumps({}))  # made before recipes were stored: listed
    assert fine_tuned_lists_labels(run) is True


def test_paired_bootstrap_shows_a_real_lead_and_not_a_tie():
    from tailorlm.evaluate.significance import paired_bootstrap

    rng = random.Random(0)
    base = [float(rng.random() < 0.80) for _ in range(1500)]
    better = [1.0 if b else float(rng.random() < 0.4) for b in base]  # fixes ~40% of the errors, breaks none
    lead = paired_bootstrap(better, base)
    assert lead["low"] > 0 and lead["high"] > lead["diff"] > lead["low"]
    tie = paired_bootstrap(base, list(reversed(base)))
    assert tie["low"] < 0 < tie["high"]
    assert paired_bootstrap(better, base) == lead  # seeded


def test_the_report_says_whether_the_lead_over_the_best_alternative_is_shown():
    from tailorlm.evaluate.report import roi_lines, with_intervals
    from tailorlm.evaluate.roi import compute_roi
    from tailorlm.spec.evaluate import PricingSpec

    systems = {"classical": {"accuracy": 0.87}, "fine_tuned": {"accuracy": 0.90}}
    roi = with_intervals(compute_roi(systems, "classification", PricingSpec(), None),
                         {"classical": {"low": 0.011, "high": 0.049, "diff": 0.03, "n": 1700}})
    assert roi["best_alternative"]["shown"] is True and roi["vs"]["classical"]["quality_gain_ci95"] == [0.011, 0.049]
    text = "\n".join(roi_lines(roi))
    assert "beats the best system that is not fine-tuned, classical" in text and "above 0: the lead is real" in text


def test_a_latency_change_against_a_sub_millisecond_floor_reads_as_a_factor_not_a_huge_percentage():
    from tailorlm.evaluate.report import _latency_change

    assert _latency_change(-45.2) == " (-45%)"
    assert _latency_change(625370.0) == " (6255x)"  # 1311 ms against the 0.21 ms nearest-answer look-up
    assert _latency_change(None) == ""
