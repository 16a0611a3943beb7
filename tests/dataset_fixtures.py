"""Small synthetic dataset versions for the tests of the train and evaluate stages.

Writes the parquet files in the documented dataset-version layout (docs/architecture.md) directly,
so training can be exercised without running the data stage.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd

from tailorlm.results import DatasetVersion

INTENTS = ["card_lost", "check_balance", "transfer_money", "reset_password"]
_PHRASES = {
    "card_lost": ["I lost my card", "my card is missing", "someone stole my debit card", "can't find my card"],
    "check_balance": ["what is my balance", "how much money do I have", "show my account balance", "balance please"],
    "transfer_money": ["send 50 dollars to Sam", "transfer money to savings", "move funds to my other account",
                       "wire money abroad"],
    "reset_password": ["I forgot my password", "reset my login", "can't sign in to the app", "password not working"],
}


def sft_rows(n: int, seed: int = 0, start: int = 0) -> list[dict]:
    """``n`` labelled support messages (prompt JSON + completion), deterministic in ``seed``."""
    rng = random.Random(seed)
    rows = []
    for i in range(start, start + n):
        label = INTENTS[i % len(INTENTS)]
        text = rng.choice(_PHRASES[label]) + rng.choice(["", ".", " please", " thanks", "!"])
        rows.append({"id": f"ex{i}", "source": "synthetic.jsonl", "line": i + 1, "kind": "sft",
                     "prompt": json.dumps([{"role": "user", "content": text}]), "completion": label,
                     "label": label, "text": None, "chosen": None, "rejected": None, "cluster": f"c{i}"})
    return rows


def text_rows(n: int, seed: int = 0, start: int = 0) -> list[dict]:
    """``n`` raw domain texts for continued pretraining."""
    rng = random.Random(seed)
    words = sum(_PHRASES.values(), [])
    rows = []
    for i in range(start, start + n):
        text = ". ".join(rng.choice(words) for _ in range(rng.randint(2, 8))) + "."
        rows.append({"id": f"doc{i}", "source": "docs/", "line": 1, "kind": "text", "prompt": None,
                     "completion": None, "label": None, "text": text, "chosen": None, "rejected": None,
                     "cluster": f"d{i}"})
    return rows


def write_dataset_version(root: Path, n_train: int = 64, n_val: int = 16, n_test: int = 16, kind: str = "sft",
                          name: str = "tiny", version: str = "v0test") -> DatasetVersion:
    """Write train/validation/test parquet under ``root`` and return the matching DatasetVersion."""
    make = sft_rows if kind == "sft" else text_rows
    path = Path(root) / name / version
    path.mkdir(parents=True, exist_ok=True)
    start = 0
    for split, n in (("train", n_train), ("validation", n_val), ("test", n_test)):
        pd.DataFrame(make(n, seed=len(split), start=start)).to_parquet(
            path / f"{split}.parquet", index=False)
        start += n
    (path / "manifest.json").write_text(json.dumps({"name": name, "version": version}))
    labels = sorted(INTENTS) if kind == "sft" else []
    return DatasetVersion(name=name, version=version, path=str(path), labels=labels,
                          counts={"train": n_train, "validation": n_val, "test": n_test})
