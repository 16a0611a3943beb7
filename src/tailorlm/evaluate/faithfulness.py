"""Precision and recall of the hallucination metric on a labelled faithfulness set.

A labelled set is JSON Lines with ``input``, ``reference``, ``answer`` and ``faithful`` (bool); the
project's own is ``tests/fixtures/faithfulness/`` (calibration and held-out files). "Positive" means
*hallucinated*: precision is the share of flagged answers that are really unfaithful, recall the share
of unfaithful answers that are flagged.

    python -m tailorlm.evaluate.faithfulness tests/fixtures/faithfulness/heldout.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Sequence

from .hallucination import generation_flags


def load_labelled(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a labelled set; a row without the four fields is a ``ValueError`` naming its line."""
    rows = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        missing = [k for k in ("input", "reference", "answer", "faithful") if k not in row]
        if missing:
            raise ValueError(f"{path}:{n}: missing {', '.join(missing)}; each line needs input, reference, "
                             "answer and faithful")
        rows.append(row)
    return rows


def score_labelled(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Confusion counts, precision, recall and the misjudged rows (with the claims behind each call)."""
    flags = generation_flags([r["answer"] for r in rows], [[r["input"], r["reference"]] for r in rows])
    tp = fp = fn = tn = 0
    errors = []
    for row, (flagged, reasons) in zip(rows, flags):
        bad = not row["faithful"]
        tp += flagged and bad
        fp += flagged and not bad
        fn += bad and not flagged
        tn += not bad and not flagged
        if flagged != bad:
            errors.append({"id": row.get("id"), "kind": row.get("kind"), "faithful": row["faithful"],
                           "reasons": reasons, "answer": row["answer"]})
    return {
        "n": len(rows), "tp": tp, "fp": fp, "fn": fn, "tn": tn,
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "errors": errors,
    }


def main(argv: Sequence[str]) -> int:
    for path in argv:
        s = score_labelled(load_labelled(path))
        print(f"{path}: n={s['n']} precision={s['precision']:.3f} recall={s['recall']:.3f} "
              f"(tp={s['tp']} fp={s['fp']} fn={s['fn']} tn={s['tn']})")
        for e in s["errors"]:
            print(f"  {e['id']} {e['kind']} faithful={e['faithful']} claims={e['reasons']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
