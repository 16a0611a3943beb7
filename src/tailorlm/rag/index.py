"""A BM25 index (Okapi BM25 from ``rank-bm25``) over passages.

Passages come from the training split (each example rendered as ``"<input>" -> <answer>``, so the
retriever hands the model labelled neighbours) or from a folder of ``.txt``/``.md`` documents split
into paragraph chunks of at most ``max_chars`` characters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..text import tokens


@dataclass(frozen=True)
class Passage:
    """One retrievable passage: ``id`` names its origin (record id, or ``file#chunk``)."""

    id: str
    text: str


def _clip(text: str, max_chars: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= max_chars else text[: max_chars - 1].rstrip() + "…"


def example_query(row: dict[str, Any]) -> str:
    """The text a retriever searches with: the example's user turns."""
    msgs = row.get("prompt")
    if isinstance(msgs, str):
        msgs = json.loads(msgs)
    return "\n".join(m.get("content", "") for m in (msgs or []) if m.get("role") == "user")


def passages_from_rows(rows: Iterable[dict[str, Any]], max_chars: int = 300) -> list[Passage]:
    """Training examples as passages: ``"<user text>" -> <completion>``."""
    out = []
    for row in rows:
        query = _clip(example_query(row), max_chars)
        out.append(Passage(id=str(row.get("id")), text=f'"{query}" -> {str(row.get("completion", "")).strip()}'))
    return out


def passages_from_folder(folder: str | Path, max_chars: int = 300) -> list[Passage]:
    """Paragraph chunks (blank-line separated, merged up to ``max_chars``) of every .txt/.md file."""
    root = Path(folder)
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".txt", ".md") and p.is_file())
    if not files:
        raise ValueError(f"eval.rag_documents: {root} holds no .txt or .md files to retrieve from. "
                         "Add documents or remove the key to retrieve from the training split.")
    out = []
    for f in files:
        chunk, n = "", 0
        paras = [p.strip() for p in f.read_text(encoding="utf-8", errors="replace").split("\n\n") if p.strip()]
        for para in paras + [""]:
            if chunk and (not para or len(chunk) + len(para) + 1 > max_chars):
                out.append(Passage(id=f"{f.relative_to(root)}#{n}", text=_clip(chunk, max_chars)))
                chunk, n = "", n + 1
            chunk = f"{chunk} {para}".strip()
    return out


class BM25Index:
    """Okapi BM25 over passages, tokenized with the metrics' Unicode word tokenizer."""

    def __init__(self, passages: Sequence[Passage]):
        from rank_bm25 import BM25Okapi

        if not passages:
            raise ValueError("cannot build a BM25 index over zero passages")
        self.passages = list(passages)
        self._bm25 = BM25Okapi([tokens(p.text) or ["<empty>"] for p in self.passages])

    def search(self, query: str, k: int) -> list[tuple[Passage, float]]:
        """The ``k`` best passages for ``query`` with their BM25 scores, best first (ties: index order)."""
        import numpy as np

        scores = self._bm25.get_scores(tokens(query))
        top = np.argsort(-scores, kind="stable")[:k]
        return [(self.passages[i], float(scores[i])) for i in top]
