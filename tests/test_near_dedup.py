"""MinHash LSH near-duplicate detection at the library level: the Beam stage's GroupByKey is a dict here."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import defaultdict

import numpy as np
import pytest
from planted import PlantedCorpus, planted_corpus

from pipelines.components import components_union_find
from webtext.near_dedup import (
    NearDedupConfig,
    band_keys,
    candidate_pairs,
    exact_jaccard,
    is_duplicate,
    normalize_words,
    shingle_hashes,
    shingle_jaccard,
    signature,
    signature_of_shingles,
    similarity,
)

CONFIG = NearDedupConfig()
TEXT = "The quick brown fox jumps over the lazy dog, then Page 12 of 40 says: naïve ＦＵＬＬＷＩＤＴＨ café!"


def test_normalization_folds_case_width_punctuation_and_digits():
    assert normalize_words("Page 12 — “Don't”, ＡＢＣ_x ½") == [
        "page",
        "00",
        "don",
        "t",
        "abc",
        "x",
        "0",
        "0",
    ]
    assert shingle_hashes("Page 12, IS here!!", 3).tolist() == shingle_hashes("page 99 is HERE", 3).tolist()
    assert exact_jaccard("Page 12 is here now", "page 99 is HERE, now.") == 1.0


def test_short_and_empty_documents():
    short = shingle_hashes("Only three words", 5)
    assert len(short) == 1 and short.dtype == np.uint32
    assert exact_jaccard("Only three words", "only THREE words!") == 1.0
    assert not is_duplicate(short, shingle_hashes("only two", 5), CONFIG)
    for empty in ("", "  ...  !!! "):
        hashes = shingle_hashes(empty, 5)
        assert len(hashes) == 0
        assert band_keys(signature(empty, CONFIG), CONFIG) == []
        assert not is_duplicate(hashes, hashes, CONFIG)
    assert (
        list(candidate_pairs([((0,), np.empty(0, np.uint32)), ((1,), np.empty(0, np.uint32))], CONFIG)) == []
    )


def test_signature_is_stable_across_processes_and_depends_on_the_seed():
    script = (
        "import json, sys; from webtext.near_dedup import NearDedupConfig, band_keys, signature; "
        "c = NearDedupConfig(); s = signature(sys.argv[1], c); "
        "print(json.dumps([s.tolist(), [k.hex() for k in band_keys(s, c)]]))"
    )
    processes = [  # each process has its own str hash salt
        subprocess.Popen([sys.executable, "-c", script, TEXT], stdout=subprocess.PIPE) for _ in range(2)
    ]
    outputs = [json.loads(process.communicate()[0]) for process in processes]
    here = signature(TEXT, CONFIG)
    assert outputs[0] == outputs[1] == [here.tolist(), [k.hex() for k in band_keys(here, CONFIG)]]
    assert here.dtype == np.uint32 and len(here) == CONFIG.num_perm == 120
    other_seed = signature(TEXT, NearDedupConfig(seed=2))
    assert similarity(here, other_seed) < 0.1


def test_signature_matches_a_per_shingle_datasketch_minhash():
    from datasketch import MinHash

    reference = MinHash(num_perm=CONFIG.num_perm, seed=CONFIG.seed, hashfunc=int)
    for value in shingle_hashes(TEXT, 5):
        reference.update(int(value))
    assert np.array_equal(signature(TEXT, CONFIG), reference.hashvalues)


def test_s_curve_defaults():
    assert (CONFIG.bands, CONFIG.rows) == (20, 6)
    assert CONFIG.collision_probability(0.8) == pytest.approx(0.9977, abs=1e-4)
    assert CONFIG.collision_probability(0.5) == pytest.approx(0.270, abs=1e-3)
    assert CONFIG.collision_probability(0.3) < 0.02
    assert NearDedupConfig(bands=14, rows=8).collision_probability(0.8) == pytest.approx(0.9235, abs=1e-4)


def test_band_keys_are_equal_for_equivalent_texts_and_one_per_band():
    a = band_keys(signature(TEXT, CONFIG), CONFIG)
    b = band_keys(signature(TEXT.upper().replace("12", "77"), CONFIG), CONFIG)
    assert a == b and len(a) == CONFIG.bands and len(set(a)) == CONFIG.bands
    assert all(len(key) == 10 for key in a)
    unrelated = band_keys(signature("Something else entirely, written for another page.", CONFIG), CONFIG)
    assert not set(a) & set(unrelated)


def _clusters(texts: dict[str, str], config: NearDedupConfig) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The Beam stage in miniature: band keys -> buckets -> verified pairs -> union-find roots."""
    hashes = {doc: shingle_hashes(text, config.ngram) for doc, text in texts.items()}
    buckets = defaultdict(list)
    for doc, doc_hashes in hashes.items():
        for key in band_keys(signature_of_shingles(doc_hashes, config), config):
            buckets[key].append((doc, doc_hashes))
    reported = [pair for members in buckets.values() for pair in candidate_pairs(members, config)]
    roots = components_union_find(reported)
    return {doc: roots.get(doc, doc) for doc in texts}, reported


@pytest.fixture(scope="module")
def corpus() -> PlantedCorpus:
    return planted_corpus(900, seed=7)


def test_planted_corpus_spans_the_threshold(corpus):
    values = np.array(list(corpus.jaccard.values()))
    assert len(corpus.texts) > 1900
    assert np.count_nonzero(values >= 0.8) > 500
    assert np.count_nonzero((values >= 0.5) & (values < 0.8)) > 800


def test_planted_near_duplicates_are_found_precisely(corpus):
    """Recall: pairs with true J >= 0.8 end in one cluster. Precision: of the pairs reported (verified
    edges), those with true J < 0.8 count against it, except J in [0.75, 0.8): 32-bit shingle hashing and
    cross-family coincidences cannot move J by more than a hair, so that band is excluded from both sides
    rather than counted as a miss or a hit. Transitive clusters (two variants of one base, each at 0.85
    to it, can be at 0.72 to each other) are what connected components mean, so precision is per edge."""
    root, reported = _clusters(corpus.texts, CONFIG)
    reported = sorted(set(reported))  # the same pair comes from every band the two share
    truth = corpus.pairs_at_least(0.8)
    recall = sum(root[a] == root[b] for a, b in truth) / len(truth)
    judged = [
        corpus.jaccard.get((a, b)) or exact_jaccard(corpus.texts[a], corpus.texts[b]) for a, b in reported
    ]
    judged = [value for value in judged if not 0.75 <= value < 0.8]
    precision = sum(value >= 0.8 for value in judged) / len(judged)
    assert recall >= 0.98, recall
    assert precision >= 0.99, precision
    assert all(a < b for a, b in reported)


def test_signature_estimate_alone_would_miss_the_recall_target(corpus):
    """Why verification is exact: with 120 rows the estimate misses pairs just above 0.8 (see module doc)."""
    truth = sorted(corpus.pairs_at_least(0.8))
    sigs = {doc: signature(corpus.texts[doc], CONFIG) for pair in truth for doc in pair}
    estimated = sum(similarity(sigs[a], sigs[b]) >= CONFIG.threshold for a, b in truth) / len(truth)
    exact = sum(
        shingle_jaccard(shingle_hashes(corpus.texts[a]), shingle_hashes(corpus.texts[b])) >= 0.8
        for a, b in truth
    ) / len(truth)
    assert exact >= 0.999
    assert estimated < 0.98


def test_candidate_pairs_are_deterministic_whatever_the_member_order():
    text = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu"
    variant = text.replace("mu", "nu")
    members = [
        ((3, "c"), shingle_hashes(text)),
        ((1, "a"), shingle_hashes(text)),
        ((2, "b"), shingle_hashes(variant)),
    ]
    first = list(candidate_pairs(members, CONFIG))
    assert first == list(candidate_pairs(reversed(members), CONFIG))
    assert first == [((1, "a"), (3, "c"))]  # J(text, variant) = 7/9 < 0.8


def test_a_huge_bucket_of_copies_is_linked_fast_into_one_cluster():
    hashes = shingle_hashes(TEXT)
    members = [((-i % 97, i), hashes) for i in range(5000)]
    started = time.perf_counter()
    pairs = list(candidate_pairs(members, CONFIG))
    assert time.perf_counter() - started < 2.0
    smallest = min(key for key, _ in members)
    assert len(pairs) == 4999 and {a for a, _ in pairs} == {smallest}


def test_a_huge_bucket_compares_later_members_only_with_the_first_max_bucket():
    config = NearDedupConfig(max_bucket=3)
    unrelated = [
        ((i,), shingle_hashes(f"document number {chr(65 + i)} talks about topic {chr(97 + i)}"))
        for i in range(3)
    ]
    twins = [((10,), shingle_hashes(TEXT)), ((11,), shingle_hashes(TEXT))]
    assert list(candidate_pairs(unrelated + twins, config)) == []  # the trade-off: 10 and 11 never meet
    assert list(candidate_pairs(unrelated + twins, NearDedupConfig(max_bucket=4))) == [((10,), (11,))]
