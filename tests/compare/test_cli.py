"""`adaptlab compare` flags: generated from CompareConfig, typed, checked before anything runs."""

from typer.testing import CliRunner

from adaptlab.cli import app
from adaptlab.compare.config import PER_METHOD_FIELDS, CompareConfig
from adaptlab.errors import ConfigError
from tests.cli_help import assert_every_field_has_a_typed_flag


def test_help_has_a_typed_flag_for_every_field_but_the_per_method_ones():
    assert_every_field_has_a_typed_flag("compare", CompareConfig, skipped=PER_METHOD_FIELDS)


def test_methods_are_split_on_commas_and_an_unknown_one_names_the_flag(tmp_path):
    result = CliRunner().invoke(app, ["compare", "--methods", "full,lorra", "--data", "x.jsonl", "--out", str(tmp_path / "cmp")])
    assert isinstance(result.exception, ConfigError)
    assert "methods.1 (--methods)" in str(result.exception) and "'qlora'" in str(result.exception)
    assert not (tmp_path / "cmp").exists()


def test_a_per_method_learning_rate_is_a_key_value_flag(tmp_path):
    result = CliRunner().invoke(app, ["compare", "--learning-rates", "lora=fast", "--data", "x.jsonl", "--out", str(tmp_path / "cmp")])
    assert isinstance(result.exception, ConfigError) and "learning_rates.lora (--learning-rates)" in str(result.exception)
