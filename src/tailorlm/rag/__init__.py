"""Retrieval for the RAG systems: a BM25 index over the training split or a document folder."""

from .index import BM25Index, Passage, passages_from_folder, passages_from_rows
from .retrieve import Retriever

__all__ = ["BM25Index", "Passage", "Retriever", "passages_from_folder", "passages_from_rows"]
