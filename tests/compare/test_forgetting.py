"""`adaptlab compare` measures forgetting three ways and the weight diagnostics, for every method."""

import json

import pytest

from adaptlab.compare.runner import compare
from adaptlab.compare.schema import read_comparison
from adaptlab.errors import ConfigError
from adaptlab.eval.forgetting import reference_text
from tests.compare.test_runner import QUIET, tiny_comparison
from tests.eval.conftest import LOCAL_TASK, local_task_dir  # noqa: F401 (the fixture)

TASK_LIMIT = 8


@pytest.fixture(scope="module")
def forgetting_comparison(tmp_path_factory, local_task_dir):
    folder = tmp_path_factory.mktemp("cmp-forgetting")
    reference = folder / "reference.txt"  # a slice of the built-in text: the tiny model's byte tokens make the whole one slow
    reference.write_text(reference_text()[:4000])
    config = tiny_comparison(
        folder, "out", methods=["full", "lora"], forgetting_tasks=LOCAL_TASK, forgetting_task_dir=local_task_dir,
        forgetting_task_limit=TASK_LIMIT, reference=reference,
    )
    return folder, config, compare(config, QUIET)


def test_every_method_reports_three_forgetting_signals_and_diagnostics(forgetting_comparison):
    folder, _, comparison = forgetting_comparison
    assert read_comparison(folder / "out") == comparison
    for result in comparison.methods:
        signals = result.forgetting.signals
        # "before" is the bare base: the same figure the comparison's own reference loss reports
        assert signals.reference_loss_before.value == pytest.approx(result.reference_loss_before, rel=1e-4)
        assert signals.reference_loss_after.value == pytest.approx(result.reference_loss_after, rel=1e-4)
        assert signals.forgetting_percent.value == pytest.approx(result.forgetting_percent, rel=1e-3, abs=1e-6)
        for estimate in (signals.reference_loss_after, signals.forgetting_percent, signals.kl_reference, signals.kl_held_out):
            assert estimate.low <= estimate.value <= estimate.high
        assert signals.kl_reference.value > 0 and signals.kl_held_out.value > 0
        [task] = result.forgetting.tasks
        assert task.task == LOCAL_TASK and task.before.examples == TASK_LIMIT
        assert task.change.value == pytest.approx(task.after.value - task.before.value)
        kinds = [row.module_type for row in result.forgetting.diagnostics.by_module_type]
        assert kinds == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]  # all-linear LoRA, and full
        assert all(row.matrices == 2 and row.relative_update_mean > 0 for row in result.forgetting.diagnostics.by_module_type)
    before = {r.method: r.forgetting.tasks[0].before.value for r in comparison.methods}
    assert before["full"] == before["lora"]  # both measured against the same full-precision base


def test_reports_show_the_sections_and_the_intruder_chart(forgetting_comparison):
    folder, _, _ = forgetting_comparison
    markdown = (folder / "out" / "report.md").read_text()
    html = (folder / "out" / "report.html").read_text()
    for text in ("## Forgetting", "## Weight-space diagnostics", "KL reference", f"{LOCAL_TASK} accuracy", "Intruder dimensions"):
        assert text in markdown
    assert 'id="chart-intruders"' in html and "Weight-space diagnostics" in html
    assert json.loads((folder / "out" / "report.json").read_text())["schema_version"] == 2


def test_rerun_reuses_the_cached_measurements(forgetting_comparison):
    folder, config, comparison = forgetting_comparison
    cache = folder / "out" / "evaluation" / "lora.json"
    written = cache.stat().st_mtime_ns
    again = compare(config, QUIET)
    assert [r.forgetting for r in again.methods] == [r.forgetting for r in comparison.methods]
    assert cache.stat().st_mtime_ns == written


def test_unknown_forgetting_tasks_are_refused_before_training(tmp_path, local_task_dir):
    config = tiny_comparison(tmp_path, "out", forgetting_tasks="no_such_task", forgetting_task_dir=local_task_dir)
    with pytest.raises(ConfigError, match="--forgetting-tasks: unknown task"):
        compare(config, QUIET)
    assert not (tmp_path / "out" / "runs").exists()


def test_a_method_without_a_weight_delta_is_reported_as_such(forgetting_comparison, tmp_path):
    """Prompt/prefix tuning measure forgetting like the others but have no ΔW: the diagnostics say so."""
    from adaptlab.compare.report import write_reports

    _, _, comparison = forgetting_comparison
    lora = comparison.result("lora")
    prompt = lora.model_copy(update={"method": "prompt", "forgetting": lora.forgetting.model_copy(update={"diagnostics": None})})
    write_reports(comparison.model_copy(update={"methods": [*comparison.methods, prompt]}), tmp_path)
    markdown = (tmp_path / "report.md").read_text()
    assert "| Prompt tuning | no weight delta |" in markdown and "there is no ΔW to diagnose" in markdown
    assert 'id="chart-intruders"' in (tmp_path / "report.html").read_text()
