"""Settings declared once, as dataclass fields: their type, default and docstring are the whole declaration.

From a config dataclass (e.g. `webtext.config.BuildConfig`: top-level fields, then one nested dataclass per
stage, a TOML table each) this module derives the list of settings with their help text, reads a config
file (TOML, or the `config` a run recorded in its JSON output) with errors that name the table and key,
and writes the effective configuration back as TOML or JSON. The command line's flags are derived from the
same list (`webtext.cli.options`).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import math
import types
import typing
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


class SettingError(ValueError):
    """A config file or value that does not fit the declaration; the message names the file, table and key."""


class MissingSettingError(SettingError):
    """Required settings (no default) that nobody gave."""

    def __init__(self, source: str, missing: list[Setting], given: dict):
        super().__init__(f"{source}: {', '.join(s.name for s in missing)} not given")
        self.missing = missing
        self.given = given
        """What the rest of the settings came to (`as_data`'s shape), checked by their own tables."""


@dataclasses.dataclass(frozen=True)
class Setting:
    """One field of a config: where it lives (table None: the top level) and what it takes."""

    table: str | None
    name: str
    type: object
    default: object
    """dataclasses.MISSING for a required setting."""
    help: str
    flag: str
    """The command-line option's name, without "--"."""

    @property
    def required(self) -> bool:
        return self.default is dataclasses.MISSING

    @property
    def where(self) -> str:
        return f"[{self.table}] {self.name}" if self.table else self.name


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """The attribute docstrings of a dataclass (a string right after a field), which Python discards."""
    import ast
    import textwrap

    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    docs = {}
    for statement, following in zip(body, body[1:]):
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[statement.target.id] = " ".join(following.value.value.split())
    return docs


def _is_table(kind: object) -> bool:
    return isinstance(kind, type) and dataclasses.is_dataclass(kind)


def _default(field: dataclasses.Field) -> object:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def _fields(cls: type, table: str | None, prefix: str, exclude: frozenset[str]) -> Iterator[Setting]:
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    for field in dataclasses.fields(cls):
        if field.name.startswith("_") or field.name in exclude or not field.init:
            continue
        kind = hints[field.name]
        if _is_table(kind):
            if table is not None:
                raise TypeError(f"{cls.__name__}.{field.name}: tables do not nest")
            yield from _fields(kind, field.name, TABLE_PREFIXES.get(kind.__name__, ""), exclude)
            continue
        if field.name not in docs:
            raise TypeError(f"{cls.__name__}.{field.name} has no docstring: it is the setting's help")
        flag = field.metadata.get("flag") or prefix + field.name.replace("_", "-")
        yield Setting(table, field.name, kind, _default(field), docs[field.name], flag)


TABLE_PREFIXES = {"ExtractConfig": "extract-", "NearDedupConfig": "minhash-"}
"""Flag prefixes of the tables whose field names would collide or mislead without one."""


def settings_of(cls: type, exclude: frozenset[str] = frozenset()) -> list[Setting]:
    """Every setting of `cls`: its own fields (table None), then each nested dataclass's as a table."""
    return list(_fields(cls, None, "", exclude))


# ---------------------------------------------------------------------- values


def without_none(kind: object) -> tuple[object, bool]:
    """(the type without None, whether None is allowed)."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        if len(args) == 1:
            return args[0], True
    return kind, False


def describe_type(kind: object) -> str:
    """What a value of `kind` looks like, for error messages."""
    kind, _ = without_none(kind)
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is typing.Literal:
        return " or ".join(map(repr, args))
    if origin in (tuple, frozenset) and (args[-1:] == (Ellipsis,) or origin is frozenset):
        return f"a list of {describe_type(args[0])}s"
    if origin is tuple:
        return f"a list of {len(args)}: " + ", ".join(describe_type(arg) for arg in args)
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string", date: "a date"}.get(
        kind, str(kind)
    )


def convert(kind: object, value: object) -> object:
    """`value` (from TOML, JSON or a flag) as a `kind`; ValueError when it is not one."""
    kind, nullable = without_none(kind)
    if value is None:
        if nullable:
            return None
        raise ValueError
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is typing.Literal:
        if value in args:
            return value
        raise ValueError
    if origin in (tuple, frozenset):
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple, set, frozenset)):
            raise ValueError
        if origin is frozenset or args[-1:] == (Ellipsis,):
            items = [convert(args[0], item) for item in value]
            return frozenset(items) if origin is frozenset else tuple(items)
        if len(value) != len(args):
            raise ValueError
        return tuple(convert(arg, item) for arg, item in zip(args, value))
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif kind is str:
        if isinstance(value, str):
            return value
    elif kind is date:
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            return date.fromisoformat(value)
    else:
        raise TypeError(f"settings of type {kind} are not supported")
    raise ValueError


def plain(value: object) -> object:
    """A setting's value as TOML/JSON data: lists for tuples and sets (sets sorted)."""
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, tuple):
        return [plain(item) for item in value]
    return value


# ---------------------------------------------------------------------- config data


def checked(
    cls: type, data: Mapping, source: str = "the configuration", exclude: frozenset[str] = frozenset()
) -> dict:
    """Nested data ({key: value, table: {key: value}}) with every key known and every value converted."""
    known: dict[str | None, dict[str, Setting]] = {}
    for setting in settings_of(cls, exclude):
        known.setdefault(setting.table, {})[setting.name] = setting
    values: dict = {}
    for key, value in data.items():
        if key in known and key is not None:
            if not isinstance(value, Mapping):
                raise SettingError(f"{source}: {key} is a table of settings, got {value!r}")
            table = values.setdefault(key, {})
            for name, item in value.items():
                table[name] = _checked(known[key], key, name, item, source)
        elif key in known.get(None, {}):
            values[key] = _checked(known[None], None, key, value, source)
        else:
            tables = sorted(name for name in known if name)
            raise SettingError(
                f"{source}: unknown key {key!r} at the top level (tables: {', '.join(tables) or 'none'}; "
                f"keys: {', '.join(known.get(None, {}))})"
            )
    return values


def merged(base: Mapping, override: Mapping) -> dict:
    """`base` with `override`'s keys replaced, table by table."""
    result = {key: dict(value) if isinstance(value, Mapping) else value for key, value in base.items()}
    for key, value in override.items():
        if isinstance(value, Mapping):
            result.setdefault(key, {}).update(value)
        else:
            result[key] = value
    return result


def defaults(cls: type, exclude: frozenset[str] = frozenset()) -> dict:
    """The nested data of every setting that has a default (None ones left out)."""
    data: dict = {}
    for setting in settings_of(cls, exclude):
        if not setting.required and setting.default is not None:
            target = data.setdefault(setting.table, {}) if setting.table else data
            target[setting.name] = setting.default
    return data


def build(cls: type, data: Mapping, source: str = "the configuration", fixed: Mapping = {}) -> object:  # noqa: B006
    """`cls` from nested data, every key and type checked and required settings present; `fixed`: fields
    the caller sets itself, passed as they are."""
    values = checked(cls, data, source, frozenset(fixed))
    hints = typing.get_type_hints(cls)
    try:
        tables = {
            name: hints[name](**values.pop(name)) for name in list(values) if _is_table(hints.get(name))
        }
        missing = [
            s
            for s in settings_of(cls, frozenset(fixed))
            if s.table is None and s.required and s.name not in values
        ]
        if missing:
            given = {key: plain(value) for key, value in values.items() if value is not None}
            raise MissingSettingError(
                source, missing, {**given, **{k: as_data(t) for k, t in tables.items()}}
            )
        return cls(**values, **fixed, **tables)
    except ValueError as error:
        if isinstance(error, SettingError):
            raise
        raise SettingError(f"{source}: {error}") from None


def _checked(settings: dict[str, Setting], table: str | None, key: str, value: object, source: str) -> object:
    where = f"[{table}]" if table else "the top level"
    setting = settings.get(key)
    if setting is None:
        raise SettingError(f"{source}: unknown key {key!r} in {where} (known: {', '.join(settings)})")
    try:
        return convert(setting.type, value)
    except ValueError:
        raise SettingError(
            f"{source}: {setting.where}: expected {describe_type(setting.type)}, got {value!r}"
        ) from None


def as_data(config: object, exclude: frozenset[str] = frozenset()) -> dict:
    """The nested data `build` reads, from a config instance (None values left out: TOML has no null)."""
    data: dict = {}
    for setting in settings_of(type(config), exclude):
        owner = getattr(config, setting.table) if setting.table else config
        value = getattr(owner, setting.name)
        if value is not None:
            target = data.setdefault(setting.table, {}) if setting.table else data
            target[setting.name] = plain(value)
    return data


def as_json(config: object) -> dict:
    """`as_data` with dates as ISO text: what a run records in its JSON output."""
    return json.loads(json.dumps(as_data(config), default=date.isoformat))


def read_file(path: str) -> dict:
    """The data of a config file: TOML, or the `config` a run recorded in a JSON file (stats.json)."""
    text = Path(path).read_text(encoding="utf-8")
    if path.endswith(".json"):
        try:
            record = json.loads(text)
        except json.JSONDecodeError as error:
            raise SettingError(f"{path}: not JSON ({error})") from None
        except RecursionError:
            raise SettingError(f"{path}: not JSON (nested too deeply)") from None
        if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
            raise SettingError(f"{path}: holds no recorded `config`")
        return record["config"]
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SettingError(f"{path}: not TOML ({error})") from None
    except RecursionError:
        raise SettingError(f"{path}: not TOML (nested too deeply)") from None


# ---------------------------------------------------------------------- TOML


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, (int, date)):
        return str(value) if isinstance(value, int) else value.isoformat()
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON's escapes are all valid in TOML basic strings
    if isinstance(value, (list, tuple, frozenset)):
        return "[" + ", ".join(_toml_value(item) for item in plain(value)) + "]"
    raise TypeError(f"no TOML for {value!r}")


def to_toml(cls: type, data: Mapping, title: str, exclude: frozenset[str] = frozenset()) -> str:
    """`data` (as `build` reads it) as a commented TOML file, every setting listed with its help."""
    lines = [f"# {title}", ""]
    table = None
    for setting in settings_of(cls, exclude):
        if setting.table != table:
            table = setting.table
            lines += ["", f"[{table}]"]
        values = data.get(table, {}) if table else data
        lines.append(f"# {setting.help}")
        if setting.name in values:
            lines.append(f"{setting.name} = {_toml_value(values[setting.name])}")
        else:
            lines.append(f"# {setting.name} = ...  ({'required' if setting.required else 'unset'})")
    return "\n".join(lines).strip() + "\n"
