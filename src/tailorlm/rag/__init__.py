"""Retrieval: a BM25 index over the training split or a document folder (the RAG systems), and the
nearest training examples a fine-tuned version sees before each message (``train.retrieved_examples``)."""

from .examples import FILE as EXAMPLES_FILE
from .examples import ExampleIndex, similarity_features
from .index import BM25Index, Passage, passages_from_folder, passages_from_rows
from .retrieve import Retriever

__all__ = ["EXAMPLES_FILE", "ExampleIndex", "similarity_features", "BM25Index", "Passage", "Retriever", "passages_from_folder", "passages_from_rows"]
