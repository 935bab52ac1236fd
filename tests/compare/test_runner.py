"""`adaptlab compare` end to end on builtin:tiny: three real runs, three report files, fair by construction."""

import json

import pytest
from rich.console import Console

from adaptlab.compare.config import CompareConfig
from adaptlab.compare.runner import compare
from adaptlab.compare.schema import read_comparison
from adaptlab.data.glossary_task import glossary_task, write_jsonl
from adaptlab.errors import ConfigError
from adaptlab.eval.forgetting import reference_examples, reference_text
from adaptlab.eval.loss import evaluate_loss
from adaptlab.models import load_causal_lm, load_tokenizer

QUIET = Console(quiet=True)


@pytest.fixture(scope="module")
def comparison_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cmp")
    train_rows, eval_rows = glossary_task(24, 8, seed=0)
    write_jsonl(train_rows, folder / "train.jsonl")
    write_jsonl(eval_rows, folder / "eval.jsonl")
    config = CompareConfig(
        model="builtin:tiny", data=[folder / "train.jsonl"], eval_data=[folder / "eval.jsonl"], out=folder / "out",
        methods=["full", "lora", "qlora"], max_steps=4, micro_batch_size=4, max_seq_len=256, rank=4,
        learning_rates={"full": 1e-3, "lora": 1e-2, "qlora": 1e-2}, metric="exact_match", max_new_tokens=8,
    )
    compare(config, QUIET)
    return folder, config


def test_writes_all_three_reports_with_every_column_filled(comparison_dir):
    folder, _ = comparison_dir
    out = folder / "out"
    for name in ("report.md", "report.html", "report.json"):
        assert (out / name).stat().st_size > 0
    comparison = read_comparison(out)
    assert [r.method for r in comparison.methods] == ["full", "lora", "qlora"]
    for result in comparison.methods:
        row = result.model_dump()
        empty = [key for key, value in row.items() if value is None]
        assert empty == [], f"{result.method}: empty columns {empty}"
        assert result.peak_memory_bytes > 0 and result.train_time_s > 0 and result.tokens_per_s > 0
        assert result.artifact_size_bytes > 0 and result.cost_usd > 0
        assert result.learning_rate_source == "user"
    assert "| LoRA |" in (out / "report.md").read_text()


def test_equal_token_budgets_and_full_is_the_100_reference(comparison_dir):
    folder, _ = comparison_dir
    comparison = read_comparison(folder / "out")
    assert {r.tokens_seen for r in comparison.methods} == {comparison.data.token_budget}
    assert comparison.result("full").relative_score == pytest.approx(100.0)
    lora = comparison.result("lora")
    assert lora.trainable_params < comparison.result("full").trainable_params
    assert lora.artifact_size_bytes < comparison.result("full").artifact_size_bytes


def test_forgetting_is_measured_against_the_base_before_training(comparison_dir, tiny_model):
    folder, _ = comparison_dir
    comparison = read_comparison(folder / "out")
    tokenizer = load_tokenizer(tiny_model.path)
    before = evaluate_loss(load_causal_lm(tiny_model.path), reference_examples(tokenizer, reference_text()), tokenizer.pad_token_id).loss
    for result in comparison.methods:
        assert result.reference_loss_before == pytest.approx(before, rel=1e-6)
        assert result.forgetting_percent == pytest.approx(100 * (result.reference_loss_after - before) / before)
    assert comparison.result("full").reference_loss_after != pytest.approx(before, rel=1e-6)


def test_rerun_reuses_finished_runs_and_refuses_other_settings(comparison_dir):
    folder, config = comparison_dir
    out = folder / "out"
    run_ids = {m: json.loads((out / "runs" / m / "run.json").read_text())["run_id"] for m in config.methods}
    compare(config, QUIET)
    assert run_ids == {m: json.loads((out / "runs" / m / "run.json").read_text())["run_id"] for m in config.methods}
    with pytest.raises(ConfigError, match="other settings"):
        compare(config.model_copy(update={"rank": 8}), QUIET)
