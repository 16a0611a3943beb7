"""The classifier head: loss falls on the tiny model, the artifact reloads with identical logits,
the merged registry export is a plain transformers classifier with the same logits and labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from test_registry_helpers import fake_dataset, fake_eval

from tailorlm.spec import parse_spec
from dataset_fixtures import INTENTS, write_dataset_version
from tailorlm.workspace import Workspace


def _spec(root, base, **train):
    cfg = {"method": "lora", "max_steps": 40, "batch_size": 8, "eval_every": 20, "save_every": 20,
           "learning_rate": 1e-2, "log_every": 1, **train}
    return parse_spec({"project": "t", "data": {"sources": [{"path": "x.jsonl"}]}, "model": {"base": str(base)},
                       "train": cfg}, root)


@pytest.fixture(scope="module")
def cls_run(tiny_model_dir, tmp_path_factory):
    from tailorlm.train import run_training

    root = tmp_path_factory.mktemp("cls")
    ds = write_dataset_version(root / "ds", n_train=64, n_val=8)
    spec = _spec(root, tiny_model_dir)
    ws = Workspace(root)
    return run_training(spec, ws, ds, progress=False), ws, spec, ds


def _texts():
    return ["I lost my card", "what is my balance", "send 50 dollars to Sam", "I forgot my password thanks"]


def test_auto_head_is_the_classifier_for_classification_and_says_so(cls_run):
    from sqlalchemy import text

    run, ws, _, _ = cls_run
    prov = json.loads((Path(run.model_path) / "provenance.json").read_text())
    assert prov["head"] == "classifier" and prov["prompt_recipe"]["labels"] == sorted(INTENTS)
    assert "no label list" in prov["prompt_recipe"]["input"]
    with ws.store.engine.connect() as conn:
        info = json.loads(conn.execute(text("SELECT info FROM runs WHERE id=:i"), {"i": run.run_id}).scalar_one())
    assert info["head"] == "classifier" and info["head_reason"].startswith("auto: classification")


def test_classifier_loss_falls(cls_run):
    run, _, _, _ = cls_run
    losses = [r["loss"] for r in map(json.loads, (Path(run.path) / "metrics.jsonl").read_text().splitlines())
              if "loss" in r]
    assert len(losses) == 40
    assert sum(losses[-4:]) / 4 < 0.5 * losses[0]  # ln(4) ~ 1.39 at the start
    assert run.metrics["eval_loss"] < losses[0]


def test_classifier_predicts_the_training_labels(cls_run):
    from dataset_fixtures import sft_rows

    from tailorlm.models.classifier_head import classify
    from tailorlm.models.trained import load_trained
    from tailorlm.train.classifier import CUE

    run, _, _, _ = cls_run
    loaded = load_trained(run.model_path, device="cpu", dtype="float32")
    rows = sft_rows(64, seed=len("train"))  # the training split's rows
    preds = classify(loaded, [json.loads(r["prompt"])[0]["content"] for r in rows], batch_size=5, progress=False,
                     cue=CUE)
    assert sum(p.text == r["label"] for p, r in zip(preds, rows)) / len(rows) >= 0.75  # chance: 0.25
    for p in preds:
        assert sum(p.probs.values()) == pytest.approx(1.0, abs=1e-5) and p.probability == max(p.probs.values())


def test_the_head_reads_the_cue_its_recipe_names_and_old_recipes_read_the_message_alone(cls_run):
    from tailorlm.evaluate.answers import recipe_cue_of
    from tailorlm.models.classifier_head import classify, encode_text_ids, recipe_cue
    from tailorlm.models.trained import load_trained
    from tailorlm.train.classifier import CUE

    run, _, _, _ = cls_run
    assert recipe_cue_of(run) == CUE
    assert recipe_cue({"labels": ["a"]}) == ""  # a version trained before the cue: read as it was trained
    loaded = load_trained(run.model_path, device="cpu", dtype="float32")
    tok, text = loaded.tokenizer, "I lost my card"
    plain = tok(text, add_special_tokens=False)["input_ids"]
    assert encode_text_ids(tok, text, 256, CUE) == plain + tok(CUE, add_special_tokens=False)["input_ids"]
    assert encode_text_ids(tok, text, 256) == plain
    for cue in (CUE, ""):
        want = loaded.model(input_ids=torch.tensor([encode_text_ids(tok, text, 256, cue)])).logits[0].softmax(-1)
        got = classify(loaded, [text], progress=False, cue=cue)[0]
        assert list(got.probs.values()) == pytest.approx(want.tolist(), abs=1e-5)


def test_the_new_head_starts_from_the_label_names_embeddings(tiny_model_dir, tmp_path):
    from tailorlm.train.classifier import label_name_text, load_classifier_base

    labels = sorted(INTENTS)
    loaded = load_classifier_base(_spec(tmp_path, tiny_model_dir), labels)
    emb, tok = loaded.model.get_input_embeddings().weight, loaded.tokenizer
    assert label_name_text("card_not_working") == " card not working"
    for i, label in enumerate(labels):
        ids = tok(label_name_text(label), add_special_tokens=False)["input_ids"]
        torch.testing.assert_close(loaded.model.score.weight[i], emb[ids].mean(0))


def _logits(model, tok, texts):
    enc = tok(texts, add_special_tokens=False, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits


def test_saved_classifier_reloads_with_identical_logits(tiny_model_dir, tmp_path):
    from tailorlm.train.classifier import load_classifier_base
    from tailorlm.train.export import save_artifact
    from tailorlm.models.trained import load_trained
    from tailorlm.train.methods import apply_method

    spec = _spec(tmp_path, tiny_model_dir)
    labels = sorted(INTENTS)
    loaded = load_classifier_base(spec, labels)
    model = apply_method(loaded.model, spec.train, "SEQ_CLS")
    with torch.no_grad():  # stand-in for training: move every trained weight (LoRA B starts at 0)
        for n, p in model.named_parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.05)
    model.eval()
    tok = loaded.tokenizer
    before = _logits(model, tok, _texts())
    out = save_artifact(model, tok, tmp_path / "model", {"base_path": str(tiny_model_dir), "base_ref": "tiny",
                        "head": "classifier", "prompt_recipe": {"labels": labels}}, "lora")
    for merge in (False, True):
        again = load_trained(str(out), device="cpu", dtype="float32", merge=merge)
        torch.testing.assert_close(_logits(again.model, tok, _texts()), before, atol=1e-5, rtol=1e-5)
    assert again.model.config.id2label == dict(enumerate(labels))


def test_registry_export_of_a_classifier_version(cls_run, tmp_path):
    import dataclasses
    import shutil

    from test_registry_helpers import make_spec
    from transformers import AutoModelForSequenceClassification

    from tailorlm.registry import register_model, resolve
    from tailorlm.registry.export import export_version
    from tailorlm.models.trained import load_trained

    trained, _, _, _ = cls_run
    spec = make_spec(tmp_path / "proj", None)
    ws = Workspace.for_spec(spec)
    model_path = ws.runs / trained.run_id / "model"
    shutil.copytree(trained.model_path, model_path)
    run = dataclasses.replace(trained, path=str(model_path.parent), model_path=str(model_path),
                              dataset_version="ds0001")
    mv = register_model(spec, ws, fake_dataset(spec, ws), run, fake_eval())
    out = tmp_path / "merged"
    export_version(ws, resolve(ws, mv.ref), out, merge=True)
    plain = AutoModelForSequenceClassification.from_pretrained(out).eval()  # no PEFT, no tailorlm
    assert plain.config.id2label == dict(enumerate(sorted(INTENTS)))
    reloaded = load_trained(mv.path, device="cpu", dtype="float32", merge=False)
    tok = reloaded.tokenizer
    torch.testing.assert_close(_logits(plain, tok, _texts()), _logits(reloaded.model, tok, _texts()),
                               atol=1e-4, rtol=1e-4)


def test_prefix_tuning_cannot_carry_the_head(tiny_model_dir, tmp_path):
    from tailorlm.train.classifier import resolve_head

    assert resolve_head("classification", "auto", "prefix")[0] == "lm"
    assert resolve_head("generation", "auto", "lora")[0] == "lm"
    assert resolve_head("classification", "lm", "lora")[0] == "lm"


def test_spec_check_names_a_head_that_cannot_work(tmp_path):
    from tailorlm.spec.checks import cross_check

    spec = parse_spec({"project": "t", "data": {"sources": [{"path": "x.jsonl"}]},
                       "train": {"head": "classifier", "method": "prefix"},
                       "eval": {"systems": ["base", "fine_tuned", "fine_tuned_rag"]}}, tmp_path)
    problems = " | ".join(cross_check(spec, check_files=False))
    assert "cannot sit on method 'prefix'" in problems and "fine_tuned_rag is not offered" in problems
    ok = parse_spec({"project": "t", "data": {"sources": [{"path": "x.jsonl"}]}, "train": {"head": "classifier"},
                     "objective": {"criteria": ["expected_calibration_error <= 0.1", "routed_rate <= 0.2"]}},
                    tmp_path)
    assert not [p for p in cross_check(ok, check_files=False) if "head" in p or "criteria" in p]
