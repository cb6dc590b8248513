"""WriteShards: the kept documents -> `documents-SSSSS-of-NNNNN.parquet`, each shard written whole under a
temporary name and renamed; a document's shard is a hash of its id."""

from __future__ import annotations

import math
from collections.abc import Iterable

import apache_beam as beam

from pipelines.files import write_atomically
from pipelines.metrics import count, count_passed
from webtext.shards import Document, ShardConfig, shard_name, shard_of, write_documents
from webtext.stages import SHARDS_WRITTEN, WRITE


def shard_count(text_bytes: int, num_shards: int, shard_bytes: int) -> int:
    """`num_shards` if given, else as many as keep each shard's text near `shard_bytes`."""
    return num_shards or max(1, math.ceil(text_bytes / shard_bytes))


def write_shard(shard: tuple[int, Iterable[Document]], directory: str, shards: int) -> dict:
    """Writes one shard under a temporary name and renames it, so no partial shard is ever visible; returns
    its manifest record (name, bytes, sha256, rows)."""
    index, documents = shard
    record, written = write_atomically(
        directory, shard_name(index, shards), lambda stream: write_documents(documents, stream)
    )
    count(SHARDS_WRITTEN)
    count_passed(WRITE, written)
    return {**record, "rows": written}


class WriteShards(beam.PTransform):
    """Document -> `documents-SSSSS-of-NNNNN.parquet`; a document's shard is a hash of its id, so the
    shards' contents are the same on every run and runner."""

    def __init__(self, directory: str, config: ShardConfig | None = None):
        super().__init__()
        self.directory = directory
        self.config = config or ShardConfig()

    def expand(self, documents: beam.PCollection[Document]) -> beam.PCollection[dict]:
        shards = beam.pvalue.AsSingleton(
            documents
            | "TextBytes" >> beam.Map(lambda document: len(document.text.encode("utf-8", "surrogatepass")))
            | "Total" >> beam.CombineGlobally(sum)
            | "ShardCount" >> beam.Map(shard_count, self.config.num_shards, self.config.shard_size_mb << 20)
        )
        return (
            documents
            | "ToShard" >> beam.Map(lambda document, n: (shard_of(document.id, n), document), shards)
            | "GroupByShard" >> beam.GroupByKey()
            | "Write" >> beam.Map(write_shard, self.directory, shards)
        )
