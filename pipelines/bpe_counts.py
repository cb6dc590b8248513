"""Count BPE pre-tokens with Apache Beam, for corpora too big to count on one machine.

Reads what `webtext bpe train` reads (text files, JSONL optionally compressed, Parquet shards) through
Beam's filesystems, so the same code runs on local files and on gs:// with Dataflow, and writes the
counts table `bpe.counts` defines as sharded Parquet. `webtext bpe train --counts 'OUT/counts-*.parquet'`
then runs only the merge loop.

    ReadDocuments -> CountPretokens -> WriteCounts

Documents are the unit, as in bpe/corpus.py: undecodable bytes become U+FFFD and are counted, never fatal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import PurePosixPath

import apache_beam as beam
import regex
from apache_beam.io.fileio import ReadableFile, ReadMatches
from apache_beam.io.filesystem import BeamIOError, CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import Metrics, MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms.window import GlobalWindows
from apache_beam.utils.windowed_value import WindowedValue

from bpe.compression import DECOMPRESSION_ERRORS
from bpe.corpus import FORMATS, CorpusError, decode_document, detect_format, document_bytes, read_documents
from bpe.counts import counts_schema
from bpe.encoding import replace_surrogates
from bpe.files import check_writable
from bpe.pretokenize import GPT2_PATTERN, Pretokenizer
from bpe.trainer import count_pieces
from pipelines.files import MatchPaths, run_pipeline

METRICS_NAMESPACE = "bpe_counts"
OUTPUT_PREFIX = "counts"
OUTPUT_SUFFIX = ".parquet"
MAX_BUNDLE_PIECES = 1 << 18
"""Unique pre-tokens a counting worker holds before it hands them on; bounds its memory."""

_files = Metrics.counter(METRICS_NAMESPACE, "files")
_documents = Metrics.counter(METRICS_NAMESPACE, "documents")
_bytes = Metrics.counter(METRICS_NAMESPACE, "bytes")
_replaced = Metrics.counter(METRICS_NAMESPACE, "documents_with_replaced_bytes")
_null_texts = Metrics.counter(METRICS_NAMESPACE, "null_texts_skipped")
_unique = Metrics.counter(METRICS_NAMESPACE, "unique_pretokens")


# ---------------------------------------------------------------------- reading


def file_format(path: str, fmt: str = "auto") -> str:
    """`fmt`, or the format `detect_format` reads off the name, with the error naming the full path."""
    if fmt != "auto":
        return fmt
    name = path.rstrip("/").rsplit("/", 1)[-1]
    try:
        return detect_format(PurePosixPath(name))  # only the name matters; a Path would fold gs:// to gs:/
    except CorpusError as error:
        raise CorpusError(path + str(error)[len(name) :]) from None


def check_inputs(inputs: Sequence[str], fmt: str = "auto") -> None:
    """Fail before any worker starts if a pattern matches nothing or a file's format is unknown."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    try:
        results = FileSystems.match(list(inputs))
    except BeamIOError as error:  # an OSError, which the command would take for the output's
        raise CorpusError(f"cannot list the inputs: {error}") from None
    for result in results:
        if not result.metadata_list:
            raise CorpusError(f"{result.pattern}: no files match")
        for metadata in result.metadata_list:
            file_format(metadata.path, fmt)


def read_file(file: ReadableFile, text_field: str = "text", fmt: str = "auto") -> Iterator[str]:
    """One file's documents, decoded; files, documents, bytes and null texts go to the pipeline's metrics."""
    path = file.metadata.path
    document_format = file_format(path, fmt)
    _files.inc()
    try:
        # Decompressed by bpe.corpus rather than by Beam, so a truncated file fails as it does locally.
        with file.open(compression_type=CompressionTypes.UNCOMPRESSED) as raw:
            for document in read_documents(raw, path, document_format, text_field):
                if document is None:
                    _null_texts.inc()
                else:
                    yield count_document(document)
    except DECOMPRESSION_ERRORS as error:
        raise CorpusError(f"{path}: cannot read ({type(error).__name__}: {error})") from error


def count_document(document: bytes | str) -> str:
    """Decode as bpe.corpus does, counting into the metrics. Lone surrogates from JSON escapes become
    U+FFFD, as the encoder does, since Parquet strings must be valid UTF-8."""
    text, replaced = decode_document(document)
    _documents.inc()
    _replaced.inc(int(replaced))
    _bytes.inc(document_bytes(document))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return replace_surrogates(text)
    return text


class ReadDocuments(beam.PTransform):
    """Files matching `inputs` (each read once, even if several patterns match it) -> their documents."""

    def __init__(self, inputs: Sequence[str], *, text_field: str = "text", fmt: str = "auto"):
        super().__init__()
        self.inputs = list(inputs)
        self.text_field = text_field
        self.fmt = fmt

    def expand(self, pipeline: beam.pvalue.PBegin) -> beam.PCollection[str]:
        return (
            pipeline
            | "Files" >> MatchPaths(self.inputs)
            | "Open" >> ReadMatches()
            | "Read" >> beam.FlatMap(read_file, text_field=self.text_field, fmt=self.fmt)
        )


# ---------------------------------------------------------------------- counting


class CountPiecesFn(beam.DoFn):
    """Sums a bundle's pre-tokens in one table and emits each unique piece once per bundle.

    One element per occurrence, or even per document, would cost more in Beam's per-element overhead than
    the pre-tokenizing itself. The table is flushed early past `max_pieces` entries to bound memory.
    """

    def __init__(self, pattern: str = GPT2_PATTERN, max_pieces: int = MAX_BUNDLE_PIECES):
        self.pattern = pattern
        self.max_pieces = max_pieces

    def setup(self) -> None:
        self._pretokenizer = Pretokenizer(self.pattern)

    def start_bundle(self) -> None:
        self._counts: Counter = Counter()

    def process(self, text: str) -> Iterator[tuple[str, int]]:
        count_pieces((text,), self._pretokenizer, self._counts)
        if len(self._counts) >= self.max_pieces:
            yield from self._counts.items()
            self._counts = Counter()

    def finish_bundle(self) -> Iterator[WindowedValue]:
        for item in self._counts.items():
            yield GlobalWindows.windowed_value(item)
        self._counts = Counter()


class CountPretokens(beam.PTransform):
    """Documents -> (pre-token, count) over the whole input; `sum` combines partial counts on each worker
    before the shuffle (combiner lifting)."""

    def __init__(self, pattern: str = GPT2_PATTERN):
        super().__init__()
        self.pattern = pattern

    def expand(self, documents: beam.PCollection[str]) -> beam.PCollection[tuple[str, int]]:
        return (
            documents
            | "CountPerBundle" >> beam.ParDo(CountPiecesFn(self.pattern))
            | "Sum" >> beam.CombinePerKey(sum)
        )


# ---------------------------------------------------------------------- writing


def as_row(item: tuple[str, int]) -> dict:
    _unique.inc()
    piece, count = item
    return {"piece": piece, "count": count}


class WriteCounts(beam.PTransform):
    """(pre-token, count) -> Parquet files `<prefix>-SSSSS-of-NNNNN.parquet` in `bpe.counts`'s schema."""

    def __init__(self, prefix: str, num_shards: int = 0):
        super().__init__()
        self.prefix = prefix
        self.num_shards = num_shards

    def expand(self, counts: beam.PCollection[tuple[str, int]]) -> beam.pvalue.PDone:
        return (
            counts
            | "Rows" >> beam.Map(as_row)
            | "Parquet"
            >> beam.io.WriteToParquet(
                self.prefix,
                schema=counts_schema(),
                codec="zstd",
                file_name_suffix=OUTPUT_SUFFIX,
                num_shards=self.num_shards,
            )
        )


# ---------------------------------------------------------------------- running


def split_args(items: Sequence[str]) -> tuple[list[str], list[str]]:
    """count-pretokens' INPUTS and Beam's options, which click leaves mixed: (inputs, options).

    Beam's parser tells an option that takes a value (`--project P`) from a flag followed by an input
    (`--save_main_session a.jsonl`). An option it does not know takes the next item as its value, as Beam
    reads it, so that `check_pipeline_args` reports the typo of `--shardz 3`, not a missing input `3`. (So
    does a flag of a runner whose options Beam learns only from the runner's module: none of Beam's own.)
    """
    parsers: list = []
    PipelineOptions([]).get_all_options(add_extra_args_fn=parsers.append)
    actions = parsers[0]._option_string_actions  # argparse's option table; it has no public view of it
    inputs: list[str] = []
    options: list[str] = []
    rest = list(items)
    while rest:
        item = rest.pop(0)
        if not item.startswith("-"):
            inputs.append(item)
            continue
        options.append(item)
        action = actions.get(item)
        takes_value = "=" not in item and (action is None or action.nargs != 0)
        if takes_value and rest and not rest[0].startswith("-"):
            options.append(rest.pop(0))
    return inputs, options


def run(
    inputs: Sequence[str],
    out: str,
    *,
    pattern: str = GPT2_PATTERN,
    text_field: str = "text",
    fmt: str = "auto",
    num_shards: int = 0,
    pipeline_args: Sequence[str] = (),
) -> dict:
    """Count the pre-tokens of `inputs` (files or globs, any Beam filesystem) into `out`/counts-*.parquet.

    `num_shards` 0 lets the runner choose; `pipeline_args` are Beam's options (--runner=..., --project=...).
    Returns the run's summary, read from its metrics. A local `out` that cannot be written raises OSError
    before the pipeline runs, and so does a write that fails while it runs.
    """
    check_inputs(inputs, fmt)
    try:
        regex.compile(pattern)
    except regex.error as error:
        raise ValueError(f"invalid pre-tokenizer pattern {pattern!r}: {error}") from None
    prefix = FileSystems.join(out, OUTPUT_PREFIX)
    output_glob = f"{prefix}-*{OUTPUT_SUFFIX}"
    if FileSystems.match([output_glob])[0].metadata_list:
        # Stale shards from an earlier run would be summed with the new ones by `bpe train --counts`.
        raise CorpusError(
            f"{out}: already holds {OUTPUT_PREFIX}-*{OUTPUT_SUFFIX} files; use an empty directory"
        )
    if FileSystems.get_scheme(out) is None:  # a local directory; remote ones are the runner's to check
        check_writable(out)
    pipeline = beam.Pipeline(options=PipelineOptions(list(pipeline_args)))
    (
        pipeline
        | "ReadDocuments" >> ReadDocuments(inputs, text_field=text_field, fmt=fmt)
        | "CountPretokens" >> CountPretokens(pattern)
        | "WriteCounts" >> WriteCounts(prefix, num_shards)
    )
    result = run_pipeline(pipeline)  # a step's OSError (a full disk) as one OSError
    summary = dict.fromkeys(
        (
            "files",
            "documents",
            "bytes",
            "documents_with_replaced_bytes",
            "null_texts_skipped",
            "unique_pretokens",
        ),
        0,
    )
    for counter in result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        summary[counter.key.metric.name] += value
    summary["outputs"] = sorted(
        metadata.path for metadata in FileSystems.match([output_glob])[0].metadata_list
    )
    return summary
