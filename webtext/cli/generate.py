"""`webtext generate`: sample from a trained GPT or GPT-2's weights."""

from __future__ import annotations

import click

from webtext.cli.models import load_gpt, model_vocab
from webtext.cli.options import vocab_option

# Past the block size every token runs the whole sliding window again (GPT.iter_generate): a sample of many
# blocks is slow and more often a typo (--max-tokens 1000000) than a wish.
TOKEN_CAP_BLOCKS = 4


@click.command("generate")
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False), help="A checkpoint of `train`.")
@click.option(
    "--hf-dir", type=click.Path(exists=True, file_okay=False), help="GPT-2 weights in HF's format instead."
)
@vocab_option(model_default=True)
@click.option("--prompt", default="", help="Text to continue (empty: a new document, after <|endoftext|>).")
@click.option(
    "--max-tokens",
    default=100,
    show_default=True,
    type=click.IntRange(min=0),
    help=f"At most {TOKEN_CAP_BLOCKS} x the model's block size, unless --no-token-cap.",
)
@click.option(
    "--no-token-cap",
    is_flag=True,
    help="Allow a longer --max-tokens (past the block size each token sees only the last half to full block).",
)
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
    no_token_cap,
    temperature,
    top_k,
    top_p,
    seed,
    num_samples,
    show_probs,
    device,
) -> None:
    """Continue --prompt with a trained GPT (--checkpoint) or GPT-2's weights (--hf-dir)."""
    from model.sample import next_token_table, stream_text

    model, trained_with = load_gpt(checkpoint, hf_dir, device)
    cap = TOKEN_CAP_BLOCKS * model.config.block_size
    if max_tokens > cap and not no_token_cap:
        raise click.UsageError(
            f"--max-tokens {max_tokens:,} is more than {TOKEN_CAP_BLOCKS} x the model's block size ({cap:,} "
            "tokens); pass --no-token-cap to sample that many anyway"
        )
    encoding, _ = model_vocab(model, trained_with, hf_dir, vocab)
    if show_probs:
        click.echo(f"next token after {prompt!r}:")
        for token, probability in next_token_table(model, encoding, prompt):
            click.echo(f"  {100 * probability:5.1f}%  {token!r}")
    for index in range(num_samples):
        sample_seed = None if seed is None else seed + index
        if num_samples > 1:
            click.echo(f"======== sample {index + 1}/{num_samples}")
        click.echo(prompt, nl=False)
        for piece in stream_text(
            model, encoding, prompt, max_tokens, temperature, top_k or None, top_p, sample_seed
        ):
            click.echo(piece, nl=False)  # flushed as each token comes: a long sample shows as it grows
        click.echo()
