"""The funnel, the drops and the conservation check of stats.json, derived from the stage declarations."""

from __future__ import annotations

import pytest

from pipelines.metrics import count_dropped
from webtext.stages import FETCH, LINKS, PIPELINE, STAGES
from webtext.stats import ConservationError, build_stats, check_conservation, format_table

SAMPLE_COUNTERS = {
    "dedup_dropped_exact_duplicate": 1, "documents_extracted": 22, "documents_near_unique": 14,
    "documents_passed_filters": 16, "documents_unique": 15, "documents_written": 14, "dump_files": 3,
    "fetch_dropped_http_not_found": 1, "fetch_dropped_http_redirect": 1, "fetch_dropped_not_html": 1,
    "fetch_dropped_not_in_warc": 1, "filter_dropped_bullet_lines": 1, "filter_dropped_language": 3,
    "filter_dropped_too_short": 1, "filter_dropped_top_ngram": 1, "links_dropped_after_window": 2,
    "links_dropped_low_score": 1, "links_dropped_media_host": 2, "links_dropped_non_document_extension": 1,
    "links_dropped_over_18": 1, "links_dropped_reddit_hosted": 2, "links_dropped_self_post": 2,
    "links_dropped_wikipedia": 1, "links_kept": 28, "near_dedup_clusters": 1,
    "near_dedup_dropped_near_duplicate": 1, "near_dedup_verified_pairs": 7, "pages_fetched": 22,
    "shards_written": 1, "submission_lines": 43, "submissions": 40, "submissions_dropped_duplicate": 1,
    "submissions_dropped_invalid_json": 1, "submissions_dropped_missing_id": 1, "unique_urls": 26,
    "warc_dropped_warc_bad_record": 1, "warc_dropped_warc_revisit": 1, "warc_dropped_warc_truncated": 1,
    "warc_files": 2, "warc_records": 26, "warc_records_unused": 1,
}  # fmt: skip
"""The counters of the bundled sample's build."""

SAMPLE_TABLE = """\
submission lines read            43
unique submissions               40   dropped: duplicate 1, invalid_json 1, missing_id 1
link posts                       38
links kept                       28   dropped: after_window 2, low_score 1, media_host 2, non_document_extension 1, over_18 1, reddit_hosted 2, self_post 2, wikipedia 1
unique URLs                      26
pages fetched                    22   dropped: http_not_found 1, http_redirect 1, not_html 1, not_in_warc 1
documents extracted              22
passed filters                   16   dropped: bullet_lines 1, language 3, too_short 1, top_ngram 1
unique documents                 15   dropped: exact_duplicate 1
after near-dedup                 14   dropped: near_duplicate 1
documents written                14
WARC records skipped              3   warc_bad_record 1, warc_revisit 1, warc_truncated 1"""  # noqa: E501


def test_stages_are_declared_once_each():
    names = [stage.name for stage in STAGES]
    assert len(set(names)) == len(names)
    counters = [stage.passed for stage in STAGES] + [c for stage in STAGES for c in stage.counters]
    assert len(set(counters)) == len(counters)
    assert all(stage.entered is None for stage in PIPELINE[1:]) and PIPELINE[0].entered


def test_an_undeclared_reason_is_a_programming_error():
    assert LINKS.drop_counter("wikipedia") == "links_dropped_wikipedia"
    with pytest.raises(ValueError, match="stage links declares no drop reason 'timeout'"):
        LINKS.drop_counter("timeout")  # a fetch reason
    with pytest.raises(ValueError, match="fetch"):
        count_dropped(FETCH, "not_a_reason")


def test_the_funnel_drops_and_table_derive_from_the_stages():
    stats = build_stats(SAMPLE_COUNTERS)
    assert stats["funnel"] == {
        "submission_lines": 43, "submissions": 40, "link_posts": 38, "links_kept": 28, "unique_urls": 26,
        "pages_fetched": 22, "documents_extracted": 22, "documents_passed_filters": 16,
        "documents_unique": 15, "documents_near_unique": 14, "documents_written": 14,
    }  # fmt: skip
    assert sorted(stats["dropped"]) == list(stats["dropped"])  # by stage, then by reason
    assert stats["dropped"]["fetch"] == dict.fromkeys(
        ["http_not_found", "http_redirect", "not_html", "not_in_warc"], 1
    )
    assert format_table(stats) == SAMPLE_TABLE
    truncated = format_table(build_stats({**SAMPLE_COUNTERS, "dump_files_truncated": 2}))
    assert truncated.splitlines()[1].endswith("missing_id 1, truncated dump files 2")


def test_every_stage_of_the_sample_conserves_its_documents():
    stats = build_stats(SAMPLE_COUNTERS)
    assert stats["conservation"]["fetch"] == {"in": 26, "passed": 22, "dropped": 4, "ok": True}
    # Every stage in order but unique URLs, which merge links.
    stages = ["submissions", "links", "fetch", "extract", "filter", "dedup", "near_dedup", "write"]
    assert list(stats["conservation"]) == stages
    assert all(check["ok"] for check in stats["conservation"].values())
    check_conservation(stats)


def test_a_stage_that_loses_documents_fails_the_check_with_its_numbers():
    lost = {**SAMPLE_COUNTERS, "fetch_dropped_not_html": 0}  # a page neither fetched nor dropped
    stats = build_stats(lost)
    assert stats["conservation"]["fetch"] == {"in": 26, "passed": 22, "dropped": 3, "ok": False}
    assert [name for name, check in stats["conservation"].items() if not check["ok"]] == ["fetch"]
    with pytest.raises(ConservationError) as error:
        check_conservation(stats)
    assert str(error.value) == "the build's counters do not add up at fetch: 26 in, 22 passed + 3 dropped"
    assert isinstance(error.value, RuntimeError)
    made_up = build_stats({**SAMPLE_COUNTERS, "documents_written": 15})  # and a document out of nowhere
    with pytest.raises(ConservationError, match="at write: 14 in, 15 passed \\+ 0 dropped$"):
        check_conservation(made_up)
