"""Deduplication: exact (hash of normalized content) and near-duplicate (MinHash LSH, datasketch).

The per-record parts (:func:`content_hash`, :func:`near_text`, :func:`minhash_signature`,
:func:`band_keys`) are pure functions that run inside ``datasets.map``. The clustering pass
(:func:`cluster`) then works on a few numpy arrays (content hashes, LSH band keys): records that
share a band key are candidates, confirmed by the exact Jaccard similarity of their character
n-grams, and joined with union-find. The LSH banding parameters come from datasketch's optimiser.
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
    """``status[i]``: 0 keep, 1 exact duplicate, 2 near duplicate; ``root[i]``: cluster representative
    (smallest index of the record's cluster); ``duplicate_of[i]``: the kept record it duplicates."""

    status: np.ndarray
    root: np.ndarray
    duplicate_of: np.ndarray


@functools.lru_cache(maxsize=16)
def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows per band) from datasketch's optimiser, weighted towards recall.

    A missed pair is a near duplicate that may straddle splits; a false candidate only costs one
    exact Jaccard check, so false negatives weigh 0.9.
    """
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=(0.1, 0.9))
    return lsh.b, lsh.r


def band_keys(signature: np.ndarray, bands: int, rows: int) -> list[int]:
    """One signed 64-bit key per LSH band (two records share a key iff that band is equal)."""
    sig = np.ascontiguousarray(signature, dtype=np.uint64)
    return [int.from_bytes(hashlib.blake2b(sig[b * rows:(b + 1) * rows].tobytes(), digest_size=8).digest(),
                           "little", signed=True) for b in range(bands)]


def hash_to_int(h: str) -> int:
    """A 16-hex content hash as a signed 64-bit int (for numpy sorting)."""
    return int.from_bytes(bytes.fromhex(h), "little", signed=True) if h else 0


def exact_duplicates(hashes: np.ndarray, alive: np.ndarray, uf: "UnionFind", status, dup_of) -> None:
    """Mark every later record whose hash equals an earlier live record's (vectorized sort)."""
    idx = np.flatnonzero(alive)
    order = idx[np.argsort(hashes[idx], kind="stable")]  # equal hashes stay in index order
    h = hashes[order]
    same = np.flatnonzero(h[1:] == h[:-1]) + 1
    firsts = np.maximum.accumulate(np.where(np.r_[True, h[1:] != h[:-1]], np.arange(len(h)), 0))
    for k in same:
        i, j = int(order[k]), int(order[firsts[k]])
        status[i], dup_of[i] = 1, j
        uf.union(i, j)


def candidate_runs(keys: np.ndarray, active: np.ndarray) -> Iterable[np.ndarray]:
    """Per band, the groups (ascending record indices) of active records sharing a band key."""
    idx = np.flatnonzero(active)
    for b in range(keys.shape[1]):
        col = np.asarray(keys[idx, b])
        order = np.argsort(col, kind="stable")
        sorted_keys = col[order]
        cuts = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
        for run in np.split(order, cuts):
            if len(run) > 1:
                yield idx[run]


def edit_keys(norm: str, max_words: int, min_words: int = 4) -> list[int]:
    """Deletion-neighbour keys of a short text's word sequence (itself and each word left out).

    Two short texts one word substitution, insertion or deletion apart share a key, so "I need to
    close my account" and "I want to close my account" become candidates even though their
    character n-gram Jaccard (0.68) is under a typical threshold. Longer texts yield no keys: one
    changed word barely moves their Jaccard.
    """
    words = norm.split()
    if not min_words <= len(words) <= max_words:
        return []
    variants = [words] + [words[:k] + words[k + 1:] for k in range(len(words))]
    return [int.from_bytes(hashlib.blake2b(" ".join(v).encode(), digest_size=8).digest(), "little", signed=True)
            for v in variants]


def within_one_word(a: str, b: str) -> bool:
    """True when the word sequences differ by at most one substitution, insertion or deletion."""
    x, y = a.split(), b.split()
    if abs(len(x) - len(y)) > 1:
        return False
    if len(x) > len(y):
        x, y = y, x
    i = 0
    while i < len(x) and x[i] == y[i]:
        i += 1
    return x[i + 1:] == y[i + 1:] if len(x) == len(y) else x[i:] == y[i + 1:]


def key_runs(keys: np.ndarray, owners: np.ndarray, active: np.ndarray) -> Iterable[np.ndarray]:
    """Groups (ascending record indices) of active records sharing a key; ``owners[k]`` owns ``keys[k]``."""
    mask = active[owners]
    k, o = keys[mask], owners[mask]
    order = np.lexsort((o, k))
    k, o = k[order], o[order]
    cuts = np.flatnonzero(k[1:] != k[:-1]) + 1
    for run in np.split(o, cuts):
        run = np.unique(run)
        if len(run) > 1:
            yield run


# A matcher: (candidate groups given the active mask, "are records i and j near duplicates?").
Matcher = tuple[Callable[[np.ndarray], Iterable[np.ndarray]], Callable[[int, int], bool]]


def _join(runs: Iterable[np.ndarray], same: Callable[[int, int], bool], uf: UnionFind, max_checks: int) -> None:
    for run in runs:
        for pos in range(1, len(run)):
            i = int(run[pos])
            for j in run[max(0, pos - max_checks):pos][::-1]:
                if uf.find(i) == uf.find(int(j)):
                    break
                if same(i, int(j)):
                    uf.union(i, int(j))
                    break


def cluster(
    n: int,
    alive: np.ndarray,
    hashes: np.ndarray,
    near_action: str,
    matchers: Sequence[Matcher] = (),
    max_checks: int = 16,
) -> DedupResult:
    """Exact then near-duplicate clustering of records ``0..n-1`` (only ``alive`` ones take part).

    Memory is a few arrays of numbers per record: no per-record Python objects and no in-memory
    LSH index (datasketch's ``MinHashLSH`` holds ~4 KB per record; here band keys are sorted).

    Args:
        n: number of records.
        alive: bool mask of records still in the dataset.
        hashes: int64 content hash per record (exact duplicates share one).
        near_action: ``remove`` drops all but the first member of a cluster; ``keep`` keeps them.
        matchers: near-duplicate candidate generators with their confirmation test, e.g. LSH
            band groups confirmed by exact Jaccard >= threshold (see :func:`lsh_matcher`).
        max_checks: earlier members of a candidate group a record is compared with (bounds the
            work on huge groups of templated messages).
    """
    status = np.zeros(n, dtype=np.int8)
    dup_of = np.full(n, -1, dtype=np.int64)
    uf = UnionFind(n)
    exact_duplicates(hashes, alive, uf, status, dup_of)
    active = alive & (status == 0)
    for runs, same in matchers:
        _join(runs(active), same, uf, max_checks)
    root = np.fromiter((uf.find(i) for i in range(n)), dtype=np.int64, count=n)
    if near_action == "remove":
        near = active & (root != np.arange(n))
        status[near], dup_of[near] = 2, root[near]
    return DedupResult(status=status, root=root, duplicate_of=dup_of)


def lsh_matcher(keys: np.ndarray, texts: Callable[[int], str], threshold: float, ngram: int) -> Matcher:
    """LSH band groups, confirmed by the exact Jaccard of the records' near-duplicate texts."""
    return (lambda active: candidate_runs(keys, active),
            lambda i, j: jaccard(texts(i), texts(j), ngram) >= threshold)


def edit_matcher(keys: np.ndarray, owners: np.ndarray, texts: Callable[[int], str]) -> Matcher:
    """Deletion-neighbour groups of short texts, confirmed by a one-word edit distance."""
    return (lambda active: key_runs(keys, owners, active), lambda i, j: within_one_word(texts(i), texts(j)))
