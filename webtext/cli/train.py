"""`webtext train`: pretraining, its settings derived from `model.train.TrainConfig`."""

from __future__ import annotations

import click

from webtext.cli.options import SettingsCommand, allow_incomplete_option


@click.command(
    "train",
    cls=SettingsCommand,
    config_class="model.train:TrainConfig",
    exclude=frozenset({"train_pattern", "val_pattern", "out_dir", "vocab"}),
)
@click.option(
    "--data", type=click.Path(exists=True, file_okay=False), help="A `tokenize` output directory (required)."
)
@click.option("--out", type=click.Path(file_okay=False), help="For checkpoint.pt and the logs (required).")
@allow_incomplete_option
@click.pass_context
def train_command(
    context: click.Context, data: str | None, out: str | None, allow_incomplete: bool, **values
) -> None:
    """Pretrain GPT-2 on DATA/webtext_train_*.bin (val: webtext_val_*.bin when there are any).

    One process, or one per GPU: torchrun --nproc_per_node 8 -m webtext.cli train ... [--fsdp]. Writes
    OUT/log.jsonl, OUT/log.csv and OUT/checkpoint.pt (read by `generate` and --resume).
    """
    import glob
    import os

    from bpe.manifest import IncompleteOutputError
    from model.checkpoint import CheckpointError
    from model.loader import TokenLoaderError
    from model.tokens import SUMMARY_FILE, TokenShardError, check_complete, read_vocab_record
    from model.train import TrainConfig, train
    from webtext.cli.models import file_error

    master = int(os.environ.get("RANK", 0)) == 0
    try:
        vocab = read_vocab_record(data) if data else None
        if data and not allow_incomplete:  # a killed `tokenize` leaves shards that look like a corpus
            check_complete(data)
    except (TokenShardError, IncompleteOutputError) as error:
        raise click.ClickException(str(error)) from None
    if not (data and out or values["print_config"]):
        raise click.UsageError("missing --data or --out")
    fixed = {}
    if data and out:
        val_pattern = os.path.join(data, "webtext_val_*.bin")
        fixed = dict(
            train_pattern=os.path.join(data, "webtext_train_*.bin"),
            val_pattern=val_pattern if glob.glob(val_pattern) else None,
            out_dir=out,
            vocab=vocab,
        )
    # The shards' vocabulary sets the default size; --vocab-size or the file may still say otherwise.
    base = {"vocab_size": vocab["n_vocab"]} if vocab else {}
    config = context.command.resolve(context, values, base=base, fixed=fixed)
    if vocab is None and master and config.vocab_size == TrainConfig.vocab_size:
        click.echo(
            f"note: {data} has no {SUMMARY_FILE} naming its vocabulary; training for GPT-2's "
            f"({config.vocab_size:,} tokens; --vocab-size to change)",
            err=True,
        )
    try:
        summary = train(config)
    except (CheckpointError, TokenLoaderError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:  # an --out that cannot be written, a disk that fills during the run
        raise file_error(error) from None
    if master:
        for path in summary["skipped_shards"]:
            click.echo(f"note: skipped {path}: shorter than one batch window", err=True)
        click.echo(
            f"trained steps {summary['start_step']}..{summary['end_step']} ({summary['tokens']:,} tokens) in "
            f"{summary['seconds']:.0f} s; wrote {summary['checkpoint']}"
        )
