"""Typer options generated from a pydantic config, so CLI flags and YAML keys are one source of truth.

Each field becomes one option with the field's type (int, float, Path, a Literal's choices), its description as
help and its default shown. Lists and tuples are repeatable options, dicts repeatable KEY=VALUE, bools --x/--no-x.
Options default to None, meaning "not given": the config (or a YAML file) then supplies the value.
"""

import inspect
import types
import typing
from collections.abc import Callable, Iterable
from pathlib import Path

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from adaptlab.errors import ConfigError

SCALAR_TYPES = (str, int, float, bool, Path)


def flag_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def _negated_flag_name(field_name: str) -> str:
    return "--no-" + field_name.replace("_", "-")


def config_parameters(
    config_class: type[BaseModel], fields: Iterable[str], envvars: dict[str, str] | None = None
) -> list[inspect.Parameter]:
    """One keyword-only, typed Typer parameter per named field of `config_class`."""
    envvars = envvars or {}
    parameters = []
    for name in fields:
        field = config_class.model_fields[name]
        option = _option(name, field, envvars.get(name))
        annotation = typing.Optional[cli_type(field.annotation)]
        parameters.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation))
    return parameters


def with_config_options(
    config_class: type[BaseModel],
    command: Callable,
    fields: Iterable[str] | None = None,
    envvars: dict[str, str] | None = None,
) -> Callable:
    """Give `command(**flags)` an option per config field (all, or `fields`) after its own parameters."""
    own = [p for p in inspect.signature(command).parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    generated = config_parameters(config_class, config_class.model_fields if fields is None else fields, envvars)
    command.__signature__ = inspect.Signature(own + generated)
    return command


def overrides_from_flags(config_class: type[BaseModel], values: dict) -> dict:
    """The flags the user gave, as the config expects them (KEY=VALUE lists become dicts)."""
    overrides = {}
    for name, field in config_class.model_fields.items():
        value = values.get(name)
        if value is None or value == []:
            continue
        overrides[name] = parse_key_values(name, value) if typing.get_origin(_without_none(field.annotation)) is dict else value
    return overrides


def config_from_flags(config_class: type[BaseModel], values: dict) -> BaseModel:
    """The command's config built from its flags; an invalid value is a ConfigError naming the flag's field."""
    from pydantic import ValidationError

    from adaptlab.schemas.config_files import format_validation_error

    try:
        return config_class.model_validate(overrides_from_flags(config_class, values))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from exc


def parse_key_values(name: str, items: list[str]) -> dict[str, str]:
    """KEY=VALUE items, each flag value possibly several comma-separated ones (`--columns text=SMS,label=Label`)."""
    parsed = {}
    for item in (part for entry in items for part in entry.split(",")):
        key, separator, value = item.partition("=")
        if not separator or not key:
            raise ConfigError(f"{flag_name(name)}: expected KEY=VALUE, got {item!r}")
        parsed[key] = value
    return parsed


def cli_type(annotation) -> type:
    """The type Typer parses a field's flag as: the field's own, less None; collections become repeatable strings
    or items. A list of choices stays a list of strings so the config can also split 'a,b' (Typer checks no list
    of Literals); the config validates them, naming the flag."""
    kind = _without_none(annotation)
    origin = typing.get_origin(kind)
    if kind in SCALAR_TYPES or origin is typing.Literal:
        return kind
    if origin in (typing.Union, types.UnionType) and str in typing.get_args(kind):
        return str  # a path or a URL: the config tells them apart
    if origin is dict:
        return list[str]
    if origin in (list, tuple):
        item = typing.get_args(kind)[0]
        return list[str if typing.get_origin(item) is typing.Literal else item]
    raise TypeError(f"no command-line form for a field of type {annotation}")


def _option(name: str, field: FieldInfo, envvar: str | None):
    kind = _without_none(field.annotation)
    origin = typing.get_origin(kind)
    declaration = f"{flag_name(name)}/{_negated_flag_name(name)}" if kind is bool else flag_name(name)
    help_text, metavar = field.description or "", None
    if origin is dict:
        help_text, metavar = f"{help_text} (repeatable)", "KEY=VALUE"
    elif origin in (list, tuple):
        item = typing.get_args(kind)[0]
        help_text += " (repeatable)"
        if typing.get_origin(item) is typing.Literal:
            metavar = "|".join(typing.get_args(item)) + ",..."
    return typer.Option(
        ... if field.is_required() else None,
        declaration,
        help=help_text,
        metavar=metavar,
        envvar=envvar,
        show_default=_shown_default(name, field),
    )


def _shown_default(name: str, field: FieldInfo) -> str | bool:
    """What `--help` shows as the default: the config's, since the option's own default (None) means 'not given'."""
    if field.is_required():
        return False
    default = field.get_default(call_default_factory=True)
    if isinstance(default, bool):
        return flag_name(name) if default else _negated_flag_name(name)
    if default is None or default in ([], (), {}):
        return False
    if isinstance(default, (list, tuple)):
        return ", ".join(map(str, default))
    return str(default)


def _without_none(annotation):
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        non_none = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(non_none) == 1:
            return non_none[0]
    return annotation
