"""Documents -> the documents WebText keeps (FilterRules: language, length, the marks of junk), each
dropped one with the first rule it fails."""

from __future__ import annotations

from dataclasses import replace

import apache_beam as beam

from pipelines.metrics import count_passed
from pipelines.outputs import drop, with_dropped
from webtext.filters import FilterRules, filter_rejection, normalized_text_hash
from webtext.shards import Document
from webtext.stages import FILTER


def filter_document(document: Document, rules: FilterRules):
    """The document with its language and text hash, or dropped with the first rule it fails."""
    verdict = filter_rejection(document.text, rules)
    if verdict.reason is not None:
        yield drop(document.canonical_url, FILTER, verdict.reason)
        return
    count_passed(FILTER)
    yield replace(
        document,
        language=verdict.language,
        language_score=verdict.language_score,
        words=verdict.words,
        text_hash=normalized_text_hash(document.text),
    )


class Filter(beam.PTransform):
    def __init__(self, rules: FilterRules):
        super().__init__()
        self.rules = rules

    def expand(self, documents: beam.PCollection[Document]):
        return with_dropped(beam.FlatMap(filter_document, rules=self.rules), "Filter", documents)
