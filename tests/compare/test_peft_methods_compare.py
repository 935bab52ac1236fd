"""`compare` with methods beyond the LoRA family: same loop, same budget, the report covers every method,
diagnostics only where a weight delta exists, and packing is off for all when prompt/prefix tuning is compared."""

import json

import pytest

from adaptlab.compare.runner import compare
from adaptlab.compare.schema import read_comparison
from tests.compare.test_runner import QUIET, tiny_comparison
from tests.single_thread import one_torch_thread


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def comparison_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cmp-peft")
    config = tiny_comparison(folder, "out", methods=["full", "lora", "ia3", "prompt"], packing=True, num_virtual_tokens=4,
                             learning_rates={"full": 1e-3, "lora": 1e-2, "ia3": 1e-2, "prompt": 1e-2}, metric_examples=4)
    assert config.packing is False and set(config.packing_refusals()) == {"prompt"}
    compare(config, QUIET)
    return folder / "out"


def test_every_method_trains_on_the_same_tokens_and_is_reported(comparison_dir):
    comparison = read_comparison(comparison_dir)
    assert [r.method for r in comparison.methods] == ["full", "lora", "ia3", "prompt"]
    assert {r.tokens_seen for r in comparison.methods} == {comparison.data.token_budget}
    markdown = (comparison_dir / "report.md").read_text()
    for label in ("Full FT", "LoRA", "IA3", "Prompt tuning"):
        assert label in markdown
    for method in ("lora", "ia3", "prompt"):
        assert json.loads((comparison_dir / "runs" / method / "run.json").read_text())["config"]["packing"] is False


def test_weight_diagnostics_only_where_a_weight_delta_exists(comparison_dir):
    comparison = read_comparison(comparison_dir)
    diagnosed = {r.method: r.forgetting.diagnostics for r in comparison.methods}
    assert diagnosed["prompt"] is None
    assert all(sum(row.matrices for row in diagnosed[m].by_module_type) > 0 for m in ("full", "lora", "ia3"))
    markdown = (comparison_dir / "report.md").read_text()
    assert "no weight delta" in markdown and "there is no ΔW to diagnose" in markdown


def test_recommend_considers_every_compared_method(comparison_dir):
    from adaptlab.compare.recommend import Constraints, recommend

    recommendation = recommend(read_comparison(comparison_dir), Constraints(min_quality=None))
    assert [c.choice for c in recommendation.candidates][:3] == ["lora", "ia3", "prompt"]


@pytest.mark.integration
@pytest.mark.timeout(600)  # three SmolLM2 trainings of two steps, their evaluation and forgetting passes, on CPU
def test_smollm2_compare_lora_ia3_prompt_runs_and_reports(tmp_path, shared_data):
    from adaptlab.compare.config import CompareConfig
    from adaptlab.eval.forgetting import reference_text

    rows = json.loads((shared_data / "alpaca_en_demo.json").read_text())
    (tmp_path / "train.json").write_text(json.dumps(rows[:16]))
    (tmp_path / "eval.json").write_text(json.dumps(rows[16:20]))
    reference = tmp_path / "reference.txt"
    reference.write_text(reference_text()[:3000])
    config = CompareConfig(
        model="builtin:smollm2-135m", data=[tmp_path / "train.json"], eval_data=[tmp_path / "eval.json"], out=tmp_path / "out",
        methods=["lora", "ia3", "prompt"], max_steps=2, micro_batch_size=2, max_seq_len=256, metric="none", reference=reference,
    )
    comparison = compare(config, QUIET)
    assert [r.method for r in comparison.methods] == ["lora", "ia3", "prompt"]
    assert all(r.eval_loss > 0 and r.trainable_params > 0 for r in comparison.methods)
    assert comparison.result("prompt").forgetting.diagnostics is None
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "IA3" in markdown and "Prompt tuning" in markdown
