"""The demo's registry step on a laid-out comparison (no training): the adapter runs become versions with the
report attached, and the admin token it prints signs in."""

import json

from adaptlab.compare.demo_registry import DEMO_MODEL, publish_demo
from adaptlab.compare.report import write_reports
from adaptlab.compare.runner import run_evaluation
from adaptlab.registry import Registry
from tests.registry.runs import make_run, save_lora_adapter, write_dataset


def test_publish_registers_the_adapter_runs_with_their_intervals_and_the_report(make_comparison, tiny_model, tmp_path):
    out = tmp_path / "demo"
    comparison = make_comparison()
    adapter = save_lora_adapter(tiny_model, tmp_path / "adapter")
    data = write_dataset(tmp_path / "data")
    for result in comparison.methods:
        run = make_run(adapter, tiny_model, data, out / result.run_dir)
        evaluation = run_evaluation(result, "exact_match", comparison.relative_score_basis, 2.0)
        (run / "evaluation.json").write_text(json.dumps(evaluation.model_dump(mode="json")))
    write_reports(comparison, out)

    published = publish_demo(out, comparison)
    assert published.console_command == f"adaptlab ui --registry {out / 'registry'}"
    assert published.refs == [f"demo/{DEMO_MODEL}@v1", f"demo/{DEMO_MODEL}@v2"]  # LoRA and QLoRA; full FT is not an adapter
    with Registry.open(out / "registry") as registry:
        admin = registry.authenticate(published.token)
        lora = registry.get_version(admin, published.refs[0])
        assert lora.lineage.evaluation_intervals["relative_score"] == next(r for r in comparison.methods if r.method == "lora").intervals.relative_score
        assert [f.path for f in registry.reports(admin, lora.ref)[0].files] == ["report.html", "report.json", "report.md"]
    assert publish_demo(out, comparison).refs == [f"demo/{DEMO_MODEL}@v3", f"demo/{DEMO_MODEL}@v4"]  # a re-run adds versions
