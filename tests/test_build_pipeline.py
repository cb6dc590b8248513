"""`webtext build` end to end on real Beam runners: the bundled sample replayed from WARC (FnApiRunner and
multi_processing give the same shards), and a live crawl of a local server, saved to WARC and replayed."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import zstandard
from sample import make_sample
from webserver import Response, WebServer, max_in_flight, min_start_gap

from pipelines.webtext_build import run
from webtext.config import BuildConfig
from webtext.extract import ExtractConfig
from webtext.fetch import FetchConfig
from webtext.links import LinkRules
from webtext.page import page_rejection
from webtext.shards import SCHEMA, ShardConfig, document_id

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "build"
PAPER_RULES = LinkRules(before=date(2018, 1, 1))
FNAPI = ["--runner=FnApiRunner"]

BRIDGE = "https://www.northfieldgazette.example/2017/11/millbrook-bridge-reopens"
SYNDICATED = "https://www.newsaggregate.example/local/northfield/millbrook-bridge-reopens-2017-11-14"
MOUNTAIN_HOST = "wanderingnotes.example"
SCHOOL = "https://www.northfieldgazette.example/2017/12/school-board-later-start"
EDITED_SCHOOL = "https://www.valleyherald.example/schools/2017/12/northfield-later-start"


def _sample_config(out: Path, **options) -> BuildConfig:
    return BuildConfig(
        submissions=(str(SAMPLE / "RS_*.zst"),),
        warc=(str(SAMPLE / "*.warc.gz"),),
        out=str(out),
        links=PAPER_RULES,
        **options,
    )


def _documents(out: Path) -> list[dict]:
    table = pq.read_table(sorted(out.glob("documents-*.parquet")), schema=SCHEMA)
    return sorted(table.to_pylist(), key=lambda row: row["id"])


def _dropped(out: Path) -> list[dict]:
    return [
        json.loads(line) for path in (out / "dropped").glob("*.jsonl.gz") for line in gzip.open(path, "rt")
    ]


def assert_funnel_adds_up(stats: dict) -> None:
    """Every step's input is what it kept plus what it dropped, by reason."""
    steps, dropped = stats["funnel"], stats["dropped"]

    def dropped_at(stage: str) -> int:
        return sum(dropped.get(stage, {}).values())

    assert steps["links_kept"] + dropped_at("links") == steps["submissions"]
    assert steps["pages_fetched"] + dropped_at("fetch") == steps["unique_urls"]
    assert steps["documents_extracted"] + dropped_at("extract") == steps["pages_fetched"]
    assert steps["documents_passed_filters"] + dropped_at("filter") == steps["documents_extracted"]
    assert steps["documents_unique"] + dropped_at("dedup") == steps["documents_passed_filters"]
    assert steps["documents_near_unique"] + dropped_at("near_dedup") == steps["documents_unique"]
    assert steps["documents_written"] == steps["documents_near_unique"]


def assert_stages_conserve(stats: dict) -> None:
    """The build's own check (run fails when it does not hold) found every stage's documents accounted for,
    and every drop counter is one of a stage's declared reasons."""
    stages = ["submissions", "links", "fetch", "extract", "filter", "dedup", "near_dedup", "write"]
    assert list(stats["conservation"]) == stages
    assert all(check["ok"] for check in stats["conservation"].values()), stats["conservation"]
    drop_counters = sum(value for name, value in stats["counters"].items() if "_dropped_" in name)
    assert sum(sum(reasons.values()) for reasons in stats["dropped"].values()) == drop_counters


@pytest.fixture(scope="module")
def sample_build(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("sample")
    return out, run(_sample_config(out, shards=ShardConfig(num_shards=2, write_dropped=True)), FNAPI)


def test_sample_funnel_matches_the_sample_readme(sample_build):
    out, stats = sample_build
    assert stats["funnel"] == {
        "submission_lines": 43,
        "submissions": 40,
        "link_posts": 38,
        "links_kept": 28,
        "unique_urls": 26,
        "pages_fetched": 22,
        "documents_extracted": 22,
        "documents_passed_filters": 16,
        "documents_unique": 15,
        "documents_near_unique": 14,
        "documents_written": 14,
    }
    assert stats["dropped"]["submissions"] == {"duplicate": 1, "invalid_json": 1, "missing_id": 1}
    assert stats["dropped"]["links"] == {
        "after_window": 2, "low_score": 1, "media_host": 2, "non_document_extension": 1, "over_18": 1,
        "reddit_hosted": 2, "self_post": 2, "wikipedia": 1,
    }  # fmt: skip
    assert stats["dropped"]["fetch"] == {
        "http_not_found": 1,
        "http_redirect": 1,
        "not_html": 1,
        "not_in_warc": 1,
    }
    assert stats["dropped"]["dedup"] == {"exact_duplicate": 1}
    assert stats["dropped"]["near_dedup"] == {"near_duplicate": 1}
    assert stats["dropped"]["warc"] == {"warc_bad_record": 1, "warc_revisit": 1, "warc_truncated": 1}
    assert sum(stats["dropped"]["filter"].values()) == 6
    assert stats["counters"]["warc_records_unused"] == 1
    assert_funnel_adds_up(stats)
    assert_stages_conserve(stats)
    assert json.loads((out / "stats.json").read_text()) == stats
    assert stats["shards"] == ["documents-00000-of-00002.parquet", "documents-00001-of-00002.parquet"]


def test_sample_shards_hold_the_documents_with_provenance(sample_build):
    out, _ = sample_build
    documents = _documents(out)
    assert len(documents) == 14 and len({row["text_hash"] for row in documents}) == 14
    by_url = {row["canonical_url"]: row for row in documents}
    bridge = by_url[BRIDGE]
    assert bridge["id"] == document_id(BRIDGE)
    assert (
        bridge["submission_ids"] == ["7b1001", "7b1002"]
        and bridge["score_sum"] == 60
        and bridge["score"] == 48
    )
    assert bridge["exact_duplicates"] == 1 and SYNDICATED not in by_url
    assert bridge["title"] and "bridge" in bridge["title"].lower() and bridge["fetch_source"] == "warc"
    assert all(row["language"] == "en" and row["text_chars"] >= 500 for row in documents)
    assert all(row["http_status"] == 200 and row["extractor"].startswith("trafilatura") for row in documents)
    mountain = next(row for row in documents if row["domain"] == MOUNTAIN_HOST and "sorella" in row["url"])
    assert "\u2019" in mountain["text"] and "\ufffd" not in mountain["text"]  # cp1252 labelled iso-8859-1
    market = next(row for row in documents if "farmers-market" in row["url"])
    assert market["canonical_url"] == "http://nfg.example/s/4kx9"  # matched on the short URL it was saved for
    school = by_url[SCHOOL]
    assert (
        school["cluster_size"] == 2 and school["cluster_id"] == school["id"] and EDITED_SCHOOL not in by_url
    )
    assert all(
        row["cluster_size"] == 1 and row["cluster_id"] == row["id"] for row in documents if row is not school
    )
    for shard in out.glob("documents-*.parquet"):
        ids = pq.read_table(shard, columns=["id"]).column("id").to_pylist()
        assert ids == sorted(ids)


def test_sample_dropped_documents_carry_their_reason(sample_build):
    out, stats = sample_build
    dropped = _dropped(out)
    by_stage: dict[str, int] = {}
    for record in dropped:
        by_stage[record["stage"]] = by_stage.get(record["stage"], 0) + 1
    assert by_stage == {
        stage: sum(stats["dropped"][stage].values()) for stage in ("fetch", "filter", "dedup", "near_dedup")
    }
    duplicates = sorted((record for record in dropped if "duplicate_of" in record), key=lambda r: r["stage"])
    assert duplicates == [
        {
            "url": SYNDICATED,
            "stage": "dedup",
            "reason": "exact_duplicate",
            "duplicate_of": document_id(BRIDGE),
        },
        {
            "url": EDITED_SCHOOL,
            "stage": "near_dedup",
            "reason": "near_duplicate",
            "duplicate_of": document_id(SCHOOL),
        },
    ]


def test_multi_processing_and_parallel_extraction_give_the_same_shards(sample_build, tmp_path):
    out, stats = sample_build
    args = [*FNAPI, "--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    other = run(
        _sample_config(tmp_path, shards=ShardConfig(num_shards=2), extract=ExtractConfig(processes=2)), args
    )
    assert other["funnel"] == stats["funnel"] and other["dropped"] == stats["dropped"]
    for name in stats["shards"]:
        assert pq.read_table(tmp_path / name).equals(pq.read_table(out / name))


def test_an_output_directory_with_a_build_is_refused(sample_build):
    out, _ = sample_build
    with pytest.raises(FileExistsError, match="already holds a build"):
        run(_sample_config(out), FNAPI)


# ---------------------------------------------------------------------- a live crawl

HOSTILE = {
    "/404": "http_not_found",
    "/500": "http_server_error",
    "/slow": "timeout",
    "/drip": "deadline",
    "/endless": "too_large",
    "/image.html": "not_html",
    "/no-type-text": "not_html",
    "/redirect-loop": "too_many_redirects",
    "/private/page.html": "robots_denied",
}
LIVE_FETCH = FetchConfig(
    allow_private=True,
    read_timeout=0.5,
    deadline=2.0,
    max_bytes=1_000_000,
    retries=1,
    backoff=0.05,
    host_delay=0.2,
)


def _live_dump(path: Path, urls: list[str]) -> None:
    lines = [
        json.dumps(
            {"id": f"L{i}", "url": url, "score": 3 + i, "created_utc": 1500000000 + i, "subreddit": "test"}
        )
        for i, url in enumerate(urls)
    ]
    path.write_bytes(zstandard.ZstdCompressor().compress("\n".join(lines).encode()))


def test_live_crawl_saved_to_warc_replays_to_the_same_documents(tmp_path):
    """The sample's pages served by a local server (path = original host + path), next to a second host
    of hostile routes: every failure is counted by its reason, the good pages become the same documents
    as the WARC replay gives, and --save-warc writes a crawl that replays to the same documents again."""
    articles = [
        page for page in make_sample.sample_pages() if page.url == page.final_url and not page_rejection(page)
    ]
    routes = {
        "/" + page.url.split("://", 1)[1]: Response(page.status, tuple(page.headers), page.body)
        for page in articles
    }
    # A 429 pauses its whole host (Retry-After: 3600), so it gets a host of its own.
    with WebServer(routes) as site, WebServer() as hostile, WebServer() as limited:
        urls = [site.url(path) for path in routes] + [hostile.url(path) for path in HOSTILE]
        urls.append(limited.url("/429"))
        _live_dump(tmp_path / "RS_live.zst", urls)
        live = tmp_path / "live"
        stats = run(
            BuildConfig(
                submissions=(str(tmp_path / "RS_live.zst"),),
                out=str(live),
                fetch=replace(LIVE_FETCH, threads=8, save_warc=True),
                extract=ExtractConfig(time_limit=10),
            ),
            FNAPI,
        )
    expected_drops: dict[str, int] = {}
    for reason in [*HOSTILE.values(), "http_rate_limited"]:
        expected_drops[reason] = expected_drops.get(reason, 0) + 1
    assert stats["dropped"]["fetch"] == expected_drops
    assert stats["funnel"]["pages_fetched"] == len(articles)
    assert_funnel_adds_up(stats)
    assert_stages_conserve(stats)
    assert max_in_flight(site.requests) == 1  # (hostile routes keep answering after the client gave up)
    gaps = min_start_gap(site.requests), min_start_gap(hostile.requests)
    # The server stamps a request when its thread gets to it, late on a busy machine: allow half the delay.
    assert min(gaps) >= 0.5 * LIVE_FETCH.host_delay
    assert [r.path for r in site.requests].count("/robots.txt") == 1

    documents = _documents(live)
    assert {row["fetch_source"] for row in documents} == {"live"}
    replayed = tmp_path / "replayed"
    again = run(
        BuildConfig(
            submissions=(str(tmp_path / "RS_live.zst"),),
            warc=(str(live / "warc" / "*.warc.gz"),),
            out=str(replayed),
        ),
        FNAPI,
    )
    assert again["funnel"]["pages_fetched"] == len(articles)
    assert again["dropped"]["fetch"] == {"not_in_warc": len(HOSTILE) + 1}  # and the 429
    assert [(row["url"], row["text"], row["title"]) for row in _documents(replayed)] == [
        (row["url"], row["text"], row["title"]) for row in documents
    ]
    assert {row["fetch_source"] for row in _documents(replayed)} == {"warc"}
