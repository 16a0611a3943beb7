"""``train.retrieved_examples``: the nearest training examples before every message, the same prompt in
training, evaluation and serving, and the rows carried by the version."""

from __future__ import annotations

import json

import pytest

from dataset_fixtures import write_dataset_version
from tailorlm.spec import parse_spec
from tailorlm.workspace import Workspace


def _row(i: int, text: str, answer: str) -> dict:
    return {"id": f"r{i}", "prompt": json.dumps([{"role": "user", "content": text}]), "completion": answer}


ROWS = [_row(0, "where is my parcel for order 123", "Track it in Order History."),
        _row(1, "my parcel has not arrived yet", "Parcels take three days; track it in Order History."),
        _row(2, "I want a refund for the shoes", "Refunds take five days after we receive the shoes."),
        _row(3, "refund for my jacket please", "Refunds take five days after we receive the jacket.")]


def test_nearest_examples_are_the_most_similar_and_never_the_row_itself():
    from tailorlm.rag import ExampleIndex

    index = ExampleIndex(ROWS)
    got = index.nearest(ROWS, 1, exclude_self=True)
    assert [g[0]["id"] for g in got] == ["r1", "r0", "r3", "r2"]
    # A query that is not a training row may get any row, most similar first.
    query = {"prompt": [{"role": "user", "content": "refund for my shoes"}]}
    assert [r["id"] for r in index.nearest([query], 2)[0]] == ["r2", "r3"]
    # Another row with the same answer is a fair neighbour (it is at test time); only the row itself is not.
    twin = {**ROWS[3], "id": "copy"}
    assert index.nearest([twin], 1, exclude_self=True)[0][0]["id"] == "r3"


def test_training_draws_its_examples_from_the_pool_and_evaluation_takes_the_nearest():
    """``train.retrieval_pool``: each training row's example is drawn (seeded by row id) from its
    ``pool`` nearest other rows; pool 1 is the nearest; a rerun draws the same."""
    from tailorlm.rag import ExampleIndex

    rows = [_row(i, f"refund for my {item} please", f"Refunds for the {item} take five days.")
            for i, item in enumerate(["shoes", "jacket", "lamp", "kettle", "mat", "chair", "bike", "phone"])]
    index = ExampleIndex(rows)
    nearest = index.nearest(rows, 1, exclude_self=True)
    assert index.nearest(rows, 1, exclude_self=True, pool=1, seed=5) == nearest
    ranked = index.nearest(rows, 4, exclude_self=True)  # each row's 4 nearest others
    drawn = index.nearest(rows, 1, exclude_self=True, pool=4, seed=0)
    assert all(d[0] in r and d[0]["id"] != row["id"] for d, r, row in zip(drawn, ranked, rows))
    assert drawn != nearest  # 8 rows drawing 1 of 4: not all the nearest (fixed by the seed)
    assert index.nearest(rows, 1, exclude_self=True, pool=4, seed=0) == drawn
    two = index.nearest(rows, 2, exclude_self=True, pool=4, seed=1)
    order = {r["id"]: i for i, r in enumerate(ranked[0])}
    assert len(two[0]) == 2 and order[two[0][0]["id"]] < order[two[0][1]["id"]]  # kept in similarity order


def test_the_stored_rows_rebuild_the_same_index(tmp_path):
    from tailorlm.rag import EXAMPLES_FILE as FILE, ExampleIndex

    index = ExampleIndex(ROWS)
    index.save(tmp_path)
    again = ExampleIndex.load(tmp_path)
    queries = [{"prompt": [{"role": "user", "content": t}]} for t in ("parcel late", "jacket refund", "hello")]
    assert again.nearest(queries, 2) == index.nearest(queries, 2)
    (tmp_path / FILE).unlink()
    with pytest.raises(FileNotFoundError, match="retrieved examples"):
        ExampleIndex.load(tmp_path)


def test_the_default_is_one_example_for_generation_and_chat_and_none_otherwise():
    from tailorlm.spec.train import TrainSpec, retrieved_examples

    assert retrieved_examples(TrainSpec(), "generation") == 1
    assert retrieved_examples(TrainSpec(), "chat") == 1
    assert retrieved_examples(TrainSpec(), "classification") == 0
    assert retrieved_examples(TrainSpec(), "extraction") == 0
    assert retrieved_examples(TrainSpec(retrieved_examples=2), "classification", "classifier") == 0
    assert retrieved_examples(TrainSpec(retrieved_examples=0), "generation") == 0
    assert retrieved_examples(TrainSpec(retrieved_examples=2), "extraction") == 2


@pytest.fixture(scope="module")
def generation_run(tiny_model_dir, tmp_path_factory):
    from tailorlm.train import run_training

    root = tmp_path_factory.mktemp("proj")
    ds = write_dataset_version(root / "ds", n_train=24, n_val=4, n_test=4)
    spec = parse_spec({"project": "t", "objective": {"task": "generation"}, "data": {"sources": [{"path": "x.jsonl"}]},
                       "model": {"base": str(tiny_model_dir)},
                       "train": {"max_steps": 2, "batch_size": 8, "eval_every": 2, "save_every": 2}}, root)
    return spec, ds, run_training(spec, Workspace(root), ds, progress=False)


def test_a_generation_version_carries_its_recipe_and_its_training_rows(generation_run):
    from pathlib import Path

    import pandas as pd

    from tailorlm.rag import EXAMPLES_FILE as FILE

    _, ds, run = generation_run
    model = Path(run.model_path)
    recipe = json.loads((model / "provenance.json").read_text())["prompt_recipe"]
    assert recipe["retrieved_examples"] == 1
    stored = [json.loads(line) for line in (model / FILE).read_text().splitlines()]
    train = pd.read_parquet(Path(ds.path) / "train.parquet")
    assert [r["id"] for r in stored] == list(train["id"]) and set(stored[0]) == {"id", "prompt", "completion"}


def test_training_evaluation_and_serving_build_the_same_prompt(generation_run, tokenizer):
    """The fine-tuned system's evaluation prompt and the server's prompt for the same message are the
    training prompt: the nearest training example as prior turns, then the message."""
    import pandas as pd

    from tailorlm.evaluate.baselines import plan_systems
    from tailorlm.evaluate.runner import fine_tuned_shots
    from tailorlm.prompting import build_messages
    from tailorlm.rag import ExampleIndex
    from tailorlm.serve.catalog import _recipe
    from tailorlm.train.run import example_index, row_budget
    from tailorlm.train.sft import encode_sft_split

    spec, ds, run = generation_run
    test = pd.read_parquet(ds.split_path("test")).to_dict("records")
    shots = fine_tuned_shots(run, test)
    plan = plan_systems(["fine_tuned"], test, [], spec.objective, ds.labels, spec.eval, None, True, shots)[0]
    index = ExampleIndex.load(run.model_path)
    want = [build_messages(r, spec.objective, ds.labels, shots=index.nearest([r], 1)[0]) for r in test]
    assert plan.chats == want and all(len(c) == 4 for c in want)  # system, shot user, shot answer, message
    recipe = _recipe(spec.objective, tuple(ds.labels), run.model_path)
    assert [recipe.messages(json.loads(r["prompt"])) for r in test] == want
    # Training rows: the nearest *other* row's answer as a prior assistant turn, never the row's own.
    examples, k = example_index(spec, ds)
    enc = encode_sft_split(ds.split_path("train"), tokenizer, spec.objective, ds.labels,
                           row_budget(spec, ds, tokenizer), False, False, examples, k)
    first = enc.examples[0]
    text = tokenizer.decode(first.input_ids)
    own = pd.read_parquet(ds.split_path("train")).iloc[0]
    neighbour = examples.nearest([own.to_dict()], 1, exclude_self=True)[0][0]
    assert neighbour["id"] != own["id"] and text.count("<|im_start|>assistant") == 2
    assert json.loads(neighbour["prompt"])[0]["content"] in text
    # Training draws from the pool (train.retrieval_pool, default 8); validation takes the nearest.
    from tailorlm.train.run import build_rows

    assert spec.train.retrieval_pool == 8
    train = pd.read_parquet(ds.split_path("train")).to_dict("records")
    pooled = examples.nearest(train, 1, exclude_self=True, pool=8, seed=spec.train.seed)
    built, *_ = build_rows(spec, ds, tokenizer, False, "lm", examples, k)
    texts = [tokenizer.decode(r[0].input_ids) for r in built["train"]]
    assert all(json.loads(p[0]["prompt"])[0]["content"] in t for p, t in zip(pooled, texts))
    assert pooled != examples.nearest(train, 1, exclude_self=True)  # some rows were shown a farther one
    val = pd.read_parquet(ds.split_path("validation")).iloc[0].to_dict()
    val_neighbour = examples.nearest([val], 1)[0][0]
    assert json.loads(val_neighbour["prompt"])[0]["content"] in tokenizer.decode(built["validation"][0][0].input_ids)


def test_retrieved_examples_off_keeps_the_zero_shot_recipe(tiny_model_dir, tmp_path):
    from pathlib import Path

    from tailorlm.rag import EXAMPLES_FILE as FILE
    from tailorlm.train import run_training

    ds = write_dataset_version(tmp_path / "ds", n_train=16, n_val=4, n_test=4)
    spec = parse_spec({"project": "t", "objective": {"task": "generation"}, "data": {"sources": [{"path": "x.jsonl"}]},
                       "model": {"base": str(tiny_model_dir)},
                       "train": {"max_steps": 1, "batch_size": 8, "retrieved_examples": 0}}, tmp_path)
    run = run_training(spec, Workspace(tmp_path), ds, progress=False)
    recipe = json.loads((Path(run.model_path) / "provenance.json").read_text())["prompt_recipe"]
    assert recipe["retrieved_examples"] == 0 and not (Path(run.model_path) / FILE).exists()


def _shop_rows():
    items = [f"{colour} {thing}" for thing in ("waterproof hiking boots", "stainless steel kettle",
                                              "noise cancelling headphones", "ergonomic office chair",
                                              "bamboo yoga mat", "cast iron frying pan", "merino wool jacket")
             for colour in ("blue", "red", "green", "black", "white", "grey")]
    rows = []
    for i, item in enumerate(items):
        rows.append(_row(2 * i, f"where is my order of the {item}",
                         f"Your {item} is on its way; follow the courier in Order History."))
        if i > 0:  # no cancellation of the first item is stored
            rows.append(_row(2 * i + 1, f"please cancel the order of the {item}",
                             f"The order of the {item} is cancelled and the refund follows within 5 days."))
    return rows, items


def test_answer_groups_pick_the_row_whose_answer_fits_over_the_one_sharing_the_item(tmp_path):
    """``train.retrieval_groups``: similarity alone follows the shared item name to the wrong intent's
    answer; ranking by the message's predicted answer group picks a cancellation; the groups travel
    with the stored rows."""
    from tailorlm.rag import ExampleIndex

    rows, items = _shop_rows()
    query = {"id": "q", "prompt": [{"role": "user", "content": f"please cancel the order of the {items[0]}"}]}
    plain = ExampleIndex(rows)
    assert plain.groups == 0 and "on its way" in plain.nearest([query], 1)[0][0]["completion"]
    grouped = ExampleIndex.build(rows, groups=2)
    assert grouped.groups == 2
    assert "cancelled" in grouped.nearest([query], 1)[0][0]["completion"]
    grouped.save(tmp_path)
    again = ExampleIndex.load(tmp_path)
    assert again.groups == 2 and again.nearest([query], 3) == grouped.nearest([query], 3)
    assert ExampleIndex.build(rows, groups=0).groups == 0
    assert ExampleIndex.build(rows).groups == 0  # auto: fewer than 100 rows form no groups


class _Meaning:
    """A fake sentence encoder that knows synonyms: one dimension per situation ("broken" = "damaged")."""

    CONCEPTS = [("damaged", "broken", "smashed"), ("late", "not arrived", "missing")]

    def encode(self, sentences, **kwargs):
        import numpy as np

        out = np.full((len(sentences), len(self.CONCEPTS) + 1), 1e-3)
        for i, s in enumerate(sentences):
            for j, words in enumerate(self.CONCEPTS):
                out[i, j] += sum(w in s.lower() for w in words)
        return out


_SITUATIONS = [_row(0, "my headphones arrived damaged", "Sorry they were damaged: we send a replacement today."),
               _row(1, "my jacket is late, it has not arrived", "Parcels take three days; track it in Order History.")]


def test_a_situation_in_new_words_finds_its_answer_by_meaning_and_the_vectors_travel(tmp_path):
    """The index built for training embeds the user turns: "came broken" shares the item word with the
    late-parcel row (TF-IDF's pick) but means the damaged one; the stored vectors rank the same after
    loading, a version stored without vectors ranks by TF-IDF alone, and another embedder is refused."""
    from tailorlm.models import embeddings as E
    from tailorlm.rag import ExampleIndex
    from tailorlm.rag.examples import VECTORS

    query = {"id": "q", "prompt": [{"role": "user", "content": "the jacket came broken"}]}
    with E.use_embedder(E.Embedder(_Meaning(), "meaning")):
        words_only = ExampleIndex.build(_SITUATIONS, groups=0, embeddings=False)
        assert words_only.nearest([query], 1)[0][0]["id"] == "r1"
        index = ExampleIndex.build(_SITUATIONS, groups=0)
        assert index.embedder == "meaning" and index.nearest([query], 1)[0][0]["id"] == "r0"
        index.save(tmp_path)
        assert (tmp_path / VECTORS).exists()
        again = ExampleIndex.load(tmp_path)
        assert again.nearest([query], 2) == index.nearest([query], 2)
        (tmp_path / VECTORS).unlink()
        assert ExampleIndex.load(tmp_path).nearest([query], 1)[0][0]["id"] == "r1"  # as an older version was trained
        index.save(tmp_path)
    with E.use_embedder(E.Embedder(_Meaning(), "another")):
        with pytest.raises(ValueError, match="embedded by meaning.*loaded now is another"):
            ExampleIndex.load(tmp_path).nearest([query], 1)
