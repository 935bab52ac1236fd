"""Intervals and paired tests of a comparison, from per-example scores built through the real pure functions."""

from pathlib import Path

import pytest

from adaptlab.compare.schema import read_comparison, with_relative_scores
from adaptlab.compare.uncertainty import with_uncertainty

FIXTURES = Path(__file__).parent / "fixtures"


def test_every_quality_figure_has_an_interval_around_its_point(make_comparison):
    comparison = make_comparison(methods=("full", "lora", "dora", "qlora"))
    for r in comparison.methods:
        assert r.intervals.task_metric.contains(r.task_metric_value)
        assert r.intervals.eval_loss.contains(r.eval_loss)
        assert r.intervals.forgetting_percent.contains(r.forgetting_percent)
        if r.method != "full":
            assert r.intervals.relative_score.contains(r.relative_score)
    full = comparison.result("full")
    assert full.intervals.relative_score is None and full.versus_full is None  # 100 by definition


def test_a_0_1_task_metric_is_tested_by_exact_mcnemar_and_loss_by_paired_bootstrap(make_comparison):
    on_metric = make_comparison(task_metric=True).result("lora").versus_full
    on_loss = make_comparison(task_metric=False).result("lora").versus_full
    assert on_metric.test.test == "mcnemar_exact" and on_metric.test.examples == 100
    assert on_loss.test.test == "paired_bootstrap"
    assert on_metric.gap_points == 3.0 and on_metric.examples_to_resolve_gap > 100


def _with_lora_scores(comparison, task_metric):
    full = comparison.result("full")
    lora = comparison.result("lora")
    scores = lora.per_example.model_copy(update={"task_metric": task_metric})
    lora = lora.model_copy(update={"per_example": scores, "task_metric_value": sum(task_metric) / len(task_metric)})
    basis, results = with_relative_scores([full, lora])
    return with_uncertainty(results, basis, seed=0)[1]


def test_the_same_answers_as_full_are_indistinguishable_and_the_relative_interval_is_paired(make_comparison):
    comparison = make_comparison()
    lora = _with_lora_scores(comparison, comparison.result("full").per_example.task_metric)
    assert lora.relative_score == 100.0
    assert lora.intervals.relative_score.low == lora.intervals.relative_score.high == pytest.approx(100.0)
    assert lora.versus_full.test.verdict == "indistinguishable" and lora.versus_full.test.p_value == 1.0


def test_a_planted_loss_of_quality_is_called_worse(make_comparison):
    comparison = make_comparison()
    full_hits = comparison.result("full").per_example.task_metric
    lora = _with_lora_scores(comparison, [0.0 if i % 3 == 0 else hit for i, hit in enumerate(full_hits)])
    assert lora.versus_full.test.verdict == "worse" and lora.versus_full.test.p_value < 0.001
    assert lora.intervals.relative_score.high < 100.0


def test_the_bootstrap_is_seeded(make_comparison):
    assert make_comparison().model_dump() == make_comparison().model_dump()


def test_a_version_1_report_reads_without_intervals():
    comparison = read_comparison(FIXTURES / "small_model.json")
    assert comparison.schema_version == 1 and comparison.uncertainty is None
    assert all(r.per_example is None and r.versus_full is None and r.intervals.relative_score is None for r in comparison.methods)
    assert with_uncertainty(comparison.methods, comparison.relative_score_basis, seed=0) == comparison.methods
