"""`webtext bpe`: encode, decode, count, train, count-pretokens."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import click

from webtext.cli.options import beam_args, document_options, load_vocab, read_input, vocab_option


@click.group("bpe")
def bpe_group() -> None:
    """GPT-2's byte-level BPE tokenizer: encode, decode, count."""


@contextmanager
def _writing(path: str) -> Iterator[None]:
    """Writing the output `path`: an OSError (a file in the way, read-only, a full disk, no permission) is
    one line naming it."""
    try:
        yield
    except OSError as error:
        raise click.ClickException(f"{path}: cannot write ({error.strerror or error})") from None


def _check_output(path: str, directory: bool = False) -> None:
    """Fail now, not after the work, where the output cannot be written: a directory is created and a file
    tried in it; an existing file is opened for appending (nothing written); a new one's directory tried."""
    from bpe.files import check_writable

    with _writing(path):
        if directory:
            check_writable(path)
        elif os.path.exists(path):
            open(path, "ab").close()
        else:
            check_writable(os.path.dirname(path) or ".")


def _special_option(value: str):
    if value in ("all", "none"):
        return "all" if value == "all" else frozenset()
    return frozenset(filter(None, value.split(",")))


@bpe_group.command("encode")
@vocab_option
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

    if output != "-":
        _check_output(output)
    encoding = load_vocab(vocab)
    try:
        encoded = [
            encoding.encode_ordinary(read_input(path))
            if ordinary
            else encoding.encode(read_input(path), allowed_special=_special_option(allowed_special))
            for path in files or ("-",)
        ]
    except ValueError as error:
        hint = "On the command line: --allowed-special all (or a comma-separated list), or --ordinary."
        raise click.ClickException(f"{error}\n{hint}") from None
    with _writing(output), click.open_file(output, "wb") as stream:
        if output_format == "npy":
            dtype = np.uint16 if encoding.n_vocab <= 1 << 16 else np.uint32
            np.save(stream, np.fromiter((i for ids in encoded for i in ids), dtype=dtype))
        else:
            stream.write("".join(" ".join(map(str, ids)) + "\n" for ids in encoded).encode())


@bpe_group.command("decode")
@vocab_option
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

    if output != "-":
        _check_output(output)
    encoding = load_vocab(vocab)
    if input_format == "npy":
        try:
            with click.open_file(file, "rb") as stream:
                ids = np.load(stream).tolist()
        except ValueError as error:
            raise click.ClickException(f"{file}: not a .npy array of token ids ({error})") from None
    else:
        words = read_input(file).split()
        try:
            ids = [int(word) for word in words]
        except ValueError as error:
            raise click.ClickException(f"{file}: token ids must be integers ({error})") from None
    try:
        data = encoding.decode_bytes(ids)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    with _writing(output), click.open_file(output, "wb") as stream:
        stream.write(data)


@bpe_group.command("count")
@vocab_option
@click.argument("inputs", nargs=-1, required=True)
@document_options
@click.option("--workers", type=int, default=None, help="Encoding processes (default: one per core).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def bpe_count(
    vocab: str, inputs: tuple[str, ...], text_field: str, input_format: str, workers, as_json: bool
) -> None:
    """Count documents, bytes and tokens in INPUTS (files, directories, globs); report bytes/token."""
    import json

    from bpe.corpus import CorpusError, count_tokens

    try:
        summary = count_tokens(load_vocab(vocab), inputs, text_field, input_format, workers, progress=True)
    except CorpusError as error:
        raise click.ClickException(str(error)) from None
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
@document_options
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
    _check_output(out, directory=True)
    if save_counts:
        _check_output(save_counts)
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
            with _writing(save_counts):
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
    with _writing(out):
        encoding.save(out)
        (Path(out) / "training.json").write_text(json.dumps(stats.as_dict(), indent=2) + "\n")
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
@click.pass_context
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "--out", required=True, help="Directory for counts-*.parquet (local or any Beam filesystem, e.g. gs://)."
)
@document_options
@click.option("--shards", default=0, show_default=True, help="Output files; 0 lets the runner choose.")
@click.option("--pattern", default=None, help="Pre-tokenizer regex (default: GPT-2's).")
def bpe_count_pretokens(
    context: click.Context, inputs, out, text_field, input_format, shards, pattern
) -> None:
    """Count pre-tokens in INPUTS (files, globs; DIR/** for a tree) with Apache Beam, for `bpe train --counts`.

    Other options go to Beam (--runner DataflowRunner --project ...); one that neither this command nor
    Beam knows is refused. The default runner is the local FnApiRunner (--direct_num_workers=N
    --direct_running_mode=multi_processing to use N cores). Then: webtext bpe train --counts
    'OUT/counts-*.parquet' --out VOCAB_DIR.
    """
    from bpe.corpus import CorpusError
    from bpe.pretokenize import GPT2_PATTERN
    from pipelines import bpe_counts

    # Options click does not know land among INPUTS (ignore_unknown_options); Beam's parser sorts them out.
    paths, context.args = bpe_counts.split_args(inputs)
    pipeline_args = beam_args(context)
    if not paths:
        raise click.UsageError("no INPUTS given")
    with _writing(out):
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
        f"{summary['documents_with_replaced_bytes']:,} with invalid UTF-8 replaced, "
        f"{summary['null_texts_skipped']:,} null texts skipped); "
        f"{summary['unique_pretokens']:,} unique pre-tokens; wrote {len(summary['outputs'])} files to {out}"
    )
