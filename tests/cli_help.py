"""Reading `adaptlab <command> --help` the way a user sees it, to check every config field has a typed flag."""

import types
import typing

from pydantic import BaseModel
from typer.testing import CliRunner

from adaptlab.cli import app
from adaptlab.cli_config import flag_name


def help_rows(*command: str) -> dict[str, str]:
    """Flag -> its row in `adaptlab <command> --help` (wide enough that no row wraps)."""
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    return option_rows(result.output)


def option_rows(help_output: str) -> dict[str, str]:
    rows = {}
    for line in help_output.splitlines():
        words = [word for word in line.strip("│ ").split() if word != "*"]
        if words and words[0].startswith("--"):
            rows[words[0]] = line
    return rows


def expected_type_labels(annotation) -> tuple[str, ...]:
    """What `--help` may show for a field's type (Typer's label, or click's in older Typers): numbers as numbers,
    a Literal as its choices, a bool as a --x/--no-x pair; () for the rest."""
    kind = annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        kind = next(arg for arg in typing.get_args(annotation) if arg is not type(None))
    if kind is int:
        return "<int>", "INTEGER"
    if kind is float:
        return "<float>", "FLOAT"
    if typing.get_origin(kind) is typing.Literal:
        choices = "|".join(typing.get_args(kind))
        return f"<{choices}>", f"[{choices}]"
    if kind is bool:
        return ("--no-",)
    return ()


def assert_every_field_has_a_typed_flag(command: str, config_class: type[BaseModel], skipped: tuple[str, ...] = ()) -> None:
    rows = help_rows(command)
    for name, field in config_class.model_fields.items():
        if name in skipped:
            assert flag_name(name) not in rows, name
            continue
        assert flag_name(name) in rows, f"{command} --help has no {flag_name(name)}"
        labels = expected_type_labels(field.annotation)
        assert not labels or any(label in rows[flag_name(name)] for label in labels), rows[flag_name(name)]
        if field.description:
            assert field.description.split(";")[0][:40] in rows[flag_name(name)], rows[flag_name(name)]
