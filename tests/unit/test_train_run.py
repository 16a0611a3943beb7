"""run_training end to end on the tiny model: artifacts, store, provenance, reload, merge, NaN guard."""

from __future__ import annotations

import json

import pytest
import torch
from sqlalchemy import text

from tailorlm.spec import parse_spec
from dataset_fixtures import write_dataset_version
from tailorlm.workspace import Workspace


def make_spec(root, base, **train):
    # head: lm: these tests are about the generative artifact (test_train_classifier.py covers the head).
    cfg = {"method": "lora", "head": "lm", "max_steps": 6, "batch_size": 8, "eval_every": 3, "save_every": 2,
           "learning_rate": 1e-2, **train}
    return parse_spec({"project": "t", "data": {"sources": [{"path": "x.jsonl"}]}, "model": {"base": str(base)},
                       "train": cfg}, root)


@pytest.fixture(scope="module")
def lora_run(tiny_model_dir, tmp_path_factory):
    from tailorlm.train import run_training

    root = tmp_path_factory.mktemp("proj")
    ds = write_dataset_version(root / "ds", n_train=48, n_val=8)
    ws = Workspace(root)
    return run_training(make_spec(root, tiny_model_dir), ws, ds, progress=False), ws


def test_run_writes_the_documented_artifacts(lora_run):
    from pathlib import Path

    run, ws = lora_run
    d, model = Path(run.path), Path(run.model_path)
    for name in ("metrics.jsonl", "loss.png", "spec.resolved.yaml", "tensorboard"):
        assert (d / name).exists(), name
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "chat_template.jinja",
                 "provenance.json"):
        assert (model / name).exists(), name
    prov = json.loads((model / "provenance.json").read_text())
    assert prov["method"] == "lora" and prov["dataset_version"] == "v0test"
    assert prov["base_weight_hash"] == run.base_weight_hash and prov["code_version"]
    assert prov["spec"]["train"]["max_steps"] == 6
    steps = [r["step"] for r in map(json.loads, (d / "metrics.jsonl").read_text().splitlines()) if "loss" in r]
    assert steps == [1, 2, 3, 4, 5, 6]
    m = run.metrics
    assert m["steps"] == 6 and m["train_tokens"] > 0 and m["tokens_per_second"] > 0
    assert m["eval_loss"] is not None and m["train_loss"] < 10.9  # random-init loss is ln(49152) ~ 10.8
    # Kept: the last 2 checkpoints plus the best; written atomically (no staging folder left).
    ckpts = sorted(p.name for p in (d / "checkpoints").iterdir())
    assert ckpts and all(c.startswith("step-") for c in ckpts) and len(ckpts) <= 3


def test_run_is_recorded_in_the_store(lora_run):
    run, ws = lora_run
    with ws.store.engine.connect() as conn:
        row = conn.execute(text("SELECT status, dataset_version, info FROM runs WHERE id=:i"), {"i": run.run_id}).one()
    assert row[0] == "finished" and row[1] == "v0test"
    assert json.loads(row[2])["metrics"]["steps"] == 6
    # The precision the steps ran in is on record (fp32 weights here; bf16 autocast where measured faster).
    assert json.loads(row[2])["precision"].startswith(("float32", "bf16 autocast"))


def test_precision_names_what_the_forward_passes_ran_in(tiny_model_dir):
    import contextlib

    from tailorlm.models import load_base
    from tailorlm.train.run import precision

    loaded = load_base(str(tiny_model_dir), device="cpu", dtype="float32")
    loaded.autocast_bf16 = False
    assert precision(loaded, None, loaded.autocast) == "float32"
    loaded.autocast_bf16 = True
    assert precision(loaded, None, loaded.autocast).startswith("bf16 autocast (measured ")
    assert precision(loaded, None, contextlib.nullcontext).startswith("float32 (bf16 autocast measured ")


def test_load_trained_and_merged_export_give_the_same_outputs(lora_run, tmp_path):
    from transformers import AutoModelForCausalLM

    from tailorlm.models.trained import load_trained
    from tailorlm.models.trained import merge_and_save

    run, _ = lora_run
    peft = load_trained(run.model_path, device="cpu", dtype="float32", merge=False)
    assert type(peft.model).__name__.startswith("Peft")
    out = merge_and_save(run.model_path, str(tmp_path / "merged"))
    plain = AutoModelForCausalLM.from_pretrained(out).eval()  # plain transformers, no PEFT
    ids = torch.tensor([[1, 9690, 198, 67, 2, 198, 1, 4093, 198]])
    with torch.no_grad():
        a = peft.model(input_ids=ids).logits
        b = plain(input_ids=ids).logits
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    base = AutoModelForCausalLM.from_pretrained(run.base_path).eval()
    with torch.no_grad():
        assert not torch.allclose(base(input_ids=ids).logits, b, atol=1e-4)  # the adapter did something


def test_nan_loss_stops_the_run_and_keeps_no_bad_checkpoint(tiny_model_dir, tmp_path):
    from tailorlm.train import run_training
    from tailorlm.train.metrics_writer import TrainingDiverged

    ds = write_dataset_version(tmp_path / "ds", n_train=32, n_val=8)
    ws = Workspace(tmp_path)
    spec = make_spec(tmp_path, tiny_model_dir, method="full", learning_rate=1e12, max_steps=8, save_every=1,
                     max_grad_norm=1e12)
    with pytest.raises(TrainingDiverged, match=r"step \d+: the training (loss|gradient norm) is (nan|inf)"):
        run_training(spec, ws, ds, progress=False)
    with ws.store.engine.connect() as conn:
        status, info = conn.execute(text("SELECT status, info FROM runs")).one()
    assert status == "failed" and "TrainingDiverged" in json.loads(info)["error"]
    run_dir = next((tmp_path / ".tailor" / "runs").iterdir())
    assert not (run_dir / "model").exists()
    for ck in (run_dir / "checkpoints").glob("step-*"):
        weights = torch.load(ck / "trainable.pt", weights_only=True)
        assert all(torch.isfinite(t).all() for t in weights.values()), ck


def test_briefly_tuned_model_answers_and_stops_with_eos(tiny_model_dir, tmp_path):
    """SFT teaches the answer *and* the EOS: greedy decoding of a training prompt ends with EOS."""
    import pandas as pd

    from tailorlm.prompting import build_messages
    from tailorlm.train import load_trained, run_training

    ds = write_dataset_version(tmp_path / "ds", n_train=32, n_val=4)
    # labels listed in the prompt: 30 steps are enough for the 2-layer random model to copy a label
    # from it; without the list it needs far more steps to learn four label strings from scratch
    spec = make_spec(tmp_path, tiny_model_dir, method="full", learning_rate=1e-2, max_steps=30, eval_every=30, scheduler="constant",
                     save_every=100, warmup_ratio=0.0, labels_in_prompt=True)
    run = run_training(spec, Workspace(tmp_path), ds, progress=False)
    lm = load_trained(run.model_path, device="cpu", dtype="float32")
    tok = lm.tokenizer
    row = pd.read_parquet(ds.split_path("train")).iloc[0].to_dict()
    ids = tok.apply_chat_template(build_messages(row, spec.objective, ds.labels, list_labels=spec.train.labels_in_prompt), add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)["input_ids"]
    out = lm.model.generate(ids, max_new_tokens=12, do_sample=False, eos_token_id=tok.eos_token_id,
                            pad_token_id=tok.pad_token_id)[0, ids.shape[1]:].tolist()
    assert tok.eos_token_id in out, tok.decode(out)
    answer = tok.decode(out[: out.index(tok.eos_token_id)]).strip()
    assert answer and any(label.startswith(answer) for label in ds.labels), answer  # label tokens, then stop


def test_early_stopping_restores_the_best_checkpoint(tiny_model_dir, tmp_path, monkeypatch):
    """Validation gets worse after the first check: the run stops and ships the best weights."""
    from pathlib import Path

    from safetensors.torch import load_file

    from tailorlm.train import loop, run_training

    losses = iter([1.0, 2.0, 3.0, 4.0])
    monkeypatch.setattr(loop, "evaluate", lambda *a, **k: next(losses))
    ds = write_dataset_version(tmp_path / "ds", n_train=32, n_val=4)
    spec = make_spec(tmp_path, tiny_model_dir, max_steps=20, eval_every=2, save_every=100, early_stopping_patience=2)
    run = run_training(spec, Workspace(tmp_path), ds, progress=False)
    assert run.metrics["stopped_early"] and run.metrics["steps"] == 6 and run.metrics["best_step"] == 2
    assert run.metrics["weights_step"] == 2
    best = torch.load(Path(run.path) / "checkpoints" / "step-000002" / "trainable.pt", weights_only=True)
    shipped = load_file(Path(run.model_path) / "adapter_model.safetensors")
    assert len(shipped) == len(best)
    for name, tensor in shipped.items():  # PEFT drops the adapter name from saved keys
        match = [v for k, v in best.items() if k.replace(".default", "") == name]
        assert match and torch.equal(match[0], tensor), name


def test_nan_in_the_final_weights_saves_and_registers_no_artifact(tiny_model_dir, tmp_path, monkeypatch):
    """The last optimizer step can turn a weight NaN after the last finite loss: the artifact is refused."""
    from tailorlm.train import run, run_training
    from tailorlm.train.metrics_writer import TrainingDiverged

    real_loop = run.run_loop

    def loop_then_poison(model, *args, **kwargs):
        result = real_loop(model, *args, **kwargs)
        with torch.no_grad():
            next(p for p in model.parameters() if p.requires_grad).view(-1)[0] = float("nan")
        return result

    monkeypatch.setattr(run, "run_loop", loop_then_poison)
    ds = write_dataset_version(tmp_path / "ds", n_train=16, n_val=4)
    ws = Workspace(tmp_path)
    with pytest.raises(TrainingDiverged, match=r"model: weight .*lora_A.* has NaN/Inf values .* not registered"):
        run_training(make_spec(tmp_path, tiny_model_dir, max_steps=2, save_every=100), ws, ds, progress=False)
    with ws.store.engine.connect() as conn:
        status, info = conn.execute(text("SELECT status, info FROM runs")).one()
    assert status == "failed" and "NaN/Inf" in json.loads(info)["error"] and "model_path" not in json.loads(info)
    run_dir = next((tmp_path / ".tailor" / "runs").iterdir())
    assert not (run_dir / "model").exists()
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".staging")]  # nothing half-written left


def test_save_artifact_refuses_non_finite_weights(tiny_model_dir, tokenizer, tmp_path):
    from transformers import AutoModelForCausalLM

    from tailorlm.train.export import first_non_finite, save_artifact
    from tailorlm.train.metrics_writer import TrainingDiverged

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert first_non_finite(model.state_dict()) is None
    with torch.no_grad():
        model.model.layers[1].mlp.down_proj.weight[0, 0] = float("inf")
    assert first_non_finite(model.state_dict()) == "model.layers.1.mlp.down_proj.weight"
    with pytest.raises(TrainingDiverged, match=r"out: weight model.layers.1.mlp.down_proj.weight has NaN/Inf"):
        save_artifact(model, tokenizer, tmp_path / "out", {}, "full")
    assert not (tmp_path / "out").exists()
    gathered = {k: v.clone() for k, v in model.state_dict().items()}
    gathered["model.layers.1.mlp.down_proj.weight"][0, 0] = 0.0  # a gathered (finite) state dict is what is saved
    save_artifact(model, tokenizer, tmp_path / "out", {}, "full", state_dict=gathered)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "out")
    assert reloaded.model.layers[1].mlp.down_proj.weight[0, 0].item() == 0.0


def test_early_stopping_never_ships_the_last_weights_in_place_of_a_missing_best(tiny_model_dir, tmp_path):
    from types import SimpleNamespace

    from transformers import AutoModelForCausalLM

    from tailorlm.train.run import final_weights

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    stopped = SimpleNamespace(step=6, stopped_early=True, best_step=2)
    with pytest.raises(FileNotFoundError, match=r"step-000002/trainable.pt: missing, so early stopping cannot ship"):
        final_weights(model, stopped, tmp_path)
    finished = SimpleNamespace(step=6, stopped_early=False, best_step=2)
    assert final_weights(model, finished, tmp_path) == (model, None, 6)  # no early stop: the last weights


class _FakeAccelerator:
    """Just what final_weights/params_sharded touch, recording the calls (FSDP/ZeRO need GPUs)."""

    def __init__(self, kind: str, main: bool, zero_stage: int | None = None):
        from types import SimpleNamespace

        from accelerate.utils import DistributedType

        self.distributed_type = DistributedType[kind]
        self.is_main_process = main
        self.state = SimpleNamespace(deepspeed_plugin=SimpleNamespace(zero_stage=zero_stage) if zero_stage else None)
        self.calls = []

    def unwrap_model(self, model):
        return model

    def load_state(self, path):
        self.calls.append(("load_state", path))

    def get_state_dict(self, model):
        self.calls.append("get_state_dict")
        return {"gathered": torch.zeros(1)} if self.is_main_process else {}


@pytest.mark.parametrize("main", [True, False])
def test_sharded_early_stopping_loads_the_best_shards_on_every_rank_then_gathers(main, tmp_path):
    from types import SimpleNamespace

    from tailorlm.train.run import final_weights

    best = tmp_path / "checkpoints" / "step-000002"
    best.mkdir(parents=True)
    (best / "state.json").write_text("{}")  # written by save_state + our state.json; no trainable.pt when sharded
    acc = _FakeAccelerator("FSDP", main)
    model = torch.nn.Linear(2, 2)
    final, state, step = final_weights(model, SimpleNamespace(step=6, stopped_early=True, best_step=2), tmp_path, acc)
    assert acc.calls == [("load_state", str(best)), "get_state_dict"]  # a collective: every rank, in this order
    assert step == 2 and final is model and (state == {"gathered": torch.zeros(1)} if main else state == {})
    (best / "state.json").unlink()
    with pytest.raises(FileNotFoundError, match="early stopping cannot ship the best weights"):
        final_weights(model, SimpleNamespace(step=6, stopped_early=True, best_step=2), tmp_path, _FakeAccelerator("FSDP", main))


def test_prefix_and_prompt_are_refused_when_weights_are_sharded(tmp_path):
    from tailorlm.train.checkpoints import params_sharded
    from tailorlm.train.run import _setup

    assert params_sharded(_FakeAccelerator("FSDP", True))
    assert params_sharded(_FakeAccelerator("DEEPSPEED", True, zero_stage=3))
    assert not params_sharded(_FakeAccelerator("DEEPSPEED", True, zero_stage=2))
    assert not params_sharded(_FakeAccelerator("MULTI_CPU", True)) and not params_sharded(None)
    spec = make_spec(tmp_path, tmp_path, method="prefix")
    with pytest.raises(ValueError, match="prefix tuning cannot run with sharded weights"):
        _setup(spec, None, None, False, False, _FakeAccelerator("FSDP", True))


def test_time_budget_plans_the_steps_that_fit():
    from tailorlm.train.loop import budget_steps

    # 5 steps done in 10 s, 2 s per step from then on: 50 s of a 1-minute budget left = 25 more steps.
    assert budget_steps(1.0, 10.0, 5, [2.0, 3.0, 2.0, 2.0], 100) == 30
    assert budget_steps(10.0, 10.0, 5, [2.0, 2.0], 100) == 100  # everything fits: the plan stands
    assert budget_steps(0.1, 60.0, 5, [2.0], 100) == 6  # over budget already: at least one more step


def test_time_budget_replans_the_schedule_to_end_at_the_last_step(tiny_model_dir, tmp_path, monkeypatch):
    """max_minutes cuts 20 planned steps to the 9 that "fit" (the measurement is stubbed: timing is not
    asserted), and the cosine schedule is laid over those 9, so the learning rate still decays."""
    from tailorlm.train import loop, run_training

    monkeypatch.setattr(loop, "budget_steps", lambda *a, **k: 9)
    ds = write_dataset_version(tmp_path / "ds", n_train=48, n_val=8)
    spec = make_spec(tmp_path, tiny_model_dir, max_steps=20, max_minutes=5, eval_every=100, save_every=100,
                     scheduler="cosine", warmup_ratio=0.0)
    run = run_training(spec, Workspace(tmp_path), ds, progress=False)
    assert run.metrics["steps"] == 9 and run.metrics["planned_steps"] == 20
    rows = [r for r in map(json.loads, (tmp_path / ".tailor").glob("runs/*/metrics.jsonl").__next__().read_text()
                            .splitlines()) if "lr" in r]
    assert [r["step"] for r in rows] == list(range(1, 10))
    peak = 1e-2
    assert rows[0]["lr"] == pytest.approx(peak)  # the first steps ran on the 20-step plan
    assert rows[-1]["lr"] < 0.05 * peak  # the last step is near the end of the new 9-step cosine


def test_periodic_validation_reads_a_fixed_sample_of_at_most_eval_rows():
    from tailorlm.train.run import validation_sample

    rows = list(range(1000))
    a, b = validation_sample(rows, 256, 0), validation_sample(rows, 256, 0)
    assert a == b and len(a) == 256 and a == sorted(a)  # the same rows at every validation, in order
    assert validation_sample(rows, 0, 0) == rows and validation_sample(rows[:10], 256, 0) == rows[:10]


def test_micro_batches_bound_the_padded_size():
    from tailorlm.train.loop import micro_batches

    rows = [[[0] * n] for n in (10, 12, 12, 30, 31)]  # one segment per row
    parts = micro_batches(rows, 40)
    assert [len(p) for p in parts] == [3, 1, 1]  # 3 x 12 = 36 <= 40; a 30-token row alone; never empty
    assert micro_batches(rows, 0) == [rows]


def test_split_batches_give_the_same_gradient(tiny_model_dir):
    """max_batch_tokens only changes how a batch is cut into forward passes: the gradient of the step
    is the unsplit batch's (token-weighted mean loss), to float rounding."""
    import random

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from tailorlm.spec.train import TrainSpec
    from tailorlm.train.loop import LoopConfig, _Ctx, _train_step
    from tailorlm.train.tokenize import Encoded

    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)),
                           LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules="all-linear"))
    rnd = random.Random(0)
    rows = []
    for n in (12, 14, 15, 20, 22, 25, 30, 31):  # prompt of n//2 tokens, answer of the rest
        ids = [rnd.randrange(5, 500) for _ in range(n)]
        rows.append([Encoded(ids, [-100] * (n // 2) + ids[n // 2:])])

    class Recorder:  # an optimizer that keeps the gradients instead of stepping
        def __init__(self):
            self.grads = None

        def step(self):
            self.grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

        def zero_grad(self, set_to_none=True):
            model.zero_grad(set_to_none=set_to_none)

    class Flat:  # a constant LR schedule
        def get_last_lr(self):
            return [0.0]

        def step(self):
            pass

    grads = []
    for cap in (0, 64):  # 64: passes of at most 64 padded tokens (2-4 rows)
        spec = TrainSpec(batch_size=8, max_batch_tokens=cap, group_by_length=True)
        opt = Recorder()
        c = _Ctx(model, opt, Flat(), LoopConfig(spec=spec, lr=0.0, pad_id=0, packed=False), rows,
                 [sum(len(s) for s in r) for r in rows], 1)
        row = _train_step(c, 0)
        grads.append((opt.grads, row["loss"], row["tokens"]))
    (g0, loss0, tok0), (g1, loss1, tok1) = grads
    assert g0.keys() == g1.keys() and g0
    assert loss1 == pytest.approx(loss0, rel=1e-5) and tok1 == tok0
    for name in g0:
        assert torch.allclose(g0[name], g1[name], rtol=1e-4, atol=1e-7), name


def test_time_budget_defaults_to_fifteen_minutes_on_cpu_only():
    from tailorlm.spec.train import TrainSpec, time_budget

    assert time_budget(TrainSpec(), "cpu") == 15.0 and time_budget(TrainSpec(), "cuda:0") == 0.0
    assert time_budget(TrainSpec(max_minutes=0), "cpu") == 0.0 and time_budget(TrainSpec(max_minutes=3), "cuda") == 3
