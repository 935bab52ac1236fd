"""The hybrid on SmolLM2-135M with real data: one shared base fully fine-tuned on Alpaca rows, LoRA per client on top."""

import json

import pytest
from rich.console import Console

from adaptlab.compare.clients import compare_clients
from adaptlab.compare.config import CompareConfig
from adaptlab.eval.forgetting import reference_text

pytestmark = pytest.mark.integration
ROWS_PER_SET = 16


@pytest.mark.timeout(900)  # three SmolLM2 trainings, their evaluations and weight diagnostics on CPU
def test_smollm2_hybrid_with_two_clients_runs_and_reports_each(tmp_path, shared_data):
    rows = json.loads((shared_data / "alpaca_en_demo.json").read_text())
    sets = {name: rows[i * ROWS_PER_SET:(i + 1) * ROWS_PER_SET] for i, name in enumerate(("shared", "client-a", "client-b"))}
    for name, chunk in sets.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(chunk))
    reference = tmp_path / "reference.txt"
    reference.write_text(reference_text()[:3000])
    config = CompareConfig(
        model="builtin:smollm2-135m", base_data=[tmp_path / "shared.json"], data=[tmp_path / "client-a.json", tmp_path / "client-b.json"],
        eval_fraction=0.25, out=tmp_path / "out", methods=["hybrid"], max_steps=1, micro_batch_size=2, max_seq_len=128,
        metric="none", reference=reference, precision="fp32",
    )
    report = compare_clients(config, Console(quiet=True))
    assert [client.name for client in report.clients] == ["client-a", "client-b"]
    for client in report.clients:
        [hybrid] = client.comparison.methods
        assert hybrid.method == "hybrid" and hybrid.intervals.eval_loss is not None
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "## Client client-b" in markdown and "2 × " in markdown
