"""NearDedup on Beam: planted near-duplicates at known Jaccard levels are found (recall) without merging
unrelated documents (precision), and the result is the same on every run and runner."""

from __future__ import annotations

import json
import random
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from planted import planted_corpus

from pipelines.dedup import NearDedup
from pipelines.metrics import read_counters
from webtext.links import Provenance
from webtext.near_dedup import NearDedupConfig
from webtext.page import Page
from webtext.shards import Document, document_id

RUNNERS = {
    "fnapi": ["--runner=FnApiRunner"],
    "multi_processing": [
        "--runner=FnApiRunner",
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=2",
    ],
}


def _url(name: str) -> str:
    return f"https://planted.example/{name}"


def _documents(texts: dict[str, str], seed: int = 7) -> list[Document]:
    rng = random.Random(seed)
    documents = []
    for name, text in sorted(texts.items()):
        score, created = rng.randint(3, 40), 1_500_000_000 + rng.randint(0, 10**6)
        provenance = Provenance((name,), ("test",), score, score, created, name)
        page = Page(_url(name), _url(name), 200, (("Content-Type", "text/html"),), b"", float(created))
        documents.append(
            Document.from_page(_url(name), provenance, page, "warc", text=text, title=name, charset="utf-8")
        )
    return documents


def _run(
    documents: list[Document], args: list[str], out: Path
) -> tuple[dict[str, list], dict[str, str], dict]:
    """({kept id: [cluster_id, cluster_size]}, {dropped url: id kept instead}, counters), read back from files
    (in multi_processing mode the steps run in other processes)."""
    pipeline = beam.Pipeline(options=PipelineOptions(args))
    result = pipeline | beam.Create(documents, reshuffle=False) | NearDedup(NearDedupConfig())
    kept = result.kept | "KeptJson" >> beam.Map(lambda d: json.dumps([d.id, d.cluster_id, d.cluster_size]))
    dropped = result.dropped | "DroppedJson" >> beam.Map(lambda d: json.dumps([d.url, d.duplicate_of]))
    kept | "WriteKept" >> beam.io.WriteToText(str(out / "kept"))
    dropped | "WriteDropped" >> beam.io.WriteToText(str(out / "dropped"))
    outcome = pipeline.run()
    outcome.wait_until_finish()

    def rows(prefix: str) -> list[list]:
        return [
            json.loads(line) for path in out.glob(f"{prefix}-*") for line in path.read_text().splitlines()
        ]

    return (
        {doc_id: [cluster, size] for doc_id, cluster, size in rows("kept")},
        dict(rows("dropped")),
        read_counters(outcome),
    )


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    corpus = planted_corpus(n_bases=150, seed=3)
    documents = _documents(corpus.texts)
    return corpus, documents, _run(documents, RUNNERS["fnapi"], tmp_path_factory.mktemp("near_dedup"))


def test_planted_near_duplicates_recall_and_precision(planted):
    corpus, documents, (kept, dropped, counters) = planted
    cluster_of = {document_id(_url(name)): None for name in corpus.texts}
    cluster_of.update({doc_id: cluster for doc_id, (cluster, _) in kept.items()})
    cluster_of.update({document_id(url): replacement for url, replacement in dropped.items()})
    assert len(kept) + len(dropped) == len(documents) == len(cluster_of)
    assert all(kept[replacement][0] == replacement for replacement in dropped.values())  # kept, represents

    def same_cluster(a: str, b: str) -> bool:
        return cluster_of[document_id(_url(a))] == cluster_of[document_id(_url(b))]

    truth = corpus.pairs_at_least(0.8)
    assert len(truth) > 50
    recall = sum(same_cluster(a, b) for a, b in truth) / len(truth)
    assert recall >= 0.98
    # Precision: every removed document has a true near duplicate (J >= 0.8) in its family, and no
    # cluster mixes families (unrelated texts).
    family = {name: name.split("v")[0] for name in corpus.texts}
    removed = [url.rsplit("/", 1)[1] for url in dropped]
    justified = sum(
        any(
            corpus.jaccard.get(tuple(sorted((name, other))), 0) >= 0.8
            for other in corpus.texts
            if other != name
        )
        for name in removed
    )
    assert justified / len(removed) >= 0.99
    clusters: dict[str, set[str]] = {}
    for name in corpus.texts:
        clusters.setdefault(cluster_of[document_id(_url(name))], set()).add(family[name])
    assert all(len(families) == 1 for families in clusters.values())
    sizes = {cluster: size for cluster, size in kept.values()}
    assert sum(sizes.values()) == len(documents)
    assert counters["components_unconverged_edges"] == 0


def test_the_representative_is_the_best_ranked_member(planted):
    corpus, documents, (kept, dropped, _) = planted
    by_id = {document.id: document for document in documents}
    members: dict[str, list[Document]] = {}
    for document in documents:
        cluster = kept[document.id][0] if document.id in kept else dropped[document.canonical_url]
        members.setdefault(cluster, []).append(document)
    for cluster, group in members.items():
        assert min(group, key=Document.rank) is by_id[cluster]


def test_same_result_on_another_run_and_runner(planted, tmp_path):
    _, documents, (kept, dropped, _) = planted
    again = _run(list(reversed(documents)), RUNNERS["multi_processing"], tmp_path)
    assert again[0] == kept and again[1] == dropped
