"""One document per text: ExactDedup (the same normalized text) then NearDedup (MinHash LSH clusters);
both keep the best copy by `Document.rank` and drop the others with the id kept instead."""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable, Iterator
from dataclasses import replace

import apache_beam as beam

from pipelines.components import ConnectedComponents, Edge
from pipelines.metrics import count, count_passed
from pipelines.outputs import drop, with_dropped
from webtext.near_dedup import (
    NearDedupConfig,
    band_keys,
    candidate_pairs,
    shingle_hashes,
    signature_of_shingles,
)
from webtext.shards import Document, document_id
from webtext.stages import CLUSTERS, DEDUP, EXACT_DUPLICATE, NEAR_DEDUP, NEAR_DUPLICATE, VERIFIED_PAIRS

# ---------------------------------------------------------------------- ExactDedup


def keep_first(text_hash: str, copies: Iterable[Document]):
    """One document per normalized text: the highest score, then the earliest submission, wins.

    Two passes over the group (Beam iterables can be re-read) so a huge group is never held in memory.
    """
    winner = min(copies, key=Document.rank)
    duplicates = 0
    for copy in copies:
        if copy.canonical_url != winner.canonical_url:
            duplicates += 1
            yield drop(copy.canonical_url, DEDUP, EXACT_DUPLICATE, duplicate_of=winner.id)
    count_passed(DEDUP)
    yield replace(winner, exact_duplicates=duplicates)


class ExactDedup(beam.PTransform):
    def expand(self, documents: beam.PCollection[Document]):
        grouped = (
            documents
            | "ByTextHash" >> beam.WithKeys(operator.attrgetter("text_hash"))
            | "GroupByText" >> beam.GroupByKey()
        )
        return with_dropped(beam.FlatMapTuple(keep_first), "KeepFirst", grouped)


# ---------------------------------------------------------------------- NearDedup


SHINGLES = "shingles"


def band_memberships(document: Document, config: NearDedupConfig):
    """(band key, rank) for each LSH band, and once (tagged SHINGLES) the document's shingle hashes."""
    hashes = shingle_hashes(document.text, config.ngram)
    rank = document.rank()
    for key in band_keys(signature_of_shingles(hashes, config), config):
        yield key, rank
    yield beam.pvalue.TaggedOutput(SHINGLES, (rank, hashes))


def shared_buckets(bucket: tuple[bytes, Iterable[tuple]]) -> Iterator[tuple[tuple, bytes]]:
    """(rank, band key) for every member of a bucket that has company; almost every bucket has none."""
    band_key, ranks = bucket
    if next(itertools.islice(ranks, 1, None), None) is None:
        return
    for rank in ranks:
        yield rank, band_key


def candidate_entries(element: tuple[tuple, dict[str, list]]) -> Iterator[tuple[bytes, tuple]]:
    """(band key, (rank, shingle hashes)) for each shared bucket of a document: verification needs the sets."""
    rank, joined = element
    if joined["buckets"]:
        (hashes,) = joined["shingles"]
        for band_key in joined["buckets"]:
            yield band_key, (rank, hashes)


def verified_pairs(bucket: tuple[bytes, Iterable[tuple]], config: NearDedupConfig) -> Iterator[Edge]:
    for pair in candidate_pairs(bucket[1], config):
        count(VERIFIED_PAIRS)
        yield pair


def cluster_members(representative: tuple, members: Iterable[tuple]) -> Iterator[tuple[tuple, tuple]]:
    """(member, (representative, cluster size)) for every member; the group is read twice, never held."""
    size = sum(1 for _ in members)
    count(CLUSTERS)
    for member in members:
        yield member, (representative, size)


def keep_representative(element: tuple[tuple, dict[str, list]]):
    """A document alone, or its cluster's representative, is kept with the cluster's id and size."""
    rank, joined = element
    (document,) = joined["document"]
    (representative, size), *_ = joined["cluster"] or [(rank, 1)]
    if representative != rank:
        yield drop(
            document.canonical_url, NEAR_DEDUP, NEAR_DUPLICATE, duplicate_of=document_id(representative[-1])
        )
        return
    count_passed(NEAR_DEDUP)
    yield replace(document, cluster_id=document.id, cluster_size=size)


def skip_near_dedup(document: Document) -> Document:
    count_passed(NEAR_DEDUP)
    return replace(document, cluster_id=document.id)


class NearDedup(beam.PTransform):
    """Document -> one document per cluster of near duplicates (MinHash LSH), with shuffles only.

    Band keys group candidates (a GroupByKey per band key, no index in memory), pairs are verified by
    exact shingle Jaccard inside each shared bucket, clusters are the connected components of the verified
    pairs, and each cluster keeps its best document by `Document.rank` (highest score, then earliest
    submission), the same rule as ExactDedup.
    """

    def __init__(self, config: NearDedupConfig):
        super().__init__()
        self.config = config

    def expand(self, documents: beam.PCollection[Document]):
        # Two groupings keep the shuffle small: band keys with ranks only (20 short records a document),
        # then shingle sets only for the documents that share a bucket with another.
        bands = documents | "BandKeys" >> beam.FlatMap(band_memberships, self.config).with_outputs(
            SHINGLES, main="memberships"
        )
        shared = (
            bands.memberships
            | "GroupByBand" >> beam.GroupByKey()
            | "SharedBuckets" >> beam.FlatMap(shared_buckets)
        )
        pairs = (
            {"buckets": shared, "shingles": bands[SHINGLES]}
            | "JoinShingles" >> beam.CoGroupByKey()
            | "CandidateEntries" >> beam.FlatMap(candidate_entries)
            | "GroupCandidates" >> beam.GroupByKey()
            | "Verify" >> beam.FlatMap(verified_pairs, self.config)
            | "DistinctPairs" >> beam.Distinct()
        )
        clusters = (
            pairs
            | "Components" >> ConnectedComponents(self.config.components_rounds)
            | "ByRepresentative" >> beam.KvSwap()
            | "GroupByCluster" >> beam.GroupByKey()
            | "ClusterSizes" >> beam.FlatMapTuple(cluster_members)
        )
        by_rank = documents | "ByRank" >> beam.WithKeys(Document.rank)
        joined = {"document": by_rank, "cluster": clusters} | "JoinClusters" >> beam.CoGroupByKey()
        return with_dropped(beam.FlatMap(keep_representative), "KeepRepresentatives", joined)
