"""The `webtext` command: the top layer, over the libraries (webtext, bpe, model) and pipelines.

One module per command family; each parses its options and calls library functions. Commands import
their heavy modules when they run, so `webtext --help` is instant.
"""

from __future__ import annotations

import click

from webtext.cli.bpe import bpe_group
from webtext.cli.build import build
from webtext.cli.eval import eval_command
from webtext.cli.explore import explore
from webtext.cli.generate import generate
from webtext.cli.tokenize import tokenize
from webtext.cli.train import train_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="webtext")
def main() -> None:
    """Rebuild GPT-2's recipe: WebText on Apache Beam, byte-level BPE, and GPT-2 in PyTorch."""


for command in (bpe_group, build, tokenize, train_command, generate, eval_command, explore):
    main.add_command(command)
