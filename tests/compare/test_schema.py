import json
import math
from datetime import datetime, timezone
from pathlib import Path

import pytest

from adaptlab.compare.schema import (
    Comparison,
    forgetting_percent,
    method_result_from_run,
    read_comparison,
    relative_scores,
    unequal_token_budgets,
    with_relative_scores,
)
from adaptlab.errors import ArtifactError
from adaptlab.schemas.run_record import (
    ArtifactInfo,
    BaseModelInfo,
    DataFileInfo,
    DataInfo,
    EnvironmentInfo,
    LossPoint,
    ParamCounts,
    RunMetrics,
    RunRecord,
)

FIXTURES = Path(__file__).parent / "fixtures"


def test_full_fine_tuning_scores_exactly_100(make_comparison):
    for task_metric in (True, False):
        comparison = make_comparison(methods=("full", "lora", "dora", "qlora"), task_metric=task_metric)
        assert comparison.result("full").relative_score == 100.0


def test_relative_score_on_the_task_metric(make_comparison):
    comparison = make_comparison(task_metric=True)
    assert comparison.relative_score_basis == "task_metric"
    lora, full = comparison.result("lora"), comparison.result("full")
    assert lora.relative_score == pytest.approx(100 * lora.task_metric_value / full.task_metric_value)


def test_relative_score_on_loss_is_the_perplexity_ratio(make_comparison):
    comparison = make_comparison(task_metric=False)
    assert comparison.relative_score_basis == "eval_loss"
    full, qlora = comparison.result("full"), comparison.result("qlora")
    assert qlora.relative_score == pytest.approx(100 * full.eval_perplexity / qlora.eval_perplexity)
    assert qlora.relative_score < 100  # higher loss, lower score


def test_relative_score_falls_back_to_loss_when_full_scores_zero_on_the_task(make_comparison):
    results = [r.model_copy(update={"task_metric_value": 0.0 if r.method == "full" else 0.3}) for r in make_comparison().methods]
    basis, scores = relative_scores(results)
    assert basis == "eval_loss"
    assert scores["full"] == 100.0


def test_no_relative_scores_without_a_full_run(make_comparison):
    comparison = make_comparison(methods=("lora", "qlora"))
    assert comparison.relative_score_basis is None
    assert all(r.relative_score is None for r in comparison.methods)
    assert with_relative_scores(comparison.methods)[0] is None


@pytest.mark.parametrize(("before", "after", "percent"), [(2.0, 2.5, 25.0), (2.0, 1.5, -25.0), (3.0, 3.0, 0.0)])
def test_forgetting_percent(before, after, percent):
    assert forgetting_percent(before, after) == pytest.approx(percent)


def test_forgetting_needs_a_positive_reference_loss():
    with pytest.raises(ValueError, match="positive"):
        forgetting_percent(0.0, 1.0)


def test_report_json_round_trips(make_comparison, tmp_path):
    comparison = make_comparison(methods=("full", "lora", "dora", "qlora"))
    (tmp_path / "report.json").write_text(comparison.model_dump_json())
    assert read_comparison(tmp_path) == comparison
    assert read_comparison(tmp_path / "report.json") == comparison


def _fixture_dict() -> dict:
    return json.loads((FIXTURES / "small_model.json").read_text())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(schema_version=99), "schema_version 99 is not supported"),
        (lambda d: d["methods"][0].pop("eval_loss"), "methods.0.eval_loss"),
        (lambda d: d["methods"][1].update(peak_memory=1), "methods.1.peak_memory"),  # a typo is an error, not ignored
        (lambda d: d["methods"].append(d["methods"][0]), "each method may appear once"),
        (lambda d: d["methods"][0].update(learning_rate_source="sweep"), "lr_sweep must list the trials"),
        (lambda d: d["methods"][0].update(reference_loss_before=0), "reference_loss_before"),
    ],
)
def test_invalid_reports_are_refused_naming_the_field(tmp_path, edit, message):
    data = _fixture_dict()
    edit(data)
    (tmp_path / "report.json").write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match=message):
        read_comparison(tmp_path)


def test_unreadable_or_missing_report(tmp_path):
    with pytest.raises(ArtifactError, match="no comparison report here"):
        read_comparison(tmp_path)
    (tmp_path / "report.json").write_text('{"schema_version": 1,')
    with pytest.raises(ArtifactError, match=r"report.json: not valid JSON: .*line 1"):
        read_comparison(tmp_path)


def test_hand_made_fixtures_are_consistent_with_the_pure_functions():
    for name in ("small_model", "with_dora", "no_full"):
        comparison = read_comparison(FIXTURES / f"{name}.json")
        basis, scores = relative_scores(comparison.methods)
        assert basis == comparison.relative_score_basis
        for r in comparison.methods:
            assert r.relative_score == pytest.approx(scores.get(r.method), abs=1e-3) if scores else r.relative_score is None
            assert r.forgetting_percent == pytest.approx(forgetting_percent(r.reference_loss_before, r.reference_loss_after))
            assert r.cost_usd == pytest.approx(r.train_time_s / 3600 * comparison.price.per_hour_usd)


def test_unequal_token_budgets_are_reported(make_comparison):
    comparison = make_comparison()
    assert unequal_token_budgets(comparison) == []
    lora = comparison.result("lora").model_copy(update={"tokens_seen": comparison.data.token_budget - 1})
    skewed = comparison.model_copy(update={"methods": [comparison.result("full"), lora]})
    assert unequal_token_budgets(skewed) == ["lora"]


def _run_record(status="completed") -> RunRecord:
    return RunRecord(
        run_id="r1",
        created_at=datetime(2026, 5, 1, tzinfo=timezone.utc),
        status=status,
        method="lora",
        config={"method": "lora"},
        base_model=BaseModelInfo(spec="builtin:tiny", model_id="adaptlab/tiny-llama", path="/x", weights_sha256="a" * 64),
        data=DataInfo(format="prompt_completion", files=[DataFileInfo(path="t.jsonl", sha256="b" * 64, rows=10, bad_rows=0, role="train")],
                      train_examples=9, eval_examples=1, train_target_tokens=100, tokenized_sha256="c" * 64),
        params=ParamCounts(trainable=32768, total=123392, trainable_percent=26.56),
        metrics=RunMetrics(peak_memory_bytes=500_000_000, peak_memory_kind="process_rss", wall_time_s=36.0, tokens_seen=1200,
                           tokens_per_s=33.3, steps=4, final_train_loss=2.0, eval_loss=2.5, eval_perplexity=math.exp(2.5))
        if status == "completed" else None,
        loss_curve=[LossPoint(step=1, tokens_seen=300, loss=3.0, learning_rate=2e-4)],
        artifact=ArtifactInfo(kind="peft_adapter", files=["adapter_model.safetensors"], size_bytes=131_072) if status == "completed" else None,
        environment=EnvironmentInfo(adaptlab_version="0.1.0", git_commit=None, libraries={}, hardware={"cpu_cores": 2, "gpu": None}),
    )


def test_method_result_from_a_run_record():
    result = method_result_from_run(
        _run_record(), run_dir="runs/lora", learning_rate=2e-4, learning_rate_source="method_default",
        reference_loss_before=2.0, reference_loss_after=2.2, price_per_hour_usd=0.1, task_metric_value=0.5,
    )
    assert (result.method, result.trainable_params, result.tokens_seen, result.artifact_size_bytes) == ("lora", 32768, 1200, 131_072)
    assert result.eval_loss == 2.5 and result.eval_perplexity == pytest.approx(math.exp(2.5))
    assert result.forgetting_percent == pytest.approx(10.0)
    assert result.cost_usd == pytest.approx(0.001)
    assert result.loss_curve[0].tokens_seen == 300
    assert result.relative_score is None  # filled in for the whole comparison by with_relative_scores


def test_method_result_refuses_an_unfinished_run():
    with pytest.raises(ArtifactError, match="has not completed; resume it"):
        method_result_from_run(
            _run_record(status="running"), run_dir="runs/lora", learning_rate=2e-4, learning_rate_source="method_default",
            reference_loss_before=2.0, reference_loss_after=2.2, price_per_hour_usd=0.1,
        )


def test_comparison_needs_at_least_one_method():
    data = _fixture_dict()
    data["methods"] = []
    with pytest.raises(ValueError, match="methods"):
        Comparison.model_validate(data)
