"""`webtext tokenize`: a build's documents into llm.c token shards."""

from __future__ import annotations

import click

from webtext.cli.options import allow_incomplete_option, beam_args, vocab_option


@click.command("tokenize", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option(
    "--shards", required=True, help="A `webtext build` output directory (documents-*.parquet; or gs://...)."
)
@vocab_option
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
@allow_incomplete_option
@click.pass_context
def tokenize(
    context: click.Context,
    shards: str,
    vocab: str,
    out: str,
    shard_tokens: int,
    val_fraction: float,
    allow_incomplete: bool,
):
    """Tokenize a build's documents into llm.c's token shards: OUT/webtext_{train,val}_NNNNNN.bin.

    Each document is <|endoftext|> then its tokens, in id order; the files load in llm.c and
    modded-nanogpt as they are. Other options go to Beam, as for `build` (default runner: the local
    FnApiRunner; --direct_num_workers=N --direct_running_mode=multi_processing to use N cores).
    """
    pipeline_args = beam_args(context)

    from pipelines.tokenize import run

    try:
        summary = run(
            shards,
            vocab,
            out,
            shard_tokens=shard_tokens,
            val_fraction=val_fraction,
            pipeline_args=pipeline_args,
            allow_incomplete=allow_incomplete,
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
