"""Near-duplicate detection with MinHash LSH: the plain-Python part that the Beam DoFns call.

A document becomes a set of word 5-gram hashes (after normalization), a MinHash signature of that set, and
one key per LSH band. The pipeline groups documents by band key (a shuffle, no index held in memory); each
bucket's members are verified pairwise and the verified pairs feed connected components.

Defaults, from the S-curve P(J) = 1 - (1 - J^r)^b that a pair with Jaccard J shares at least one band:

    bands x rows   perms   P(0.5)   P(0.7)   P(0.75)  P(0.8)   P(0.85)
    14 x 8 (FineWeb) 112   0.053    0.565    0.772    0.924    0.988
    20 x 6 (ours)    120   0.270    0.918    0.980    0.9977   0.99992
    20 x 5           100   0.470    0.975    0.996    0.9996   1.0000

20 x 6 loses 0.23% of the pairs at J = 0.8 (fewer above), so the >= 0.98 recall target holds with margin,
while unrelated text (J <= 0.3: P = 1.5%) rarely lands in a shared bucket; 20 x 5 would make half the
J = 0.5 pairs candidates for little recall gained.

Verification is exact Jaccard of the shingle-hash sets, not the signature's estimate. With 120 rows the
estimate's standard deviation at J = 0.8 is sqrt(0.8 * 0.2 / 120) = 0.037, so a threshold of 0.8 on it
misses about half the pairs at J = 0.80-0.82 and admits about 1 in 10 at J = 0.75. On the planted corpus
of tests/test_near_dedup.py, estimate >= 0.8 gives recall 0.960 and precision 0.984 (>= 0.75: 0.9985 and
0.904); exact verification gives 1.0 and 1.0. Reaching both targets with the estimate would need
~512 rows (2 KB a document), about what a typical page's shingle set weighs (4 bytes a word), so the band
buckets carry the shingle sets and verification is exact.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
import zlib
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
from datasketch import MinHash

_WORD = re.compile(r"[^\W_]+")  # letters and digits; punctuation, symbols and "_" separate words
_DIGIT = re.compile(r"\d")
_EMPTY_ROW = np.uint32(0xFFFFFFFF)  # datasketch's "affine32" value for a row no shingle reached
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd: positions in an n-gram stay distinguishable
_MIX = np.uint64(0xFF51AFD7ED558CCD)


@dataclass(frozen=True)
class NearDedupConfig:
    """LSH and verification parameters; see the module docstring for why these defaults.

    max_bucket: in a bucket larger than this (templated pages, boilerplate), each member is compared only
    with the first max_bucket members in key order, so the work is O(max_bucket * n), not O(n^2). A pair
    of duplicates that matches none of those members goes unlinked in that bucket; it is still found in any
    other band they share, and members already linked are never compared again, so a bucket of copies
    costs about n comparisons.
    """

    enabled: bool = field(default=True, metadata={"flag": "near-dedup"})
    """Remove near duplicates with MinHash LSH (off: exact duplicates only)."""
    ngram: int = 5
    """Words per shingle."""
    bands: int = 20
    """LSH bands; with rows, the S-curve of which similarities become candidates."""
    rows: int = 6
    """Signature rows per band; bands x rows is the number of permutations."""
    threshold: float = 0.8
    """Candidates are duplicates when their estimated Jaccard similarity reaches this."""
    seed: int = 1
    """Seed of the MinHash permutations."""
    max_bucket: int = 100
    """Members of a large LSH bucket each compared only with its first max_bucket (see above)."""
    components_rounds: int = field(default=20, metadata={"flag": "components-rounds"})
    """Rounds of connected components for near-duplicate clusters (counter components_unconverged_edges
    > 0 means too few)."""

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows

    def collision_probability(self, jaccard: float) -> float:
        """Probability that a pair with this Jaccard similarity shares at least one band."""
        return 1.0 - (1.0 - jaccard**self.rows) ** self.bands


def normalize_words(text: str) -> list[str]:
    """Words that survive cosmetic edits: NFKC, casefolded, punctuation dropped, every digit folded to 0."""
    return _WORD.findall(_DIGIT.sub("0", unicodedata.normalize("NFKC", text).casefold()))


def shingle_hashes(text: str, ngram: int = 5) -> np.ndarray:
    """Sorted, distinct uint32 hashes of the word n-grams; stable across processes (CRC-32, no salt).

    A document of fewer than `ngram` words is one shingle of all its words; one without words has none.
    """
    words = normalize_words(text)
    if not words:
        return np.empty(0, dtype=np.uint32)
    word_hashes = np.fromiter((zlib.crc32(w.encode()) for w in words), dtype=np.uint64, count=len(words))
    width = min(ngram, len(words))
    count = len(words) - width + 1
    combined = np.zeros(count, dtype=np.uint64)
    for offset in range(width):  # a polynomial over the window, wrapping mod 2^64
        combined = combined * _MULTIPLIER + word_hashes[offset : offset + count]
    combined ^= combined >> np.uint64(32)
    combined *= _MIX
    combined ^= combined >> np.uint64(32)
    return np.unique(combined.astype(np.uint32))


@functools.lru_cache(maxsize=8)
def _empty_minhash(num_perm: int, seed: int) -> MinHash:
    """datasketch draws the permutations once per (num_perm, seed); every document copies them."""
    return MinHash(num_perm=num_perm, seed=seed, hashfunc=int)  # our shingles arrive hashed


def signature_of_shingles(hashes: np.ndarray, config: NearDedupConfig) -> np.ndarray:
    """The datasketch MinHash (scheme affine32) of pre-hashed shingles, as uint32[num_perm]."""
    minhash = _empty_minhash(config.num_perm, config.seed).copy()
    minhash.update_batch(hashes)
    return minhash.hashvalues


def signature(text: str, config: NearDedupConfig) -> np.ndarray:
    """MinHash signature of the text's shingles; all rows 0xFFFFFFFF when it has no words."""
    return signature_of_shingles(shingle_hashes(text, config.ngram), config)


def band_keys(sig: np.ndarray, config: NearDedupConfig) -> list[bytes]:
    """One shuffle key per band: 2-byte band index + 8-byte BLAKE2b of its rows. None for an empty text."""
    if np.all(sig == _EMPTY_ROW):
        return []
    rows = np.ascontiguousarray(sig, dtype="<u4").reshape(config.bands, config.rows)
    return [
        band.to_bytes(2, "big") + hashlib.blake2b(rows[band].tobytes(), digest_size=8).digest()
        for band in range(config.bands)
    ]


def similarity(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """MinHash estimate of Jaccard similarity: the fraction of equal rows."""
    return float(np.count_nonzero(sig_a == sig_b)) / len(sig_a)


def shingle_jaccard(hashes_a: np.ndarray, hashes_b: np.ndarray) -> float:
    """Exact Jaccard of two shingle-hash sets (as shingle_hashes returns them); 0 when either is empty."""
    if not len(hashes_a) or not len(hashes_b):
        return 0.0
    shared = len(np.intersect1d(hashes_a, hashes_b, assume_unique=True))
    return shared / (len(hashes_a) + len(hashes_b) - shared)


def is_duplicate(hashes_a: np.ndarray, hashes_b: np.ndarray, config: NearDedupConfig) -> bool:
    return shingle_jaccard(hashes_a, hashes_b) >= config.threshold


def candidate_pairs(
    members: Iterable[tuple[Hashable, np.ndarray]], config: NearDedupConfig
) -> Iterator[tuple[Hashable, Hashable]]:
    """Verified duplicate pairs (a < b) of one bucket of (document key, shingle hashes).

    Members are taken in key order; the first max_bucket of them are compared with every later member.
    A comparison is skipped when the two are already linked, so what comes out is a spanning forest of
    the verified pairs: every pair yielded has Jaccard >= threshold, and connected components over the
    yielded pairs equal those over all verified pairs.
    """
    ordered = sorted(members, key=lambda member: member[0])
    if len(ordered) < 2:
        return
    keys = [key for key, _ in ordered]
    sets = [hashes for _, hashes in ordered]
    sizes = np.array([len(hashes) for hashes in sets])
    owner = np.repeat(np.arange(len(sets)), sizes)
    every_shingle = np.concatenate(sets)
    component = np.arange(len(sets))  # a label per member: the smallest index it is linked to
    for anchor in range(min(len(sets), config.max_bucket)):
        later = np.flatnonzero(component[anchor + 1 :] != component[anchor]) + anchor + 1
        if not sizes[anchor] or not later.size:
            continue
        shared = np.bincount(owner[np.isin(every_shingle, sets[anchor])], minlength=len(sets))[later]
        jaccard = shared / np.maximum(sizes[anchor] + sizes[later] - shared, 1)
        for other in later[(jaccard >= config.threshold) & (sizes[later] > 0)]:
            mine, theirs = component[anchor], component[other]
            if mine != theirs:
                component[component == max(mine, theirs)] = min(mine, theirs)
                yield keys[anchor], keys[other]


def exact_jaccard(text_a: str, text_b: str, ngram: int = 5) -> float:
    """Jaccard of the word n-grams as strings, no hashing involved: the ground truth for tests."""
    a, b = shingles(text_a, ngram), shingles(text_b, ngram)
    return len(a & b) / len(a | b) if a and b else 0.0


def shingles(text: str, ngram: int = 5) -> set[str]:
    """The word n-grams that shingle_hashes hashes, as strings."""
    words = normalize_words(text)
    width = min(ngram, len(words))
    return {" ".join(words[i : i + width]) for i in range(len(words) - width + 1)} if words else set()
