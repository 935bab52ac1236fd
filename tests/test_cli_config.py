"""Options generated from a pydantic config: real types, the config's help and defaults, "not given" kept apart."""

from pathlib import Path
from typing import Literal

import pytest
import typer
from pydantic import BaseModel, Field
from typer.testing import CliRunner

from adaptlab.cli_config import overrides_from_flags, with_config_options
from adaptlab.errors import ConfigError
from tests.cli_help import option_rows


class ExampleConfig(BaseModel):
    name: str = Field(description="what to call it")
    count: int = Field(3, description="how many")
    ratio: float | None = Field(None, description="a share")
    mode: Literal["fast", "slow"] = Field("fast", description="how")
    verbose: bool = Field(False, description="say more")
    files: list[Path] = Field([], description="inputs")
    kinds: list[Literal["a", "b"]] = Field(["a"], description="kinds, comma-separated")
    labels: tuple[str, ...] = Field((), description="labels")
    weights: dict[str, float] = Field({}, description="per-kind weight")
    home: Path = Field(Path("home"), description="a folder")


def invoke(*args: str, env: dict | None = None):
    """Run a one-command app built from ExampleConfig; returns (result, the overrides the command saw)."""
    seen = {}

    def command(**flags) -> None:
        seen.update(overrides_from_flags(ExampleConfig, flags))

    app = typer.Typer()
    app.command()(with_config_options(ExampleConfig, command, envvars={"home": "EXAMPLE_HOME"}))
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "300", **(env or {})})
    return result, seen


def test_flags_arrive_with_the_fields_types():
    result, seen = invoke("--name", "x", "--count", "7", "--ratio", "0.5", "--mode", "slow", "--verbose",
                          "--files", "a.jsonl", "--files", "b.jsonl", "--kinds", "a", "--kinds", "b", "--labels", "p", "--labels", "q",
                          "--weights", "a=1.5", "--weights", "b=2")
    assert result.exit_code == 0, result.output
    assert seen == {"name": "x", "count": 7, "ratio": 0.5, "mode": "slow", "verbose": True,
                    "files": [Path("a.jsonl"), Path("b.jsonl")], "kinds": ["a", "b"], "labels": ["p", "q"],
                    "weights": {"a": "1.5", "b": "2"}}
    assert ExampleConfig.model_validate(seen).weights == {"a": 1.5, "b": 2.0}


def test_flags_not_given_stay_out_so_yaml_or_the_config_default_stands():
    result, seen = invoke("--name", "x")
    assert result.exit_code == 0, result.output
    assert seen == {"name": "x"}
    _, negated = invoke("--name", "x", "--no-verbose")
    assert negated == {"name": "x", "verbose": False}


def test_help_shows_types_choices_defaults_and_descriptions():
    result, _ = invoke("--help")
    rows = option_rows(result.output)
    assert "<int>" in rows["--count"] and "how many" in rows["--count"] and "3" in rows["--count"].split("default:")[1]
    assert "<float>" in rows["--ratio"] and "default:" not in rows["--ratio"]
    assert "<fast|slow>" in rows["--mode"] and "(fast)" in rows["--mode"]
    assert "--no-verbose" in rows["--verbose"]
    assert "a|b" in rows["--kinds"] and "(repeatable)" in rows["--kinds"]
    assert "KEY=VALUE" in rows["--weights"]
    assert "[required]" in rows["--name"]
    assert "EXAMPLE_HOME" in rows["--home"] and "(home)" in rows["--home"]


def test_bad_values_are_usage_errors_naming_the_flag():
    for args, flag in ((("--count", "many"), "--count"), (("--ratio", "half"), "--ratio"), (("--mode", "medium"), "--mode")):
        result, seen = invoke("--name", "x", *args)
        assert result.exit_code == 2 and flag in result.output and seen == {}, result.output
    other_kind, seen = invoke("--name", "x", "--kinds", "c")
    assert other_kind.exit_code == 0 and seen["kinds"] == ["c"]  # a list of choices is checked by the config (it may split "a,b")
    missing, _ = invoke("--count", "1")
    assert missing.exit_code == 2 and "--name" in missing.output


def test_an_environment_variable_fills_its_flag():
    _, seen = invoke("--name", "x", env={"EXAMPLE_HOME": "/srv/home"})
    assert seen["home"] == Path("/srv/home")


def test_key_value_flags_name_the_flag_when_malformed():
    result, _ = invoke("--name", "x", "--weights", "a:1")
    assert isinstance(result.exception, ConfigError) and "--weights" in str(result.exception)


def test_a_field_type_with_no_command_line_form_fails_at_registration():
    class Nested(BaseModel):
        inner: ExampleConfig

    with pytest.raises(TypeError, match="no command-line form"):
        with_config_options(Nested, lambda **flags: None)
