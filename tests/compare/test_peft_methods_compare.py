"""`compare` with methods beyond the LoRA family: packing is off for all when prompt/prefix tuning is compared, and
on SmolLM2 `--methods lora,ia3,prompt` runs and reports (diagnostics only where a weight delta exists)."""

import json

import pytest

from adaptlab.compare.config import CompareConfig
from adaptlab.compare.runner import compare
from tests.compare.test_runner import QUIET


def _config(tmp_path, **overrides) -> CompareConfig:
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"prompt": "a", "completion": "b"}) + "\n")
    return CompareConfig(model="builtin:tiny", data=[data], out=tmp_path / "out", **overrides)


def test_packing_is_off_for_every_method_when_one_cannot_pack(tmp_path):
    mixed = _config(tmp_path, methods=["lora", "ia3", "prefix"], packing=True)
    assert mixed.packing is False and set(mixed.packing_refusals()) == {"prefix"}
    assert "virtual tokens" in mixed.packing_refusals()["prefix"]
    assert _config(tmp_path, methods=["lora", "ia3"], packing=True).packing is True
    assert mixed.train_config("lora", 2e-4, tmp_path / "run").packing is False  # every run of the comparison


@pytest.mark.integration
@pytest.mark.timeout(600)  # three SmolLM2 trainings of two steps, their evaluation and forgetting passes, on CPU
def test_smollm2_compare_lora_ia3_prompt_runs_and_reports(tmp_path, shared_data):
    from adaptlab.compare.recommend import Constraints, recommend
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
    assert {r.tokens_seen for r in comparison.methods} == {comparison.data.token_budget}  # packing off for all
    assert all(r.eval_loss > 0 and r.trainable_params > 0 for r in comparison.methods)
    diagnostics = {r.method: r.forgetting.diagnostics for r in comparison.methods}
    assert diagnostics["prompt"] is None
    assert all(sum(row.matrices for row in diagnostics[m].by_module_type) > 0 for m in ("lora", "ia3"))
    markdown = (tmp_path / "out" / "report.md").read_text()
    for text in ("IA3", "Prompt tuning", "no weight delta"):
        assert text in markdown
    candidates = [c.choice for c in recommend(comparison, Constraints(min_quality=None)).candidates]
    assert candidates == ["lora", "ia3", "prompt"]
