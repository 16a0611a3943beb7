"""Deduplication: exact (hash of normalized content) and near-duplicate (MinHash LSH, datasketch).

The per-record parts (:func:`content_hash`, :func:`minhash_signature`) are pure functions that run
inside ``datasets.map``. The clustering pass (:func:`cluster`) walks the records once in order and
keeps only the LSH index and one int per record in memory; signatures stay on disk in a memory-map,
read back only to verify LSH candidates, so memory stays flat as the data grows.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

MINHASH_SEED = 1
MINHASH_SCHEME = "affine32"  # datasketch 2.x default; 32-bit hash values stored as uint64
_PUNCT = re.compile(r"[^\w<>]+", re.U)  # keep <PERSON_1>-style placeholders as words


def normalize_for_dedup(text: str) -> str:
    """Case-, accent-form-, punctuation- and whitespace-insensitive form of a text."""
    text = unicodedata.normalize("NFKC", text).lower()
    return " ".join(_PUNCT.sub(" ", text).split())


def content_hash(text: str) -> str:
    """64-bit hex hash of the normalized text (exact-duplicate key)."""
    return hashlib.blake2b(normalize_for_dedup(text).encode(), digest_size=8).hexdigest()


def near_text(text: str, ignore: Sequence[str] = ()) -> str:
    """Normalized text for near-duplicate comparison, without courtesy phrases.

    "thanks", "hi", "good morning"... change no meaning but weigh a lot in a short message, so
    ``unknown charge $37 thanks!`` and ``unknown charge $37`` compare as the same message.
    """
    norm = normalize_for_dedup(text)
    if ignore:
        norm = " ".join(_ignore_pattern(tuple(ignore)).sub(" ", norm).split())
    return norm


@functools.lru_cache(maxsize=8)
def _ignore_pattern(phrases: tuple[str, ...]) -> re.Pattern:
    alts = sorted((re.escape(normalize_for_dedup(p)) for p in phrases if p.strip()), key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(alts) + r")\b") if alts else re.compile(r"(?!)")


def shingles(norm: str, n: int) -> set[bytes]:
    """Character n-grams of an already normalized text (a short text yields itself)."""
    if len(norm) <= n:
        return {norm.encode()}
    return {norm[i:i + n].encode() for i in range(len(norm) - n + 1)}


def jaccard(a: str, b: str, n: int) -> float:
    """Exact Jaccard similarity of two normalized texts' character n-gram sets."""
    sa, sb = shingles(a, n), shingles(b, n)
    return len(sa & sb) / max(len(sa | sb), 1)


def minhash_signature(norm: str, num_perm: int, ngram: int) -> np.ndarray:
    """MinHash signature (``num_perm`` values) of a normalized text's character n-grams."""
    from datasketch import MinHash

    m = MinHash(num_perm=num_perm, seed=MINHASH_SEED, scheme=MINHASH_SCHEME)
    m.update_batch(list(shingles(norm, ngram)))
    return m.hashvalues.astype(np.uint64)


class UnionFind:
    """Disjoint sets over 0..n-1 with path halving; the root of a set is its smallest member."""

    def __init__(self, n: int):
        self.parent = np.arange(n, dtype=np.int64)

    def find(self, i: int) -> int:
        p = self.parent
        while p[i] != i:
            p[i] = p[p[i]]
            i = int(p[i])
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            lo, hi = min(ra, rb), max(ra, rb)
            self.parent[hi] = lo


@dataclass
class DedupResult:
    """``status[i]``: 0 keep, 1 exact duplicate, 2 near duplicate; ``root[i]``: cluster representative."""

    status: np.ndarray
    root: np.ndarray
    duplicate_of: np.ndarray


def _band_key(data: bytes) -> bytes:
    # datasketch stores one key per band; 8 bytes instead of r*8 keeps the index small.
    return hashlib.blake2b(data, digest_size=8).digest()


def cluster(
    n: int,
    alive: np.ndarray,
    hashes: Iterable[tuple[int, str]],
    signatures: np.ndarray | None,
    threshold: float,
    near_action: str = "remove",
    verify: Callable[[int, int], float] | None = None,
) -> DedupResult:
    """Exact then near-duplicate clustering over records ``0..n-1`` (only ``alive`` ones take part).

    Args:
        n: number of records.
        alive: bool mask of records still in the dataset.
        hashes: (index, content hash) for the alive records, in index order.
        signatures: (n, num_perm) uint64 array or memmap, or ``None`` to skip near-dedup.
        threshold: Jaccard threshold.
        near_action: ``remove`` drops all but the first member of a cluster; ``keep`` keeps them.
        verify: exact similarity of two records; LSH candidates below ``threshold`` are dropped.
            Without it the MinHash estimate is used.
    """
    status = np.zeros(n, dtype=np.int8)
    dup_of = np.full(n, -1, dtype=np.int64)
    uf = UnionFind(n)
    first: dict[str, int] = {}
    for i, h in hashes:
        j = first.setdefault(h, i)
        if j != i:
            status[i], dup_of[i] = 1, j
            uf.union(i, j)
    if signatures is not None:
        from datasketch import LeanMinHash, MinHashLSH

        num_perm = signatures.shape[1]
        # Weights favour recall: a missed pair is a leak across splits, a false candidate only
        # costs one exact check.
        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, hashfunc=_band_key, weights=(0.1, 0.9))
        for i in np.flatnonzero(alive & (status == 0)):
            sig = np.asarray(signatures[i])
            m = LeanMinHash(seed=MINHASH_SEED, hashvalues=sig, scheme=MINHASH_SCHEME)
            for j in lsh.query(m):
                sim = verify(int(i), int(j)) if verify else float(np.mean(np.asarray(signatures[j]) == sig))
                if sim >= threshold:
                    uf.union(int(i), int(j))
            lsh.insert(int(i), m, check_duplication=False)
    root = np.array([uf.find(i) for i in range(n)], dtype=np.int64)
    if near_action == "remove":
        near = alive & (status == 0) & (root != np.arange(n))
        status[near], dup_of[near] = 2, root[near]
    return DedupResult(status=status, root=root, duplicate_of=dup_of)
