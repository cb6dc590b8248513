"""The WebText pipeline on Apache Beam, step by step as the paper describes it.

    ReadSubmissions | SelectLinks | DedupURLs | Fetch (live or ReplayWarc) | Extract | Filter
        | ExactDedup | NearDedup | WriteShards

Each step is a composite transform (pipelines.submissions, fetching, extracting, filtering, dedup, shards)
over plain functions from `webtext/`, which are tested without Beam. Every stage counts what it passes on
and, by a reason it declares (`webtext.stages`), what it drops; `run` reads the counters back into
`stats.json`'s funnel, checks that every stage conserves its documents, and can write the dropped
documents of the side outputs (`Dropped`) out.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from bpe.manifest import MANIFEST_KEY
from pipelines.dedup import ExactDedup, NearDedup, skip_near_dedup
from pipelines.extracting import Extract
from pipelines.fetching import FetchLive, ReplayWarc, SaveWarc
from pipelines.files import WriteManifest, finish_manifest, prepare_output, run_pipeline, write_summary
from pipelines.filtering import Filter
from pipelines.metrics import read_counters
from pipelines.outputs import Dropped
from pipelines.shards import WriteShards
from pipelines.submissions import DedupURLs, ReadSubmissions, SelectLinks
from webtext.config import BuildConfig
from webtext.settings import as_json
from webtext.shards import SHARD_GLOB, STATS_FILE
from webtext.stats import build_stats, check_conservation


def build(pipeline: beam.Pipeline, config: BuildConfig) -> None:
    """The paper's method section as a Beam graph."""
    # "We scraped all outbound links from Reddit, a social media platform, which received at least 3 karma."
    urls = (
        pipeline
        | "ReadSubmissions" >> ReadSubmissions(config.submissions)
        | "SelectLinks" >> SelectLinks(config.links)
        | "DedupURLs" >> DedupURLs()
    )
    if config.warc:
        fetched = urls | "ReplayWarc" >> ReplayWarc(config.warc)
    else:
        fetched = urls | "Fetch" >> FetchLive(config.fetch)
        if config.fetch.save_warc:
            fetched.kept | "SaveWarc" >> SaveWarc(FileSystems.join(config.out, "warc"))
    # "We use a combination of the Dragnet and Newspaper content extractors" (trafilatura here), then
    # "de-duplication and some heuristic based cleaning".
    extracted = fetched.kept | "Extract" >> Extract(config.extract)
    filtered = extracted.kept | "Filter" >> Filter(config.filter)
    unique = filtered.kept | "ExactDedup" >> ExactDedup()
    steps = [fetched, extracted, filtered, unique]
    if not config.near_dedup.enabled:
        kept = unique.kept | "SkipNearDedup" >> beam.Map(skip_near_dedup)
    else:
        steps.append(unique.kept | "NearDedup" >> NearDedup(config.near_dedup))
        kept = steps[-1].kept
    kept | "WriteShards" >> WriteShards(config.out, config.shards) | "Manifest" >> WriteManifest(config.out)
    if config.shards.write_dropped:
        (
            tuple(step.dropped for step in steps)
            | "AllDropped" >> beam.Flatten()
            | "DroppedJson" >> beam.Map(Dropped.as_json)
            | "WriteDropped"
            >> beam.io.WriteToText(FileSystems.join(config.out, "dropped", "dropped"), ".jsonl.gz")
        )


def run(config: BuildConfig, pipeline_args: Sequence[str] = ()) -> dict:
    """Build the corpus into `config.out`; returns the stats also written to `out/stats.json`.

    Raises ConservationError (after writing stats.json, which records the check) when a stage's counters
    do not add up."""
    for result in FileSystems.match([*config.submissions, *config.warc]):
        if not result.metadata_list:
            raise FileNotFoundError(f"{result.pattern}: no files match")
    prepare_output(config.out, [SHARD_GLOB, "dropped/*", "warc/*"], STATS_FILE, "a build")
    started = time.time()
    pipeline = beam.Pipeline(options=PipelineOptions(list(pipeline_args)))
    build(pipeline, config)
    result = run_pipeline(pipeline)
    counters = read_counters(result)
    shards = finish_manifest(config.out, SHARD_GLOB)
    stats = build_stats(
        counters,
        shards=[record["name"] for record in shards["files"]],
        seconds=round(time.time() - started, 1),
        source=config.source,
        config=as_json(config),
    )
    stats[MANIFEST_KEY] = shards
    write_summary(config.out, STATS_FILE, stats)  # last: it makes the shards a complete set
    check_conservation(stats)
    return stats
