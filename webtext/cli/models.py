"""The model a command runs (a checkpoint or HF weights), the vocabulary to run it with, and the one-line
error of a file it cannot read or write."""

from __future__ import annotations

import click

from webtext.cli.options import DEFAULT_VOCAB


def file_error(error: OSError, path: str | None = None) -> click.ClickException:
    """`error` as one line naming its path (a rename's target), else `path`: "PATH: No space left on device"."""
    path = error.filename2 or error.filename or path
    return click.ClickException(f"{path}: {error.strerror}" if path and error.strerror else str(error))


def load_gpt(checkpoint: str | None, hf_dir: str | None, device: str | None):
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


def model_vocab(model, trained_with: dict | None, hf_dir: str | None, vocab: str | None):
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
