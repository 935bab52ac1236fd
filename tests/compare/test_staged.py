"""`compare --staged`: methods train in order and stop at the first that meets the target (builtin:tiny, real runs)."""

import pytest
from rich.console import Console

from adaptlab.compare.runner import compare
from adaptlab.compare.schema import read_comparison
from adaptlab.compare.staged import estimated_skipped, training_compute_per_token
from adaptlab.eval.forgetting import reference_text
from tests.compare.conftest import method_result
from tests.compare.test_runner import tiny_comparison

QUIET = Console(quiet=True)


def staged_run(folder, name: str, target: str, **overrides):
    """A staged comparison on builtin:tiny with a short forgetting reference (the built-in one is 20k tokens)."""
    reference = folder / "reference.txt"
    if not reference.exists():
        reference.write_text(reference_text()[:1500])
    return compare(tiny_comparison(folder, name, staged=["lora", "full"], target=target, reference=reference, **overrides), QUIET)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("staged")


def test_a_reachable_target_trains_only_the_first_method_and_says_what_stopping_saved(folder):
    comparison = staged_run(folder, "reachable", "eval_loss<=1000")
    assert [r.method for r in comparison.methods] == ["lora"]
    assert not (folder / "reachable" / "runs" / "full").exists()
    staged = comparison.staged
    assert staged.met_by == "lora" and staged.checks[0].bound == "upper" and staged.checks[0].value <= 1000
    [skipped] = staged.skipped
    assert skipped.method == "full" and skipped.estimated_train_time_s > comparison.methods[0].train_time_s
    assert skipped.estimated_cost_usd > 0
    markdown = (folder / "reachable" / "report.md").read_text()
    assert "Skipped Full FT, saving an estimated" in markdown and "eval_loss<=1000" in markdown
    assert 'id="plan"' in (folder / "reachable" / "report.html").read_text()
    assert read_comparison(folder / "reachable").staged == staged


def test_an_unreachable_target_trains_every_method_and_says_it_was_not_met(folder):
    comparison = staged_run(folder, "unreachable", "exact_match>=1")
    assert [r.method for r in comparison.methods] == ["lora", "full"]
    assert comparison.staged.met_by is None and comparison.staged.skipped == []
    assert [c.met for c in comparison.staged.checks] == [False, False]
    assert "Target not met" in (folder / "unreachable" / "report.md").read_text()


def test_a_task_metric_target_must_be_the_comparisons_metric(folder):
    from adaptlab.errors import ConfigError

    with pytest.raises(ConfigError, match="set --metric accuracy"):
        staged_run(folder, "other-metric", "accuracy>=0.5")


def test_the_estimate_scales_a_trained_run_by_compute_per_token():
    lora = method_result("lora", task_metric=True)
    base_params = lora.total_params - lora.trainable_params
    full = estimated_skipped("full", [lora], price_per_hour_usd=3.6)
    ratio = training_compute_per_token(base_params, base_params) / training_compute_per_token(base_params, lora.trainable_params)
    assert full.estimated_train_time_s == pytest.approx(lora.train_time_s * ratio)
    assert 1.4 < ratio < 1.5  # 6N against a little over 4N
    assert full.estimated_cost_usd == pytest.approx(full.estimated_train_time_s / 1000)
    assert estimated_skipped("dora", [lora], 3.6).estimated_train_time_s == pytest.approx(lora.train_time_s)
