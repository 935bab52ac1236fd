"""`compare` on SmolLM2-135M with real Alpaca rows: one comparison of full fine-tuning, LoRA and two methods beyond
the LoRA family (IA3, prompt tuning), each with the three forgetting signals and, where a weight delta exists, the
weight-space diagnostics. One comparison serves every test here: each SmolLM2 run and its lm-eval pass costs seconds."""

import json

import pytest

from adaptlab.compare.config import CompareConfig
from adaptlab.compare.recommend import Constraints, recommend
from adaptlab.compare.runner import compare
from adaptlab.eval.forgetting import reference_text
from tests.compare.test_runner import QUIET
from tests.eval.conftest import LOCAL_TASK, local_task_dir  # noqa: F401 (the fixture)

TASK_LIMIT = 8
METHODS = ["full", "lora", "ia3", "prompt"]
WITH_WEIGHT_DELTA = ["full", "lora", "ia3"]


@pytest.fixture(scope="module")
def smollm2_comparison(tmp_path_factory, shared_data, local_task_dir):
    folder = tmp_path_factory.mktemp("smollm2-compare")
    rows = json.loads((shared_data / "alpaca_en_demo.json").read_text())
    (folder / "train.json").write_text(json.dumps(rows[:16]))
    (folder / "eval.json").write_text(json.dumps(rows[16:20]))
    reference = folder / "reference.txt"
    reference.write_text(reference_text()[:6000])
    config = CompareConfig(
        model="builtin:smollm2-135m", data=[folder / "train.json"], eval_data=[folder / "eval.json"], out=folder / "out",
        methods=METHODS, max_steps=2, micro_batch_size=2, max_seq_len=256, metric="none", reference=reference,
        forgetting_tasks=LOCAL_TASK, forgetting_task_dir=local_task_dir, forgetting_task_limit=TASK_LIMIT,
    )
    return config, compare(config, QUIET)


@pytest.mark.integration
@pytest.mark.timeout(3600)  # four SmolLM2 trainings, paired passes and lm-eval on every model, on CPU
def test_every_method_shows_the_three_signals_and_the_diagnostics_where_weights_moved(smollm2_comparison):
    config, comparison = smollm2_comparison
    assert [r.method for r in comparison.methods] == METHODS
    for result in comparison.methods:
        signals = result.forgetting.signals
        assert signals.kl_reference.value > 0 and signals.kl_held_out.value > 0
        assert signals.forgetting_percent.low <= signals.forgetting_percent.value <= signals.forgetting_percent.high
        assert result.forgetting.tasks[0].before.examples == TASK_LIMIT
        assert result.eval_loss > 0 and result.trainable_params > 0
    diagnostics = {r.method: r.forgetting.diagnostics for r in comparison.methods}
    assert diagnostics["prompt"] is None
    assert all(sum(row.matrices for row in diagnostics[m].by_module_type) > 0 for m in WITH_WEIGHT_DELTA)
    markdown = (config.out / "report.md").read_text()
    for text in ("## Forgetting", "## Weight-space diagnostics", "IA3", "Prompt tuning", "no weight delta"):
        assert text in markdown


@pytest.mark.integration
def test_prompt_tuning_turns_packing_off_for_every_method_and_all_are_candidates(smollm2_comparison):
    _, comparison = smollm2_comparison
    assert {r.tokens_seen for r in comparison.methods} == {comparison.data.token_budget}
    candidates = [c.choice for c in recommend(comparison, Constraints(min_quality=None)).candidates]
    assert sorted(candidates) == sorted(METHODS)
