"""`adaptlab data check` and `adaptlab data glossary` through the real command line."""

import json

from typer.testing import CliRunner

from adaptlab.cli import app
from adaptlab.errors import DataError
from adaptlab.schemas.train_config import TrainConfig

from .support import write_jsonl

runner = CliRunner()


def test_check_reports_counts_hashes_and_skipped_rows(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [{"prompt": "q", "completion": "a"}] * 3 + [{"prompt": "q"}])
    result = runner.invoke(app, ["data", "check", str(path), "--max-bad-rows", "1", "--model", "builtin:tiny"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert f"skipped {path}:4: missing field 'completion'" in result.output
    assert "prompt_completion" in result.output
    assert "│ train │    4 │        1 │" in result.output


def test_check_refuses_too_many_bad_rows_with_a_data_error(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [{"prompt": "q", "completion": "a"}, {"prompt": "q", "completion": ""}])
    result = runner.invoke(app, ["data", "check", str(path), "--model", "builtin:tiny"])
    assert isinstance(result.exception, DataError)
    assert f"{path}:2: empty response" in str(result.exception)


def test_check_maps_columns_from_flags(tmp_path):
    path = tmp_path / "sms.tsv"
    path.write_text("Label\tSMS\nham\thello\n", encoding="utf-8")
    result = runner.invoke(app, ["data", "check", str(path), "--model", "builtin:tiny", "--columns", "prompt=SMS", "--columns", "completion=Label"])
    assert result.exit_code == 0, result.output


def test_check_tokenizes_with_the_model_train_uses_by_default(tmp_path, smollm2_tokenizer):
    path = write_jsonl(tmp_path / "train.jsonl", [{"prompt": "q", "completion": "a"}])
    result = runner.invoke(app, ["data", "check", str(path)], terminal_width=200)
    assert result.exit_code == 0, result.output
    tokenizer_row = next(line for line in result.output.splitlines() if "│ tokenizer" in line)
    assert TrainConfig.model_fields["model"].default in tokenizer_row


def test_check_caps_line_length_from_the_flag(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [{"prompt": "q", "completion": "a"}, {"prompt": "q" * 100, "completion": "a"}])
    result = runner.invoke(app, ["data", "check", str(path), "--model", "builtin:tiny", "--max-line-bytes", "64"])
    assert isinstance(result.exception, DataError)
    assert f"{path}:2: line longer than --max-line-bytes 64" in str(result.exception)


def test_glossary_writes_train_and_eval_jsonl(tmp_path):
    result = runner.invoke(app, ["data", "glossary", str(tmp_path / "task"), "--train-rows", "7", "--eval-rows", "3"])
    assert result.exit_code == 0, result.output
    train = (tmp_path / "task" / "train.jsonl").read_text().splitlines()
    held_out = (tmp_path / "task" / "eval.jsonl").read_text().splitlines()
    assert (len(train), len(held_out)) == (7, 3)
    assert set(json.loads(train[0])) == {"prompt", "completion"}
