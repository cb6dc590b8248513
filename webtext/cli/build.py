"""`webtext build`: the WebText pipeline, its settings derived from `webtext.config.BuildConfig`."""

from __future__ import annotations

import click

from webtext.cli.options import SettingsCommand, beam_args


@click.command(
    "build",
    cls=SettingsCommand,
    config_class="webtext.config:BuildConfig",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.pass_context
def build(context: click.Context, **values) -> None:
    """Build WebText: Reddit dumps -> links -> fetch or WARC -> extract -> filter -> dedup -> Parquet shards.

    Other options go to Beam (--runner DataflowRunner --project ... --region ... --temp_location gs://...);
    the default runner is the local FnApiRunner (add --direct_num_workers=N
    --direct_running_mode=multi_processing to use N cores). Prints the funnel and writes OUT/stats.json,
    which records the settings: `--config OUT/stats.json` repeats the run.
    """
    config = context.command.resolve(context, values)
    pipeline_args = beam_args(context)

    from pipelines.webtext_build import run
    from webtext.stats import ConservationError, format_table

    try:
        stats = run(config, pipeline_args)
    except (OSError, ConservationError) as error:  # no dumps, a used output, counts not adding up
        raise click.ClickException(str(error)) from None
    click.echo(format_table(stats))
    if stats["counters"].get("components_unconverged_edges"):
        click.echo(
            "warning: near-duplicate clusters did not converge in --components-rounds "
            f"{config.near_dedup.components_rounds}; some clusters may be split: raise it",
            err=True,
        )
    click.echo(
        f"wrote {stats['funnel']['documents_written']:,} documents in {len(stats['shards'])} shard(s) and "
        f"stats.json to {config.out} in {stats['seconds']:.0f} s"
    )
