"""`webtext explore`: the GPT-2 slide's next-token explorer as a local web page."""

from __future__ import annotations

import click

from webtext.cli.models import load_gpt, model_vocab
from webtext.cli.options import vocab_option

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@click.command("explore")
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False), help="A checkpoint of `train`.")
@click.option(
    "--hf-dir", type=click.Path(exists=True, file_okay=False), help="GPT-2 weights in HF's format instead."
)
@vocab_option(model_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Another address only when asked.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="0: a free one.")
@click.option("--device", default=None, help="Default: cuda when available, else cpu.")
def explore(checkpoint, hf_dir, vocab, host, port, device) -> None:
    """Serve a page that shows the model's next-token options, its samples and its view of a text."""
    from model.explore import Explorer, make_server
    from model.gpt import PRESETS

    model, trained_with = load_gpt(checkpoint, hf_dir, device)
    encoding, record = model_vocab(model, trained_with, hf_dir, vocab)
    config = model.config
    shape = (config.n_layer, config.n_head, config.n_embd)
    preset = next((name for name, preset_shape in PRESETS.items() if preset_shape == shape), None)
    description = {"source": checkpoint or hf_dir, "preset": preset, "vocabulary": record["source"]}
    if checkpoint:
        from model.checkpoint import checkpoint_step

        description["step"] = checkpoint_step(checkpoint)
    explorer = Explorer(model, encoding, description)
    if host not in LOOPBACK:
        click.echo(
            f"warning: serving on {host}: anyone who can reach this address can use the model", err=True
        )
    try:
        server = make_server(explorer, host, port)
    except OSError as error:
        raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    bound_host, bound_port = server.server_address[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    click.echo(f"webtext explore: http://{shown}:{bound_port}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
