"""`webtext eval`: zero-shot evaluation as in the GPT-2 paper, its settings from `model.evaluate.EvalConfig`."""

from __future__ import annotations

import dataclasses

import click

from webtext.cli.models import file_error, load_gpt, model_vocab
from webtext.cli.options import SettingsCommand, allow_incomplete_option, vocab_option


@click.command("eval", cls=SettingsCommand, config_class="model.evaluate:EvalConfig")
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False), help="A checkpoint of `train`.")
@click.option(
    "--hf-dir", type=click.Path(exists=True, file_okay=False), help="GPT-2 weights in HF's format instead."
)
@vocab_option(model_default=True)
@click.option("--progress/--no-progress", default=True, show_default=True, help="A progress bar on stderr.")
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False),
    help="Also write the results here, with the model and the settings (a --config for the same run).",
)
@allow_incomplete_option
@click.pass_context
def eval_command(
    context: click.Context, checkpoint, hf_dir, vocab, progress, json_path, allow_incomplete, **values
) -> None:
    """Zero-shot evaluation as in the GPT-2 paper, of a trained GPT or GPT-2's weights.

    Prints a table (task, protocol, metric, value, examples, tokens, seconds); --json writes the same rows
    with the model, data and settings.
    """
    config = context.command.resolve(context, values)
    import json
    import math
    import os

    from bpe.manifest import IncompleteOutputError
    from bpe.registry import VocabMismatchError, check_same
    from model.checkpoint import check_writable
    from model.evaluate import run
    from model.tokens import TokenShardError, check_complete, read_vocab_record
    from webtext.settings import as_json

    task, data = config.task, config.data
    if json_path:  # fail now, not after the run
        try:
            check_writable(os.path.dirname(os.path.abspath(json_path)))
        except OSError as error:
            raise file_error(error) from None
    if task == "heldout" and os.path.isdir(data) and not allow_incomplete:
        try:  # before the model loads: a killed `tokenize` leaves val shards that look complete
            check_complete(data)
        except (TokenShardError, IncompleteOutputError) as error:
            raise click.ClickException(str(error)) from None
    model, trained_with = load_gpt(checkpoint, hf_dir, config.device)
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
    try:
        chosen = config.task_options(model.config.block_size)
        results = run(model, encoding, config, progress=progress)
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
            "config": as_json(config),
            "options": {
                "vocab": record,
                "batch_size": config.batch_size,
                "limit": config.limit,
                "device": str(model.wte.weight.device),
                "dtype": config.dtype,
                **chosen,
            },
            # JSON has no NaN or infinity (a model gone NaN, a perplexity past float range): null.
            "results": [
                {**dataclasses.asdict(r), "value": r.value if math.isfinite(r.value) else None}
                for r in results
            ],
        }
        try:
            with open(json_path, "w", encoding="utf-8") as f:
                f.write(json.dumps(report, indent=2, allow_nan=False) + "\n")
        except OSError as error:  # a disk that filled during the run
            raise file_error(error, json_path) from None
