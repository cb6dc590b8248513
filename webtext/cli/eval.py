"""`webtext eval`: zero-shot evaluation as in the GPT-2 paper."""

from __future__ import annotations

import dataclasses

import click

from model.tasks import LAMBADA_PROTOCOLS, TASKS
from webtext.cli.models import load_gpt, model_vocab
from webtext.cli.options import vocab_option


@click.command("eval")
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False), help="A checkpoint of `train`.")
@click.option(
    "--hf-dir", type=click.Path(exists=True, file_okay=False), help="GPT-2 weights in HF's format instead."
)
@vocab_option(model_default=True)
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

    model, trained_with = load_gpt(checkpoint, hf_dir, device)
    encoding, record = (None, None) if task == "heldout" else model_vocab(model, trained_with, hf_dir, vocab)
    if task == "heldout" and os.path.isdir(data):
        try:
            shards_vocab = read_vocab_record(data)
            if shards_vocab:  # held-out loss needs no vocabulary, only the one the model was trained with
                record = (
                    trained_with
                    if trained_with and vocab is None
                    else model_vocab(model, trained_with, hf_dir, vocab)[1]
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
