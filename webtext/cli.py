"""The `webtext` command. Subcommands import their heavy modules when they run, so `--help` is instant."""

from __future__ import annotations

import dataclasses
import importlib
import sys
from collections.abc import Iterator

import click

from model.tasks import LAMBADA_PROTOCOLS, TASKS

VOCAB_ENV = "WEBTEXT_VOCAB"
DEFAULT_VOCAB = "gpt2"  # bpe.registry.DEFAULT_ENCODING, spelled here: `webtext --help` loads no tokenizer
GPT2_VOCAB_SIZE = 50257


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="webtext")
def main() -> None:
    """Rebuild GPT-2's recipe: WebText on Apache Beam, byte-level BPE, and GPT-2 in PyTorch."""


@main.group("bpe")
def bpe_group() -> None:
    """GPT-2's byte-level BPE tokenizer: encode, decode, count."""


VOCAB_HELP = (
    "A packaged encoding (gpt2) or a vocabulary directory: encoder.json + vocab.bpe (GPT-2's files, "
    "`bpe train` output), or HF's tokenizer.json, or vocab.json + merges.txt."
)


def _vocab_option(function=None, *, model_default: bool = False):
    """--vocab: a packaged encoding's name or a directory; gpt2 by default, or the model's own vocabulary."""
    option = click.option(
        "--vocab",
        "vocab",
        default=None if model_default else DEFAULT_VOCAB,
        show_default=not model_default,
        envvar=VOCAB_ENV,
        show_envvar=True,
        help=VOCAB_HELP
        + (
            " Default: the vocabulary the model was trained with (recorded in the checkpoint), or the "
            "tokenizer files in --hf-dir, else gpt2."
            if model_default
            else ""
        ),
    )
    return option if function is None else option(function)


def _document_options(function):
    """--text-field and --format, for every command that reads documents (bpe.corpus's formats)."""
    function = click.option(
        "--format",
        "input_format",
        type=click.Choice(["auto", "text", "jsonl", "parquet"]),
        default="auto",
        show_default=True,
        help="auto: by suffix (.txt/.md/.rst, .jsonl/.ndjson[.gz|.zst|.xz|.bz2], .parquet).",
    )(function)
    return click.option(
        "--text-field", default="text", show_default=True, help="JSONL field / Parquet column with the text."
    )(function)


def _load(vocab: str):
    """The vocabulary --vocab names (a packaged encoding or a directory); a one-line error otherwise."""
    import bpe

    try:
        return bpe.resolve(vocab)
    except bpe.VocabFileError as error:
        raise click.ClickException(str(error)) from None


def _special_option(value: str):
    if value in ("all", "none"):
        return "all" if value == "all" else frozenset()
    return frozenset(filter(None, value.split(",")))


def _read_input(path: str) -> str:
    if path == "-":
        data = sys.stdin.buffer.read()
    else:
        with open(path, "rb") as stream:
            data = stream.read()
    text = data.decode("utf-8", "replace")
    if "\ufffd" in text and b"\xef\xbf\xbd" not in data:
        click.echo(f"warning: {path}: invalid UTF-8 bytes were replaced with U+FFFD", err=True)
    return text


def _beam_args(context: click.Context) -> list[str]:
    """The options a command left to Beam, checked against the runner named; FnApiRunner by default."""
    from pipelines.options import UnknownOptionsError, check_pipeline_args, with_local_runner

    args = list(context.args)
    try:
        check_pipeline_args(args)
    except UnknownOptionsError as error:
        raise click.UsageError(
            f"{error} (not a {context.info_name} option, and Beam doesn't know it for this runner)"
        ) from None
    return with_local_runner(args)


@bpe_group.command("encode")
@_vocab_option
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "npy"]),
    default="text",
    show_default=True,
    help="text: one line of space-separated ids per input; npy: one array of all inputs' ids (uint16 when they fit).",
)
@click.option(
    "--output", "-o", default="-", type=click.Path(dir_okay=False, allow_dash=True), help="Default: stdout."
)
@click.option(
    "--allowed-special",
    default="none",
    show_default=True,
    help="Special tokens recognised in the text: 'all', 'none', or a comma-separated list. Others raise an error.",
)
@click.option("--ordinary", is_flag=True, help="Encode special-token text as plain text (encode_ordinary).")
def bpe_encode(
    vocab: str, files: tuple[str, ...], output_format: str, output: str, allowed_special: str, ordinary: bool
) -> None:
    """Encode FILES (default: stdin) to token ids; each file is one text."""
    import numpy as np

    encoding = _load(vocab)
    try:
        encoded = [
            encoding.encode_ordinary(_read_input(path))
            if ordinary
            else encoding.encode(_read_input(path), allowed_special=_special_option(allowed_special))
            for path in files or ("-",)
        ]
    except ValueError as error:
        hint = "On the command line: --allowed-special all (or a comma-separated list), or --ordinary."
        raise click.ClickException(f"{error}\n{hint}") from None
    with click.open_file(output, "wb") as stream:
        if output_format == "npy":
            dtype = np.uint16 if encoding.n_vocab <= 1 << 16 else np.uint32
            np.save(stream, np.fromiter((i for ids in encoded for i in ids), dtype=dtype))
        else:
            stream.write("".join(" ".join(map(str, ids)) + "\n" for ids in encoded).encode())


@bpe_group.command("decode")
@_vocab_option
@click.argument("file", default="-", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option(
    "--format", "input_format", type=click.Choice(["text", "npy"]), default="text", show_default=True
)
@click.option(
    "--output", "-o", default="-", type=click.Path(dir_okay=False, allow_dash=True), help="Default: stdout."
)
def bpe_decode(vocab: str, file: str, input_format: str, output: str) -> None:
    """Decode token ids (whitespace-separated text, or a .npy array) back to the exact bytes."""
    import numpy as np

    encoding = _load(vocab)
    if input_format == "npy":
        try:
            with click.open_file(file, "rb") as stream:
                ids = np.load(stream).tolist()
        except ValueError as error:
            raise click.ClickException(f"{file}: not a .npy array of token ids ({error})") from None
    else:
        words = _read_input(file).split()
        try:
            ids = [int(word) for word in words]
        except ValueError as error:
            raise click.ClickException(f"{file}: token ids must be integers ({error})") from None
    try:
        data = encoding.decode_bytes(ids)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    with click.open_file(output, "wb") as stream:
        stream.write(data)


@bpe_group.command("count")
@_vocab_option
@click.argument("inputs", nargs=-1, required=True)
@_document_options
@click.option("--workers", type=int, default=None, help="Encoding processes (default: one per core).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def bpe_count(
    vocab: str, inputs: tuple[str, ...], text_field: str, input_format: str, workers, as_json: bool
) -> None:
    """Count documents, bytes and tokens in INPUTS (files, directories, globs); report bytes/token."""
    import json
    import time

    from tqdm import tqdm

    from bpe.corpus import CorpusError, CorpusStats, iter_documents

    encoding = _load(vocab)
    stats = CorpusStats()
    tokens = 0
    started = time.perf_counter()
    batch: list[str] = []
    batch_chars = 0
    try:
        with tqdm(unit="doc", desc="encoding", disable=None, file=sys.stderr) as progress:
            for text in iter_documents(inputs, text_field=text_field, fmt=input_format, stats=stats):
                batch.append(text)
                batch_chars += len(text)
                if batch_chars >= 1 << 23:
                    tokens += sum(map(len, encoding.encode_ordinary_batch(batch, num_workers=workers)))
                    progress.update(len(batch))
                    batch, batch_chars = [], 0
            tokens += sum(map(len, encoding.encode_ordinary_batch(batch, num_workers=workers)))
            progress.update(len(batch))
    except CorpusError as error:
        raise click.ClickException(str(error)) from None
    seconds = time.perf_counter() - started
    summary = {
        "files": stats.files,
        "documents": stats.documents,
        "bytes": stats.bytes,
        "tokens": tokens,
        "bytes_per_token": round(stats.bytes / tokens, 4) if tokens else None,
        "documents_with_replaced_bytes": stats.documents_with_replaced_bytes,
        "seconds": round(seconds, 3),
    }
    if as_json:
        click.echo(json.dumps(summary))
        return
    width = max(map(len, summary))
    for key, value in summary.items():
        click.echo(f"{key:<{width}}  {value:,}" if isinstance(value, int) else f"{key:<{width}}  {value}")


@bpe_group.command("train")
@click.argument("inputs", nargs=-1)
@click.option(
    "--out", required=True, type=click.Path(file_okay=False), help="Directory for the vocabulary files."
)
@click.option(
    "--vocab-size", default=50257, show_default=True, help="All tokens: 256 bytes + merges + specials."
)
@click.option("--min-frequency", default=2, show_default=True, help="Stop when no pair occurs this often.")
@click.option(
    "--special-token",
    "special_tokens",
    multiple=True,
    default=("<|endoftext|>",),
    show_default=True,
    help="Repeat for several; they take the last ids.",
)
@click.option("--counts", "counts_paths", multiple=True, help="Pre-token counts (Parquet) instead of INPUTS.")
@click.option("--save-counts", type=click.Path(dir_okay=False), help="Also write the pre-token counts here.")
@_document_options
@click.option("--workers", type=int, default=None, help="Counting processes (default: one per core).")
@click.option("--name", default=None, help="Name of the encoding (default: the output directory's name).")
@click.option(
    "--pattern",
    default=None,
    help="Pre-tokenizer regex (default: GPT-2's; with --counts, the one they used).",
)
def bpe_train(
    inputs,
    out,
    vocab_size,
    min_frequency,
    special_tokens,
    counts_paths,
    save_counts,
    text_field,
    input_format,
    workers,
    name,
    pattern,
) -> None:
    """Train a byte-level BPE vocabulary on INPUTS (text, JSONL, Parquet shards; files, directories, globs).

    Writes encoder.json + vocab.bpe (GPT-2's format, loadable by `bpe.load` and tiktoken) and HF's
    tokenizer.json into --out, with training.json holding the run's summary.
    """
    import json
    import warnings
    from pathlib import Path

    import regex

    from bpe.corpus import CorpusError
    from bpe.counts import read_counts, write_counts
    from bpe.pretokenize import GPT2_PATTERN
    from bpe.trainer import TrainStats, count_pretokens, train_from_counts

    if bool(inputs) == bool(counts_paths):
        raise click.UsageError("give either INPUTS to count, or --counts files from an earlier count")
    stats = TrainStats()
    try:
        if counts_paths:
            counts = read_counts(counts_paths)
            stats.unique_pretokens = len(counts)
        else:
            counts = count_pretokens(
                inputs,
                pattern=pattern or GPT2_PATTERN,
                text_field=text_field,
                fmt=input_format,
                num_workers=workers,
                progress=True,
                stats=stats,
            )
        if save_counts:
            write_counts(save_counts, counts)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the same words are printed as a note below
            encoding = train_from_counts(
                counts,
                vocab_size,
                special_tokens=special_tokens,
                min_frequency=min_frequency,
                pattern=pattern or GPT2_PATTERN,
                name=name or Path(out).name,
                progress=True,
                stats=stats,
            )
    except (CorpusError, ValueError, regex.error) as error:
        raise click.ClickException(str(error)) from None
    encoding.save(out)
    summary = stats.as_dict()
    (Path(out) / "training.json").write_text(json.dumps(summary, indent=2) + "\n")
    source = (
        f"counts from {', '.join(counts_paths)}"
        if counts_paths
        else f"{stats.bytes_read:,} bytes in {stats.documents:,} documents ({stats.files} files), "
        f"counted in {stats.count_seconds:.1f} s"
    )
    click.echo(
        f"read {source}; {stats.unique_pretokens:,} unique pre-tokens; {stats.merges:,} merges -> "
        f"{stats.vocab_size:,} tokens in {stats.merge_seconds:.1f} s; peak memory {stats.peak_memory_mb:,.0f} MB; "
        f"wrote {out}"
    )
    for note in stats.notes:
        click.echo(f"note: {note}", err=True)


@bpe_group.command("count-pretokens", context_settings={"ignore_unknown_options": True})
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "--out", required=True, help="Directory for counts-*.parquet (local or any Beam filesystem, e.g. gs://)."
)
@_document_options
@click.option("--shards", default=0, show_default=True, help="Output files; 0 lets the runner choose.")
@click.option("--pattern", default=None, help="Pre-tokenizer regex (default: GPT-2's).")
def bpe_count_pretokens(inputs, out, text_field, input_format, shards, pattern) -> None:
    """Count pre-tokens in INPUTS (files, globs; DIR/** for a tree) with Apache Beam, for `bpe train --counts`.

    Other options go to Beam, written as --name=value: e.g. --runner=DataflowRunner --project=... The
    default runner is the local FnApiRunner (--direct_num_workers=N --direct_running_mode=multi_processing
    to use N cores). Then: webtext bpe train --counts 'OUT/counts-*.parquet' --out VOCAB_DIR.
    """
    from bpe.corpus import CorpusError
    from bpe.pretokenize import GPT2_PATTERN
    from pipelines import bpe_counts
    from pipelines.options import with_local_runner

    # Unknown options land among INPUTS (click's ignore_unknown_options); they are Beam's.
    pipeline_args = [item for item in inputs if item.startswith("-")]
    paths = [item for item in inputs if not item.startswith("-")]
    if not paths:
        raise click.UsageError("no INPUTS given")
    pipeline_args = with_local_runner(pipeline_args)
    try:
        summary = bpe_counts.run(
            paths,
            out,
            pattern=pattern or GPT2_PATTERN,
            text_field=text_field,
            fmt=input_format,
            num_shards=shards,
            pipeline_args=pipeline_args,
        )
    except (CorpusError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        f"read {summary['bytes']:,} bytes in {summary['documents']:,} documents ({summary['files']} files, "
        f"{summary['documents_with_replaced_bytes']:,} with invalid UTF-8 replaced); "
        f"{summary['unique_pretokens']:,} unique pre-tokens; wrote {len(summary['outputs'])} files to {out}"
    )


# ---------------------------------------------------------------------- build


def _as_text(value) -> str:
    """A list-valued default as an option's text: "en,fr", or "2:0.2,3:0.18" for (n, limit) pairs."""
    items = sorted(value) if isinstance(value, frozenset) else value
    return ",".join(":".join(map(str, item)) if isinstance(item, tuple) else str(item) for item in items)


def _from_text(text: str, default):
    """The inverse of `_as_text`, typed like `default`."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if isinstance(default, frozenset):
        return frozenset(items)
    if default and isinstance(default[0], tuple):
        try:
            return tuple((int(n), float(limit)) for n, limit in (item.split(":") for item in items))
        except ValueError:
            raise click.BadParameter(f"{text!r}: expected n:limit pairs, e.g. {_as_text(default)}") from None
    return tuple(items)


CONFIGS = (
    ("webtext.fetch.FetchConfig", ""),
    ("webtext.extract.ExtractConfig", "extract-"),
    ("webtext.filters.FilterRules", ""),
    ("webtext.near_dedup.NearDedupConfig", "minhash-"),
)
"""The config dataclasses whose every field is an option of `build`, and the prefix of its name."""


def _config_fields(path: str, prefix: str) -> Iterator[tuple[str, str, object]]:
    """(option name, field name, default) for every public field of the config class at `path`."""
    module, _, name = path.rpartition(".")
    config_class = getattr(importlib.import_module(module), name)
    defaults = config_class()
    for field in dataclasses.fields(config_class):
        if not field.name.startswith("_"):
            yield prefix + field.name.replace("_", "-"), field.name, getattr(defaults, field.name)


def _config(path: str, prefix: str, values: dict):
    """The config built from the options `ConfigOptionsCommand` added (taken out of `values`)."""
    module, _, name = path.rpartition(".")
    chosen = {}
    for option, field, default in _config_fields(path, prefix):
        value = values.pop(option.replace("-", "_"))
        chosen[field] = _from_text(value, default) if isinstance(default, (tuple, frozenset)) else value
    return getattr(importlib.import_module(module), name)(**chosen)


class ConfigOptionsCommand(click.Command):
    """A command with one option per field of the CONFIGS dataclasses, defaults taken from them.

    The options are made when the command parses or shows its help, not when `webtext` starts: the
    classes live beside trafilatura, numpy and urllib3, which `webtext --help` must not import.
    """

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        if not any(getattr(param, "from_config", False) for param in self.params):
            for path, prefix in CONFIGS:
                for option, field, default in _config_fields(path, prefix):
                    help_text = f"{path.rpartition('.')[2]}.{field}"
                    if isinstance(default, bool):
                        param = click.Option([f"--{option}/--no-{option}"], default=default, help=help_text)
                    elif isinstance(default, (tuple, frozenset)):
                        param = click.Option(
                            [f"--{option}"], default=_as_text(default), help=f"{help_text} (comma-separated)"
                        )
                    else:
                        param = click.Option(
                            [f"--{option}"], type=type(default), default=default, help=help_text
                        )
                    param.show_default = True
                    param.from_config = True
                    self.params.append(param)
        return super().get_params(ctx)


@main.command(
    "build",
    cls=ConfigOptionsCommand,
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.option(
    "--submissions",
    "submissions",
    multiple=True,
    required=True,
    help="Pushshift dump files (globs; any Beam filesystem); repeatable.",
)
@click.option(
    "--out", required=True, help="Output directory for shards and stats.json (local or e.g. gs://)."
)
@click.option(
    "--warc",
    "warc",
    multiple=True,
    help="Replay pages from these WARC files (globs) instead of fetching live.",
)
@click.option(
    "--fetch",
    "fetch_mode",
    type=click.Choice(["live", "warc"]),
    default=None,
    help="Default: warc when --warc is given, else live.",
)
@click.option("--save-warc", is_flag=True, help="Write what a live crawl fetched to OUT/warc/*.warc.gz.")
@click.option("--fetch-threads", default=32, show_default=True, help="Requests in flight per worker.")
@click.option(
    "--max-urls-per-host",
    default=0,
    show_default=True,
    help="Fetch at most this many URLs of one host (the best-voted; the rest: host_url_cap); 0: all.",
)
@click.option("--min-score", default=3, show_default=True, help="Minimum Reddit karma of a submission.")
@click.option(
    "--before",
    default=None,
    metavar="YYYY-MM-DD",
    help="Only submissions before this day (2018-01-01: the paper).",
)
@click.option("--after", default=None, metavar="YYYY-MM-DD", help="Only submissions from this day on.")
@click.option("--allow-over-18", is_flag=True, help="Keep submissions marked NSFW.")
@click.option(
    "--blocked-subreddits",
    type=click.Path(exists=True, dir_okay=False),
    help="File of subreddit names to skip, one per line.",
)
@click.option(
    "--block-host", multiple=True, help="Also drop links to this host and its subdomains; repeatable."
)
@click.option("--keep-reddit-hosted", is_flag=True, help="Keep links to Reddit itself (dropped by default).")
@click.option(
    "--keep-non-documents", is_flag=True, help="Keep links ending in image/video/archive extensions."
)
@click.option(
    "--keep-media-hosts", is_flag=True, help="Keep links to image/video hosts (imgur, youtube, ...)."
)
@click.option("--keep-wikipedia", is_flag=True, help="Keep Wikipedia links (the paper removed them).")
@click.option(
    "--near-dedup/--no-near-dedup",
    default=True,
    show_default=True,
    help="Remove near duplicates with MinHash LSH (the --minhash-* options).",
)
@click.option(
    "--components-rounds",
    default=20,
    show_default=True,
    help="Rounds of connected components for near-duplicate clusters (counter components_unconverged_edges "
    "> 0 means too few).",
)
@click.option("--num-shards", default=0, show_default=True, help="Output shards; 0: by --shard-size-mb.")
@click.option("--shard-size-mb", default=256, show_default=True, help="Target text size of a shard.")
@click.option(
    "--write-dropped", is_flag=True, help="Write every dropped document with its reason to OUT/dropped/."
)
@click.pass_context
def build(context: click.Context, **values) -> None:
    """Build WebText: Reddit dumps -> links -> fetch or WARC -> extract -> filter -> dedup -> Parquet shards.

    Other options go to Beam (--runner DataflowRunner --project ... --region ... --temp_location gs://...);
    the default runner is the local FnApiRunner (add --direct_num_workers=N
    --direct_running_mode=multi_processing to use N cores). Prints the funnel and writes OUT/stats.json.
    """
    from webtext.links import LinkRules, unix_time

    fetch, extract, filters, near_dedup = (_config(path, prefix, values) for path, prefix in CONFIGS)
    mode = values["fetch_mode"] or ("warc" if values["warc"] else "live")
    if (mode == "warc") != bool(values["warc"]):
        raise click.UsageError("--fetch warc needs --warc GLOB; --fetch live can't be combined with --warc")
    if values["save_warc"] and mode == "warc":
        raise click.UsageError(
            "--save-warc saves a live crawl; with --warc the pages are in WARC files already"
        )
    try:
        before, after = (unix_time(values[key]) if values[key] else None for key in ("before", "after"))
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--before/--after") from None
    blocked = frozenset()
    if values["blocked_subreddits"]:
        with open(values["blocked_subreddits"], encoding="utf-8") as lines:
            blocked = frozenset(
                line.strip().lower() for line in lines if line.strip() and not line.startswith("#")
            )
    links = LinkRules(
        min_score=values["min_score"],
        allow_over_18=values["allow_over_18"],
        after=after,
        before=before,
        blocked_subreddits=blocked,
        drop_reddit_hosted=not values["keep_reddit_hosted"],
        drop_non_documents=not values["keep_non_documents"],
        drop_media_hosts=not values["keep_media_hosts"],
        drop_wikipedia=not values["keep_wikipedia"],
        extra_blocked_hosts=frozenset(host.lower() for host in values["block_host"]),
    )
    pipeline_args = _beam_args(context)

    from pipelines.webtext_build import BuildConfig, run
    from webtext.stats import format_table

    config = BuildConfig(
        submissions=values["submissions"],
        out=values["out"],
        warc=values["warc"],
        links=links,
        fetch=fetch,
        fetch_threads=values["fetch_threads"],
        max_urls_per_host=values["max_urls_per_host"],
        extract=extract,
        filters=filters,
        near_dedup=near_dedup if values["near_dedup"] else None,
        components_rounds=values["components_rounds"],
        num_shards=values["num_shards"],
        shard_bytes=values["shard_size_mb"] << 20,
        save_warc=values["save_warc"],
        write_dropped=values["write_dropped"],
    )
    try:
        stats = run(config, pipeline_args)
    except OSError as error:  # no dumps, or an output directory that already holds a build
        raise click.ClickException(str(error)) from None
    click.echo(format_table(stats))
    if stats["counters"].get("components_unconverged_edges"):
        click.echo(
            "warning: near-duplicate clusters did not converge in --components-rounds "
            f"{values['components_rounds']}; some clusters may be split: raise it",
            err=True,
        )
    click.echo(
        f"wrote {stats['funnel']['documents_written']:,} documents in {len(stats['shards'])} shard(s) and "
        f"stats.json to {values['out']} in {stats['seconds']:.0f} s"
    )


# ---------------------------------------------------------------------- tokenize


@main.command("tokenize", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option(
    "--shards", required=True, help="A `webtext build` output directory (documents-*.parquet; or gs://...)."
)
@_vocab_option
@click.option("--out", required=True, help="Directory for the token shards and tokenize.json (or gs://...).")
@click.option(
    "--shard-tokens", default=100_000_000, show_default=True, help="Tokens per shard (the last: fewer)."
)
@click.option(
    "--val-fraction",
    default=0.01,
    show_default=True,
    help="Documents whose id hash falls below this fraction form the val split (at least one if > 0).",
)
@click.pass_context
def tokenize(
    context: click.Context, shards: str, vocab: str, out: str, shard_tokens: int, val_fraction: float
):
    """Tokenize a build's documents into llm.c's token shards: OUT/webtext_{train,val}_NNNNNN.bin.

    Each document is <|endoftext|> then its tokens, in id order; the files load in llm.c and
    modded-nanogpt as they are. Other options go to Beam, as for `build` (default runner: the local
    FnApiRunner; --direct_num_workers=N --direct_running_mode=multi_processing to use N cores).
    """
    pipeline_args = _beam_args(context)

    from pipelines.tokenize import run

    try:
        summary = run(
            shards,
            vocab,
            out,
            shard_tokens=shard_tokens,
            val_fraction=val_fraction,
            pipeline_args=pipeline_args,
        )
    except (OSError, ValueError) as error:  # bpe.VocabFileError is a ValueError
        raise click.ClickException(str(error)) from None
    click.echo(
        ", ".join(
            f"{split}: {summary['documents'][split]:,} document(s), {summary['tokens'][split]:,} tokens in "
            f"{len(summary['shards'][split])} shard(s)"
            for split in ("train", "val")
        )
        + f"; wrote them and tokenize.json to {out} in {summary['seconds']:.0f} s"
    )


# ---------------------------------------------------------------------- train


@main.command("train")
@click.option(
    "--data",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="A `tokenize` output directory.",
)
@click.option(
    "--out", required=True, type=click.Path(file_okay=False), help="For checkpoint.pt and the logs."
)
@click.option("--model", default="124M", show_default=True, help="GPT-2 size: 124M, 355M, 774M or 1558M.")
@click.option("--n-layer", type=int, default=None, help="Overrides the size's layer count.")
@click.option("--n-head", type=int, default=None, help="Overrides the size's head count.")
@click.option("--n-embd", type=int, default=None, help="Overrides the size's width.")
@click.option(
    "--vocab-size",
    type=int,
    default=None,
    help="Default: the size of the vocabulary the shards were made with (DATA/tokenize.json); 50257 (GPT-2's) "
    "for shards without one.",
)
@click.option("--batch-size", default=16, show_default=True, help="Sequences per micro batch per process.")
@click.option("--seq-len", default=1024, show_default=True, help="Tokens per sequence (and the context).")
@click.option(
    "--total-batch-tokens",
    default=524_288,
    show_default=True,
    help="Tokens per optimizer step; the rest is gradient accumulation.",
)
@click.option("--max-steps", default=19_073, show_default=True)
@click.option(
    "--stop-step", type=int, default=None, help="End this run there; --resume goes on to --max-steps."
)
@click.option("--lr", default=6e-4, show_default=True, help="Peak learning rate; cosine decay to lr/10.")
@click.option("--warmup-steps", default=715, show_default=True)
@click.option("--val-interval", default=250, show_default=True, help="Steps between val losses; 0: none.")
@click.option("--val-steps", default=20, show_default=True, help="Micro batches per val loss.")
@click.option("--checkpoint-interval", default=1000, show_default=True, help="0: only at the end.")
@click.option("--seed", default=1337, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto: cuda when there is one, else cpu.")
@click.option(
    "--dtype", type=click.Choice(["auto", "bfloat16", "float32"]), default="auto", show_default=True
)
@click.option("--compile", "compile_model", is_flag=True, help="torch.compile the model.")
@click.option(
    "--fsdp",
    is_flag=True,
    help="Shard weights, gradients and optimizer state over the torchrun ranks (FSDP2) instead of DDP.",
)
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.pt.")
def train_command(data: str, out: str, model: str, compile_model: bool, **values) -> None:
    """Pretrain GPT-2 on DATA/webtext_train_*.bin (val: webtext_val_*.bin when there are any).

    One process, or one per GPU: torchrun --nproc_per_node 8 -m webtext.cli train ... [--fsdp]. Writes
    OUT/log.jsonl, OUT/log.csv and OUT/checkpoint.pt (read by `generate` and --resume).
    """
    import glob
    import os

    from model.checkpoint import CheckpointError
    from model.loader import TokenLoaderError
    from model.tokens import SUMMARY_FILE, TokenShardError, read_vocab_record
    from model.train import TrainConfig, train

    master = int(os.environ.get("RANK", 0)) == 0
    try:
        vocab = read_vocab_record(data)
    except TokenShardError as error:
        raise click.ClickException(str(error)) from None
    if values["vocab_size"] is None:
        values["vocab_size"] = vocab["n_vocab"] if vocab else GPT2_VOCAB_SIZE
        if vocab is None and master:
            click.echo(
                f"note: {data} has no {SUMMARY_FILE} naming its vocabulary; training for GPT-2's "
                f"({GPT2_VOCAB_SIZE:,} tokens; --vocab-size to change)",
                err=True,
            )
    val_pattern = os.path.join(data, "webtext_val_*.bin")
    config = TrainConfig(
        train_pattern=os.path.join(data, "webtext_train_*.bin"),
        val_pattern=val_pattern if glob.glob(val_pattern) else None,
        out_dir=out,
        model=model,
        compile=compile_model,
        vocab=vocab,
        **values,
    )
    try:
        summary = train(config)
    except (CheckpointError, TokenLoaderError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    if master:
        for path in summary["skipped_shards"]:
            click.echo(f"note: skipped {path}: shorter than one batch window", err=True)
        click.echo(
            f"trained steps {summary['start_step']}..{summary['end_step']} ({summary['tokens']:,} tokens) in "
            f"{summary['seconds']:.0f} s; wrote {summary['checkpoint']}"
        )


# ---------------------------------------------------------------------- generate


def _load_gpt(checkpoint: str | None, hf_dir: str | None, device: str | None):
    """The GPT of a `train` checkpoint or an HF directory, in eval mode on device (default: cuda if any),
    and the record of the vocabulary it was trained with, where the checkpoint has one."""
    if bool(checkpoint) == bool(hf_dir):
        raise click.UsageError("give exactly one of --checkpoint and --hf-dir")
    import torch

    from model.checkpoint import load_model_and_vocab
    from model.hf import load_hf

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        if checkpoint:
            return load_model_and_vocab(checkpoint, device)
        return load_hf(hf_dir).to(device).eval(), None
    except (OSError, ValueError, RuntimeError) as error:  # RuntimeError: a state_dict of another shape
        raise click.ClickException(str(error)) from None


def _model_vocab(model, trained_with: dict | None, hf_dir: str | None, vocab: str | None):
    """(encoding, its record) to run `model` with: --vocab (checked against the vocabulary the checkpoint
    was trained with), else that vocabulary, else the tokenizer files in --hf-dir, else GPT-2's."""
    import bpe
    from bpe.files import has_vocab_files
    from bpe.registry import check_same, describe, from_record, source_of

    try:
        if vocab is not None:
            encoding, source = bpe.resolve(vocab), source_of(vocab)
        elif trained_with:
            encoding, source = from_record(trained_with, "the checkpoint"), trained_with["source"]
        elif hf_dir and has_vocab_files(hf_dir):
            encoding, source = bpe.load(hf_dir), source_of(hf_dir)
        else:
            encoding, source = bpe.get_encoding(DEFAULT_VOCAB), DEFAULT_VOCAB
        record = describe(encoding, source)
        if trained_with and vocab is not None:
            check_same(
                record, trained_with, "the checkpoint", f"leave --vocab out, or use {trained_with['source']}"
            )
    except ValueError as error:  # VocabFileError, VocabMismatchError
        raise click.ClickException(str(error)) from None
    if encoding.n_vocab > model.config.vocab_size:
        raise click.ClickException(
            f"the vocabulary {encoding.name!r} has {encoding.n_vocab:,} tokens, the model only "
            f"{model.config.vocab_size:,}: give the model's own with --vocab"
        )
    return encoding, record


@main.command("generate")
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False), help="A checkpoint of `train`.")
@click.option(
    "--hf-dir", type=click.Path(exists=True, file_okay=False), help="GPT-2 weights in HF's format instead."
)
@_vocab_option(model_default=True)
@click.option("--prompt", default="", help="Text to continue (empty: a new document, after <|endoftext|>).")
@click.option("--max-tokens", default=100, show_default=True, type=click.IntRange(min=0))
@click.option("--temperature", default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True))
@click.option(
    "--top-k", default=40, show_default=True, type=click.IntRange(min=0), help="0: off (the paper used 40)."
)
@click.option("--top-p", default=None, type=click.FloatRange(0, 1, min_open=True), help="Nucleus sampling.")
@click.option("--seed", default=None, type=int, help="The same seed gives the same samples.")
@click.option("--num-samples", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--show-probs", is_flag=True, help="First print the prompt's 10 likeliest next tokens.")
@click.option("--device", default=None, help="Default: cuda when available, else cpu.")
def generate(
    checkpoint,
    hf_dir,
    vocab,
    prompt,
    max_tokens,
    temperature,
    top_k,
    top_p,
    seed,
    num_samples,
    show_probs,
    device,
) -> None:
    """Continue --prompt with a trained GPT (--checkpoint) or GPT-2's weights (--hf-dir)."""
    from model.sample import next_token_table, sample_text

    model, trained_with = _load_gpt(checkpoint, hf_dir, device)
    encoding, _ = _model_vocab(model, trained_with, hf_dir, vocab)
    if show_probs:
        click.echo(f"next token after {prompt!r}:")
        for token, probability in next_token_table(model, encoding, prompt):
            click.echo(f"  {100 * probability:5.1f}%  {token!r}")
    for index in range(num_samples):
        sample_seed = None if seed is None else seed + index
        text = sample_text(
            model, encoding, prompt, max_tokens, temperature, top_k or None, top_p, sample_seed
        )
        if num_samples > 1:
            click.echo(f"======== sample {index + 1}/{num_samples}")
        click.echo(prompt + text)


# ---------------------------------------------------------------------- eval


@main.command("eval")
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False), help="A checkpoint of `train`.")
@click.option(
    "--hf-dir", type=click.Path(exists=True, file_okay=False), help="GPT-2 weights in HF's format instead."
)
@_vocab_option(model_default=True)
@click.option(
    "--task",
    required=True,
    type=click.Choice(TASKS),
)
@click.option(
    "--data",
    required=True,
    help="The task's file (heldout: a `tokenize` output directory, for its val shards, or a glob of .bin).",
)
@click.option(
    "--protocol",
    type=click.Choice(LAMBADA_PROTOCOLS),
    help="LAMBADA: the whole last word (lm-evaluation-harness, default) or its last token (the paper).",
)
@click.option(
    "--stop-filter", is_flag=True, help="LAMBADA: greedy decoding never picks a stop word (the paper)."
)
@click.option(
    "--detokenizer",
    help="cbt, wikitext, ptb or none; default: the task's own (none for text). Word counts use the original.",
)
@click.option(
    "--stride",
    type=click.IntRange(min=1),
    help="Sliding-window step in tokens (text tasks: default block_size/2; heldout: block_size).",
)
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--limit", type=click.IntRange(min=1), help="Only the first N examples / articles / lines / windows."
)
@click.option("--device", default=None, help="Default: cuda when available, else cpu.")
@click.option(
    "--dtype",
    type=click.Choice(["float32", "bfloat16"]),
    default="float32",
    show_default=True,
    help="bfloat16 autocasts the forward pass: faster on a GPU, but the scores are no longer exact fp32.",
)
@click.option("--progress/--no-progress", default=True, show_default=True, help="A progress bar on stderr.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Also write the results here.")
def eval_command(
    checkpoint,
    hf_dir,
    vocab,
    task,
    data,
    protocol,
    stop_filter,
    detokenizer,
    stride,
    batch_size,
    limit,
    device,
    dtype,
    progress,
    json_path,
) -> None:
    """Zero-shot evaluation as in the GPT-2 paper, of a trained GPT or GPT-2's weights.

    Prints a table (task, protocol, metric, value, examples, tokens, seconds); --json writes the same rows
    with the model, data and options.
    """
    for option, value, tasks in (
        ("--protocol", protocol, ("lambada",)),
        ("--stop-filter", stop_filter or None, ("lambada",)),
        ("--detokenizer", detokenizer, ("cbt-cn", "cbt-ne", "wikitext", "ptb", "text")),
        ("--stride", stride, ("wikitext", "ptb", "text", "heldout")),
    ):
        if value is not None and task not in tasks:
            raise click.UsageError(f"{option} does not apply to --task {task}")
    import json
    import math
    import os

    import torch

    from bpe.registry import VocabMismatchError, check_same
    from model.evaluate import evaluate, task_options
    from model.tokens import TokenShardError, read_vocab_record

    model, trained_with = _load_gpt(checkpoint, hf_dir, device)
    encoding, record = (None, None) if task == "heldout" else _model_vocab(model, trained_with, hf_dir, vocab)
    if task == "heldout" and os.path.isdir(data):
        try:
            shards_vocab = read_vocab_record(data)
            if shards_vocab:  # held-out loss needs no vocabulary, only the one the model was trained with
                record = (
                    trained_with
                    if trained_with and vocab is None
                    else _model_vocab(model, trained_with, hf_dir, vocab)[1]
                )
                check_same(
                    record, shards_vocab, f"the token shards in {data}", "evaluate a model trained on them"
                )
        except (TokenShardError, VocabMismatchError) as error:
            raise click.ClickException(str(error)) from None
    if json_path:  # fail now, not after the run
        os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
    try:
        chosen = task_options(task, model.config.block_size, protocol, stop_filter, detokenizer, stride)
        results = evaluate(
            model,
            encoding,
            task,
            data,
            protocol=protocol,
            stop_filter=stop_filter,
            detokenizer=detokenizer,
            stride=stride,
            limit=limit,
            batch_size=batch_size,
            autocast=getattr(torch, dtype),
            progress=progress,
        )
    except (OSError, ValueError) as error:  # TaskDataError names the file and line
        raise click.ClickException(str(error)) from None
    table = [("task", "protocol", "metric", "value", "examples", "tokens", "seconds")] + [
        (
            r.task,
            r.protocol,
            r.metric,
            f"{r.value:.4f}",
            f"{r.examples:,}",
            f"{r.tokens:,}",
            f"{r.seconds:.1f}",
        )
        for r in results
    ]
    widths = [max(map(len, column)) for column in zip(*table)]
    for line in table:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
    if json_path:
        report = {
            "model": {"checkpoint": checkpoint, "hf_dir": hf_dir, "block_size": model.config.block_size},
            "data": data,
            "task": task,
            "options": {
                "vocab": record,
                "batch_size": batch_size,
                "limit": limit,
                "device": str(model.wte.weight.device),
                "dtype": dtype,
                **chosen,
            },
            # JSON has no NaN or infinity (a model gone NaN, a perplexity past float range): null.
            "results": [
                {**dataclasses.asdict(r), "value": r.value if math.isfinite(r.value) else None}
                for r in results
            ],
        }
        with open(json_path, "w", encoding="utf-8") as f:
            f.write(json.dumps(report, indent=2, allow_nan=False) + "\n")


if __name__ == "__main__":
    main()
