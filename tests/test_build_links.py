"""ReadSubmissions | SelectLinks | DedupURLs as a real Beam pipeline on dump files of mixed eras."""

from __future__ import annotations

import bz2
import gzip
import json
import random
import time
from datetime import date

import apache_beam as beam
import pytest
import zstandard
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import BeamAssertException, assert_that, equal_to

from pipelines.metrics import read_counters
from pipelines.submissions import DedupURLs, MergeProvenance, ReadSubmissions, SelectLinks
from webtext.links import LinkRules, Provenance, unix_time

JUNE_2017 = unix_time("2017-06-01")


def _line(**fields) -> str:
    record = {
        "subreddit": "science",
        "score": 5,
        "created_utc": JUNE_2017,
        "is_self": False,
        "over_18": False,
    }
    record.update(fields)
    return json.dumps(record)


FILES = {
    "RS_2017-06.zst": [
        _line(id="s1", url="https://Example.com/a?utm_source=reddit", score=5),
        _line(
            id="s2",
            url="https://example.com:443/a#comments",
            score=10,
            subreddit="news",
            created_utc=str(JUNE_2017 - 5),
        ),
        _line(id="s3", url="https://www.reddit.com/r/science/comments/x/", is_self=True),
        "{broken json",
        _line(url="https://no-id.example.org/"),
    ],
    "RS_2017-07.bz2": [
        _line(id="s4", url="https://i.redd.it/cat.jpg"),
        _line(id="s5", url="https://example.org/low", score=1),
        _line(id="s6", url="https://en.wikipedia.org/wiki/Reddit"),
        "",
    ],
    "RS_2018-01.gz": [
        _line(id="s7", url="https://example.org/late", created_utc=float(unix_time("2018-01-02"))),
        _line(id="s8", url="https://blog.example.net/post?b=2&amp;a=1", created_utc=JUNE_2017 + 0.5),
        _line(id="s1", url="https://Example.com/a?utm_source=reddit", score=4),  # the same submission again
    ],
}
COMPRESS = {".zst": zstandard.ZstdCompressor().compress, ".bz2": bz2.compress, ".gz": gzip.compress}


def test_links_funnel_on_dump_files(tmp_path):
    for name, lines in FILES.items():
        data = ("\n".join(lines) + "\n").encode()
        (tmp_path / name).write_bytes(COMPRESS["." + name.rsplit(".", 1)[1]](data))
    rules = LinkRules(before=date(2018, 1, 1))

    pipeline = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))
    urls = (
        pipeline
        | ReadSubmissions([str(tmp_path / "RS_*"), str(tmp_path / "RS_2017-06.zst")])
        | SelectLinks(rules)
        | DedupURLs()
    )
    expected = [
        ("https://example.com/a", Provenance(("s1", "s2"), ("news", "science"), 15, 10, JUNE_2017 - 5, "s2")),
        ("https://blog.example.net/post?a=1&b=2", Provenance(("s8",), ("science",), 5, 5, JUNE_2017, "s8")),
    ]
    assert_that(urls, equal_to(expected))
    result = pipeline.run()
    result.wait_until_finish()

    counters = read_counters(result)
    assert counters == {
        "dump_files": 3,  # the file matched by two patterns is read once
        "submission_lines": 11,
        "submissions_dropped_duplicate": 1,
        "submissions_dropped_invalid_json": 1,
        "submissions_dropped_missing_id": 1,
        "submissions": 8,
        "links_dropped_self_post": 1,
        "links_dropped_reddit_hosted": 1,
        "links_dropped_low_score": 1,
        "links_dropped_wikipedia": 1,
        "links_dropped_after_window": 1,
        "links_kept": 3,
        "unique_urls": 2,
    }


def _more_than(n: int):
    def check(found):
        if found[0] <= n:
            raise BeamAssertException(f"expected more than {n} URLs, found {found}")

    return check


def _cut_zst(data: bytes) -> bytes:
    """Two frames (with checksums, as the zstd CLI writes), cut inside the second."""
    compress = zstandard.ZstdCompressor(write_checksum=True).compress
    half = data.index(b"\n", len(data) // 2) + 1
    first, second = compress(data[:half]), compress(data[half:])
    return first + second[: len(second) // 2]


CUTS = {".gz": lambda data: gzip.compress(data)[:-30], ".zst": _cut_zst}


@pytest.mark.parametrize("suffix", sorted(CUTS))
def test_truncated_dump_keeps_what_was_read_and_counts_it(tmp_path, suffix):
    data = ("\n".join(_line(id=f"t{i}", url=f"https://example.com/{i}") for i in range(200)) + "\n").encode()
    (tmp_path / f"RS_cut{suffix}").write_bytes(CUTS[suffix](data))
    pipeline = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))
    urls = pipeline | ReadSubmissions([str(tmp_path / "RS_cut*")]) | SelectLinks(LinkRules()) | DedupURLs()
    counts = urls | beam.combiners.Count.Globally()
    assert_that(counts, _more_than(90))
    result = pipeline.run()
    result.wait_until_finish()
    counters = read_counters(result)
    assert counters["dump_files_truncated"] == 1
    assert "submissions_dropped_invalid_json" not in counters  # the cut line is the damage, not a bad line


def test_json_nested_too_deeply_is_an_invalid_line_not_a_crash(tmp_path):
    lines = [
        _line(id="d1", url="https://example.com/d"),
        "[" * 100_000,
        _line(id="d2", url="https://a.example/"),
    ]
    (tmp_path / "RS_deep.bz2").write_bytes(bz2.compress("\n".join(lines).encode()))
    pipeline = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))
    urls = (
        pipeline | ReadSubmissions([str(tmp_path / "RS_deep.bz2")]) | SelectLinks(LinkRules()) | DedupURLs()
    )
    assert_that(urls | beam.Keys(), equal_to(["https://example.com/d", "https://a.example/"]))
    result = pipeline.run()
    result.wait_until_finish()
    counters = read_counters(result)
    assert (counters["submission_lines"], counters["submissions_dropped_invalid_json"]) == (3, 1)


def test_merge_provenance_is_linear_and_order_free():
    links = [
        Provenance((f"s{i}",), (f"r{i % 50}",), i % 7, i % 7, JUNE_2017 + i % 1000, f"s{i}")
        for i in range(20_000)
    ]
    combine = MergeProvenance()
    started = time.perf_counter()
    halves = [combine.create_accumulator(), combine.create_accumulator()]
    for i, link in enumerate(links):
        combine.add_input(halves[i % 2], link)
    merged = combine.extract_output(combine.merge_accumulators(halves))
    assert time.perf_counter() - started < 2.0  # the old tuple-rebuilding merge took ~175 s
    small = random.Random(1).sample(links, 30)
    expected = small[0]
    for link in small[1:]:
        expected = expected.merge(link)
    accumulator = combine.create_accumulator()
    for link in reversed(small):
        combine.add_input(accumulator, link)
    assert combine.extract_output(accumulator) == expected
    assert len(merged.submission_ids) == 20_000 and merged.first_submission_id == "s0"
    assert merged.score_sum == sum(i % 7 for i in range(20_000)) and len(merged.subreddits) == 50
