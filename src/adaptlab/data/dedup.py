"""Exact and near-duplicate rows: one index that rows are looked up in, then added to, in a single pass.

Exact: the same text after lower-casing and collapsing whitespace. Near: Jaccard similarity of the rows' word
3-gram sets at or above a threshold. MinHash LSH proposes candidates, with bands chosen so that a pair at the
threshold is proposed with at least 99% probability (`candidate_probability`; 99.92% at the default 0.8, more above
the threshold, so the false-negative rate at the threshold is its complement); the exact Jaccard similarity of the
two 3-gram sets then decides, so a proposed pair below the threshold is never reported.

Why not datasketch's MinHash and MinHashLSH, which this replaced: its in-memory LSH keeps a bytes key and a Python
set per band per row, measured at 4.6 KB per row (460 MB per 100,000 rows), and its MinHash update turns the
3-gram hashes into Python ints; here the signature is one numpy expression per row (NUM_PERM multiply-shift hashes,
a 2-universal family as datasketch's) and the band keys live in sorted numpy arrays, 12 bytes per band per row.

Memory is bounded by `max_bytes`: per indexed row its 3-gram hashes (4 bytes each), one key-table entry per band
and one for the exact key, and ROW_OVERHEAD_BYTES; exact copies of an indexed row are not indexed again (the
earlier row always wins a tie). Once the index is full, later rows are still looked up, so their duplicates among
the indexed rows are found, but they are not added; `unindexed` counts them.
"""

import hashlib
import sys
import zlib
from dataclasses import dataclass
from typing import Literal

import numpy as np

SHINGLE_WORDS = 3
NUM_PERM = 32
LSH_RECALL = 0.99  # least chance that a pair exactly at the threshold becomes a candidate (higher above it)
GRAM_MULTIPLIERS = (0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D)  # odd 32-bit constants: word order matters
HASH_SEED = 20260401  # fixed: the same rows give the same signatures in every run
ROW_OVERHEAD_BYTES = 8 + 33 + 4  # a list slot and a bytes header for its 3-gram hashes; the caller's 4-byte row label
RECENT_ENTRY_BYTES = 200  # a dict slot, a Python int key and row, a share of a list for a shared key, generously
MERGED_ENTRY_BYTES = 12  # a uint64 key and a uint32 row in the sorted arrays
MERGE_SCRATCH_BYTES = 32  # per dict entry while merging: its key and row as arrays, their sort order, sorted copies
RECENT_SHARE = 1 / 16  # of max_bytes, for each key table's dict (up to MAX_RECENT_KEYS entries)
MIN_RECENT_KEYS, MAX_RECENT_KEYS = 256, 1 << 16


@dataclass(frozen=True)
class Match:
    kind: Literal["exact", "near"]
    row: int  # the index of the earlier row, in the order rows were added
    similarity: float


def normalised(text: str) -> str:
    return " ".join(text.lower().split())


def shingle_hashes(normalised_text: bytes) -> np.ndarray:
    """Sorted distinct 32-bit hashes of a normalised text's word 3-grams (the whole text when shorter).
    Each word is hashed once (CRC-32); a 3-gram's hash mixes its three words' hashes, vectorised."""
    words = np.fromiter(map(zlib.crc32, normalised_text.split(b" ")), dtype=np.uint64)
    if len(words) < SHINGLE_WORDS:
        words = np.concatenate([words, np.zeros(SHINGLE_WORDS - len(words), dtype=np.uint64)])
    grams = words[: len(words) - SHINGLE_WORDS + 1] * np.uint64(GRAM_MULTIPLIERS[0])
    for offset, multiplier in enumerate(GRAM_MULTIPLIERS[1:], start=1):
        grams += words[offset : offset + len(grams)] * np.uint64(multiplier)
    grams ^= grams >> np.uint64(32)
    hashes = np.sort(grams.astype(np.uint32))
    distinct = np.empty(len(hashes), dtype=bool)  # np.unique does the same with three times the overhead
    distinct[0] = True
    np.not_equal(hashes[1:], hashes[:-1], out=distinct[1:])
    return hashes[distinct]


def lsh_bands(threshold: float, num_perm: int = NUM_PERM, recall: float = LSH_RECALL) -> tuple[int, int]:
    """(bands, rows per band) with the fewest bands whose candidate_probability at the threshold reaches recall."""
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if candidate_probability(threshold, bands, rows) >= recall:
            return bands, rows
    return num_perm, 1


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """Chance that two rows of this Jaccard similarity agree on all rows of at least one band."""
    return 1 - (1 - similarity**rows) ** bands


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    shared = len(np.intersect1d(a, b, assume_unique=True))
    return shared / (len(a) + len(b) - shared)


class MinHasher:
    """NUM_PERM min-wise hashes of a set of 32-bit hashes, and the LSH band keys of that signature."""

    def __init__(self, bands: int, rows: int):
        random = np.random.default_rng(HASH_SEED)
        self.bands, self.rows = bands, rows
        self._multipliers = random.integers(1, 2**63, NUM_PERM, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        self._offsets = random.integers(0, 2**63, NUM_PERM, dtype=np.uint64)
        self._band_mix = random.integers(1, 2**63, rows, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        self._band_salt = random.integers(0, 2**63, bands, dtype=np.uint64)

    def band_keys(self, shingles: np.ndarray) -> np.ndarray:
        """One 64-bit key per band: rows whose signatures agree on a band share its key."""
        hashed = np.multiply.outer(shingles.astype(np.uint64), self._multipliers)
        hashed += self._offsets
        signature = hashed.min(axis=0) >> np.uint64(32)  # the shift is monotone, so it may follow the min
        signature = signature[: self.bands * self.rows].reshape(self.bands, self.rows)
        return (signature * self._band_mix).sum(axis=1) + self._band_salt


class KeyTable:
    """A multimap from 64-bit keys to row numbers in 12 bytes per entry: recent entries in a dict, merged into two
    sorted numpy arrays (keys, rows) every `recent_keys` entries; rows of one key stay in the order they were added."""

    def __init__(self, recent_keys: int):
        self._recent_keys = recent_keys
        self._keys = np.empty(0, dtype=np.uint64)
        self._rows = np.empty(0, dtype=np.uint32)
        self._recent: dict[int, int | list[int]] = {}  # a list only for a key that several rows share
        self._recent_entries = 0

    @classmethod
    def within(cls, max_bytes: int) -> "KeyTable":
        """A table whose dict takes RECENT_SHARE of max_bytes: merges are rarer the more memory there is."""
        recent_keys = int(max_bytes * RECENT_SHARE) // (RECENT_ENTRY_BYTES + 2 * MERGED_ENTRY_BYTES)
        return cls(min(MAX_RECENT_KEYS, max(MIN_RECENT_KEYS, recent_keys)))

    @property
    def peak_bytes(self) -> int:
        """The most this table holds at its next merge: old and merged arrays side by side, a full dict and the
        merge's scratch arrays."""
        merged = self._keys.nbytes + self._rows.nbytes + self._recent_keys * MERGED_ENTRY_BYTES
        return 2 * merged + self._recent_keys * (RECENT_ENTRY_BYTES + MERGE_SCRATCH_BYTES)

    @property
    def merge_growth_bytes(self) -> int:
        """How much peak_bytes grows when an `add` merges."""
        return 2 * self._recent_keys * MERGED_ENTRY_BYTES

    def add(self, keys: list[int], row: int) -> None:
        recent = self._recent
        for key in keys:
            earlier = recent.get(key)
            if earlier is None:
                recent[key] = row
            elif isinstance(earlier, list):
                earlier.append(row)
            else:
                recent[key] = [earlier, row]
        self._recent_entries += len(keys)
        if self._recent_entries >= self._recent_keys:
            self._merge()

    def rows(self, keys: np.ndarray) -> list[int]:
        """Rows that hold any of keys (a row may repeat), earliest first per key."""
        found = []
        if len(self._keys):
            first, last = np.searchsorted(self._keys, keys, "left"), np.searchsorted(self._keys, keys, "right")
            for start, end in zip(first[first < last].tolist(), last[first < last].tolist()):
                found += self._rows[start:end].tolist()
        for key in keys.tolist():
            rows = self._recent.get(key)
            if rows is not None:
                found += rows if isinstance(rows, list) else [rows]
        return found

    def _merge(self) -> None:
        recent = [(key, rows if isinstance(rows, list) else [rows]) for key, rows in self._recent.items()]
        recent_keys = np.fromiter((key for key, rows in recent for _ in rows), dtype=np.uint64, count=self._recent_entries)
        recent_rows = np.fromiter((row for _, rows in recent for row in rows), dtype=np.uint32, count=self._recent_entries)
        order = np.argsort(recent_keys, kind="stable")
        recent_keys, recent_rows = recent_keys[order], recent_rows[order]
        # after the equal keys already merged: their rows are older; np.insert copies each array once
        at = np.searchsorted(self._keys, recent_keys, "right")
        self._keys, self._rows = np.insert(self._keys, at, recent_keys), np.insert(self._rows, at, recent_rows)
        self._recent, self._recent_entries = {}, 0


class DuplicateIndex:
    """Rows added so far, in at most max_bytes; `find` says whether a text duplicates one of them."""

    def __init__(self, threshold: float, max_bytes: int):
        self.threshold = threshold
        self.max_bytes = max_bytes
        self.unindexed = 0  # rows not added because the index was full
        self._hasher = MinHasher(*lsh_bands(threshold))
        self._exact = KeyTable.within(max_bytes)
        self._bands = KeyTable.within(max_bytes)
        self._shingles: list[bytes] = []
        self._shingle_bytes = 0

    def __len__(self) -> int:
        return len(self._shingles)

    @property
    def reserved_bytes(self) -> int:
        """The most the index can hold before the next row is added (key-table merges included); a row is added only
        if this stays within max_bytes after it, whether or not its keys trigger a merge."""
        return self._shingle_bytes + self._exact.peak_bytes + self._bands.peak_bytes

    def find(self, text: str) -> Match | None:
        return self._find(_Fingerprint.of(text, self._hasher))

    def find_then_add(self, text: str) -> Match | None:
        """The earlier row this text duplicates (None if none); the text is added unless it is an exact copy of an
        indexed row or the index is full (then `unindexed` counts it)."""
        fingerprint = _Fingerprint.of(text, self._hasher)
        match = self._find(fingerprint)
        if match is not None and match.kind == "exact":
            return match
        row_bytes = fingerprint.shingles.nbytes + ROW_OVERHEAD_BYTES
        merges = self._exact.merge_growth_bytes + self._bands.merge_growth_bytes
        if self.reserved_bytes + row_bytes + merges > self.max_bytes:
            self.unindexed += 1
            return match
        row = len(self._shingles)
        self._exact.add([fingerprint.exact_key], row)
        self._bands.add(fingerprint.band_keys.tolist(), row)
        self._shingles.append(fingerprint.shingles.tobytes())
        self._shingle_bytes += fingerprint.shingles.nbytes + ROW_OVERHEAD_BYTES
        return match

    def _find(self, fingerprint: "_Fingerprint") -> Match | None:
        exact = self._exact.rows(np.array([fingerprint.exact_key], dtype=np.uint64))
        if exact:
            return Match("exact", exact[0], 1.0)
        best = None
        for candidate in sorted(set(self._bands.rows(fingerprint.band_keys))):
            earlier = np.frombuffer(self._shingles[candidate], dtype=np.uint32)
            similarity = jaccard(fingerprint.shingles, earlier)
            if similarity >= self.threshold and (best is None or similarity > best.similarity):
                best = Match("near", candidate, similarity)
        return best


@dataclass(frozen=True)
class _Fingerprint:
    exact_key: int
    shingles: np.ndarray
    band_keys: np.ndarray

    @classmethod
    def of(cls, text: str, hasher: MinHasher) -> "_Fingerprint":
        normal = normalised(text).encode()
        exact_key = int.from_bytes(hashlib.blake2b(normal, digest_size=8).digest(), sys.byteorder)
        shingles = shingle_hashes(normal)
        return cls(exact_key, shingles, hasher.band_keys(shingles))
