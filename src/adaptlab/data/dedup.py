"""Exact and near-duplicate rows: one index that rows are looked up in, then added to, in a single pass.

Exact: the same text after lower-casing and collapsing whitespace. Near: Jaccard similarity of the rows' word
3-gram sets at or above a threshold. MinHash LSH (datasketch) proposes candidates, with bands chosen so a pair at the
threshold is proposed with 99% probability (more above it); the exact Jaccard of the two shingle sets decides, so a
proposed pair below the threshold is never reported.
Memory per added row: its shingle hashes (4 bytes per distinct 3-gram) plus one LSH entry per band.
"""

import hashlib
import zlib
from dataclasses import dataclass
from typing import Literal

import numpy as np

SHINGLE_WORDS = 3
NUM_PERM = 64
LSH_RECALL = 0.99  # chance that a pair exactly at the threshold becomes a candidate (higher above it)
GRAM_MULTIPLIERS = (0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D)  # odd 32-bit constants: word order matters


@dataclass(frozen=True)
class Match:
    kind: Literal["exact", "near"]
    row: int  # the index of the earlier row, in the order rows were added
    similarity: float


def normalised(text: str) -> str:
    return " ".join(text.lower().split())


def shingle_hashes(text: str) -> np.ndarray:
    """Sorted distinct 32-bit hashes of the normalised text's word 3-grams (the whole text when shorter).
    Each word is hashed once (CRC-32); a 3-gram's hash mixes its three words' hashes, vectorised."""
    words = np.fromiter(map(zlib.crc32, normalised(text).encode().split(b" ")), dtype=np.uint64)
    if len(words) < SHINGLE_WORDS:
        words = np.concatenate([words, np.zeros(SHINGLE_WORDS - len(words), dtype=np.uint64)])
    grams = np.zeros(len(words) - SHINGLE_WORDS + 1, dtype=np.uint64)
    for offset, multiplier in enumerate(GRAM_MULTIPLIERS):
        grams += words[offset : offset + len(grams)] * np.uint64(multiplier)
    return np.unique(((grams >> np.uint64(32)) ^ grams).astype(np.uint32))


def lsh_bands(threshold: float, num_perm: int = NUM_PERM, recall: float = LSH_RECALL) -> tuple[int, int]:
    """(bands, rows per band) with the fewest bands whose chance of proposing a pair at the threshold,
    1 - (1 - threshold**rows)**bands, reaches recall; candidates are then checked exactly."""
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if 1 - (1 - threshold**rows) ** bands >= recall:
            return bands, rows
    return num_perm, 1


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    shared = len(np.intersect1d(a, b, assume_unique=True))
    return shared / (len(a) + len(b) - shared)


class DuplicateIndex:
    """Rows added so far; `find` says whether a text duplicates one of them."""

    def __init__(self, threshold: float, near: bool = True):
        from datasketch import MinHash, MinHashLSH

        self.threshold = threshold
        self._exact: dict[bytes, int] = {}
        self._shingles: list[np.ndarray] = []
        self._lsh = MinHashLSH(num_perm=NUM_PERM, params=lsh_bands(threshold)) if near else None
        # one MinHash reused for every row (a new one costs as much as hashing a row); the shingles are already hashed
        self._scratch = MinHash(num_perm=NUM_PERM, hashfunc=int) if near else None

    def __len__(self) -> int:
        return len(self._shingles)

    def find(self, text: str) -> Match | None:
        return self._find(_Fingerprint.of(text, self._scratch))

    def find_then_add(self, text: str) -> Match | None:
        """The earlier row this text duplicates (None if none); the text is added either way."""
        fingerprint = _Fingerprint.of(text, self._scratch)
        match = self._find(fingerprint)
        row = len(self._shingles)
        self._exact.setdefault(fingerprint.exact_key, row)
        self._shingles.append(fingerprint.shingles)
        if self._lsh is not None:
            self._lsh.insert(row, fingerprint.minhash, check_duplication=False)
        return match

    def _find(self, fingerprint: "_Fingerprint") -> Match | None:
        row = self._exact.get(fingerprint.exact_key)
        if row is not None:
            return Match("exact", row, 1.0)
        if self._lsh is None:
            return None
        best = None
        for candidate in self._lsh.query(fingerprint.minhash):
            similarity = jaccard(fingerprint.shingles, self._shingles[candidate])
            if similarity >= self.threshold and (best is None or (similarity, -candidate) > (best.similarity, -best.row)):
                best = Match("near", candidate, similarity)
        return best


@dataclass(frozen=True)
class _Fingerprint:
    exact_key: bytes
    shingles: np.ndarray
    minhash: object  # the index's scratch MinHash: valid until the next fingerprint is taken

    @classmethod
    def of(cls, text: str, scratch) -> "_Fingerprint":
        exact_key = hashlib.blake2b(normalised(text).encode(), digest_size=16).digest()
        if scratch is None:
            return cls(exact_key, np.empty(0, dtype=np.uint32), None)
        shingles = shingle_hashes(text)
        scratch.clear()
        scratch.update_batch(shingles.tolist())
        return cls(exact_key, shingles, scratch)
