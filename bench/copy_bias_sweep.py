"""Which ``copy_bias`` serves a trained generation version best, measured on its *validation* rows.

Run inside a generation or chat project (it prepares and trains first when the project has no
finished run, as ``tailorlm eval`` does)::

    cd my-project && python /path/to/bench/copy_bias_sweep.py --rows 80 --bias 0 1 2 4 8

For each bias it decodes the fine-tuned version's validation answers (greedy, the evaluation's
prompts: the version's retrieved example before each message) and prints ROUGE-L and embedding
similarity next to the nearest-training-answer floor and to copying the example the version was
shown, on the same rows. Validation rows, never test rows: this is tuning data.
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", default="tailor.yaml")
    ap.add_argument("--rows", type=int, default=80, help="validation rows (the first N, file order)")
    ap.add_argument("--bias", type=float, nargs="+", default=[0.0, 1.0, 2.0, 4.0, 8.0])
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--no-repeat", type=int, default=None,
                    help="repeat limit in tokens (default: the version's recipe's repeat_limit, else one more "
                         "than the longest run a training answer repeats; 0: none)")
    ap.add_argument("--dump", default=None,
                    help="write each row's message, reference, shown example, floor and answers (JSONL) here")
    args = ap.parse_args()

    from tailorlm.evaluate.baselines import plan_systems
    from tailorlm.evaluate.classical import classical_answers
    from tailorlm.evaluate.metrics import METRICS
    from tailorlm.inference import encode_chats, generate
    from tailorlm.evaluate.runner import fine_tuned_shots, load_rows, load_weights, max_new_tokens
    from tailorlm.models.trained import read_provenance
    from tailorlm.pipeline import run_pipeline
    from tailorlm.spec import load_spec

    spec = load_spec(args.spec)
    if spec.objective.task not in ("generation", "chat"):
        raise SystemExit(f"{args.spec}: task {spec.objective.task!r}; copy_bias applies to generation and chat only")
    if args.batch_size:
        spec.eval.batch_size = args.batch_size
    res = run_pipeline(spec, until="train", progress=False)
    ds, run = res.dataset, res.run
    path = ds.split_path("validation")
    val = load_rows(path, 0, "validation")[:args.rows] if path.exists() else []
    if not val:
        raise SystemExit(f"{path}: no validation rows to tune on (set data.split so validation is not empty)")
    train = load_rows(ds.split_path("train"), 0, "train")
    refs = [str(r.get("completion") or "") for r in val]
    rouge, embedding = METRICS["rougeL"], METRICS["embedding_similarity"]

    floor, _ = classical_answers(spec.objective.task, train, [], val, spec.eval.seed)
    floor_text = [g.text for g in floor]
    shots = fine_tuned_shots(run, val)
    shown = [str(s[0].get("completion") or "") if s else "" for s in shots] if shots else None
    out = {"rows": len(val), "recipe": read_provenance(run.model_path).get("prompt_recipe"),
           "floor": {"rougeL": rouge(floor_text, refs),
                     "embedding": embedding(floor_text, refs)}}
    if shown:
        out["copy_of_shown"] = {"rougeL": rouge(shown, refs)}
    print(json.dumps(out, default=str), flush=True)

    loaded = load_weights("fine_tuned", spec, run)
    plan = plan_systems(["fine_tuned"], val, train, spec.objective, list(ds.labels or []), spec.eval, None,
                        True, shots)[0]
    budget = max_new_tokens(spec, loaded.tokenizer, [], [str(r.get("completion") or "") for r in train])
    prompts = encode_chats(loaded.tokenizer, plan.chats)
    e = spec.eval
    no_repeat = args.no_repeat
    if no_repeat is None:
        from tailorlm.prompting import repeat_limit

        no_repeat = int((out["recipe"] or {}).get("repeat_limit") or 0) or repeat_limit(
            loaded.tokenizer, [str(r.get("completion") or "") for r in train])
    print(json.dumps({"no_repeat": no_repeat}), flush=True)

    dump = [{"id": r.get("id"), "message": r.get("prompt"), "reference": ref, "floor": f,
             "shown": shown[i] if shown else None, "answers": {}} for i, (r, ref, f) in
            enumerate(zip(val, refs, floor_text))]
    for bias in args.bias:
        t0 = time.perf_counter()  # the evaluation's own call (evaluate/answers.py), with this bias
        gens = generate(loaded, prompts, max_new_tokens=budget, batch_size=e.batch_size, progress=False,
                        prefix_cache=e.prefix_cache, autocast=e.bf16_autocast, copy_bias=bias,
                        no_repeat=no_repeat)
        texts = [g.text for g in gens]
        row = {"copy_bias": bias, "rougeL": rouge(texts, refs),
               "embedding": embedding(texts, refs),
               "vs_shown": rouge(texts, shown) if shown else None,
               "seconds": round(time.perf_counter() - t0, 1)}
        print(json.dumps(row), flush=True)
        for d, t in zip(dump, texts):
            d["answers"][str(bias)] = t
    if args.dump:
        with open(args.dump, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(d, ensure_ascii=False) + "\n" for d in dump)


if __name__ == "__main__":
    main()
