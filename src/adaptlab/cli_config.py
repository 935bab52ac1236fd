"""Generate Typer options from a pydantic config, so CLI flags and YAML keys are one source of truth."""

import inspect
import types
import typing
from collections.abc import Callable

import typer
from pydantic import BaseModel

from adaptlab.errors import ConfigError


def flag_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def config_parameters(config_class: type[BaseModel], exclude: tuple[str, ...] = ()) -> list[inspect.Parameter]:
    """One keyword-only parameter per config field, each defaulting to None (= not given on the command line)."""
    parameters = []
    for name, field in config_class.model_fields.items():
        if name in exclude:
            continue
        kind = _base_type(field.annotation)
        if kind is bool:
            option = typer.Option(None, f"{flag_name(name)}/--no-{name.replace('_', '-')}", help=field.description, show_default=False)
            annotation = typing.Optional[bool]
        elif kind in (list, dict):
            option = typer.Option(None, flag_name(name), help=field.description + (" (KEY=VALUE, repeatable)" if kind is dict else " (repeatable)"), show_default=False)
            annotation = typing.Optional[list[str]]
        else:
            option = typer.Option(None, flag_name(name), help=field.description, show_default=False)
            annotation = typing.Optional[str]
        parameters.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation))
    return parameters


def overrides_from_flags(config_class: type[BaseModel], values: dict) -> dict:
    """Flags the user gave, converted to what the config expects (KEY=VALUE lists become dicts)."""
    overrides = {}
    for name, field in config_class.model_fields.items():
        value = values.get(name)
        if value is None or value == []:
            continue
        if _base_type(field.annotation) is dict:
            overrides[name] = parse_key_values(name, value)
        else:
            overrides[name] = value
    return overrides


def parse_key_values(name: str, items: list[str]) -> dict[str, str]:
    parsed = {}
    for item in items:
        key, separator, value = item.partition("=")
        if not separator or not key:
            raise ConfigError(f"{flag_name(name)}: expected KEY=VALUE, got {item!r}")
        parsed[key] = value
    return parsed


def with_config_options(config_class: type[BaseModel], command: Callable, exclude: tuple[str, ...] = ()) -> Callable:
    """Give `command(**kwargs)` the config's options (less `exclude`) after its own parameters."""
    own = [p for p in inspect.signature(command).parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    command.__signature__ = inspect.Signature(own + config_parameters(config_class, exclude))
    return command


def _base_type(annotation) -> type | None:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        non_none = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return _base_type(non_none[0]) if len(non_none) == 1 else None
    if origin is typing.Literal:
        return str
    return origin or annotation
