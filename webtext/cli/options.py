"""Options the commands share, and the flags derived from a config dataclass's settings.

A command made with `SettingsCommand` gets one flag per setting of its config class (`webtext.settings`),
with the field's docstring as its help and the field's default, grouped by table in `--help`, plus
`--config FILE` (TOML, or a run's recorded JSON) and `--print-config`. Flags given override the file.
"""

from __future__ import annotations

import importlib
import sys
import typing
from collections.abc import Mapping
from datetime import date

import click
from click.core import ParameterSource

VOCAB_ENV = "WEBTEXT_VOCAB"
DEFAULT_VOCAB = "gpt2"  # bpe.registry.DEFAULT_ENCODING, spelled here: `webtext --help` loads no tokenizer
VOCAB_HELP = (
    "A packaged encoding (gpt2) or a vocabulary directory: encoder.json + vocab.bpe (GPT-2's files, "
    "`bpe train` output), or HF's tokenizer.json, or vocab.json + merges.txt."
)


def vocab_option(function=None, *, model_default: bool = False):
    """--vocab: a packaged encoding's name or a directory; gpt2 by default, or the model's own vocabulary."""
    option = click.option(
        "--vocab",
        "vocab",
        default=None if model_default else DEFAULT_VOCAB,
        show_default=not model_default,
        envvar=VOCAB_ENV,
        show_envvar=True,
        help=VOCAB_HELP
        + (
            " Default: the vocabulary the model was trained with (recorded in the checkpoint), or the "
            "tokenizer files in --hf-dir, else gpt2."
            if model_default
            else ""
        ),
    )
    return option if function is None else option(function)


def allow_incomplete_option(function):
    """--allow-incomplete, for the commands that read a build's or tokenize's shards (`bpe.manifest`)."""
    return click.option(
        "--allow-incomplete",
        is_flag=True,
        help="Read the shards even where the directory's manifest is missing or disagrees with them (an "
        "interrupted run's output, or shards written by other tools).",
    )(function)


def document_options(function):
    """--text-field and --format, for every command that reads documents (bpe.corpus's formats)."""
    function = click.option(
        "--format",
        "input_format",
        type=click.Choice(["auto", "text", "jsonl", "parquet"]),
        default="auto",
        show_default=True,
        help="auto: by suffix (.txt/.md/.rst, .jsonl/.ndjson[.gz|.zst|.xz|.bz2], .parquet).",
    )(function)
    return click.option(
        "--text-field", default="text", show_default=True, help="JSONL field / Parquet column with the text."
    )(function)


def load_vocab(vocab: str):
    """The vocabulary --vocab names (a packaged encoding or a directory); a one-line error otherwise."""
    import bpe

    try:
        return bpe.resolve(vocab)
    except bpe.VocabFileError as error:
        raise click.ClickException(str(error)) from None


def beam_args(context: click.Context) -> list[str]:
    """The options a command left to Beam, checked against the runner named; FnApiRunner by default."""
    from pipelines.options import UnknownOptionsError, check_pipeline_args, with_local_runner

    args = list(context.args)
    try:
        check_pipeline_args(args)
    except UnknownOptionsError as error:
        raise click.UsageError(
            f"{error} (not a {context.info_name} option, and Beam doesn't know it for this runner)"
        ) from None
    return with_local_runner(args)


def read_input(path: str) -> str:
    """A file's (or stdin's) text; invalid UTF-8 is replaced, with a warning."""
    if path == "-":
        data = sys.stdin.buffer.read()
    else:
        with open(path, "rb") as stream:
            data = stream.read()
    text = data.decode("utf-8", "replace")
    if "\ufffd" in text and b"\xef\xbf\xbd" not in data:
        click.echo(f"warning: {path}: invalid UTF-8 bytes were replaced with U+FFFD", err=True)
    return text


# ---------------------------------------------------------------------- flags from settings


def _is_list(kind: object) -> bool:
    args = typing.get_args(kind)
    return typing.get_origin(kind) is frozenset or (typing.get_origin(kind) is tuple and args[-1:] == (...,))


def _pairs_of(kind: object) -> bool:
    return _is_list(kind) and typing.get_origin(typing.get_args(kind)[0]) is tuple


def _as_text(value: object) -> str:
    """A list-valued default as text: "en,fr", or "2:0.2,3:0.18" for (n, limit) pairs."""
    items = sorted(value) if isinstance(value, frozenset) else value
    return ",".join(":".join(map(str, item)) if isinstance(item, tuple) else str(item) for item in items)


def _list_items(values: tuple[str, ...]) -> list[str]:
    """Repeated and comma-separated values; @FILE stands for the file's lines (blank and # lines skipped)."""
    items = []
    for value in values:
        if value.startswith("@"):
            try:
                with open(value[1:], encoding="utf-8") as lines:
                    items += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
            except OSError as error:
                raise click.BadParameter(f"{value}: {error.strerror}") from None
        else:
            items += [item.strip() for item in value.split(",") if item.strip()]
    return items


def _pairs(text: str, default: object) -> tuple:
    try:
        return tuple(
            (int(n), float(limit)) for n, limit in (item.split(":") for item in _list_items((text,)))
        )
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected n:limit pairs, e.g. {_as_text(default)}") from None


class SettingOption(click.Option):
    """A flag for one setting; `value_of` turns what click parsed into the setting's value."""

    def __init__(self, setting, **attrs):
        from webtext.settings import without_none

        self.setting = setting
        kind, _ = without_none(setting.type)
        name = f"{setting.table}__{setting.name}" if setting.table else setting.name
        flag = f"--{setting.flag}"
        default = None if setting.required else setting.default
        attrs = dict(help=setting.help, show_default=default not in (None, (), frozenset()), **attrs)
        if kind is bool:
            super().__init__([f"{flag}/--no-{setting.flag}", name], default=default, **attrs)
        elif typing.get_origin(kind) is typing.Literal:
            super().__init__([flag, name], type=click.Choice(typing.get_args(kind)), default=default, **attrs)
        elif _pairs_of(kind):
            super().__init__([flag, name], default=_as_text(default), metavar="N:LIMIT,...", **attrs)
        elif _is_list(kind):
            attrs["help"] += " Repeatable or comma-separated; @FILE: one per line."
            attrs["show_default"] = bool(default) and _as_text(default)
            super().__init__([flag, name], multiple=True, default=tuple(default or ()), **attrs)
        elif typing.get_origin(kind) is tuple:
            super().__init__([flag, name], type=click.Tuple(typing.get_args(kind)), default=default, **attrs)
        elif kind is date:
            super().__init__([flag, name], type=click.DateTime(["%Y-%m-%d"]), metavar="YYYY-MM-DD", **attrs)
        else:
            super().__init__([flag, name], type=kind, default=default, **attrs)
        self.kind = kind

    def value_of(self, value: object) -> object:
        if _pairs_of(self.kind):
            return _pairs(value, self.setting.default)
        if _is_list(self.kind):
            return _list_items(value)
        if self.kind is date and value is not None:
            return value.date()
        return value


class SettingsCommand(click.Command):
    """A command with a flag per setting of `config_class` (a "module:Class" path, imported when the
    command parses or shows its help: the classes live beside trafilatura, torch and numpy, which
    `webtext --help` must not import), `--config FILE` and `--print-config`.

    `exclude`: fields the command sets itself (e.g. from --data) rather than as flags.
    """

    def __init__(self, *args, config_class: str, exclude: frozenset[str] = frozenset(), **kwargs):
        super().__init__(*args, **kwargs)
        self.config_class = config_class
        self.exclude = exclude
        self._settings_added = False

    def load_class(self) -> type:
        module, _, name = self.config_class.partition(":")
        return getattr(importlib.import_module(module), name)

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        if not self._settings_added:
            from webtext.settings import settings_of

            self._settings_added = True
            self.params += [
                click.Option(
                    ["--config", "config_file"],
                    type=click.Path(exists=True, dir_okay=False),
                    help="Settings from this file: TOML (as --print-config writes it), or JSON that recorded "
                    "them under `config` (a build's stats.json, an eval's --json). Flags given override it.",
                ),
                click.Option(
                    ["--print-config"],
                    is_flag=True,
                    help="Print the effective settings as TOML and exit (a config file to edit and rerun).",
                ),
            ]
            self.params += [SettingOption(s) for s in settings_of(self.load_class(), self.exclude)]
        return super().get_params(ctx)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        groups: dict[str | None, list] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record:
                table = param.setting.table or "" if isinstance(param, SettingOption) else None
                groups.setdefault(table, []).append(record)
        for table, records in groups.items():
            title = "Options" if table is None else f"[{table}] settings" if table else "Run settings"
            with formatter.section(title):
                formatter.write_dl(records)

    def resolve(self, ctx: click.Context, values: dict, base: Mapping = {}, fixed: Mapping = {}):  # noqa: B006
        """The config that `base` (defaults the command works out), `--config` and the flags given make, in
        that order of precedence, with `fixed` (the excluded fields' values), taking the options out of
        `values`; or, with --print-config, print it as TOML and exit."""
        from webtext.settings import (
            MissingSettingError,
            SettingError,
            as_data,
            build,
            checked,
            defaults,
            merged,
            read_file,
            to_toml,
        )

        config_class, exclude = self.load_class(), self.exclude
        config_file, print_config = values.pop("config_file"), values.pop("print_config")
        given: dict = {}
        for param in self.get_params(ctx):
            if isinstance(param, SettingOption):
                value = values.pop(param.name)
                if ctx.get_parameter_source(param.name) in (
                    ParameterSource.COMMANDLINE,
                    ParameterSource.ENVIRONMENT,
                ):
                    target = given.setdefault(param.setting.table, {}) if param.setting.table else given
                    target[param.setting.name] = param.value_of(value)
        try:
            data = (
                merged(base, checked(config_class, read_file(config_file), config_file, exclude))
                if config_file
                else dict(base)
            )
            data = merged(data, checked(config_class, given, "the options", exclude))
            if print_config:
                data = merged(defaults(config_class, exclude), data)
                try:  # the config's own checks and normalisation, as far as what is given allows
                    data = as_data(build(config_class, data, fixed=fixed), exclude)
                except MissingSettingError as error:
                    data = error.given
                title = f"webtext {ctx.info_name} --config FILE; flags given with it override it"
                click.echo(to_toml(config_class, data, title, exclude), nl=False)
                ctx.exit(0)
            return build(config_class, data, config_file or "the options", fixed)
        except MissingSettingError as error:
            flags = ", ".join(f"--{setting.flag}" for setting in error.missing)
            raise click.UsageError(f"missing {flags} (or its key in a --config file)") from None
        except SettingError as error:
            raise click.UsageError(str(error)) from None
        except OSError as error:
            raise click.UsageError(f"{config_file}: {error.strerror}") from None
