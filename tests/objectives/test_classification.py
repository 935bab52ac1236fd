"""Sequence classification through the one training loop: data with mapped columns, a head trained and saved by
every method, held-out accuracy and macro-F1 with intervals, and the artifact reloaded as it was evaluated."""

import json
import random

import numpy as np
import pytest
import torch
from safetensors import safe_open
from sklearn.metrics import f1_score

from adaptlab.cli_config import parse_key_values
from adaptlab.data import prepare_classification_data
from adaptlab.data.options import DataOptions
from adaptlab.errors import ConfigError, DataError
from adaptlab.eval.classification import (
    classification_scores,
    macro_f1,
    majority_baseline,
)
from adaptlab.methods import get_method
from adaptlab.models import load_tokenizer, resolve_model
from adaptlab.objectives import get_objective
from adaptlab.schemas.train_config import TrainConfig
from adaptlab.train.loop import train

COLUMNS = {"text": "SMS", "label": "Label"}


def write_sms(path, rows: int = 64, seed: int = 0):
    """A TSV whose label is planted in the text: spam rows say `win`, ham rows `see you`."""
    rng = random.Random(seed)
    lines = ["Label\tSMS"]
    for index in range(rows):
        label = rng.choice(["ham", "spam"])
        lines.append(f"{label}\t{'win cash now' if label == 'spam' else 'see you soon'} {index}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(resolve_model("builtin:tiny").path)


def test_mapped_columns_become_labelled_examples(tmp_path, tokenizer):
    data = prepare_classification_data([write_sms(tmp_path / "sms.tsv")], [], tokenizer, DataOptions(columns=COLUMNS, eval_fraction=0.25))
    assert data.labels == ["ham", "spam"]
    assert (len(data.train), len(data.eval)) == (48, 16)
    assert {example.label for example in data.train} == {0, 1}


def test_a_missing_column_is_named(tmp_path, tokenizer):
    with pytest.raises(DataError, match=r"sms.tsv: no column 'Category' for the label .*columns: 'Label', 'SMS'"):
        prepare_classification_data([write_sms(tmp_path / "sms.tsv")], [], tokenizer, DataOptions(columns={"text": "SMS", "label": "Category"}))


def test_bad_rows_are_reported_by_file_and_line(tmp_path, tokenizer):
    path = tmp_path / "rows.jsonl"
    rows = [{"text": "fine", "label": "a"}, {"text": "", "label": "b"}, {"text": "x", "label": [1]}, {"text": "y", "label": "b"}]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(DataError) as raised:
        prepare_classification_data([path], [], tokenizer, DataOptions())
    assert f"{path}:2: empty text" in str(raised.value)
    assert f"{path}:3: field 'label' must be a string or an integer, got a list" in str(raised.value)


def test_columns_flag_takes_comma_separated_pairs():
    assert parse_key_values("columns", ["text=SMS,label=Label"]) == COLUMNS


def test_objective_and_task_must_fit():
    with pytest.raises(ConfigError, match="available: --task causal_lm --objective sft"):
        get_objective("classification", "dpo")


def test_the_objective_fills_only_the_settings_the_user_left_unset(tmp_path):
    given = {"out": tmp_path / "run", "data": [tmp_path / "sms.tsv"], "task": "classification"}
    classification = get_objective("classification", "sft")
    resolved = classification.with_defaults(TrainConfig(**given))
    assert (resolved.micro_batch_size, resolved.max_seq_len) == (32, 128)
    assert classification.with_defaults(TrainConfig(**given, micro_batch_size=8)).micro_batch_size == 8  # a flag wins
    stored = TrainConfig.model_validate(resolved.model_dump(mode="json"))  # run.json / configs/<run>.yaml and back
    assert classification.with_defaults(stored) == resolved
    from_yaml = classification.with_defaults(TrainConfig.model_validate({**given, "max_seq_len": 1024}))
    assert (from_yaml.micro_batch_size, from_yaml.max_seq_len) == (32, 1024)  # a YAML key the user wrote, kept
    language_model = TrainConfig(out=tmp_path / "run", data=[tmp_path / "train.jsonl"])
    assert get_objective("causal_lm", "sft").with_defaults(language_model) == language_model


def test_macro_f1_matches_scikit_learn():
    rng = np.random.default_rng(0)
    gold, predicted = rng.integers(0, 3, 50), rng.integers(0, 3, 50)
    assert macro_f1(predicted, gold, classes=[0, 1, 2]) == pytest.approx(f1_score(gold, predicted, average="macro"))
    scores = classification_scores(predicted.tolist(), gold.tolist())
    assert scores.macro_f1_interval.contains(scores.macro_f1) and scores.accuracy_interval.contains(scores.accuracy)
    assert majority_baseline([1, 1, 0], [1, 0, 1, 1]).accuracy == 0.75


@pytest.mark.parametrize("method", ["lora", "full"])
def test_every_method_trains_and_saves_the_head(tmp_path, method):
    config = TrainConfig(
        model="builtin:tiny", method=method, task="classification", out=tmp_path / "run", data=[write_sms(tmp_path / "sms.tsv", rows=96)],
        columns=COLUMNS, eval_fraction=0.25, max_seq_len=32, micro_batch_size=8, max_steps=8, precision="fp32",
        learning_rate=3e-3 if method == "full" else 2e-2, rank=8, alpha=16, dropout=0.0,
    )
    run = train(config)
    before, after = run.record.eval_curve[0].metrics, run.record.eval_curve[-1].metrics
    assert after["accuracy"] > max(before["accuracy"], 0.8)  # the planted word is learnt
    assert run.record.config["labels"] == ["ham", "spam"]

    reloaded = get_method(method).load_trained(resolve_model("builtin:tiny"), config.out).eval()
    if method == "lora":  # the head is in the adapter file (modules_to_save), not left at its random start
        with safe_open(config.out / "adapter_model.safetensors", "pt") as adapter:
            assert any(".score." in name for name in adapter.keys())
    trained = run.model.eval()
    batch = {"input_ids": torch.tensor([[5, 6, 7, 8]]), "attention_mask": torch.ones(1, 4, dtype=torch.long)}
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**batch).logits, trained(**batch).logits)
