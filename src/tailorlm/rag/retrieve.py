"""Retrieve context passages for evaluated (and later served) examples."""

from __future__ import annotations

from typing import Any, Sequence

from .index import BM25Index, Passage, example_query, passages_from_folder, passages_from_rows


class Retriever:
    """Top-k BM25 retrieval for dataset examples.

    Args:
        index: the BM25 index.
        k: passages per query.
    """

    def __init__(self, index: BM25Index, k: int = 3):
        self.index, self.k = index, k

    @classmethod
    def from_training(cls, rows: Sequence[dict[str, Any]], k: int = 3, max_chars: int = 300) -> "Retriever":
        return cls(BM25Index(passages_from_rows(rows, max_chars)), k)

    @classmethod
    def from_folder(cls, folder: str, k: int = 3, max_chars: int = 300) -> "Retriever":
        return cls(BM25Index(passages_from_folder(folder, max_chars)), k)

    def for_example(self, row: dict[str, Any]) -> list[Passage]:
        """Passages for one example; a passage with the example's own id is never returned."""
        hits = self.index.search(example_query(row), self.k + 1)
        own = str(row.get("id"))
        return [p for p, _ in hits if p.id != own][: self.k]
